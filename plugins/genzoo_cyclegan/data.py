"""CycleGAN's bundled training data: digits and bold digits (``digits-bold``).

``digits-bold`` (:class:`DigitStylesDataset`): A = digits as written, B =
digits with strokes thickened by a 3x3 dilation, unpaired in training (A and
B come from disjoint halves of the training digits). The digits ship with
scikit-learn, so the bundled ``cyclegan-digits-bold`` trains offline; the
plugin registers the data set through the ``genzoo_register_datasets`` hook.

Paired and unpaired image folders are :mod:`genzoo.folders` (shared with Pix2Pix).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from genzoo import data as gdata


def dilate(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Grey-scale dilation of images in [-1, 1] (ink is +1): strokes get thicker."""
    return F.max_pool2d(x, k, stride=1, padding=k // 2)


class DigitStylesDataset(Dataset):
    """Digits (A) and bold digits (B, a 3x3 dilation) for CycleGAN.

    The training split is unpaired: A images come from one half of the
    training digits and B images from the other half, drawn independently.
    The test split is aligned (B is A made bold), which lets ``evaluate``
    measure how close G(A) comes to the true bold digit.
    """

    def __init__(self, split: str = "train", size: int = 16, channels: int = 1):
        self.channels = gdata.check_channels(channels)  # 3: grey RGB views of the one channel, for input_nc=3
        digits = gdata.DigitsDataset(split, size=size).images
        self.aligned = split != "train"
        if self.aligned:
            self.a, self.b = digits, dilate(digits)
        else:
            order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))
            half = len(digits) // 2
            self.a, self.b = digits[order[:half]], dilate(digits[order[half:]])

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = i if self.aligned else random.randrange(len(self.b))
        return self.a[i].expand(self.channels, -1, -1), self.b[j].expand(self.channels, -1, -1)


# -- the factory the plugin registers (``genzoo_register_datasets``) ------------------------
def digits_bold(split: str, size: int | None = None, channels: int | None = None) -> DigitStylesDataset:
    return DigitStylesDataset(split, size or 16, channels or 1)
