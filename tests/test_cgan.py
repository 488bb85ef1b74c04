"""The cgan family: conditioning options, class-conditioned sampling, the bundled CGAN and `genzoo run`."""

import importlib
from pathlib import Path

import pytest
import torch
from torch import nn

import genzoo
from genzoo.cli import main
from genzoo.data import DigitsDataset
from genzoo.errors import ConfigError, ShapeError
from genzoo.interfaces import check_component
from genzoo.metrics import classify_digits, digits_accuracy
from genzoo.training import TrainConfig, train

TINY = {"noise_dim": 16, "embed_dim": 8, "g_widths": [32, 16], "d_widths": [16, 32]}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.mark.parametrize("mode", ["concat", "projection"])
def test_components_take_the_condition(mode):
    torch.manual_seed(0)
    m = genzoo.create("cgan", d_conditioning=mode, **TINY).eval()
    for c in (m.generator, m.discriminator, m.generator_ema):
        assert c.condition_shape == ()
        check_component(c)
    x = m.sample(labels=[0, 1, 2])
    assert x.shape == (3, 1, 16, 16)
    # the label changes what the discriminator says about the same images
    imgs = torch.rand(4, 1, 16, 16) * 2 - 1
    d = m.discriminator
    with torch.no_grad():
        # make the label matter more than DCGAN's N(0, 0.02) init does
        emb = d.label_channels.embed if mode == "concat" else d.projection.embed
        emb.weight.normal_(0, 1)
        assert not torch.allclose(m.discriminate(imgs, [3] * 4), m.discriminate(imgs, [7] * 4))
    with pytest.raises(TypeError, match="condition"):
        m.generator(m.noise(2))
    with pytest.raises(ShapeError, match="0..9"):
        m.generator(m.noise(2), torch.tensor([0, 10]))


def test_the_condition_encoder_is_replaceable():
    """Any module giving (N, embed_dim) vectors can condition the generator, e.g. a text encoder."""

    class OneHotPlusBias(nn.Module):
        def forward(self, cond):
            return nn.functional.one_hot(cond.long(), 8).float() + 1.0

    m = genzoo.create("cgan", **TINY).eval()
    m.generator.condition_encoder = OneHotPlusBias()
    assert m.generator(m.noise(3, seed=0), torch.tensor([1, 2, 3])).shape == (3, 1, 16, 16)


def test_label_arguments():
    m = genzoo.create("cgan", **TINY).eval()
    assert m.labels_for(4, 7).tolist() == [7, 7, 7, 7]
    assert m.labels_for(None, [1, 2]).tolist() == [1, 2]
    assert m.labels_for(4, [1, 2]).tolist() == [1, 1, 2, 2]
    assert m.labels_for(12, None).tolist() == list(range(10)) + [0, 1]
    with pytest.raises(ValueError, match="0..9"):
        m.sample(labels=[11])
    with pytest.raises(ValueError, match="multiple"):
        m.sample(5, labels=[1, 2])
    grid, nrow = m.class_grid(4, labels=[3, 5], seed=0)
    assert grid.shape == (8, 1, 16, 16) and nrow == 4
    # each column shares its noise across rows: same labels + same seed give the same images
    assert torch.equal(m.sample(labels=[3, 3, 3, 3], seed=0), grid[:4])
    with pytest.raises(ConfigError, match="d_conditioning"):
        genzoo.create("cgan", d_conditioning="film")


def test_training_on_unlabelled_images_is_a_clear_error():
    m = genzoo.create("cgan", **TINY)
    with pytest.raises(ConfigError, match="label"):
        train(m, torch.zeros(8, 1, 16, 16), TrainConfig(steps=1, batch_size=4, progress=False, device="cpu"))


def test_short_training_learns_the_condition_and_round_trips(tmp_path):
    torch.manual_seed(0)
    m = genzoo.create("cgan", regularizer="r1", reg_weight=0.1, lr_g=4e-4, lr_d=4e-4, ema_decay=0.9, **TINY)
    result = train(m, DigitsDataset("train"), TrainConfig(steps=150, batch_size=64, progress=False, device="cpu", out_dir=tmp_path),
                   eval_dataset=DigitsDataset("test"))  # fmt: skip
    assert {"digit_fd", "class_accuracy", "digit_fd_generator", "class_accuracy_generator"} <= set(result.metrics)
    assert result.metrics["class_accuracy"] > 0.25, result.metrics  # chance is 0.1
    loaded = genzoo.load(result.final_path)
    for k, v in m.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    ema_only = genzoo.load(result.final_path, components="inference")
    assert ema_only.loaded_components() == ["generator_ema"]
    assert torch.equal(ema_only.sample(labels=[4, 2], seed=5), m.sample(labels=[4, 2], seed=5))


@pytest.fixture(scope="module")
def cgan():
    return genzoo.load("cgan-digits")


def test_bundled_cgan_card(cgan):
    info = genzoo.info("cgan-digits")
    assert info.family == "cgan" and info.source.startswith("bundled:genzoo_cgan/")
    assert "genzoo train cgan --data digits" in cgan.card["command"]
    assert info.card["metrics"]["class_accuracy"] >= 0.9
    folder = Path(importlib.import_module("genzoo_cgan").__file__).parent / "weights" / "cgan-digits"
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1_000_000


def test_bundled_cgan_draws_the_digit_it_is_asked_for(cgan):
    labels = torch.arange(10).repeat_interleave(30)
    x = cgan.sample(labels=labels, seed=1)  # another seed than the card's evaluation
    acc = digits_accuracy(x, labels)
    assert acc > 0.8, acc  # chance: 0.1
    per_class = [(classify_digits(x[labels == k]) == k).float().mean().item() for k in range(10)]
    assert min(per_class) > 0.5, per_class
    # the same noise with another label gives another digit
    shifted = cgan.sample(labels=(labels + 1) % 10, seed=1)
    assert (classify_digits(shifted) == (labels + 1) % 10).float().mean() > 0.8


def test_genzoo_run_class_grid(tmp_path):
    from PIL import Image

    assert main(["run", "cgan-digits", "--labels", "0-9", "-o", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (10 * 18 + 2, 10 * 18 + 2)  # one row per class
    assert main(["run", "cgan-digits", "--labels", "3,5", "--n", "6", "-o", str(tmp_path / "g2.png")]) == 0
    assert Image.open(tmp_path / "g2.png").size == (6 * 18 + 2, 2 * 18 + 2)
    assert main(["run", "cgan-digits", "--task", "interpolate", "--labels", "1-3", "--steps", "5", "-o", str(tmp_path / "i.png")]) == 0
    assert Image.open(tmp_path / "i.png").size == (5 * 18 + 2, 3 * 18 + 2)
