"""Pix2Pix (Isola et al., 2017): paired image-to-image translation with a conditional PatchGAN.

The generator (a U-Net by default) maps an A image to a B image; the
discriminator judges (A, B) pairs patch by patch, seeing the input and the
output concatenated. The generator minimises the adversarial loss plus 100
times the L1 distance to the true B (the reference's defaults: ``unet_256``,
batch norm, dropout, ``basic`` PatchGAN, vanilla GAN loss, Adam 2e-4 with
betas (0.5, 0.999), linear decay over the second half of training).

Components: ``generator`` (``generator.safetensors``) and ``discriminator``.
Weights converted from the authors' files hold the generator only; their
config says ``netD="none"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.folders import PairedFolderDataset
from genzoo.losses import reference_gan_loss
from genzoo.nets.reference import build_discriminator, build_generator
from genzoo.translation import ReferenceNetsConfig, RunningL1, TranslationModel, test_batches

PAPER = "https://arxiv.org/abs/1611.07004"


@dataclass
class Pix2PixConfig(ReferenceNetsConfig):
    """The reference's Pix2Pix defaults (``unet_256``, batch norm, dropout, vanilla GAN loss, L1 x 100)."""

    #: Added to ReferenceNetsConfig.limits.
    limits: ClassVar[dict[str, str]] = {"lambda_l1": "[0, inf)"}

    netG: str = "unet_256"
    norm: str = "batch"
    dropout: bool = True
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0


class Pix2PixModel(TranslationModel):
    family = "pix2pix"
    config_class = Pix2PixConfig
    tiny_config = {"input_nc": 3, "output_nc": 3, "image_size": 64, "netG": "unet_64", "ngf": 2, "netD": "n_layers",
                   "n_layers_D": 1, "ndf": 2}  # fmt: skip
    inference_components = ("generator",)
    train_defaults = {"steps": 1500, "batch_size": 16}
    layouts = {"reference": ("latest_net_G.pth|model.pth",)}

    def __init__(self, config: Pix2PixConfig):
        super().__init__(config)
        c = config
        self.generator = build_generator(c.netG, c.input_nc, c.output_nc, c.ngf, c.norm, c.dropout, c.image_size, c.init_gain)
        d = build_discriminator(c.netD, c.output_nc, c.ndf, c.n_layers_D, c.norm, c.image_size, c.input_nc, c.init_gain)
        if d is not None:
            self.discriminator = d

    def describe(self) -> str:
        c = self.config
        d = {"none": "", "pixel": " and a 1x1 PixelGAN"}.get(c.netD, f" and a {3 if c.netD == 'basic' else c.n_layers_D}-layer PatchGAN")
        return f"Pix2Pix with a {c.netG} generator (ngf {c.ngf}, {c.norm} norm){d}"

    def generator_for(self, direction: str = "a2b"):
        if direction != "a2b":
            raise ConfigError(f"a Pix2Pix model translates one way (a2b); got direction={direction!r}")
        return self.generator

    # -- training (the contract of genzoo.training) ------------------------------
    def folder_dataset(self, root, split: str, **options) -> PairedFolderDataset:
        """A paired folder (A|B side by side, or ``A/`` and ``B/``); options: ``direction``, ``load_size``, ``augment``."""
        c = self.config
        return PairedFolderDataset(root, split, c.image_size, input_nc=c.input_nc, output_nc=c.output_nc, **options)

    def example_dataset(self, n: int = 8) -> torch.utils.data.Dataset:
        """``n`` aligned (edge map, digit) pairs, as ``digits-edges`` makes them, at the config's size and channels."""
        from genzoo.data import DigitsDataset
        from genzoo.images import to_tensor

        from .data import edge_map

        c = self.config
        b = to_tensor(DigitsDataset("train", size=8).images[:n], size=c.image_size).clamp(-1, 1)  # only n resized
        data = torch.utils.data.TensorDataset(to_tensor(edge_map(b), channels=c.input_nc), to_tensor(b, channels=c.output_nc))
        data.aligned = True  # evaluate scores G(A) against B
        return data

    def _require_discriminator(self) -> None:
        if "discriminator" not in self._modules:
            raise ConfigError(
                "this Pix2Pix model has no discriminator (netD='none', e.g. converted from the authors' "
                "generator-only files); to fine-tune it, create one with netD='basic' and load the generator into it"
            )

    def configure_optimizers(self, cfg=None) -> dict[str, torch.optim.Optimizer]:
        self._require_discriminator()
        c = self.config
        betas = (c.beta1, c.beta2)
        return {
            "g": torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=betas),
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=betas),
        }

    def losses(self, a: torch.Tensor, b: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generator's terms for a batch: adversarial (D fooled on (A, G(A))) and L1 to the true B."""
        gan = reference_gan_loss(self.config.gan_mode)
        return {"g_gan": gan.g(self.discriminator(fake, a)), "l1": F.l1_loss(fake.float(), b.float())}

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        a, b = batch[0], batch[1]
        gan = reference_gan_loss(self.config.gan_mode)
        with ctx.autocast():
            fake = self.generator(a)
            d_loss = gan.d(self.discriminator(b, a), self.discriminator(fake.detach(), a))
        ctx.backward(d_loss)
        ctx.step("d")
        with ctx.autocast():
            terms = self.losses(a, b, fake)
        g_loss = terms["g_gan"] + self.config.lambda_l1 * terms["l1"]
        ctx.backward(g_loss)
        ctx.step("g")
        return {"d": d_loss.detach(), "g_gan": terms["g_gan"].detach(), "l1": terms["l1"].detach()}

    @torch.no_grad()
    def evaluate(self, dataset) -> dict[str, float]:
        """L1 and PSNR of G(A) against the true B over a paired data set."""
        scores = RunningL1()
        for a, b in test_batches(dataset, self.device, self.dtype):
            scores.update(self.generator(a), b)
        return {"test_l1": scores.l1, "test_psnr": scores.psnr}

    # -- upstream weights -----------------------------------------------------------
    @classmethod
    def from_layout(cls, path, layout=None, config=None):
        """Read an authors' Pix2Pix generator file (``latest_net_G.pth``; see :mod:`genzoo.nets.reference_files`)."""
        from genzoo.nets.reference_files import read_generator_file

        from . import LICENSE, PIX2PIX_MODELS, PIX2PIX_URL

        return read_generator_file(
            path, config, family="pix2pix", known=PIX2PIX_MODELS, url_template=PIX2PIX_URL,
            card={"license": LICENSE, "paper": PAPER}, component="generator", fixed={"netD": "none"}, layout=layout,
        )  # fmt: skip
