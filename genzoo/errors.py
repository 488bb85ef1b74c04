"""Exceptions raised by genzoo.

Every error a user can provoke (a bad name, a bad file, bad input) is a
:class:`GenzooError` whose message says what was wrong and what to do about
it. Subclasses also derive from the matching builtin (``KeyError``,
``ValueError``, ...) so code written against plain Python keeps working.
"""

from __future__ import annotations


class GenzooError(Exception):
    """Base class of all genzoo errors."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


class UnknownModelError(GenzooError, KeyError):
    """A name is neither a registered model, a family, a Hub repo nor a folder."""


class UnknownFamilyError(GenzooError, KeyError):
    """A family name that no installed plugin provides."""


class DuplicateNameError(GenzooError, ValueError):
    """Two plugins (or one plugin twice) registered the same family or model name."""


class ConfigError(GenzooError, ValueError):
    """A model configuration has unknown fields or invalid values."""


class CheckpointError(GenzooError, ValueError):
    """A checkpoint folder is missing, corrupt, truncated or does not fit the model."""


class FormatVersionError(CheckpointError):
    """A checkpoint was written by a newer genzoo than the one installed."""


class MissingComponentError(GenzooError, LookupError):
    """A component was asked for that the model was loaded without.

    Not an ``AttributeError``: a property that touches a missing component
    would turn that into "object has no attribute <property>" and hide the
    real message.
    """


class ShapeError(GenzooError, ValueError):
    """A tensor or image does not have the shape a component expects."""


class HubError(GenzooError, OSError):
    """Talking to the Hugging Face Hub (or a compatible server) failed."""


class OfflineError(HubError):
    """Offline mode is on and the files are not in the local cache."""


class DownloadError(GenzooError, OSError):
    """Downloading upstream weights from a plain URL failed (unreachable, HTTP error, wrong checksum)."""


class PluginError(GenzooError, RuntimeError):
    """A plugin failed to import or to register its families and models."""


class ImageFileError(GenzooError, OSError):
    """An image file is missing, unreadable, or cannot be written in the requested format."""


class DatasetError(GenzooError, ValueError):
    """A dataset name, split, size or folder is invalid (e.g. a folder with no images)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset folder does not exist, or a name is neither a known dataset nor a folder."""


class MetricError(GenzooError, ValueError):
    """A metric got inputs it cannot score: too few samples, NaN/inf values, mismatched sets."""


class GenzooPluginWarning(UserWarning):
    """A plugin (or one of its bundled models) failed to load; the rest of the zoo still works."""


class IntegrityError(CheckpointError):
    """A checkpoint file does not match the sha256 (or size) its config.json records."""


class DtypeError(GenzooError, TypeError):
    """A model's floating parameters do not share one dtype, so it has no single ``model.dtype``."""


class GenzooWarning(UserWarning):
    """Base class of genzoo's warnings about questionable but usable input."""


class NonFiniteWeightsWarning(GenzooWarning):
    """Weights being loaded, converted or saved hold NaN or Inf values."""


class ExportError(GenzooError, ValueError):
    """An export cannot be made or trusted (missing extra, a graph that differs from PyTorch, a bad target folder)."""
