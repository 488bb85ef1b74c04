"""The conformance kit over every registered family and every bundled model (as timm's test_models.py does).

A family added to the zoo, or a bundled model added to a plugin, is checked
here without a line of new test code; ``tests/test_testing_kit.py`` shows
that the kit catches each kind of breakage.
"""

from __future__ import annotations


import genzoo
import genzoo.testing
from genzoo.plugins import get_registry, reset
from genzoo.registry import BundledSource


def _zoo() -> tuple[list[str], list[str]]:
    """Families and bundled models of the installed plugins, read once at collection."""
    try:
        registry = get_registry()
        families = registry.list_families()
        bundled = [n for n in registry.list_models() if isinstance(registry.models[n].source, BundledSource)]
    finally:
        reset()  # each test loads its own zoo (tests/conftest.py)
    return families, bundled


FAMILIES, BUNDLED = _zoo()

test_conformance = genzoo.testing.conformance_tests(families=FAMILIES, models=BUNDLED)

def test_the_zoo_is_all_here():
    """A plugin that fails to register would silently shrink the lists above."""
    assert set(FAMILIES) >= {"autoencoder", "cgan", "clip", "cyclegan", "gan", "pix2pix", "toy", "vae"}
    assert len(BUNDLED) >= 9, BUNDLED
