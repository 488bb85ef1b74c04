"""Is genzoo ready for GPUs? One run, one table: placement, low precision, throughput, compile, CUDA graphs, torchrun.

    python scripts/gpu_check.py [--repeat 20] [--batch-size 8] [--json results.json] [--skip-torchrun]

On a machine without CUDA it says so and exits 0. With CUDA it checks, on
full-size networks with seeded random weights (the GPU machine may have no
network to fetch trained ones), each saved as a genzoo folder and loaded
through ``genzoo.load``:

- placement: ``load(device="cuda")`` puts every weight and the output on the GPU;
- bf16 and fp16 against fp32: PSNR >= 40 dB for the generators (CycleGAN
  ``resnet_9blocks``, Pix2Pix ``unet_256``, outputs in [-1, 1], peak-to-peak 2),
  cosine >= 0.999 for CLIP ViT-B/32 image features;
- throughput, images/s, against the upstream way: the same network in fp32,
  eager, both under ``torch.inference_mode()``, taking turns, median of
  ``--repeat``, each run bracketed by ``torch.cuda.synchronize()``;
- ``load(compile=True)`` (first call, steady state, max abs diff to eager,
  whether genzoo's compile cache wrote artefacts) and CUDA graphs
  (``torch.compile(mode="reduce-overhead")``);
- torchrun sharding: ``torchrun --nproc_per_node=<GPUs> -m genzoo run FOLDER
  IMAGES -o OUT`` (and 2 processes on one GPU when there is only one) gives
  byte-identical files to a single-process ``python -m genzoo run``.

Exit status 1 when a check misses its threshold or fails; every other check
still runs. Paste the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
PSNR_MIN_DB = 40.0
COSINE_MIN = 0.999


class Report:
    """Rows of (check, model, figure, target, ok); a failing check is a row too, never the end of the run."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, check: str, model: str, figure: str, target: str = "", ok: bool | None = None, **data: Any) -> None:
        self.rows.append(dict(check=check, model=model, figure=figure, target=target, ok=ok, **data))
        mark = {True: "ok", False: "FAIL", None: ""}[ok]
        print(f"  {check:<28} {model:<22} {figure:<44} {target:<12} {mark}", flush=True)

    def guard(self, check: str, model: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # report and go on: one broken check must not hide the others
            self.add(check, model, f"error: {type(exc).__name__}: {str(exc)[:120]}", ok=False, traceback=traceback.format_exc())

    def table(self) -> str:
        lines = ["| check | model | result | target | ok |", "|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r['check']} | {r['model']} | {r['figure']} | {r['target']} | {'' if r['ok'] is None else 'yes' if r['ok'] else '**no**'} |")
        return "\n".join(lines)


def psnr(a, b) -> float:
    """PSNR in dB of ``a`` against ``b``, images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.float() - b.float()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def timed(fn: Callable[[], Any], sync: Callable[[], None]) -> float:
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def alternate(fns: dict[str, Callable[[], Any]], repeat: int, sync: Callable[[], None]) -> dict[str, float]:
    """Median seconds per call of each function, taking turns (order rotated every round)."""
    import torch

    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    with torch.inference_mode():
        for n in names:  # warm-up (cuDNN autotuning, compiles, CUDA graph capture)
            for _ in range(3):
                fns[n]()
        for i in range(repeat):
            order = names[i % len(names):] + names[: i % len(names)]
            for n in order:
                times[n].append(timed(fns[n], sync))
    return {n: statistics.median(v) for n, v in times.items()}


def report_throughput(report, label: str, variants: dict, args, sync) -> None:
    """Images/s of every variant, taking turns, each as a ratio to upstream fp32 eager (one row per variant)."""

    def throughput() -> None:
        med = alternate(variants, args.repeat, sync)
        base = med["upstream fp32 eager"]
        for name, s in med.items():
            report.add("throughput", label, f"{name}: {args.batch_size / s:,.0f} img/s ({base / s:.2f}x)", "vs upstream", None,
                       images_per_s=args.batch_size / s, ratio=base / s)  # fmt: skip

    report.guard("throughput", label, throughput)


def generator_checks(report: Report, label: str, folder: Path, args: argparse.Namespace) -> None:
    import torch

    import genzoo

    sync = torch.cuda.synchronize
    ref = genzoo.load(folder, device="cuda", components="inference")
    gen = ref.compile_targets()[0]
    size = ref.config.image_size
    x = torch.randn(args.batch_size, ref.config.input_nc, size, size, device="cuda", generator=torch.Generator("cuda").manual_seed(0))

    def placement() -> None:
        on_gpu = all(p.device.type == "cuda" for p in ref.parameters())
        with torch.inference_mode():
            y = gen(x)
        report.add("placement", label, f"weights on {ref.device}, output on {y.device}", "cuda", on_gpu and y.device.type == "cuda")

    report.guard("placement", label, placement)
    with torch.inference_mode():
        y32 = gen(x)
    variants: dict[str, Callable[[], Any]] = {"upstream fp32 eager": lambda: gen(x)}
    for dt in ("bf16", "fp16"):

        def low(dt: str = dt) -> None:
            m = genzoo.load(folder, device="cuda", dtype=dt, components="inference")
            g, xd = m.compile_targets()[0], x.to(m.dtype)
            with torch.inference_mode():
                p = psnr(g(xd), y32)
            report.add(f"{dt} vs fp32", label, f"PSNR {p:.1f} dB", f">= {PSNR_MIN_DB:.0f} dB", p >= PSNR_MIN_DB)
            variants[f"genzoo {dt}"] = lambda: g(xd)
            mc = genzoo.load(folder, device="cuda", dtype=dt, components="inference", channels_last=True)
            gc, xc = mc.compile_targets()[0], xd.contiguous(memory_format=torch.channels_last)
            variants[f"genzoo {dt} channels_last"] = lambda: gc(xc)

        report.guard(f"{dt} vs fp32", label, low)

    def compiled() -> None:
        m = genzoo.load(folder, device="cuda", components="inference", compile=True)
        g = m.compile_targets()[0]
        with torch.inference_mode():
            first = timed(lambda: g(x), sync)
            diff = (g(x) - y32).abs().max().item()
        events = g._compiled_call_impl.events
        report.add("compile (fp32)", label, f"first call {first:.1f} s, max diff {diff:.1e}, cache {events}", "diff <= 1e-3",
                   diff <= 1e-3)  # fmt: skip
        variants["genzoo fp32 compiled"] = lambda: g(x)

    report.guard("compile (fp32)", label, compiled)

    def graphs() -> None:
        for dt in ("fp32", "bf16"):
            m = genzoo.load(folder, device="cuda", dtype=dt, components="inference")
            g = torch.compile(m.compile_targets()[0], mode="reduce-overhead")
            xd = x.to(m.dtype)
            with torch.inference_mode():
                first = timed(lambda: g(xd), sync)
                out = g(xd).clone()  # CUDA graph outputs are overwritten by the next replay
            quality = (f"max diff {(out - y32).abs().max().item():.1e}" if dt == "fp32" else f"PSNR {psnr(out, y32):.1f} dB")
            report.add(f"CUDA graphs ({dt})", label, f"first call {first:.1f} s, {quality}")
            variants[f"genzoo {dt} CUDA graphs"] = lambda g=g, xd=xd: g(xd)

    report.guard("CUDA graphs", label, graphs)

    report_throughput(report, label, variants, args, sync)


def clip_checks(report: Report, folder: Path, args: argparse.Namespace) -> None:
    import torch

    import genzoo

    label = "clip-vit-b-32 (random)"
    sync = torch.cuda.synchronize
    ref = genzoo.load(folder, device="cuda")
    shape = ref.input_spec.shape  # (3, 224, 224) for ViT-B/32
    pixels = torch.randn(args.batch_size, *shape, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    with torch.inference_mode():
        f32 = ref.encode_image(pixels)
    report.add("placement", label, f"weights on {ref.device}, features on {f32.device}", "cuda", f32.device.type == "cuda")
    variants: dict[str, Callable[[], Any]] = {"upstream fp32 eager": lambda: ref.encode_image(pixels)}
    for dt in ("bf16", "fp16"):

        def low(dt: str = dt) -> None:
            m = genzoo.load(folder, device="cuda", dtype=dt)
            pd = pixels.to(m.dtype)
            with torch.inference_mode():
                cos = torch.nn.functional.cosine_similarity(m.encode_image(pd).float(), f32.float(), dim=-1).min().item()
            report.add(f"{dt} vs fp32", label, f"min cosine {cos:.5f}", f">= {COSINE_MIN}", cos >= COSINE_MIN)
            variants[f"genzoo {dt}"] = lambda: m.encode_image(pd)

        report.guard(f"{dt} vs fp32", label, low)

    def compiled() -> None:
        m = genzoo.load(folder, device="cuda", compile=True)
        with torch.inference_mode():
            first = timed(lambda: m.encode_image(pixels), sync)
            cos = torch.nn.functional.cosine_similarity(m.encode_image(pixels), f32, dim=-1).min().item()
        report.add("compile (fp32)", label, f"first call {first:.1f} s, min cosine {cos:.6f}", f">= {COSINE_MIN}", cos >= COSINE_MIN)
        variants["genzoo fp32 compiled"] = lambda: m.encode_image(pixels)

    report.guard("compile (fp32)", label, compiled)

    report_throughput(report, label, variants, args, sync)


def torchrun_checks(report: Report, folder: Path, tmp: Path, gpus: int) -> None:
    """The folder engine, one process against N under torchrun: the same files, byte for byte."""
    import numpy as np
    from PIL import Image

    images = tmp / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        side = (256, 320, 384)[i % 3]  # a few sizes, so batching by size is exercised
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(images / f"img{i:02d}.png")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]))
    run = [str(folder), str(images), "--device", "cuda"]
    single = tmp / "out-1"
    proc = subprocess.run([sys.executable, "-m", "genzoo", "run", *run, "-o", str(single)], env=env, capture_output=True, text=True)
    if proc.returncode:
        report.add("torchrun sharding", "1 process", f"error: {proc.stderr.strip().splitlines()[-1][:120]}", ok=False)
        return
    torchrun = [shutil.which("torchrun")] if shutil.which("torchrun") else [sys.executable, "-m", "torch.distributed.run"]
    for n in sorted({gpus, 2}):
        out = tmp / f"out-{n}"
        cmd = [*torchrun, f"--nproc_per_node={n}", "-m", "genzoo", "run", *run, "-o", str(out)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        took = time.perf_counter() - t
        what = f"{n} processes on {gpus} GPU(s)"
        if proc.returncode:
            report.add("torchrun sharding", what, f"error: {(proc.stderr.strip().splitlines() or ['?'])[-1][:120]}", ok=False)
            continue
        a = {p.relative_to(single): p.read_bytes() for p in single.rglob("*") if p.is_file()}
        b = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        same = a.keys() == b.keys() and all(a[k] == b[k] for k in a)
        differ = sum(1 for k in a.keys() & b.keys() if a[k] != b[k])
        report.add("torchrun sharding", what, f"{len(b)} files vs {len(a)}, {differ} differ, {took:.0f} s", "identical", same)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per variant (median; default 20)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--skip-torchrun", action="store_true")
    args = ap.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}, torch.cuda.is_available() is False): nothing to check. "
              "Run this script on a machine with an NVIDIA GPU.")  # fmt: skip
        return 0
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    import genzoo

    gpus = torch.cuda.device_count()
    print(f"{gpus} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"genzoo {genzoo.__version__}, batch {args.batch_size}, median of {args.repeat}")  # fmt: skip
    report = Report()
    with tempfile.TemporaryDirectory(prefix="genzoo-gpu-check-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("GENZOO_CACHE", str(tmp / "genzoo-cache"))
        torch.manual_seed(0)
        folders = {
            "cyclegan resnet_9blocks": genzoo.save(genzoo.create("cyclegan", netD="none", bidirectional=False), tmp / "cyclegan"),
            "pix2pix unet_256": genzoo.save(genzoo.create("pix2pix", netD="none"), tmp / "pix2pix"),
        }
        for label, folder in folders.items():
            generator_checks(report, label, folder, args)
        report.guard("CLIP", "clip-vit-b-32 (random)",
                     lambda: clip_checks(report, genzoo.save(genzoo.create("clip-vit-b-32"), tmp / "clip"), args))  # fmt: skip
        if not args.skip_torchrun:
            report.guard("torchrun sharding", "cyclegan", lambda: torchrun_checks(report, folders["cyclegan resnet_9blocks"], tmp, gpus))
    print()
    print(report.table())
    if args.json:
        args.json.write_text(json.dumps(report.rows, indent=1, default=str))
    failed = [r for r in report.rows if r["ok"] is False]
    print(f"\n{len(failed)} check(s) failed" if failed else "\nall checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
