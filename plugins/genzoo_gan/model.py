"""DCGAN (Radford et al., 2016): a noise-to-image generator and a convolutional discriminator.

Generator: noise z -> a transposed conv to a ``s x s`` map (``s`` = image
size / 2**len(g_widths)) -> stride-2 transposed convs with batch norm and
ReLU, each doubling the resolution -> tanh. Discriminator: stride-2 convs with
LeakyReLU(0.2) (batch norm from the second layer on), each halving the
resolution -> one ``s x s`` conv to a single logit per image. Weights start
from DCGAN's initialisation: conv weights ~ N(0, 0.02), batch-norm scales ~
N(1, 0.02), biases 0.

Training alternates one discriminator step and one generator step, each with
its own Adam optimiser; the losses (minimax, non-saturating, LSGAN, hinge)
and the R1 / gradient-penalty regularisers are the shared ones in
:mod:`genzoo.losses`. With ``ema=True`` an exponential moving average of the
generator's weights is kept as a third component, ``generator_ema``, which
is what sampling and ``components="inference"`` use.

The training step, EMA, sampling helpers, evaluation and the config are
shared with the ``cgan`` family and live in the core
(:class:`genzoo.adversarial.AdversarialModel`, :class:`genzoo.adversarial.GANConfig`);
the DCGAN body, features and initialisation in :mod:`genzoo.nets.dcgan`.
This module adds the unconditional generator and discriminator and the
``gan`` family's public API.
"""

from __future__ import annotations

import torch
from torch import nn

from genzoo.adversarial import AdversarialModel, GANConfig
from genzoo.interfaces import Discriminator, Generator, expect_images
from genzoo.latent import latent_path
from genzoo.model import task
from genzoo.nets import bottom_size
from genzoo.nets.dcgan import DCGANBody, DCGANFeatures, dcgan_init_


class DCGANGenerator(Generator):
    """Noise ``(N, noise_dim)`` -> images ``(N, C, H, W)`` in [-1, 1]."""

    def __init__(self, c: GANConfig):
        super().__init__()
        self.noise_shape = (c.noise_dim,)
        self.output_shape = (c.channels, c.image_size, c.image_size)
        self.body = DCGANBody(c.noise_dim, c.image_size, c.channels, c.g_widths)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            raise TypeError("this DCGAN generator is unconditional; use the cgan family for class labels")
        return self.body(x.flatten(1))


class DCGANDiscriminator(Discriminator):
    """Images ``(N, C, H, W)`` -> one logit per image ``(N,)``."""

    def __init__(self, c: GANConfig):
        super().__init__()
        s = bottom_size(c.image_size, c.d_widths)
        self.input_shape = (c.channels, c.image_size, c.image_size)
        self.features = DCGANFeatures(c.channels, c.d_widths, c.d_batchnorm)
        self.head = nn.Conv2d(c.d_widths[-1], 1, s, 1, 0)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            raise TypeError("this DCGAN discriminator is unconditional; use the cgan family for class labels")
        return self.head(self.features(images)).flatten()


class GANModel(AdversarialModel):
    family = "gan"
    config_class = GANConfig
    inference_components = ("generator_ema",)
    tiny_config = {"noise_dim": 16, "g_widths": [32, 16], "d_widths": [16, 32]}
    pipeline_tag = "unconditional-image-generation"

    def describe(self) -> str:
        c = self.config
        return f"DCGAN ({c.image_size}x{c.image_size}, {c.noise_dim}-d noise, {c.loss.replace('nonsaturating', 'non-saturating')} loss)"

    def __init__(self, config: GANConfig):
        super().__init__(config)
        self.generator = DCGANGenerator(config)
        self.discriminator = DCGANDiscriminator(config)
        if config.dcgan_init:
            dcgan_init_(self.generator)
            dcgan_init_(self.discriminator)
        self._init_ema()

    # -- public ----------------------------------------------------------
    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images for the noise vectors ``z`` ``(N, noise_dim)``."""
        return self._generate(z.reshape(-1, self.config.noise_dim).to(self.device, self.dtype))

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, truncation: float | None = None) -> torch.Tensor:
        """``n`` images in [-1, 1]; a seed makes them repeatable.

        ``truncation`` redraws noise values outside [-t, t]: smaller t trades
        variety for cleaner, more typical images.
        """
        return self.generate(self.noise(n, seed, truncation))

    @torch.no_grad()
    def interpolate(self, z_a: torch.Tensor, z_b: torch.Tensor, steps: int = 8, path: str = "spherical") -> torch.Tensor:
        """``steps`` images along a path from noise ``z_a`` to noise ``z_b`` (both ends included).

        ``"spherical"`` (slerp, the default) keeps the norm typical of Gaussian
        noise; ``"linear"`` passes through shorter, atypical vectors midway.
        """
        za, zb = (v.to(self.device, self.dtype) for v in (z_a, z_b))
        return self.generate(latent_path(za, zb, steps, path))

    def discriminate(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit per image (higher: more real)."""
        return self.discriminator(expect_images(images, self.image_shape).to(self.device, self.dtype))

    # -- genzoo run ------------------------------------------------------
    @task("sample", default=True)
    def run_sample(self, n: int = 64, seed: int = 0, nrow: int = 8):
        """A grid of ``n`` samples."""
        return self.sample(n, seed=seed), nrow

    @task("interpolate")
    def run_interpolate(self, n: int = 4, seed: int = 0, steps: int = 10, path: str = "spherical"):
        """``n`` rows, each a path between two random noise vectors."""
        z = self.noise(2 * n, seed)
        rows = [self.interpolate(z[2 * i], z[2 * i + 1], steps, path) for i in range(n)]
        return torch.cat(rows), steps
