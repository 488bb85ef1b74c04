"""The ``pix2pix`` family: paired image-to-image translation (Isola et al., 2017).

This package also holds what Pix2Pix and CycleGAN share -- the reference
networks (``networks.py``), the upstream converter (``convert.py``), the
translation API (``translation.py``), the paired/unpaired data sets
(``data.py``) and the reference's loss weighting (``losses.py``); the
``genzoo_cyclegan`` plugin imports them from here.

Named models: the five generators the authors published, converted to
genzoo folders and hosted in the Hub organisation :data:`HUB_ORG`
(``GENZOO_HUB_ORG``, default ``genzoo``), and ``pix2pix-digits-edges``,
bundled (trained by ``genzoo train`` on scikit-learn's digits).
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

#: The Hub organisation holding the converted upstream models; set GENZOO_HUB_ORG to use a mirror.
HUB_ORG = os.environ.get("GENZOO_HUB_ORG", "genzoo")

#: The commit each converted model is pinned to. The repos are not published yet:
#: every entry holds this placeholder until the converted folders are pushed and
#: their commits recorded here. Loading a name whose revision is the placeholder
#: fails with the Hub's "revision not found" (GENZOO_HUB_REVISION=main follows a
#: branch instead, for a mirror of your own).
PLACEHOLDER_REVISION = "0" * 40
REVISIONS: dict[str, str] = {}


def hub_revision(name: str) -> str:
    return os.environ.get("GENZOO_HUB_REVISION") or REVISIONS.get(name, PLACEHOLDER_REVISION)


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
        tasks=["translate"],
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    import genzoo

    for name, facts in PIX2PIX_MODELS.items():
        registry.add_model(
            f"pix2pix-{name}",
            family="pix2pix",
            config={"netG": "unet_256", "norm": "batch", "netD": "none"},
            source=genzoo.HubSource(f"{HUB_ORG}/pix2pix-{name}", hub_revision(f"pix2pix-{name}")),
            description=f"{facts['description']} (the authors' Pix2Pix generator, converted from {PIX2PIX_URL.format(name=name)})",
            dataset=facts["dataset"],
            license=LICENSE,
            paper=PAPER,
            tags=("image-to-image", "converted"),
        )
    registry.add_bundled("pix2pix-digits-edges", family="pix2pix", package=__name__, path="weights/pix2pix-digits-edges", paper=PAPER)
