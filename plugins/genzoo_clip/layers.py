"""CLIP's transformer parts, restated in plain PyTorch with timm's parameter names and numerics.

The image tower used to be timm's ``VisionTransformer`` and both towers its
``Block``. Importing any of ``timm.layers`` or ``timm.models`` imports
torchvision, ``torch._dynamo`` and huggingface_hub -- most of the time of a
cold ``genzoo.load`` of a CLIP model, for a few dozen lines of network. These
classes are those lines: the same module tree and state-dict keys
(``trunk.patch_embed.proj.weight``, ``blocks.0.attn.qkv.weight``, ...), the
same operations in the same order (fused ``scaled_dot_product_attention``, as
timm uses by default), so checkpoints load unchanged and outputs equal
timm's (``tests/test_clip_layers.py`` checks both against timm itself).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``: the activation of OpenAI's CLIP models."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"quick_gelu": QuickGELU, "gelu": nn.GELU}


class Attention(nn.Module):
    """Multi-head self-attention with one ``qkv`` projection (timm's ``Attention``, without its options)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """``fc1`` -> activation -> ``fc2``."""

    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = ACTIVATIONS[act]()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm residual transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, act: str, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act)

    def forward(self, x: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), is_causal=is_causal)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens: a strided convolution (no bias, as CLIP), flattened to ``(N, L, C)``."""

    def __init__(self, patch_size: int, channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch_size, stride=patch_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """CLIP's ViT trunk as timm configures it for CLIP: class token, learned positions, ``norm_pre``,
    blocks, ``norm``, the class token's feature out (``global_pool="token"``, no head)."""

    def __init__(
        self, *, image_size: int, patch_size: int, channels: int, width: int, layers: int, heads: int,
        mlp_ratio: float, act: str, eps: float,
    ):  # fmt: skip
        super().__init__()
        num_patches = (image_size // patch_size) ** 2
        self.patch_embed = PatchEmbed(patch_size, channels, width)
        self.cls_token = nn.Parameter(torch.empty(1, 1, width))
        self.pos_embed = nn.Parameter(torch.empty(1, num_patches + 1, width))
        self.norm_pre = nn.LayerNorm(width, eps=eps)
        self.blocks = nn.Sequential(*(Block(width, heads, mlp_ratio, act, eps) for _ in range(layers)))
        self.norm = nn.LayerNorm(width, eps=eps)
        if not self.pos_embed.is_meta:  # genzoo.load builds on the meta device: nothing to initialise
            self.init_weights()

    def init_weights(self) -> None:
        """timm's default ViT initialisation: truncated normal (std 0.02) positions and linear weights,
        zero biases, a near-zero class token."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.blocks(self.norm_pre(x))
        return self.norm(x)[:, 0]

