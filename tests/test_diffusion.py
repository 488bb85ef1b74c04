"""The diffusion family: the forward process, the samplers, guidance, inpainting, training, text conditioning.

Tiny U-Nets at 8x8 with a few dozen timesteps keep every test under a few seconds.
"""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
import genzoo.testing
from genzoo import plugins
from genzoo.data import DigitsDataset
from genzoo.training import TrainConfig, train

TINY = dict(image_size=8, width=8, width_mults=[1, 2], heads=2, timesteps=20, sample_steps=4, cond_dim=8)


def ensure_family() -> None:
    """The family through its entry point; registered by hand where the installed metadata predates it."""
    if "diffusion" not in genzoo.list_families():
        import genzoo_diffusion

        plugins.register(genzoo_diffusion, name="diffusion")


@pytest.fixture(autouse=True)
def diffusion_family():
    ensure_family()


def tiny(**overrides) -> genzoo.GenzooModel:
    torch.manual_seed(0)
    return genzoo.create("diffusion", **{**TINY, **overrides})


def scramble(model) -> None:
    """Random non-zero weights everywhere (a fresh model's zero null-condition would hide guidance)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.ema.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def test_the_family_passes_the_conformance_kit():
    genzoo.testing.check_family("diffusion")
    genzoo.testing.check_family("diffusion", condition="none", prediction="v", schedule="linear", sampler="ddpm")


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_process_matches_its_closed_form(schedule):
    """abar is the product of (1 - beta); q(x_t|x_0) equals t single steps of q(x_t|x_{t-1}) in mean and variance."""
    model = tiny(schedule=schedule, timesteps=50)
    ab = model.alpha_bars()
    from genzoo_diffusion.schedule import betas_for

    betas = betas_for(schedule, 50)
    assert torch.allclose(ab, torch.cumprod(1 - betas, 0), rtol=0, atol=1e-12)
    if schedule == "cosine":  # Nichol & Dhariwal eq. 17 (no beta reached the 0.999 clip at T=50 before the last)
        f = lambda t: math.cos((t / 50 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        assert abs(float(ab[24]) - f(25) / f(0)) < 1e-12
    else:
        assert betas[0] == pytest.approx(0.002) and betas[-1] == pytest.approx(0.4)
    assert 0 < float(ab[-1]) < 0.05 and float(ab[0]) > 0.9  # ends near pure noise

    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000, 1, 1, 1), 0.7, dtype=torch.float64)
    x = x0.clone()
    t = 30
    for s in range(t + 1):  # the Markov chain, one step at a time
        x = (1 - betas[s]).sqrt() * x + betas[s].sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
    assert float(x.mean()) == pytest.approx(0.7 * math.sqrt(float(ab[t])), abs=0.005)
    assert float(x.var()) == pytest.approx(1 - float(ab[t]), abs=0.005)

    noise = torch.randn(4, 1, 8, 8)
    clean = torch.rand(4, 1, 8, 8) * 2 - 1
    ts = torch.tensor([0, 5, 10, 49])
    want = ab[ts].float().sqrt().view(-1, 1, 1, 1) * clean + (1 - ab[ts].float()).sqrt().view(-1, 1, 1, 1) * noise
    assert torch.allclose(model.q_sample(clean, ts, noise), want, atol=1e-6)


def test_ddim_with_eta_zero_is_deterministic_and_eta_adds_noise():
    model = tiny(condition="none")
    scramble(model)
    z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    a = model.sample(3, noise=z, seed=0, sampler="ddim", eta=0.0)
    b = model.sample(3, noise=z, seed=123, sampler="ddim", eta=0.0)  # the seed only draws noise, which eta=0 never adds
    assert torch.equal(a, b)
    c = model.sample(3, noise=z, seed=0, sampler="ddim", eta=1.0)
    d = model.sample(3, noise=z, seed=123, sampler="ddim", eta=1.0)
    assert not torch.equal(c, d) and torch.equal(c, model.sample(3, noise=z, seed=0, sampler="ddim", eta=1.0))
    e = model.sample(3, noise=z, seed=0, sampler="ddpm")
    assert not torch.equal(e, model.sample(3, noise=z, seed=123, sampler="ddpm"))
    assert model.sample(3, seed=0, steps=1).shape == (3, 1, 8, 8)
    # DDIM inversion is DDIM run backwards: decoding the latents of a sample gives it back (approximately)
    assert torch.allclose(model.sample(3, noise=model.invert(a), steps=4), a, atol=0.15)


def test_guidance_zero_is_the_unconditional_model():
    model = tiny(condition="labels")
    scramble(model)
    uncond = model.sample(4, seed=0)
    assert torch.equal(model.sample(4, labels=[3], seed=0, guidance=0.0), uncond)
    cond = model.sample(4, labels=[3], seed=0, guidance=1.0)
    assert not torch.allclose(cond, uncond, atol=1e-3)  # the condition matters, so the equality above says something
    assert not torch.allclose(model.sample(4, labels=[3], seed=0, guidance=3.0), cond, atol=1e-3)


def test_inpainting_keeps_known_pixels_exactly():
    model = tiny(condition="none")
    scramble(model)
    x = DigitsDataset("test", size=8).images[:3]
    for mask in ["right", "center"]:
        m = model.known_mask(mask)
        out = model.inpaint(x, mask, seed=0, resample=2)
        assert torch.equal(out * m, x * m)
        assert not torch.allclose(out * (1 - m), x * (1 - m), atol=1e-3)  # the rest is generated
        assert 0 < float(m.mean()) < 1
    custom = torch.zeros(8, 8)
    custom[::2] = 1
    assert torch.equal(model.inpaint(x, custom, seed=1) * custom, x * custom)


def test_denoise_recovers_the_noise_level():
    model = tiny(condition="none")
    images, nrow = model.run_task("denoise", n=3, seed=0, level=0.4)
    assert images.shape == (9, 1, 8, 8) and nrow == 3
    assert torch.equal(model.denoise(images[:3], 0.0), images[:3])


def test_training_lowers_the_loss_on_digits():
    model = tiny(condition="labels", ema_decay=0.9, lr=3e-3)
    data = DigitsDataset("train", size=8)
    test = DigitsDataset("test", size=8)
    before = model.evaluate(test)["test_loss"]
    result = train(model, data, TrainConfig(steps=60, batch_size=32, device="cpu", progress=False, log_every=None, seed=0))
    metrics = model.evaluate(test, n_samples=200)
    after = metrics["test_loss"]
    assert after < 0.8 * before, (before, after, result.losses)
    assert set(metrics) == {"test_loss", "digit_fd", "class_accuracy"} and 0 <= metrics["class_accuracy"] <= 1


def test_text_conditioning_borrows_a_frozen_tower_that_travels_with_the_checkpoint(tmp_path):
    model = tiny(text_encoder="clip-digits")
    clip = genzoo.load("clip-digits", components=["text_encoder"])
    assert model.config.condition == "text" and model.config.cond_dim == clip.text.embed_dim
    assert model.config.text_encoder_spec["family"] == "clip"
    assert list(model.groups()) == ["unet", "ema", "text_encoder"]
    before = {k: v.clone() for k, v in model.text_encoder.state_dict().items()}
    assert all(torch.equal(v, clip.text.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in model.text_encoder.parameters())

    train(model, DigitsDataset("train", size=8), TrainConfig(steps=3, batch_size=8, device="cpu", progress=False, log_every=None, seed=0))
    assert all(torch.equal(v, model.text_encoder.state_dict()[k]) for k, v in before.items())  # frozen

    scramble(model)
    prompt = "a handwritten seven."
    x = model.sample(2, prompt=prompt, seed=0)
    assert not torch.allclose(x, model.sample(2, prompt="a handwritten one.", seed=0), atol=1e-4)
    labelled, _ = model.run_task("sample", labels=[7, 1], templates=["a handwritten {}."], seed=0)
    assert torch.equal(labelled, model.sample(2, prompt=[prompt, "a handwritten one."], seed=0))
    folder = genzoo.save(model, tmp_path / "m")
    assert (folder / "text_encoder.safetensors").is_file()
    plugins.reset()  # a fresh zoo: the load rebuilds the tower from the recorded family and config
    ensure_family()
    loaded = genzoo.load(folder)
    assert torch.equal(loaded.sample(2, prompt=prompt, seed=0), x)

    # conditioning precomputed: the text encoder can stay on disk
    emb = loaded.encode_prompts([prompt])
    part = genzoo.load(folder, components=["ema"])
    assert torch.allclose(part.sample(2, embeddings=emb, seed=0), x, atol=1e-6)
    with pytest.raises(genzoo.MissingComponentError, match="text_encoder"):
        part.sample(2, prompt=prompt)


def test_user_errors_say_what_to_do():
    with pytest.raises(genzoo.ConfigError, match="prediction must be 'eps' or 'v'"):
        tiny(prediction="x0")
    with pytest.raises(genzoo.ConfigError, match='condition="text" needs a text encoder'):
        tiny(condition="text")
    with pytest.raises(genzoo.ConfigError, match="no text_encoder component"):
        tiny(text_encoder="vae-digits")
    unconditional = tiny(condition="none")
    with pytest.raises(genzoo.ConfigError, match="not on class labels; leave labels out"):
        unconditional.sample(2, labels=[1])
    with pytest.raises(genzoo.ConfigError, match="not on text; leave the prompt out"):
        unconditional.sample(2, prompt="a seven")
    labelled = tiny(condition="labels")
    with pytest.raises(genzoo.ConfigError, match=r"labels must be class ids in 0\.\.9"):
        labelled.sample(2, labels=[12])
    with pytest.raises(genzoo.ConfigError, match=r"steps must be in 1\.\.20"):
        labelled.sample(2, steps=50)
    with pytest.raises(genzoo.ConfigError, match="mask must be a tensor or one of"):
        labelled.inpaint(torch.zeros(1, 1, 8, 8), "diagonal")


def test_genzoo_run_samples_a_saved_model_for_labels(tmp_path):
    from genzoo.cli import main

    model = tiny(condition="labels")
    folder = genzoo.save(model, tmp_path / "m")
    out = tmp_path / "grid.png"
    assert main(["run", str(folder), "--labels", "0-3", "--steps", "2", "--seed", "0", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
    assert main(["run", str(folder), "--task", "inpaint", "--n", "2", "-o", str(tmp_path / "in.png")]) == 0


def test_cli_prompt_and_guidance_reach_the_sample_task(tmp_path, capsys):
    from genzoo.cli import main

    out = tmp_path / "seven.png"
    argv = ["run", "diffusion-digits", "--prompt", "a handwritten seven.", "--guidance", "2", "--steps", "3",
            "--n", "2", "--seed", "0", "-o", str(out)]
    assert main(argv) == 0 and out.is_file(), capsys.readouterr().err
    assert main(["run", "vae-digits", "--prompt", "a seven", "-o", str(tmp_path / "v.png")]) == 1
    assert "does not take --prompt" in capsys.readouterr().err
