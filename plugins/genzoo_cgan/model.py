"""Conditional GAN (Mirza & Osindero, 2014) on DCGAN networks: both players see the class label.

Generator: the label goes through a *condition encoder* (a learned embedding
for class ids) and its vector is concatenated to the noise; the rest is the
DCGAN generator of the ``gan`` family. Discriminator, two options
(``d_conditioning``):

- ``"concat"``: the label's embedding, broadcast over the image, is stacked
  onto the image as extra input channels, so every conv layer can use it;
- ``"projection"`` (Miyato & Koyama, 2018): the unconditional DCGAN logit
  plus the inner product of the label's embedding with the discriminator's
  final features, ``psi(phi(x)) + <embed(y), phi(x)>``.

The condition is part of the component contract, ``forward(x, cond)``: the
generator only needs ``condition_encoder(cond)`` to return
``(N, embed_dim)`` vectors, so another encoder (a text encoder, say) can
replace the label embedding without touching the rest.

Training, EMA, the losses and the regularisers are those of the ``gan``
family, shared through the core (:class:`genzoo.adversarial.AdversarialModel`);
the fakes of each step are drawn for the labels of the real batch, so real
and fake images have the same class mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from genzoo.adversarial import AdversarialModel, GANConfig
from genzoo.errors import ConfigError, ShapeError
from genzoo.interfaces import Discriminator, Generator, expect_images
from genzoo.nets import bottom_size
from genzoo.latent import latent_path
from genzoo.model import task
from genzoo.nets.dcgan import DCGANBody, DCGANFeatures, dcgan_init_

D_CONDITIONING = ("concat", "projection")


@dataclass
class CGANConfig(GANConfig):
    """The GAN family's settings (losses, regulariser, EMA, optimiser, widths) plus the condition."""

    num_classes: int = 10
    #: Size of the generator's label embedding (concatenated to the noise).
    embed_dim: int = 8
    #: How the discriminator sees the label: ``concat`` (extra input channels) or ``projection``.
    d_conditioning: str = "projection"
    #: Extra input channels the label becomes with ``d_conditioning="concat"``.
    d_embed_channels: int = 10

    def __post_init__(self):
        super().__post_init__()
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.d_conditioning not in D_CONDITIONING:
            raise ConfigError(f"d_conditioning must be one of {', '.join(D_CONDITIONING)}, got {self.d_conditioning!r}")


class LabelEmbedding(nn.Module):
    """Class ids ``(N,)`` -> ``(N, dim)`` learned vectors: the default condition encoder."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, dim)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise ShapeError(f"class labels must be an integer tensor (N,), got dtype {labels.dtype}")
        if labels.numel() and not torch.compiler.is_exporting() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ShapeError(f"class labels must be in 0..{self.num_classes - 1}, got {labels.tolist()[:10]}")
        return self.embed(labels.reshape(-1).long())


class ConditionalGenerator(Generator):
    """(noise ``(N, noise_dim)``, condition) -> images; the condition is encoded and concatenated to the noise."""

    def __init__(self, c: CGANConfig, condition_encoder: nn.Module | None = None):
        super().__init__()
        self.noise_shape = (c.noise_dim,)
        self.output_shape = (c.channels, c.image_size, c.image_size)
        self.condition_shape = ()  # class ids; set it to what a replacement encoder takes
        self.condition_encoder = condition_encoder or LabelEmbedding(c.num_classes, c.embed_dim)
        self.body = DCGANBody(c.noise_dim + c.embed_dim, c.image_size, c.channels, c.g_widths)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            raise TypeError("a conditional generator needs a condition: forward(noise, labels)")
        e = self.condition_encoder(cond)
        if e.shape[0] != x.shape[0]:
            raise ShapeError(f"{x.shape[0]} noise vectors but {e.shape[0]} conditions")
        return self.body(torch.cat([x.flatten(1), e.to(x.dtype)], dim=1))


class ConditionalDiscriminator(Discriminator):
    """(images, class ids) -> one logit per image; label as input channels or by projection."""

    def __init__(self, c: CGANConfig):
        super().__init__()
        s = bottom_size(c.image_size, c.d_widths)
        self.mode = c.d_conditioning
        self.input_shape = (c.channels, c.image_size, c.image_size)
        self.condition_shape = ()
        if self.mode == "concat":
            self.label_channels = LabelEmbedding(c.num_classes, c.d_embed_channels)
            self.features = DCGANFeatures(c.channels + c.d_embed_channels, c.d_widths, c.d_batchnorm)
        else:
            self.features = DCGANFeatures(c.channels, c.d_widths, c.d_batchnorm)
            self.projection = LabelEmbedding(c.num_classes, c.d_widths[-1] * s * s)
        self.head = nn.Conv2d(c.d_widths[-1], 1, s, 1, 0)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            raise TypeError("a conditional discriminator needs a condition: forward(images, labels)")
        if self.mode == "concat":
            e = self.label_channels(cond).to(images.dtype)
            maps = e[:, :, None, None].expand(-1, -1, *images.shape[-2:])
            return self.head(self.features(torch.cat([images, maps], dim=1))).flatten()
        h = self.features(images)
        return self.head(h).flatten() + (self.projection(cond).to(h.dtype) * h.flatten(1)).sum(1)


class CGANModel(AdversarialModel):
    family = "cgan"
    config_class = CGANConfig
    inference_components = ("generator_ema",)
    tiny_config = {"noise_dim": 16, "embed_dim": 8, "g_widths": [32, 16], "d_widths": [16, 32]}
    # The Hub has no class-conditional pipeline tag; none is claimed.
    pipeline_tag = None

    def describe(self) -> str:
        c = self.config
        return f"Class-conditional DCGAN ({c.num_classes} classes, {c.image_size}x{c.image_size}, {c.d_conditioning} discriminator)"

    def __init__(self, config: CGANConfig):
        super().__init__(config)
        self.generator = ConditionalGenerator(config)
        self.discriminator = ConditionalDiscriminator(config)
        if config.dcgan_init:
            dcgan_init_(self.generator)
            dcgan_init_(self.discriminator)
        self._init_ema()

    def _conditions(self, batch, ctx):
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise ConfigError("the cgan family trains on (image, label) pairs; the data set gave images only")
        x, y = batch[0], batch[1].to(ctx.device).long()
        return x, y, y

    # -- public ----------------------------------------------------------
    def labels_for(self, n: int | None, labels: Any) -> torch.Tensor:
        """Class ids as a LongTensor: ``labels`` (an int, a list or a tensor), repeated to ``n``;
        ``None`` cycles through all classes."""
        k = self.config.num_classes
        if labels is None:
            if n is None:
                raise ConfigError("give n, labels, or both")
            y = torch.arange(n) % k
        else:
            y = torch.as_tensor(labels).reshape(-1).long()
            if y.numel() == 0:
                raise ConfigError("labels is empty")
            if n is not None and n != y.numel():
                if n % y.numel():
                    raise ConfigError(f"n={n} is not a multiple of the {y.numel()} labels given")
                y = y.repeat_interleave(n // y.numel())
        if int(y.min()) < 0 or int(y.max()) >= k:
            raise ConfigError(f"labels must be class ids in 0..{k - 1}, got {sorted(set(y.tolist()))}")
        return y.to(self.device)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images for noise ``z`` ``(N, noise_dim)`` and class ids ``labels`` ``(N,)``."""
        return self._generate(z.reshape(-1, self.config.noise_dim).to(self.device, self.dtype), labels.to(self.device))

    @torch.no_grad()
    def sample(
        self, n: int | None = None, labels: int | Sequence[int] | torch.Tensor | None = None,
        seed: int | None = None, truncation: float | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Images of the given classes, in [-1, 1].

        ``labels`` is one class id (``n`` images of it), a list/tensor of ids
        (one image each; with ``n`` a multiple of its length, each repeated in
        turn), or ``None`` (``n`` images cycling through the classes).
        """
        y = self.labels_for(n, labels)
        return self.generate(self.noise(len(y), seed, truncation), y)

    @torch.no_grad()
    def class_grid(self, n_per_class: int = 10, labels: Sequence[int] | None = None, seed: int | None = 0,
                   truncation: float | None = None) -> tuple[torch.Tensor, int]:  # fmt: skip
        """One row per class (all classes, or ``labels``), ``n_per_class`` images each.

        Column ``j`` uses the same noise in every row, so a column shows one
        "style" drawn as each class. Returns ``(images, nrow)`` for
        :func:`genzoo.images.save_grid`.
        """
        rows = list(range(self.config.num_classes)) if labels is None else list(labels)
        y = self.labels_for(None, rows).repeat_interleave(n_per_class)
        z = self.noise(n_per_class, seed, truncation).repeat(len(rows), 1)
        return self.generate(z, y), n_per_class

    @torch.no_grad()
    def interpolate(self, z_a: torch.Tensor, z_b: torch.Tensor, labels: int | Sequence[int] = 0, steps: int = 8,
                    path: str = "spherical") -> torch.Tensor:  # fmt: skip
        """For each label, ``steps`` images along a path from noise ``z_a`` to ``z_b`` (rows of ``steps``)."""
        z = latent_path(z_a.to(self.device, self.dtype), z_b.to(self.device, self.dtype), steps, path)
        y = self.labels_for(None, [labels] if isinstance(labels, int) else labels)
        return self.generate(z.repeat(len(y), 1), y.repeat_interleave(steps))

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit per (image, label) pair (higher: a more real image of that class)."""
        x = expect_images(images, self.image_shape).to(self.device, self.dtype)
        return self.discriminator(x, self.labels_for(len(x), labels))

    # -- evaluation ------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, dataset, n_samples: int = 1000) -> dict[str, float]:
        """digit-FD and the classifier's accuracy on ``n_samples`` samples, classes in equal numbers."""
        if not self._digits_eval(dataset) or self.config.num_classes != 10:
            return {}
        from genzoo.metrics import digits_accuracy, digits_fd

        y = self.labels_for(n_samples, None)
        x = self.sample(labels=y, seed=0).float()
        out = {"digit_fd": digits_fd(x), "class_accuracy": digits_accuracy(x, y)}
        if self.config.ema and "generator" in self.loaded_components():
            gen = self.generator
            was = gen.training
            gen.eval()
            try:
                xg = gen(self.noise(n_samples, seed=0), y).float()
            finally:
                gen.train(was)
            out["digit_fd_generator"] = digits_fd(xg)
            out["class_accuracy_generator"] = digits_accuracy(xg, y)
        return out

    # -- genzoo run ------------------------------------------------------
    @task("sample", default=True)
    def run_sample(self, n: int = 10, labels: list[int] | None = None, seed: int = 0):
        """A class grid: one row per label (all classes by default), ``n`` samples per row."""
        return self.class_grid(n, labels, seed=seed)

    @task("interpolate")
    def run_interpolate(self, seed: int = 0, steps: int = 10, labels: list[int] | None = None, path: str = "spherical"):
        """One row per label (all classes by default): the same noise path drawn as each class."""
        z = self.noise(2, seed)
        rows = list(range(self.config.num_classes)) if labels is None else labels
        return self.interpolate(z[0], z[1], rows, steps, path), steps
