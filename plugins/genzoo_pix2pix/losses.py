"""The reference's objectives for Pix2Pix and CycleGAN, on top of :mod:`genzoo.losses`.

The adversarial losses are genzoo's (one implementation for every GAN
family); this module only applies the reference's weighting of them
(``GANLoss`` in the authors' ``models/networks.py`` and the models' ``backward_D``):

- the discriminator's loss is the mean of its real and fake terms
  (``(loss_real + loss_fake) * 0.5``);
- the generator's term is the criterion against the "real" label.

For ``vanilla`` (BCE with logits): D = ``0.5 * bce_d_loss``, G =
``nonsaturating_g_loss`` = ``-log sigmoid(D(G(x)))``. For ``lsgan``
(``MSELoss`` against 1 and 0): D = ``lsgan_d_loss`` (which already halves
each term) and G = ``mean((D(G(x)) - 1)^2)`` = ``2 * lsgan_g_loss``.

The linear learning-rate schedule is the reference's ``linear`` policy over
training steps instead of epochs: constant for the first ``decay_start``
fraction of the steps, then falling linearly towards zero.
"""

from __future__ import annotations

from typing import Callable

import torch

from genzoo import losses as gl
from genzoo.errors import ConfigError

GAN_MODES = ("vanilla", "lsgan")


def reference_gan_loss(mode: str) -> gl.GANLoss:
    """``GANLoss(d, g)`` weighted as the reference weights ``gan_mode`` (see the module doc)."""
    if mode == "vanilla":
        return gl.GANLoss(lambda real, fake: 0.5 * gl.bce_d_loss(real, fake), gl.nonsaturating_g_loss)
    if mode == "lsgan":
        return gl.GANLoss(gl.lsgan_d_loss, lambda fake: 2.0 * gl.lsgan_g_loss(fake))
    raise ConfigError(f"unknown gan_mode {mode!r}; the reference models use one of: {', '.join(GAN_MODES)}")


def linear_decay(total_steps: int, decay_start: float) -> Callable[[int], float]:
    """LR factor per step: 1 for ``decay_start * total_steps`` steps, then linearly down to ``1 / (n_decay + 1)``.

    The reference's rule ``1 - max(0, epoch - n_epochs) / (n_epochs_decay + 1)``, counted in steps.
    """
    if not 0.0 <= decay_start <= 1.0:
        raise ConfigError(f"decay_start must be a fraction in [0, 1], got {decay_start}")
    n_const = int(round(total_steps * decay_start))
    n_decay = max(total_steps - n_const, 0)

    def factor(step: int) -> float:
        return 1.0 - max(0, step - n_const) / float(n_decay + 1)

    return factor


def linear_decay_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, decay_start: float):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, linear_decay(total_steps, decay_start))
