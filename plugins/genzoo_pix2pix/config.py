"""The configuration fields Pix2Pix and CycleGAN share: the reference networks and optimiser.

Both families build the same reference generators and PatchGANs and train
them with the same Adam settings and linear decay; only their defaults
differ (Pix2Pix: U-Net, batch norm, dropout, vanilla GAN loss; CycleGAN:
ResNet, instance norm, no dropout, least squares). Each family's config
subclasses :class:`ReferenceNetsConfig`, restating just the defaults it
changes and adding its own loss weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .losses import GAN_MODES
from .networks import check_discriminator, check_norm, parse_generator


@dataclass
class ReferenceNetsConfig:
    #: Ranges the types cannot say (genzoo.config); positive int defaults stay >= 1.
    limits: ClassVar[dict[str, str]] = {
        "init_gain": "[0, inf)", "lr": "(0, inf)", "beta1": "[0, 1)", "beta2": "[0, 1)", "decay_start": "[0, 1]",
    }  # fmt: skip

    input_nc: int = 3
    output_nc: int = 3
    #: The side images are trained on and (by default) translated at.
    image_size: int = 256
    #: resnet_9blocks, resnet_6blocks, resnet_<n>blocks, unet_256, unet_128, unet_<2^k>.
    netG: str = "resnet_9blocks"
    ngf: int = 64
    #: batch, instance or none.
    norm: str = "instance"
    #: Dropout 0.5 in the generator (U-Net: the innermost levels; ResNet: every block).
    dropout: bool = False
    #: basic (3-layer PatchGAN), n_layers (n_layers_D), pixel (1x1), or none (no discriminator: inference only).
    netD: str = "basic"
    ndf: int = 64
    n_layers_D: int = 3
    init_gain: float = 0.02
    #: vanilla (BCE with logits) or lsgan (least squares).
    gan_mode: str = "lsgan"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    #: Fraction of the steps at a constant learning rate before the linear decay to zero.
    decay_start: float = 0.5

    def __post_init__(self):
        parse_generator(self.netG)
        check_norm(self.norm)
        check_discriminator(self.netD)
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
