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

:class:`AdversarialModel` holds everything that does not depend on what the
networks look like (training step, EMA, evaluation, sampling helpers); the
conditional GAN family builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from genzoo import losses
from genzoo.errors import ConfigError
from genzoo.interfaces import Discriminator, Generator, expect_images
from genzoo.latent import latent_path
from genzoo.model import GenzooModel
from genzoo.nets import bottom_size, down_stack, up_stack


@dataclass
class GANConfig:
    #: Ranges the types cannot say (genzoo.config); positive int defaults stay >= 1.
    limits: ClassVar[dict[str, str]] = {
        "reg_weight": "[0, inf)", "lr_g": "(0, inf)", "lr_d": "(0, inf)", "betas": "[0, 1)", "ema_decay": "[0, 1)",
    }  # fmt: skip

    image_size: int = 16
    channels: int = 1
    noise_dim: int = 32
    #: Generator channels from the smallest map up (each further width doubles the size).
    g_widths: list[int] = field(default_factory=lambda: [64, 32])
    #: Discriminator channels from the image down (each width halves the size).
    d_widths: list[int] = field(default_factory=lambda: [32, 64])
    #: Batch norm in the discriminator (DCGAN). Turn off for ``regularizer="gp"``,
    #: whose per-image gradient norms batch statistics would mix.
    d_batchnorm: bool = True
    #: ``nonsaturating`` (default), ``minimax`` (the saturating original), ``lsgan`` or ``hinge``.
    loss: str = "nonsaturating"
    #: ``none``, ``r1`` (gradient penalty at real images) or ``gp`` (WGAN-GP).
    regularizer: str = "none"
    #: gamma of R1 (the penalty added is gamma/2 * E||grad D(x)||^2) or lambda of GP.
    reg_weight: float = 1.0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    #: Keep an exponential moving average of the generator as ``generator_ema``.
    ema: bool = True
    ema_decay: float = 0.999
    #: DCGAN's N(0, 0.02) initialisation (``False``: PyTorch's defaults).
    dcgan_init: bool = True

    def __post_init__(self):
        losses.gan_loss(self.loss)
        losses.check_regularizer(self.regularizer)
        _check_common(self)


def _check_common(c) -> None:
    if c.channels < 1 or c.noise_dim < 1:
        raise ConfigError(f"channels and noise_dim must be positive, got {c.channels} and {c.noise_dim}")
    if not c.g_widths or not c.d_widths:
        raise ConfigError("g_widths and d_widths need at least one width each")
    for name in ("g_widths", "d_widths"):
        try:
            bottom_size(c.image_size, getattr(c, name))
        except ValueError as exc:
            raise ConfigError(f"{name}={getattr(c, name)}: {exc}") from None
    if not 0.0 <= c.ema_decay < 1.0:
        raise ConfigError(f"ema_decay must be in [0, 1), got {c.ema_decay}")
    if len(c.betas) != 2:
        raise ConfigError(f"betas must be two numbers (beta1, beta2), got {c.betas}")


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0.

    Embeddings keep PyTorch's N(0, 1): a label embedding then enters the
    generator at the same scale as the noise it is concatenated to.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANBody(nn.Module):
    """A ``(N, in_dim)`` vector -> image: project to ``s x s``, then up-sample to the full size (tanh)."""

    def __init__(self, in_dim: int, image_size: int, channels: int, widths: list[int]):
        super().__init__()
        s = bottom_size(image_size, widths)
        self.project = nn.Sequential(
            nn.ConvTranspose2d(in_dim, widths[0], s, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        self.up = up_stack(widths, channels, norm=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.up(self.project(h[:, :, None, None])))


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


class DCGANFeatures(nn.Module):
    """Images -> ``(N, d_widths[-1], s, s)`` features (stride-2 convs, LeakyReLU 0.2)."""

    def __init__(self, in_channels: int, widths: list[int], batchnorm: bool):
        super().__init__()
        self.down = down_stack(in_channels, widths, norm=batchnorm, slope=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x)


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


def truncated_noise(
    shape: tuple[int, ...], truncation: float | None, generator: torch.Generator | None, device, dtype
) -> torch.Tensor:
    """Standard normal noise; with ``truncation`` every value outside [-t, t] is redrawn (BigGAN's trick)."""
    z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if truncation is None:
        return z
    if truncation <= 0:
        raise ValueError(f"truncation must be positive (smaller: less variety, cleaner images), got {truncation}")
    for _ in range(1000):
        bad = z.abs() > truncation
        if not bad.any():
            return z
        z = torch.where(bad, torch.randn(shape, generator=generator, device=device, dtype=dtype), z)
    return z.clamp(-truncation, truncation)  # pragma: no cover - only for absurdly small truncations


class AdversarialModel(GenzooModel):
    """What the GAN families share: the alternating D/G step, EMA, sampling and evaluation.

    Subclasses build ``generator``, ``discriminator`` and (via
    :meth:`_init_ema`) ``generator_ema``, and override :meth:`_conditions`
    when their components take a condition.
    """

    train_defaults = {"steps": 3000, "batch_size": 64}

    # -- components ------------------------------------------------------
    def _init_ema(self) -> None:
        """Add ``generator_ema``: a frozen copy of the generator (its own component group)."""
        if not self.config.ema:
            return
        self.generator_ema = type(self.generator)(self.config)
        self.generator_ema.requires_grad_(False)
        with torch.no_grad():
            for e, g in zip(self.generator_ema.state_dict().values(), self.generator.state_dict().values()):
                e.copy_(g)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.channels, c.image_size, c.image_size)

    def sampling_generator(self) -> nn.Module:
        """The generator sampling uses: the EMA one when it is loaded, else the trained one."""
        loaded = self.loaded_components()
        if "generator_ema" in loaded:
            return self.generator_ema
        if "generator" in loaded:
            return self.generator
        self.require("generator")  # raises, saying how to load it
        raise AssertionError  # pragma: no cover

    def noise(self, n: int, seed: int | None = None, truncation: float | None = None) -> torch.Tensor:
        """``n`` noise vectors (optionally truncated); a seed makes them repeatable."""
        g = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        return truncated_noise((n, self.config.noise_dim), truncation, g, self.device, self.dtype)

    def _generate(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        gen = self.sampling_generator()
        was = gen.training
        gen.eval()  # batch norm with its running statistics: an image does not depend on its batch
        try:
            return gen(z) if cond is None else gen(z, cond)
        finally:
            gen.train(was)

    # -- training (the contract of genzoo.training) ----------------------
    def configure_optimizers(self, cfg=None) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        betas = tuple(c.betas)
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=c.lr_g, betas=betas),
        }

    def _conditions(self, batch, ctx) -> tuple[torch.Tensor, Any, Any]:
        """(real images, condition of the real images, condition for the fakes); ``None`` if unconditional."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return x, None, None

    @staticmethod
    def _call(module: nn.Module, x: torch.Tensor, cond: Any) -> torch.Tensor:
        return module(x) if cond is None else module(x, cond)

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        c = self.config
        game = losses.gan_loss(c.loss)
        real, cond_real, cond_fake = self._conditions(batch, ctx)
        n = real.shape[0]
        z = torch.randn((n, c.noise_dim), generator=ctx.generator, device=ctx.device, dtype=real.dtype)

        # discriminator step: real -> "real", G(z) -> "fake"; the fakes need no graph
        with torch.no_grad(), ctx.autocast():
            fake = self._call(self.generator, z, cond_fake)
        if c.regularizer == "r1":
            real = real.detach().requires_grad_(True)
        with ctx.autocast():
            real_out = self._call(self.discriminator, real, cond_real)
            fake_out = self._call(self.discriminator, fake.detach(), cond_fake)
        d_loss = game.d(real_out, fake_out)
        out: dict[str, torch.Tensor] = {
            "d": d_loss.detach(),
            "d_real": real_out.detach().float().mean(),
            "d_fake": fake_out.detach().float().mean(),
        }
        if c.regularizer != "none":
            with ctx.autocast():
                if c.regularizer == "r1":
                    reg = 0.5 * c.reg_weight * losses.r1_penalty(real_out, real)
                else:
                    reg = c.reg_weight * losses.gradient_penalty(
                        self.discriminator, real, fake, cond_real, generator=ctx.generator
                    )
            d_loss = d_loss + reg
            out[c.regularizer] = reg.detach()
        ctx.backward(d_loss)
        ctx.step("d")

        # generator step: make D call G(z) real
        with ctx.autocast():
            g_loss = game.g(self._call(self.discriminator, self._call(self.generator, z, cond_fake), cond_fake))
        ctx.backward(g_loss)
        ctx.step("g")  # D's gradients from this loss are zeroed before the next step
        out["g"] = g_loss.detach()
        if c.ema:
            self.update_ema(ctx.unwrap(self.generator), ctx.step_index)
        return out

    @torch.no_grad()
    def update_ema(self, generator: nn.Module, step: int | None = None) -> None:
        """``ema <- d * ema + (1 - d) * generator`` for the weights; batch-norm statistics are copied.

        ``d`` is ``ema_decay``, warmed up as ``min(ema_decay, (1 + step) / (10 + step))`` so the
        average does not drag the random initialisation along for thousands of steps.
        """
        d = self.config.ema_decay
        if step is not None:
            d = min(d, (1 + step) / (10 + step))
        ema_params = dict(self.generator_ema.named_parameters())
        for name, p in generator.named_parameters():
            ema_params[name].lerp_(p.detach().to(ema_params[name].dtype), 1.0 - d)
        ema_buffers = dict(self.generator_ema.named_buffers())
        for name, b in generator.named_buffers():
            ema_buffers[name].copy_(b)

    # -- evaluation ------------------------------------------------------
    def _digits_eval(self, dataset) -> bool:
        from genzoo.data import DigitsDataset

        return isinstance(dataset, DigitsDataset) and self.config.channels == 1

    @torch.no_grad()
    def evaluate(self, dataset, n_samples: int = 1000) -> dict[str, float]:
        """digit-FD of ``n_samples`` samples (EMA generator when present), and of the raw generator."""
        if not self._digits_eval(dataset):
            return {}
        from genzoo.metrics import digits_fd

        out = {"digit_fd": digits_fd(self.sample(n_samples, seed=0).float())}
        if getattr(self.config, "ema", False) and "generator" in self.loaded_components():
            out["digit_fd_generator"] = digits_fd(self._sample_with(self.generator, n_samples).float())
        return out

    def _sample_with(self, gen: nn.Module, n: int) -> torch.Tensor:
        was = gen.training
        gen.eval()
        try:
            return gen(self.noise(n, seed=0))
        finally:
            gen.train(was)


class GANModel(AdversarialModel):
    family = "gan"
    config_class = GANConfig
    inference_components = ("generator_ema",)
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
    def run_sample(self, n: int = 64, seed: int = 0, nrow: int = 8):
        """A grid of ``n`` samples."""
        return self.sample(n, seed=seed), nrow

    def run_interpolate(self, n: int = 4, seed: int = 0, steps: int = 10, path: str = "spherical"):
        """``n`` rows, each a path between two random noise vectors."""
        z = self.noise(2 * n, seed)
        rows = [self.interpolate(z[2 * i], z[2 * i + 1], steps, path) for i in range(n)]
        return torch.cat(rows), steps

    tasks = {"sample": "run_sample", "interpolate": "run_interpolate"}
    default_task = "sample"
