"""DCGAN's networks (Radford et al., 2016), as the ``gan`` and ``cgan`` families build them.

The generator body projects a vector to a small ``s x s`` map and doubles
it to the image size with transposed convs (batch norm, ReLU, tanh); the
discriminator features halve the image with stride-2 convs (LeakyReLU 0.2,
batch norm from the second layer on). The families add what differs: the
noise (and label) input of the generator, and the discriminator's head.
"""

from __future__ import annotations

import torch
from torch import nn

from .conv import bottom_size, down_stack, up_stack


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0.

    Embeddings keep PyTorch's N(0, 1): a label embedding then enters the
    generator at the same scale as the noise it is concatenated to.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANBody(nn.Module):
    """A ``(N, in_dim)`` vector -> image: project to ``s x s``, then up-sample to the full size (tanh)."""

    def __init__(self, in_dim: int, image_size: int, channels: int, widths: list[int]):
        super().__init__()
        s = bottom_size(image_size, widths)
        self.project = nn.Sequential(
            nn.ConvTranspose2d(in_dim, widths[0], s, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        self.up = up_stack(widths, channels, norm=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.up(self.project(h[:, :, None, None])))


class DCGANFeatures(nn.Module):
    """Images -> ``(N, d_widths[-1], s, s)`` features (stride-2 convs, LeakyReLU 0.2)."""

    def __init__(self, in_channels: int, widths: list[int], batchnorm: bool):
        super().__init__()
        self.down = down_stack(in_channels, widths, norm=batchnorm, slope=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x)
