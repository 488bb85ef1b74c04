"""The ``clip`` family: CLIP's image and text towers, contrastive training, zero-shot classification.

The model is in ``model.py`` (a ViT image tower, :mod:`genzoo_clip.layers`, and a causal
transformer as the text tower), the tokenizer in ``tokenizer.py`` (CLIP's
byte-level BPE on the ``tokenizers`` library), the preprocessing in
``preprocess.py``, the loss in ``losses.py``, and the converters between
genzoo's layout and OpenAI's / Hugging Face's in ``convert.py``.

Named models: OpenAI's four ViT CLIPs, read straight from their Hugging Face
repos (transformers layout, converted on load, pinned revisions), and the
bundled ``clip-digits``, trained by genzoo's recipe on scikit-learn's digits.
"""

import genzoo
from genzoo import hookimpl

PAPER = "https://arxiv.org/abs/2103.00020"

#: OpenAI's released ViT CLIPs on the Hugging Face Hub: name -> (repo, pinned commit, preset, description).
OPENAI_MODELS = {
    "clip-vit-b-32": ("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268", "ViT-B/32"),
    "clip-vit-b-16": ("openai/clip-vit-base-patch16", "57c216476eefef5ab752ec549e440a49ae4ae5f3", "ViT-B/16"),
    "clip-vit-l-14": ("openai/clip-vit-large-patch14", "32bd64288804d66eefd0ccbe215aa642df71cc41", "ViT-L/14"),
    "clip-vit-l-14-336": ("openai/clip-vit-large-patch14-336", "ce19dc912ca5cd21c8a653c79e251e808ccabcd1", "ViT-L/14@336"),
}


@hookimpl
def genzoo_register_families(registry):
    registry.add_family(
        "clip",
        model="genzoo_clip.model:CLIPModel",
        description="CLIP: contrastive image-text towers (ViT + text transformer); zero-shot classification.",
        paper=PAPER,
    )


@hookimpl
def genzoo_register_models(registry):
    from .presets import PRESETS  # plain dicts, no torch

    for name, (repo, revision, preset) in OPENAI_MODELS.items():
        registry.add_model(
            name,
            family="clip",
            config=PRESETS[preset],
            source=genzoo.HubSource(repo, revision, layout="transformers"),
            description=f"OpenAI CLIP {preset}, from the Hugging Face repo {repo} (converted on load)",
            dataset="OpenAI WebImageText (400M image-text pairs, not released)",
            license="mit",
            paper=PAPER,
            tags=("zero-shot-image-classification", "openai"),
        )
    registry.add_bundled("clip-digits", family="clip", package=__name__, path="weights/clip-digits", paper=PAPER)
