"""The ``vae`` family: VAE, beta-VAE and a two-level ladder VAE.

The KL term and the ELBO are in ``losses.py``; the model, sampling and
interpolation in ``model.py``. Bundled models (trained by genzoo's own recipe
on scikit-learn's digits; the exact command is on each card): ``vae-digits``
and the hierarchical ``hvae-digits``.
"""

from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/1312.6114"
LADDER_PAPER = "https://arxiv.org/abs/1602.02282"


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "vae",
        model="genzoo_vae.model:VAEModel",
        description="Variational autoencoder (beta-VAE via beta; levels=2 for a ladder VAE).",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    registry.add_bundled("vae-digits", family="vae", package=__name__, path="weights/vae-digits", paper=PAPER)
    registry.add_bundled("hvae-digits", family="vae", package=__name__, path="weights/hvae-digits", paper=LADDER_PAPER)
