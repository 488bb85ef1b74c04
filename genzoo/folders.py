"""Image folders of two domains, in the reference Pix2Pix/CycleGAN formats: paired and unpaired.

Items are ``(a, b)`` pairs of CHW float tensors in [-1, 1]: an image of
domain A and one of domain B (the same scene for paired data, two
independent draws for unpaired data).

- :class:`PairedFolderDataset` -- *aligned*: each file holds A and B side by
  side (A left, B right), in ``root/<split>/`` (``train``, ``val``,
  ``test``) or directly in ``root``; or *two folders*: ``root/A/<split>/``
  and ``root/B/<split>/`` (or ``root/A`` and ``root/B``) with the same file
  names.
- :class:`UnpairedFolderDataset` -- ``root/trainA`` and ``root/trainB``
  (``testA`` / ``testB`` for the test split), any number of images each.

Training items get the reference's augmentation: resize to ``load_size``
(286 for 256), a random ``size`` crop and a random horizontal flip, the same
for both halves of a pair. Test items are resized to ``size``.

The Pix2Pix family trains on paired folders, CycleGAN on unpaired ones (and
either can read the other's); they live in the core so neither family needs
the other installed.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from .data import IMAGE_EXTENSIONS, _scan
from .errors import DatasetError, DatasetNotFoundError
from .images import to_tensor

_TRAIN = ("train",)
_TEST = ("test", "val", "valid", "validation")


def _files(folder: Path) -> list[Path]:
    return _scan(folder, IMAGE_EXTENSIONS)


def _split_dir(root: Path, split: str) -> Path | None:
    for name in (_TRAIN if split == "train" else _TEST):
        if (root / name).is_dir():
            return root / name
    return None


def load_size_for(size: int) -> int:
    """The reference's load size for a crop size (286 for 256)."""
    return int(round(size * 286 / 256))


class _Augment:
    """Resize, random crop and flip, with the same parameters for every image of an item."""

    def __init__(self, size: int, augment: bool, load_size: int | None = None):
        self.size = size
        self.augment = augment
        self.load_size = load_size or (load_size_for(size) if augment else size)

    def __call__(self, *images: Image.Image, channels: Sequence[int]) -> list[torch.Tensor]:
        side = self.load_size if self.augment else self.size
        xs = [to_tensor(im, size=side, channels=c)[0] for im, c in zip(images, channels)]
        if not self.augment:
            return xs
        top = random.randint(0, side - self.size)
        left = random.randint(0, side - self.size)
        flip = random.random() < 0.5
        out = []
        for x in xs:
            x = x[:, top : top + self.size, left : left + self.size]
            out.append(x.flip(-1) if flip else x)
        return out


class PairedFolderDataset(Dataset):
    """Aligned pairs from a folder: A|B side by side in one file, or ``A/`` and ``B/`` folders."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        size: int = 256,
        *,
        input_nc: int = 3,
        output_nc: int = 3,
        direction: str = "AtoB",
        augment: bool | None = None,
        load_size: int | None = None,
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"paired image folder {self.root} does not exist")
        if direction not in ("AtoB", "BtoA"):
            raise DatasetError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.split, self.direction = split, direction
        self.channels = (input_nc, output_nc) if direction == "AtoB" else (output_nc, input_nc)
        self.tf = _Augment(size, split == "train" if augment is None else augment, load_size)
        if (self.root / "A").is_dir() and (self.root / "B").is_dir():
            self.format = "two-folder"
            dirs = []
            for side in ("A", "B"):
                d = _split_dir(self.root / side, split) or (self.root / side if split == "train" else None)
                if d is None:
                    raise DatasetError(f"{self.root / side} has no {split} sub-folder")
                dirs.append(d)
            a_files = {p.relative_to(dirs[0]).as_posix(): p for p in _files(dirs[0])}
            b_files = {p.relative_to(dirs[1]).as_posix(): p for p in _files(dirs[1])}
            common = sorted(set(a_files) & set(b_files))
            if not common:
                raise DatasetError(f"{dirs[0]} and {dirs[1]} share no file names; paired folders need matching names")
            self.pairs = [(a_files[n], b_files[n]) for n in common]
        else:
            self.format = "aligned"
            d = _split_dir(self.root, split) or (self.root if split == "train" else None)
            if d is None:
                raise DatasetError(f"{self.root} has no {split} sub-folder")
            files = _files(d)
            if not files:
                raise DatasetError(f"no images in {d}")
            self.pairs = [(f, None) for f in files]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a_path, b_path = self.pairs[i]
        if b_path is None:
            with Image.open(a_path) as im:
                ab = im.convert("RGB")
            w, h = ab.size
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
        else:
            with Image.open(a_path) as ia, Image.open(b_path) as ib:
                a, b = ia.convert("RGB"), ib.convert("RGB")
        if self.direction == "BtoA":
            a, b = b, a
        x, y = self.tf(a, b, channels=self.channels)
        return x, y


class UnpairedFolderDataset(Dataset):
    """``root/trainA`` and ``root/trainB`` (``testA``/``testB``): an A image and an independently drawn B image."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        size: int = 256,
        *,
        input_nc: int = 3,
        output_nc: int = 3,
        augment: bool | None = None,
        load_size: int | None = None,
    ):
        self.root = Path(root).expanduser()
        phase = "train" if split == "train" else "test"
        dirs = [self.root / f"{phase}A", self.root / f"{phase}B"]
        for d in dirs:
            if not d.is_dir():
                raise DatasetNotFoundError(f"unpaired data needs {d} (the reference's {phase}A/{phase}B layout)")
        self.a_files, self.b_files = _files(dirs[0]), _files(dirs[1])
        if not self.a_files or not self.b_files:
            raise DatasetError(f"{dirs[0]} and {dirs[1]} must both hold images")
        self.channels = (input_nc, output_nc)
        self.random_b = split == "train"
        self.tf = _Augment(size, split == "train" if augment is None else augment, load_size)

    def __len__(self) -> int:
        return max(len(self.a_files), len(self.b_files))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a_path = self.a_files[i % len(self.a_files)]
        j = random.randrange(len(self.b_files)) if self.random_b else i % len(self.b_files)
        with Image.open(a_path) as ia, Image.open(self.b_files[j]) as ib:
            a, b = ia.convert("RGB"), ib.convert("RGB")
        x = self.tf(a, channels=self.channels[:1])[0]
        y = self.tf(b, channels=self.channels[1:])[0]
        return x, y
