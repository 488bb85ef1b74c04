"""genzoo: a zoo of generative models for PyTorch.

    import genzoo
    genzoo.list_models("vae-*")
    model = genzoo.load("vae-digits", device="cuda", dtype="bf16")

Importing genzoo is cheap: the torch-heavy API is imported on first use, so
plugins (which import :data:`hookimpl` from here) and `genzoo list` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    DuplicateNameError,
    FormatVersionError,
    GenzooError,
    HubError,
    ImageFileError,
    MetricError,
    MissingComponentError,
    OfflineError,
    PluginError,
    ShapeError,
    UnknownFamilyError,
    UnknownModelError,
)
from .hookspecs import hookimpl
from .registry import BundledSource, HubSource, UrlSource
from .version import __version__

_LAZY = {
    "load": "api",
    "create": "api",
    "save": "api",
    "push_to_hub": "api",
    "list_models": "api",
    "list_families": "api",
    "info": "api",
    "ModelInfo": "api",
    "GenzooModel": "model",
    "InputSpec": "model",
    "TaskSpec": "model",
    "task": "model",
    "testing": None,
    "hub": None,
    "images": None,
    "plugins": None,
    "data": None,
    "train": "training",
    "TrainConfig": "training",
}

if TYPE_CHECKING:  # pragma: no cover
    from .api import ModelInfo, create, info, list_families, list_models, load, push_to_hub, save
    from . import data, images, plugins, testing
    from .model import GenzooModel, InputSpec, TaskSpec, task
    from .training import TrainConfig, train


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'genzoo' has no attribute {name!r}")
    module = _LAZY[name]
    if module is None:  # a submodule: genzoo.testing, ...
        value = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    *_LAZY,
    "hookimpl",
    "HubSource",
    "BundledSource",
    "UrlSource",
    "GenzooError",
    "UnknownModelError",
    "UnknownFamilyError",
    "DuplicateNameError",
    "ConfigError",
    "DatasetError",
    "ImageFileError",
    "MetricError",
    "CheckpointError",
    "FormatVersionError",
    "MissingComponentError",
    "ShapeError",
    "HubError",
    "OfflineError",
    "PluginError",
    "__version__",
]
