"""Named models whose weights their authors published in another format, converted by a family.

A family that registers such models (Pix2Pix and CycleGAN do, for the
authors' ``.pth`` generators) names each one's source with
:func:`upstream_source`: the converted genzoo folder in the Hub organisation
:data:`HUB_ORG` once the family has recorded its commit, until then the
authors' file, downloaded and converted on first use.

Two environment variables, read when the plugins register, point every such
name at a mirror of your own: ``GENZOO_HUB_ORG`` (the organisation, default
:data:`HUB_ORG`) and ``GENZOO_HUB_REVISION`` (a branch or commit every name
follows, e.g. ``main``). This module imports no torch: plugins call it from
their registration hooks.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .registry import HubSource, UrlSource

#: The Hub organisation holding the converted upstream models; GENZOO_HUB_ORG names a mirror instead.
HUB_ORG = "genzoo"


def upstream_source(model_name: str, url: str, revisions: Mapping[str, str]) -> HubSource | UrlSource:
    """Where a converted upstream model's weights are: its pinned Hub repo, else the authors' file (converted on first use).

    ``revisions`` is the family's record of the commit each converted model
    is pinned to in :data:`HUB_ORG`, by model name; ``GENZOO_HUB_REVISION``
    overrides it for every name.
    """
    revision = os.environ.get("GENZOO_HUB_REVISION") or revisions.get(model_name)
    if revision:
        return HubSource(f"{os.environ.get('GENZOO_HUB_ORG') or HUB_ORG}/{model_name}", revision)
    return UrlSource(url, layout="reference")


def add_published_models(
    registry: Any,
    family: str,
    models: Mapping[str, Mapping[str, str]],
    *,
    url_template: str,
    revisions: Mapping[str, str],
    config: Mapping[str, Any],
    paper: str,
    license: str,
) -> None:
    """Register the authors' published files of ``family`` as ``<family>-<name>``.

    ``models`` maps each upstream file name to its card facts (``dataset``,
    ``description``); ``url_template`` gives its URL from ``{name}``;
    ``config`` is what the converted model's config states up front.
    """
    for name, facts in models.items():
        url = url_template.format(name=name)
        registry.add_model(
            f"{family}-{name}",
            family=family,
            config=config,
            source=upstream_source(f"{family}-{name}", url, revisions),
            description=f"{facts['description']} (the authors' generator, converted from {url})",
            dataset=facts["dataset"],
            license=license,
            paper=paper,
            tags=("image-to-image", "converted"),
        )
