"""The hooks a genzoo plugin may implement.

A plugin is any importable module (or object) exposed through the
``genzoo`` entry-point group. It marks its functions with
:data:`hookimpl` and genzoo calls them once, when the zoo is first used::

    import genzoo

    @genzoo.hookimpl
    def genzoo_register_families(registry):
        registry.add_family("toy", model="genzoo_toy.model:ToyModel")

    @genzoo.hookimpl
    def genzoo_register_models(registry):
        registry.add_model("toy-tiny", family="toy", config={"width": 8}, ...)

Hook functions may declare only the arguments they use. Model classes are
named as ``"module:Class"`` strings so that listing models does not import
every plugin's torch code.
"""

from __future__ import annotations

import pluggy

PROJECT = "genzoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genzoo_register_families(registry) -> None:
    """Add model families with ``registry.add_family(...)``.

    Called for every plugin before any :func:`genzoo_register_models`, so a
    plugin may register named models of another plugin's family.
    """


@hookspec
def genzoo_register_models(registry) -> None:
    """Add named models with ``registry.add_model(...)``."""


@hookspec
def genzoo_register_datasets(registry) -> None:
    """Add named datasets with ``registry.add_dataset(name, "module:factory", description=...)``.

    ``genzoo train FAMILY --data NAME`` and :func:`genzoo.data.get_dataset`
    find them by name; the factory is imported only when the data is used.
    """
