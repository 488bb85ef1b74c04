"""The ``pix2pix`` family: paired image-to-image translation (Isola et al., 2017).

This package also holds what Pix2Pix and CycleGAN share -- the reference
networks (``networks.py``), the upstream converter (``convert.py``), the
translation API (``translation.py``), the paired/unpaired data sets
(``data.py``) and the reference's loss weighting (``losses.py``); the
``genzoo_cyclegan`` plugin imports them from here.

Named models: the five generators the authors published -- converted
genzoo folders in the Hub organisation :data:`HUB_ORG` (``GENZOO_HUB_ORG``,
default ``genzoo``) once their commits are in :data:`REVISIONS`, until then
the authors' files, downloaded and converted on first use -- and
``pix2pix-digits-edges``, bundled (trained by ``genzoo train`` on
scikit-learn's digits).
"""

from __future__ import annotations

import os

from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/1611.07004"
#: The authors' code, and where their published weights live.
CODE_URL = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{name}.pth"
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{name}.pth"
#: The licence of the authors' code and weights (BSD).
LICENSE = "bsd"

#: The Hub organisation holding the converted upstream models; GENZOO_HUB_ORG (read when the
#: plugins register, like GENZOO_HUB_REVISION) names a mirror instead.
HUB_ORG = "genzoo"

#: The commit each converted model is pinned to in :data:`HUB_ORG`, by model name.
#: Empty until the converted folders are pushed (``genzoo convert`` + ``genzoo push``)
#: and their commits recorded here. Until then a name loads from the authors'
#: server instead (:func:`upstream_source`). GENZOO_HUB_REVISION=main makes every
#: name follow a branch of HUB_ORG, for a mirror of your own.
REVISIONS: dict[str, str] = {}


def upstream_source(model_name: str, url: str):
    """Where a converted upstream model's weights are: its pinned Hub repo, else the authors' file (converted on first use)."""
    import genzoo

    revision = os.environ.get("GENZOO_HUB_REVISION") or REVISIONS.get(model_name)
    if revision:
        return genzoo.HubSource(f"{os.environ.get('GENZOO_HUB_ORG') or HUB_ORG}/{model_name}", revision)
    return genzoo.UrlSource(url, layout="reference")


def add_published_models(registry, family: str, models: dict, url_template: str, config: dict, paper: str) -> None:
    """Register the authors' published generators of ``family`` as ``<family>-<name>`` (both families do this)."""
    for name, facts in models.items():
        url = url_template.format(name=name)
        registry.add_model(
            f"{family}-{name}",
            family=family,
            config=config,
            source=upstream_source(f"{family}-{name}", url),
            description=f"{facts['description']} (the authors' generator, converted from {url})",
            dataset=facts["dataset"],
            license=LICENSE,
            paper=paper,
            tags=("image-to-image", "converted"),
        )


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
    reference = {"netG": "unet_256", "norm": "batch", "dropout": True, "netD": "none"}
    add_published_models(registry, "pix2pix", PIX2PIX_MODELS, PIX2PIX_URL, reference, PAPER)
    registry.add_bundled("pix2pix-digits-edges", family="pix2pix", package=__name__, path="weights/pix2pix-digits-edges", paper=PAPER)


@hookimpl
def genzoo_register_datasets(registry):
    registry.add_dataset(
        "digits-edges",
        "genzoo_pix2pix.data:digits_edges",
        description="scikit-learn digits (UCI optdigits) paired with their edge maps",
    )
