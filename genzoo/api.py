"""The public API: load, create, save, push_to_hub, list_models, list_families, info.

``load`` takes three kinds of names, tried in this order: a registered model
name (or ``PLUGIN:NAME``, which also reaches a model that lost a name clash),
a local genzoo folder, a Hub repo id (``user/repo``, ``user/repo@rev``,
``hf://user/repo@rev``). The result is a family model on the requested
device and dtype, in eval mode.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from . import checkpoint
from .errors import ConfigError, UnknownFamilyError, UnknownModelError
from .model import GenzooModel
from .plugins import get_registry
from .registry import BundledSource, HubSource, ModelEntry, UrlSource, split_qualified

_DTYPES = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}  # fmt: skip


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of fp32, fp16, bf16") from None


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The requested device, falling back to the CPU (with a warning) when it is absent."""
    if device is None or device == "auto":
        if device == "auto" and torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(f"CUDA is not available; loading on the CPU instead of {device}", stacklevel=3)
        return torch.device("cpu")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        warnings.warn(f"MPS is not available; loading on the CPU instead of {device}", stacklevel=3)
        return torch.device("cpu")
    return dev


def _finish(
    model: GenzooModel, *, compile: bool, channels_last: bool, meta: Mapping[str, Any] | None = None, files: list[str] | None = None
) -> GenzooModel:
    """Channels-last, then ``compile_targets()`` compiled with their artefacts in genzoo's compile cache.

    ``meta``/``files`` (the checkpoint's config.json and the files read) let
    the cache key use the recorded sha256 instead of hashing the tensors.
    """
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        from .compile_cache import compile_cached  # torch._dynamo is imported when the first call compiles

        compile_cached(model, meta=meta, files=files, channels_last=channels_last)
    return model


# -- names -----------------------------------------------------------------
def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name and Path(name).exists() or Path(name).is_dir()


def _resolve_entry(name: str) -> ModelEntry | None:
    """The registry entry ``name`` means: a registered model name or ``PLUGIN:NAME``; ``None`` otherwise.

    A ``PLUGIN:NAME`` that reaches nothing (and is no folder) raises here with
    suggestions: it cannot be a Hub repo id, so trying further would only hide
    the typo.
    """
    registry = get_registry()
    entry = registry.find("model", name)
    if entry is None and split_qualified(name) and registry.find("family", name) is None and not Path(name).exists():
        registry.model(name)  # raises UnknownModelError naming the plugin or the name
    return entry


def load(
    name: str | os.PathLike,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    components: Iterable[str] | str | None = None,
    strict: bool = True,
    compile: bool = False,
    channels_last: bool = False,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
    offline: bool | None = None,
    verify: bool = False,
) -> GenzooModel:
    """Load a model by registered name, local folder or Hub repo id.

    ``components`` picks component groups (e.g. ``["generator"]``; only their
    files are read or downloaded), ``"inference"`` picks what the family needs
    for inference, ``None`` loads all. ``dtype`` is ``"fp32"``, ``"fp16"``,
    ``"bf16"`` or a torch dtype; ``None`` means float32, whatever the files
    store (integer buffers keep their type). A missing accelerator falls back
    to the CPU. ``verify=True`` checks every file read against the sha256 its
    config.json records (:class:`~genzoo.errors.IntegrityError` on a mismatch)
    and warns about NaN/Inf weights; the default compares sizes only.
    ``compile=True`` compiles what the family's ``compile_targets()`` names
    (torch.compile, on the first call) and keeps the compiled artefacts in
    genzoo's cache (``$GENZOO_CACHE/compile``, else ``~/.cache/genzoo/compile``),
    keyed by weights, config, device, dtype, input shape and torch/genzoo
    versions, so the next process's first call reuses them
    (:mod:`genzoo.compile_cache`).
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    text = os.fspath(name)
    registry = get_registry()
    tried: list[str] = []
    entry = _resolve_entry(text)

    if entry is not None and isinstance(entry.source, HubSource) and entry.source.layout:
        from .convert import load_entry  # upstream weights, converted on load

        model = load_entry(
            entry, revision=revision, components=components, device=dev, dtype=dt,
            cache_dir=cache_dir, token=token, offline=offline,
        )  # fmt: skip
        model.source = text
        return _finish(model, compile=compile, channels_last=channels_last)
    if entry is not None:
        folder, meta, chosen = _fetch_entry(entry, revision, components, cache_dir, token, offline)
        source = text
    elif _looks_like_path(text):
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise UnknownModelError(f"{text!r} looks like a path, but no such folder exists")
        meta = checkpoint.read_meta(folder)
        chosen = checkpoint.select_components(meta, components, _inference(meta))
        source = str(folder)
    else:
        tried.append("registered names" + _suggestion(registry.suggest(text)))
        tried.append(f"local folders (./{text} does not exist)")
        ref = _hub().parse_repo_ref(text)
        if ref is None:
            tried.append("Hub repo ids (they look like 'user/repo' or 'user/repo@revision')")
            raise UnknownModelError(
                f"cannot load {text!r}: it is not one of the " + "; nor ".join(tried) + ". Run `genzoo list` to see models."
            )
        repo_id, rev = ref
        if rev and revision and rev != revision:
            raise ConfigError(f"{text!r} pins revision {rev!r} but revision={revision!r} was also given")
        try:
            folder, meta, chosen = _hub().download(
                repo_id,
                rev or revision,
                components,
                inference_components=None,
                cache=cache_dir,
                token=token,
                offline=offline,
            )
        except Exception as exc:
            exc.add_note(f"genzoo tried {text!r} as: " + "; ".join(tried) + "; then as a Hub repo id.")
            raise
        source = f"{repo_id}@{rev or revision or 'main'}"
    # An entry's own family: for 'PLUGIN:NAME' of a family that lost a clash, that plugin's family.
    model_class = registry.family(entry.family if entry is not None else meta["family"]).model_class()
    model = checkpoint.load_folder(
        folder, model_class, meta, components=chosen, device=dev, dtype=dt, strict=strict, verify=verify
    )
    model.source = source
    files = [meta["components"][g] for g in chosen]
    return _finish(model, compile=compile, channels_last=channels_last, meta=meta, files=files)


def _hub():
    """:mod:`genzoo.hub`, imported only by calls that need the Hub: it imports huggingface_hub,
    which would otherwise be most of the time of a cold ``load`` of a local folder."""
    from . import hub

    return hub


def _suggestion(names: list[str]) -> str:
    return f" (closest: {', '.join(names)})" if names else ""


def _inference(meta: dict[str, Any]) -> tuple[str, ...] | None:
    try:
        return get_registry().family(meta["family"]).model_class().inference_components
    except UnknownFamilyError:
        return None


def _fetch_entry(
    entry: ModelEntry,
    revision: str | None,
    components: Iterable[str] | str | None,
    cache_dir: str | os.PathLike | None,
    token: str | None,
    offline: bool | None,
) -> tuple[Path, dict[str, Any], list[str]]:
    inference = get_registry().family(entry.family).model_class().inference_components
    if isinstance(entry.source, BundledSource):
        folder = entry.source.folder()
        meta = checkpoint.read_meta(folder)
        return folder, meta, checkpoint.select_components(meta, components, inference)
    if isinstance(entry.source, HubSource):
        return _hub().download(
            entry.source.repo_id,
            revision or entry.source.revision,
            components,
            inference_components=inference,
            cache=cache_dir,
            token=token,
            offline=offline,
        )
    if isinstance(entry.source, UrlSource):  # the authors' file: downloaded and converted once, then a folder
        from .convert import fetch_url_folder

        folder = fetch_url_folder(entry, cache=cache_dir, offline=offline)
        meta = checkpoint.read_meta(folder)
        return folder, meta, checkpoint.select_components(meta, components, inference)
    raise UnknownModelError(
        f"model {entry.name!r} has no weights (no source); use genzoo.create({entry.name!r}) for a random init"
    )


def create(
    name: str,
    *,
    pretrained: bool = False,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    **config: Any,
) -> GenzooModel:
    """A randomly initialised model of a family (or of a named model's config), with overrides.

    ``pretrained=True`` (timm's habit) is :func:`load`: the named model's
    weights; config overrides do not apply to trained weights and are refused.
    """
    if pretrained:
        if config:
            raise ConfigError(
                f"create({name!r}, pretrained=True) loads trained weights, which fix the config; "
                f"drop {', '.join(sorted(config))}, or use pretrained=False for a new model with them"
            )
        return load(name, device=device, dtype=dtype)
    registry = get_registry()
    if (found := registry.find("family", name)) is not None:
        family, base = found, {}
    elif (entry := _resolve_entry(name)) is not None:
        family, base = registry.family(entry.family), dict(entry.config)
    else:
        raise UnknownModelError(
            f"unknown family or model {name!r}.{_did_you_mean(registry.suggest(name))} "
            f"Families: {', '.join(registry.list_families()) or 'none'}."
        )
    model_class = family.model_class()
    model = model_class(model_class.make_config(base, **config))
    dt = resolve_dtype(dtype)
    return model.to(device=resolve_device(device), dtype=dt) if dt else model.to(resolve_device(device))


def _did_you_mean(names: list[str]) -> str:
    return f" Did you mean: {', '.join(names)}?" if names else ""


def save(model: GenzooModel, path: str | os.PathLike, *, name: str | None = None, card: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a genzoo folder (config.json, one safetensors per component, README.md).

    ``path`` may be new, empty (``"."`` included) or a genzoo checkpoint: genzoo
    replaces only the files its config.json lists and keeps everything else
    there; any other non-empty folder is refused with a ``CheckpointError``.
    A group the model was loaded without keeps the target's file when the
    target holds the same family and config. An interrupted save is completed
    or discarded on the next access (docs/checkpoints.md, "Saving safely").
    """
    if not isinstance(model, GenzooModel):
        raise TypeError(f"genzoo.save needs a genzoo model, got {type(model).__name__}")
    return checkpoint.write_folder(model, path, name=name, card=card)


def push_to_hub(
    model: GenzooModel | str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    commit_message: str | None = None,
    revision: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
    card: dict[str, Any] | None = None,
) -> Any:
    """Save ``model`` (or take a saved folder) and upload it to ``repo_id`` with its card."""
    with contextlib.ExitStack() as stack:
        folder = model
        if isinstance(model, GenzooModel):  # save into a temporary folder first
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="genzoo-push-"))
            folder = save(model, Path(tmp) / repo_id.split("/")[-1], name=repo_id, card=card)
        return _hub().push_folder(
            folder, repo_id, private=private, commit_message=commit_message,
            revision=revision, token=token, create_pr=create_pr,
        )  # fmt: skip


def list_models(pattern: str | None = None, *, family: str | None = None) -> list[str]:
    """Registered model names, sorted; ``pattern`` is an fnmatch pattern (``"cyclegan-*"``)."""
    return get_registry().list_models(pattern, family=family)


def list_families() -> list[str]:
    """Families provided by the installed plugins, sorted."""
    return get_registry().list_families()


@dataclass
class ModelInfo:
    """What `genzoo info` shows about a name."""

    name: str
    kind: str  # "model", "family", "folder" or "hub"
    family: str
    plugin: str | None = None
    source: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: Task names, the default first (declared on the family's model class with ``genzoo.task``).
    tasks: list[str] = field(default_factory=list)
    #: Each task's declaration: name, method, default, returns, description, options.
    task_specs: list[dict[str, Any]] = field(default_factory=list)
    #: What the model's tasks take (channels, size, value range, normalisation); ``None``: no image input.
    input_spec: dict[str, Any] | None = None
    models: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _family_models(family: Any) -> list[str]:
    """A family's named models: the owner's by plain name; a family that lost a clash, its models as PLUGIN:NAME."""
    registry = get_registry()
    if registry.families.get(family.name) is family:
        return registry.list_models(family=family.name)
    qualified = f"{family.plugin}:{family.name}"
    return sorted(k for k, e in registry.shadowed["model"].items() if e.family == qualified)


def info(name: str) -> ModelInfo:
    """Family, weight source (repo@revision or bundled path), config and card facts of a name.

    Takes a registered model or family name, a local genzoo folder, or a Hub
    repo id (only its ``config.json`` is downloaded).
    """
    registry = get_registry()
    if (e := _resolve_entry(name)) is not None:
        card = e.card()
        return ModelInfo(
            name=name, kind="model", family=e.family, plugin=e.plugin,
            source=str(e.source) if e.source else None, config=dict(e.config),
            card=card, description=e.description, **_contract_facts(e.family, e.config),
        )  # fmt: skip
    if (f := registry.find("family", name)) is not None:
        return ModelInfo(
            name=name, kind="family", family=name, plugin=f.plugin, description=f.description,
            models=_family_models(f), card={"paper": f.paper} if f.paper else {},
            **_contract_facts(name, {}),
        )  # fmt: skip
    if Path(name).is_dir():
        meta, kind, source = checkpoint.read_meta(name), "folder", str(Path(name))
    elif (ref := _hub().parse_repo_ref(name)) is not None:
        folder, meta, _ = _hub().download(ref[0], ref[1], components=[])  # config.json only
        kind, source = "hub", f"hf://{ref[0]}@{folder.name}"
    else:
        registry.model(name)  # raises UnknownModelError with suggestions
        raise AssertionError("unreachable")
    card = dict(meta.get("card") or {})
    facts = _contract_facts(meta["family"], meta["config"]) if meta["family"] in registry.families else {}
    return ModelInfo(
        name=meta.get("name") or name, kind=kind, family=meta["family"], source=source,
        config=dict(meta["config"]), card=card, description=card.get("description", ""), **facts,
    )  # fmt: skip


def _contract_facts(family: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Tasks and input spec of ``family`` with ``config``: read from the model class, built on the meta device."""
    from .model import meta_device

    cls = get_registry().family(family).model_class()
    specs = cls.task_specs()
    with meta_device():
        spec = cls(cls.make_config(config)).input_spec
    return {
        "tasks": list(specs),
        "task_specs": [s.as_dict() for s in specs.values()],
        "input_spec": spec.as_dict() if spec is not None else None,
    }
