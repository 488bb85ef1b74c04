"""Metrics for generated images: a bundled digits classifier, digit-FD, PSNR, AUROC.

FID needs an Inception network and ImageNet-sized images, which a zoo whose
tests run offline on 16x16 digits cannot use. So genzoo ships its own judge:
a tiny CNN trained by ``scripts/train_digits_classifier.py`` on the fixed
training split of :class:`~genzoo.data.DigitsDataset` and bundled as
``genzoo/assets/digits_classifier.safetensors`` (about 60 KB, no pickle). It
gives

* :func:`classify_digits` / :func:`digits_accuracy`: are the samples of a
  conditional model the digits it was asked for?
* :func:`digit_features` and :func:`digits_fd`: the Fréchet distance between
  generated digits and the held-out test digits in the classifier's
  penultimate-layer feature space ("digit-FD"), FID's formula on a judge
  that fits digits. Lower is better; see ``docs/metrics.md`` for reference
  values and how to read them.

:func:`frechet_distance`, :func:`psnr` (reconstructions, image translation)
and :func:`auroc` (anomaly scores, discriminator separability) are generic.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import CheckpointError, MetricError, ShapeError
from .model import meta_device

__all__ = [
    "MetricError",
    "DigitsClassifier",
    "CLASSIFIER_FILE",
    "CLASSIFIER_INFO_FILE",
    "classifier_info",
    "load_digits_classifier",
    "prepare_digits",
    "classify_digits",
    "digits_accuracy",
    "digit_features",
    "feature_stats",
    "frechet_distance",
    "frechet_distance_from_stats",
    "digits_fd",
    "psnr",
    "auroc",
]

ASSETS = Path(__file__).with_name("assets")
#: The bundled classifier weights (safetensors) and the facts about them (JSON).
CLASSIFIER_FILE = ASSETS / "digits_classifier.safetensors"
CLASSIFIER_INFO_FILE = ASSETS / "digits_classifier.json"

#: The input size the classifier was trained at; other sizes are resized to it.
CLASSIFIER_SIZE = 16



# -- the classifier ----------------------------------------------------------
class DigitsClassifier(nn.Module):
    """A tiny CNN for 1x16x16 digits in [-1, 1] (about 15k parameters).

    Three 3x3 conv + ReLU + 2x2 max-pool stages (8, 16, 32 channels: 16 -> 8
    -> 4 -> 2 pixels), a 128 -> 64 fully connected layer with ReLU (the
    *features*), and a 64 -> 10 linear head. Small on purpose: it must ship
    inside the package and run on a CPU in milliseconds, and 8x8-resolution
    digits need no more. No batch norm, so train and eval behave the same.
    """

    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, self.feature_dim)
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 16, 16) images in [-1, 1] -> (N, 64) penultimate-layer features."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 16, 16) images in [-1, 1] -> (N, 10) class logits."""
        return self.head(self.features(x))


def classifier_info() -> dict[str, Any]:
    """The facts recorded with the bundled classifier: test accuracy, training command, ..."""
    try:
        return json.loads(CLASSIFIER_INFO_FILE.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"cannot read {CLASSIFIER_INFO_FILE} ({exc}); reinstall genzoo or rebuild it with "
            "python scripts/train_digits_classifier.py"
        ) from exc


def load_digits_classifier(device: torch.device | str | None = None) -> DigitsClassifier:
    """A fresh copy of the bundled digits classifier, in eval mode, on ``device`` (default CPU).

    Built on the meta device and filled straight from the safetensors file,
    as genzoo loads every model; nothing is unpickled.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    device = torch.device(device if device is not None else "cpu")
    if not CLASSIFIER_FILE.is_file():
        raise CheckpointError(
            f"the bundled digits classifier {CLASSIFIER_FILE} is missing; reinstall genzoo or "
            "rebuild it with: python scripts/train_digits_classifier.py"
        )
    try:
        state = load_file(CLASSIFIER_FILE, device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(
            f"{CLASSIFIER_FILE} is corrupt ({exc}); reinstall genzoo or rebuild it with "
            "python scripts/train_digits_classifier.py"
        ) from exc
    with meta_device():
        model = DigitsClassifier()
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{CLASSIFIER_FILE} does not fit DigitsClassifier ({exc}); it was written by another "
            "version of genzoo. Rebuild it with python scripts/train_digits_classifier.py"
        ) from exc
    return model.eval().requires_grad_(False)


@functools.lru_cache(maxsize=4)
def _shared_classifier(device: str) -> DigitsClassifier:
    """One read-only classifier per device for the metric functions (loaded once)."""
    return load_digits_classifier(device)


def prepare_digits(images: torch.Tensor) -> torch.Tensor:
    """Bring digit images to what the classifier reads: (N, 1, 16, 16) float32 in [-1, 1].

    Accepts CHW / NCHW float tensors in [-1, 1] of any size (bilinear resize,
    antialiased when shrinking) with 1 channel, or 3 (converted to grey with
    ITU-R 601 luma weights). Values are clamped to [-1, 1], as they would be
    when saved as an image.
    """
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = f"tensor of {images.dtype}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ShapeError(
            f"digit images must be a float tensor in [-1, 1], got a {got}; "
            "genzoo.images.to_tensor converts PIL images and files"
        )
    x = images.unsqueeze(0) if images.dim() == 3 else images
    if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ShapeError(
            f"digit images must be a non-empty batch (N, 1, H, W) or (N, 3, H, W), got {tuple(images.shape)}"
        )
    if not torch.isfinite(x).all():
        raise MetricError("the images contain NaN or inf values; the model that made them has diverged")
    x = x.float()
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        x = (x * w).sum(1, keepdim=True)
    if tuple(x.shape[-2:]) != (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
        shrink = min(x.shape[-2:]) > CLASSIFIER_SIZE
        x = F.interpolate(
            x, size=(CLASSIFIER_SIZE, CLASSIFIER_SIZE), mode="bilinear", align_corners=False, antialias=shrink
        )
    return x.clamp(-1, 1)


def _run(images: torch.Tensor, fn: str, batch_size: int = 1024) -> torch.Tensor:
    x = prepare_digits(images)
    model = _shared_classifier(str(x.device))
    with torch.inference_mode():
        return torch.cat([getattr(model, fn)(chunk) for chunk in x.split(batch_size)])


def classify_digits(images: torch.Tensor) -> torch.Tensor:
    """The digit (0-9) the bundled classifier sees in each image, a LongTensor (N,)."""
    return _run(images, "forward").argmax(dim=1)


def digits_accuracy(images: torch.Tensor, labels: torch.Tensor | np.ndarray | list[int]) -> float:
    """Fraction of ``images`` the bundled classifier labels as ``labels`` (0..1).

    For conditional generators: generate digits for labels 0-9 and check
    that they are read as the digits asked for.
    """
    pred = classify_digits(images).cpu()
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    if labels.shape[0] != pred.shape[0]:
        raise ShapeError(f"got {pred.shape[0]} images but {labels.shape[0]} labels")
    return float((pred == labels).float().mean())


def digit_features(images: torch.Tensor) -> torch.Tensor:
    """Penultimate-layer (64-d, post-ReLU) classifier features of digit images, (N, 64).

    Computed on the images' device; this is the space digit-FD works in.
    """
    return _run(images, "features")


# -- Fréchet distance --------------------------------------------------------
def _as_features(x: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    arr = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ShapeError(f"{what}: expected features of shape (N, F), got {arr.shape}")
    if arr.shape[0] < 2:
        raise MetricError(f"{what}: need at least 2 samples to estimate a covariance, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise MetricError(f"{what}: features contain NaN or inf")
    return arr


def feature_stats(feats: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of features (N, F), in float64."""
    arr = _as_features(feats, "feature_stats")
    return arr.mean(axis=0), np.cov(arr, rowvar=False).reshape(arr.shape[1], arr.shape[1])


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via its eigen-decomposition."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_from_stats(
    mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b).

    ``||mu_a - mu_b||^2 + Tr(cov_a + cov_b - 2 (cov_a cov_b)^(1/2))``. The
    trace of the matrix square root equals the sum of square roots of the
    eigenvalues of ``A^(1/2) cov_b A^(1/2)`` (with ``A = cov_a``), a symmetric
    PSD matrix, so it is computed with symmetric eigen-decompositions in
    float64: real, stable, and exact for singular covariances, where
    ``scipy.linalg.sqrtm`` of the non-symmetric product can return complex
    noise.
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64).reshape(-1), np.asarray(mu_b, np.float64).reshape(-1)
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    d = mu_a.shape[0]
    if mu_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ShapeError(
            f"mismatched Gaussian statistics: mu_a {mu_a.shape}, cov_a {cov_a.shape}, "
            f"mu_b {mu_b.shape}, cov_b {cov_b.shape}"
        )
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu_a - mu_b
    fd = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_sqrt)
    return max(fd, 0.0)  # rounding can give -1e-13 for identical sets


def frechet_distance(feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance (the FID formula) between two sets of features, (N_a, F) and (N_b, F).

    Each set is summarised by its mean and covariance and the distance
    between the two Gaussians is returned (:func:`frechet_distance_from_stats`).
    It is 0 for identical sets and grows with both a shift in the mean
    (wrong content) and a change in the spread (too little variety, or too
    much). Like FID it is biased upward for small sets, so only compare
    values computed with the same number of samples.
    """
    a = _as_features(feats_a, "feats_a")
    b = _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ShapeError(f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance_from_stats(*feature_stats(a), *feature_stats(b))


@functools.lru_cache(maxsize=8)
def _reference_stats(split: str) -> tuple[np.ndarray, np.ndarray]:
    from .data import DigitsDataset

    return feature_stats(digit_features(DigitsDataset(split, size=CLASSIFIER_SIZE).images))


def digits_fd(generated_images: torch.Tensor, reference: str | torch.Tensor = "test") -> float:
    """digit-FD: Fréchet distance from generated digits to real ones, in the classifier's feature space.

    ``reference`` is a split of :class:`~genzoo.data.DigitsDataset`
    (``"test"``, the 355 held-out digits, by default; ``"train"`` or
    ``"all"``) or a tensor of reference images. Images may be any size
    (resized to 16x16) and 1 or 3 channels. Use at least a few hundred
    generated images (the features are 64-d, and fewer samples inflate the
    value); the 1,442 real training digits score about 1.9 against the test
    digits, uniform noise scores in the hundreds. See ``docs/metrics.md``.
    """
    gen = digit_features(generated_images)
    if isinstance(reference, str):
        from .data import SPLITS

        if reference not in SPLITS:
            raise MetricError(f"reference must be a digits split {SPLITS} or a tensor of images, got {reference!r}")
        ref_stats = _reference_stats(reference)
    else:
        ref_stats = feature_stats(digit_features(reference))
    return frechet_distance_from_stats(*feature_stats(gen), *ref_stats)


# -- generic -----------------------------------------------------------------
def psnr(
    a: torch.Tensor, b: torch.Tensor, reduction: str = "mean"
) -> float | torch.Tensor:
    """Peak signal-to-noise ratio in dB between images in [-1, 1] (peak-to-peak range 2).

    ``10 * log10(2**2 / MSE)``, with the MSE taken per image (over C, H, W).
    ``reduction="mean"`` returns the mean of the per-image values as a float
    (``inf`` if any pair is identical; the mean is then ``inf``),
    ``"none"`` the (N,) tensor. A CHW pair counts as one image.
    """
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ShapeError("psnr takes two image tensors")
    if a.shape != b.shape:
        raise ShapeError(f"psnr needs images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if reduction not in ("mean", "none"):
        raise MetricError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 4 or a.shape[0] == 0:
        raise ShapeError(f"psnr needs CHW or non-empty NCHW images, got {tuple(a.shape)}")
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)
    values = 10 * torch.log10(4.0 / mse)  # mse 0 -> inf, as it should
    return values if reduction == "none" else float(values.mean())


Scores = torch.Tensor | np.ndarray | list[float]


def auroc(scores_pos: Scores, scores_neg: Scores) -> float:
    """Area under the ROC curve: the chance a positive outscores a negative (ties count half).

    Computed from ranks (the Mann-Whitney U statistic), exactly, in
    O(n log n), with average ranks for tied scores; equal to
    ``sklearn.metrics.roc_auc_score`` on the concatenated scores. 1.0 means
    perfect separation, 0.5 chance, 0.0 perfectly inverted.
    """
    def arr(x, what: str) -> np.ndarray:
        v = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float64)
        v = v.reshape(-1)
        if v.size == 0:
            raise MetricError(f"auroc: {what} is empty; need at least one score of each kind")
        if np.isnan(v).any():
            raise MetricError(f"auroc: {what} contains NaN")
        return v

    pos, neg = arr(scores_pos, "scores_pos"), arr(scores_neg, "scores_neg")
    allv = np.concatenate([pos, neg])
    _, inverse, counts = np.unique(allv, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(counts) - counts + 1  # 1-based rank of each distinct value's first copy
    avg_rank = first_rank + (counts - 1) / 2.0
    rank_sum_pos = avg_rank[inverse[: pos.size]].sum()
    u = rank_sum_pos - pos.size * (pos.size + 1) / 2.0
    return float(u / (pos.size * neg.size))
