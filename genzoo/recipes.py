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
from .data import DatasetError, get_dataset
from .training import TrainConfig, TrainResult, seed_everything, train

DATASET_FACTS = {
    "digits": {
        "dataset": "scikit-learn digits (UCI optdigits)",
        "dataset_note": "1,797 8x8 handwritten digits shipped with scikit-learn; fixed 80/20 train/test split",
    }
}


def train_recipe(
    family: str,
    *,
    data: str,
    out_dir: str | os.PathLike,
    seed: int = 0,
    steps: int | None = None,
    batch_size: int | None = None,
    config: dict[str, Any] | None = None,
    device: str = "auto",
    amp: str = "no",
    resume: bool = False,
    overwrite: bool = False,
    name: str | None = None,
    command: str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``family`` (or a named model's config) on ``data`` and write ``out_dir/final`` with its card."""
    seed_everything(seed)  # the initial weights depend on the seed too
    model = create(family, **(config or {}))
    defaults = dict(getattr(type(model), "train_defaults", {}) or {})
    size = getattr(model.config, "image_size", None)
    channels = getattr(model.config, "channels", None)
    train_set = get_dataset(data, "train", size=size, channels=channels)
    try:
        test_set = get_dataset(data, "test", size=size, channels=channels)
    except DatasetError:
        test_set = None  # a folder without a test split: no held-out metrics
    adapt = getattr(model, "adapt_to_data", None)
    if callable(adapt):  # a family may take facts from the data into its config (CLIP: the class names)
        adapt(train_set)
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

        facts = DATASET_FACTS.get(str(data), {"dataset": Path(str(data)).name})
        card = {
            **model.card,
            "description": f"{model.describe()}, trained by genzoo's recipe on {facts['dataset']}.",
            "dataset": facts["dataset"],
            "license": "mit",
            "command": command,
            "seed": seed,
            "steps": result.steps,
            "metrics": {k: round(float(v), 6) for k, v in result.metrics.items()},
            "tags": [str(data)],
        }
        save(model, result.final_path, name=name or Path(out_dir).name, card=card)
    return result
