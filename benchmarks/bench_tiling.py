"""Peak memory and time of translating one very large image with a full-size CycleGAN generator, tiled.

Each measurement runs in a fresh subprocess (peak RSS is a per-process
high-water mark, read with ``resource.getrusage``): a full-size generator
(``resnet_9blocks``, ngf 64, instance norm, random weights -- the weights do
not change memory or time) translates one random RGB image of ``--side``
pixels with ``translate(keep_size=True)``, which tiles it automatically above
the memory budget. The floor is the same process up to the model ready and the
input tensor made, without translating; the whole-image line runs the same
image without tiles (only at sides that fit the machine).

    python benchmarks/bench_tiling.py --side 6000                 # the issue's target (12 min on 2 quiet Zen 4 cores)
    python benchmarks/bench_tiling.py --side 6000 --max-tiles 2   # peak memory in minutes; time extrapolated from 2 tiles
    python benchmarks/bench_tiling.py --side 1024 --whole         # also the untiled peak, for comparison
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
import genzoo
from genzoo import tiling

side, mode, max_tiles = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
model = genzoo.create("cyclegan", netD="none", bidirectional=False)  # full size: resnet_9blocks, ngf 64
model.eval()
x = torch.rand(1, 3, side, side).mul_(2).sub_(1)  # in place: no temporary copies in the peak
info = {"side": side, "mode": mode}
if mode != "floor":
    gen = model.g_ab
    per_pixel = tiling.activation_bytes_per_pixel(gen, 3, gen.multiple)
    info["tile"] = tiling.choose_tile(1, side, side, per_pixel, tiling.memory_budget(), gen.multiple)
    info["tiles"] = len(tiling.tile_starts(side, info["tile"], info["tile"] // 4 // 4 * 4)) ** 2 if info["tile"] else 1
    calls = [0]

    class Enough(Exception):
        pass

    def count(mod, inputs):
        calls[0] += 1
        if max_tiles and calls[0] > max_tiles:
            raise Enough

    gen.register_forward_pre_hook(count)
    t = time.perf_counter()
    try:
        y = model.translate(x, keep_size=True, tile=None if mode == "whole" else "auto")
        # isfinite on the whole output would take more memory than the tiles (abs() makes a 432 MB copy): by bands
        assert y.shape == x.shape and all(torch.isfinite(band).all() for band in y.split(64, dim=2))
    except Enough:
        pass
    info["seconds"] = time.perf_counter() - t
    info["tiles_run"] = min(calls[0], max_tiles or calls[0])
info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(info))
"""


def run(side: int, mode: str, max_tiles: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(side), mode, str(max_tiles)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{mode} at {side} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=6000)
    ap.add_argument("--max-tiles", type=int, default=0, help="stop after this many tiles (0: all); time is extrapolated")
    ap.add_argument("--whole", action="store_true", help="also translate the image without tiles (needs the memory)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch threads: default")
    floor = run(args.side, "floor", 0)
    tiled = run(args.side, "tiled", args.max_tiles)
    print(f"floor (torch + model + input, no translation): {floor['peak_rss_mb']:,.0f} MB")
    line = f"tiled ({tiled['tile']} px tiles, {tiled['tiles']} of them): peak RSS {tiled['peak_rss_mb']:,.0f} MB"
    if tiled["tiles_run"] < tiled["tiles"]:
        estimate = tiled["seconds"] / tiled["tiles_run"] * tiled["tiles"]
        line += f", {tiled['seconds']:.0f} s for {tiled['tiles_run']} tiles (all {tiled['tiles']}: about {estimate / 60:.0f} min)"
    else:
        line += f", {tiled['seconds']:.0f} s"
    print(line)
    if args.whole:
        whole = run(args.side, "whole", 0)
        print(f"whole image, untiled: peak RSS {whole['peak_rss_mb']:,.0f} MB, {whole['seconds']:.0f} s")
    print(json.dumps({"floor": floor, "tiled": tiled, **({"whole": whole} if args.whole else {})}))


if __name__ == "__main__":
    main()
