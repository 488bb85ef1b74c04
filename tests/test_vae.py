"""VAE training on digits, the bundled VAEs, and `genzoo run`."""

import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.data import DigitsDataset
from genzoo.metrics import digits_fd
from genzoo.training import TrainConfig, train


@pytest.mark.parametrize("levels", [1, 2])
def test_training_lowers_the_test_elbo(levels):
    torch.manual_seed(0)
    m = genzoo.create("vae", widths=[16, 32], latent_dim=8, levels=levels, hidden=64)
    test = DigitsDataset("test")
    before = m.eval().evaluate(test)["test_nelbo"]
    result = train(m.train(), DigitsDataset("train"), TrainConfig(steps=150, batch_size=64, progress=False, device="cpu"))
    after = m.eval().evaluate(test)["test_nelbo"]
    assert after < before - 30, (before, after)  # nats per image
    assert result.losses["loss"] > 0


@pytest.fixture(scope="module")
def vae():
    return genzoo.load("vae-digits")


def test_bundled_vae_card_and_metrics(vae):
    info = genzoo.info("vae-digits")
    assert info.family == "vae" and info.source.startswith("bundled:genzoo_vae/")
    assert "genzoo train vae --data digits" in vae.card["command"]
    assert {"test_nelbo", "digit_fd"} <= set(info.card["metrics"])


def test_bundled_vae_samples_beat_noise_and_an_untrained_model(vae):
    samples = vae.sample(1000, seed=0)
    assert samples.shape == (1000, 1, 16, 16) and samples.min() >= -1 and samples.max() <= 1
    fd = digits_fd(samples)
    noise = digits_fd(torch.rand(1000, 1, 16, 16) * 2 - 1)
    torch.manual_seed(0)
    untrained = digits_fd(genzoo.create("vae", **{k: getattr(vae.config, k) for k in ("widths", "latent_dim")}).eval().sample(1000, seed=0))
    assert fd < noise / 4 and fd < untrained / 4, (fd, noise, untrained)


def test_hierarchical_vae_is_bundled_and_samples(vae):
    h = genzoo.load("hvae-digits")
    assert h.config.levels == 2 and h.sample(8, seed=1).shape == (8, 1, 16, 16)
    assert h.card["metrics"]["digit_fd"] < digits_fd(torch.rand(1000, 1, 16, 16) * 2 - 1) / 4


def test_genzoo_run_tasks_write_grids(tmp_path, capsys):
    from PIL import Image

    assert main(["run", "vae-digits", "-o", str(tmp_path / "samples.png"), "--n", "16"]) == 0
    im = Image.open(tmp_path / "samples.png")
    assert im.size == (8 * 18 + 2, 2 * 18 + 2)  # 8 per row, 16 px + 2 px padding
    assert main(["run", "vae-digits", "--task", "interpolate", "--steps", "6", "--n", "3", "-o", str(tmp_path / "i.png")]) == 0
    assert Image.open(tmp_path / "i.png").size == (6 * 18 + 2, 3 * 18 + 2)
    assert main(["run", "vae-digits", "--task", "reconstruct", "--n", "5", "-o", str(tmp_path / "r.png")]) == 0
    code = main(["run", "vae-digits", "--labels", "0-9", "-o", str(tmp_path / "x.png")])
    assert code == 1 and "does not take --labels" in capsys.readouterr().err
