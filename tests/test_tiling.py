"""Tiled translation (genzoo.tiling): exact without InstanceNorm, close with it, automatic above the budget, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import genzoo
from genzoo import tiling
from genzoo.errors import ConfigError, ShapeError
from genzoo.metrics import psnr


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def conv_net() -> nn.Module:
    """Fully convolutional, no normalisation, total stride 2, receptive-field radius 5 input pixels."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.ReflectionPad2d(1), nn.Conv2d(3, 8, 3), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="reflect"), nn.ReLU(),
        nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1),
        nn.ReflectionPad2d(1), nn.Conv2d(8, 3, 3), nn.Tanh(),
    ).eval()  # fmt: skip


def tiny_cyclegan(**kw):
    torch.manual_seed(0)
    cfg = dict(input_nc=1, output_nc=1, image_size=16, netG="resnet_1blocks", ngf=4, netD="none", bidirectional=False)
    return genzoo.create("cyclegan", **{**cfg, **kw})


def test_weights_are_a_partition_of_unity_with_zero_margins():
    for length, tile, overlap in [(11, 4, 2), (100, 32, 8), (37, 16, 8), (1000, 256, 64), (50, 64, 16)]:
        starts, w = tiling.axis_weights(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        assert (w >= 0).all() and torch.equal(w.sum(0), torch.ones(length, dtype=torch.float64))
        for i, s in enumerate(starts):  # nothing outside a tile, nothing in its outer quarter-overlap at a shared edge
            assert not w[i, :s].any() and not w[i, s + tile :].any()
            if i > 0:
                assert not w[i, s : s + overlap // 4].any()
    assert tiling.tile_starts(100, 32, 8) == [0, 24, 48, 68]


@torch.no_grad()
def test_tiled_equals_whole_image_exactly_without_instance_norm():
    net, x = conv_net(), torch.rand(2, 3, 100, 76) * 2 - 1
    whole = net(x)
    for tile, overlap in [(32, 24), (40, 24), (24, 20)]:  # overlap // 4 >= the receptive-field radius
        assert torch.equal(tiling.tiled(net, x, tile, overlap, multiple=2), whole), (tile, overlap)
    # the test can fail: a margin smaller than the receptive field shows
    assert not torch.equal(tiling.tiled(net, x, 32, 8, multiple=2), whole)
    # Through translate, on a generator (receptive-field radius 23): oneDNN may pick another convolution
    # algorithm for another image width, which changes the last bits, so equal to rounding here.
    model = tiny_cyclegan(norm="none")
    y = torch.rand(1, 1, 192, 160) * 2 - 1
    whole = model.translate(y, keep_size=True, tile=None)
    scale = float(whole.abs().max())
    torch.testing.assert_close(model.translate(y, keep_size=True, tile=128, overlap=96), whole, rtol=1e-5, atol=1e-5 * scale)


def digit_sheet() -> torch.Tensor:
    """An 8x8 sheet of scikit-learn digits at the bundled CycleGAN's 16 px: a 128x128 image of its own domain."""
    from sklearn.datasets import load_digits

    d = torch.tensor(load_digits().images[:64], dtype=torch.float32) / 8 - 1
    d = torch.nn.functional.interpolate(d[:, None], size=16, mode="bilinear")
    return d.view(8, 8, 16, 16).permute(0, 2, 1, 3).reshape(1, 1, 128, 128)


@torch.no_grad()
def test_instance_norm_tiles_within_documented_psnr():
    """docs/inference.md, "Large images": 64 px tiles, overlap 32, on the trained digits CycleGAN: >= 35 dB with image statistics."""
    model = genzoo.load("cyclegan-digits-bold")
    x = digit_sheet()
    whole = model.translate(x, keep_size=True, tile=None)
    local = model.translate(x, keep_size=True, tile=64, overlap=32)
    image = model.translate(x, keep_size=True, tile=64, overlap=32, norm_stats="image")
    assert psnr(image, whole) >= 35 > psnr(local, whole)  # measured: 43.0 and 31.5 dB
    assert psnr(model.translate(x, keep_size=True, tile=96, overlap=32, norm_stats="image"), whole) >= 60


def test_auto_tiles_above_the_budget(monkeypatch):
    model = tiny_cyclegan(norm="none")
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    calls = []
    real = tiling.tiled
    monkeypatch.setattr(tiling, "tiled", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    whole = model.translate(x, keep_size=True)
    assert calls == []  # far under the default budget: one pass
    per_pixel = tiling.activation_bytes_per_pixel(model.g_ab, 1, 4)
    monkeypatch.setenv("GENZOO_TILE_BUDGET", str(int(per_pixel * 32 * 32)))
    out = model.translate(x, keep_size=True)
    assert calls == [32] and out.shape == whole.shape
    batch = torch.rand(3, 1, 64, 64) * 2 - 1  # over the budget as a batch, under it one by one: no tiles
    monkeypatch.setenv("GENZOO_TILE_BUDGET", str(int(per_pixel * 64 * 64)))
    torch.testing.assert_close(model.translate(batch, keep_size=True), model.translate(batch, keep_size=True, tile=None))
    assert calls == [32]
    monkeypatch.setenv("GENZOO_TILE_BUDGET", "1")  # never tiled at the size the network was built for
    assert torch.equal(model.translate(batch[:, :, :16, :16], keep_size=True), model.g_ab(batch[:, :, :16, :16]))
    assert calls == [32]
    monkeypatch.setenv("GENZOO_TILE_BUDGET", "lots")
    with pytest.raises(ConfigError, match="GENZOO_TILE_BUDGET='lots'"):
        model.translate(x, keep_size=True)
    monkeypatch.setenv("GENZOO_TILE_BUDGET", "1G")
    assert tiling.memory_budget() == 2**30
    assert tiling.choose_tile(1, 6000, 6000, 100.0, 2**20, 4) == 100
    assert tiling.choose_tile(1, 64, 64, 100.0, 2**20, 4) is None


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(tile=30), "tile 30 is not a multiple of 4, which this network needs; use 28 or 32"),
        (dict(tile=0.5), "tile must be a positive whole number of pixels, got 0.5"),
        (dict(tile=True), "tile must be a positive whole number"),
        (dict(tile=-8), "tile must be a positive whole number of pixels, got -8"),
        (dict(tile=32, overlap=6), "overlap 6 is not a multiple of 4"),
        (dict(tile=32, overlap=32), "overlap 32 must be smaller than the tile (32)"),
        (dict(tile=32, overlap=-4), "overlap must be a whole number of pixels >= 0, got -4"),
        (dict(overlap=8), "overlap needs a tile size"),
        (dict(tile=None, overlap=8), "overlap is only used with tile"),
        (dict(tile=32, norm_stats="global"), "norm_stats must be one of tile, image, got 'global'"),
    ],
)
def test_bad_tiling_arguments_are_clear_errors(kw, message):
    model = tiny_cyclegan()
    with pytest.raises(ConfigError) as err:
        model.translate(torch.zeros(1, 1, 64, 64), keep_size=True, **kw)
    assert message in str(err.value)


def test_tiled_checks_its_function_and_input():
    with pytest.raises(ShapeError, match="multiples of 4"):
        tiling.tiled(lambda t: t, torch.zeros(1, 1, 30, 32), 16, 4, multiple=4)
    with pytest.raises(ShapeError, match="keeps the batch and image size"):
        tiling.tiled(lambda t: t[..., ::2, ::2], torch.zeros(1, 1, 32, 32), 16, 4)


def test_run_folder_with_tile_flags(tmp_path, capsys):
    from genzoo.cli import main
    from genzoo.images import save_image

    model = tiny_cyclegan(norm="none")
    folder = genzoo.save(model, tmp_path / "model")
    src = tmp_path / "in"
    x = torch.rand(1, 1, 192, 160) * 2 - 1
    save_image(x, src / "a.png")
    cmd = [sys.executable, "-m", "genzoo", "run", str(folder), str(src), "--keep-size", "--device", "cpu"]
    done = subprocess.run([*cmd, "-o", str(tmp_path / "tiled"), "--tile", "128", "--overlap", "96"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    whole = subprocess.run([*cmd, "-o", str(tmp_path / "whole"), "--tile", "off"], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    assert (tmp_path / "tiled/a.png").read_bytes() == (tmp_path / "whole/a.png").read_bytes()
    assert main([*cmd[3:], "-o", str(tmp_path / "bad"), "--tile", "30"]) == 1
    assert "tile 30 is not a multiple of 4" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as exit_:
        main([*cmd[3:], "-o", str(tmp_path / "bad"), "--tile", "big"])
    assert exit_.value.code == 2 and "or auto, or off" in capsys.readouterr().err
