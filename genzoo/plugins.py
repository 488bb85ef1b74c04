"""The plugin manager: finds, loads and isolates genzoo plugins.

Every family, built-in or third-party, arrives through the entry-point group
``genzoo``. Each entry point is loaded on its own: one that fails to import,
declares a misspelt hook, or raises while registering is recorded with its
traceback (``genzoo plugins`` shows it), reported once with a warning, and
the rest of the zoo keeps working.

``GENZOO_LOAD_PLUGINS`` limits which entry points load: a comma-separated
list of entry-point names; set but empty means none (as ``LLM_LOAD_PLUGINS``
does in llm).
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
from .registry import Registry

ENTRY_POINT_GROUP = "genzoo"
LOAD_ENV = "GENZOO_LOAD_PLUGINS"


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

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "families": self.families,
            "models": self.models,
            "datasets": self.datasets,
            "error": self.error,
        }


class PluginHost:
    """One pluggy manager, the registry it fills, and a report per plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.infos: dict[str, PluginInfo] = {}

    # -- loading ---------------------------------------------------------
    def load_entry_points(self) -> None:
        allowed = _allowed_names()
        new: list[str] = []
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in self.infos:  # the same plugin found twice on sys.path
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            )
            self.infos[ep.name] = info
            try:
                plugin = ep.load()
            except BaseException as exc:  # noqa: BLE001 - a plugin must not take the zoo down
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                self._fail(info, f"failed to import {ep.value}", exc)
                continue
            if self._add(plugin, info):
                new.append(ep.name)
        self._register(new)

    def register(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object at run time (tests, notebooks) and run its hooks."""
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
        except Exception as exc:  # noqa: BLE001
            self._fail(info, "could not be registered", exc)
            return False
        try:
            self.pm.check_pending()  # a misspelt hook name fails loudly, and only this plugin
        except Exception as exc:  # noqa: BLE001
            self.pm.unregister(plugin, name=info.name)
            self._fail(info, "declares a hook genzoo does not have", exc)
            return False
        return True

    def _register(self, names: list[str]) -> None:
        """Run registration hooks of ``names``: all families first, then all models, then datasets."""
        for hook_name in ("genzoo_register_families", "genzoo_register_models", "genzoo_register_datasets"):
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                info = self.infos.get(impl.plugin_name)
                if impl.plugin_name not in names or info is None or not info.ok:
                    continue
                staged = self.registry.scoped(impl.plugin_name)
                args = {"registry": staged}
                try:
                    impl.function(*(args[a] for a in impl.argnames))
                    staged.commit()
                except Exception as exc:  # noqa: BLE001
                    self._fail(info, f"raised in {hook_name}", exc)
                    continue
                info.families += [f.name for f in staged.families]
                info.models += [m.name for m in staged.models]
                info.datasets += [d.name for d in staged.datasets]

    def _fail(self, info: PluginInfo, what: str, exc: BaseException) -> None:
        info.error = f"{what}: {type(exc).__name__}: {exc}"
        info.traceback = "".join(traceback.format_exception(exc))
        # Anything it registered before failing goes too: all or nothing.
        self.registry.remove_plugin(info.name)
        info.families, info.models, info.datasets = [], [], []
        warnings.warn(
            f"genzoo plugin {info.name!r} {info.error}. The other plugins still work; "
            "run `genzoo plugins` for details.",
            GenzooPluginWarning,
            stacklevel=3,
        )


def _allowed_names() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


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
