"""genzoo.data: the fixed digits split, image folders, and name/path lookup."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from genzoo.data import (
    DatasetError,
    DatasetNotFoundError,
    DigitsDataset,
    ImageFolderDataset,
    digits_split_indices,
    get_dataset,
)
from genzoo.errors import GenzooError


# -- digits --------------------------------------------------------------------
def test_split_sizes_are_fixed_disjoint_and_cover_everything():
    train, test, everything = (digits_split_indices(s) for s in ("train", "test", "all"))
    # These numbers are part of genzoo's contract (metrics are reported on them).
    assert (len(train), len(test), len(everything)) == (1442, 355, 1797)
    assert not set(train) & set(test)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(1797))
    # The rule, restated: every 5th digit of each class, in sklearn's order, is a test digit.
    labels = load_digits().target
    rebuilt = np.sort(np.concatenate([np.flatnonzero(labels == c)[4::5] for c in range(10)]))
    assert np.array_equal(test, rebuilt)
    # pinned: a change here would silently break comparability of reported metrics
    assert test[:5].tolist() == [33, 36, 37, 40, 44] and int(test.sum()) == 322086


def test_split_is_stratified():
    labels = load_digits().target
    for split in ("train", "test"):
        idx = digits_split_indices(split)
        share = np.bincount(labels[idx], minlength=10) / np.bincount(labels, minlength=10)
        expected = 0.8 if split == "train" else 0.2
        assert np.all(np.abs(share - expected) < 0.01), (split, share)


def test_digits_items_range_and_labels():
    ds = DigitsDataset("test")
    assert len(ds) == 355 and ds.num_classes == 10
    assert ds.images.shape == (355, 1, 16, 16) and ds.images.dtype == torch.float32
    assert ds.labels.dtype == torch.long and ds.labels.shape == (355,)
    assert ds.images.min() == -1 and ds.images.max() == 1
    image, label = ds[7]
    assert image.shape == (1, 16, 16) and isinstance(label, int) and label == int(ds.labels[7])


def test_digits_values_match_sklearn_at_native_size():
    ds = DigitsDataset("all", size=8)
    raw = torch.from_numpy(load_digits().images).float()
    assert torch.allclose(ds.images[:, 0], raw / 8 - 1)
    assert torch.equal(ds.labels, torch.from_numpy(load_digits().target))


def test_digits_sizes_and_channels():
    big = DigitsDataset("train", size=32, channels=3)
    assert big.images.shape == (1442, 3, 32, 32)
    assert torch.equal(big.images[:, 0], big.images[:, 2])
    assert big.images.min() >= -1 and big.images.max() <= 1
    small = DigitsDataset("test", size=4)
    assert small.images.shape == (355, 1, 4, 4) and small.images.min() >= -1
    # same split whatever the size
    assert torch.equal(big.labels, DigitsDataset("train", size=8).labels)


def test_digits_bad_arguments():
    with pytest.raises(DatasetError, match="split"):
        DigitsDataset("val")
    with pytest.raises(DatasetError, match="size"):
        DigitsDataset(size=0)
    with pytest.raises(DatasetError, match="square"):
        DigitsDataset(size=(16, 8))
    with pytest.raises(DatasetError, match="channels"):
        DigitsDataset(channels=2)
    assert issubclass(DatasetError, (GenzooError, ValueError))


def test_digits_in_a_dataloader():
    loader = torch.utils.data.DataLoader(DigitsDataset("train"), batch_size=100, shuffle=True)
    x, y = next(iter(loader))
    assert x.shape == (100, 1, 16, 16) and y.dtype == torch.long


# -- folders -------------------------------------------------------------------
def _png(path, value: int, size=(6, 5), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    Image.fromarray(arr).convert(mode).save(path)


def test_folder_with_class_subfolders(tmp_path):
    _png(tmp_path / "dog" / "b.png", 10)
    _png(tmp_path / "cat" / "z.png", 20)
    _png(tmp_path / "cat" / "deeper" / "a.PNG", 30)
    _png(tmp_path / "cat" / ".hidden.png", 40)  # hidden files are skipped
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolderDataset(tmp_path, size=4)
    assert ds.classes == ["cat", "dog"] and ds.num_classes == 2
    assert [p.relative_to(tmp_path).as_posix() for p in ds.paths] == ["cat/deeper/a.PNG", "cat/z.png", "dog/b.png"]
    assert ds.labels.tolist() == [0, 0, 1]
    image, label = ds[2]
    assert image.shape == (3, 4, 4) and label == 1
    assert torch.allclose(image, torch.full_like(image, 10 / 127.5 - 1))


def test_folder_without_subfolders_is_unlabelled(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.jpg", 100 + i, mode="L")
    ds = ImageFolderDataset(tmp_path, size=(3, 7), channels=1)
    assert ds.classes == [] and ds.labels.tolist() == [-1, -1, -1]
    x, y = ds[0]
    assert x.shape == (1, 3, 7) and y == -1
    with pytest.raises(DatasetError, match="class sub-folder"):
        ImageFolderDataset(tmp_path, size=4, labels=True)
    x, _ = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 1, 3, 7)


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing", size=8)
    with pytest.raises(FileNotFoundError):  # also a builtin FileNotFoundError
        ImageFolderDataset(tmp_path / "missing", size=8)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.md").write_text("x")
    with pytest.raises(DatasetError, match="no images"):
        ImageFolderDataset(tmp_path / "empty", size=8)
    _png(tmp_path / "one.png", 1)
    with pytest.raises(DatasetError, match="not a folder"):
        ImageFolderDataset(tmp_path / "one.png", size=8)
    with pytest.raises(DatasetError, match="channels"):
        ImageFolderDataset(tmp_path, size=8, channels=4)


# -- lookup --------------------------------------------------------------------
def test_get_dataset_digits():
    ds = get_dataset("digits", "test")
    assert isinstance(ds, DigitsDataset) and ds.images.shape == (355, 1, 16, 16)
    ds = get_dataset("Digits", "train", size=8, channels=3)
    assert ds.images.shape == (1442, 3, 8, 8)


def test_get_dataset_unknown_name_suggests():
    with pytest.raises(DatasetNotFoundError, match="did you mean 'digits'"):
        get_dataset("digitz")
    with pytest.raises(DatasetError, match="split"):
        get_dataset("digits", "validation")


def test_get_dataset_folder_splits(tmp_path):
    plain = tmp_path / "plain"
    _png(plain / "a.png", 1)
    _png(plain / "b.png", 2)
    with pytest.raises(DatasetError, match="size="):
        get_dataset(plain)
    assert len(get_dataset(plain, "train", size=4)) == 2
    assert len(get_dataset(str(plain), "all", size=4)) == 2
    with pytest.raises(DatasetError, match="no test/ sub-folder"):
        get_dataset(plain, "test", size=4)

    split = tmp_path / "split"
    for name, n in (("train", 3), ("val", 2)):
        for i in range(n):
            _png(split / name / "horse" / f"{i}.png", i)
            _png(split / name / "zebra" / f"{i}.png", i)
    train = get_dataset(split, "train", size=4, channels=1)
    assert len(train) == 6 and train.classes == ["horse", "zebra"] and train[0][0].shape == (1, 4, 4)
    assert len(get_dataset(split, "test", size=4)) == 4  # val/ serves as the test split
    everything = get_dataset(split, "all", size=4)
    assert len(everything) == 10 and {everything[i][1] for i in range(10)} == {0, 1}


def test_digits_are_scikit_learns_own_read_without_importing_sklearn_datasets():
    """The csv is read in place (fast); the values are exactly ``load_digits()``'s, and sklearn.datasets stays unimported."""
    code = (
        "import sys; from genzoo.data import _raw_digits; images, labels = _raw_digits(); "
        "assert 'sklearn.datasets' not in sys.modules, 'imported sklearn.datasets'; "
        "from sklearn.datasets import load_digits; b = load_digits(); import numpy as np; "
        "assert images.shape == (1797, 8, 8) and images.dtype == np.float32 and labels.dtype == np.int64; "
        "assert np.array_equal(images, b.images.astype(np.float32)) and np.array_equal(labels, b.target); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
