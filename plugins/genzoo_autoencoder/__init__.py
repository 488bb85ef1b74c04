"""The ``autoencoder`` family: convolutional autoencoder and denoising autoencoder.

Bundled models (trained by genzoo's own recipe on scikit-learn's digits; the
exact command is on each model card): ``ae-digits``, ``dae-digits``.
"""

from genzoo import hookimpl

PAPER = "https://www.cs.toronto.edu/~hinton/absps/science.pdf"
DAE_PAPER = "https://www.cs.toronto.edu/~larocheh/publications/icml-2008-denoising-autoencoders.pdf"


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "autoencoder",
        model="genzoo_autoencoder.model:AutoencoderModel",
        description="Convolutional autoencoder; set denoising=True for the denoising variant.",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    registry.add_bundled("ae-digits", family="autoencoder", package=__name__, path="weights/ae-digits", paper=PAPER)
    registry.add_bundled("dae-digits", family="autoencoder", package=__name__, path="weights/dae-digits", paper=DAE_PAPER)
