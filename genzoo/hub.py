"""Pulling from and pushing to the Hugging Face Hub (or any compatible server).

Everything goes through ``huggingface_hub``: its cache, its auth, its
offline mode. genzoo adds two things: it fetches only the files the requested
components need (``config.json`` first, then one safetensors file per
component), pinned to one commit so a push in between cannot mix versions;
and it turns Hub failures into errors that say what to do.

Environment, read at call time (so a process can change it): ``HF_ENDPOINT``
(a mirror or a local server), ``HF_HUB_OFFLINE``, ``HF_TOKEN``,
``HF_HUB_CACHE`` / ``HF_HOME``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable

from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .checkpoint import CARD_FILE, CONFIG_FILE, listed_files, read_meta, select_components, verify_files
from .errors import CheckpointError, HubError, OfflineError

_REPO_REF = re.compile(r"^(?:hf://)?(?P<repo>[A-Za-z0-9][\w.\-]*/[\w.\-]+)(?:@(?P<rev>[\w.\-/]+))?$")


def parse_repo_ref(ref: str) -> tuple[str, str | None] | None:
    """``user/repo``, ``user/repo@rev`` or ``hf://user/repo@rev`` -> (repo_id, revision)."""
    m = _REPO_REF.match(ref.strip())
    if not m:
        return None
    return m.group("repo"), m.group("rev")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def is_offline() -> bool:
    return constants.HF_HUB_OFFLINE or _truthy(os.environ.get("HF_HUB_OFFLINE"))


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(constants.HF_HUB_CACHE)


def _network_errors() -> tuple[type[BaseException], ...]:
    """The transport errors ``huggingface_hub`` can let through (its HTTP client's, whichever is loaded)."""
    found: list[type[BaseException]] = [OSError]
    for module, name in (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _fetch(repo_id: str, filename: str, revision: str, *, cache: Path, token: str | None, offline: bool) -> Path:
    where = f"{repo_id}@{revision}"
    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                cache_dir=cache,
                token=token,
                endpoint=endpoint(),
                local_files_only=offline,
                library_name="genzoo",
            )
        )
    except RevisionNotFoundError as exc:
        raise HubError(f"revision {revision!r} does not exist in Hub repo {repo_id!r} ({endpoint()})") from exc
    except RepositoryNotFoundError as exc:
        raise HubError(
            f"Hub repo {repo_id!r} not found at {endpoint()} (or it is private/gated: "
            "log in with `hf auth login` or set HF_TOKEN)"
        ) from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        if offline:
            raise OfflineError(
                f"offline mode is on (HF_HUB_OFFLINE=1) and {filename} of {where} is not in the cache "
                f"at {cache}. Run `genzoo pull {repo_id} --revision {revision}` while online, "
                "or unset HF_HUB_OFFLINE."
            ) from exc
        raise HubError(
            f"could not download {filename} of {where} from {endpoint()}: {exc}. Check the network "
            "(or HF_ENDPOINT); set HF_HUB_OFFLINE=1 to use only the local cache."
        ) from exc
    except EntryNotFoundError as exc:
        if filename == CONFIG_FILE:
            raise CheckpointError(
                f"Hub repo {where} has no {CONFIG_FILE}: it is not in the genzoo format. "
                "If it holds upstream weights, convert them with `genzoo convert`."
            ) from exc
        raise CheckpointError(f"Hub repo {where} lacks {filename}, which its config.json names") from exc
    except HfHubHTTPError as exc:
        raise HubError(f"the Hub at {endpoint()} refused {filename} of {where}: {exc}") from exc
    except _network_errors() as exc:  # a connection dropped mid-download, a full disk
        raise HubError(
            f"could not download {filename} of {where} from {endpoint()}: {type(exc).__name__}: {exc}. "
            "Check the network (or HF_ENDPOINT) and try again."
        ) from exc


def download(
    repo_id: str,
    revision: str | None = None,
    components: Iterable[str] | str | None = None,
    *,
    inference_components: tuple[str, ...] | None = None,
    cache: str | os.PathLike | None = None,
    token: str | None = None,
    offline: bool | None = None,
    with_card: bool = False,
    verify: bool = False,
) -> tuple[Path, dict[str, Any], list[str]]:
    """Fetch what ``components`` need from a genzoo-format Hub repo.

    Returns the local snapshot folder, the parsed ``config.json`` and the
    resolved component list. Only ``config.json``, the chosen components'
    files, and the family's extra files are downloaded. Files downloaded now
    are checked against the sha256 (or size) config.json records; with
    ``verify=True`` the ones already in the cache are too (``genzoo pull``),
    since nothing re-checks a cache that was corrupted after the download.
    """
    offline = is_offline() if offline is None else offline
    revision = revision or "main"
    cache_path = cache_dir(cache)
    config_path = _fetch(repo_id, CONFIG_FILE, revision, cache=cache_path, token=token, offline=offline)
    folder = config_path.parent
    commit = folder.name  # snapshots/<commit sha>/: pin the rest to the same commit
    meta = read_meta(folder)
    chosen = select_components(meta, components, inference_components)
    files = [meta["components"][g] for g in chosen] + list(meta.get("extra_files", []))
    check = [n for n in files if verify or not (folder / n).exists()]  # cached files are trusted by default
    if with_card:
        files.append(CARD_FILE)
    for name in files:
        _fetch(repo_id, name, commit, cache=cache_path, token=token, offline=offline)
    verify_files(folder, meta, check)
    return folder, meta, chosen


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    commit_message: str | None = None,
    revision: str | None = None,
    token: str | None = None,
    create_pr: bool = False,
) -> Any:
    """Upload a saved genzoo folder to ``repo_id``; create the repo (and branch) if needed.

    Only the files the folder's config.json lists are sent (your notes or
    samples beside them stay local), after checking them against their
    recorded sha256. Returns ``huggingface_hub``'s ``CommitInfo`` (its
    ``commit_url`` and ``oid``).
    """
    folder = Path(folder)
    meta = read_meta(folder)  # refuse to push something that is not a genzoo folder
    verify_files(folder, meta)  # never publish a corrupt file
    api = HfApi(endpoint=endpoint(), token=token, library_name="genzoo")
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        return api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type="model",
            revision=revision,
            commit_message=commit_message or f"Upload {meta['family']} model with genzoo",
            create_pr=create_pr,
            allow_patterns=[f for f in listed_files(meta) if (folder / f).exists()],
        )
    except HfHubHTTPError as exc:
        raise HubError(f"pushing {folder} to {repo_id} at {endpoint()} failed: {exc}") from exc
    except _network_errors() as exc:
        raise HubError(
            f"pushing {folder} to {repo_id} failed: cannot reach {endpoint()} ({type(exc).__name__}: {exc}). "
            "Check the network (or HF_ENDPOINT) and try again."
        ) from exc
