"""Autoencoder and denoising autoencoder: the bundled models do what they are for."""

import numpy as np
import pytest
import torch

import genzoo
from genzoo.data import DigitsDataset
from genzoo.images import to_tensor
from genzoo.interfaces import check_component
from genzoo.metrics import auroc, psnr
from genzoo_autoencoder.model import AEConfig, AutoencoderModel, corrupt


@pytest.fixture(scope="module")
def test_digits():
    return DigitsDataset("test", size=16).images


def photo_crops(n=64, size=16, seed=0):
    """Non-digit images: random grey crops of scikit-image's sample photos."""
    from skimage import data

    photos = [data.camera(), data.astronaut().mean(-1), data.coffee().mean(-1), data.chelsea().mean(-1), data.moon()]
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = rng.integers(0, p.shape[0] - 128), rng.integers(0, p.shape[1] - 128)
        crops.append(np.ascontiguousarray(p[y : y + 128, x : x + 128]).astype(np.uint8))
    return to_tensor(crops, size=size, channels=1)


def test_components_and_shapes():
    m = AutoencoderModel(AEConfig(image_size=8, widths=[8], latent_dim=3))
    check_component(m.encoder)
    check_component(m.decoder)
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    assert m.encode(x).shape == (5, 3) and m.reconstruct(x).shape == x.shape
    assert m.anomaly_score(x).shape == (5,)
    with pytest.raises(genzoo.ShapeError, match=r"\(N, 1, 8, 8\)"):
        m.encode(torch.zeros(5, 3, 8, 8))


def test_corruption_noise_and_masking():
    x = torch.zeros(2, 1, 32, 32)
    g = torch.Generator().manual_seed(0)
    y = corrupt(x, noise_std=0.0, mask_prob=0.5, generator=g)
    masked = (y == -1).float().mean().item()
    assert 0.4 < masked < 0.6 and set(y.unique().tolist()) <= {-1.0, 0.0}
    y = corrupt(x, noise_std=0.3, mask_prob=0.0, generator=g)
    assert 0.25 < y.std().item() < 0.35 and y.abs().max() <= 1


def test_bundled_autoencoders_load_and_round_trip(tmp_path):
    for name in ("ae-digits", "dae-digits"):
        m = genzoo.load(name)
        info = genzoo.info(name)
        assert info.source.startswith("bundled:genzoo_autoencoder/") and "genzoo train" in m.card["command"]
        again = genzoo.load(genzoo.save(m, tmp_path / name))
        for (k, a), b in zip(m.state_dict().items(), again.state_dict().values()):
            assert torch.equal(a, b), k


def test_anomaly_scores_separate_digits_from_photos(test_digits):
    m = genzoo.load("ae-digits")
    digits = m.anomaly_score(test_digits)
    photos = m.anomaly_score(photo_crops())
    assert auroc(photos, digits) >= 0.9


def test_denoising_autoencoder_raises_psnr(test_digits):
    dae = genzoo.load("dae-digits")
    g = torch.Generator().manual_seed(1)
    noisy = corrupt(test_digits, dae.config.noise_std, dae.config.mask_prob, g)
    before, after = psnr(noisy, test_digits), psnr(dae.denoise(noisy), test_digits)
    assert after > before + 3.0  # dB
    # and better than the plain autoencoder, which never saw corrupted inputs
    plain = genzoo.load("ae-digits")
    assert after > psnr(plain.denoise(noisy), test_digits)
