"""ONNX export of a full-size CycleGAN generator: export time, the check's max abs diff, and onnxruntime against PyTorch.

    python benchmarks/bench_onnx.py [--repeat 9] [--size 256] [--batch 1]

A randomly initialised ResNet-9 generator (ngf 64, instance norm: the
published CycleGAN models' network; weights do not change the speed) is
exported with ``genzoo.export.export_onnx``; then PyTorch eager (fp32,
``inference_mode``) and onnxruntime (CPU provider, default threads) run
the same batch, alternating, and the script prints medians, min-max and
the load average. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

import genzoo
from genzoo.export import OnnxModel, export_onnx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    model = genzoo.create("cyclegan", bidirectional=False, netD="none").eval()
    print(f"load average before: {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        manifest = export_onnx(model, f"{tmp}/out")
        export_s = time.perf_counter() - t
        size_mb = os.path.getsize(f"{tmp}/out/generator.onnx") / 1e6
        print(f"export + check: {export_s:.1f} s, generator.onnx {size_mb:.1f} MB, "
              f"max abs diff vs PyTorch {manifest['max_abs_diff']:.3g} (limit {manifest['tolerance']:g})")
        ort = OnnxModel(f"{tmp}/out")
        x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
        gen = model.g_ab
        with torch.inference_mode():
            diff = float((ort.run("generator", x)[0] - gen(x)).abs().max())
            times: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
            for i in range(args.repeat):
                for side in (("pytorch", "onnxruntime") if i % 2 == 0 else ("onnxruntime", "pytorch")):
                    t = time.perf_counter()
                    gen(x) if side == "pytorch" else ort.run("generator", x)
                    times[side].append(time.perf_counter() - t)
    print(f"batch {args.batch} at {args.size}x{args.size}, {args.repeat} repeats each, alternating; max abs diff {diff:.3g}")
    for side, ts in times.items():
        print(f"  {side:12s} median {statistics.median(ts) * 1e3:8.1f} ms  (min {min(ts) * 1e3:.1f}, max {max(ts) * 1e3:.1f})")
    ratios = [p / o for p, o in zip(times["pytorch"], times["onnxruntime"])]
    print(f"  onnxruntime speed / PyTorch eager: median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
