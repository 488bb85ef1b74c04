"""The ``cgan`` family: a class-conditional DCGAN (label-conditioned generator and discriminator).

The networks and class-conditioned sampling are in ``model.py``; training,
EMA and the losses are shared with the ``gan`` family through the core
(:mod:`genzoo.adversarial`, :mod:`genzoo.nets.dcgan`, :mod:`genzoo.losses`).
Bundled model (trained by genzoo's own recipe on scikit-learn's digits; the
exact command is on its card): ``cgan-digits``.
"""

from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/1411.1784"
PROJECTION_PAPER = "https://arxiv.org/abs/1802.05637"


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "cgan",
        model="genzoo_cgan.model:CGANModel",
        description="Class-conditional DCGAN; the discriminator sees the label as input channels or by projection.",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    registry.add_bundled("cgan-digits", family="cgan", package=__name__, path="weights/cgan-digits", paper=PAPER)
