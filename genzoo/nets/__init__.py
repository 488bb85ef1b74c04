"""Networks more than one family builds: ``genzoo.nets`` is the small conv stacks (:mod:`.conv`).

The submodules are imported on demand, never from here, so a family pays
only for the networks it uses:

- :mod:`genzoo.nets.conv` -- 4x4 stride-2 conv stacks, ``ConvEncoder`` /
  ``ConvDecoder`` (autoencoder, VAE, GANs); re-exported here, as
  ``genzoo.nets`` held them before it became a package;
- :mod:`genzoo.nets.dcgan` -- DCGAN's generator body, discriminator
  features and initialisation (``gan``, ``cgan``);
- :mod:`genzoo.nets.reference` -- the reference Pix2Pix/CycleGAN networks
  (U-Net/ResNet generators, PatchGAN/PixelGAN discriminators), and
  :mod:`genzoo.nets.reference_files`, which reads the authors' published
  generator files onto them (``pix2pix``, ``cyclegan``).
"""

from .conv import ConvDecoder, ConvEncoder, bottom_size, down_stack, up_stack

__all__ = ["ConvDecoder", "ConvEncoder", "bottom_size", "down_stack", "up_stack"]
