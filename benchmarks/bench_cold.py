"""Cold start: a fresh Python process until a model is ready to infer -- genzoo, the floor, and upstream.

For each model, three ways to get from ``python`` to weights in a network, each
in its own fresh process, taking turns (floor, genzoo, upstream, floor, ...)
so that a busy machine slows all of them alike:

- **floor**: ``import torch`` + ``safetensors.torch.load_file`` of the files
  genzoo reads. No network is built; nothing can be faster and still have
  the weights in memory.
- **genzoo**: ``genzoo.load(folder)`` (``components="inference"`` for the
  CycleGAN: its generator, as `genzoo run` loads it).
- **upstream**: the reference code's way. CycleGAN: the authors' ``define_G``
  (restated in :mod:`genzoo.bench_reference`, loaded as a standalone file so
  that genzoo's package is not imported), random init, ``torch.load`` of the
  ``latest_net_G.pth``-style state dict, ``load_state_dict``. CLIP:
  ``open_clip.create_model("ViT-B-32-quickgelu", pretrained=FILE)`` on the
  same weights, exported to open_clip's layout.

The clock (:func:`genzoo.coldstart.cold_run`) starts in the parent just before
the child is spawned and stops at the child's "ready" (``time.time()`` on
both sides); the child then exits at once. Peak RSS comes from its rusage. The figures: median and min-max of
the runs, and genzoo's ratio to the floor and to upstream computed per round
(the three processes of one round ran back to back), median and min-max.

    python benchmarks/bench_cold.py [--runs 10] [--models cyclegan,clip] [--workdir DIR]

The weights are random (made once in ``--workdir``, default a temporary
folder): the full-size CycleGAN generator (resnet_9blocks, ngf 64, 11.4 M
parameters) and CLIP ViT-B/32 (151 M).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from genzoo.coldstart import cold_run, floor_code, genzoo_code, load_average, oversubscribed

REPO = Path(__file__).resolve().parents[1]


def prepare(workdir: Path, models: list[str]) -> dict[str, dict[str, str]]:
    """Write each model's files once: the genzoo folder, and what the floor and upstream read. Returns the child code."""
    import torch

    import genzoo

    ways: dict[str, dict[str, str]] = {}
    if "cyclegan" in models:
        folder = workdir / "cyclegan"
        if not (folder / "config.json").is_file():
            model = genzoo.create("cyclegan-horse2zebra")
            genzoo.save(model, folder)
            torch.save(model.generator_for("a2b").state_dict(), workdir / "latest_net_G.pth")
        meta = json.loads((folder / "config.json").read_text())
        files = [str(folder / meta["components"]["generator"])]
        ref = REPO / "genzoo" / "bench_reference.py"
        ways["cyclegan"] = {
            "floor": floor_code(files),
            "genzoo": genzoo_code(str(folder), "inference"),
            "upstream": (
                "import importlib.util, torch\n"
                f"spec = importlib.util.spec_from_file_location('networks', {str(ref)!r})\n"
                "networks = importlib.util.module_from_spec(spec); spec.loader.exec_module(networks)\n"
                "net = networks.define_G(3, 3, 64, 'resnet_9blocks', 'instance', False)\n"
                f"net.load_state_dict(torch.load({str(workdir / 'latest_net_G.pth')!r}, map_location='cpu', weights_only=True))\n"
                "net.eval()"
            ),
        }
    if "clip" in models:
        folder = workdir / "clip"
        oc_file = workdir / "open_clip_model.safetensors"
        if not (folder / "config.json").is_file():
            from genzoo_clip.convert import export

            model = genzoo.create("clip-vit-b-32")
            genzoo.save(model, folder)
            export(model, oc_file, "openai")
        meta = json.loads((folder / "config.json").read_text())
        files = [str(folder / f) for f in meta["components"].values()]
        ways["clip"] = {
            "floor": floor_code(files),
            "genzoo": genzoo_code(str(folder)),
            "upstream": f"import open_clip\nm = open_clip.create_model('ViT-B-32-quickgelu', pretrained={str(oc_file)!r}).eval()",
        }
    (workdir / "ways.json").write_text(json.dumps({"torch": torch.__version__, "ways": ways}))
    return ways


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="timed rounds (after one untimed round)")
    ap.add_argument("--models", default="cyclegan,clip")
    ap.add_argument("--workdir", type=Path, default=None, help="where the weights are written once (reused)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)  # internal: write the files, then exit
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.prepare:
        prepare(args.workdir, models)
        return
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="genzoo-cold-")
        args.workdir = Path(tmp.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    # In a child: a child's peak RSS counts its parent's at the fork, so this process never imports torch.
    subprocess.run([sys.executable, __file__, "--prepare", "--workdir", str(args.workdir), "--models", ",".join(models)],
                   check=True)  # fmt: skip
    prepared = json.loads((args.workdir / "ways.json").read_text())
    ways, torch_version = prepared["ways"], prepared["torch"]

    load_before = load_average()
    results: dict[str, dict] = {}
    for model, codes in ways.items():
        times: dict[str, list[float]] = {w: [] for w in codes}
        peaks: dict[str, list[float]] = {w: [] for w in codes}
        for rnd in range(args.runs + 1):  # round 0 warms the page cache and writes the bytecode caches
            for way, code in codes.items():
                seconds, mb = cold_run(code)
                if rnd:
                    times[way].append(seconds)
                    peaks[way].append(mb)
        rss = {way: statistics.median(mb) for way, mb in peaks.items()}
        ratio_floor = [g / f for g, f in zip(times["genzoo"], times["floor"])]
        ratio_up = [g / u for g, u in zip(times["genzoo"], times["upstream"])]
        results[model] = {"times_s": times, "peak_rss_mb": rss, "genzoo_over_floor": ratio_floor, "genzoo_over_upstream": ratio_up}
    load_after = load_average()
    if args.json:
        print(json.dumps({"runs": args.runs, "loadavg": [load_before, load_after], "torch": torch_version,
                          "cpus": os.cpu_count(), "results": results}, indent=2))  # fmt: skip
        return
    print(f"cold start, fresh process to ready; {args.runs} rounds (floor, genzoo, upstream taking turns); "
          f"torch {torch_version}, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"load average (1, 5, 15 min): before {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}")  # fmt: skip
    warning = oversubscribed(load_before) or oversubscribed(load_after)
    if warning:
        print(f"warning: {warning}")
    for model, r in results.items():
        print(f"\n{model}: seconds, median (min-max); median peak RSS")
        for way, ts in r["times_s"].items():
            print(f"  {way:<9} {spread(ts)} s   {r['peak_rss_mb'][way]:.0f} MB")
        print(f"  genzoo / floor:    {spread(r['genzoo_over_floor'])}x  (per round)")
        print(f"  genzoo / upstream: {spread(r['genzoo_over_upstream'])}x  (per round)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
