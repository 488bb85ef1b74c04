"""The genzoo folder format: a folder that is also a Hub repo.

::

    config.json              format version, genzoo version, family, config,
                             component files, their sizes and sha256, card facts
    <group>.safetensors      one file per component group
    README.md                model card (YAML front matter for the Hub)
    (extra files the family needs, e.g. tokenizer files)

A checkpoint folder is untrusted input: every file its config.json names must
resolve inside it (:func:`resolve_member`), and group names are identifiers.

Saving never removes a file genzoo did not write: a folder may be new, empty,
or a genzoo checkpoint, whose listed files are replaced while anything else in
it (notes, samples) stays. The new files are staged in a hidden
``.genzoo-tmp-PID-XXXX`` folder inside the target, then moved into place one by
one with ``config.json`` last; a save killed half-way is completed (or, if it
had not finished staging, discarded) by the next access to the folder
(:func:`recover`). Loading builds the model on the meta device and assigns
tensors read straight to the target device and dtype; nothing on this path
unpickles.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import struct
import warnings
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .card import render_card
from .config import validate_meta
from .errors import (
    CheckpointError,
    ConfigError,
    FormatVersionError,
    IntegrityError,
    MissingComponentError,
    NonFiniteWeightsWarning,
)
from .model import GenzooModel, meta_device
from .version import __version__

FORMAT = "genzoo"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
#: Staging folders of saves in progress live inside the target: ``.genzoo-tmp-<host>-<pid>-<hex>``.
STAGE_PREFIX = ".genzoo-tmp-"
#: This machine, as stage names carry it: a pid says nothing about another machine's
#: processes (a folder on a shared file system), so their stages are never touched.
HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "localhost"
_STAGE = re.compile(re.escape(STAGE_PREFIX) + r"(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]+")
#: Written into a staging folder once every file is staged: the save may then be rolled forward.
_PLAN = "plan.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def component_file(group: str) -> str:
    return f"{group}.safetensors"


# -- paths a checkpoint names ------------------------------------------------
def check_member_name(name: Any, where: str | os.PathLike = "config.json") -> str:
    """``name`` if it is a plain relative path (``a.safetensors``, ``tok/vocab.json``), else :class:`CheckpointError`.

    Absolute paths, drive letters, backslashes, ``.``/``..`` and empty parts are
    refused before anything touches the file system.
    """
    ok = isinstance(name, str) and name and "\0" not in name and "\\" not in name
    parts = name.split("/") if ok else []
    if not ok or PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive or any(p in ("", ".", "..") for p in parts):
        raise CheckpointError(
            f"{where} names the file {name!r}, which is not a plain relative path inside the checkpoint "
            "folder; refusing to read it (the checkpoint is malformed or hostile)"
        )
    return name


def _hub_blobs(folder: Path) -> Path | None:
    """The repo's ``blobs/`` folder if ``folder`` (resolved) is a Hugging Face cache snapshot, else ``None``."""
    snapshots = folder.parent
    repo = snapshots.parent
    if snapshots.name == "snapshots" and repo.name.startswith(("models--", "datasets--", "spaces--")):
        return Path(os.path.realpath(repo / "blobs"))
    return None


def resolve_member(folder: str | os.PathLike, name: Any) -> Path:
    """The path of the file ``name`` that a checkpoint in ``folder`` names, confined to ``folder``.

    Every file read from (or replaced in) a checkpoint goes through here. It
    must resolve inside ``folder``, symlinks followed; the one exception is the
    Hugging Face cache, where a snapshot's files are symlinks into the same
    repo's ``blobs/``.
    """
    name = check_member_name(name, Path(folder) / CONFIG_FILE)
    path = Path(folder) / name
    base = Path(os.path.realpath(folder))
    real = Path(os.path.realpath(path))
    if real.is_relative_to(base):
        return path
    blobs = _hub_blobs(base)
    if blobs is not None and real.parent == blobs and os.path.realpath(path.parent) == str(base):
        return path
    raise CheckpointError(
        f"{path} resolves to {real}, outside the checkpoint folder {folder}; refusing to read it "
        "(a checkpoint may only name files inside its own folder)"
    )


def listed_files(meta: Mapping[str, Any]) -> list[str]:
    """Every file a checkpoint's config.json says genzoo wrote: components, extra files, card, config."""
    return list(dict.fromkeys([*meta["components"].values(), *meta.get("extra_files", []), CARD_FILE, CONFIG_FILE]))


# -- reading ---------------------------------------------------------------
def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """Parse and validate ``config.json`` of a genzoo folder (completing an interrupted save first)."""
    folder = Path(folder)
    recover(folder)
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
    meta = validate_meta(meta, str(path))  # their types: family a name, components group -> file (genzoo.config)
    _check_names(meta, path)
    return meta


def _check_names(meta: Mapping[str, Any], path: Path) -> None:
    """Group names are identifiers and every named file is a plain relative path."""
    components, extra = meta["components"], meta.get("extra_files", [])
    if not isinstance(components, dict) or not isinstance(extra, list):
        raise CheckpointError(f"{path}: 'components' must be an object and 'extra_files' a list")
    for group, file in components.items():
        if not group.isidentifier():
            raise CheckpointError(
                f"{path} names the component group {group!r}, which is not a plain identifier; refusing to load it"
            )
        check_member_name(file, path)
    for file in extra:
        check_member_name(file, path)
    hashes = meta.get("sha256", {})
    if not isinstance(hashes, dict) or not all(isinstance(h, str) and _SHA256.fullmatch(h) for h in hashes.values()):
        raise CheckpointError(f"{path}: 'sha256' must map file names to 64 lowercase hex digits")
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


# -- integrity ---------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks (hashlib releases the GIL)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_files(folder: str | os.PathLike, meta: Mapping[str, Any], files: Iterable[str] | None = None) -> dict[str, str]:
    """Check ``files`` (default: every component and extra file) against config.json's records.

    Returns file -> how it was checked: ``"sha256"``, ``"size"`` (no hash
    recorded, e.g. checkpoints written before genzoo recorded hashes: the size
    is compared), or ``"none"`` (neither recorded). A missing file is a
    :class:`CheckpointError`; a file that differs is an :class:`IntegrityError`
    naming it.
    """
    folder = Path(folder)
    hashes, sizes = meta.get("sha256") or {}, meta.get("sizes") or {}
    if files is None:
        files = [*meta["components"].values(), *meta.get("extra_files", [])]
    checked: dict[str, str] = {}
    for name in dict.fromkeys(files):
        path = resolve_member(folder, name)
        if not path.is_file():
            raise CheckpointError(f"{name} is missing from {folder}; the checkpoint is incomplete")
        size = path.stat().st_size
        if name in sizes and size != sizes[name]:
            raise IntegrityError(
                f"{path} is {size} bytes but config.json records {sizes[name]}: the file is truncated or corrupt. "
                "Delete it and download or save the checkpoint again."
            )
        if name in hashes:
            got = sha256_file(path)
            if got != hashes[name]:
                raise IntegrityError(
                    f"{path} does not match its sha256 in config.json (recorded {hashes[name][:16]}…, file "
                    f"{got[:16]}…): the file is corrupt or was changed. {_refetch_hint(path)}"
                )
        checked[name] = "sha256" if name in hashes else "size" if name in sizes else "none"
    return checked


def _refetch_hint(path: Path) -> str:
    real = Path(os.path.realpath(path))
    if real != path.absolute() and _hub_blobs(Path(os.path.realpath(path.parent))) is not None:
        return f"It is in the Hugging Face cache: delete {real} and {path}, then load again to download it afresh."
    return "Delete it and download or save the checkpoint again."


def _finite(t: torch.Tensor) -> bool:
    """Whether ``t`` holds no NaN/Inf. ``aminmax`` propagates both and is ~40x faster on CPU than ``isfinite().all()``."""
    try:
        lo, hi = torch.aminmax(t)
        return bool(torch.isfinite(lo) & torch.isfinite(hi))
    except (RuntimeError, NotImplementedError):  # a dtype aminmax lacks (float8)
        return bool(torch.isfinite(t.float()).all())


def warn_non_finite(tensors: Mapping[str, torch.Tensor], where: str, stacklevel: int = 3) -> list[str]:
    """Warn (:class:`NonFiniteWeightsWarning`) naming the floating tensors that hold NaN or Inf; return their names."""
    bad = [k for k, t in tensors.items() if t.is_floating_point() and t.numel() and not _finite(t)]
    if bad:
        warnings.warn(
            f"{where}: {len(bad)} tensor(s) hold NaN or Inf values: {_join(bad)}",
            NonFiniteWeightsWarning,
            stacklevel=stacklevel,
        )
    return bad


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


def _join(items: list[str], limit: int = 8) -> str:
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return f"{', '.join(items[:limit])}{more}"


def _format_list(title: str, items: list[str], limit: int = 8) -> str:
    return f"\n  {title}: {_join(items, limit)}" if items else ""


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
    verify: bool = False,
) -> GenzooModel:
    """Build ``model_class`` on the meta device and load the chosen components.

    Floating tensors become ``dtype``, float32 when ``None`` (whatever the file
    stores, so ``model.dtype`` is one dtype); integer buffers keep theirs.
    ``verify=True`` first checks the files against their recorded sha256 and
    warns about NaN/Inf weights; by default only sizes are compared (no hashing).
    """
    folder = Path(folder)
    target = dtype or torch.float32
    files = [meta["components"][g] for g in components]
    extra = list(dict.fromkeys([*meta.get("extra_files", []), *model_class.extra_files]))
    if verify:
        verify_files(folder, meta, files + list(meta.get("extra_files", [])))
    for name in extra:  # the family opens these itself: confine them first
        resolve_member(folder, name)
    config = model_class.make_config(meta["config"])
    with meta_device():
        model = model_class(config)
    tensors: dict[str, torch.Tensor] = {}
    sizes = meta.get("sizes", {})
    for file in files:
        part = _read_tensors(resolve_member(folder, file), sizes.get(file), device)
        tensors.update({k: v.to(target) if v.is_floating_point() and v.dtype != target else v for k, v in part.items()})
    if verify:
        warn_non_finite(tensors, f"{folder}", stacklevel=4)
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


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str], mode: int) -> str:
    """Write one component file with the umask's permissions (safetensors creates 0600) and return its sha256."""
    save_file(tensors, path, metadata=metadata)
    _sort_metadata(path)
    os.chmod(path, mode)
    return sha256_file(path)  # just written: read back from the page cache


def _sort_metadata(path: Path) -> None:
    """Put the header's metadata keys in sorted order, in place, so the same model always gives the same bytes.

    safetensors writes metadata from a hash map, in an order that changes from
    process to process; the file's sha256 would change with it. Sorting keeps
    the header's length (same keys, same values), so only those bytes are rewritten.
    """
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = f.read(n)
        header = json.loads(raw)
        meta = header.get("__metadata__")
        if not meta:
            return
        header["__metadata__"] = dict(sorted(meta.items()))
        new = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        new += b" " * (len(raw) - len(new))  # the header's padding to 8 bytes
        if len(new) == len(raw) and new != raw:
            f.seek(8)
            f.write(new)


def _write_text(path: Path, text: str, mode: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def _same_config(model: GenzooModel, stored: Mapping[str, Any]) -> bool:
    """Whether a checkpoint's stored config builds ``model``'s config (fields added since take their defaults)."""
    try:
        theirs = dataclasses.asdict(type(model).make_config(stored))
    except ConfigError:
        return False
    as_json = lambda d: json.loads(json.dumps(d))  # noqa: E731 -- tuples and lists compare equal
    return as_json(theirs) == as_json(model.config_dict())


def _existing_checkpoint(target: Path) -> dict[str, Any] | None:
    """The genzoo config already in ``target``; ``None`` if it is empty; refuse any other folder."""
    if not any(not p.name.startswith(STAGE_PREFIX) for p in target.iterdir()):
        return None
    if not (target / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"{target} is not empty and is not a genzoo checkpoint (no {CONFIG_FILE}); genzoo never writes "
            "among other files. Save to a new or empty folder."
        )
    try:
        return read_meta(target)
    except CheckpointError as exc:
        raise CheckpointError(
            f"{target} is not empty and is not a genzoo checkpoint ({exc}); genzoo never replaces another "
            "library's files. Save to a new or empty folder."
        ) from exc


def check_save_target(path: str | os.PathLike) -> None:
    """Refuse now a target :func:`write_folder` would refuse (a file, or a folder of other files).

    For commands that do long work before saving (``genzoo convert``), so a
    bad ``-o`` is reported before the work, not after it.
    """
    target = Path(os.path.abspath(os.path.expanduser(path)))
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{target} exists and is a file; save to a folder path")
    if target.is_dir():
        _existing_checkpoint(target)


def write_folder(
    model: GenzooModel,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    card: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a genzoo folder at ``path``; only files genzoo wrote are ever replaced.

    ``path`` may be new, empty, or a genzoo checkpoint: the files its
    config.json lists are replaced (one no longer needed is removed), every
    other file stays. A folder with other files and no genzoo config.json is
    refused. A group the model was loaded without keeps the target's file for
    it when the target holds the same family and config (a partial load saved
    back into its own folder loses nothing); otherwise it is left out.
    Files are staged in a hidden folder inside the target and moved into
    place with config.json last; see :func:`recover` for interrupted saves.
    """
    target = Path(os.path.abspath(os.path.expanduser(path)))  # "." -> the working directory, by name
    check_save_target(target)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        _write_into(model, target, name, card)
    except BaseException:
        if created:  # a failed save into a new folder leaves nothing (a plan left for recovery keeps it non-empty)
            with contextlib.suppress(OSError):
                target.rmdir()
        raise
    return target


def _write_into(model: GenzooModel, target: Path, name: str | None, card: Mapping[str, Any] | None) -> None:
    recover(target)
    old = _existing_checkpoint(target)
    loaded = model.loaded_components()
    keep = _kept_components(model, old, target, loaded)
    writes = [component_file(g) for g in loaded] + [check_member_name(f, type(model).__name__) for f in model.extra_files]
    ours = set(listed_files(old)) if old else set()
    foreign = [f for f in writes if f not in ours and (target / f).exists()]
    if foreign:
        raise CheckpointError(
            f"{target} already has {', '.join(foreign)}, which its config.json does not list (genzoo did not "
            "write it); move it away or save to a new folder"
        )
    state = model.split_state_dict()
    card = {**model.card, **(card or {})}
    name = name or model.name or target.name
    file_mode, dir_mode = 0o666 & ~_umask(), 0o777 & ~_umask()
    stage = _make_stage(target, dir_mode)
    try:
        files: dict[str, str] = {}
        hashes: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for group in model.groups():
            if group in keep:  # not loaded, kept as the target has it
                files[group] = file = keep[group]
                sizes[file] = (target / file).stat().st_size
                if file in old.get("sha256", {}):
                    hashes[file] = old["sha256"][file]
                continue
            if group not in loaded:
                continue
            files[group] = file = component_file(group)
            tensors = _detach_for_save(state[group])
            warn_non_finite(tensors, f"saving {model.family} component {group!r} to {target}", stacklevel=5)
            hashes[file] = _write_safetensors(
                stage / file, tensors, {"format": "pt", "genzoo_component": group, "genzoo_family": model.family}, file_mode
            )
            sizes[file] = (stage / file).stat().st_size
        if model.extra_files:
            model.save_extra_files(stage)
            for extra in model.extra_files:
                os.chmod(stage / extra, file_mode)
                hashes[extra] = sha256_file(stage / extra)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "genzoo_version": __version__,
            "family": model.family,
            "name": name,
            "config": model.config_dict(),
            "components": files,
            "sizes": sizes,
            "sha256": hashes,
            "extra_files": list(model.extra_files),
            "card": card,
        }
        _write_text(
            stage / CARD_FILE,
            render_card(name, model.family, meta["config"], card, files, model.pipeline_tag, model.extra_files),
            file_mode,
        )
        _write_text(stage / CONFIG_FILE, json.dumps(meta, indent=2, sort_keys=False) + "\n", file_mode)
        moves = [*writes, CARD_FILE, CONFIG_FILE]  # config.json last: the commit point
        obsolete = sorted(ours - set(listed_files(meta)))
        _write_text(stage / (_PLAN + ".part"), json.dumps({"moves": moves, "remove": obsolete}), file_mode)
        os.replace(stage / (_PLAN + ".part"), stage / _PLAN)  # from here on the save is rolled forward
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _finish(target, stage)


def _kept_components(model: GenzooModel, old: Mapping[str, Any] | None, target: Path, loaded: list[str]) -> dict[str, str]:
    """Group -> the target's file, for groups the model was loaded without that the target holds for this same model."""
    if not old or old["family"] != model.family or not _same_config(model, old["config"]):
        return {}
    kept = {}
    for group in model.groups():
        if group not in loaded and group in old["components"]:
            file = old["components"][group]
            if resolve_member(target, file).is_file():
                kept[group] = file
    return kept


def _make_stage(target: Path, mode: int) -> Path:
    """A new hidden staging folder in ``target``, named with our pid so a later save can tell if we died."""
    while True:
        stage = target / f"{STAGE_PREFIX}{HOST}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(stage, mode)  # mkdir honours the umask (mkdtemp would force 0700)
            return stage
        except FileExistsError:
            continue


def _finish(target: Path, stage: Path) -> None:
    """Move a fully staged save into ``target`` (config.json last), remove what it made obsolete, drop the stage.

    Idempotent: a save killed anywhere in here is finished by running it again.
    """
    plan = json.loads((stage / _PLAN).read_text(encoding="utf-8"))
    for name in plan["moves"]:
        src = stage / check_member_name(name, stage / _PLAN)
        if src.is_file():
            dst = target / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not _inside(target, dst.parent):
                raise CheckpointError(f"{dst} is outside {target} (through a symlinked folder); refusing to write it")
            os.replace(src, dst)
    for name in plan["remove"]:  # files the old config.json listed and the new one does not
        path = target / check_member_name(name, stage / _PLAN)
        if _inside(target, path.parent) and (path.is_file() or path.is_symlink()):
            path.unlink()  # a symlink itself, never what it points to
    shutil.rmtree(stage)


def _inside(folder: Path, path: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return True  # cannot tell: leave it alone
    return True


def recover(folder: str | os.PathLike) -> None:
    """Finish or discard saves into ``folder`` whose process died; a live process's save is never touched.

    Only stages made on this machine are judged (by pid). A staging folder
    holding its plan was complete: it is rolled forward (its files moved into
    place, config.json last). One without a plan never touched the
    checkpoint: it is deleted. Called on every save and every
    :func:`read_meta`; costs one directory listing.
    """
    folder = Path(folder)
    try:
        entries = [e for e in os.scandir(folder) if _STAGE.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for entry in entries:
        owner = _STAGE.fullmatch(entry.name)
        if owner["host"] != HOST or _pid_alive(int(owner["pid"])):
            continue
        stage = Path(entry.path)
        complete = (stage / _PLAN).is_file()
        try:
            _finish(folder, stage) if complete else shutil.rmtree(stage)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if complete:
                raise CheckpointError(
                    f"{folder} holds an interrupted save ({stage.name}) that could not be completed ({exc}); "
                    "fix the problem (permissions, disk space) or save the model again"
                ) from exc
            # an unfinished stage never touched the checkpoint: leaving it (read-only folder) is harmless
