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
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import Dataset

from .errors import ConfigError, DtypeError, MissingComponentError, ShapeError

if TYPE_CHECKING:
    from .export import ExportTarget

#: What a task method returns: ``"images"`` is ``(images, nrow)``, a batch in the
#: model's output range laid out as a grid with ``nrow`` per row; ``"table"`` is a
#: dict with ``"rows"`` (a list of dicts) and optionally ``"images"``/``"nrow"``.
TaskReturns = Literal["images", "table"]
TASK_RETURNS = ("images", "table")


@dataclass(frozen=True)
class TaskSpec:
    """One task of a family, as declared with :func:`task` on its model class."""

    name: str
    method: str
    default: bool = False
    returns: TaskReturns = "images"
    description: str = ""
    #: The keyword options the task method takes (``n``, ``seed``, ``inputs``...), in order.
    options: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def task(name: str | None = None, *, default: bool = False, returns: TaskReturns = "images") -> Callable:
    """Declare a model method as a task (what `genzoo run --task`, `genzoo info` and the docs list).

    ::

        class ToyModel(GenzooModel):
            @genzoo.task("sample", default=True)
            def run_sample(self, n: int = 16, seed: int = 0):
                return self.sample(n, seed=seed), 8

    The task's name defaults to the method's name without a ``run_`` prefix.
    The method takes only keyword options (``n``, ``seed``, ``inputs``,
    ``steps``, ``labels``, ``path``, ``classes``, ``templates``...; the CLI
    passes those the user gave) and returns what ``returns`` says (see
    :data:`TaskReturns`). Exactly one task of a family is the default. This
    declaration is the only one: the registry, ``genzoo info``, ``genzoo run``
    and :mod:`genzoo.testing` all read it.
    """
    if returns not in TASK_RETURNS:
        raise ConfigError(f"task returns must be one of {', '.join(TASK_RETURNS)}, got {returns!r}")

    def mark(fn: Callable) -> Callable:
        task_name = name or (fn.__name__[4:] if fn.__name__.startswith("run_") else fn.__name__)
        fn.__genzoo_task__ = (task_name, default, returns)
        return fn

    return mark


@dataclass(frozen=True)
class InputSpec:
    """What images a model's tasks take: the contract between :meth:`GenzooModel.preprocess` and callers.

    ``size`` is ``(height, width)``, or ``None`` when the network takes any
    size that is a multiple of ``multiple_of`` (fully convolutional
    translators). Pixel values are floats in ``value_range`` before
    normalisation; when ``mean``/``std`` are set (CLIP) ``preprocess``
    normalises per channel after scaling to [0, 1], as the reference does.
    """

    channels: int
    size: tuple[int, int] | None
    value_range: tuple[float, float] = (-1.0, 1.0)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    multiple_of: int = 1

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` for a fixed size, else ``None``."""
        return (self.channels, *self.size) if self.size is not None else None

    def describe(self) -> str:
        """One line for `genzoo info`: ``3x256x256, values in [-1, 1]``."""
        size = "x".join(map(str, self.size)) if self.size else f"any size (multiple of {self.multiple_of})"
        text = f"{self.channels} channel(s), {size}, values in [{self.value_range[0]:g}, {self.value_range[1]:g}]"
        if self.mean is not None:
            text += f", normalised with mean {self.mean} and std {self.std}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    #: Config overrides for a tiny instance: what :func:`genzoo.testing.check_family` builds.
    tiny_config: ClassVar[Mapping[str, Any]] = {}

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

    def export_targets(self) -> dict[str, "ExportTarget"]:
        """What `genzoo export` writes, one ONNX graph each: ``{name: genzoo.export.ExportTarget}``.

        The default takes each loaded group of :attr:`inference_components`
        (all groups when that is ``None``) and builds a target from the
        shapes its component's interface declares (encoder: images; decoder:
        latent; generator: noise or images, plus labels; text encoder:
        tokens), with a dynamic batch. Discriminators are left out. A family
        whose networks take any image size says so here (``multiple_of``),
        as the translation families do.
        """
        from .export import default_targets

        return default_targets(self)

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

    # -- tasks -----------------------------------------------------------
    @classmethod
    def task_specs(cls) -> dict[str, TaskSpec]:
        """The tasks declared with :func:`task` on this class and its bases, default first.

        A subclass overriding a task method keeps the task; declaring two
        defaults, or a task name twice on different methods, is a :class:`ConfigError`.
        """
        found: dict[str, TaskSpec] = {}
        for klass in reversed(cls.__mro__):  # bases first, so a subclass's declaration wins
            here: dict[str, str] = {}
            for attr, fn in vars(klass).items():
                mark = getattr(fn, "__genzoo_task__", None)
                if mark is None:
                    continue
                name, default, returns = mark
                if name in here:
                    raise ConfigError(f"{klass.__name__} declares task {name!r} twice: on {here[name]} and {attr}")
                here[name] = attr
                options = tuple(
                    p.name for p in inspect.signature(fn).parameters.values()
                    if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
                )  # fmt: skip
                doc = (inspect.getdoc(fn) or "").strip().splitlines()
                found[name] = TaskSpec(name, attr, default, returns, doc[0] if doc else "", options)
        defaults = [t.name for t in found.values() if t.default]
        if len(defaults) > 1:
            raise ConfigError(f"{cls.__name__} declares more than one default task: {', '.join(defaults)}")
        if found and not defaults:
            first = next(iter(found))
            found[first] = dataclasses.replace(found[first], default=True)
        return dict(sorted(found.items(), key=lambda kv: not kv[1].default))

    @classmethod
    def default_task(cls) -> str | None:
        """The task `genzoo run NAME` runs without ``--task`` (``None``: the family has no tasks)."""
        return next(iter(cls.task_specs()), None)

    def run_task(self, name: str | None = None, **options: Any) -> Any:
        """Run task ``name`` (default: the default task) with keyword ``options``.

        Options the task does not take are a :class:`ConfigError` naming the
        ones it does, not silently ignored; ``None`` values count as not given.
        """
        specs = self.task_specs()
        if not specs:
            raise ConfigError(f"the {self.family} family declares no tasks (see genzoo.task)")
        name = name or next(iter(specs))
        if name not in specs:
            raise ConfigError(
                f"{self.family} has no task {name!r}; its tasks are: {', '.join(specs)}"
                + "".join(f" (did you mean {m!r}?)" for m in difflib.get_close_matches(name, specs, n=1))
            )
        spec = specs[name]
        given = {k: v for k, v in options.items() if v is not None}
        extra = sorted(set(given) - set(spec.options))
        if extra:
            raise ConfigError(
                f"task {name!r} of {self.family} does not take {', '.join(extra)}; "
                f"it takes: {', '.join(spec.options) or 'no options'}"
            )
        return getattr(self, spec.method)(**given)

    # -- inputs ----------------------------------------------------------
    @property
    def input_spec(self) -> InputSpec | None:
        """The images this model's tasks take, or ``None`` when it takes none (a generator alone).

        Families override it; :meth:`preprocess`, `genzoo info` and the
        conformance kit read it.
        """
        return None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of a fixed-size :attr:`input_spec`; a :class:`ShapeError` otherwise."""
        spec = self.input_spec
        if spec is None or spec.shape is None:
            raise ShapeError(f"{self.family} models take " + ("no images" if spec is None else "images of any size"))
        return spec.shape

    def preprocess(self, inputs: Any) -> torch.Tensor:
        """Files, PIL images, numpy arrays or tensors -> the batch this model's tasks take.

        Reads and resizes to :attr:`input_spec` (``genzoo.images.to_tensor``),
        scales to its value range and normalisation, and moves the batch to the
        model's device and dtype. A float tensor is taken as already in the
        [-1, 1] image range (and resized like the rest when its size differs;
        anything but CHW/NCHW is a :class:`ShapeError`). Families with other
        inputs override it.
        """
        from .images import to_tensor

        spec = self.input_spec
        if spec is None:
            raise ShapeError(f"{self.family} models take no image inputs")
        x = to_tensor(inputs, size=spec.size, channels=spec.channels)
        lo, hi = spec.value_range
        if (lo, hi) != (-1.0, 1.0):
            x = (x + 1) * ((hi - lo) / 2) + lo
        if spec.mean is not None:
            mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
            std = torch.tensor(spec.std).view(1, -1, 1, 1)
            x = (x - mean) / std
        if spec.size is None and spec.multiple_of > 1 and any(d % spec.multiple_of for d in x.shape[-2:]):
            raise ShapeError(
                f"{self.family} takes images whose sides are multiples of {spec.multiple_of}, got "
                f"{tuple(x.shape[-2:])}; resize or pad them first"
            )
        return x.to(self.device, self.dtype)

    def as_input(self, images: Any) -> torch.Tensor:
        """What public methods (``reconstruct``, ``encode``...) call on their argument.

        A float tensor must already be a batch of the spec's shape (a clear
        :class:`ShapeError` otherwise: a wrong tensor is the caller's mistake,
        not something to resize away); files, PIL images and arrays go through
        :meth:`preprocess`. Returns the batch on the model's device and dtype.
        """
        from .interfaces import expect_images

        spec = self.input_spec
        if isinstance(images, torch.Tensor) and images.is_floating_point() and spec is not None and spec.shape:
            return expect_images(images, spec.shape).to(self.device, self.dtype)
        return self.preprocess(images)

    def postprocess(self, images: torch.Tensor) -> list:
        """A batch of model outputs in [-1, 1] -> PIL images."""
        from .images import to_pil

        return to_pil(images.detach().float().cpu())

    # -- training and evaluation (the contract of genzoo.training) -------
    def configure_optimizers(self, cfg: Any) -> Mapping[str, torch.optim.Optimizer] | torch.optim.Optimizer:
        """The optimisers, by name (``{"generator": ..., "discriminator": ...}``); ``cfg`` is the TrainConfig.

        Families that train implement this and :meth:`training_step`.
        """
        raise ConfigError(f"the {self.family or type(self).__name__} family cannot be trained (no configure_optimizers)")

    def configure_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer], cfg: Any) -> Mapping[str, Any]:
        """LR schedulers keyed by optimiser name; a value may be ``(scheduler, "step"|"epoch")``. Default: none."""
        return {}

    def training_step(self, batch: Any, ctx: Any) -> Mapping[str, torch.Tensor]:
        """One optimisation step on ``batch`` through ``ctx`` (backward, step); returns losses by name.

        ``batch`` is what the data loader yields: ``[images, labels]`` for the
        named datasets (``--data digits``) and image folders, the family's own
        items for :meth:`folder_dataset` data.
        """
        raise ConfigError(f"the {self.family or type(self).__name__} family cannot be trained (no training_step)")

    def evaluate(self, dataset: Any) -> Mapping[str, float]:
        """Held-out metrics on ``dataset`` (what the card records). Default: none."""
        return {}

    def adapt_to_data(self, dataset: Any) -> None:
        """Take facts from the training data into the config before training (CLIP: class names). Default: nothing."""

    def example_dataset(self, n: int = 8) -> Dataset:
        """``n`` training items of the kind :meth:`training_step` takes, built offline in a moment.

        :func:`genzoo.testing.check_family` trains two steps on it. The default
        is ``n`` scikit-learn digits as ``(image, label)`` items at
        :attr:`input_spec`'s channels and size (16 px, rounded up to
        ``multiple_of``, for an any-size spec), with the digits' ``classes``.
        Families whose batches are something else (image pairs, unpaired
        domains) override it.
        """
        from .data import DigitsDataset
        from .images import to_tensor

        spec = self.input_spec
        if spec is None:
            raise ConfigError(
                f"{self.family or type(self).__name__} models take no images, so the default example_dataset "
                "does not apply; override example_dataset(n) to return a few training items"
            )
        size = spec.size or (-(-16 // spec.multiple_of) * spec.multiple_of,) * 2
        digits = DigitsDataset("train", size=8)  # the native 8x8: only the n used are resized
        images = to_tensor(digits.images[:n], size=size, channels=spec.channels).clamp(-1, 1)
        data = torch.utils.data.TensorDataset(images, digits.labels[:n])
        data.classes = DigitsDataset.classes  # what a labelled data set tells adapt_to_data
        return data

    @classmethod
    def trains(cls) -> bool:
        """Whether the family implements :meth:`training_step` and :meth:`configure_optimizers`."""
        return cls.implements("training_step") and cls.implements("configure_optimizers")

    @classmethod
    def implements(cls, hook: str) -> bool:
        """Whether this class overrides the optional contract method ``hook`` (one of :data:`OPTIONAL_HOOKS`)."""
        if hook not in OPTIONAL_HOOKS:
            raise ConfigError(f"{hook!r} is not an optional hook of GenzooModel; those are {', '.join(OPTIONAL_HOOKS)}")
        return getattr(cls, hook) is not getattr(GenzooModel, hook)

    # -- image-to-image ----------------------------------------------------
    def translate(self, inputs: Any, **options: Any) -> torch.Tensor:
        """Image-to-image models: translate ``inputs`` (any kind :meth:`preprocess` reads) to a batch in [-1, 1].

        `genzoo run NAME FOLDER` calls it with ``keep_size=`` and
        ``batch_size=`` and the command's options (``direction``...).
        """
        raise ConfigError(
            f"{self.family} models do not translate images, so `genzoo run NAME FOLDER` does not apply; "
            "use -o FILE.png for its tasks"
        )

    def embed_images(self, inputs: Any) -> torch.Tensor:
        """Image-embedding models: one feature row per image of ``inputs`` (any kind :meth:`preprocess` reads).

        `genzoo embed NAME FOLDER` calls it batch by batch (with decoded PIL
        images) and L2-normalises the rows it stores.
        """
        raise ConfigError(
            f"{self.family} models do not embed images, so `genzoo embed` does not apply; "
            "use a model with an image encoder such as CLIP (genzoo list --family clip)"
        )

    # -- benchmark ---------------------------------------------------------
    def bench_inputs(self, batch_size: int) -> tuple[str, dict[str, Any]]:
        """What `genzoo bench` times: ``(method name, keyword arguments)`` for one batch of ``batch_size``.

        The default runs the default task with ``n=batch_size``; families
        override it with their main inference call on tensors of the model's
        device and dtype.
        """
        name = self.default_task()
        spec = self.task_specs().get(name) if name else None
        if spec is None or "n" not in spec.options:
            raise ConfigError(f"{type(self).__name__} must define bench_inputs(batch_size) for genzoo bench")
        return spec.method, {"n": batch_size, **({"seed": 0} if "seed" in spec.options else {})}

    # -- the Hugging Face habits: thin methods over genzoo's API ------------
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **load_kwargs: Any) -> "GenzooModel":
        """``genzoo.load(name_or_path, **load_kwargs)``, checked to be this class (``VAEModel.from_pretrained(...)``)."""
        from .api import load

        model = load(name_or_path, **load_kwargs)
        if not isinstance(model, cls):
            raise ConfigError(
                f"{name_or_path!r} is a {model.family} model ({type(model).__name__}), not a {cls.__name__}; "
                "load it with genzoo.load or that family's class"
            )
        return model

    def save_pretrained(self, folder: str | Path, **save_kwargs: Any) -> Path:
        """``genzoo.save(self, folder, **save_kwargs)``: config.json, one safetensors per component, README.md."""
        from .api import save

        return save(self, folder, **save_kwargs)

    def push_to_hub(self, repo_id: str, **push_kwargs: Any) -> Any:
        """``genzoo.push_to_hub(self, repo_id, **push_kwargs)``: save to a temporary folder and upload it with its card."""
        from .api import push_to_hub

        return push_to_hub(self, repo_id, **push_kwargs)

    def forward(self, *args: Any, **options: Any) -> Any:
        """Calling a model runs its default task: positional arguments fill the task's options in order.

        ``genzoo.load("vae-digits")(16)`` is ``run_task(None, n=16)``. Components
        stay plain modules: training calls them, not the model.
        """
        spec = self.task_specs().get(self.default_task() or "")
        if spec is None:
            raise ConfigError(f"the {self.family} family declares no tasks, so calling the model does nothing")
        if len(args) > len(spec.options):
            raise ConfigError(f"task {spec.name!r} takes at most {len(spec.options)} options ({', '.join(spec.options)})")
        return self.run_task(spec.name, **dict(zip(spec.options, args)), **options)

    # -- convenience -----------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the floating parameters (float32 if none); :class:`DtypeError` if they are mixed.

        ``genzoo.load`` gives every floating tensor one dtype, so a mix only comes
        from changing parts of a model by hand; answering with one of them would
        make inputs that fail later, far from the cause.
        """
        counts: dict[torch.dtype, int] = {}
        for t in self.parameters():
            if t.is_floating_point():
                counts[t.dtype] = counts.get(t.dtype, 0) + 1
        if len(counts) > 1:
            mix = ", ".join(f"{str(d).removeprefix('torch.')} ({n} tensors)" for d, n in counts.items())
            raise DtypeError(
                f"this {self.family or type(self).__name__} model's parameters mix dtypes: {mix}; "
                "cast it to one, e.g. model.to(torch.float32)"
            )
        return next(iter(counts), torch.float32)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


#: Contract methods a family may leave at their defaults; :meth:`GenzooModel.implements` tells which it overrides.
OPTIONAL_HOOKS = (
    "configure_optimizers", "training_step", "configure_schedulers", "evaluate", "adapt_to_data",
    "example_dataset", "translate", "embed_images", "bench_inputs", "folder_dataset", "from_layout", "materialize_buffers",
    "save_extra_files", "load_extra_files", "compile_targets", "preprocess", "postprocess", "describe",
    "export_targets",
)  # fmt: skip
