"""The ``pix2pix`` family: paired image-to-image translation (Isola et al., 2017).

What Pix2Pix shares with CycleGAN lives in the core: the reference networks
(:mod:`genzoo.nets.reference`), the converter for the authors' files
(:mod:`genzoo.nets.reference_files`), ``translate`` and the config base
(:mod:`genzoo.translation`), paired/unpaired folders (:mod:`genzoo.folders`),
the reference's GAN loss weighting (:mod:`genzoo.losses`). This package adds
the Pix2Pix model and its named models.

Named models: the five generators the authors published -- converted
genzoo folders in the Hub organisation :data:`genzoo.upstream.HUB_ORG`
(``GENZOO_HUB_ORG``, default ``genzoo``) once their commits are in
:data:`REVISIONS`, until then the authors' files, downloaded and converted
on first use -- and ``pix2pix-digits-edges``, bundled (trained by ``genzoo
train`` on scikit-learn's digits).
"""

from __future__ import annotations

from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/1611.07004"
#: Where the authors published their Pix2Pix weights.
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{name}.pth"
#: The licence of the authors' code and weights (BSD).
LICENSE = "bsd"

#: The commit each converted Pix2Pix model is pinned to in the Hub organisation
#: (:data:`genzoo.upstream.HUB_ORG`), by model name. Empty until the converted
#: folders are pushed (``genzoo convert`` + ``genzoo push``) and their commits
#: recorded here. Until then a name loads from the authors' server instead
#: (:func:`genzoo.upstream.upstream_source`). GENZOO_HUB_REVISION=main makes
#: every name follow a branch, for a mirror of your own.
REVISIONS: dict[str, str] = {}


#: The authors' published Pix2Pix generators: upstream file name -> card facts.
PIX2PIX_MODELS = {
    "edges2shoes": {"dataset": "edges2shoes (UT Zappos50K shoes and their HED edges)", "description": "Shoe edge maps to shoe photos"},
    "sat2map": {"dataset": "maps (Google Maps satellite/map tiles of New York)", "description": "Satellite photos to Google Maps tiles"},
    "map2sat": {"dataset": "maps (Google Maps satellite/map tiles of New York)", "description": "Google Maps tiles to satellite photos"},
    "facades_label2photo": {"dataset": "CMP Facades", "description": "Facade label maps to facade photos"},
    "day2night": {"dataset": "Transient Attributes (day/night webcam pairs)", "description": "Daytime to night-time photos"},
}


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "pix2pix",
        model="genzoo_pix2pix.model:Pix2PixModel",
        description="Pix2Pix: paired image-to-image translation (U-Net / ResNet generator, PatchGAN, L1 + GAN).",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    from genzoo.upstream import add_published_models

    reference = {"netG": "unet_256", "norm": "batch", "dropout": True, "netD": "none"}
    add_published_models(
        registry, "pix2pix", PIX2PIX_MODELS, url_template=PIX2PIX_URL, revisions=REVISIONS, config=reference,
        paper=PAPER, license=LICENSE,
    )  # fmt: skip
    registry.add_bundled("pix2pix-digits-edges", family="pix2pix", package=__name__, path="weights/pix2pix-digits-edges", paper=PAPER)


@hookimpl
def genzoo_register_datasets(registry):
    registry.add_dataset(
        "digits-edges",
        "genzoo_pix2pix.data:digits_edges",
        description="scikit-learn digits (UCI optdigits) paired with their edge maps",
    )
