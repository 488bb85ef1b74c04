"""Variational autoencoder (Kingma & Welling, 2014), beta-VAE, and a two-level ladder VAE.

One level: the encoder outputs q(z|x) = N(mu, diag(sigma^2)) as mean and
log-variance; z = mu + sigma * eps (the reparameterisation trick) keeps the
sample differentiable; the decoder gives p(x|z). The loss is the negative
ELBO, reconstruction + beta * KL (see ``losses.py``).

Two levels (``levels=2``, after the Ladder VAE of Sonderby et al., 2016): a
top latent z2 ~ N(0, I) conditions the lower one through a learned prior
p(z1|z2); the encoder's bottom-up pass gives a likelihood estimate for z1
that is merged with that prior by precision weighting into q(z1|x, z2). The
KL then has a top term (to N(0, I)) and a lower term (between q(z1|x, z2) and
p(z1|z2)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from genzoo.interfaces import Decoder, DiagonalGaussian, Encoder
from genzoo.latent import latent_path
from genzoo.model import GenzooModel, InputSpec, task
from genzoo.nets import ConvDecoder, ConvEncoder
from genzoo.tasks import images_of, inputs_or_digits

from .losses import elbo_loss, kl_gaussians, kl_standard_normal, reconstruction_nll


@dataclass
class VAEConfig:
    #: Ranges the types cannot say (genzoo.config); positive int defaults stay >= 1.
    limits: ClassVar[dict[str, str]] = {"beta": "[0, inf)", "sigma": "(0, inf)", "lr": "(0, inf)"}

    image_size: int = 16
    channels: int = 1
    latent_dim: int = 16
    widths: list[int] = field(default_factory=lambda: [32, 64])
    beta: float = 1.0
    likelihood: str = "bernoulli"  # or "gaussian" (fixed sigma)
    sigma: float = 0.1
    levels: int = 1  # 1: plain VAE; 2: ladder VAE with a top latent
    top_latent_dim: int = 8
    hidden: int = 128
    lr: float = 1e-3

    def __post_init__(self):
        if self.levels not in (1, 2):
            raise ValueError(f"levels must be 1 or 2, got {self.levels}")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {self.likelihood!r}")


def _split(h: torch.Tensor) -> DiagonalGaussian:
    mean, logvar = h.chunk(2, dim=1)
    return DiagonalGaussian(mean, logvar.clamp(-12.0, 8.0))


def _merge(q: DiagonalGaussian, p: DiagonalGaussian) -> DiagonalGaussian:
    """Precision-weighted combination of a bottom-up estimate and a top-down prior (Ladder VAE)."""
    q_prec, p_prec = torch.exp(-q.logvar), torch.exp(-p.logvar)
    var = 1.0 / (q_prec + p_prec)
    mean = (q.mean * q_prec + p.mean * p_prec) * var
    return DiagonalGaussian(mean, torch.log(var))


class GaussianEncoder(Encoder):
    """Images -> q(z|x) as a DiagonalGaussian (one level), or q(z2|x) plus bottom-up features (two levels)."""

    def __init__(self, c: VAEConfig):
        super().__init__()
        self.levels = c.levels
        self.input_shape = (c.channels, c.image_size, c.image_size)
        if c.levels == 1:
            self.latent_shape = (c.latent_dim,)
            self.backbone = ConvEncoder(c.image_size, c.channels, c.widths, c.latent_dim, out_dim=2 * c.latent_dim)
        else:
            self.latent_shape = (c.top_latent_dim,)
            self.backbone = ConvEncoder(c.image_size, c.channels, c.widths, c.hidden, out_dim=c.hidden)
            self.q1 = nn.Linear(c.hidden, 2 * c.latent_dim)  # bottom-up estimate for z1
            self.up = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(c.hidden, c.hidden), nn.LeakyReLU(0.2))
            self.q2 = nn.Linear(c.hidden, 2 * c.top_latent_dim)

    def bottom_up(self, images: torch.Tensor) -> tuple[DiagonalGaussian, DiagonalGaussian | None]:
        """(q of the top latent, bottom-up estimate for z1 or None with one level)."""
        h = self.backbone(images)
        if self.levels == 1:
            return _split(h), None
        return _split(self.q2(self.up(h))), _split(self.q1(nn.functional.leaky_relu(h, 0.2)))

    def forward(self, images: torch.Tensor) -> DiagonalGaussian:
        return self.bottom_up(images)[0]


class LatentDecoder(Decoder):
    """Top latent -> image logits; with two levels, through the learned prior p(z1|z2)."""

    def __init__(self, c: VAEConfig):
        super().__init__()
        self.levels = c.levels
        self.likelihood = c.likelihood
        self.output_shape = (c.channels, c.image_size, c.image_size)
        self.latent_shape = (c.latent_dim if c.levels == 1 else c.top_latent_dim,)
        if c.levels == 2:
            self.prior1 = nn.Sequential(
                nn.Linear(c.top_latent_dim, c.hidden), nn.LeakyReLU(0.2), nn.Linear(c.hidden, 2 * c.latent_dim)
            )
        self.image = ConvDecoder(c.image_size, c.channels, c.widths, c.latent_dim)

    def prior_z1(self, z2: torch.Tensor) -> DiagonalGaussian:
        return _split(self.prior1(z2))

    def render(self, z1: torch.Tensor) -> torch.Tensor:
        """The mean image of p(x|z1) in [-1, 1].

        Bernoulli: sigmoid(logits) rescaled to [-1, 1], which is tanh(logits / 2);
        Gaussian: tanh(logits), the mean the likelihood was scored with.
        """
        logits = self.image.logits(z1)
        return torch.tanh(logits / 2) if self.likelihood == "bernoulli" else torch.tanh(logits)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Deterministic decode: with two levels, z1 is the prior's mean given z2."""
        return self.render(latent if self.levels == 1 else self.prior_z1(latent).mean)


@dataclass
class ELBOTerms:
    loss: torch.Tensor  # beta-weighted negative ELBO, batch mean (what is minimised)
    nelbo: torch.Tensor  # per sample: rec + KL (beta = 1), in nats
    rec: torch.Tensor  # per sample -log p(x|z)
    kl: torch.Tensor  # per sample, all levels
    kl_levels: tuple[torch.Tensor, ...]


class VAEModel(GenzooModel):
    family = "vae"
    config_class = VAEConfig
    inference_components = ("encoder", "decoder")
    pipeline_tag = "unconditional-image-generation"
    train_defaults = {"steps": 4000, "batch_size": 64}
    tiny_config = {"latent_dim": 4, "widths": [4, 8], "hidden": 16, "top_latent_dim": 2}

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        self.encoder = GaussianEncoder(config)
        self.decoder = LatentDecoder(config)

    def compile_targets(self) -> list[nn.Module]:
        """The conv stacks: ``sample`` and ``reconstruct`` reach them through ``render`` and ``bottom_up``, not ``forward``."""
        loaded = self.loaded_components()
        targets = [self.encoder.backbone] if "encoder" in loaded else []
        return targets + ([self.decoder.image.up] if "decoder" in loaded else [])

    def describe(self) -> str:
        c = self.config
        if c.levels == 2:
            return f"Two-level ladder VAE ({c.top_latent_dim}-d top and {c.latent_dim}-d lower latent, {c.likelihood} likelihood)"
        kind = "VAE" if c.beta == 1 else f"beta-VAE (beta={c.beta:g})"
        return f"{kind} with a {c.latent_dim}-d latent and a {c.likelihood} likelihood"

    @property
    def input_spec(self) -> InputSpec:
        """Images of the config's size and channels in [-1, 1] (what reconstruct/encode take)."""
        return InputSpec(self.config.channels, (self.config.image_size, self.config.image_size))

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        return "sample", {"n": batch_size, "seed": 0}

    # -- the objective ---------------------------------------------------
    def elbo(self, images: torch.Tensor, generator: torch.Generator | None = None) -> ELBOTerms:
        """Sample z with the reparameterisation trick and return the ELBO terms."""
        c = self.config
        x = self.as_input(images)
        q_top, q1_hat = self.encoder.bottom_up(x)
        z_top = q_top.rsample(generator)
        kls = [kl_standard_normal(q_top.mean, q_top.logvar)]
        if c.levels == 1:
            z1 = z_top
        else:
            p1 = self.decoder.prior_z1(z_top)
            q1 = _merge(q1_hat, p1)
            z1 = q1.rsample(generator)
            kls.append(kl_gaussians(q1.mean, q1.logvar, p1.mean, p1.logvar))
        rec = reconstruction_nll(self.decoder.image.logits(z1), x, c.likelihood, c.sigma)
        kl = torch.stack(kls).sum(0)
        return ELBOTerms(elbo_loss(rec, kl, c.beta), rec + kl, rec, kl, tuple(kls))

    # -- public ----------------------------------------------------------
    def encode(self, images: Any) -> DiagonalGaussian:
        """q(z|x) (the top latent for two levels)."""
        return self.encoder(self.as_input(images))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    @torch.no_grad()
    def reconstruct(self, images: Any) -> torch.Tensor:
        """Decode the posterior means (through q(z1|x, z2) with two levels)."""
        x = self.as_input(images)
        q_top, q1_hat = self.encoder.bottom_up(x)
        if self.config.levels == 1:
            return self.decoder.render(q_top.mean)
        return self.decoder.render(_merge(q1_hat, self.decoder.prior_z1(q_top.mean)).mean)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``n`` images from the prior (z2, then z1 | z2 with two levels); a seed makes it repeatable."""
        g = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        z = temperature * torch.randn((n, *self.decoder.latent_shape), generator=g, device=self.device, dtype=self.dtype)
        if self.config.levels == 2:
            p1 = self.decoder.prior_z1(z)
            z = p1.mean + temperature * p1.std * torch.randn(p1.mean.shape, generator=g, device=self.device, dtype=self.dtype)
        return self.decoder.render(z)

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8, path: str = "linear") -> torch.Tensor:
        """Decode ``steps`` latents between images (or latents) ``a`` and ``b``.

        ``path="linear"`` mixes the posterior means linearly; ``"spherical"``
        (slerp) keeps the norm typical of Gaussian samples, which linear mixing
        shrinks in the middle.
        """
        return self.decode(latent_path(self._as_latent(a), self._as_latent(b), steps, path))

    def _as_latent(self, v: torch.Tensor) -> torch.Tensor:
        if v.dim() >= 3:  # an image (or a batch of one)
            return self.encode(v if v.dim() == 4 else v.unsqueeze(0)).mean[:1]
        return v.reshape(1, -1).to(self.device, self.dtype)

    # -- training (the contract of genzoo.training) ----------------------
    def configure_optimizers(self, cfg=None) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        x = (batch[0] if isinstance(batch, (list, tuple)) else batch).to(ctx.device)
        with ctx.autocast():
            terms = self.elbo(x, ctx.generator)
        ctx.backward(terms.loss)
        ctx.step("vae")
        return {"loss": terms.loss.detach(), "rec": terms.rec.mean().detach(), "kl": terms.kl.mean().detach()}

    @torch.no_grad()
    def evaluate(self, dataset, n_samples: int = 1000) -> dict[str, float]:
        """Test-split negative ELBO, reconstruction error and KL (nats/image); digit-FD of samples for digits."""
        x = images_of(dataset).to(self.device, self.dtype)
        g = torch.Generator(device=self.device).manual_seed(0)
        terms = self.elbo(x, g)
        out = {
            "test_nelbo": terms.nelbo.mean().item(),
            "test_rec_nll": terms.rec.mean().item(),
            "test_kl": terms.kl.mean().item(),
            "test_mse": (self.reconstruct(x) - x).pow(2).mean().item(),
        }
        from genzoo.data import DigitsDataset

        if isinstance(dataset, DigitsDataset) and self.config.channels == 1:
            from genzoo.metrics import digits_fd

            out["digit_fd"] = digits_fd(self.sample(n_samples, seed=0).float())
        return out

    # -- genzoo run ------------------------------------------------------
    @task("sample", default=True)
    def run_sample(self, n: int = 64, seed: int = 0, nrow: int = 8):
        """A grid of ``n`` samples from the prior."""
        return self.sample(n, seed=seed), nrow

    @task("reconstruct")
    def run_reconstruct(self, n: int = 16, seed: int = 0, inputs=None):
        """Top row inputs (test digits by default), bottom row reconstructions."""
        x = inputs_or_digits(self, inputs, n, seed)
        return torch.cat([x, self.reconstruct(x)]), len(x)

    @task("interpolate")
    def run_interpolate(self, n: int = 4, seed: int = 0, steps: int = 10, inputs=None, path: str = "spherical"):
        """``n`` rows, each a path between two test digits (or the two given images)."""
        x = inputs_or_digits(self, inputs, 2 * n, seed)
        rows = [self.interpolate(x[i], x[i + 1], steps, path) for i in range(0, len(x) - 1, 2)]
        return torch.cat(rows), steps
