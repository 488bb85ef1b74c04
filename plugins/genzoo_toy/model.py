"""The toy family's model: a generator and a discriminator, each a few layers.

Everything the core calls on a family is a method or attribute of
:class:`genzoo.GenzooModel`; this model fills in the parts a complete family
has: components, tasks (``@task``), its input spec, training (a plain GAN
step with the non-saturating loss of Goodfellow et al. 2014) and evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genzoo import losses
from genzoo.interfaces import Discriminator, Generator, expect_images
from genzoo.model import GenzooModel, InputSpec, task


@dataclass
class ToyConfig:
    image_size: int = 8  # must be divisible by 2
    channels: int = 1
    noise_dim: int = 8
    width: int = 16
    lr: float = 1e-3  # Adam, betas (0.5, 0.999); 2e-4 (DCGAN's) learns too slowly at this size


class ToyGenerator(Generator):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        half = cfg.image_size // 2
        self.noise_shape = (cfg.noise_dim,)
        self.output_shape = (cfg.channels, cfg.image_size, cfg.image_size)
        self.fc = nn.Linear(cfg.noise_dim, cfg.width * half * half)
        self.unflatten = nn.Unflatten(1, (cfg.width, half, half))
        self.up = nn.ConvTranspose2d(cfg.width, cfg.channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.up(torch.relu(self.unflatten(self.fc(z)))))


class ToyDiscriminator(Discriminator):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        half = cfg.image_size // 2
        self.input_shape = (cfg.channels, cfg.image_size, cfg.image_size)
        self.conv = nn.Conv2d(cfg.channels, cfg.width, 4, 2, 1)
        self.norm = nn.BatchNorm2d(cfg.width)  # has an integer buffer, which dtype casts must skip
        self.head = nn.Linear(cfg.width * half * half, 1)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = nn.functional.leaky_relu(self.norm(self.conv(images)), 0.2)
        return self.head(h.flatten(1))


class ToyModel(GenzooModel):
    family = "toy"
    config_class = ToyConfig
    inference_components = ("generator",)
    pipeline_tag = "unconditional-image-generation"
    train_defaults = {"steps": 2000, "batch_size": 64}  # what `genzoo train toy` runs without --steps/--batch-size
    tiny_config = {"width": 4}  # what genzoo.testing.check_family("toy") builds

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        if config.image_size % 2:
            raise ValueError(f"image_size must be even, got {config.image_size}")
        self.generator = ToyGenerator(config)
        self.discriminator = ToyDiscriminator(config)

    @torch.inference_mode()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` images in [-1, 1]; the same ``seed`` gives the same images."""
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        return self.generator(self.generator.sample_noise(n, generator=gen))

    @torch.inference_mode()
    def score(self, images: torch.Tensor) -> torch.Tensor:
        """Discriminator logits, one per image."""
        self.require("discriminator")
        return self.discriminator(expect_images(images, self.image_shape)).squeeze(1)

    @property
    def input_spec(self) -> InputSpec:
        """The images the discriminator scores: ``channels`` x ``image_size`` squared, in [-1, 1]."""
        return InputSpec(self.config.channels, (self.config.image_size, self.config.image_size))

    # -- training: the shared loop calls these two ----------------------
    def configure_optimizers(self, cfg) -> dict[str, torch.optim.Optimizer]:
        betas = (0.5, 0.999)
        return {
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas),
            "g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr, betas=betas),
        }

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        """One discriminator step, then one generator step; ``batch`` is ``[images, labels]``."""
        real = batch[0].to(ctx.device)
        z = self.generator.sample_noise(len(real), generator=ctx.generator).to(ctx.device)
        with ctx.autocast():
            fake = self.generator(z)
            d_loss = losses.bce_d_loss(self.discriminator(real), self.discriminator(fake.detach()))
        ctx.backward(d_loss)
        ctx.step("d")
        with ctx.autocast():
            g_loss = losses.nonsaturating_g_loss(self.discriminator(fake))
        ctx.backward(g_loss)
        ctx.step("g")  # the discriminator's gradients from g_loss are zeroed before its next step
        return {"d": d_loss.detach(), "g": g_loss.detach()}

    @torch.no_grad()
    def evaluate(self, dataset) -> dict[str, float]:
        """How often the discriminator tells held-out real images from samples (0.5: it cannot)."""
        real = torch.stack([dataset[i][0] for i in range(min(len(dataset), 256))]).to(self.device, self.dtype)
        fake = self.sample(len(real), seed=0)
        right = (self.discriminator(real) > 0).float().mean() + (self.discriminator(fake) < 0).float().mean()
        return {"d_accuracy": float(right / 2)}

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        """What `genzoo bench` times: sampling a batch."""
        return "sample", {"n": batch_size, "seed": 0}

    # -- genzoo run: one task, the default ---------------------------------
    @task("sample", default=True)
    def run_sample(self, n: int = 16, seed: int = 0, nrow: int = 8):
        """A grid of ``n`` samples."""
        return self.sample(n, seed=seed), nrow
