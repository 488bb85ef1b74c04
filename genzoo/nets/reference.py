"""The reference image-to-image networks of Pix2Pix and CycleGAN, as genzoo components.

These are the generators and the discriminator of the authors' PyTorch code
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``), rebuilt
layer for layer so that their published state dicts load key for key: every
network keeps the reference's ``nn.Sequential`` called ``model`` with its
layers at the same indices (parameter-free layers -- padding, activations,
dropout -- included), so ``model.<i>.weight`` means the same tensor here and
there. The ``pix2pix`` and ``cyclegan`` families both build on this module,
which is why it lives in the core.

- :class:`ResnetGenerator` (``resnet_9blocks``, ``resnet_6blocks``,
  ``resnet_<n>blocks``): reflect-pad 3, 7x7 conv, two stride-2 3x3 convs,
  ``n`` residual blocks, two transposed convs, reflect-pad 3, 7x7 conv, tanh.
- :class:`UnetGenerator` (``unet_256``: 8 downsamplings, ``unet_128``: 7,
  ``unet_<2^k>``: k): nested skip blocks, concatenation skips, tanh.
- :class:`PatchDiscriminator` (``basic`` = 3 layers, or ``n_layers``): a
  map of logits, one per overlapping patch (30x30 for 256x256 with 3 layers).
- :class:`PixelDiscriminator` (``pixel``): the reference's 1x1 "PixelGAN",
  one logit per pixel judged from that pixel's colour alone.

Norms follow the reference's ``get_norm_layer``: ``batch`` (affine, running
statistics), ``instance`` (no affine, no running statistics) or ``none``.
The reference gives a convolution a bias exactly when the norm is
``instance`` (a batch norm after it makes one redundant; with ``none`` the
reference also leaves it out), except for the final output convolutions,
which always have one. Weights are initialised as the reference does
(``init_type="normal"``, gain 0.02).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from genzoo.errors import ConfigError
from genzoo.interfaces import Discriminator, Generator

NORMS = ("batch", "instance", "none")

_RESNET = re.compile(r"resnet_(\d+)blocks")
_UNET = re.compile(r"unet_(\d+)")


def parse_generator(name: str) -> tuple[str, int]:
    """``"resnet_9blocks"`` -> ``("resnet", 9)``; ``"unet_256"`` -> ``("unet", 8)`` (the number of downsamplings)."""
    m = _RESNET.fullmatch(str(name))
    if m:
        return "resnet", int(m.group(1))
    m = _UNET.fullmatch(str(name))
    if m:
        size = int(m.group(1))
        downs = int(round(math.log2(size))) if size > 0 else 0
        if 2**downs != size or downs < 5:
            raise ConfigError(
                f"netG {name!r}: a U-Net name gives the input size it fully downsamples, a power of two "
                "of at least 32 (unet_32 = 5 downsamplings ... unet_256 = 8)"
            )
        return "unet", downs
    raise ConfigError(
        f"unknown netG {name!r}; use resnet_9blocks, resnet_6blocks, resnet_<n>blocks, unet_256, unet_128 or unet_<2^k>"
    )


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")
    return norm


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The reference's norm layers: batch (affine, running stats), instance (neither), none."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The reference's ``init_type="normal"``: conv weights ~ N(0, gain), biases 0, batch-norm scales ~ N(1, gain)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class ResnetBlock(nn.Module):
    """[pad, conv 3x3, norm, ReLU, (dropout 0.5), pad, conv 3x3, norm] plus the identity: keys ``conv_block.<i>``."""

    def __init__(self, dim: int, norm: str, dropout: bool, bias: bool):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True),
        ]  # fmt: skip
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(Generator):
    """The reference ResNet generator (Johnson et al.'s style-transfer network), image -> image.

    Input sides must be multiples of 4 (two stride-2 convolutions).
    """

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        image_size: int = 256,
        init_gain: float = 0.02,
    ):
        super().__init__()
        check_norm(norm)
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be >= 0, got {n_blocks}")
        bias = norm == "instance"
        self.multiple = 4
        self.input_shape = (input_nc, image_size, image_size)
        self.output_shape = (output_nc, image_size, image_size)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True),
        ]  # fmt: skip
        for i in range(2):  # downsampling
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
        for _ in range(n_blocks):
            layers.append(ResnetBlock(ngf * 4, norm, dropout, bias))
        for i in range(2):  # upsampling
            c = ngf * 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                norm_layer(norm, c // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self, init_gain)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x)


class UnetSkipBlock(nn.Module):
    """One level of the reference U-Net: down, the inner levels, up; the input is concatenated to the output.

    Keys: outermost ``model.0`` (down), ``model.1`` (inner), ``model.3`` (up);
    middle ``model.1`` (down), ``model.2`` (norm), ``model.3`` (inner),
    ``model.5`` (up), ``model.6`` (norm); innermost ``model.1``, ``model.3``, ``model.4``.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        innermost = submodule is None
        bias = norm == "instance"
        input_nc = outer_nc if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            layers = [down, submodule, nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [
                nn.LeakyReLU(0.2, True), down,
                nn.ReLU(True), nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias), norm_layer(norm, outer_nc),
            ]  # fmt: skip
        else:
            layers = [
                nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner_nc), submodule,
                nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias), norm_layer(norm, outer_nc),
            ]  # fmt: skip
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(Generator):
    """The reference U-Net generator with ``num_downs`` downsamplings (input sides: multiples of ``2**num_downs``)."""

    def __init__(
        self,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        num_downs: int = 8,
        norm: str = "batch",
        dropout: bool = True,
        image_size: int = 256,
        init_gain: float = 0.02,
    ):
        super().__init__()
        check_norm(norm)
        if num_downs < 5:
            raise ConfigError(f"the reference U-Net needs at least 5 downsamplings, got {num_downs}")
        self.multiple = 2**num_downs
        self.input_shape = (input_nc, image_size, image_size)
        self.output_shape = (output_nc, image_size, image_size)
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm=norm)  # innermost
        for _ in range(num_downs - 5):  # the dropout levels
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)
        init_weights(self, init_gain)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x)


class _ReferenceDiscriminator(Discriminator):
    """What the reference's discriminators share: their shapes, and judging ``cat(A, B)`` when conditioned (Pix2Pix)."""

    def __init__(self, input_nc: int, norm: str, image_size: int, condition_nc: int):
        super().__init__()
        check_norm(norm)
        self.input_shape = (input_nc, image_size, image_size)
        self.condition_shape = (condition_nc, image_size, image_size) if condition_nc else None

    @staticmethod
    def _judge(body: nn.Module, images: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return body(images if cond is None else torch.cat([cond, images], 1))  # the reference's cat(real_A, B)


class PatchDiscriminator(_ReferenceDiscriminator):
    """The reference PatchGAN (``NLayerDiscriminator``): one logit per overlapping patch.

    ``n_layers=3`` (``netD="basic"``) sees 70x70 patches and gives a 30x30 map
    for a 256x256 input. With ``condition_nc`` > 0 (Pix2Pix) the condition
    image is concatenated to the input as extra channels, as the reference
    feeds ``cat(A, B)``.
    """

    def __init__(
        self,
        input_nc: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        image_size: int = 256,
        condition_nc: int = 0,
        init_gain: float = 0.02,
    ):
        super().__init__(input_nc, norm, image_size, condition_nc)
        if n_layers < 1:
            raise ConfigError(f"n_layers_D must be >= 1, got {n_layers}")
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(input_nc + condition_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True),
            ]  # fmt: skip
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]  # fmt: skip
        self.model = nn.Sequential(*layers)
        init_weights(self, init_gain)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self._judge(self.model, images, cond)


class PixelDiscriminator(_ReferenceDiscriminator):
    """The reference's 1x1 PatchGAN (``netD="pixel"``): a logit per pixel from 1x1 convolutions.

    It sees no spatial context, so it can only push colours towards the real
    distribution (the paper's "PixelGAN", which improves colourfulness but not
    sharpness). The layers sit at the reference's indices under ``net``
    (``net.0``, ``net.2``, ``net.3`` norm, ``net.5``); unlike the PatchGAN, the
    reference leaves the bias off the last convolution too unless the norm is
    ``instance``.
    """

    def __init__(
        self,
        input_nc: int = 3,
        ndf: int = 64,
        norm: str = "batch",
        image_size: int = 256,
        condition_nc: int = 0,
        init_gain: float = 0.02,
    ):
        super().__init__(input_nc, norm, image_size, condition_nc)
        bias = norm == "instance"
        self.net = nn.Sequential(
            nn.Conv2d(input_nc + condition_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )  # fmt: skip
        init_weights(self, init_gain)

    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self._judge(self.net, images, cond)


def build_generator(
    netG: str, input_nc: int, output_nc: int, ngf: int, norm: str, dropout: bool, image_size: int, init_gain: float = 0.02
) -> ResnetGenerator | UnetGenerator:
    kind, n = parse_generator(netG)
    if kind == "resnet":
        return ResnetGenerator(input_nc, output_nc, ngf, n, norm, dropout, image_size, init_gain)
    return UnetGenerator(input_nc, output_nc, ngf, n, norm, dropout, image_size, init_gain)


#: The discriminator kinds of the reference, plus ``none`` (no discriminator: inference only).
DISCRIMINATORS = ("basic", "n_layers", "pixel", "none")


def check_discriminator(netD: str) -> str:
    if netD not in DISCRIMINATORS:
        raise ConfigError(f"unknown netD {netD!r}; use one of {', '.join(map(repr, DISCRIMINATORS))}")
    return netD


def build_discriminator(
    netD: str, input_nc: int, ndf: int, n_layers_D: int, norm: str, image_size: int, condition_nc: int = 0, init_gain: float = 0.02
) -> PatchDiscriminator | PixelDiscriminator | None:
    """``"basic"`` (3 layers), ``"n_layers"`` (``n_layers_D``), ``"pixel"`` (1x1), or ``"none"`` (inference only)."""
    if check_discriminator(netD) == "none":
        return None
    if netD == "pixel":
        return PixelDiscriminator(input_nc, ndf, norm, image_size, condition_nc, init_gain)
    return PatchDiscriminator(input_nc, ndf, 3 if netD == "basic" else n_layers_D, norm, image_size, condition_nc, init_gain)
