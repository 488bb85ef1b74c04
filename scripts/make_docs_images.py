"""Regenerate the pictures in docs/images/ from the bundled models with `genzoo run`.

    python scripts/make_docs_images.py
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = [  # other families add their pictures here
    "genzoo run vae-digits --n 64 --seed 0 --scale 3 -o docs/images/vae-digits-samples.png",
    "genzoo run vae-digits --task interpolate --n 6 --steps 10 --scale 3 -o docs/images/vae-digits-interpolate.png",
    "genzoo run vae-digits --task reconstruct --n 12 --scale 3 -o docs/images/vae-digits-reconstruct.png",
    "genzoo run hvae-digits --n 64 --seed 0 --scale 3 -o docs/images/hvae-digits-samples.png",
    "genzoo run ae-digits --task reconstruct --n 12 --scale 3 -o docs/images/ae-digits-reconstruct.png",
    "genzoo run dae-digits --task denoise --n 12 --scale 3 -o docs/images/dae-digits-denoise.png",
    "genzoo run dcgan-digits --n 64 --seed 0 --scale 3 -o docs/images/dcgan-digits-samples.png",
    "genzoo run dcgan-digits --task interpolate --n 6 --steps 10 --scale 3 -o docs/images/dcgan-digits-interpolate.png",
    "genzoo run cgan-digits --labels 0-9 --seed 0 --scale 3 -o docs/images/cgan-digits-grid.png",
    "genzoo run cgan-digits --task interpolate --labels 0-9 --steps 10 --scale 3 -o docs/images/cgan-digits-interpolate.png",
    "genzoo run pix2pix-digits-edges --n 10 --seed 0 --scale 3 -o docs/images/pix2pix-digits-edges.png",
    "genzoo run cyclegan-digits-bold --n 10 --seed 0 --scale 6 -o docs/images/cyclegan-digits-bold.png",
    "genzoo run clip-digits --zero-shot --n 16 --seed 0 --scale 4 -o docs/images/clip-digits-zero-shot.png",
]

if __name__ == "__main__":
    exe = Path(sys.executable).with_name("genzoo")
    for command in COMMANDS:
        subprocess.run([str(exe), *shlex.split(command)[1:], "--device", "cpu"], cwd=ROOT, check=True)
