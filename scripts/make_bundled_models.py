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
    "ae-digits": ("genzoo_autoencoder", "genzoo train autoencoder --data digits --seed 0 --device cpu -o runs/ae-digits"),
    "dae-digits": (
        "genzoo_autoencoder",
        "genzoo train autoencoder --data digits --seed 0 --set denoising=true --device cpu -o runs/dae-digits",
    ),
    "vae-digits": ("genzoo_vae", "genzoo train vae --data digits --seed 0 --device cpu -o runs/vae-digits"),
    "hvae-digits": ("genzoo_vae", "genzoo train vae --data digits --seed 0 --set levels=2 --device cpu -o runs/hvae-digits"),
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
