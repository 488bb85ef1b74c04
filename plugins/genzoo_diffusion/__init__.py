"""The ``diffusion`` family: DDPM/DDIM on a small U-Net, unconditional, class- or text-conditioned.

Registration imports no torch; the model class is named as a string. The
plugin imports only ``genzoo``: a text encoder comes from another family
through the registry (``genzoo.load(name, components=["text_encoder"])``),
never by importing that family's package.
"""

from genzoo import hookimpl


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "diffusion",
        model="genzoo_diffusion.model:DiffusionModel",
        description="Denoising diffusion (DDPM/DDIM) with a U-Net; labels or any TextEncoder as the condition.",
        paper="https://arxiv.org/abs/2006.11239",
    )


@hookimpl
def genzoo_register_models(registry):
    # Trained by genzoo's recipe (the card records the command); EMA weights and clip-digits' text tower.
    # That tower is built by the clip family: without it installed the model cannot load, so it is not offered.
    if not registry.has_family("clip"):
        return
    registry.add_bundled("diffusion-digits", family="diffusion", package=__name__, path="weights/diffusion-digits")
