"""The plugin manager: finds, loads and isolates genzoo plugins.

Every family, built-in or third-party, arrives through the entry-point group
``genzoo``. Each entry point is loaded on its own: one that fails to import,
declares a misspelt hook, or raises while registering -- ``sys.exit()``
included -- is recorded with its traceback (``genzoo plugins`` shows it),
reported once with a warning, and the rest of the zoo keeps working.

Load order decides who owns a name (the first to register it keeps it):
built-in plugins (entry points of the ``genzoo`` distribution) first, sorted
by entry-point name; then third-party ones sorted by distribution name, then
entry-point name. A later plugin's clashing entry is rejected on its own and
stays reachable as ``PLUGIN:NAME`` (see :mod:`genzoo.registry`).

``GENZOO_LOAD_PLUGINS`` limits which entry points load: a comma-separated
list of entry-point names; set but empty means none (as ``LLM_LOAD_PLUGINS``
does in llm). A name in it that no installed plugin has is warned about.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import GenzooPluginWarning, PluginError
from .registry import Registry, Rejection, closest

ENTRY_POINT_GROUP = "genzoo"
LOAD_ENV = "GENZOO_LOAD_PLUGINS"
#: The distribution whose entry points are the built-in plugins (they win every name clash).
BUILTIN_DISTRIBUTION = "genzoo"


@dataclass
class PluginInfo:
    """What `genzoo plugins` reports about one plugin."""

    name: str
    module: str | None = None
    distribution: str | None = None
    version: str | None = None
    families: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "families": self.families,
            "models": self.models,
            "datasets": self.datasets,
            "rejected": [r.as_dict() for r in self.rejected],
            "error": self.error,
        }


def _load_order(ep: importlib.metadata.EntryPoint) -> tuple[bool, str, str]:
    """Built-ins first (by entry-point name), then third parties by (distribution, entry-point name)."""
    dist = getattr(ep, "dist", None)
    dist_name = (dist.name or "") if dist else ""
    builtin = dist_name == BUILTIN_DISTRIBUTION
    return (not builtin, "" if builtin else dist_name.lower(), ep.name)


class PluginHost:
    """One pluggy manager, the registry it fills, and a report per plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}

    # -- loading ---------------------------------------------------------
    def load_entry_points(self) -> None:
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=_load_order)
        allowed = _allowed_names({ep.name for ep in eps})
        new: list[str] = []
        for ep in eps:
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            if ep.name in self.infos:
                taken = self.infos[ep.name]
                if dist is not None and taken.distribution not in (None, dist.name):
                    self._taken(ep, dist, taken)
                continue  # else: the same plugin found twice on sys.path
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            )
            self.infos[ep.name] = info
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin must not take the zoo down, sys.exit() included
                self._fail(info, f"failed to import {ep.value}", exc)
                continue
            if self._add(plugin, info):
                new.append(ep.name)
        self._register(new)

    def _taken(self, ep: importlib.metadata.EntryPoint, dist: Any, taken: PluginInfo) -> None:
        """A second distribution declares a plugin name already loaded: report it, load nothing of it."""
        key = f"{ep.name} ({dist.name})"
        error = (
            f"not loaded: the plugin name {ep.name!r} is taken by distribution {taken.distribution!r}, "
            "which loads first; rename this entry point"
        )
        self.infos[key] = PluginInfo(name=key, module=ep.value, distribution=dist.name, version=dist.version, error=error)
        warnings.warn(f"genzoo plugin {key!r} {error}.", GenzooPluginWarning, stacklevel=3)

    def register(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object at run time (tests, notebooks) and run its hooks.

        It loads after every installed plugin, so it loses any name clash.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self.infos:
            raise PluginError(f"a plugin named {name!r} is already registered")
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", None))
        self.infos[name] = info
        if self._add(plugin, info):
            self._register([name])
        return info

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.registry.remove_plugin(name)
        self.infos.pop(name, None)

    def _add(self, plugin: object, info: PluginInfo) -> bool:
        try:
            self.pm.register(plugin, name=info.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001
            self._fail(info, "could not be registered", exc)
            return False
        try:
            self.pm.check_pending()  # a misspelt hook name fails loudly, and only this plugin
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001
            self.pm.unregister(plugin, name=info.name)
            self._fail(info, "declares a hook genzoo does not have", exc)
            return False
        return True

    def _register(self, names: list[str]) -> None:
        """Run registration hooks of ``names``, in that order: all families first, then all models, then datasets."""
        for hook_name in ("genzoo_register_families", "genzoo_register_models", "genzoo_register_datasets"):
            impls = {impl.plugin_name: impl for impl in getattr(self.pm.hook, hook_name).get_hookimpls()}
            for name in names:
                impl, info = impls.get(name), self.infos.get(name)
                if impl is None or info is None or not info.ok:
                    continue
                staged = self.registry.scoped(name)
                args = {"registry": staged}
                try:
                    impl.function(*(args[a] for a in impl.argnames))
                    done = staged.commit()
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - SystemExit from a hook is the plugin's failure too
                    self._fail(info, f"raised in {hook_name}", exc)
                    continue
                info.families += done.families
                info.models += done.models
                info.datasets += done.datasets
                info.rejected += done.rejected
                if done.rejected:
                    self._warn_rejected(info, done.rejected)

    def _warn_rejected(self, info: PluginInfo, rejected: list[Rejection]) -> None:
        """One warning per plugin and hook, naming the entries, both plugins of a clash and the rule."""
        shown = "; ".join(map(str, rejected[:2]))
        if len(rejected) > 2:  # e.g. a bad GENZOO_HUB_ORG rejects every converted model for the same reason
            more = [repr(r.name) for r in rejected[2:]]
            shown += f"; and {len(more)} more: {', '.join(more[:6])}" + (", ..." if len(more) > 6 else "")
        owners = {r.owner for r in rejected if r.owner and r.owner != info.name}
        rule = ""
        if owners:
            builtin = all(self.infos[o].builtin for o in owners if o in self.infos)
            rule = (
                " Built-in plugins load before third-party ones, so they keep their names."
                if builtin
                else " Plugins load built-ins first, then third parties by distribution name and entry-point name; "
                "the first keeps a name."
            )
        warnings.warn(
            f"genzoo plugin {info.name!r} had {len(rejected)} entr{'y' if len(rejected) == 1 else 'ies'} rejected: {shown}."
            f"{rule} The rest of {info.name!r} still works; run `genzoo plugins` for details.",
            GenzooPluginWarning,
            stacklevel=4,
        )

    def _fail(self, info: PluginInfo, what: str, exc: BaseException) -> None:
        info.error = f"{what}: {type(exc).__name__}: {exc}"
        info.traceback = "".join(traceback.format_exception(exc))
        # Anything it registered before failing goes too: all or nothing.
        self.registry.remove_plugin(info.name)
        info.families, info.models, info.datasets, info.rejected = [], [], [], []
        warnings.warn(
            f"genzoo plugin {info.name!r} {info.error}. The other plugins still work; "
            "run `genzoo plugins` for details.",
            GenzooPluginWarning,
            stacklevel=3,
        )


def _allowed_names(installed: set[str]) -> set[str] | None:
    """The entry-point names ``GENZOO_LOAD_PLUGINS`` allows (``None``: all); warns about names nobody has."""
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    names = {n.strip() for n in value.split(",") if n.strip()}
    for name in sorted(names - installed):
        suggestion = closest(name, installed)
        warnings.warn(
            f"{LOAD_ENV} names {name!r}, which is not an installed genzoo plugin"
            + (f"; did you mean {', '.join(map(repr, suggestion))}?" if suggestion else ".")
            + f" Installed plugins: {', '.join(sorted(installed)) or 'none'}.",
            GenzooPluginWarning,
            stacklevel=4,
        )
    return names


_host: PluginHost | None = None
_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, loading entry points on first use."""
    global _host
    with _lock:
        if _host is None:
            host = PluginHost()
            host.load_entry_points()
            _host = host
        return _host


def get_registry() -> Registry:
    return get_host().registry


def plugin_infos() -> list[PluginInfo]:
    return sorted(get_host().infos.values(), key=lambda i: i.name)


def register(plugin: object, name: str | None = None) -> PluginInfo:
    """Register a plugin object (a module or any object with hookimpls) now."""
    return get_host().register(plugin, name)


def unregister(name: str) -> None:
    get_host().unregister(name)


def reset() -> None:
    """Forget all plugins; the next use reloads entry points (honouring GENZOO_LOAD_PLUGINS)."""
    global _host
    with _lock:
        _host = None
