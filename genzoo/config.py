"""Checking model configs (and ``config.json`` headers) when they are built.

A bad value (``latent_dim=-3``, ``lr=nan``, ``widths=[]``) from ``--set``,
``genzoo.create(...)`` or a downloaded ``config.json`` should stop with one
:class:`~genzoo.errors.ConfigError` naming the field, not a traceback from
deep inside ``nn.Linear``. The checks are driven by the config dataclass's
annotations, so a family declares only what the types cannot say:

- ``int`` fields take ints (not bools, not floats such as ``1e9``); ``float``
  fields take ints or floats that are finite; ``bool`` only ``True``/``False``;
  ``str`` only strings; ``list[X]`` a list (or tuple) of ``X``; ``X | None``
  also ``None``. Other annotations are not checked.
- Default rules: an ``int`` field (or ``list[int]`` element) whose default is
  positive stays ``>= 1`` (sizes, widths, counts); a list whose default is
  non-empty stays non-empty.
- Ranges the rules cannot guess are declared once on the config class, as
  interval strings that also read well in the error message::

      @dataclass
      class VAEConfig:
          limits: ClassVar[dict[str, str]] = {"lr": "(0, inf)", "beta": "[0, inf)"}

  A declared range replaces the default rule for that field (``"[0, inf)"``
  lets a count be 0); for a list it applies to every element. Subclasses
  inherit their bases' ``limits`` and may override single fields.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from functools import lru_cache
from typing import Any, Mapping

from .errors import CheckpointError, ConfigError

_INTERVAL = re.compile(r"^\s*([\[(])\s*(-?inf|[-+0-9.e]+)\s*,\s*(inf|[-+0-9.e]+)\s*([\])])\s*$")


@dataclasses.dataclass(frozen=True)
class _Interval:
    lo: float
    hi: float
    lo_open: bool
    hi_open: bool

    @classmethod
    def parse(cls, text: str, where: str) -> _Interval:
        m = _INTERVAL.match(text)
        if not m:
            raise ValueError(f"{where}: limit {text!r} is not an interval like '[0, 1)' or '(0, inf)'")
        return cls(float(m[2]), float(m[3]), m[1] == "(", m[4] == ")")

    def __contains__(self, v: float) -> bool:
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return above and below

    def describe(self) -> str:
        """``>= 1``, ``> 0`` or ``in [0, 1)``: the shortest honest wording."""
        num = lambda v: f"{v:g}"  # noqa: E731
        if math.isinf(self.hi) and not math.isinf(self.lo):
            return f"{'>' if self.lo_open else '>='} {num(self.lo)}"
        if math.isinf(self.lo) and not math.isinf(self.hi):
            return f"{'<' if self.hi_open else '<='} {num(self.hi)}"
        return f"in {'(' if self.lo_open else '['}{num(self.lo)}, {num(self.hi)}{')' if self.hi_open else ']'}"


_AT_LEAST_ONE = _Interval(1, math.inf, False, False)


@lru_cache(maxsize=None)
def _rules(config_class: type) -> dict[str, tuple[Any, _Interval | None, bool]]:
    """Field name -> (resolved annotation, range or None, must be non-empty), worked out once per class."""
    hints = typing.get_type_hints(config_class)
    declared: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):  # subclasses override their bases' limits
        declared.update(vars(klass).get("limits", {}) or {})
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(declared) - names)
    if unknown:
        raise ValueError(f"{config_class.__name__}.limits names no field {unknown}")
    rules = {}
    for f in dataclasses.fields(config_class):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )  # fmt: skip
        kind = hints.get(f.name, Any)
        if f.name in declared:
            interval: _Interval | None = _Interval.parse(declared[f.name], f"{config_class.__name__}.{f.name}")
        else:  # the default rule: positive int defaults (and list elements) are sizes and counts
            values = default if isinstance(default, list) else [default]
            positive = bool(values) and all(type(v) is int and v > 0 for v in values)
            interval = _AT_LEAST_ONE if positive and _base(kind) in (int, list) else None
        rules[f.name] = (kind, interval, isinstance(default, list) and bool(default))
    return rules


def _base(kind: Any) -> Any:
    """``list[int] | None`` -> ``list``; ``int`` -> ``int``."""
    args = [a for a in typing.get_args(kind) if a is not type(None)] if _is_union(kind) else [kind]
    return typing.get_origin(args[0]) or args[0] if len(args) == 1 else None


def _is_union(kind: Any) -> bool:
    import types

    return typing.get_origin(kind) in (typing.Union, types.UnionType)


def _type_name(kind: Any) -> str:
    if _is_union(kind):
        parts = [_type_name(a) for a in typing.get_args(kind) if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in typing.get_args(kind) else "")
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(kind) or (Any,)
        return f"a list of {_type_name(inner).removeprefix('an ').removeprefix('a ')}s"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(kind, str(kind))


def _fits(kind: Any, value: Any) -> bool:
    """Whether ``value`` has the annotated type (``Any`` and unknown types always fit)."""
    if _is_union(kind):
        return any(_fits(a, value) for a in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)
    if kind is bool:
        return isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if typing.get_origin(kind) in (list, tuple) and typing.get_origin(kind) is not None:
        args = typing.get_args(kind)
        return isinstance(value, (list, tuple)) and all(_fits(args[0] if args else Any, v) for v in value)
    return True


def _problem(kind: Any, interval: _Interval | None, non_empty: bool, value: Any) -> str | None:
    """What is wrong with ``value`` for a field, as the end of a sentence, or ``None``."""
    wanted = _type_name(kind)
    if interval is not None and _base(kind) in (int, float):
        wanted += f" {interval.describe()}"
    elif interval is not None and _base(kind) is list:
        wanted += f", each {interval.describe()}"
    if non_empty:
        wanted += " (at least one)"
    if not _fits(kind, value):
        return wanted
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)) and non_empty and not items:
        return wanted
    if interval is not None and any(isinstance(v, (int, float)) and v not in interval for v in items):
        return wanted
    return None


def check_config_values(config_class: type, values: Mapping[str, Any], family: str = "") -> None:
    """Check ``values`` (field -> value) against ``config_class``'s annotations and limits.

    Runs before the dataclass is built, so ``__post_init__`` checks compare
    numbers with numbers. Raises :class:`ConfigError` naming the first bad
    field, the value and what is allowed.
    """
    rules = _rules(config_class)
    for name, value in values.items():
        if name not in rules:
            continue  # unknown fields are reported (with suggestions) by make_config
        kind, interval, non_empty = rules[name]
        wanted = _problem(kind, interval, non_empty, value)
        if wanted is not None:
            who = family or config_class.__name__
            raise ConfigError(f"{who} config: {name} must be {wanted}, got {value!r}")


def validate_config(config: Any, family: str = "") -> Any:
    """Check every field of a built config dataclass instance; return it unchanged.

    ``GenzooModel.make_config`` calls this, so ``create``, ``load`` (a
    ``config.json``) and the converters all go through it.
    """
    check_config_values(type(config), {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, family)
    return config


def validate_meta(meta: Mapping[str, Any], where: str = "config.json") -> Mapping[str, Any]:
    """Check the header of a genzoo ``config.json`` beyond its keys being present: their types.

    ``family`` must be a non-empty string, ``config`` an object, and
    ``components`` an object of group name -> file name. Raises
    :class:`CheckpointError` (the folder is at fault, not the user's config).
    """
    family, config, components = meta.get("family"), meta.get("config"), meta.get("components")
    if not isinstance(family, str) or not family:
        raise CheckpointError(f"{where}: \"family\" must be a family name such as \"vae\", got {family!r}")
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: \"config\" must be an object of config fields, got {type(config).__name__}")
    if not isinstance(components, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in components.items()):
        raise CheckpointError(
            f"{where}: \"components\" must be an object of group name -> file name "
            f"(e.g. {{\"encoder\": \"encoder.safetensors\"}}), got {_short_json(components)}"
        )
    return meta


def _short_json(value: Any, n: int = 60) -> str:
    """``value`` as short JSON for an error message."""
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"
