"""CycleGAN (Zhu et al., 2017): unpaired image-to-image translation with cycle consistency.

Two generators, ``g_ab`` (A -> B, the reference's ``netG_A``) and ``g_ba``
(B -> A, ``netG_B``), and two PatchGAN discriminators named by the domain
they judge: ``d_b`` scores B images (real B vs. ``g_ab``'s fakes; the
reference's ``netD_A``) and ``d_a`` scores A images (``netD_B``).

The generators minimise least-squares GAN losses plus the cycle losses
``10 * |g_ba(g_ab(a)) - a|`` and ``10 * |g_ab(g_ba(b)) - b|`` and the identity
losses ``0.5 * 10 * |g_ab(b) - b|`` (and for ``g_ba``); the discriminators
see fakes through an image pool of 50. Adam 2e-4, betas (0.5, 0.999), linear
decay over the second half of training. Reference defaults throughout:
``resnet_9blocks`` generators, instance norm, no dropout, ``basic`` PatchGAN.

Component groups: ``generator`` (``g_ab``), ``generator_ba`` (``g_ba``) and
``discriminators`` (``d_a``, ``d_b``). The authors' published files hold one
direction's generator each; converted, they are one-way models
(``bidirectional=False``, ``netD="none"``) with only ``generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.folders import UnpairedFolderDataset
from genzoo.losses import reference_gan_loss
from genzoo.nets.reference import build_discriminator, build_generator
from genzoo.translation import ReferenceNetsConfig, RunningL1, TranslationModel, test_batches

from .pool import ImagePool

PAPER = "https://arxiv.org/abs/1703.10593"


@dataclass
class CycleGANConfig(ReferenceNetsConfig):
    """The reference's CycleGAN defaults (the shared ones: ResNet-9, instance norm, LSGAN) plus its loss weights."""

    #: Added to ReferenceNetsConfig.limits; a pool of 0 images means no pool.
    limits: ClassVar[dict[str, str]] = {
        "lambda_a": "[0, inf)", "lambda_b": "[0, inf)", "lambda_identity": "[0, inf)", "pool_size": "[0, inf)",
    }  # fmt: skip

    #: False: one generator (A -> B) only, as in the authors' published files.
    bidirectional: bool = True
    lambda_a: float = 10.0
    lambda_b: float = 10.0
    #: Identity loss weight, relative to the cycle weights (0 turns it off).
    lambda_identity: float = 0.5
    pool_size: int = 50

    def __post_init__(self):
        super().__post_init__()
        if self.netD != "none" and not self.bidirectional:
            raise ValueError("training discriminators needs both generators: set bidirectional=True or netD='none'")


class CycleGANModel(TranslationModel):
    family = "cyclegan"
    config_class = CycleGANConfig
    tiny_config = {"input_nc": 1, "output_nc": 1, "image_size": 16, "netG": "resnet_1blocks", "ngf": 4,
                   "netD": "n_layers", "n_layers_D": 2, "ndf": 4}  # fmt: skip
    inference_components = ("generator",)
    train_defaults = {"steps": 2000, "batch_size": 8}
    layouts = {"reference": ("latest_net_G.pth|latest_net_G_A.pth|model.pth",)}

    def __init__(self, config: CycleGANConfig):
        super().__init__(config)
        c = config
        self.g_ab = build_generator(c.netG, c.input_nc, c.output_nc, c.ngf, c.norm, c.dropout, c.image_size, c.init_gain)
        if c.bidirectional:
            self.g_ba = build_generator(c.netG, c.output_nc, c.input_nc, c.ngf, c.norm, c.dropout, c.image_size, c.init_gain)
        if c.netD != "none":
            self.d_a = build_discriminator(c.netD, c.input_nc, c.ndf, c.n_layers_D, c.norm, c.image_size, 0, c.init_gain)
            self.d_b = build_discriminator(c.netD, c.output_nc, c.ndf, c.n_layers_D, c.norm, c.image_size, 0, c.init_gain)
        self.pool_a = ImagePool(c.pool_size)  # past fakes of g_ba, for d_a
        self.pool_b = ImagePool(c.pool_size)  # past fakes of g_ab, for d_b

    def groups(self) -> dict[str, tuple[str, ...]]:
        groups = {"generator": ("g_ab",)}
        if "g_ba" in self._modules:
            groups["generator_ba"] = ("g_ba",)
        if "d_a" in self._modules:
            groups["discriminators"] = ("d_a", "d_b")
        return groups

    def describe(self) -> str:
        c = self.config
        way = "two-way" if c.bidirectional else "one-way"
        return f"CycleGAN ({way}) with {c.netG} generators (ngf {c.ngf}, {c.norm} norm)"

    def generator_for(self, direction: str = "a2b"):
        if direction == "a2b":
            return self.g_ab
        if direction == "b2a":
            if "g_ba" not in self._modules:
                raise ConfigError("this CycleGAN model holds only the A -> B generator (bidirectional=False)")
            return self.g_ba
        raise ConfigError(f"direction must be 'a2b' or 'b2a', got {direction!r}")

    # -- training (the contract of genzoo.training) ------------------------------
    def folder_dataset(self, root, split: str, **options) -> UnpairedFolderDataset:
        """The reference's unpaired layout, ``trainA/`` and ``trainB/`` (``testA/``, ``testB/``); options: ``load_size``, ``augment``."""
        c = self.config
        return UnpairedFolderDataset(root, split, c.image_size, input_nc=c.input_nc, output_nc=c.output_nc, **options)

    def example_dataset(self, n: int = 8) -> torch.utils.data.Dataset:
        """``n`` unpaired (digit, bold digit) items, as ``digits-bold`` makes them: A and B from different digits."""
        from genzoo.data import DigitsDataset
        from genzoo.images import to_tensor
        from .data import dilate

        c = self.config
        x = to_tensor(DigitsDataset("train", size=8).images[: 2 * n], size=c.image_size).clamp(-1, 1)  # only 2n resized
        a, b = x[:n], dilate(x[n : 2 * n])
        return torch.utils.data.TensorDataset(to_tensor(a, channels=c.input_nc), to_tensor(b, channels=c.output_nc))

    def configure_optimizers(self, cfg=None) -> dict[str, torch.optim.Optimizer]:
        if "d_a" not in self._modules:
            raise ConfigError(
                "this CycleGAN model has no discriminators (netD='none', e.g. converted from the authors' "
                "generator-only files); create one with netD='basic', bidirectional=True to train"
            )
        c = self.config
        betas = (c.beta1, c.beta2)
        g_params = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        d_params = [*self.d_a.parameters(), *self.d_b.parameters()]
        return {"g": torch.optim.Adam(g_params, lr=c.lr, betas=betas), "d": torch.optim.Adam(d_params, lr=c.lr, betas=betas)}

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every generator term for a batch (weighted as in the reference), plus the fakes for the D step."""
        c = self.config
        gan = reference_gan_loss(c.gan_mode)
        fake_b = self.g_ab(a)
        fake_a = self.g_ba(b)
        out = {
            "fake_a": fake_a,
            "fake_b": fake_b,
            "gan_ab": gan.g(self.d_b(fake_b)),
            "gan_ba": gan.g(self.d_a(fake_a)),
            "cycle_a": c.lambda_a * F.l1_loss(self.g_ba(fake_b).float(), a.float()),
            "cycle_b": c.lambda_b * F.l1_loss(self.g_ab(fake_a).float(), b.float()),
        }
        if c.lambda_identity > 0 and c.input_nc == c.output_nc:
            out["idt_b"] = c.lambda_b * c.lambda_identity * F.l1_loss(self.g_ab(b).float(), b.float())
            out["idt_a"] = c.lambda_a * c.lambda_identity * F.l1_loss(self.g_ba(a).float(), a.float())
        return out

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        a, b = batch[0], batch[1]
        gan = reference_gan_loss(self.config.gan_mode)
        with ctx.autocast():
            terms = self.generator_losses(a, b)
        fake_a, fake_b = terms.pop("fake_a"), terms.pop("fake_b")
        g_loss = sum(terms.values())
        ctx.backward(g_loss)
        ctx.step("g")
        ctx.zero_grad("d")  # the generator loss reached the discriminators too
        pooled_b = self.pool_b.query(fake_b.detach(), ctx.generator)
        pooled_a = self.pool_a.query(fake_a.detach(), ctx.generator)
        with ctx.autocast():
            d_b = gan.d(self.d_b(b), self.d_b(pooled_b))
            d_a = gan.d(self.d_a(a), self.d_a(pooled_a))
        ctx.backward(d_a + d_b)
        ctx.step("d")
        logged = {k: v.detach() for k, v in terms.items()}
        logged.update(g=g_loss.detach(), d_a=d_a.detach(), d_b=d_b.detach())
        return logged

    @torch.no_grad()
    def evaluate(self, dataset) -> dict[str, float]:
        """Cycle L1 both ways; on an aligned test set, also L1 and PSNR of G(A) to the true B."""
        two_way, aligned = "g_ba" in self._modules, getattr(dataset, "aligned", False)
        cycle_a, cycle_b, ab = RunningL1(), RunningL1(), RunningL1()
        for a, b in test_batches(dataset, self.device, self.dtype):
            fake_b = self.g_ab(a)
            if two_way:
                cycle_a.update(self.g_ba(fake_b), a)
                cycle_b.update(self.g_ab(self.g_ba(b)), b)
            if aligned:
                ab.update(fake_b, b)
        out = {}
        if two_way:
            out.update(test_cycle_l1_a=cycle_a.l1, test_cycle_l1_b=cycle_b.l1)
        if aligned:
            out.update(test_l1_ab=ab.l1, test_psnr_ab=ab.psnr)
        return out

    # -- upstream weights -----------------------------------------------------------
    @classmethod
    def from_layout(cls, path, layout=None, config=None):
        """Read an authors' CycleGAN generator file (one direction; see :mod:`genzoo.nets.reference_files`)."""
        from genzoo.nets.reference_files import read_generator_file

        from . import CYCLEGAN_MODELS, CYCLEGAN_URL, LICENSE

        return read_generator_file(
            path, config, family="cyclegan", known=CYCLEGAN_MODELS, url_template=CYCLEGAN_URL,
            card={"license": LICENSE, "paper": PAPER}, component="g_ab", fixed={"netD": "none", "bidirectional": False},
            layout=layout,
        )  # fmt: skip
