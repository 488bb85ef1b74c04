"""genzoo.metrics: the bundled digits classifier, digit-FD, Fréchet distance, PSNR, AUROC."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from skimage.metrics import peak_signal_noise_ratio
from sklearn.metrics import roc_auc_score

import genzoo.metrics as gm
from genzoo.data import DigitsDataset
from genzoo.errors import CheckpointError, ShapeError
from genzoo.metrics import (
    MetricError,
    auroc,
    classifier_info,
    classify_digits,
    digit_features,
    digits_accuracy,
    digits_fd,
    frechet_distance,
    frechet_distance_from_stats,
    load_digits_classifier,
    psnr,
)


@pytest.fixture(scope="module")
def test_digits() -> DigitsDataset:
    return DigitsDataset("test")


@pytest.fixture(scope="module")
def train_digits() -> DigitsDataset:
    return DigitsDataset("train")


# -- the bundled classifier -------------------------------------------------------
def test_bundled_files_are_small_and_consistent():
    info = classifier_info()
    data = gm.CLASSIFIER_FILE.read_bytes()
    assert len(data) < 200_000
    assert info["sha256"] == hashlib.sha256(data).hexdigest()  # JSON describes this very file
    assert info["command"].startswith("python scripts/train_digits_classifier.py")
    assert info["test_size"] == 355 and info["test_accuracy"] >= 0.97


def test_bundled_classifier_test_accuracy(test_digits):
    acc = digits_accuracy(test_digits.images, test_digits.labels)
    assert acc >= 0.95
    assert acc == pytest.approx(classifier_info()["test_accuracy"], abs=1e-3)


def test_classifier_handles_other_sizes_and_rgb(test_digits):
    for size in (8, 28):
        ds = DigitsDataset("test", size=size)
        assert digits_accuracy(ds.images, ds.labels) >= 0.95
    rgb = DigitsDataset("test", channels=3)
    assert torch.equal(classify_digits(rgb.images), classify_digits(test_digits.images))
    assert classify_digits(test_digits.images[0]).shape == (1,)  # CHW: a batch of one


def test_load_digits_classifier_is_a_fresh_eval_module(test_digits):
    model = load_digits_classifier()
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert all(p.device.type == "cpu" for p in model.parameters())
    with torch.no_grad():
        logits = model(test_digits.images[:10])
    assert logits.shape == (10, 10)
    assert torch.equal(logits.argmax(1), classify_digits(test_digits.images[:10]))
    assert load_digits_classifier() is not model


def test_classifier_input_errors():
    with pytest.raises(ShapeError, match="float"):
        classify_digits(torch.zeros(2, 1, 16, 16, dtype=torch.uint8))
    with pytest.raises(ShapeError, match=r"\(N, 1, H, W\)"):
        classify_digits(torch.zeros(2, 2, 16, 16))
    with pytest.raises(MetricError, match="NaN"):
        digit_features(torch.full((2, 1, 16, 16), float("nan")))
    with pytest.raises(ShapeError, match="labels"):
        digits_accuracy(torch.zeros(3, 1, 16, 16), [1, 2])


def test_corrupt_or_mismatched_weights_are_checkpoint_errors(tmp_path, monkeypatch):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"garbage")
    monkeypatch.setattr(gm, "CLASSIFIER_FILE", bad)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_digits_classifier()
    save_file({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_digits_classifier()
    monkeypatch.setattr(gm, "CLASSIFIER_FILE", tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match="train_digits_classifier"):
        load_digits_classifier()


# -- Fréchet distance ---------------------------------------------------------------
def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(x.numpy(), x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 0.25])
    # For diagonal covariances the trace term is sum (sqrt(a) - sqrt(b))^2.
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert expected == pytest.approx(7.0)
    got = frechet_distance_from_stats(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-12)
    # and from samples, up to sampling error
    g = np.random.default_rng(0)
    a = mu_a + np.sqrt(var_a) * g.standard_normal((200_000, 3))
    b = mu_b + np.sqrt(var_b) * g.standard_normal((200_000, 3))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.01)


def test_frechet_distance_closed_form_for_commuting_full_covariances():
    # Rotated versions of diagonal covariances that share eigenvectors.
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((4, 4)))
    la, lb = np.array([1.0, 2.0, 3.0, 0.0]), np.array([4.0, 0.5, 3.0, 1.0])  # one singular
    cov_a, cov_b = q @ np.diag(la) @ q.T, q @ np.diag(lb) @ q.T
    expected = np.sum((np.sqrt(la) - np.sqrt(lb)) ** 2)
    # A zero eigenvalue comes back as ~1e-16 and its square root as ~1e-8:
    # that is the conditioning of the square root itself, hence rel=1e-6.
    assert frechet_distance_from_stats(np.zeros(4), cov_a, np.zeros(4), cov_b) == pytest.approx(expected, rel=1e-6)
    # symmetric in its arguments
    assert frechet_distance_from_stats(np.zeros(4), cov_b, np.zeros(4), cov_a) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_agrees_with_scipy_sqrtm():
    from scipy.linalg import sqrtm

    g = np.random.default_rng(2)
    a, b = g.standard_normal((300, 8)), g.standard_normal((300, 8)) @ g.standard_normal((8, 8)) + 0.5
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * np.real(sqrtm(ca @ cb)))
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)


def test_frechet_distance_errors():
    with pytest.raises(ShapeError, match="dimension"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ShapeError, match=r"\(N, F\)"):
        frechet_distance(np.zeros(5), np.zeros(5))
    with pytest.raises(MetricError, match="at least 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(MetricError, match="NaN"):
        frechet_distance(np.full((3, 3), np.nan), np.zeros((5, 3)))


# -- digit-FD -------------------------------------------------------------------------
def test_digit_features_shape(test_digits):
    f = digit_features(test_digits.images[:7])
    assert f.shape == (7, 64) and f.dtype == torch.float32 and (f >= 0).all()


def test_digits_fd_orders_real_blurred_and_noise(test_digits, train_digits):
    g = torch.Generator().manual_seed(0)
    real = digits_fd(train_digits.images)  # held-out real digits: the floor
    assert digits_fd(test_digits.images) == pytest.approx(0.0, abs=1e-6)
    blurred = F.avg_pool2d(F.pad(train_digits.images, (1, 1, 1, 1), value=-1.0), 3, stride=1)
    noise = torch.rand(1442, 1, 16, 16, generator=g) * 2 - 1
    one_class = train_digits.images[train_digits.labels == 3]
    fd_blur, fd_noise, fd_collapse = digits_fd(blurred), digits_fd(noise), digits_fd(one_class)
    assert real < 5
    assert real < fd_blur < fd_noise
    assert fd_noise > 100 and fd_collapse > 100
    # a reference given as images equals the named split
    assert digits_fd(train_digits.images[:400], reference=test_digits.images) == pytest.approx(
        digits_fd(train_digits.images[:400]), rel=1e-9
    )
    with pytest.raises(MetricError, match="reference"):
        digits_fd(noise, reference="validation")


# -- PSNR, AUROC ------------------------------------------------------------------
def test_psnr_known_values():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.full((2, 1, 4, 4), 0.2)  # MSE 0.04, range 2: 10 log10(4 / 0.04) = 20 dB
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(-torch.ones(1, 3, 2, 2), torch.ones(1, 3, 2, 2)) == pytest.approx(0.0)  # worst case
    assert psnr(a, a) == float("inf")
    per_image = psnr(a, torch.cat([b[:1], b[:1] * 0.5]), reduction="none")
    assert per_image.shape == (2,) and per_image[1] == pytest.approx(20 + 10 * np.log10(4))


def test_psnr_matches_skimage():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 8, 8, generator=g) * 2 - 1
    b = (a + 0.1 * torch.randn(3, 8, 8, generator=g)).clamp(-1, 1)
    ref = peak_signal_noise_ratio(a.numpy(), b.numpy(), data_range=2.0)
    assert psnr(a, b) == pytest.approx(ref, rel=1e-6)


def test_psnr_errors():
    with pytest.raises(ShapeError, match="one shape"):
        psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(MetricError, match="reduction"):
        psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), reduction="sum")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_sklearn_with_ties(seed):
    g = np.random.default_rng(seed)
    pos = g.integers(0, 10, 57).astype(float) + 1.0  # integer scores: many ties
    neg = g.integers(0, 10, 81).astype(float)
    ref = roc_auc_score(np.r_[np.ones(57), np.zeros(81)], np.r_[pos, neg])
    assert auroc(pos, neg) == pytest.approx(ref, abs=1e-12)
    assert auroc(torch.from_numpy(pos), list(neg)) == pytest.approx(ref, abs=1e-12)


def test_auroc_extremes_and_errors():
    assert auroc([2, 3], [0, 1]) == 1.0
    assert auroc([0, 1], [2, 3]) == 0.0
    assert auroc([1, 1], [1, 1, 1]) == 0.5
    with pytest.raises(MetricError, match="empty"):
        auroc([], [1.0])
    with pytest.raises(MetricError, match="NaN"):
        auroc([float("nan")], [1.0])


def test_classifier_info_is_json():
    assert json.loads(gm.CLASSIFIER_INFO_FILE.read_text())["model"] == "genzoo.metrics.DigitsClassifier"


def test_training_script_runs_and_writes_loadable_weights(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_digits_classifier.py"
    spec = importlib.util.spec_from_file_location("train_digits_classifier", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    try:
        assert module.main(["--out", str(tmp_path), "--epochs", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script pins one thread for reproducibility
    info = json.loads((tmp_path / "digits_classifier.json").read_text())
    assert info["command"] == f"python scripts/train_digits_classifier.py --out {tmp_path} --epochs 1"
    assert info["recipe"]["epochs"] == 1 and 0 <= info["test_accuracy"] <= 1
    monkeypatch.setattr(gm, "CLASSIFIER_FILE", tmp_path / "digits_classifier.safetensors")
    model = load_digits_classifier()
    assert sum(p.numel() for p in model.parameters()) == info["parameters"]
