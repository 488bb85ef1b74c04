"""Losses shared across families: adversarial losses and regularisers, and CLIP's contrastive loss.

Adversarial losses and discriminator regularisers are written once for every GAN-like family.

The GAN, conditional GAN, Pix2Pix and CycleGAN families all play the same
game: a discriminator D scores images (a logit per image, or a map of logits
per patch) and a generator G tries to make its images score like real ones.
The families differ in their networks, not in the game, so the losses live
here. Every function takes the discriminator's raw outputs (logits, *before*
any sigmoid) and returns a scalar averaged over all of them, so a PatchGAN's
logit map works exactly like a DCGAN's single logit.

With ``D(x) = sigmoid(logit)``:

============== ========================================== ==========================================
loss           discriminator minimises                    generator minimises
============== ========================================== ==========================================
minimax        -log D(x) - log(1 - D(G(z)))               log(1 - D(G(z)))        (saturating)
nonsaturating  -log D(x) - log(1 - D(G(z)))               -log D(G(z))
lsgan          1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2  (raw)    1/2 (D(G(z)) - 1)^2      (raw outputs)
hinge          max(0, 1 - D(x)) + max(0, 1 + D(G(z)))     -D(G(z))                 (raw outputs)
============== ========================================== ==========================================

``minimax`` is the game of Goodfellow et al. (2014) as written: the
discriminator maximises ``log D(x) + log(1 - D(G(z)))`` and the generator
minimises ``log(1 - D(G(z)))``. Its generator gradient vanishes exactly when
the generator is bad (D rejects its fakes confidently), which is why the
same paper recommends the ``nonsaturating`` generator loss, the default of
genzoo's GANs. ``lsgan`` is Mao et al. (2017) with the 0-1-1 coding
(CycleGAN's choice); ``hinge`` is the loss of SN-GAN, SAGAN and BigGAN.

Regularisers of the discriminator (add them to its loss):

- :func:`r1_penalty` -- Mescheder et al. (2018): the squared gradient norm of
  D at real images, ``gamma/2 * E ||grad_x D(x)||^2``;
- :func:`gradient_penalty` -- Gulrajani et al. (2017, WGAN-GP):
  ``lambda * E (||grad D(x_hat)|| - 1)^2`` at random points between real and
  fake images.

Logits are promoted to float32 before the losses, so they are safe to call
on the outputs of an autocast (bf16/fp16) forward pass.
"""

from __future__ import annotations

import difflib
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from .errors import ConfigError

__all__ = [
    "GANLoss",
    "GAN_LOSSES",
    "gan_loss",
    "bce_d_loss",
    "minimax_g_loss",
    "nonsaturating_g_loss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "hinge_d_loss",
    "hinge_g_loss",
    "r1_penalty",
    "gradient_penalty",
    "REGULARIZERS",
    "REFERENCE_GAN_MODES",
    "reference_gan_loss",
]


# -- the cross-entropy game (minimax and non-saturating) ---------------------
def bce_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-log D(x) - log(1 - D(G(z)))``: the discriminator's side of the original game.

    Binary cross-entropy with real -> 1 and fake -> 0, computed stably from
    logits (``-log sigmoid(l) = softplus(-l)``, ``-log(1 - sigmoid(l)) =
    softplus(l)``). At ``D = 0.5`` everywhere (logits 0) it is ``log 4``, the
    value at the game's equilibrium.
    """
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def minimax_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``log(1 - D(G(z)))``: the generator's side of the original minimax game (saturating).

    Its gradient with respect to the logit is ``-D(G(z))``, which goes to
    zero when the discriminator confidently rejects the fakes (D -> 0) --
    exactly when the generator most needs to learn. Kept for teaching and
    comparison; use :func:`nonsaturating_g_loss` to train.
    """
    return -F.softplus(fake_logits.float()).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-log D(G(z))``: the non-saturating generator loss (genzoo's default).

    Same fixed point as the minimax game, but its gradient with respect to
    the logit is ``-(1 - D(G(z)))``, close to -1 when D rejects the fakes, so
    a poor generator gets a strong signal.
    """
    return F.softplus(-fake_logits.float()).mean()


# -- least squares ------------------------------------------------------------
def lsgan_d_loss(real_outputs: torch.Tensor, fake_outputs: torch.Tensor) -> torch.Tensor:
    """``1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2`` on raw outputs (LSGAN, 0-1-1 coding)."""
    return 0.5 * (real_outputs.float() - 1).pow(2).mean() + 0.5 * fake_outputs.float().pow(2).mean()


def lsgan_g_loss(fake_outputs: torch.Tensor) -> torch.Tensor:
    """``1/2 (D(G(z)) - 1)^2`` on raw outputs: pull fakes towards the value of real images."""
    return 0.5 * (fake_outputs.float() - 1).pow(2).mean()


# -- hinge --------------------------------------------------------------------
def hinge_d_loss(real_outputs: torch.Tensor, fake_outputs: torch.Tensor) -> torch.Tensor:
    """``max(0, 1 - D(x)) + max(0, 1 + D(G(z)))``: only samples inside the margin count."""
    return F.relu(1 - real_outputs.float()).mean() + F.relu(1 + fake_outputs.float()).mean()


def hinge_g_loss(fake_outputs: torch.Tensor) -> torch.Tensor:
    """``-D(G(z))``: raise the discriminator's score of the fakes."""
    return -fake_outputs.float().mean()


# -- selection by name --------------------------------------------------------
class GANLoss(NamedTuple):
    """A discriminator loss ``d(real, fake)`` and a generator loss ``g(fake)``, both on raw D outputs."""

    d: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]


GAN_LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(bce_d_loss, minimax_g_loss),
    "nonsaturating": GANLoss(bce_d_loss, nonsaturating_g_loss),
    "lsgan": GANLoss(lsgan_d_loss, lsgan_g_loss),
    "hinge": GANLoss(hinge_d_loss, hinge_g_loss),
}


def _unknown(kind: str, name: str, valid: list[str]) -> ConfigError:
    near = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return ConfigError(f"unknown {kind} {name!r}{hint}; use one of: {', '.join(valid)}")


def gan_loss(name: str) -> GANLoss:
    """The pair of losses called ``name``: ``minimax``, ``nonsaturating``, ``lsgan`` or ``hinge``."""
    try:
        return GAN_LOSSES[name]
    except (KeyError, TypeError):
        raise _unknown("GAN loss", name, list(GAN_LOSSES)) from None



# -- the weighting of the reference image-to-image code (Pix2Pix, CycleGAN) ----------
#: The ``gan_mode`` values of the reference Pix2Pix/CycleGAN code.
REFERENCE_GAN_MODES = ("vanilla", "lsgan")


def reference_gan_loss(mode: str) -> GANLoss:
    """The losses above weighted as the reference Pix2Pix/CycleGAN code weights its ``gan_mode``.

    The reference (``GANLoss`` in junyanz/pytorch-CycleGAN-and-pix2pix's
    ``models/networks.py`` and the models' ``backward_D``) takes the mean of
    the discriminator's real and fake terms, and scores the generator with
    the criterion against the "real" label. For ``vanilla`` (BCE with
    logits): D = ``0.5 * bce_d_loss``, G = ``nonsaturating_g_loss``. For
    ``lsgan`` (``MSELoss`` against 1 and 0): D = ``lsgan_d_loss`` (which
    already halves each term), G = ``mean((D(G(x)) - 1)^2)`` = ``2 * lsgan_g_loss``.
    """
    if mode == "vanilla":
        return GANLoss(lambda real, fake: 0.5 * bce_d_loss(real, fake), nonsaturating_g_loss)
    if mode == "lsgan":
        return GANLoss(lsgan_d_loss, lambda fake: 2.0 * lsgan_g_loss(fake))
    raise ConfigError(f"unknown gan_mode {mode!r}; the reference models use one of: {', '.join(REFERENCE_GAN_MODES)}")

# -- regularisers --------------------------------------------------------------
def r1_penalty(real_outputs: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """``E ||grad_x D(x)||^2`` at real images (R1; multiply by ``gamma / 2``).

    ``real_images`` must have ``requires_grad=True`` *before* the
    discriminator's forward pass that produced ``real_outputs``. The graph is
    kept (``create_graph=True``) so the penalty can be backpropagated into
    the discriminator's weights. It pushes D to be flat around the data, so
    it cannot keep sharpening its verdict on real images -- what lets a
    generator chase a few images that D currently likes.
    """
    if not real_images.requires_grad:
        raise ValueError("r1_penalty needs real_images.requires_grad_(True) before the discriminator's forward pass")
    (grad,) = torch.autograd.grad(real_outputs.float().sum(), real_images, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def gradient_penalty(
    discriminator: Callable[..., torch.Tensor],
    real_images: torch.Tensor,
    fake_images: torch.Tensor,
    cond: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``E (||grad D(x_hat)|| - 1)^2`` at ``x_hat`` uniformly between real and fake images (WGAN-GP).

    Multiply by ``lambda`` (10 in the paper). ``cond`` is passed to a
    conditional discriminator; ``generator`` draws the mixing weights (for
    reproducible training).
    """
    real, fake = real_images.detach(), fake_images.detach()
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = discriminator(x_hat) if cond is None else discriminator(x_hat, cond)
    (grad,) = torch.autograd.grad(out.float().sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(dim=1)
    return (norm - 1).pow(2).mean()


#: Names accepted by families for their ``regularizer`` setting.
REGULARIZERS = ("none", "r1", "gp")


def check_regularizer(name: str) -> str:
    if name not in REGULARIZERS:
        raise _unknown("regularizer", name, list(REGULARIZERS))
    return name


# -- contrastive (CLIP) ---------------------------------------------------------
# CLIP's symmetric contrastive loss, and gathering features across processes for it.
#
# For a batch of N matched pairs with L2-normalised image features ``I`` and
# text features ``T`` (row i of each belongs to pair i), the logits are the
# scaled cosine similarities ``s * I @ T.T``: row i scores image i against every
# text, column j scores text j against every image. The loss (InfoNCE, as in
# Radford et al., 2021) is the mean of two cross-entropies with the diagonal as
# the targets -- each image must pick its own caption among the N, and each
# caption its own image:
#
#     L = ( CE(s I T^T, diag) + CE(s T I^T, diag) ) / 2
#
# It is symmetric (swapping the roles of images and texts leaves it unchanged)
# and smallest when matched pairs are more similar than every mismatched pair.


def clip_contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, scale: torch.Tensor | float
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matched (image, text) pairs.

    ``image_features`` and ``text_features`` are ``(N, D)`` and L2-normalised
    (row i of each is pair i); ``scale`` is the logit multiplier -- CLIP's
    ``logit_scale.exp()``, about 1/0.07 at the start of training. Computed in
    float32. Returns a scalar.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(
            f"image and text features must both be (N, D) with matching rows, got "
            f"{tuple(image_features.shape)} and {tuple(text_features.shape)}"
        )
    img, txt = image_features.float(), text_features.float()
    logits = scale * img @ txt.t()
    targets = torch.arange(len(img), device=img.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """All ranks' rows, concatenated in rank order, with gradients flowing back to each rank's own rows.

    Under ``torch.distributed`` (gloo or NCCL), every rank then computes the
    loss over the global batch; its gradient for its own rows sums the
    contributions of every rank's loss, and DistributedDataParallel's
    averaging turns that into exactly the gradient of the global-batch loss.
    Single process: returned unchanged.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features.contiguous()), dim=0)
