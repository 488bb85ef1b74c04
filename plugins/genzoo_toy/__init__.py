"""The ``toy`` family: the smallest complete genzoo plugin.

It exists to prove the plugin path end to end (the core's tests use it) and
to be read by plugin authors: this file is all the registration a family
needs, and ``model.py`` is all the model code. It is a tiny GAN (a
noise-driven generator and a discriminator) at 8x8 pixels, with one named
model, ``toy-digits``, trained by ``genzoo train toy --data digits`` and
shipped in ``weights/`` (a few KB).

Registration imports no torch: the model class is named as a string and
imported only when a toy model is created or loaded.
"""

from genzoo import hookimpl


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "toy",
        model="genzoo_toy.model:ToyModel",
        description="A tiny generator/discriminator pair for tests and as the example plugin.",
    )


@hookimpl
def genzoo_register_models(registry):
    # A folder written by genzoo (config.json, safetensors, card); its card supplies the facts.
    registry.add_bundled("toy-digits", family="toy", package=__name__, path="weights/toy-digits")
