"""How fast is `genzoo.load` compared with the plain-PyTorch way of loading the same weights?

Plain PyTorch: build the model (random init), ``torch.load`` a ``.pt`` state
dict, ``load_state_dict``. genzoo: build on the meta device (no init),
read safetensors straight to the device, assign. Both run in this process on
the same model; the ratio is what matters, not the absolute seconds.

    python benchmarks/bench_load.py [--device cpu|cuda] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import genzoo


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (imports, allocator, page cache)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    config = dict(image_size=64, channels=3, widths=[128, 256, 512, 1024], latent_dim=512)
    model = genzoo.create("vae", **config)
    n = model.num_parameters()
    with tempfile.TemporaryDirectory() as tmp:
        folder = genzoo.save(model, Path(tmp) / "vae")
        pt = Path(tmp) / "vae.pt"
        torch.save(model.state_dict(), pt)
        cls, cfg = type(model), model.config

        def plain():
            m = cls(cfg).to(args.device)
            m.load_state_dict(torch.load(pt, map_location=args.device, weights_only=True))
            return m

        def ours():
            return genzoo.load(folder, device=args.device)

        t_plain, t_ours = timed(plain, args.repeat), timed(ours, args.repeat)
    print(f"model: vae {config}, {n / 1e6:.1f} M parameters, device {args.device}")
    print(f"plain PyTorch (init + torch.load + load_state_dict): {t_plain * 1000:8.1f} ms")
    print(f"genzoo.load (meta + safetensors + assign):           {t_ours * 1000:8.1f} ms")
    print(f"speed-up: {t_plain / t_ours:.2f}x")


if __name__ == "__main__":
    main()
