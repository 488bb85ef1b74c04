"""Model cards: the README.md of every genzoo folder / Hub repo.

The YAML front matter is what the Hub indexes (``library_name: genzoo``,
tags, license, datasets, pipeline tag, metrics); the body is for people:
what the model is, how to load it, and the measured numbers.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from huggingface_hub import ModelCardData

# huggingface_hub is imported only when a card is rendered: it costs most of a cold
# genzoo.load of a local folder otherwise, and loading never renders a card.


def card_data(family: str, card: Mapping[str, Any], pipeline_tag: str | None) -> ModelCardData:
    """The card's YAML front matter as huggingface_hub's ``ModelCardData``."""
    from huggingface_hub import ModelCardData

    tags = ["genzoo", family, *[t for t in card.get("tags", []) if t not in ("genzoo", family)]]
    dataset = card.get("dataset")
    return ModelCardData(
        library_name="genzoo",
        tags=tags,
        license=card.get("license"),
        datasets=[dataset] if dataset else None,
        pipeline_tag=pipeline_tag,
        metrics=sorted(card.get("metrics") or {}) or None,
    )


def render_card(
    name: str,
    family: str,
    config: Mapping[str, Any],
    card: Mapping[str, Any],
    components: Mapping[str, str],
    pipeline_tag: str | None = None,
    extra_files: tuple[str, ...] | list[str] = (),
) -> str:
    """The README.md text for a saved model."""
    from huggingface_hub import ModelCard

    data = card_data(family, card, pipeline_tag)
    where = card.get("load_as") or name  # where the model is loaded from: a folder, a Hub id or a registered name
    lines = [f"# {name}", ""]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    lines += [
        f"A **{family}** model in the [genzoo](https://github.com/genzoo/genzoo) format.",
        "",
        "```python",
        "import genzoo",
        f"model = genzoo.load({json.dumps(str(where))})",
        "```",
        "",
    ]
    facts = [(k, card.get(k)) for k in ("dataset", "license", "paper", "source", "command")]
    facts = [(k, v) for k, v in facts if v]
    if facts:
        lines += ["## Facts", ""] + [f"- **{k}**: {v}" for k, v in facts] + [""]
    metrics = card.get("metrics") or {}
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in sorted(metrics.items())]
        lines += [""]
    lines += ["## Files", ""] + [f"- `{f}`: {g}" for g, f in components.items()]
    lines += [f"- `{f}`: needed by the {family} family" for f in extra_files]
    lines += ["- `config.json`: family and config", ""]
    lines += ["## Config", "", "```json", json.dumps(dict(config), indent=2, sort_keys=True), "```", ""]
    content = f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)
    return str(ModelCard(content))


_LOAD_LINE = re.compile(r'^model = genzoo\.load\(".*"\)$', re.M)


def with_load_reference(readme: str, ref: str) -> str:
    """The card text with its load snippet pointing at ``ref`` (what a push to the Hub repo ``ref`` needs)."""
    return _LOAD_LINE.sub(lambda _: f"model = genzoo.load({json.dumps(ref)})", readme, count=1)
