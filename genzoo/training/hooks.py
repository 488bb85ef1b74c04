"""Checks on what a family model provides before the loop relies on it.

``train()`` calls the family's ``configure_optimizers`` and optional
``configure_schedulers``; these helpers normalise what they return (a bare
optimiser is named ``"main"``, a bare scheduler steps per step) and turn
mistakes (a parameter in two optimisers, a scheduler keyed by an unknown
name, a model without ``training_step``) into a clear ConfigError up front.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ..errors import ConfigError
from ..model import GenzooModel
from .config import TrainConfig


DEFAULT_OPTIMIZER = "main"


def _check_model(model: Any) -> None:
    if not isinstance(model, GenzooModel):
        raise ConfigError(f"train() needs a genzoo model (a GenzooModel subclass), got {type(model).__name__}")
    missing = [m for m in ("configure_optimizers", "training_step") if not model.implements(m)]
    if missing:
        raise ConfigError(
            f"{type(model).__name__} ({model.family or 'no family'}) cannot be trained: it does not implement "
            f"{' and '.join(missing)}. A family model defines configure_optimizers(cfg) and "
            "training_step(batch, ctx); see docs/training.md"
        )


def _optimizers(model: GenzooModel, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    out = model.configure_optimizers(cfg)
    if isinstance(out, torch.optim.Optimizer):
        out = {DEFAULT_OPTIMIZER: out}
    if not isinstance(out, Mapping) or not out or not all(isinstance(o, torch.optim.Optimizer) for o in out.values()):
        raise ConfigError(
            f"{type(model).__name__}.configure_optimizers must return a non-empty dict of name -> "
            f"torch.optim.Optimizer, got {out!r}"
        )
    seen: dict[int, str] = {}
    for name, opt in out.items():
        for group in opt.param_groups:
            for p in group["params"]:
                if id(p) in seen and seen[id(p)] != name:
                    raise ConfigError(
                        f"a parameter is in both optimisers {seen[id(p)]!r} and {name!r}; "
                        "each parameter must belong to one optimiser"
                    )
                seen[id(p)] = name
    return dict(out)


def _schedulers(model: GenzooModel, optimizers: dict[str, torch.optim.Optimizer], cfg: TrainConfig) -> dict[str, tuple[Any, str]]:
    out = model.configure_schedulers(optimizers, cfg) or {}
    result: dict[str, tuple[Any, str]] = {}
    for name, value in dict(out).items():
        if name not in optimizers:
            raise ConfigError(
                f"configure_schedulers returned a scheduler for {name!r}, which is not an optimiser name "
                f"({', '.join(optimizers)}); key each scheduler by the optimiser it drives"
            )
        sched, interval = value if isinstance(value, tuple) else (value, "step")
        if interval not in ("step", "epoch"):
            raise ConfigError(f"scheduler {name!r}: interval must be 'step' or 'epoch', got {interval!r}")
        if not callable(getattr(sched, "step", None)) or not callable(getattr(sched, "state_dict", None)):
            raise ConfigError(f"scheduler {name!r} is not an LRScheduler (got {type(sched).__name__})")
        result[name] = (sched, interval)
    return result
