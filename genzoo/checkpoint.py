"""The genzoo folder format: a folder that is also a Hub repo.

::

    config.json              format version, genzoo version, family, config,
                             component files, card facts
    <group>.safetensors      one file per component group
    README.md                model card (YAML front matter for the Hub)
    (extra files the family needs, e.g. tokenizer files)

Writes go to a temporary folder next to the target and are renamed into
place, so a failure never leaves a half-written checkpoint. Loading builds
the model on the meta device and assigns tensors read straight to the target
device and dtype; nothing on this path unpickles.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .card import render_card
from .config import validate_meta
from .errors import CheckpointError, FormatVersionError, MissingComponentError
from .model import GenzooModel, meta_device
from .version import __version__

FORMAT = "genzoo"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"


def component_file(group: str) -> str:
    return f"{group}.safetensors"


# -- reading ---------------------------------------------------------------
def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """Parse and validate ``config.json`` of a genzoo folder."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a genzoo checkpoint: it has no {CONFIG_FILE}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupt ({exc}); re-download or re-save the checkpoint") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a genzoo config (no \"format\": \"genzoo\"). If the folder or repo holds "
            "another library's weights, convert it: genzoo convert FAMILY SOURCE -o DIR"
        )
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path} has no integer format_version")
    if version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{folder} uses checkpoint format v{version} (written by genzoo "
            f"{meta.get('genzoo_version', '?')}), but this genzoo ({__version__}) reads up to "
            f"v{FORMAT_VERSION}. Upgrade genzoo: pip install -U genzoo"
        )
    for key in ("family", "config", "components"):
        if key not in meta:
            raise CheckpointError(f"{path} lacks the required key {key!r}")
    return validate_meta(meta, str(path))  # their types: family a name, components group -> file (genzoo.config)


def select_components(meta: Mapping[str, Any], components: Iterable[str] | str | None, inference: tuple[str, ...] | None = None) -> list[str]:
    """Resolve a ``components`` request against what a checkpoint holds."""
    available = list(meta["components"])
    if components is None:
        return available
    if components == "inference":
        # the inference groups this checkpoint has (a GAN trained without EMA has no
        # generator_ema); with none of them, everything
        components = [g for g in (inference or ()) if g in available] or available
    elif isinstance(components, str):
        components = [components]
    wanted = list(dict.fromkeys(components))
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise MissingComponentError(
            f"this {meta['family']} checkpoint has no component {', '.join(map(repr, unknown))}; "
            f"it has: {', '.join(available)}"
        )
    return wanted


def _read_tensors(path: Path, expected_size: int | None, device: torch.device) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path.name} is missing from {path.parent}; the checkpoint is incomplete")
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise CheckpointError(
            f"{path} is {size} bytes but config.json records {expected_size}: the file is truncated "
            "or corrupt. Delete it and download or save the checkpoint again."
        )
    try:
        return load_file(path, device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({exc}): it is truncated or corrupt. "
            "Delete it and download or save the checkpoint again."
        ) from exc


def _mismatch_report(expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [
        f"{k}: checkpoint {tuple(got[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(got))
        if tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    return missing, unexpected, shapes


def _format_list(title: str, items: list[str], limit: int = 8) -> str:
    if not items:
        return ""
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return f"\n  {title}: {', '.join(items[:limit])}{more}"


def load_state_into(
    model: GenzooModel,
    tensors: Mapping[str, torch.Tensor],
    groups: list[str],
    *,
    strict: bool = True,
    where: str = "checkpoint",
) -> None:
    """Assign ``tensors`` (for ``groups``) into a meta-built ``model``.

    Checks keys and shapes first and reports every problem at once. With
    ``strict=False`` keys the checkpoint lacks get a fresh initialisation.
    """
    expected_by_group = model.split_state_dict()
    expected = {k: v for g in groups for k, v in expected_by_group[g].items()}
    missing, unexpected, shapes = _mismatch_report(expected, tensors)
    if shapes or (strict and (missing or unexpected)):
        raise CheckpointError(
            f"{where} does not fit the {model.family} model built from its config:"
            + _format_list("missing keys", missing)
            + _format_list("unexpected keys", unexpected)
            + _format_list("shape mismatches", shapes)
        )
    model.drop_components([g for g in expected_by_group if g not in groups])
    model.load_state_dict({k: v for k, v in tensors.items() if k in expected}, strict=False, assign=True)
    if missing:  # non-strict: initialise what the checkpoint lacks
        ref = next(iter(tensors.values()), None)
        fresh = type(model)(model.config).state_dict()
        fill = {k: fresh[k].to(ref.device if ref is not None else "cpu") for k in missing}
        model.load_state_dict(fill, strict=False, assign=True)
    model.materialize_buffers()
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(
            f"{type(model).__name__} still has uninitialised tensors after loading: {left[:5]}; "
            "the family must recompute non-persistent buffers in materialize_buffers()"
        )


def load_folder(
    folder: str | os.PathLike,
    model_class: type[GenzooModel],
    meta: Mapping[str, Any],
    *,
    components: list[str],
    device: torch.device,
    dtype: torch.dtype | None = None,
    strict: bool = True,
) -> GenzooModel:
    """Build ``model_class`` on the meta device and load the chosen components."""
    folder = Path(folder)
    config = model_class.make_config(meta["config"])
    with meta_device():
        model = model_class(config)
    tensors: dict[str, torch.Tensor] = {}
    sizes = meta.get("sizes", {})
    for group in components:
        file = meta["components"][group]
        part = _read_tensors(folder / file, sizes.get(file), device)
        if dtype is not None:
            part = {k: v.to(dtype) if v.is_floating_point() else v for k, v in part.items()}
        tensors.update(part)
    load_state_into(model, tensors, components, strict=strict, where=str(folder))
    model.card = dict(meta.get("card") or {})
    model.name = meta.get("name")
    if model_class.extra_files:
        model.load_extra_files(folder)
    return model.eval()


# -- writing ---------------------------------------------------------------
def _detach_for_save(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors; shared storage (tied weights) is copied, as safetensors requires."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for key, value in state.items():
        t = value.detach().to("cpu").contiguous()
        ptr = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else None
        if ptr is not None and ptr in seen:
            t = t.clone()
        elif ptr is not None:
            seen.add(ptr)
        out[key] = t
    return out


def write_folder(
    model: GenzooModel,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    card: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a genzoo folder at ``path``, atomically.

    ``path`` may be new, empty, or an existing genzoo folder (replaced);
    anything else is refused rather than mixed with our files.
    """
    target = Path(path)
    if target.exists():
        if not target.is_dir():
            raise CheckpointError(f"{target} exists and is a file; save to a folder path")
        if any(target.iterdir()) and not (target / CONFIG_FILE).is_file():
            raise CheckpointError(
                f"{target} is not empty and is not a genzoo checkpoint; save to a new or empty folder"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    loaded = model.loaded_components()
    state = model.split_state_dict()
    card = {**model.card, **(card or {})}
    name = name or model.name or target.name
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        files: dict[str, str] = {}
        for group in loaded:
            files[group] = component_file(group)
            save_file(
                _detach_for_save(state[group]),
                tmp / files[group],
                metadata={"format": "pt", "genzoo_component": group, "genzoo_family": model.family},
            )
        if model.extra_files:
            model.save_extra_files(tmp)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "genzoo_version": __version__,
            "family": model.family,
            "name": name,
            "config": model.config_dict(),
            "components": files,
            "sizes": {f: (tmp / f).stat().st_size for f in files.values()},
            "extra_files": list(model.extra_files),
            "card": card,
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        (tmp / CARD_FILE).write_text(
            render_card(name, model.family, meta["config"], card, files, model.pipeline_tag, model.extra_files),
            encoding="utf-8",
        )
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an old ``target`` is removed only once the new one is in place."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
