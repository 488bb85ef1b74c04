"""`load(compile=True)`: the first call in a fresh process, without and with genzoo's compile cache, and the steady state.

A full-size CycleGAN generator (``resnet_9blocks``, 64 filters, 256x256,
random weights, 11.4 M parameters) is saved as a genzoo folder, then two
fresh processes each run ``genzoo.load(folder, compile=True)`` and time:

- process 1 (empty genzoo cache): the first call, which compiles and writes
  the artefacts into ``$GENZOO_CACHE/compile``;
- process 2 (the cache process 1 left): the first call, which loads them;
  then the steady state, compiled against eager on the same weights, taking
  turns, median and min-max of ``--repeat`` calls each.

Both processes run without ``TORCHINDUCTOR_CACHE_DIR``, so torch's kernel
cache is the ``torch/`` folder inside the (fresh) genzoo cache, and what
process 2 reuses comes from genzoo's cache only, not from torch's cache in /tmp.
"Eager" is the reference's layer list (genzoo's ``ResnetGenerator``, whose
state dict is the authors' key for key) run eagerly; both sides run under
``torch.inference_mode()``:
the same kernels the upstream code runs. Both outputs are compared (max abs
difference). The load average is printed: on a shared machine take the
ratios, not the seconds.

    python benchmarks/bench_compile.py [--repeat 20] [--batch-size 1] [--size 256] [--channels-last] [--dtype bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, math, os, statistics, sys, time
t_start = time.perf_counter()
import torch, genzoo
folder, batch, size, repeat, channels_last, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6]
x_eager = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
fmt = torch.channels_last if channels_last else torch.contiguous_format
model = genzoo.load(folder, compile=True, channels_last=channels_last, dtype=dtype)
x = x_eager.to(model.dtype).contiguous(memory_format=fmt)
eager = genzoo.load(folder).g_ab  # fp32, contiguous: the upstream way
with torch.inference_mode():
    t = time.perf_counter()
    y = model.g_ab(x)
    first = time.perf_counter() - t
    ready = time.perf_counter() - t_start
with torch.inference_mode():
    ref = eager(x_eager)
diff = (y.float() - ref).abs().max().item()
psnr = 10 * math.log10(4 / max(((y.float() - ref) ** 2).mean().item(), 1e-20))  # outputs in [-1, 1]: peak-to-peak 2
eager_s, compiled_s = [], []
for i in range(repeat):
    for which in ((0, 1) if i % 2 == 0 else (1, 0)):  # alternate which goes first
        with torch.inference_mode():  # the same autograd context on both sides
            t = time.perf_counter()
            eager(x_eager) if which == 0 else model.g_ab(x)
            (eager_s if which == 0 else compiled_s).append(time.perf_counter() - t)
call = model.g_ab._compiled_call_impl
print(json.dumps({
    "first_s": first, "process_to_first_output_s": ready, "events": call.events, "max_abs_diff": diff, "psnr_db": psnr,
    "eager_s": eager_s, "compiled_s": compiled_s, "threads": torch.get_num_threads(), "torch": torch.__version__,
    "cache_files": sorted(p.name for p in call.cache.folder.iterdir()),
    "cache_mb": sum(p.stat().st_size for p in call.cache.root.rglob("*") if p.is_file()) / 2**20,
}))
"""


def _child(folder: Path, env: dict[str, str], args: argparse.Namespace, repeat: int) -> dict:
    cmd = [sys.executable, "-c", CHILD, str(folder), str(args.batch_size), str(args.size), str(repeat), str(int(args.channels_last)), args.dtype]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"benchmark process failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1e3:8.1f} ms  (min {min(values) * 1e3:.1f}, max {max(values) * 1e3:.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="steady-state calls each way in process 2 (default 20)")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--channels-last", action="store_true", help="load(channels_last=True), channels-last inputs")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="load(dtype=...); eager stays fp32")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    import genzoo

    with tempfile.TemporaryDirectory(prefix="genzoo-bench-compile-") as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        folder = genzoo.save(genzoo.create("cyclegan", netD="none", bidirectional=False), tmp / "cyclegan-full")
        env = dict(os.environ, GENZOO_CACHE=str(tmp / "genzoo-cache"))
        env.pop("TORCHINDUCTOR_CACHE_DIR", None)  # genzoo points torch's kernel cache into its own while compiling
        load_before = os.getloadavg()
        runs = [_child(folder, env, args, 0), _child(folder, env, args, args.repeat)]
        load_after = os.getloadavg()
    p1, p2 = runs
    eager, compiled = statistics.median(p2["eager_s"]), statistics.median(p2["compiled_s"])
    ratios = [e / c for e, c in zip(p2["eager_s"], p2["compiled_s"])]
    result = {
        "network": "cyclegan resnet_9blocks ngf 64", "batch_size": args.batch_size, "size": args.size,
        "channels_last": args.channels_last, "dtype": args.dtype, "threads": p2["threads"], "torch": p2["torch"],
        "load_average_before": load_before, "load_average_after": load_after,
        "process1": {k: p1[k] for k in ("first_s", "process_to_first_output_s", "events", "max_abs_diff", "psnr_db")},
        "process2": {k: p2[k] for k in ("first_s", "process_to_first_output_s", "events", "max_abs_diff", "psnr_db")},
        "first_call_speedup": p1["first_s"] / p2["first_s"],
        "eager_ms": eager * 1e3, "compiled_ms": compiled * 1e3, "steady_speedup": eager / compiled,
        "steady_speedup_min_max": [min(ratios), max(ratios)], "repeat": args.repeat, "cache_files": p1["cache_files"], "cache_mb": p2["cache_mb"],
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"full-size CycleGAN generator (resnet_9blocks), batch {args.batch_size}, {args.size}x{args.size}, "
          f"{p2['threads']} threads, torch {p2['torch']}" + (", channels_last" if args.channels_last else "") + f", {args.dtype} (eager: fp32)")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"process 1, empty cache:   first call {p1['first_s']:6.1f} s  (fresh process to first output {p1['process_to_first_output_s']:.1f} s) {p1['events']}")
    print(f"process 2, genzoo cache:  first call {p2['first_s']:6.1f} s  (fresh process to first output {p2['process_to_first_output_s']:.1f} s) {p2['events']}")
    print(f"  first call: {result['first_call_speedup']:.1f}x faster with the cache ({p2['cache_mb']:.1f} MB); "
          f"max abs diff to eager fp32 {p2['max_abs_diff']:.2e} (PSNR {p2['psnr_db']:.1f} dB)")
    print(f"steady state, {args.repeat} calls each, taking turns:")
    print(f"  eager (reference layers, fp32)   {_spread(p2['eager_s'])}")
    print(f"  compiled (genzoo, {args.dtype:4})    {_spread(p2['compiled_s'])}")
    print(f"  speed-up {result['steady_speedup']:.2f}x (per-pair min {min(ratios):.2f}, max {max(ratios):.2f})")
    if max(load_before[0], load_after[0]) > (os.cpu_count() or 1):
        print(f"warning: the load average exceeds the {os.cpu_count()} CPUs: other jobs share them, timings are noisy")


if __name__ == "__main__":
    main()
