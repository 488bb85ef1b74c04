"""`genzoo train`: the recipe that turns a family, a data set and a seed into a carded model.

The loop itself is :func:`genzoo.training.train`; this module picks the data
set at the model's image size, the family's default step count and batch
size (``train_defaults`` on the model class), evaluates on the held-out split
and writes the final folder with a card that records the exact command and
the measured metrics -- so every bundled model says how to make it again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .api import create
from .data import DatasetError, get_dataset, known_dataset
from .errors import ConfigError
from .model import GenzooModel
from .plugins import get_registry
from .training import TrainConfig, TrainResult, seed_everything, train

#: What a card says of the core's own datasets: description and licence (plugin datasets carry theirs in the registry).
#: The UCI optdigits data (scikit-learn's digits) is published under CC BY 4.0.
DATASET_FACTS = {"digits": ("scikit-learn digits (UCI optdigits)", "cc-by-4.0")}


def load_split(model: GenzooModel, data: str, split: str, options: dict[str, Any] | None = None):
    """``split`` of ``data`` at the model's image size: a named dataset, or a folder read as the family reads it."""
    options = dict(options or {})
    if known_dataset(data) is None and Path(data).expanduser().is_dir():
        own = model.folder_dataset(Path(data).expanduser(), split, **options)
        if own is not None:
            return own
    spec = model.input_spec  # the images the family trains on; None: the dataset's own
    size = None if spec is None or spec.size is None else spec.size[0] if spec.size[0] == spec.size[1] else spec.size
    channels = spec.channels if spec is not None else None
    return get_dataset(data, split, size=size, channels=channels, **options)


def dataset_description(data: str) -> str:
    return dataset_facts(data)[0]


def dataset_facts(data: str) -> tuple[str, str | None]:
    """What a card says of ``data``: its description and its licence (``None`` when unknown: a folder of your own)."""
    name = known_dataset(data)
    if name in DATASET_FACTS:
        return DATASET_FACTS[name]
    if name is not None:
        entry = get_registry().dataset(name)
        return entry.description or name, entry.license
    return Path(str(data)).name, None


def train_recipe(
    family: str,
    *,
    data: str,
    out_dir: str | os.PathLike,
    data_options: dict[str, Any] | None = None,
    seed: int = 0,
    steps: int | None = None,
    batch_size: int | None = None,
    config: dict[str, Any] | None = None,
    device: str = "auto",
    amp: str = "no",
    resume: bool = False,
    overwrite: bool = False,
    name: str | None = None,
    license: str | None = None,
    command: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``family`` (or a named model's config) on ``data`` and write ``out_dir/final`` with its card.

    ``data`` is a dataset name or a folder; ``data_options`` go to the
    dataset (e.g. Pix2Pix's ``direction="BtoA"``). The card's licence is
    ``license``, else the data's own; genzoo never assumes one.
    """
    seed_everything(seed)  # the initial weights depend on the seed too
    model = create(family, **(config or {}))
    if not model.trains():
        raise ConfigError(f"the {model.family} family cannot be trained: it implements no training_step")
    defaults = dict(type(model).train_defaults)
    train_set = load_split(model, data, "train", data_options)
    try:
        test_set = load_split(model, data, "test", data_options)
    except DatasetError:
        test_set = None  # a folder without a test split: no held-out metrics
    model.adapt_to_data(train_set)  # a family may take facts from the data into its config (CLIP: the class names)
    steps = steps or defaults.get("steps", 1000)
    cfg = TrainConfig(
        steps=steps,
        batch_size=batch_size or defaults.get("batch_size", 64),
        seed=seed,
        device=device,
        amp=amp,
        out_dir=out_dir,
        resume=resume,
        overwrite=overwrite,
        checkpoint_every=max(steps // 4, 1),
        log_every=max(min(steps // 100, 50), 1),
        progress=progress,
    )
    result = train(model, train_set, cfg, eval_dataset=test_set)
    if result.final_path is not None and int(os.environ.get("RANK", "0")) == 0:  # rank 0 writes
        from .api import save

        dataset, data_license = dataset_facts(data)
        card = {
            **model.card,
            "description": f"{model.describe()}, trained by genzoo's recipe on {dataset}.",
            "dataset": dataset,
            "license": license or data_license,
            "load_as": os.fspath(result.final_path),  # the card's snippet loads this folder
            "command": command,
            "seed": seed,
            "steps": result.steps,
            "metrics": {k: round(float(v), 6) for k, v in result.metrics.items()},
            "tags": [known_dataset(data) or Path(str(data)).name],  # a name, never a local path
        }
        save(model, result.final_path, name=name or Path(out_dir).name, card=card)
    return result
