"""Families and named models: what exists, where its weights live, and lookups.

A *family* is a model class (a :class:`genzoo.model.GenzooModel` subclass,
named as an import string so listing stays light) plus its description and
tasks. A *named model* is a registry entry: family, config, weight source and
the facts its model card states. A *named dataset* is a factory a plugin adds
so that ``genzoo train FAMILY --data NAME`` (and :func:`genzoo.data.get_dataset`)
find data the core does not ship.

Plugins never touch the global registry directly: each gets a
:class:`PluginRegistrar` that stages its entries and commits them all at once
when its hook returns, so a plugin that fails half-way leaves nothing behind.

Names have owners: the first plugin to register a name keeps it (the plugin
host loads built-ins first, so they always win). A later plugin's clashing
entry is *rejected* -- recorded as a :class:`Rejection`, the rest of that
plugin stays -- and kept reachable as ``PLUGIN:NAME`` (:meth:`Registry.find`).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.resources
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .errors import (
    ConfigError,
    DatasetNotFoundError,
    GenzooPluginWarning,
    PluginError,
    UnknownFamilyError,
    UnknownModelError,
)


def import_object(spec: str | Any, what: str) -> Any:
    """``"package.module:attr"`` -> the attribute (anything else is returned as it is)."""
    if not isinstance(spec, str):
        return spec
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{what} names {spec!r}, but {module_name} has no attribute {attr!r}") from None


@dataclass(frozen=True)
class HubSource:
    """Weights in a Hub repo at a pinned revision: genzoo format, or an upstream ``layout``.

    With ``layout`` (e.g. ``"transformers"``), the repo is in that upstream
    layout and the family's converter reads it on load (see :mod:`genzoo.convert`).
    """

    repo_id: str
    revision: str = "main"
    layout: str | None = None

    def __str__(self) -> str:
        return f"hf://{self.repo_id}@{self.revision}" + (f" ({self.layout} layout)" if self.layout else "")

    def label(self) -> str:
        """A short form for tables (`genzoo list`): the commit cut to 8 characters."""
        return f"hf://{self.repo_id}@{self.revision[:8]}" + (f" ({self.layout})" if self.layout else "")

    def problem(self) -> str | None:
        """Why this cannot name a Hub location (``None`` when it can).

        Checked when a registry entry is built (:meth:`PluginRegistrar.add_model`),
        so every plugin gets it: a repo id such as ``../../x`` or a blank
        revision must not reach the Hub client or a cache path. When the bad
        part came from ``GENZOO_HUB_ORG`` / ``GENZOO_HUB_REVISION``, the
        message names the variable.
        """
        repo, rev = self.repo_id, self.revision
        if not (isinstance(repo, str) and len(repo) <= 96 and _REPO_ID.match(repo) and ".." not in repo and "--" not in repo):
            org = os.environ.get(HUB_ORG_ENV)
            from_env = org and isinstance(repo, str) and repo.startswith(org + "/")
            env = f" (from {HUB_ORG_ENV}={org!r}: fix or unset it)" if from_env else ""
            return (
                f"invalid Hub repo id {repo!r}{env}: use 'namespace/name' made of letters, digits, "
                "'-', '_' and '.', without '..' or '--', at most 96 characters"
            )
        if not (isinstance(rev, str) and _REVISION.match(rev) and ".." not in rev):
            env_rev = os.environ.get(HUB_REVISION_ENV)
            env = f" (from {HUB_REVISION_ENV}={env_rev!r}: fix or unset it)" if env_rev is not None and env_rev == rev else ""
            return (
                f"invalid Hub revision {rev!r}{env}: use a branch, tag or commit hash "
                "(letters, digits, '-', '_', '.', '/'; no spaces)"
            )
        return None


#: Environment variables that point registry entries at a Hub mirror (read by plugins, named in errors).
HUB_ORG_ENV = "GENZOO_HUB_ORG"
HUB_REVISION_ENV = "GENZOO_HUB_REVISION"
_REPO_PART = r"[A-Za-z0-9](?:[\w.\-]*[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$", re.ASCII)
_REVISION = re.compile(r"^[\w.\-]+(?:/[\w.\-]+)*$", re.ASCII)


@dataclass(frozen=True)
class BundledSource:
    """Weights shipped inside a plugin package, as a genzoo-format folder."""

    package: str
    path: str

    def folder(self) -> Path:
        return Path(str(importlib.resources.files(self.package).joinpath(self.path)))

    def __str__(self) -> str:
        return f"bundled:{self.package}/{self.path}"

    def label(self) -> str:
        return f"bundled:{self.package}"


@dataclass(frozen=True)
class UrlSource:
    """Upstream weights at a plain URL (e.g. the authors' server), in a family ``layout``.

    On first use ``genzoo.load`` downloads the file into torch's checkpoint
    cache (``$TORCH_HOME/hub/checkpoints/genzoo``, where torchvision and timm
    keep URL weights), checks ``sha256`` when it is known, converts it with
    the family's converter and keeps the result as a genzoo folder there;
    later loads read that folder. Registry entries use it for weights that
    have no converted Hub repo yet.
    """

    url: str
    layout: str
    sha256: str | None = None

    def __str__(self) -> str:
        return f"{self.url} ({self.layout} layout, converted on first use)"

    def label(self) -> str:
        from urllib.parse import urlparse

        url = urlparse(self.url)
        return f"{url.netloc}/.../{url.path.rsplit('/', 1)[-1]} ({self.layout})"


WeightSource = HubSource | BundledSource | UrlSource


@dataclass(frozen=True)
class Family:
    """A model family: its model class (lazily imported) and what it is for.

    Its tasks are declared on the model class (:func:`genzoo.task`) and read
    from there (:meth:`task_specs`); ``tasks`` only holds what a plugin passed
    to ``add_family(tasks=...)``, checked against the class when registered.
    """

    name: str
    model: str | type
    description: str = ""
    tasks: tuple[str, ...] = ()
    paper: str | None = None
    plugin: str | None = None

    def model_class(self) -> type:
        """Import and return the family's model class."""
        try:
            return import_object(self.model, f"family {self.name!r}")
        except PluginError as exc:
            raise UnknownFamilyError(str(exc)) from None

    def task_specs(self) -> dict[str, Any]:
        """The tasks the model class declares (``genzoo.task``), default first: the one declaration everything reads."""
        return self.model_class().task_specs()


@dataclass(frozen=True)
class DatasetEntry:
    """A named dataset a plugin provides: ``factory(split, size, channels, **options)`` -> a torch Dataset.

    ``size`` and ``channels`` of ``None`` mean the dataset's own defaults;
    ``description`` is what a model card trained on it names as its data, and
    ``license`` the data's licence (an SPDX-style id), which that card states.
    """

    name: str
    factory: str | Callable[..., Any]
    description: str = ""
    plugin: str | None = None
    license: str | None = None

    def build(self, split: str, size: Any = None, channels: int | None = None, **options: Any) -> Any:
        factory = import_object(self.factory, f"dataset {self.name!r}")
        return factory(split, size, channels, **options)


@dataclass(frozen=True)
class ModelEntry:
    """A named model: family, config, weights and card facts."""

    name: str
    family: str
    config: Mapping[str, Any] = field(default_factory=dict)
    source: WeightSource | None = None
    description: str = ""
    dataset: str | None = None
    license: str | None = None
    paper: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    plugin: str | None = None

    def card(self) -> dict[str, Any]:
        """Card facts as a plain dict (what a model card and `genzoo info` show)."""
        return {
            "description": self.description,
            "dataset": self.dataset,
            "license": self.license,
            "paper": self.paper,
            "metrics": dict(self.metrics),
            "tags": list(self.tags),
        }


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates nearest to ``name`` (for "did you mean" messages)."""
    candidates = list(candidates)
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    # Also offer names that merely contain the query ("horse" -> cyclegan-horse2zebra).
    for c in sorted(candidates):
        if len(found) >= n:
            break
        if name and name in c and c not in found:
            found.append(c)
    return found


def _did_you_mean(names: list[str]) -> str:
    return f" Did you mean: {', '.join(names)}?" if names else ""


_QUALIFIED = re.compile(r"^(?P<plugin>[^\s:/\\]+):(?P<name>[a-z0-9_.\-]+)$")


def split_qualified(name: str) -> tuple[str, str] | None:
    """``"PLUGIN:NAME"`` -> ``("PLUGIN", "NAME")``; ``None`` for anything else (plain names, ``hf://``, paths)."""
    m = _QUALIFIED.match(name)
    return (m["plugin"], m["name"]) if m else None


Entry = Family | ModelEntry | DatasetEntry


@dataclass(frozen=True)
class Rejection:
    """An entry a plugin asked for that the registry refused, and why.

    ``owner`` is the plugin that keeps the name when the entry lost a clash;
    ``entry`` is set when the refused entry stays reachable as ``PLUGIN:NAME``.
    """

    kind: str  # "family", "model" or "dataset"
    name: str
    plugin: str | None
    reason: str
    owner: str | None = None
    entry: Entry | None = field(default=None, compare=False, repr=False)

    @property
    def qualified(self) -> str | None:
        """The ``PLUGIN:NAME`` that still reaches the entry (``None`` when nothing does)."""
        return f"{self.plugin}:{self.name}" if self.entry is not None else None

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "owner": self.owner, "qualified": self.qualified, "reason": self.reason}


@dataclass
class Committed:
    """What one :meth:`PluginRegistrar.commit` added, and what it refused."""

    families: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


_KINDS = ("dataset", "family", "model")


class Registry:
    """All families and named models known to this process.

    ``families``/``models``/``datasets`` map each name to the entry of the
    plugin that owns it. ``shadowed[kind]`` maps ``"PLUGIN:NAME"`` to entries
    that lost a clash (or whose family did); ``rejected`` lists every refusal.
    """

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}
        self.models: dict[str, ModelEntry] = {}
        self.datasets: dict[str, DatasetEntry] = {}
        self.shadowed: dict[str, dict[str, Entry]] = {kind: {} for kind in _KINDS}
        self.rejected: list[Rejection] = []

    def _table(self, kind: str) -> dict[str, Any]:
        return {"family": self.families, "model": self.models, "dataset": self.datasets}[kind]

    # -- lookups ---------------------------------------------------------
    def find(self, kind: str, name: str) -> Any:
        """The ``kind`` entry that ``name`` means, or ``None``.

        ``name`` is a plain name (the owner's entry) or ``PLUGIN:NAME``: the
        owner's entry when PLUGIN owns the name, else PLUGIN's entry that lost
        the clash.
        """
        table = self._table(kind)
        if name in table:
            return table[name]
        parts = split_qualified(name)
        if parts is None:
            return None
        plugin, bare = parts
        owner = table.get(bare)
        if owner is not None and owner.plugin == plugin:
            return owner
        return self.shadowed[kind].get(f"{plugin}:{bare}")

    def _lookup(self, kind: str, name: str, error: type[Exception], plain_message: str) -> Any:
        found = self.find(kind, name)
        if found is not None:
            return found
        parts = split_qualified(name)
        if parts is None:
            raise error(plain_message)
        plugin, bare = parts
        table = self._table(kind)
        qualified = [f"{e.plugin}:{n}" for n, e in table.items()] + list(self.shadowed[kind])
        plugins = sorted({q.split(":", 1)[0] for q in qualified})
        if plugin not in plugins:
            raise error(
                f"unknown plugin {plugin!r} in {name!r}.{_did_you_mean(closest(plugin, plugins))} "
                f"Plugins with {kind} names: {', '.join(plugins) or 'none'}. Run `genzoo plugins` to see them all."
            )
        raise error(
            f"plugin {plugin!r} has no {kind} {bare!r}.{_did_you_mean(closest(name, qualified))} "
            f"Its {kind} names: {', '.join(sorted(q.split(':', 1)[1] for q in qualified if q.startswith(plugin + ':')))}."
        )

    def family(self, name: str) -> Family:
        return self._lookup(
            "family", name, UnknownFamilyError,
            f"unknown family {name!r}.{_did_you_mean(closest(name, self.families))} "
            f"Installed families: {', '.join(sorted(self.families)) or 'none'}. "
            "Run `genzoo plugins` to see which plugins loaded.",
        )  # fmt: skip

    def model(self, name: str) -> ModelEntry:
        return self._lookup(
            "model", name, UnknownModelError,
            f"unknown model {name!r}.{_did_you_mean(self.suggest(name))} Run `genzoo list` to see all models.",
        )  # fmt: skip

    def dataset(self, name: str) -> DatasetEntry:
        return self._lookup(
            "dataset", name, DatasetNotFoundError,
            f"unknown dataset {name!r}.{_did_you_mean(closest(name, self.datasets))} "
            f"Plugin datasets: {', '.join(sorted(self.datasets)) or 'none'}.",
        )  # fmt: skip

    def suggest(self, name: str) -> list[str]:
        return closest(name, [*self.models, *self.families, *self.shadowed["model"]])

    def list_models(self, pattern: str | None = None, family: str | None = None) -> list[str]:
        names = sorted(self.models)
        if family is not None:
            self.family(family)  # unknown family -> clear error
            names = [n for n in names if self.models[n].family == family]
        if pattern:
            pat = pattern.lower()
            names = [n for n in names if fnmatch.fnmatchcase(n.lower(), pat)]
        return names

    def list_families(self) -> list[str]:
        return sorted(self.families)

    # -- plugin side -----------------------------------------------------
    def scoped(self, plugin: str | None) -> "PluginRegistrar":
        return PluginRegistrar(self, plugin)

    def _commit(
        self,
        families: list[Family],
        models: list[ModelEntry],
        datasets: list[DatasetEntry] = (),
        refused: Iterable[Rejection] = (),
    ) -> Committed:
        """Add one plugin's staged entries; a name someone else holds rejects only that entry.

        Raises (adding nothing) only for a model whose family nobody provides:
        that is the plugin's bug, not a clash.
        """
        done = Committed(rejected=list(refused))
        keep: dict[str, list[Any]] = {}
        for kind, new in (("dataset", datasets), ("family", families), ("model", models)):
            table, staged, keep[kind] = self._table(kind), set(), []
            for item in new:
                first = table.get(item.name)
                if first is None and item.name not in staged:
                    keep[kind].append(item)
                elif item.name in staged or first.plugin == item.plugin:
                    done.rejected.append(Rejection(
                        kind, item.name, item.plugin,
                        f"plugin {item.plugin!r} registers the {kind} name {item.name!r} twice; the first one is kept",
                        owner=item.plugin,
                    ))  # fmt: skip
                else:
                    done.rejected.append(Rejection(
                        kind, item.name, item.plugin,
                        f"the {kind} name {item.name!r} is registered by two plugins: {first.plugin!r} and {item.plugin!r}; "
                        f"{first.plugin!r} came first and keeps it, and this entry is reachable as '{item.plugin}:{item.name}'",
                        owner=first.plugin, entry=item,
                    ))  # fmt: skip
                staged.add(item.name)
        # A model of a family its own plugin lost goes with that family (as PLUGIN:NAME, never pointing
        # at the winner's family of the same name).
        lost = set(self.shadowed["family"]) | {f"{r.plugin}:{r.name}" for r in done.rejected if r.kind == "family" and r.entry}
        for i, r in enumerate(done.rejected):
            if r.kind == "model" and r.entry is not None and f"{r.plugin}:{r.entry.family}" in lost:
                done.rejected[i] = replace(r, entry=replace(r.entry, family=f"{r.plugin}:{r.entry.family}"))
        for entry in [m for m in keep["model"] if f"{m.plugin}:{m.family}" in lost]:
            keep["model"].remove(entry)
            qualified_family = f"{entry.plugin}:{entry.family}"
            owner = getattr(self.families.get(entry.family), "plugin", None)
            done.rejected.append(Rejection(
                "model", entry.name, entry.plugin,
                f"its family {entry.family!r} was rejected (plugin {owner!r} owns that name); "
                f"it is reachable as '{entry.plugin}:{entry.name}' (family {qualified_family!r})",
                entry=replace(entry, family=qualified_family),
            ))  # fmt: skip
        new_families = {f.name for f in keep["family"]}
        for entry in keep["model"]:
            if entry.family not in self.families and entry.family not in new_families:
                raise UnknownFamilyError(
                    f"model {entry.name!r} (plugin {entry.plugin!r}) names family {entry.family!r}, "
                    f"which no loaded plugin provides.{_did_you_mean(closest(entry.family, self.families))}"
                )
        for kind in _KINDS:
            table = self._table(kind)
            for item in keep[kind]:
                table[item.name] = item
        for r in done.rejected:
            if r.entry is not None:
                self.shadowed[r.kind][r.qualified] = r.entry
        self.rejected += done.rejected
        done.families, done.models, done.datasets = ([x.name for x in keep[k]] for k in ("family", "model", "dataset"))
        return done

    def remove_plugin(self, plugin: str) -> None:
        """Forget every family, model and dataset a plugin registered, and what it had refused."""
        self.families = {k: v for k, v in self.families.items() if v.plugin != plugin}
        self.models = {k: v for k, v in self.models.items() if v.plugin != plugin}
        self.datasets = {k: v for k, v in self.datasets.items() if v.plugin != plugin}
        self.shadowed = {kind: {k: v for k, v in t.items() if v.plugin != plugin} for kind, t in self.shadowed.items()}
        self.rejected = [r for r in self.rejected if r.plugin != plugin]


_VALID_NAME = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def _check_name(kind: str, name: str) -> None:
    if not name or not set(name) <= _VALID_NAME or "/" in name:
        raise ConfigError(
            f"invalid {kind} name {name!r}: use lower-case letters, digits, '-', '_' and '.' "
            "(a '/' would make it look like a Hub repo id)"
        )


class PluginRegistrar:
    """What a plugin's hooks receive: stages additions, committed together.

    An entry that cannot be registered (a clash, an invalid Hub source) is
    rejected on its own and reported; an exception from the hook drops all.
    """

    def __init__(self, registry: Registry, plugin: str | None):
        self._registry = registry
        self.plugin = plugin
        self.families: list[Family] = []
        self.models: list[ModelEntry] = []
        self.datasets: list[DatasetEntry] = []
        self.rejected: list[Rejection] = []

    def add_family(
        self,
        name: str,
        model: str | type,
        *,
        description: str = "",
        tasks: Iterable[str] = (),
        paper: str | None = None,
    ) -> None:
        """Register a family. ``model`` is the model class or ``"module:Class"``.

        Tasks are declared on the model class with :func:`genzoo.task`;
        ``tasks`` is optional and, when given, must match them (it imports the class).
        """
        _check_name("family", name)
        if not isinstance(model, (str, type)) or (isinstance(model, str) and ":" not in model):
            raise ConfigError(f"family {name!r}: model must be a class or 'module:Class', got {model!r}")
        family = Family(name, model, description, tuple(tasks), paper, self.plugin)
        if family.tasks:  # optional claim: checked now (imports the class), so it cannot drift from the class
            declared = family.task_specs()
            undeclared = [t for t in family.tasks if t not in declared]
            if undeclared:
                raise ConfigError(
                    f"family {name!r} registers task(s) {', '.join(map(repr, undeclared))} that its model class "
                    f"does not declare (it declares: {', '.join(declared) or 'none'}); declare tasks on the class "
                    "with @genzoo.task and leave tasks= out of add_family"
                )
        self.families.append(family)

    def add_model(
        self,
        name: str,
        *,
        family: str,
        config: Mapping[str, Any] | None = None,
        source: WeightSource | None = None,
        description: str = "",
        dataset: str | None = None,
        license: str | None = None,
        paper: str | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Iterable[str] = (),
    ) -> None:
        """Register a named model of ``family`` whose weights live at ``source``."""
        _check_name("model", name)
        if source is not None and not isinstance(source, (HubSource, BundledSource, UrlSource)):
            raise ConfigError(f"model {name!r}: source must be a HubSource, BundledSource or UrlSource, got {source!r}")
        if isinstance(source, HubSource) and (problem := source.problem()):
            self.rejected.append(Rejection("model", name, self.plugin, problem))
            return
        self.models.append(
            ModelEntry(
                name=name,
                family=family,
                config=dict(config or {}),
                source=source,
                description=description,
                dataset=dataset,
                license=license,
                paper=paper,
                metrics=dict(metrics or {}),
                tags=tuple(tags),
                plugin=self.plugin,
            )
        )

    def add_bundled(self, name: str, *, family: str, package: str, path: str, **facts: Any) -> None:
        """Register weights shipped in ``package`` at ``path`` (a genzoo folder).

        Config and card facts come from the folder's ``config.json`` (read as
        JSON, no torch), so the card written when the model was trained stays
        the one source of truth; ``facts`` override them.
        """
        import json
        import warnings

        source = BundledSource(package, path)
        config_file = source.folder() / "config.json"
        if not config_file.is_file():
            # The family still works (and can re-create the weights); only this name is skipped.
            warnings.warn(
                f"bundled weights of {name!r} are missing ({config_file}); the model is not registered. "
                "Reinstall the plugin, or re-create them with scripts/make_bundled_models.py",
                GenzooPluginWarning,
                stacklevel=2,
            )
            return
        meta = json.loads(config_file.read_text(encoding="utf-8"))
        card = meta.get("card") or {}
        known = ("description", "dataset", "license", "paper", "metrics", "tags")
        values = {k: card[k] for k in known if card.get(k) is not None}
        self.add_model(name, family=family, config=meta.get("config"), source=source, **{**values, **facts})

    def has_family(self, name: str) -> bool:
        """Whether a family of this name is registered (by any plugin) or staged by this one.

        For a plugin whose named models need another plugin's family (a model
        borrowing a CLIP text tower): all families are registered before any
        models, so this answers for every installed plugin.
        """
        return self._registry.find("family", name) is not None or any(f.name == name for f in self.families)

    def add_dataset(
        self, name: str, factory: str | Callable[..., Any], *, description: str = "", license: str | None = None
    ) -> None:
        """Register a named dataset. ``factory`` is a callable or ``"module:function"`` (imported when used).

        It is called as ``factory(split, size, channels, **options)`` with
        ``split`` one of ``"train"``, ``"test"``, ``"all"``; see :class:`DatasetEntry`.
        """
        _check_name("dataset", name)
        if not callable(factory) and not (isinstance(factory, str) and ":" in factory):
            raise ConfigError(f"dataset {name!r}: factory must be a callable or 'module:function', got {factory!r}")
        self.datasets.append(DatasetEntry(name, factory, description, self.plugin, license))

    def commit(self) -> Committed:
        """Add the staged entries to the registry; returns what was added and what was rejected."""
        return self._registry._commit(self.families, self.models, self.datasets, self.rejected)
