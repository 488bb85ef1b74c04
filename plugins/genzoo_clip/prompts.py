"""Class names and caption templates: the digits recipe's captions and zero-shot prompts.

CLIP is trained on image-caption pairs. For a data set with class labels,
genzoo's recipe writes the captions itself: each image gets one of the
``templates`` filled in with its class name ("a photo of the number
seven."), drawn at random every time the image is seen. The same templates,
averaged (prompt ensembling), make the zero-shot classifier.
"""

from __future__ import annotations

#: The digits' class names, in label order.
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: Caption templates of the digits recipe (``{}`` is the class name).
DIGIT_TEMPLATES = (
    "a photo of the number {}.",
    "a photo of the digit {}.",
    "a handwritten {}.",
    "the number {}.",
    "a drawing of the digit {}.",
    "a blurry photo of a {}.",
    "an image of the number {}.",
    "a {} written by hand.",
)

#: Zero-shot templates for models trained on web captions (a short ensemble in
#: the spirit of the CLIP paper's prompt engineering).
PHOTO_TEMPLATES = (
    "a photo of a {}.",
    "a bad photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
    "a close-up photo of a {}.",
    "a bright photo of a {}.",
    "a cropped photo of a {}.",
    "a drawing of a {}.",
    "itap of a {}.",
    "art of the {}.",
)

#: Words the bundled digits vocabulary keeps whole (besides the templates' and names' words).
DIGIT_VOCAB_EXTRA = (
    "picture image photograph sketch drawn written writing hand handwritten number numeral digit "
    "figure this is it a an the of with small large big bold thin black white dark light blurry "
    "clear scan scanned"
)


def fill(templates, name: str) -> list[str]:
    """Each template with ``name`` in place of ``{}``."""
    return [t.format(name) for t in templates]
