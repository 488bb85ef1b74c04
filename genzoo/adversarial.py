"""What the GAN families share: the adversarial model base and its config.

:class:`AdversarialModel` holds everything of a GAN that does not depend on
what the networks look like -- the alternating discriminator/generator step
with the losses and regularisers of :mod:`genzoo.losses`, the generator EMA
(``generator_ema``), sampling helpers and digit-FD evaluation.
:class:`GANConfig` holds the settings those need (sizes, widths, losses,
regulariser, EMA, optimiser). The ``gan`` family builds unconditional DCGAN
networks on them; the ``cgan`` family subclasses both and adds a condition.
They live in the core so that each family installs on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from genzoo import losses
from genzoo.errors import ConfigError
from genzoo.model import GenzooModel, InputSpec
from genzoo.nets import bottom_size


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
    def input_spec(self) -> InputSpec:
        """The images the discriminator scores (and the generator makes)."""
        return InputSpec(self.config.channels, (self.config.image_size, self.config.image_size))

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        return "sample", {"n": batch_size, "seed": 0}

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
