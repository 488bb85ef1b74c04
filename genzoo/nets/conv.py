"""Small convolutional building blocks shared by the image families.

The autoencoder, the VAE and the DCGAN-style GAN all halve (or double) the
resolution with 4x4 stride-2 convolutions, the DCGAN recipe; having the
stacks in one place keeps the families' model files about what is
different between them.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..interfaces import Decoder, Encoder


def _check_size(image_size: int, steps: int) -> int:
    if image_size % (2**steps):
        raise ValueError(f"image_size {image_size} must be divisible by 2**{steps} (one halving per width)")
    return image_size // (2**steps)


def down_stack(channels: int, widths: Sequence[int], norm: bool = False, slope: float = 0.2) -> nn.Sequential:
    """``len(widths)`` stride-2 convs (k4 s2 p1): channels -> widths[0] -> ... ; each halves H and W."""
    layers: list[nn.Module] = []
    prev = channels
    for i, w in enumerate(widths):
        layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=not (norm and i > 0)))
        if norm and i > 0:
            layers.append(nn.BatchNorm2d(w))
        layers.append(nn.LeakyReLU(slope) if slope else nn.ReLU())
        prev = w
    return nn.Sequential(*layers)


def up_stack(widths: Sequence[int], channels: int, norm: bool = False) -> nn.Sequential:
    """Stride-2 transposed convs (k4 s2 p1): widths[0] -> ... -> channels; each doubles H and W.

    No activation after the last layer: callers choose tanh (images in
    [-1, 1]) or keep logits.
    """
    layers: list[nn.Module] = []
    dims = [*widths, channels]
    for i in range(len(widths)):
        last = i == len(widths) - 1
        layers.append(nn.ConvTranspose2d(dims[i], dims[i + 1], 4, 2, 1, bias=last or not norm))
        if not last:
            if norm:
                layers.append(nn.BatchNorm2d(dims[i + 1]))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def bottom_size(image_size: int, widths: Sequence[int]) -> int:
    """Spatial size after ``down_stack`` (and the size ``up_stack`` starts from)."""
    return _check_size(image_size, len(widths))


class ConvEncoder(Encoder):
    """Image -> latent vector of ``out_dim`` values (stride-2 convs, then a linear bottleneck)."""

    def __init__(self, image_size: int, channels: int, widths: list[int], latent_dim: int, out_dim: int | None = None):
        super().__init__()
        s = bottom_size(image_size, widths)
        self.input_shape = (channels, image_size, image_size)
        self.latent_shape = (latent_dim,)
        self.features = down_stack(channels, widths)
        self.fc = nn.Linear(widths[-1] * s * s, out_dim or latent_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(images).flatten(1))


class ConvDecoder(Decoder):
    """Latent vector -> image logits (linear, then stride-2 transposed convs); ``forward`` applies tanh."""

    def __init__(self, image_size: int, channels: int, widths: list[int], latent_dim: int):
        super().__init__()
        s = bottom_size(image_size, widths)
        rev = list(reversed(widths))
        self.latent_shape = (latent_dim,)
        self.output_shape = (channels, image_size, image_size)
        self.fc = nn.Linear(latent_dim, rev[0] * s * s)
        self.unflatten = nn.Unflatten(1, (rev[0], s, s))
        self.up = up_stack(rev, channels)

    def logits(self, latent: torch.Tensor) -> torch.Tensor:
        return self.up(self.unflatten(F.relu(self.fc(latent))))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.logits(latent))
