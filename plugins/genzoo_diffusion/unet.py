"""The denoiser: a U-Net with a sinusoidal timestep embedding (Ho et al. 2020, appendix B).

Residual blocks with GroupNorm and SiLU get the timestep embedding, plus
the condition's embedding (a class or a text vector), added to their
features (FiLM-style shift, as in the class-conditional models of Nichol &
Dhariwal and Ho & Salimans); self-attention runs at the lowest resolution
only, where it is cheap. The network is a :class:`genzoo.interfaces.Generator`
(an image in, an image of the same shape out) whose timestep is a keyword
argument, since the interface's second positional argument is the condition.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import ShapeError
from genzoo.interfaces import Generator, expect_images


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """The Transformer's sinusoidal position encoding of (possibly fractional) timesteps ``t`` (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding added in between, and a 1x1 skip when the width changes."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2, self.drop, self.conv2 = _norm(cout), nn.Dropout(dropout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, residual."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.norm, self.heads = _norm(channels), heads
        self.qkv, self.proj = nn.Conv2d(channels, 3 * channels, 1), nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class UNet(Generator):
    """``forward(x_t, cond_emb=None, *, t)`` -> the network's prediction (epsilon or v), the shape of ``x_t``.

    ``cond`` is class ids (N,) when ``num_classes`` is set, else an
    (N, cond_dim) vector per image (a text embedding), or ``None`` for the
    learned "no condition" vector that classifier-free guidance needs;
    ``drop`` (N,) bool replaces the condition of those rows by that vector
    (condition dropout in training).
    """

    def __init__(self, channels: int, image_size: int, width: int, mults: tuple[int, ...], heads: int,
                 dropout: float, cond_dim: int, num_classes: int = 0):
        super().__init__()
        if image_size % 2 ** (len(mults) - 1):
            raise ShapeError(f"image_size {image_size} must be divisible by {2 ** (len(mults) - 1)} for width_mults {mults}")
        self.input_shape = self.output_shape = (channels, image_size, image_size)
        self.condition_shape = (cond_dim,) if cond_dim else None
        self.width, emb = width, 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.cond_proj = nn.Linear(cond_dim, emb) if cond_dim else None
        self.null_cond = nn.Parameter(torch.zeros(cond_dim)) if cond_dim else None
        self.label_embed = nn.Embedding(num_classes, cond_dim) if cond_dim and num_classes else None
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        widths = [width * m for m in mults]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [width], width
        for i, w in enumerate(widths):
            self.down.append(ResBlock(c, w, emb, dropout))
            c = w
            skips.append(c)
            last = i == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid1, self.mid_attn, self.mid2 = ResBlock(c, c, emb, dropout), AttnBlock(c, heads), ResBlock(c, c, emb, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(c + skips.pop(), w, emb, dropout))
            c = w
            self.upsample.append(nn.Conv2d(c, c, 3, padding=1) if i else nn.Identity())
        self.out_norm, self.out = _norm(c + skips.pop()), nn.Conv2d(c + width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, *, t: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        x = expect_images(x, self.input_shape, "noisy images")
        emb = self.time_mlp(timestep_embedding(t.reshape(-1).expand(len(x)), self.width).to(x.dtype))
        if self.cond_proj is not None:
            null = self.null_cond.to(x.dtype).expand(len(x), -1)
            if cond is None:
                c = null
            else:
                c = self.label_embed(cond.long()) if self.label_embed is not None else cond
                c = c.to(x.dtype)
                if drop is not None:
                    c = torch.where(drop[:, None], null, c)
            emb = emb + self.cond_proj(c)
        h = self.stem(x)
        hs = [h]
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            hs.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for block, up in zip(self.up, self.upsample):
            h = block(torch.cat([h, hs.pop()], 1), emb)
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = torch.cat([h, hs.pop()], 1)
        return self.out(F.silu(self.out_norm(h)))
