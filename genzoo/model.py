"""The base class of every family's model.

A :class:`GenzooModel` is an ``nn.Module`` built from one config dataclass.
Its weights are split into *component groups*, one safetensors file each
(``generator``, ``discriminator``, ...), so inference can fetch and load only
what it needs. A group the model was loaded without is replaced by a
:class:`MissingComponent` that says how to get it instead of failing obscurely.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import Dataset

from .errors import ConfigError, MissingComponentError


class _SkipMetaFills(TorchFunctionMode):
    """Skips in-place value fills on meta tensors: they have no values, so the fill is a no-op anyway.

    Weight init (``nn.init.normal_``, timm's ``trunc_normal_``...) on meta tensors
    is not free: in PyTorch 2.14 the first ``normal_`` on a meta tensor imports
    ``torch._dynamo`` (about 2.5 s), and every call goes through a Python
    decomposition (about 2 ms). Shape-changing or flag-changing in-place
    methods (``resize_``, ``requires_grad_``) are not in the list and run as usual.
    """

    FILLS = frozenset({
        "normal_", "uniform_", "trunc_normal_", "log_normal_", "exponential_", "cauchy_", "geometric_", "random_",
        "bernoulli_", "erfinv_", "fill_", "zero_", "copy_", "clamp_", "clamp_min_", "clamp_max_", "mul_", "add_",
        "sub_", "div_", "addcmul_", "addcdiv_", "sqrt_", "exp_", "log_", "neg_", "abs_", "orthogonal_",
    })  # fmt: skip

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", None) in self.FILLS:
            target = args[0] if args else kwargs.get("tensor")  # nn.init passes its tensor by keyword
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_device():
    """Build modules on the meta device without running their weight init.

    genzoo builds every model it loads this way and then assigns the real
    tensors (``load_state_dict(assign=True)``), so init would be thrown away.
    The skipping is a torch function mode, so it is local to this thread and block.
    """
    with torch.device("meta"), _SkipMetaFills():
        yield


class MissingComponent(nn.Module):
    """Stands in for a component group the model was loaded without."""

    def __init__(self, name: str, family: str, loaded: list[str]):
        super().__init__()
        self._missing = (name, family, tuple(loaded))

    def _error(self) -> MissingComponentError:
        name, family, loaded = self._missing
        return MissingComponentError(
            f"this {family} model was loaded with components={list(loaded)}, so {name!r} is "
            f"missing; load it with components=None (all) or include {name!r}"
        )

    def forward(self, *args, **kwargs):
        raise self._error()

    def __getattr__(self, attr: str):
        if attr.startswith("_") or attr in ("training",):
            return super().__getattr__(attr)
        raise self._error()

    def extra_repr(self) -> str:
        return f"missing={self._missing[0]!r}"


class GenzooModel(nn.Module):
    """Base class of family models.

    Subclasses set :attr:`family`, :attr:`config_class` (a dataclass) and
    optionally :attr:`component_groups`, and build their submodules in
    ``__init__(config)``. Construction must not depend on the device: genzoo
    builds models on the meta device and assigns loaded tensors.
    """

    #: The family name this class implements (as registered by its plugin).
    family: ClassVar[str] = ""
    #: The config dataclass; its fields are the family's hyperparameters.
    config_class: ClassVar[type]
    #: Group name -> attribute names (submodules or parameters) stored in
    #: ``<group>.safetensors``. ``None``: each direct child module is a group.
    component_groups: ClassVar[Mapping[str, tuple[str, ...]] | None] = None
    #: The groups inference needs (what ``load(..., components="inference")`` fetches).
    inference_components: ClassVar[tuple[str, ...] | None] = None
    #: Hugging Face pipeline tag for the model card.
    pipeline_tag: ClassVar[str | None] = None
    #: The recipe's loop defaults for `genzoo train` (e.g. ``{"steps": 4000, "batch_size": 64}``).
    train_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Extra files (tokenizer files, ...) that travel with the checkpoint.
    extra_files: ClassVar[tuple[str, ...]] = ()
    #: Upstream layouts :meth:`from_layout` reads, each with the files a Hub repo in it
    #: holds (``"a|b"``: the first that exists; a trailing ``"?"``: optional). See genzoo.convert.
    layouts: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(self, config: Any):
        super().__init__()
        self.config = config
        #: Card facts (description, dataset, license, paper, metrics, tags).
        self.card: dict[str, Any] = {}
        #: Where the weights came from (registry name, Hub id or folder), if loaded.
        self.source: str | None = None
        #: The model's name (its card title), kept when a loaded model is saved again.
        self.name: str | None = None

    # -- config ----------------------------------------------------------
    @classmethod
    def make_config(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> Any:
        """Build the config dataclass, with a clear error for unknown fields and bad values.

        Values are checked against the dataclass's annotations and ``limits``
        (see :mod:`genzoo.config`) before ``__post_init__`` sees them, and the
        built config again as a whole (defaults included).
        """
        merged = {**(values or {}), **overrides}
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(merged) - fields)
        if unknown:
            hints = []
            for u in unknown:
                near = difflib.get_close_matches(u, fields, n=1)
                hints.append(f"{u!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
            raise ConfigError(
                f"{cls.family or cls.__name__} config has no field {', '.join(hints)}; "
                f"valid fields: {', '.join(sorted(fields))}"
            )
        from .config import check_config_values, validate_config

        check_config_values(cls.config_class, merged, cls.family)
        try:
            config = cls.config_class(**merged)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid {cls.family} config {merged}: {exc}") from exc
        return validate_config(config, cls.family)

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    # -- components ------------------------------------------------------
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Group name -> attribute names, in a stable order."""
        if self.component_groups is not None:
            return {k: tuple(v) for k, v in self.component_groups.items()}
        return {name: (name,) for name, _ in self.named_children()}

    def group_of_key(self, key: str) -> str | None:
        """Which group a state-dict key belongs to (``None`` if none)."""
        head = key.split(".", 1)[0]
        for group, attrs in self.groups().items():
            if head in attrs:
                return group
        return None

    def split_state_dict(self, state: Mapping[str, torch.Tensor] | None = None) -> dict[str, dict[str, torch.Tensor]]:
        """The state dict cut into one dict per group (every key in exactly one)."""
        state = self.state_dict() if state is None else state
        out: dict[str, dict[str, torch.Tensor]] = {g: {} for g in self.groups()}
        orphans = []
        for key, value in state.items():
            group = self.group_of_key(key)
            if group is None:
                orphans.append(key)
            else:
                out[group][key] = value
        if orphans:
            raise ConfigError(
                f"{type(self).__name__}: state-dict keys {orphans[:5]} belong to no component "
                "group; list their attributes in `component_groups`"
            )
        return out

    def loaded_components(self) -> list[str]:
        """The groups that hold real weights (not :class:`MissingComponent`)."""
        return [g for g, attrs in self.groups().items() if not self._is_missing(attrs)]

    def _is_missing(self, attrs: tuple[str, ...]) -> bool:
        def gone(a: str) -> bool:  # a placeholder module, or a bare parameter/buffer dropped to None
            if a in self._modules:
                return isinstance(self._modules[a], MissingComponent)
            return (self._parameters.get(a) if a in self._parameters else self._buffers.get(a)) is None

        present = [a for a in attrs if a in self._modules or a in self._parameters or a in self._buffers]
        return bool(present) and all(gone(a) for a in present)

    def drop_components(self, groups: list[str]) -> None:
        """Replace ``groups`` by placeholders that explain they were not loaded."""
        keep = [g for g in self.groups() if g not in groups]
        for group in groups:
            for attr in self.groups()[group]:
                if attr in self._modules:
                    self._modules[attr] = MissingComponent(group, self.family, keep)
                elif attr in self._parameters:
                    self._parameters[attr] = None
                elif attr in self._buffers:
                    self._buffers[attr] = None

    def require(self, *groups: str) -> None:
        """Raise :class:`MissingComponentError` unless all ``groups`` are loaded."""
        loaded = self.loaded_components()
        for g in groups:
            if g not in loaded:
                raise MissingComponentError(
                    f"this {self.family} model was loaded with components={loaded}; {g!r} is needed here. "
                    f"Load it with components=None or include {g!r}."
                )

    def compile_targets(self) -> list[nn.Module]:
        """The modules ``genzoo.load(compile=True)`` compiles: by default each loaded component.

        ``nn.Module.compile`` compiles a module's ``__call__`` only, so a family
        whose tasks reach the heavy layers through other methods (the VAE's
        ``sample`` goes through ``decoder.render``) names the sub-modules those
        methods call instead.
        """
        groups = self.groups()
        return [
            self._modules[a] for g in self.loaded_components() for a in groups[g] if isinstance(self._modules.get(a), nn.Module)
        ]

    def describe(self) -> str:
        """A short noun phrase for model cards ("Two-level ladder VAE"); families refine it."""
        return f"A {self.family} model"

    def save_extra_files(self, folder) -> None:
        """Write the files named in :attr:`extra_files` into ``folder`` (override if any)."""

    def load_extra_files(self, folder) -> None:
        """Read the files named in :attr:`extra_files` from ``folder`` (override if any)."""

    def folder_dataset(self, root: Path, split: str, **options: Any) -> Dataset | None:
        """The training data a folder holds for this family, or ``None`` for a plain image folder.

        `genzoo train FAMILY --data FOLDER` asks the model first, so a family
        whose items are not ``(image, label)`` can read its own folder layout
        (Pix2Pix: A|B pairs; CycleGAN: ``trainA/`` and ``trainB/``).
        ``options`` are the command's ``--data-option`` values.
        """
        return None

    def materialize_buffers(self) -> None:
        """Recompute non-persistent buffers after a meta-device build (override if any)."""

    @classmethod
    def from_layout(cls, path, layout: str | None = None, config: Mapping[str, Any] | None = None):
        """Read upstream weights (a file, or a folder of :attr:`layouts` files) as a ``genzoo.convert.Converted``.

        ``layout`` is one of :attr:`layouts` (``None``: detect it); ``config``
        overrides what the converter infers. Families with converters override this.
        """
        raise ConfigError(f"the {cls.family or cls.__name__} family cannot convert upstream weights")

    # -- convenience -----------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for t in self.parameters():
            return t.dtype
        return torch.float32

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
