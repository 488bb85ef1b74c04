"""genzoo.images: conversions are exact where uint8 allows, shapes are checked, writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.errors import GenzooError, ShapeError
from genzoo.images import (
    ImageFileError,
    make_grid,
    save_grid,
    save_image,
    to_pil,
    to_tensor,
    to_uint8,
)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.fixture
def grey() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (6, 4), dtype=np.uint8)


# -- round trips ---------------------------------------------------------------
def test_every_uint8_level_survives_the_round_trip():
    levels = torch.arange(256, dtype=torch.uint8).view(1, 16, 16, 1)  # NHWC
    t = to_tensor(levels)
    assert t.shape == (1, 1, 16, 16) and t.dtype == torch.float32
    assert t.min() == -1 and t.max() == 1
    assert torch.equal(to_uint8(t), levels)


def test_numpy_rgb_round_trip_through_tensor_pil_and_uint8(rgb):
    t = to_tensor(rgb)
    assert t.shape == (1, 3, 5, 7)
    assert torch.equal(to_uint8(t)[0], torch.from_numpy(rgb))
    (im,) = to_pil(t)
    assert im.mode == "RGB" and im.size == (7, 5)
    assert np.array_equal(np.asarray(im), rgb)
    assert torch.equal(to_tensor(im), t)


def test_grey_stays_one_channel(grey):
    t = to_tensor(grey)
    assert t.shape == (1, 1, 6, 4)
    (im,) = to_pil(t)
    assert im.mode == "L" and np.array_equal(np.asarray(im), grey)
    assert to_uint8(t).shape == (1, 6, 4, 1)


def test_to_uint8_and_to_pil_clamp_out_of_range_values():
    t = torch.tensor([-3.0, -1.0, 0.0, 1.0, 7.0]).view(1, 1, 1, 5)
    assert to_uint8(t).flatten().tolist() == [0, 0, 128, 255, 255]
    assert np.asarray(to_pil(t)[0]).ravel().tolist() == [0, 0, 128, 255, 255]


def test_float_tensor_is_returned_as_is(rgb):
    t = torch.rand(2, 3, 5, 5, dtype=torch.float64) * 2 - 1
    assert to_tensor(t) is t
    chw = to_tensor(t[0])
    assert chw.shape == (1, 3, 5, 5) and chw.dtype == torch.float64


def test_tensor_resize_and_channel_conversion():
    t = torch.rand(2, 3, 8, 8) * 2 - 1
    out = to_tensor(t, size=(4, 6), channels=1)
    assert out.shape == (2, 1, 4, 6)
    assert out.min() >= -1 and out.max() <= 1
    assert to_tensor(out, channels=3).shape == (2, 3, 4, 6)


def test_channel_conversion_matches_pil(rgb):
    # grey from RGB uses PIL's luma weights whichever way the image comes in
    via_pil = to_tensor(Image.fromarray(rgb).convert("L"))
    assert torch.equal(to_tensor(rgb, channels=1), via_pil)
    tensor_grey = to_tensor(to_tensor(rgb), channels=1)
    assert (tensor_grey - via_pil).abs().max() <= 1 / 127.5 + 1e-6  # PIL rounds to uint8


def test_resize_uses_pil_bicubic(rgb):
    expected = np.asarray(Image.fromarray(rgb).resize((3, 4), Image.Resampling.BICUBIC))
    assert torch.equal(to_uint8(to_tensor(rgb, size=(4, 3)))[0], torch.from_numpy(expected.copy()))
    assert to_tensor(rgb, size=9).shape == (1, 3, 9, 9)


def test_rgba_and_palette_images_become_rgb():
    rgba = np.zeros((3, 3, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    t = to_tensor(rgba)
    assert t.shape == (1, 3, 3, 3)
    assert to_uint8(t)[0, 0, 0].tolist() == [200, 0, 0]
    pal = Image.fromarray(np.full((2, 2, 3), 50, np.uint8)).convert("P")
    assert to_tensor(pal).shape == (1, 3, 2, 2)


def test_sixteen_bit_grey_is_rescaled_not_clipped(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    u = to_uint8(to_tensor(tmp_path / "deep.png"))[0, :, :, 0]
    assert u[0, 0] == 0 and u[0, 1] == 255 and 126 <= u[1, 0] <= 129


def test_list_of_mixed_inputs(tmp_path, rgb, grey):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    items = [tmp_path / "a.png", str(tmp_path / "a.png"), Image.fromarray(grey), rgb]
    out = to_tensor(items, size=8)
    assert out.shape == (4, 3, 8, 8)  # one grey image among RGB ones: RGB
    assert torch.equal(out[0], out[1])
    assert to_tensor([rgb, rgb], channels=1).shape == (2, 1, 5, 7)
    batch = np.stack([rgb, rgb])
    assert torch.equal(to_tensor(batch), to_tensor([rgb, rgb]))


def test_list_of_different_sizes_needs_size(rgb, grey):
    with pytest.raises(ShapeError, match="size="):
        to_tensor([rgb, grey])
    assert to_tensor([rgb, grey], size=(5, 5)).shape == (2, 3, 5, 5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4), dtype=np.float32), "uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), r"\(H, W\)"),
        (np.zeros(4, dtype=np.uint8), r"\(H, W\)"),
        (torch.zeros(4, 4), "CHW or NCHW"),
        (torch.zeros(1, 1, 1, 4, 4), "CHW or NCHW"),
        (42, "cannot read int"),
        ([], "empty"),
    ],
)
def test_to_tensor_rejects_bad_inputs(bad, match):
    with pytest.raises(ShapeError, match=match):
        to_tensor(bad)


def test_to_tensor_bad_size_and_channels(rgb):
    with pytest.raises(ShapeError, match="size"):
        to_tensor(rgb, size=0)
    with pytest.raises(ShapeError, match="channels"):
        to_tensor(rgb, channels=2)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ImageFileError, match="no image file"):
        to_tensor(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match="not an image"):
        to_tensor(tmp_path / "junk.png")
    assert issubclass(ImageFileError, (GenzooError, OSError))


@pytest.mark.parametrize("bad", [torch.zeros(2, 8, 8, 3), torch.zeros(4, 4), torch.zeros(1, 3, 4, 4, dtype=torch.uint8)])
def test_output_conversions_reject_wrong_shapes(bad):
    with pytest.raises(ShapeError):
        to_uint8(bad)
    with pytest.raises(ShapeError):
        to_pil(bad)


# -- grids ----------------------------------------------------------------------
def test_make_grid_shape_and_placement():
    t = torch.stack([torch.full((3, 4, 5), v) for v in (0.1, 0.2, 0.3, 0.4, 0.5)])
    g = make_grid(t, nrow=2, padding=1, pad_value=-1)
    # 2 columns, 3 rows: H = 3 * (4 + 1) + 1, W = 2 * (5 + 1) + 1
    assert g.shape == (3, 16, 13)
    assert torch.all(g[:, 1:5, 1:6] == 0.1)  # image 0 at row 0, col 0
    assert torch.all(g[:, 1:5, 7:12] == 0.2)  # image 1 at row 0, col 1
    assert torch.all(g[:, 11:15, 1:6] == 0.5)  # image 4 at row 2, col 0
    assert torch.all(g[:, 11:15, 7:12] == -1)  # the empty slot is padding
    assert torch.all(g[:, 0] == -1) and torch.all(g[:, :, 6] == -1)


def test_make_grid_defaults_and_variants():
    assert make_grid(torch.zeros(20, 1, 8, 8)).shape == (1, 3 * 10 + 2, 8 * 10 + 2)
    assert make_grid(torch.zeros(3, 1, 8, 8)).shape == (1, 12, 32)  # fewer than nrow: one row
    assert make_grid(torch.zeros(1, 8, 8), padding=0).shape == (1, 8, 8)
    assert make_grid([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)], nrow=1).shape == (3, 14, 8)
    with pytest.raises(ShapeError):
        make_grid([torch.zeros(3, 4, 4), torch.zeros(3, 5, 4)])
    with pytest.raises(ShapeError):
        make_grid(torch.zeros(2, 3, 4, 4), nrow=0)


# -- saving ---------------------------------------------------------------------
def test_save_image_round_trip_and_leaves_no_temp_files(tmp_path, rgb):
    t = to_tensor(rgb)
    out = save_image(t, tmp_path / "sub" / "x.png")
    assert out == [tmp_path / "sub" / "x.png"]
    with Image.open(out[0]) as im:
        assert np.array_equal(np.asarray(im), rgb)
    assert os.listdir(tmp_path / "sub") == ["x.png"]
    mode = (tmp_path / "sub" / "x.png").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # a normal file, not mkstemp's 0600


def test_save_image_replaces_atomically_and_cleans_up_on_failure(tmp_path, rgb, monkeypatch):
    target = tmp_path / "x.png"
    save_image(to_tensor(rgb), target)
    before = target.read_bytes()

    def boom(self, fp, format=None, **params):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.zeros(3, 5, 7), target)
    assert target.read_bytes() == before  # the old file is untouched
    assert os.listdir(tmp_path) == ["x.png"]  # and no temporary file is left


def test_save_image_many_needs_a_template(tmp_path):
    batch = torch.rand(3, 1, 4, 4) * 2 - 1
    with pytest.raises(ShapeError, match="placeholder"):
        save_image(batch, tmp_path / "x.png")
    paths = save_image(batch, tmp_path / "s-{i:02d}.png")
    assert [p.name for p in paths] == ["s-00.png", "s-01.png", "s-02.png"]
    back = to_tensor(paths)
    assert (back - batch).abs().max() <= 1 / 255 + 1e-6  # quantisation only


def test_save_image_accepts_pil_and_formats(tmp_path, rgb):
    save_image(Image.fromarray(rgb), tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as im:
        assert im.format == "JPEG"
    save_image(torch.zeros(4, 4, 4), tmp_path / "rgba.jpg")  # alpha dropped for JPEG
    with pytest.raises(ImageFileError, match="format"):
        save_image(torch.zeros(3, 4, 4), tmp_path / "x.unknown")
    assert sorted(os.listdir(tmp_path)) == ["a.jpg", "rgba.jpg"]


def test_save_grid(tmp_path):
    p = save_grid(torch.zeros(10, 3, 4, 4), tmp_path / "g.png", nrow=5)
    assert isinstance(p, Path)
    with Image.open(p) as im:
        assert im.size == (5 * 6 + 2, 2 * 6 + 2)
