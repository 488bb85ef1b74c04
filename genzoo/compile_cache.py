"""torch.compile's artefacts kept in genzoo's cache, so that a second process need not compile again.

``genzoo.load(..., compile=True)`` compiles each of ``model.compile_targets()``
with ``nn.Module.compile`` and then puts :class:`CachedCall` in front of the
compiled call. The first time a target is called with a new input signature
(shapes, dtypes, devices, memory format, grad mode), ``CachedCall`` looks in
the cache for that signature's artefacts and, when they are there, hands them
to ``torch.compiler.load_cache_artifacts`` before the compiled call runs, so
Inductor and AOTAutograd find their graphs instead of making them; when they
are not, it calls, then writes what ``torch.compiler.save_cache_artifacts``
returns. Calls with a signature it has seen go straight to the compiled call.

Why torch's "mega-cache" and not AOTInductor packages: it keeps
``nn.Module.compile``'s behaviour (guards, recompiles for new shapes,
training mode and autograd still work), and its artefacts are portable
bytes, one file per (model, signature), that genzoo can place and key
itself. What it cannot skip is Dynamo's tracing, which each process redoes
(a few seconds for a ResNet generator, see ``docs/benchmarks.md``), and it
does not carry the C++ kernels Inductor builds on the CPU: while compiling,
genzoo points torch's own cache (``TORCHINDUCTOR_CACHE_DIR``, unless the
user set it) at the ``torch/`` sub-folder of its cache, so those survive too.

The cache folder is ``$GENZOO_CACHE/compile`` (else
``$XDG_CACHE_HOME/genzoo/compile``, else ``~/.cache/genzoo/compile``), one
sub-folder per model key: everything that invalidates compiled code (the
weights' sha256 as ``config.json`` records them, or a hash of the tensors'
bytes; the config; device, dtype, memory format; torch and genzoo versions),
written out in its ``key.json``. Artefacts hold pickles and native code that
torch loads, like torch's own Inductor cache in ``/tmp``: the folder is
created private to the user and is never filled from anything downloaded.
Caching is an optimisation, never an error: a cache that cannot be read or
written is a :class:`~genzoo.errors.GenzooWarning` and the compile goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from .errors import GenzooWarning
from .version import __version__

ARTIFACT_SUFFIX = ".megacache"


class CompileCacheWarning(GenzooWarning):
    """The compile cache could not be read or written; genzoo compiled without it."""


def cache_dir() -> Path:
    """Where compile artefacts live: ``$GENZOO_CACHE/compile``, else the XDG cache home's ``genzoo/compile``."""
    if root := os.environ.get("GENZOO_CACHE"):
        return Path(root).expanduser() / "compile"
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "genzoo" / "compile"


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def weights_digest(model: nn.Module, meta: Mapping[str, Any] | None = None, files: list[str] | None = None) -> str:
    """A sha256 naming the weights: from ``meta["sha256"]`` of ``files`` when all are recorded, else of the tensors.

    The recorded hashes cost nothing; hashing the tensors' bytes (converted
    upstream weights, a model built in memory) reads every weight once.
    """
    hashes = (meta or {}).get("sha256") or {}
    if files and all(f in hashes for f in files):
        return _digest(json.dumps({f: hashes[f] for f in sorted(files)}))
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.device.type == "meta" or not t.numel():
            continue
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def model_key(model: nn.Module, weights: str, channels_last: bool = False) -> dict[str, Any]:
    """Everything that invalidates a model's compiled code, as plain values (written to ``key.json``)."""
    config = model.config_dict() if hasattr(model, "config_dict") else {}
    first = next(iter(model.parameters()), None)
    return {
        "family": getattr(model, "family", "") or type(model).__name__,
        "weights": weights,
        "config": _digest(json.dumps(config, sort_keys=True, default=str)),
        "device": str(first.device) if first is not None else "cpu",
        "dtype": str(first.dtype) if first is not None else "none",
        "channels_last": channels_last,
        "torch": torch.__version__,
        "genzoo": __version__,
    }


def key_folder(key: Mapping[str, Any], root: Path | None = None) -> Path:
    """The cache sub-folder of one model key: ``<family>-<first 16 hex of the key's sha256>``."""
    return (root or cache_dir()) / f"{key['family']}-{_digest(json.dumps(key, sort_keys=True))[:16]}"


def signature(args: tuple, kwargs: Mapping[str, Any]) -> tuple:
    """What a call's compiled graph depends on: each tensor's shape, dtype, device and layout, the grad mode.

    Other values enter by type and short repr: Dynamo specialises on them too.
    """

    def one(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            layout = "cl" if v.dim() == 4 and v.is_contiguous(memory_format=torch.channels_last) and not v.is_contiguous() else ""
            return ("T", tuple(v.shape), str(v.dtype), v.device.type, layout, v.requires_grad)
        if isinstance(v, (list, tuple)):
            return tuple(one(x) for x in v)
        return (type(v).__name__, repr(v)[:64])

    grad = ("inference" if torch.is_inference_mode_enabled() else "grad" if torch.is_grad_enabled() else "no_grad")
    return (one(args), tuple(sorted((k, one(v)) for k, v in kwargs.items())), grad)


def load_artifacts(path: Path) -> bool:
    """Hand a saved artefact file to torch's caches; ``False`` when there is none or torch cannot use it."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # a file in the cache's way is reported when writing
        return False
    except OSError as exc:
        warnings.warn(f"cannot read compile cache {path}: {exc}; compiling without it", CompileCacheWarning, stacklevel=3)
        return False
    try:
        info = torch.compiler.load_cache_artifacts(data)
    except Exception as exc:  # a file from another torch build, or damaged: torch raises its own types
        warnings.warn(f"compile cache {path} is not usable ({exc}); compiling again and replacing it", CompileCacheWarning, stacklevel=3)
        return False
    return info is not None


def save_artifacts(path: Path) -> bool:
    """Write the artefacts torch has made in this process to ``path`` (atomically); ``False`` if there were none."""
    saved = torch.compiler.save_cache_artifacts()
    if not saved or not saved[0]:
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(saved[0])
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warnings.warn(f"cannot write compile cache {path}: {exc}; set GENZOO_CACHE to a writable folder", CompileCacheWarning, stacklevel=3)
        return False
    return True


_TORCH_DEFAULT_DIR: str | None = None


@contextlib.contextmanager
def kernel_dir(root: Path) -> Iterator[None]:
    """While compiling, point torch's Inductor cache at ``root/torch`` unless the user chose one.

    The mega-cache carries Inductor's generated code, not the C++ kernels it
    builds on the CPU: those land in ``TORCHINDUCTOR_CACHE_DIR`` (``/tmp``
    by default, gone after a reboot), and rebuilding them with the C++
    compiler is most of a second process's first call. Kept in genzoo's
    cache they survive. A ``TORCHINDUCTOR_CACHE_DIR`` set by the user wins.
    """
    global _TORCH_DEFAULT_DIR
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")  # read first: importing torch._inductor may set it
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    _TORCH_DEFAULT_DIR = _TORCH_DEFAULT_DIR or os.path.abspath(default_cache_dir())
    if before is not None and os.path.abspath(before) != _TORCH_DEFAULT_DIR:
        yield  # the user's choice (torch itself sets the variable to its default on first use)
        return
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(root / "torch")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before


class ModelCache:
    """One model's cache folder, its key computed on first use (hashing tensors can take a moment)."""

    def __init__(
        self, model: nn.Module, meta: Mapping[str, Any] | None = None, files: list[str] | None = None,
        root: Path | None = None, channels_last: bool = False,
    ):  # fmt: skip
        self._model, self._meta, self._files, self._channels_last = model, meta, files, channels_last
        #: The compile cache folder (all models); torch's kernels go to its ``torch/`` sub-folder.
        self.root = root or cache_dir()
        self._folder: Path | None = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            key = model_key(self._model, weights_digest(self._model, self._meta, self._files), self._channels_last)
            self._folder = key_folder(key, self.root)
            try:
                self._folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._folder.mkdir(exist_ok=True, mode=0o700)
                if not (self._folder / "key.json").exists():
                    (self._folder / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True) + "\n")
            except OSError as exc:
                warnings.warn(f"cannot write compile cache {self._folder}: {exc}", CompileCacheWarning, stacklevel=4)
            self._model = None  # the key is all it needed; do not keep the model alive from its own targets
        return self._folder


class CachedCall:
    """Stands in front of a module's compiled call: loads or saves artefacts once per new signature."""

    def __init__(self, compiled: Callable[..., Any], cache: ModelCache, target: str):
        self.compiled, self.cache, self.target = compiled, cache, target
        self.seen: dict[tuple, Path] = {}
        #: What happened per signature: "hit" (artefacts loaded), "saved" (compiled and written) or "miss".
        self.events: list[str] = []

    def artifact_path(self, sig: tuple) -> Path:
        return self.cache.folder / f"{self.target}-{_digest(repr(sig))[:16]}{ARTIFACT_SUFFIX}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        sig = signature(args, kwargs)
        if sig in self.seen:
            return self.compiled(*args, **kwargs)
        path = self.seen[sig] = self.artifact_path(sig)
        with kernel_dir(self.cache.root):
            hit = load_artifacts(path)
            out = self.compiled(*args, **kwargs)
            self.events.append("hit" if hit else "saved" if save_artifacts(path) else "miss")
        return out


def compile_cached(
    model: nn.Module, *, meta: Mapping[str, Any] | None = None, files: list[str] | None = None,
    root: Path | None = None, channels_last: bool = False,
) -> list[CachedCall]:
    """Compile each of ``model.compile_targets()`` in place, its artefacts kept in the compile cache.

    ``meta``/``files``: the checkpoint's ``config.json`` and the component files
    the model was loaded from, whose recorded sha256 key the cache without
    hashing the tensors; ``channels_last``: the weights were made channels-last.
    Returns the :class:`CachedCall` of each target.
    """
    cache = ModelCache(model, meta, files, root, channels_last)
    calls = []
    for i, sub in enumerate(model.compile_targets()):
        sub.compile()
        call = CachedCall(sub._compiled_call_impl, cache, f"{i}-{type(sub).__name__}")
        sub._compiled_call_impl = call  # nn.Module.__call__ calls this when set (what .compile() sets)
        calls.append(call)
    return calls
