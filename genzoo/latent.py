"""Paths through a latent space, shared by every family that decodes or generates from latents.

Linear interpolation between two Gaussian latents passes through vectors
shorter than any typical sample (the midpoint of two independent N(0, I)
draws has about 1/sqrt(2) of their norm), which decoders render as washed-out
images. Spherical interpolation (slerp) follows the great circle instead and
keeps the norm typical all the way.
"""

from __future__ import annotations

import torch

PATHS = ("linear", "spherical")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between row vectors ``a`` and ``b`` (shape (1, D)) at each row of ``t`` in [0, 1]."""
    cos = ((a / a.norm(dim=-1, keepdim=True)) * (b / b.norm(dim=-1, keepdim=True))).sum(-1, keepdim=True)
    omega = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if so.abs().max() < 1e-6:  # (anti)parallel: a straight line is as good as any
        return (1 - t) * a + t * b
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def latent_path(za: torch.Tensor, zb: torch.Tensor, steps: int, path: str = "spherical") -> torch.Tensor:
    """``steps`` latents from ``za`` to ``zb`` (both ends included), flattened to (steps, D)."""
    if path not in PATHS:
        raise ValueError(f"path must be 'linear' or 'spherical', got {path!r}")
    za, zb = za.reshape(1, -1), zb.reshape(1, -1)
    t = torch.linspace(0, 1, steps, device=za.device, dtype=za.dtype).view(-1, 1)
    return (1 - t) * za + t * zb if path == "linear" else slerp(za, zb, t)
