"""Datasets that need no download: scikit-learn's digits and your own image folders.

genzoo's tests, bundled tiny models and README demo run offline, so the
built-in data is what ships inside installed packages: the 1,797 real 8x8
handwritten digits of :func:`sklearn.datasets.load_digits`. Anything else is a
folder of images on disk (:class:`ImageFolderDataset`). Nothing here ever
downloads.

Every dataset yields ``(image, label)`` pairs: ``image`` a CHW float tensor in
[-1, 1] (genzoo's image convention), ``label`` an ``int``. :func:`get_dataset`
resolves a name (``"digits"``) or a folder path to one of them.
"""

from __future__ import annotations

import difflib
import functools
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .errors import DatasetError, DatasetNotFoundError
from .images import to_tensor

__all__ = [
    "DatasetError",
    "DatasetNotFoundError",
    "DigitsDataset",
    "ImageFolderDataset",
    "IMAGE_EXTENSIONS",
    "DATASETS",
    "get_dataset",
    "digits_split_indices",
]

SPLITS = ("train", "test", "all")

#: File extensions :class:`ImageFolderDataset` picks up by default (case-insensitive).
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
)




def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(map(repr, SPLITS))}")
    return split


def _check_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        hw = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, int) for s in size):
        hw = (int(size[0]), int(size[1]))
    else:
        raise DatasetError(f"size must be an int or a (height, width) pair, got {size!r}")
    if min(hw) < 1:
        raise DatasetError(f"size must be positive, got {size!r}")
    return hw


def check_channels(channels: int) -> int:
    """``channels`` if it is 1 (grey) or 3 (RGB), else a :class:`DatasetError`; for data sets of plugins too."""
    if channels not in (1, 3):
        raise DatasetError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    return channels


# -- digits ------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 digits (float 0..16) and labels, read once per process.

    They are scikit-learn's ``datasets/data/digits.csv.gz`` (64 pixels and the
    label per row). The file is read where the installed scikit-learn keeps
    it, without importing ``sklearn.datasets``: that import takes a second and
    more (scipy and all), the file a few milliseconds. ``load_digits`` is the
    fallback should a scikit-learn release move the file.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the digits dataset comes with scikit-learn, which is not installed: pip install scikit-learn")
    csv = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        images, labels = table[:, :64].reshape(-1, 8, 8).copy(), table[:, 64].astype(np.int64)
    else:  # pragma: no cover - a scikit-learn release that keeps the file elsewhere
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, labels = bunch.images, bunch.target
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


#: Every TEST_EVERY-th digit of each class (in scikit-learn's order) is a test digit.
TEST_EVERY = 5


def digits_split_indices(split: str) -> np.ndarray:
    """Indices into ``load_digits()`` of a split; the split is fixed forever.

    Within each class, in the order scikit-learn returns the digits, every
    5th digit (positions 4, 9, 14, ... of that class) is a test digit and the
    rest are training digits. That is a stratified 80/20 split with no
    random number generator involved, so it cannot drift with numpy or
    torch versions, and reported metrics (classifier accuracy, digit-FD)
    stay comparable across genzoo releases: 1,442 train and 355 test digits.
    """
    _check_split(split)
    _, labels = _raw_digits()
    if split == "all":
        return np.arange(len(labels))
    is_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        is_test[members[TEST_EVERY - 1 :: TEST_EVERY]] = True
    return np.flatnonzero(is_test if split == "test" else ~is_test)


class DigitsDataset(Dataset):
    """scikit-learn's handwritten digits as genzoo images, with a fixed train/test split.

    The 1,797 real 8x8 digits (16 grey levels, from the UCI optdigits set)
    ship with scikit-learn, so this needs no download. They are scaled from
    0..16 to [-1, 1] (-1 is the background, +1 full ink) and upsampled to
    ``size`` with bilinear interpolation (antialiased area-style filtering
    when shrinking). ``split`` is ``"train"`` (1,442 digits), ``"test"``
    (355) or ``"all"``; see :func:`digits_split_indices` for how the split is
    made and why it never changes.

    Items are ``(image, label)`` with ``image`` of shape ``(channels, size,
    size)`` and ``label`` an ``int`` 0-9. The whole split is also available
    as :attr:`images` (N, C, S, S) and :attr:`labels` (a LongTensor), which is
    handy for small-data training and metrics. ``channels=3`` repeats the
    grey channel, for models that expect RGB.
    """

    num_classes = 10
    classes = tuple(str(d) for d in range(10))

    def __init__(self, split: str = "train", size: int = 16, channels: int = 1):
        self.split = _check_split(split)
        hw = _check_size(size)
        if hw[0] != hw[1]:
            raise DatasetError(f"digits are square; pass one int size, got {size!r}")
        self.size = hw[0]
        self.channels = check_channels(channels)
        raw, raw_labels = _raw_digits()
        idx = digits_split_indices(split)
        x = torch.from_numpy(raw[idx].copy()).unsqueeze(1) / 8.0 - 1.0  # 0..16 -> [-1, 1]
        if self.size != x.shape[-1]:
            x = F.interpolate(
                x, size=hw, mode="bilinear", align_corners=False, antialias=self.size < x.shape[-1]
            ).clamp(-1, 1)
        if channels == 3:
            x = x.expand(-1, 3, -1, -1)
        #: All images of the split, (N, channels, size, size) float32 in [-1, 1].
        self.images: torch.Tensor = x.contiguous()
        #: Their labels, (N,) int64.
        self.labels: torch.Tensor = torch.from_numpy(raw_labels[idx].copy())
        #: Their indices into ``sklearn.datasets.load_digits()``.
        self.indices: np.ndarray = idx

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])

    def __repr__(self) -> str:
        return (
            f"DigitsDataset(split={self.split!r}, size={self.size}, channels={self.channels}, "
            f"n={len(self)})"
        )


# -- image folders -----------------------------------------------------------
def _scan(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Image files under ``root``, recursively, in a stable (sorted) order; hidden entries skipped."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


class ImageFolderDataset(Dataset):
    """Your own images from a folder (searched recursively), as genzoo images.

    Every file under ``root`` whose extension is in ``extensions`` is used,
    in sorted order of its path relative to ``root`` (hidden files and
    folders are skipped). Images are resized to ``size`` (an int for square,
    or ``(height, width)``; bicubic, aspect ratio not kept) and converted to
    ``channels`` (1 or 3), then scaled to [-1, 1]. Files are read lazily,
    one per item.

    Labels follow torchvision's ``ImageFolder`` convention: when every image
    lies inside a sub-folder of ``root`` (``root/cat/x.png``,
    ``root/dog/y.png``), the sorted sub-folder names are the :attr:`classes`
    and an image's label is the index of its top-level sub-folder. Images
    directly in ``root`` mean an unlabelled dataset: :attr:`classes` is empty
    and every label is -1 (which fails loudly if fed to a class embedding).
    ``labels=True`` requires class folders, ``labels=False`` ignores them.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int | Sequence[int],
        channels: int = 3,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        labels: bool | None = None,
    ):
        self.root = Path(root).expanduser()
        self.size = _check_size(size)
        self.channels = check_channels(channels)
        exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        if not exts:
            raise DatasetError("extensions is empty; pass e.g. ('.png', '.jpg')")
        if not self.root.exists():
            raise DatasetNotFoundError(f"image folder {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasetError(f"{self.root} is a file, not a folder of images")
        files = _scan(self.root, exts)
        if not files:
            raise DatasetError(
                f"no images in {self.root} (searched recursively for {', '.join(exts)}); "
                "put image files there or pass extensions=..."
            )
        tops = [p.relative_to(self.root).parts for p in files]
        has_class_folders = all(len(parts) > 1 for parts in tops)
        if labels is True and not has_class_folders:
            loose = next(p for p, parts in zip(files, tops) if len(parts) == 1)
            raise DatasetError(
                f"labels=True needs every image in a class sub-folder of {self.root}, "
                f"but {loose.name} lies directly in it"
            )
        use_labels = has_class_folders if labels is None else labels
        #: The image files, in item order.
        self.paths: list[Path] = files
        #: Class names (sorted top-level sub-folder names), empty if unlabelled.
        self.classes: list[str] = sorted({parts[0] for parts in tops}) if use_labels else []
        index = {c: i for i, c in enumerate(self.classes)}
        #: Labels, (N,) int64; -1 everywhere when unlabelled.
        self.labels: torch.Tensor = torch.tensor(
            [index[parts[0]] if use_labels else -1 for parts in tops], dtype=torch.long
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = to_tensor(self.paths[i], size=self.size, channels=self.channels)[0]
        return image, int(self.labels[i])

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset(root={str(self.root)!r}, size={self.size}, "
            f"channels={self.channels}, n={len(self)}, classes={len(self.classes)})"
        )


# -- lookup ------------------------------------------------------------------
def _digits(split: str, size: int | None, channels: int | None) -> DigitsDataset:
    return DigitsDataset(split=split, size=16 if size is None else size, channels=channels or 1)


#: Built-in datasets by name: ``factory(split, size, channels)``. Sizes and
#: channels of ``None`` mean the dataset's own default.
DATASETS: dict[str, Callable[[str, int | None, int | None], Dataset]] = {"digits": _digits}

#: Sub-folder names that mark a split inside a user's image folder.
_FOLDER_SPLITS = {"train": ("train", "training"), "test": ("test", "val", "valid", "validation")}


def _plugin_datasets():
    """The datasets plugins registered (``genzoo_register_datasets``); imported here, not at the top,
    because the registry loads plugins and plugins build on this module."""
    from .plugins import get_registry

    return get_registry().datasets


def known_dataset(name: str | os.PathLike) -> str | None:
    """``name`` as a dataset name (built in or from a plugin), lower-cased; ``None`` if it names none (a folder)."""
    key = os.fspath(name).lower()
    return key if key in DATASETS or key in _plugin_datasets() else None


def get_dataset(
    name_or_path: str | os.PathLike,
    split: str = "train",
    size: int | Sequence[int] | None = None,
    channels: int | None = None,
    **options,
) -> Dataset:
    """A dataset by name (``"digits"``, or one a plugin registered) or a folder of images.

    For a name, ``size`` and ``channels`` default to the dataset's own
    (digits: 16x16, 1 channel); ``options`` go to a plugin dataset's factory.
    For a folder, ``size`` is required and
    ``channels`` defaults to 3. A folder with ``train/`` and ``test/`` (or
    ``val/``) sub-folders serves those as splits; a folder without them is a
    single pool of images that ``split="train"`` and ``split="all"`` both
    return, while ``split="test"`` is an error rather than a silent copy of
    the training data.
    """
    _check_split(split)
    key = os.fspath(name_or_path)
    name = known_dataset(key) if isinstance(name_or_path, str) else None  # a Path is always a folder
    if name in _plugin_datasets():
        return _plugin_datasets()[name].build(split, size, channels, **options)
    if name is not None:
        if options:
            raise DatasetError(f"dataset {key!r} takes no options, got {', '.join(options)}")
        return DATASETS[name](split, size, channels)
    root = Path(key).expanduser()
    if not root.exists():
        names = sorted({*DATASETS, *_plugin_datasets()})
        near = difflib.get_close_matches(key.lower(), names, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise DatasetNotFoundError(
            f"{key!r} is neither a known dataset ({', '.join(names)}) nor an existing folder{hint}"
        )
    if options:
        raise DatasetError(f"a plain image folder takes no options, got {', '.join(options)}")
    if size is None:
        raise DatasetError(f"pass size=... to read the images in {root} (e.g. size=64)")
    channels = 3 if channels is None else channels
    split_dirs = {
        s: next((root / n for n in names if (root / n).is_dir()), None)
        for s, names in _FOLDER_SPLITS.items()
    }
    if split == "all" and any(split_dirs.values()):
        # Not ImageFolderDataset(root): that would take train/ and test/ for classes.
        parts = [ImageFolderDataset(d, size, channels) for d in split_dirs.values() if d is not None]
        if len({tuple(p.classes) for p in parts}) > 1:
            raise DatasetError(
                f"the split folders of {root} have different class sub-folders, so their labels "
                "would not agree; load each split on its own"
            )
        return torch.utils.data.ConcatDataset(parts)
    if split != "all":
        if split_dirs[split] is not None:
            return ImageFolderDataset(split_dirs[split], size, channels)
        others = [d.name for d in split_dirs.values() if d is not None]
        if split == "test" or others:
            raise DatasetError(
                f"{root} has no {split}/ sub-folder"
                + (f" (it has {', '.join(o + '/' for o in others)})" if others else "")
                + "; add one, or pass split='all' to use every image"
            )
    return ImageFolderDataset(root, size, channels)
