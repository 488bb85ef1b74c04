"""CLIP's image preprocessing, as the reference does it.

Resize so the shorter side is ``size`` (bicubic; the longer side is scaled
by the same factor and rounded down), crop the central ``size`` x ``size``
square (offsets rounded half to even, as torchvision's ``CenterCrop``), make
it RGB (after resizing and cropping, as the reference does), scale to [0, 1] and normalise each channel with OpenAI's mean and
standard deviation. PIL images and files are resized by PIL (as OpenAI's and
open_clip's pipelines do); genzoo tensors in [-1, 1] by torch's antialiased
bicubic interpolation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.errors import ShapeError

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def load_images(inputs: Any) -> list:
    """Files, PIL images or uint8 arrays (HW, HWC or a batch NHWC) -> a list of PIL images (files read fully and closed)."""
    from PIL import Image

    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for item in items:
        if isinstance(item, np.ndarray) or (isinstance(item, torch.Tensor) and item.dtype == torch.uint8):
            arr = item.cpu().numpy() if isinstance(item, torch.Tensor) else item
            if arr.dtype != np.uint8 or arr.ndim not in (2, 3, 4) or (arr.ndim > 2 and arr.shape[-1] not in (1, 3, 4)):
                raise ShapeError(
                    f"cannot read an array of dtype {arr.dtype} and shape {arr.shape} as images; pass uint8 "
                    "HW, HWC or NHWC arrays (C 1, 3 or 4)"
                )
            frames = list(arr) if arr.ndim == 4 else [arr]
            out += [Image.fromarray(f[..., 0] if f.ndim == 3 and f.shape[-1] == 1 else f) for f in frames]
            continue
        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if not path.is_file():
                raise FileNotFoundError(f"no such image file: {path}")
            with Image.open(path) as im:
                im.load()
                out.append(im.copy())
        elif isinstance(item, Image.Image):
            out.append(item)
        else:
            raise ShapeError(f"cannot read {type(item).__name__} as an image; pass files, PIL images or uint8 arrays")
    return out


def _shorter_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    if h <= w:
        return size, int(size * w / h)
    return int(size * h / w), size


def _crop_offsets(h: int, w: int, size: int) -> tuple[int, int]:
    return int(round((h - size) / 2.0)), int(round((w - size) / 2.0))


def _pil_to_unit(im, size: int, channels: int) -> torch.Tensor:
    """One PIL image -> (C, size, size) in [0, 1]: resize the shorter side, crop the centre, then convert.

    The mode is converted last, as open_clip and OpenAI do: PIL resizes a
    palette image by nearest neighbour and an RGBA one with premultiplied
    alpha, so converting first gives other pixels (up to 1.65 apart after
    normalisation on a palette photo).
    """
    from PIL import Image

    h, w = _shorter_side_size(im.height, im.width, size)
    if (im.height, im.width) != (h, w):
        im = im.resize((w, h), Image.Resampling.BICUBIC)
    top, left = _crop_offsets(h, w, size)
    im = im.crop((left, top, left + size, top + size)).convert("RGB" if channels == 3 else "L")
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0


def _tensor_to_unit(x: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """genzoo images (N, C, H, W) in [-1, 1] -> (N, channels, size, size) in [0, 1]."""
    x = ((x.float() + 1) / 2).clamp(0, 1)
    h, w = x.shape[-2:]
    nh, nw = _shorter_side_size(h, w, size)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    top, left = _crop_offsets(nh, nw, size)
    x = x[..., top : top + size, left : left + size]
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and channels == 1:  # ITU-R 601 luma, as PIL's "L"
        x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] != channels:
        raise ShapeError(f"cannot make {x.shape[1]}-channel images into {channels}-channel ones")
    return x


def preprocess_images(
    images: Any, size: int, channels: int = 3, mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD
) -> torch.Tensor:
    """PIL images, files, uint8 arrays or genzoo tensors (one or a list) -> normalised ``(N, channels, size, size)`` float32."""
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        if not images.is_floating_point():
            raise ShapeError(f"expected genzoo image tensors (floats in [-1, 1]), got dtype {images.dtype}")
        x = images.unsqueeze(0) if images.dim() == 3 else images
        if x.dim() != 4:
            raise ShapeError(f"expected images of shape (N, C, H, W) or (C, H, W), got {tuple(images.shape)}")
        unit = _tensor_to_unit(x, size, channels)
    else:
        items = images if isinstance(images, (list, tuple)) else [images]
        if items and all(isinstance(i, torch.Tensor) for i in items):
            unit = torch.cat([_tensor_to_unit(i.unsqueeze(0) if i.dim() == 3 else i, size, channels) for i in items])
        else:
            unit = torch.stack([_pil_to_unit(im, size, channels) for im in load_images(items)])
    m = torch.tensor(list(mean), device=unit.device).view(1, -1, 1, 1)
    s = torch.tensor(list(std), device=unit.device).view(1, -1, 1, 1)
    return (unit - m) / s


def unnormalize(pixels: torch.Tensor, mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD) -> torch.Tensor:
    """Normalised pixels back to genzoo images in [-1, 1] (for showing them)."""
    m = torch.tensor(list(mean), device=pixels.device).view(1, -1, 1, 1)
    s = torch.tensor(list(std), device=pixels.device).view(1, -1, 1, 1)
    return ((pixels.float() * s + m) * 2 - 1).clamp(-1, 1)
