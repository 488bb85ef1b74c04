"""How fast is `genzoo.load` compared with the plain-PyTorch way of loading the same weights?

Plain PyTorch: build the model (random init), ``torch.load`` a ``.pt`` state
dict, ``load_state_dict``. genzoo: build on the meta device (no init),
read safetensors straight to the device, assign. Both run in this process on
the same model, taking turns; the ratio is what matters, not the absolute seconds.

The measuring lives in :mod:`genzoo.bench` (``genzoo bench NAME`` does the
same for any model, plus inference throughput); this script times it on a
47 M-parameter VAE, big enough that the random init shows.

    python benchmarks/bench_load.py [--device cpu|cuda] [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import genzoo
from genzoo.bench import compare_load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    config = dict(image_size=64, channels=3, widths=[128, 256, 512, 1024], latent_dim=512)
    with tempfile.TemporaryDirectory() as tmp:
        folder = genzoo.save(genzoo.create("vae", **config), Path(tmp) / "vae")
        timing, facts = compare_load(folder, device=args.device, repeat=args.repeat)
    print(f"model: vae {config}, {facts['parameters'] / 1e6:.1f} M parameters, device {args.device}")
    print(f"plain PyTorch (init + torch.load + load_state_dict): {timing.plain_s * 1000:8.1f} ms")
    print(f"genzoo.load (meta + safetensors + assign):           {timing.genzoo_s * 1000:8.1f} ms")
    print(f"speed-up: {timing.speedup:.2f}x")


if __name__ == "__main__":
    main()
