"""Pix2Pix's bundled training data: digits and their edge maps (``digits-edges``).

``digits-edges`` (:class:`DigitEdgesDataset`): A = the edge map of a digit,
B = the digit (paired). The digits ship with scikit-learn, so the bundled
``pix2pix-digits-edges`` trains offline; the plugin registers the data set
through the ``genzoo_register_datasets`` hook, so ``genzoo train pix2pix
--data digits-edges`` and :func:`genzoo.data.get_dataset` find it.

Paired and unpaired image folders are :mod:`genzoo.folders` (shared with CycleGAN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from genzoo import data as gdata


def erode(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    return -F.max_pool2d(-x, k, stride=1, padding=k // 2)


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """The inner outline of the ink of images in [-1, 1]: +1 on the outline, -1 elsewhere."""
    ink = (x > 0).float()
    outline = ink - (erode(ink * 2 - 1) > 0).float()
    return outline * 2 - 1


class DigitEdgesDataset(Dataset):
    """Paired digits for Pix2Pix: A = the digit's edge map, B = the digit (``size`` px).

    ``channels=3`` gives each item as grey RGB (a view of the one grey
    channel, so a large ``size`` costs no more memory), for a model of
    ``input_nc=3`` such as the family's defaults.
    """

    aligned = True

    def __init__(self, split: str = "train", size: int = 32, channels: int = 1):
        self.channels = gdata.check_channels(channels)
        digits = gdata.DigitsDataset(split, size=size)
        self.b = digits.images
        self.a = edge_map(self.b)

    def __len__(self) -> int:
        return len(self.b)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a[i].expand(self.channels, -1, -1), self.b[i].expand(self.channels, -1, -1)


# -- the factory the plugin registers (``genzoo_register_datasets``) ------------------------
def digits_edges(split: str, size: int | None = None, channels: int | None = None) -> DigitEdgesDataset:
    return DigitEdgesDataset(split, size or 32, channels or 1)
