"""The ``gan`` family: DCGAN-style generator and discriminator for unconditional images.

The networks, the alternating training step, EMA, sampling and interpolation
are in ``model.py``; the adversarial losses (minimax, non-saturating, LSGAN,
hinge) and the R1 / gradient-penalty regularisers are shared by every GAN
family in :mod:`genzoo.losses`. Bundled model (trained by genzoo's own recipe
on scikit-learn's digits; the exact command is on its card): ``dcgan-digits``.
"""

from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/1511.06434"


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "gan",
        model="genzoo_gan.model:GANModel",
        description="DCGAN: minimax, non-saturating, LSGAN or hinge loss; optional R1/GP and generator EMA.",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    registry.add_bundled("dcgan-digits", family="gan", package=__name__, path="weights/dcgan-digits", paper=PAPER)
