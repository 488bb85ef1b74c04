"""The ``cyclegan`` family: unpaired image-to-image translation (Zhu et al., 2017).

The networks, the upstream converter, ``translate`` and the folder data sets
are shared with Pix2Pix and live in the core (:mod:`genzoo.nets.reference`,
:mod:`genzoo.nets.reference_files`, :mod:`genzoo.translation`,
:mod:`genzoo.folders`); this package adds the CycleGAN model (two
generators, two discriminators, cycle and identity losses, the image pool)
and its named models: the 18 generators the authors published (converted
genzoo folders in the Hub organisation ``GENZOO_HUB_ORG``, default
``genzoo``, once their commits are recorded in :data:`REVISIONS`; until then
the authors' files, downloaded and converted on first use), and the bundled
``cyclegan-digits-bold``.
"""

from __future__ import annotations

from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/1703.10593"
#: Where the authors published their CycleGAN weights.
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{name}.pth"
#: The licence of the authors' code and weights (BSD).
LICENSE = "bsd"

#: The commit each converted CycleGAN model is pinned to in the Hub organisation
#: (:data:`genzoo.upstream.HUB_ORG`), by model name. Empty until the converted
#: folders are pushed (``genzoo convert`` + ``genzoo push``) and their commits
#: recorded here. Until then a name loads from the authors' server instead
#: (:func:`genzoo.upstream.upstream_source`). GENZOO_HUB_REVISION=main makes
#: every name follow a branch, for a mirror of your own.
REVISIONS: dict[str, str] = {}

_HORSES = "horse2zebra (ImageNet wild horses and zebras)"
_APPLES = "apple2orange (ImageNet apples and oranges)"
_YOSEMITE = "summer2winter_yosemite (Flickr photos of Yosemite)"
_MONET = "monet2photo (Monet paintings and Flickr landscape photos)"
_MAPS = "maps (Google Maps satellite/map tiles of New York)"
_CITY = "Cityscapes (photos and semantic label maps)"
_FACADES = "CMP Facades (photos and label maps)"

#: The authors' published CycleGAN generators: upstream file name -> card facts.
CYCLEGAN_MODELS = {
    "apple2orange": {"dataset": _APPLES, "description": "Apples to oranges"},
    "orange2apple": {"dataset": _APPLES, "description": "Oranges to apples"},
    "summer2winter_yosemite": {"dataset": _YOSEMITE, "description": "Summer to winter in Yosemite"},
    "winter2summer_yosemite": {"dataset": _YOSEMITE, "description": "Winter to summer in Yosemite"},
    "horse2zebra": {"dataset": _HORSES, "description": "Horses to zebras"},
    "zebra2horse": {"dataset": _HORSES, "description": "Zebras to horses"},
    "monet2photo": {"dataset": _MONET, "description": "Monet paintings to photos"},
    "style_monet": {"dataset": _MONET, "description": "Photos in the style of Monet"},
    "style_cezanne": {"dataset": "Cezanne paintings and Flickr landscape photos", "description": "Photos in the style of Cezanne"},
    "style_ukiyoe": {"dataset": "Ukiyo-e prints and Flickr landscape photos", "description": "Photos in the style of ukiyo-e"},
    "style_vangogh": {"dataset": "Van Gogh paintings and Flickr landscape photos", "description": "Photos in the style of Van Gogh"},
    "sat2map": {"dataset": _MAPS, "description": "Satellite photos to map tiles"},
    "map2sat": {"dataset": _MAPS, "description": "Map tiles to satellite photos"},
    "cityscapes_photo2label": {"dataset": _CITY, "description": "Street photos to label maps"},
    "cityscapes_label2photo": {"dataset": _CITY, "description": "Label maps to street photos"},
    "facades_photo2label": {"dataset": _FACADES, "description": "Facade photos to label maps"},
    "facades_label2photo": {"dataset": _FACADES, "description": "Facade label maps to photos"},
    "iphone2dslr_flower": {"dataset": "iphone2dslr_flower (Flickr flower photos)", "description": "iPhone flower photos to DSLR-style shallow depth of field"},
}


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "cyclegan",
        model="genzoo_cyclegan.model:CycleGANModel",
        description="CycleGAN: unpaired image-to-image translation (ResNet generators, PatchGANs, cycle + identity losses).",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    from genzoo.upstream import add_published_models

    reference = {"netG": "resnet_9blocks", "norm": "instance", "netD": "none", "bidirectional": False}
    add_published_models(
        registry, "cyclegan", CYCLEGAN_MODELS, url_template=CYCLEGAN_URL, revisions=REVISIONS, config=reference,
        paper=PAPER, license=LICENSE,
    )  # fmt: skip
    registry.add_bundled("cyclegan-digits-bold", family="cyclegan", package=__name__, path="weights/cyclegan-digits-bold", paper=PAPER)


@hookimpl
def genzoo_register_datasets(registry):
    registry.add_dataset(
        "digits-bold",
        "genzoo_cyclegan.data:digits_bold",
        description="scikit-learn digits (UCI optdigits) and bold digits (3x3 dilation), unpaired",
    )
