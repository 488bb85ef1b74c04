"""Folder runs: the streaming engine against the loop it replaced, same model, same files, alternating.

The old ``translate_folder`` read a batch of files, translated it and saved
each result, one step after the other in one thread. The engine decodes in
DataLoader workers and saves on a background thread while the model
computes (``genzoo/folder_run.py``). Both sides run in this process on the
same CycleGAN generator and the same JPEG photos (scikit-image's samples,
cropped and resized), taking turns, ``--repeat`` times; the first turn
checks that both wrote the same bytes. Printed: images/s of each side
(median and min-max), the ratio of medians, and the load average, since
this is a throughput figure on a shared machine.

    python benchmarks/bench_folder.py [--n 48] [--photo-size 768] [--workers 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

import genzoo
from genzoo.images import save_image
from genzoo.tasks import translate_folder_run


def photos(root: Path, n: int, side: int) -> list[Path]:
    """``n`` JPEG photos of ``side`` px: crops of scikit-image's sample photos, each a little different."""
    from skimage import data

    sources = [Image.fromarray(f()) for f in (data.astronaut, data.chelsea, data.coffee, data.rocket)]
    paths = []
    for i in range(n):
        im = sources[i % len(sources)]
        s = min(im.size) - 8 * (i // len(sources) % 8)
        x = (i * 7) % max(im.width - s, 1)
        path = root / f"p{i:03d}.jpg"
        im.crop((x, 0, x + s, s)).resize((side, side), Image.Resampling.BICUBIC).save(path, quality=92)
        paths.append(path)
    return paths


def old_loop(model, files: list[Path], src: Path, out: Path, batch_size: int) -> None:
    """What ``translate_folder`` did before the engine: read, translate, save, one batch at a time."""
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        for path, image in zip(chunk, model.translate(chunk, batch_size=batch_size)):
            save_image(image.float().cpu(), out / path.relative_to(src))


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} images/s (min {min(values):.1f}, max {max(values):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=48, help="photos in the folder")
    ap.add_argument("--photo-size", type=int, default=768, help="side of the JPEG photos (decoded, then resized)")
    ap.add_argument("--image-size", type=int, default=128, help="side the model translates at")
    ap.add_argument("--netG", default="resnet_6blocks")
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the model, both sides")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = genzoo.create("cyclegan", netG=args.netG, ngf=args.ngf, image_size=args.image_size, netD="none").eval()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        files = photos(src, args.n, args.photo_size)
        rates: dict[str, list[float]] = {"old loop": [], "engine": []}
        for r in range(args.repeat):
            order = ["old loop", "engine"] if r % 2 == 0 else ["engine", "old loop"]
            for side in order:
                out = Path(tmp) / side.replace(" ", "-")
                shutil.rmtree(out, ignore_errors=True)
                t0 = time.perf_counter()
                if side == "old loop":
                    old_loop(model, files, src, out, args.batch_size)
                else:
                    translate_folder_run(
                        model, src, out, batch_size=args.batch_size, workers=args.workers, progress=False,
                    )  # fmt: skip
                rates[side].append(len(files) / (time.perf_counter() - t0))
            if r == 0:
                same = all(
                    (Path(tmp) / "old-loop" / p.name).read_bytes() == (Path(tmp) / "engine" / p.name).read_bytes()
                    for p in files
                )
                assert same, "the engine wrote other bytes than the old loop"
    load = os.getloadavg()
    print(
        f"cyclegan {args.netG} ngf={args.ngf} at {args.image_size}px, {args.n} JPEG photos of {args.photo_size}px, "
        f"batch {args.batch_size}, {args.threads} torch thread(s), {args.workers} decode workers, {args.repeat} turns"
    )
    for side, values in rates.items():
        print(f"  {side:9s} {spread(values)}")
    ratios = [e / o for e, o in zip(rates["engine"], rates["old loop"])]
    print(
        f"  engine / old loop: {statistics.median(rates['engine']) / statistics.median(rates['old loop']):.2f}x "
        f"(per turn: min {min(ratios):.2f}x, max {max(ratios):.2f}x); outputs byte-identical"
    )
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
