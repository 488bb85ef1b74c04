"""The toy family's model: a generator and a discriminator, each a few layers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genzoo.interfaces import Discriminator, Generator, expect_images
from genzoo.model import GenzooModel, InputSpec, task


@dataclass
class ToyConfig:
    image_size: int = 8  # must be divisible by 2
    channels: int = 1
    noise_dim: int = 8
    width: int = 8


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

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        """What `genzoo bench` times: sampling a batch."""
        return "sample", {"n": batch_size, "seed": 0}

    # -- genzoo run: one task, the default ---------------------------------
    @task("sample", default=True)
    def run_sample(self, n: int = 16, seed: int = 0, nrow: int = 8):
        """A grid of ``n`` samples."""
        return self.sample(n, seed=seed), nrow
