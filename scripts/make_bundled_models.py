"""Re-create the bundled digits models exactly as shipped.

Runs the `genzoo train` command recorded on each bundled model's card (from
the repository root, so the card shows a relative output folder), then copies
the run's ``final/`` folder into the plugin. Training is seeded and runs on
the CPU; all four models take about 10 minutes on 2 cores.

    python scripts/make_bundled_models.py            # all
    python scripts/make_bundled_models.py vae-digits # one
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RECIPES = {
    "toy-digits": ("genzoo_toy", "genzoo train toy --data digits --seed 0 --device cpu -o runs/toy-digits"),
    "ae-digits": ("genzoo_autoencoder", "genzoo train autoencoder --data digits --seed 0 --device cpu -o runs/ae-digits"),
    "dae-digits": (
        "genzoo_autoencoder",
        "genzoo train autoencoder --data digits --seed 0 --set denoising=true --device cpu -o runs/dae-digits",
    ),
    "vae-digits": ("genzoo_vae", "genzoo train vae --data digits --seed 0 --device cpu -o runs/vae-digits"),
    "hvae-digits": ("genzoo_vae", "genzoo train vae --data digits --seed 0 --set levels=2 --device cpu -o runs/hvae-digits"),
    "dcgan-digits": (
        "genzoo_gan",
        "genzoo train gan --data digits --seed 0 --set regularizer=r1 --set reg_weight=0.1 "
        "--set lr_g=4e-4 --set lr_d=4e-4 --device cpu -o runs/dcgan-digits",
    ),
    "cgan-digits": (
        "genzoo_cgan",
        "genzoo train cgan --data digits --seed 0 --set regularizer=r1 --set reg_weight=0.1 "
        "--set lr_g=4e-4 --set lr_d=4e-4 --device cpu -o runs/cgan-digits",
    ),
    "pix2pix-digits-edges": (
        "genzoo_pix2pix",
        "genzoo train pix2pix --data digits-edges --seed 0 --steps 600 --batch-size 16 --set image_size=32 "
        "--set netG=unet_32 --set ngf=4 --set netD=n_layers --set n_layers_D=2 --set ndf=8 "
        "--set input_nc=1 --set output_nc=1 --device cpu -o runs/pix2pix-digits-edges",
    ),
    "cyclegan-digits-bold": (
        "genzoo_cyclegan",
        "genzoo train cyclegan --data digits-bold --seed 0 --steps 600 --batch-size 8 --set image_size=16 "
        "--set netG=resnet_2blocks --set ngf=6 --set netD=n_layers --set n_layers_D=2 --set ndf=8 "
        "--set input_nc=1 --set output_nc=1 --device cpu -o runs/cyclegan-digits-bold",
    ),
    "clip-digits": ("genzoo_clip", "genzoo train clip --data digits --seed 0 --device cpu -o runs/clip-digits"),
    "diffusion-digits": (  # after clip-digits: its text tower is clip-digits'
        "genzoo_diffusion",
        "genzoo train diffusion --data digits --set text_encoder=clip-digits --seed 0 --device cpu -o runs/diffusion-digits",
    ),
}


def make(name: str) -> None:
    package, command = RECIPES[name]
    argv = shlex.split(command)
    run_dir = ROOT / argv[argv.index("-o") + 1]
    exe = Path(sys.executable).with_name("genzoo")
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, exactly the recorded command
    subprocess.run([str(exe), *argv[1:]], cwd=ROOT, check=True)
    target = ROOT / "plugins" / package / "weights" / name
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(run_dir / "final", tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    print(f"{name}: {target.relative_to(ROOT)}")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(RECIPES):
        make(name)
