"""Configs of OpenAI's released ViT CLIPs (plain dicts: importing this needs no torch).

Fields are those of :class:`genzoo_clip.model.CLIPConfig`; the registry's
``clip-vit-*`` entries use them, and ``genzoo.create("clip-vit-b-32")``
builds a randomly initialised model of that shape.
"""

from __future__ import annotations

from typing import Any

from .prompts import PHOTO_TEMPLATES

_TEXT = {
    512: dict(context_length=77, vocab_size=49408, text_width=512, text_layers=12, text_heads=8),
    768: dict(context_length=77, vocab_size=49408, text_width=768, text_layers=12, text_heads=12),
}
#: The training defaults of a model converted from (or shaped like) OpenAI's CLIP: the paper's
#: (Radford et al. 2021: Adam lr 5e-4 for ViT-B, weight decay 0.2, 2,000 warm-up steps), not the digits recipe's.
OPENAI_TRAINING = dict(lr=5e-4, weight_decay=0.2, warmup_steps=2000, augment_shift=0)
_COMMON = dict(
    channels=3, mlp_ratio=4.0, act="quick_gelu", layer_norm_eps=1e-5, vocab="openai", class_names=None,
    templates=list(PHOTO_TEMPLATES), **OPENAI_TRAINING,
)  # fmt: skip


def _preset(embed_dim: int, image_size: int, patch_size: int, width: int, layers: int) -> dict[str, Any]:
    return dict(
        embed_dim=embed_dim, image_size=image_size, patch_size=patch_size, vision_width=width,
        vision_layers=layers, vision_heads=width // 64, **_TEXT[embed_dim], **_COMMON,
    )  # fmt: skip


PRESETS: dict[str, dict[str, Any]] = {
    "ViT-B/32": _preset(512, 224, 32, 768, 12),
    "ViT-B/16": _preset(512, 224, 16, 768, 12),
    "ViT-L/14": _preset(768, 224, 14, 1024, 24),
    "ViT-L/14@336": _preset(768, 336, 14, 1024, 24),
}
