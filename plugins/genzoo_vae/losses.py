"""The VAE's objective: the Gaussian KL terms and the ELBO.

With an encoder q(z|x) = N(mu, diag(sigma^2)) and prior p(z) = N(0, I), the
KL divergence has the closed form

    KL(q || p) = 1/2 * sum_i (sigma_i^2 + mu_i^2 - 1 - log sigma_i^2)

and the loss minimised is the negative ELBO,

    loss = E_q[-log p(x|z)] + beta * KL(q || p),

with beta = 1 the true ELBO and beta > 1 the beta-VAE of Higgins et al.
(2017). Everything is summed over dimensions and averaged over the batch,
so values are in nats per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per sample: 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2)."""
    return 0.5 * (logvar.exp() + mean.pow(2) - 1.0 - logvar).flatten(1).sum(1)


def kl_gaussians(q_mean: torch.Tensor, q_logvar: torch.Tensor, p_mean: torch.Tensor, p_logvar: torch.Tensor) -> torch.Tensor:
    """KL(q || p) per sample for two diagonal Gaussians (used by the hierarchical VAE's lower level)."""
    return 0.5 * (
        p_logvar - q_logvar + (q_logvar.exp() + (q_mean - p_mean).pow(2)) / p_logvar.exp() - 1.0
    ).flatten(1).sum(1)


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, likelihood: str, sigma: float) -> torch.Tensor:
    """-log p(x|z) per sample, for images x in [-1, 1].

    ``bernoulli``: pixels rescaled to [0, 1] and scored with binary cross-entropy
    against the decoder's logits (Kingma & Welling's choice for digits).
    ``gaussian``: N(x; tanh(logits), sigma^2) with a fixed sigma.
    """
    if likelihood == "bernoulli":
        target = (x + 1) / 2
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    if likelihood == "gaussian":
        mean = torch.tanh(logits)
        d = x[0].numel()
        return 0.5 * ((x - mean) / sigma).pow(2).flatten(1).sum(1) + d * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    raise ValueError(f"unknown likelihood {likelihood!r}; use 'bernoulli' or 'gaussian'")


def elbo_loss(rec_nll: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Negative ELBO (beta-weighted), averaged over the batch."""
    return (rec_nll + beta * kl).mean()
