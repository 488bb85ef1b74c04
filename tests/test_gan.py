"""The gan family: components, training on digits, EMA, save/load, the bundled DCGAN and `genzoo run`."""

import importlib
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.data import DigitsDataset
from genzoo.errors import ConfigError
from genzoo.interfaces import Discriminator, Generator, check_component
from genzoo.metrics import digits_fd
from genzoo.training import TrainConfig, train

TINY = {"noise_dim": 16, "g_widths": [32, 16], "d_widths": [16, 32]}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def noise_fd():
    return digits_fd(torch.rand(1000, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)


def test_components_honour_their_interfaces_at_other_sizes():
    m = genzoo.create("gan", image_size=32, channels=3, noise_dim=8, g_widths=[16, 8, 8], d_widths=[8, 8, 16])
    assert isinstance(m.generator, Generator) and isinstance(m.discriminator, Discriminator)
    for c in (m.generator, m.discriminator, m.generator_ema):
        check_component(c)
    assert m.sample(3, seed=0).shape == (3, 3, 32, 32)
    assert m.discriminate(torch.zeros(5, 3, 32, 32)).shape == (5,)
    assert m.groups() == {"generator": ("generator",), "discriminator": ("discriminator",), "generator_ema": ("generator_ema",)}
    assert "generator_ema" not in genzoo.create("gan", ema=False, **TINY).groups()


def test_dcgan_init_and_frozen_ema():
    torch.manual_seed(0)
    m = genzoo.create("gan", **TINY)
    conv = m.generator.body.up[0].weight
    assert abs(conv.std().item() - 0.02) < 0.004 and abs(conv.mean().item()) < 0.004
    bn = m.generator.body.project[1].weight
    assert abs(bn.mean().item() - 1) < 0.02
    # the EMA generator starts as a copy and is never trained by an optimiser
    assert all(torch.equal(a, b) for a, b in zip(m.generator_ema.state_dict().values(), m.generator.state_dict().values()))
    assert not any(p.requires_grad for p in m.generator_ema.parameters())
    opt_params = {id(p) for o in m.configure_optimizers().values() for g in o.param_groups for p in g["params"]}
    assert not opt_params & {id(p) for p in m.generator_ema.parameters()}
    assert m.configure_optimizers()["g"].defaults["betas"] == (0.5, 0.999)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="did you mean 'nonsaturating'"):
        genzoo.create("gan", loss="non-saturating")
    with pytest.raises(ConfigError, match="regularizer"):
        genzoo.create("gan", regularizer="l2")
    with pytest.raises(ConfigError, match="g_widths"):
        genzoo.create("gan", image_size=16, g_widths=[8, 8, 8, 8, 8])


def test_sample_truncation_and_interpolation():
    torch.manual_seed(0)
    m = genzoo.create("gan", **TINY).eval()
    a, b = m.sample(4, seed=3), m.sample(4, seed=3)
    assert torch.equal(a, b) and a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, m.sample(4, seed=4))
    z = m.noise(500, seed=0, truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() < 0.4
    za, zb = m.noise(2, seed=1)
    path = m.interpolate(za, zb, steps=5)
    assert path.shape == (5, 1, 16, 16)
    assert torch.allclose(path[0], m.generate(za[None])[0], atol=1e-6)
    assert torch.allclose(path[-1], m.generate(zb[None])[0], atol=1e-5)
    with pytest.raises(ValueError, match="path"):
        m.interpolate(za, zb, path="cubic")


@pytest.mark.parametrize("loss,reg", [("nonsaturating", "r1"), ("minimax", "none"), ("lsgan", "none"), ("hinge", "gp")])
def test_each_loss_and_regulariser_trains_a_step(loss, reg):
    torch.manual_seed(0)
    m = genzoo.create("gan", loss=loss, regularizer=reg, d_batchnorm=reg != "gp", **TINY)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    result = train(m, DigitsDataset("train"), TrainConfig(steps=2, batch_size=16, progress=False, device="cpu", log_every=1))
    assert {"d", "g", "d_real", "d_fake"} <= set(result.losses)
    assert (reg in result.losses) == (reg != "none")
    after = m.state_dict()
    for part in ("generator.", "discriminator.", "generator_ema."):
        assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith(part) and after[k].is_floating_point())


def test_short_training_lowers_digit_fd_and_ema_tracks_the_generator(tmp_path):
    torch.manual_seed(0)
    m = genzoo.create("gan", regularizer="r1", reg_weight=0.1, lr_g=4e-4, lr_d=4e-4, ema_decay=0.9, **TINY)
    test = DigitsDataset("test")
    before = m.eval().evaluate(test)["digit_fd"]
    result = train(m, DigitsDataset("train"), TrainConfig(steps=150, batch_size=64, progress=False, device="cpu", out_dir=tmp_path / "run"),
                   eval_dataset=test)  # fmt: skip
    after = result.metrics["digit_fd"]
    assert after < before / 3 and after < noise_fd() / 3, (before, after)
    assert "digit_fd_generator" in result.metrics
    # the EMA is an average of the generator's recent weights: close to it, not equal
    g, e = m.generator.state_dict(), m.generator_ema.state_dict()
    w = "body.up.0.weight"
    assert not torch.equal(g[w], e[w]) and (g[w] - e[w]).norm() < 0.5 * g[w].norm()

    # save / load is bit-exact, and the EMA generator loads alone
    final = result.final_path
    full = genzoo.load(final)
    for k, v in m.state_dict().items():
        assert torch.equal(v, full.state_dict()[k]), k
    assert torch.equal(full.sample(8, seed=1), m.sample(8, seed=1))
    ema_only = genzoo.load(final, components=["generator_ema"])
    assert ema_only.loaded_components() == ["generator_ema"]
    assert torch.equal(ema_only.sample(8, seed=1), m.sample(8, seed=1))
    assert genzoo.load(final, components="inference").loaded_components() == ["generator_ema"]
    # without the EMA, sampling falls back to the trained generator
    gen_only = genzoo.load(final, components=["generator"])
    assert torch.equal(gen_only.sample(4, seed=0), m._sample_with(m.generator, 4))
    with pytest.raises(genzoo.errors.MissingComponentError, match="discriminator"):
        ema_only.discriminate(torch.zeros(1, 1, 16, 16))


@pytest.fixture(scope="module")
def dcgan():
    return genzoo.load("dcgan-digits")


def test_bundled_dcgan_card_and_size(dcgan):
    info = genzoo.info("dcgan-digits")
    assert info.family == "gan" and info.source.startswith("bundled:genzoo_gan/")
    assert "genzoo train gan --data digits" in dcgan.card["command"]
    assert {"digit_fd", "digit_fd_generator"} <= set(info.card["metrics"])
    folder = Path(importlib.import_module("genzoo_gan").__file__).parent / "weights" / "dcgan-digits"
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1_000_000


def test_bundled_dcgan_samples_beat_noise_and_an_untrained_generator(dcgan):
    samples = dcgan.sample(1000, seed=0)
    assert samples.shape == (1000, 1, 16, 16) and samples.min() >= -1 and samples.max() <= 1
    fd = digits_fd(samples)
    assert fd == pytest.approx(dcgan.card["metrics"]["digit_fd"], rel=1e-3)  # the card's number is reproducible
    torch.manual_seed(0)
    untrained = genzoo.create("gan", **{k: getattr(dcgan.config, k) for k in ("noise_dim", "g_widths", "d_widths")})
    assert fd < noise_fd() / 10 and fd < digits_fd(untrained.eval().sample(1000, seed=0)) / 10


def test_genzoo_run_tasks_write_grids(tmp_path, capsys):
    from PIL import Image

    assert main(["run", "dcgan-digits", "-o", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (8 * 18 + 2, 8 * 18 + 2)  # 64 samples, 8 per row
    assert main(["run", "dcgan-digits", "--task", "interpolate", "--n", "3", "--steps", "7", "-o", str(tmp_path / "i.png")]) == 0
    assert Image.open(tmp_path / "i.png").size == (7 * 18 + 2, 3 * 18 + 2)
    assert main(["run", "dcgan-digits", "--labels", "0-9", "-o", str(tmp_path / "x.png")]) == 1
    assert "does not take --labels" in capsys.readouterr().err
