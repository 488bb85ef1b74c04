"""Upstream weights in other layouts, converted into genzoo models.

A family that reads upstream checkpoints (OpenAI's CLIP files, a Hugging Face
``transformers`` repo, ...) declares it on its model class::

    layouts = {"transformers": ("config.json", "model.safetensors|pytorch_model.bin", "vocab.json")}

    @classmethod
    def from_layout(cls, path, layout=None, config=None) -> Converted: ...

``layouts`` names each layout and the files a Hub repo in it holds
(``"a|b"``: the first of the two that exists; a trailing ``"?"``: optional).
``from_layout`` reads a local file, or a folder holding those files, and
returns a :class:`Converted`: the config, the tensors under genzoo's state-dict
names, and the folder its extra files (tokenizer) are in. Everything else is
done here the same way for every family: fetching the files from the Hub
through the Hugging Face cache, pinned to one commit; building the model on the
meta device; moving the tensors to the device and dtype; loading strictly.

Registry entries point at such repos with ``HubSource(repo, revision,
layout="transformers")``, or at a file on the upstream authors' server with
``UrlSource(url, layout)`` (downloaded and converted once, kept as a genzoo
folder in torch's checkpoint cache): ``genzoo.load(name)`` then converts
what it needs.
``genzoo convert FAMILY SRC -o DIR`` writes a genzoo folder from a local file,
folder or Hub repo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from .checkpoint import load_state_into, warn_non_finite
from .errors import CheckpointError, ConfigError, DownloadError, MissingComponentError, OfflineError
from .model import GenzooModel, meta_device
from .registry import UrlSource


@dataclass
class Converted:
    """What a family's ``from_layout`` returns: genzoo's view of upstream weights."""

    #: Fields of the family's config dataclass.
    config: Mapping[str, Any]
    #: The weights under genzoo's state-dict names (any device and dtype; cast on load).
    tensors: Mapping[str, torch.Tensor]
    #: The layout that was read (e.g. ``"transformers"``).
    layout: str = ""
    #: A folder holding the family's ``extra_files`` (tokenizer files), if the source had them.
    extra_folder: Path | None = None
    #: Card facts to carry (description, license...).
    card: dict[str, Any] = field(default_factory=dict)


def read_weights_file(path: str | os.PathLike) -> Any:
    """What a weights file holds, read without running any code in it: the one way converters read files.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``, which unpickles tensors and plain
    containers only. A TorchScript archive (a zip with ``constants.pkl``,
    like OpenAI's released CLIP ``.pt`` files) is refused before anything in
    it is read: loading TorchScript runs the code inside it (``__setstate__``
    and all), so a hostile file could do anything. The message says how to
    export its state dict where the user chooses to trust it.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such checkpoint file: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as exc:  # noqa: BLE001 - SafetensorError is not an OSError
            raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from exc
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:  # the member names only: nothing is unpickled
            torchscript = any(n == "constants.pkl" or n.endswith("/constants.pkl") for n in archive.namelist())
        if torchscript:
            raise CheckpointError(
                f"{path} is a TorchScript archive, which genzoo does not load: loading it runs the code inside. "
                f"If you trust it, export its weights in Python: torch.save(torch.jit.load({str(path)!r}).state_dict(), "
                "'weights.pt'), then convert weights.pt"
            )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refusals and corrupt files alike
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"{path} cannot be read as a tensors-only state dict ({first}); genzoo does not unpickle arbitrary objects"
        ) from exc


def _model_class(family: str | type[GenzooModel]) -> type[GenzooModel]:
    if isinstance(family, type):
        return family
    from .plugins import get_registry

    return get_registry().family(family).model_class()


def layouts_of(model_class: type[GenzooModel]) -> Mapping[str, tuple[str, ...]]:
    layouts = getattr(model_class, "layouts", None) or {}
    if not layouts:
        raise ConfigError(f"the {model_class.family or model_class.__name__} family cannot convert upstream weights")
    return layouts


def _file_spec(spec: str) -> tuple[list[str], bool]:
    optional = spec.endswith("?")
    return spec.rstrip("?").split("|"), optional


def fetch_layout(
    repo_id: str,
    revision: str | None,
    files: Iterable[str],
    *,
    cache: str | os.PathLike | None = None,
    token: str | None = None,
    offline: bool | None = None,
) -> Path:
    """Download a foreign-layout repo's ``files`` (file specs, see the module doc) into the HF cache.

    The first file pins the commit; the others are fetched at that commit, so
    a push in between cannot mix versions. Returns the snapshot folder.
    """
    from huggingface_hub.errors import EntryNotFoundError

    from . import hub

    offline = hub.is_offline() if offline is None else offline
    cache_path = hub.cache_dir(cache)
    rev = revision or "main"
    folder: Path | None = None
    for spec in files:
        names, optional = _file_spec(spec)
        found, first_error = None, None
        for name in names:
            try:
                found = hub._fetch(repo_id, name, folder.name if folder else rev, cache=cache_path, token=token, offline=offline)
                break
            except (CheckpointError, OfflineError) as exc:  # a missing file: try the next alternative
                if isinstance(exc, CheckpointError) and not isinstance(exc.__cause__, EntryNotFoundError):
                    raise
                first_error = first_error or exc
        if found is None:
            if optional:
                continue
            if isinstance(first_error, OfflineError):
                raise first_error
            where = f"{repo_id}@{folder.name if folder else rev}"
            raise CheckpointError(f"Hub repo {where} has no {' or '.join(names)}") from first_error
        folder = folder or found.parent
    if folder is None:
        raise CheckpointError(f"no files to fetch from {repo_id}: the layout lists only optional files")
    return folder


def build(
    model_class: type[GenzooModel],
    converted: Converted,
    *,
    components: Iterable[str] | str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    strict: bool = True,
    where: str = "upstream weights",
) -> GenzooModel:
    """Build ``model_class`` on the meta device and load the converted tensors (to ``device``, ``dtype``)."""
    config = model_class.make_config(dict(converted.config))
    with meta_device():
        model = model_class(config)
    groups = list(model.groups())
    if components is None:
        chosen = groups
    else:
        if components == "inference":
            wanted = list(model_class.inference_components or groups)
        else:
            wanted = [components] if isinstance(components, str) else list(components)
        unknown = [c for c in wanted if c not in groups]
        if unknown:
            raise MissingComponentError(f"the {model.family} family has no component {', '.join(map(repr, unknown))}; it has: {', '.join(groups)}")
        chosen = wanted
    device = torch.device(device) if device is not None else torch.device("cpu")
    by_group = model.split_state_dict()
    known = {k for keys in by_group.values() for k in keys}
    keep = {k for g in chosen for k in by_group[g]}
    tensors = {}
    for key, value in converted.tensors.items():
        if key in keep or key not in known:  # keys of no group stay, to be reported as unexpected
            value = value.to(device)
            tensors[key] = value.to(dtype or torch.float32) if value.is_floating_point() else value  # load's dtype rule
    load_state_into(model, tensors, chosen, strict=strict, where=where)
    model.card = dict(converted.card)
    if model_class.extra_files and converted.extra_folder is not None:
        model.load_extra_files(converted.extra_folder)
    return model.eval()


def _is_local(source: str | os.PathLike) -> bool:
    return Path(source).expanduser().exists()


def convert(
    family: str | type[GenzooModel],
    source: str | os.PathLike,
    *,
    layout: str | None = None,
    config: Mapping[str, Any] | None = None,
    revision: str | None = None,
    components: Iterable[str] | str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
    offline: bool | None = None,
) -> GenzooModel:
    """A genzoo model from upstream weights: a local file or folder, or a Hub repo id (``user/repo[@rev]``).

    ``layout`` picks the upstream layout (the family detects it when omitted);
    ``config`` overrides config fields the converter infers.
    """
    from . import hub

    model_class = _model_class(family)
    layouts = layouts_of(model_class)
    if layout is not None and layout not in layouts:
        raise ConfigError(f"the {model_class.family} family has no layout {layout!r}; it reads: {', '.join(layouts)}")
    text = os.fspath(source)
    if _is_local(text):
        path = Path(text).expanduser()
        where = str(path)
    else:
        ref = hub.parse_repo_ref(text)
        if ref is None:
            raise CheckpointError(f"{text!r} is neither an existing file or folder nor a Hub repo id (user/repo[@revision])")
        repo_id, rev = ref
        if rev and revision and rev != revision:
            raise ConfigError(f"{text!r} pins revision {rev!r} but revision={revision!r} was also given")
        rev = rev or revision
        candidates = [layout] if layout else list(layouts)
        errors = []
        for name in candidates:
            try:
                path = fetch_layout(repo_id, rev, layouts[name], cache=cache_dir, token=token, offline=offline)
                layout = name
                break
            except CheckpointError as exc:
                errors.append(f"{name}: {exc}")
        else:
            raise CheckpointError(f"cannot read {text} as {model_class.family} weights: " + "; ".join(errors))
        where = f"{repo_id}@{path.name}"
    converted = model_class.from_layout(path, layout, dict(config or {}))
    warn_non_finite(converted.tensors, f"converting {where}", stacklevel=3)
    model = build(model_class, converted, components=components, device=device, dtype=dtype, where=where)
    model.source = text
    return model


def url_cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Where URL weights are kept: ``explicit/urls``, else ``$TORCH_HOME/hub/checkpoints/genzoo`` (read at call time)."""
    if explicit is not None:
        return Path(explicit) / "urls"
    return Path(torch.hub.get_dir()) / "checkpoints" / "genzoo"


def fetch_url(
    source: UrlSource,
    name: str,
    family: str = "FAMILY",
    *,
    cache: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
) -> Path:
    """The local copy of ``source``'s file for the model ``name``, downloaded on first use.

    The file is named after the model (two families publish a ``sat2map.pth``).
    ``torch.hub.download_url_to_file`` writes to a temporary file and renames
    it into place, so an interrupted download leaves nothing behind, and it
    checks ``source.sha256`` when the registry knows it.
    """
    from urllib.parse import urlparse

    from . import hub

    suffix = Path(urlparse(source.url).path).suffix or ".bin"
    dest = url_cache_dir(cache) / f"{name}{suffix}"
    if dest.is_file():
        return dest
    if hub.is_offline() if offline is None else offline:
        raise OfflineError(
            f"offline mode is on and {name}'s weights are not cached ({dest}); "
            f"run `genzoo pull {name}` once while online"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(source.url, os.fspath(dest), hash_prefix=source.sha256, progress=progress)
    except RuntimeError as exc:  # torch.hub's checksum mismatch
        raise DownloadError(f"{source.url} did not match the registered sha256 of {name}: {exc}") from exc
    except OSError as exc:  # URLError, HTTPError, connection resets
        raise DownloadError(
            f"cannot download {name}'s weights from {source.url} ({exc}). Check the network, or download "
            f"the file yourself and run `genzoo convert {family} FILE -o DIR`"
        ) from exc
    return dest


def fetch_url_folder(
    entry: Any,
    *,
    cache: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: bool = True,
) -> Path:
    """A genzoo folder of the ``UrlSource`` entry's weights: downloaded and converted once, then kept.

    Later loads read safetensors from the folder (meta-device build, no
    unpickling, only the components asked for); the downloaded file is
    removed once converted. The folder name carries a hash of the URL and
    checksum, so an entry that moves to other weights gets a new folder.
    """
    import hashlib

    from .checkpoint import CONFIG_FILE, write_folder

    source: UrlSource = entry.source
    key = hashlib.sha256(f"{source.url} {source.sha256}".encode()).hexdigest()[:10]
    folder = url_cache_dir(cache) / f"{entry.name}-{key}"
    if (folder / CONFIG_FILE).is_file():
        return folder
    path = fetch_url(source, entry.name, entry.family, cache=cache, offline=offline, progress=progress)
    try:
        model = convert(entry.family, path, layout=source.layout, config=entry.config)
    except CheckpointError:
        path.unlink(missing_ok=True)  # corrupt or not what the entry says: fetch it afresh next time
        raise
    card = {**entry.card(), **{k: v for k, v in model.card.items() if v}, "converted_from": source.url}
    write_folder(model, folder, name=entry.name, card=card)  # atomic: a temp folder, then a rename
    path.unlink()
    return folder


def load_entry(entry: Any, *, revision: str | None = None, **kwargs: Any) -> GenzooModel:
    """Load a registry entry whose ``HubSource`` has a ``layout``: fetch and convert."""
    source = entry.source
    model = convert(entry.family, source.repo_id, layout=source.layout, revision=revision or source.revision, **kwargs)
    model.name = entry.name
    model.card = {**entry.card(), **{k: v for k, v in model.card.items() if v}}
    return model
