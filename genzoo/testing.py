"""The conformance kit: check a family (or a model with weights) against the family contract.

A plugin's own test suite runs it in one line::

    # tests/test_conformance.py of the genzoo_cats plugin
    import genzoo.testing

    test_genzoo_conformance = genzoo.testing.conformance_tests(families=["cats"], models=["cats-tiny"])

or calls the checks directly, e.g. on a class before it is registered::

    genzoo.testing.check_family(CatsModel, width=4)   # config overrides on top of CatsModel.tiny_config
    genzoo.testing.check_model("cats-tiny")

:func:`check_family` builds a tiny instance (``tiny_config`` merged with the
overrides) and checks, one step after the other: the config builds; a build
on the meta device has the same tensors as a real one; every tensor is in
exactly one component group; ``preprocess`` honours ``input_spec``; every
declared task runs with what a user of `genzoo run` would give it (``n=2``,
``seed=0``, two image files as ``inputs``, two ``classes``, each where the
task takes it) and returns what it declares, the same on a second run;
``bench_inputs`` names a method that runs; save -> load is bit-exact; each
group loads alone and every task then either runs (with the same result) or
raises :class:`~genzoo.errors.MissingComponentError`; two training steps
through :func:`genzoo.training.train` change the parameters (when the family
trains); ``evaluate`` returns finite numbers. :func:`check_model` loads a
named model (bundled, Hub or folder) and checks its tasks, input spec, card
and ``genzoo.info``.

A failed check raises ``AssertionError("check_family('cats') step 'tasks': ...")``
naming the family (or model), the step and what was wrong, so a plugin
author sees which part of the contract to fix. pytest is imported only by
:func:`conformance_tests`, so this module imports without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import numbers
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NoReturn

import numpy as np
import torch

from .model import GenzooModel, InputSpec, TaskSpec, meta_device

__all__ = ["check_family", "check_model", "conformance_tests", "ConformanceError"]

#: How far outside [-1, 1] task images may stray (float rounding of tanh outputs, bicubic overshoot).
RANGE_TOL = 1e-3
#: The ``n`` tasks get: small, so the whole kit stays fast.
TASK_N = 2
#: How far a loaded model's task results may stray from the in-memory model's (see :func:`_same`).
LOADED_TOL = 1e-4
#: Items of the example data set, steps and batch size of the training check.
TRAIN_ITEMS, TRAIN_STEPS, TRAIN_BATCH = 8, 2, 4


class ConformanceError(AssertionError):
    """A contract check failed; the message names the family or model and the step."""


class _Check:
    """Names failures ``check_family('vae') step 'tasks': ...`` and turns a step's crash into one."""

    def __init__(self, label: str):
        self.label = label
        self.current = "start"

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.current = name
        try:
            yield
        except ConformanceError:
            raise
        except Exception as exc:  # the family's own AssertionError too: it is a crash, not our verdict
            raise ConformanceError(f"{self._where()}: raised {type(exc).__name__}: {exc}") from exc

    def fail(self, message: str) -> NoReturn:
        raise ConformanceError(f"{self._where()}: {message}")

    def _where(self) -> str:
        return f"{self.label} step '{self.current}'"


# -- the public checks ---------------------------------------------------------
def check_family(family: str | type[GenzooModel], **config_overrides: Any) -> None:
    """Check a family against the contract on a tiny instance; ``AssertionError`` naming the step if it breaks it.

    ``family`` is a registered family name or a :class:`~genzoo.model.GenzooModel`
    subclass (registered or not). The config is the class's ``tiny_config``
    merged with ``config_overrides``. Everything runs on the CPU in a
    temporary folder that is removed afterwards.
    """
    check = _Check(f"check_family({_family_label(family)!r})")
    with check.step("registry"):
        cls = _model_class(check, family)
    with check.step("config"):
        config = cls.make_config(dict(getattr(cls, "tiny_config", {}) or {}), **config_overrides)
        if not dataclasses.is_dataclass(config):
            check.fail(f"make_config returned a {type(config).__name__}, not a dataclass instance")
    with check.step("build"):
        model = _build(check, cls, config)
    with check.step("meta-build"):
        _meta_build(check, cls, config, model)
    with check.step("groups"):
        _groups(check, model)
    with tempfile.TemporaryDirectory(prefix="genzoo-check-") as tmp:
        with check.step("input-spec"):
            options = _input_spec(check, model, Path(tmp))
        with check.step("tasks"):
            results = _tasks(check, model, options)
        with check.step("bench"):
            _bench(check, model)
        with check.step("save-load"):
            folder = _save_load(check, model, results, options, Path(tmp))
        with check.step("partial-load"):
            _partial_load(check, model, folder, results, options)
    trained, data = None, None
    if cls.trains():
        with check.step("training"):
            trained, data = _training(check, cls, config)
    if cls.implements("evaluate"):
        with check.step("evaluate"):
            _evaluate(check, trained, data, cls, config)


def check_model(name: str) -> None:
    """Check a model with weights (registered name, Hub repo id or folder): it loads, its tasks run, its card is complete.

    Also checks ``preprocess`` against ``input_spec``, that ``genzoo.info(name)``
    agrees with the model's family and tasks, and that
    ``components="inference"`` loads a model whose default task runs.
    """
    from . import api

    check = _Check(f"check_model({name!r})")
    with check.step("load"):
        model = api.load(name, device="cpu")
        if not isinstance(model, GenzooModel):
            check.fail(f"genzoo.load returned a {type(model).__name__}, not a GenzooModel")
    with tempfile.TemporaryDirectory(prefix="genzoo-check-") as tmp:
        with check.step("input-spec"):
            options = _input_spec(check, model, Path(tmp))
        with check.step("tasks"):
            _tasks(check, model, options)
        with check.step("card"):
            info = api.info(name)
            _card(check, {**model.card, **{k: v for k, v in info.card.items() if v}})
        with check.step("info"):
            if info.family != model.family:
                check.fail(f"genzoo.info says family {info.family!r} but the loaded model is {model.family!r}")
            if list(info.tasks) != list(model.task_specs()):
                check.fail(f"genzoo.info lists tasks {list(info.tasks)} but the model declares {list(model.task_specs())}")
        with check.step("inference-load"):
            part = api.load(name, device="cpu", components="inference")
            default = part.default_task()
            if default is not None:
                spec = part.task_specs()[default]
                _check_result(check, f"task {default!r} with components='inference'", spec, _run(part, spec, options))


def conformance_tests(families: Iterable[str | type[GenzooModel]] = (), models: Iterable[str] = ()) -> Callable[..., None]:
    """A pytest test running :func:`check_family` on each of ``families`` and :func:`check_model` on each of ``models``.

    Assign it at module level of a test file, and pytest collects one test per family and model::

        test_genzoo_conformance = genzoo.testing.conformance_tests(families=["cats"], models=["cats-tiny"])
    """
    import pytest  # only here: genzoo.testing imports without pytest

    params = [pytest.param(check_family, f, id=f"family-{_family_label(f)}") for f in families]
    params += [pytest.param(check_model, m, id=f"model-{m}") for m in models]

    @pytest.mark.parametrize(("check", "target"), params)
    def test_genzoo_conformance(check: Callable[[Any], None], target: Any) -> None:
        check(target)

    return test_genzoo_conformance


# -- steps -----------------------------------------------------------------------
def _family_label(family: Any) -> str:
    if isinstance(family, type):
        return getattr(family, "family", "") or family.__name__
    return str(family)


def _model_class(check: _Check, family: str | type) -> type[GenzooModel]:
    """The model class of a family name (through the registry) or the class itself."""
    if isinstance(family, type):
        if not issubclass(family, GenzooModel):
            check.fail(f"{family.__name__} is not a GenzooModel subclass")
        return family
    from .plugins import get_registry

    cls = get_registry().family(family).model_class()
    if not (isinstance(cls, type) and issubclass(cls, GenzooModel)):
        check.fail(f"the registered model class {cls!r} is not a GenzooModel subclass")
    if cls.family != family:
        check.fail(f"registered as {family!r} but {cls.__name__}.family is {cls.family!r}: checkpoints would name the wrong family")
    return cls


def _build(check: _Check, cls: type[GenzooModel], config: Any) -> GenzooModel:
    torch.manual_seed(0)
    model = cls(config)
    meta = [n for n, t in model.state_dict().items() if t.is_meta]
    if meta:
        check.fail(f"a plain build left tensors on the meta device: {meta[:5]}")
    return model.eval()


def _meta_build(check: _Check, cls: type[GenzooModel], config: Any, model: GenzooModel) -> None:
    """genzoo.load builds on the meta device and assigns tensors: that build must have the real one's tensors."""
    with meta_device():
        meta = cls(config)
    real = [n for n, t in [*meta.named_parameters(), *meta.named_buffers()] if not t.is_meta]
    if real:
        check.fail(f"a build under genzoo.model.meta_device() made real tensors: {real[:5]} (create tensors without a device=)")
    want, got = model.state_dict(), meta.state_dict()
    if list(want) != list(got):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        check.fail(f"the meta build's state-dict keys differ from a real build's: missing {missing[:5]}, extra {extra[:5]}")
    shapes = [f"{k}: {tuple(got[k].shape)} {got[k].dtype} vs {tuple(want[k].shape)} {want[k].dtype}"
              for k in want if (got[k].shape, got[k].dtype) != (want[k].shape, want[k].dtype)]  # fmt: skip
    if shapes:
        check.fail(f"the meta build's tensors differ from a real build's (meta vs real): {shapes[:5]}")


def _groups(check: _Check, model: GenzooModel) -> None:
    """Every state-dict tensor in exactly one component group, no empty group, all groups loaded."""
    groups = model.groups()
    if not groups:
        check.fail("the model has no component groups (no child modules and no component_groups)")
    owner: dict[str, str] = {}
    for group, attrs in groups.items():
        if not group.isidentifier():
            check.fail(f"component group name {group!r} is not an identifier (it names a file)")
        for attr in attrs:
            if attr in owner:
                check.fail(f"attribute {attr!r} is in two component groups: {owner[attr]!r} and {group!r}")
            owner[attr] = group
    keys = list(model.state_dict())
    orphans = [k for k in keys if k.split(".", 1)[0] not in owner]
    if orphans:
        check.fail(
            f"tensor(s) {orphans[:5]} belong to no component group, so they would not be saved; "
            "list their attributes in component_groups"
        )
    used = {owner[k.split(".", 1)[0]] for k in keys}
    empty = [g for g in groups if g not in used]
    if empty:
        check.fail(f"component group(s) {empty} hold no tensors (an empty file per group); drop them or fill them")
    if model.loaded_components() != list(groups):
        check.fail(f"a fresh model says loaded_components() == {model.loaded_components()}, not all groups {list(groups)}")


class _Options:
    """What the kit gives tasks, as a user of `genzoo run` would: small ``n``, ``seed=0``, two image files, two classes."""

    def __init__(self, files: list[str]):
        self.given = {"n": TASK_N, "seed": 0, "inputs": files, "classes": ["zero", "one"]}
        if not files:  # a model that takes no images: its tasks make their own
            del self.given["inputs"]

    def of(self, spec: TaskSpec) -> dict[str, Any]:
        return {k: v for k, v in self.given.items() if k in spec.options}

    def shown(self, spec: TaskSpec) -> str:
        shown = {k: (f"[{len(v)} image files]" if k == "inputs" else v) for k, v in self.of(spec).items()}
        return ", ".join(f"{k}={v!r}" if k != "inputs" else f"{k}={v}" for k, v in shown.items())


def _run(model: GenzooModel, spec: TaskSpec, options: _Options) -> Any:
    """Run a task as `genzoo run` does, with every global RNG seeded so that runs can be compared."""
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    return model.run_task(spec.name, **options.of(spec))


def _tasks(check: _Check, model: GenzooModel, options: _Options) -> dict[str, Any]:
    """Every declared task runs, returns what it declares, and repeats itself exactly."""
    results = {}
    for name, spec in model.task_specs().items():
        what = f"task {name!r}"
        if not callable(getattr(type(model), spec.method, None)):
            check.fail(f"{what} names method {spec.method!r}, which {type(model).__name__} does not have")
        try:
            result = _run(model, spec, options)
        except Exception as exc:
            check.fail(f"{what} ({spec.method}({options.shown(spec)})) raised {type(exc).__name__}: {exc}")
        _check_result(check, what, spec, result)
        if not _same(result, _run(model, spec, options)):
            check.fail(f"{what} is not repeatable: two runs with {options.shown(spec) or 'no options'} returned different results")
        results[name] = result
    return results


def _check_result(check: _Check, what: str, spec: TaskSpec, result: Any) -> None:
    if spec.returns == "images":
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            check.fail(f"{what} declares returns='images' but returned {_describe(result)}, not (images, nrow)")
        _check_images(check, what, *result)
    elif spec.returns == "table":
        if not (isinstance(result, Mapping) and isinstance(result.get("rows"), list)):
            check.fail(f"{what} declares returns='table' but returned {_describe(result)}, not a dict with a 'rows' list")
        bad = [r for r in result["rows"] if not isinstance(r, Mapping)]
        if bad:
            check.fail(f"{what} returned table rows that are not dicts: {_describe(bad[0])}")
        if "images" in result:
            _check_images(check, what, result["images"], result.get("nrow", 1))
    else:
        check.fail(f"{what} declares returns={spec.returns!r}, which genzoo does not know")


def _check_images(check: _Check, what: str, images: Any, nrow: Any) -> None:
    """An NCHW float batch in [-1, 1] (1, 3 or 4 channels) and a positive int ``nrow``."""
    if not isinstance(images, torch.Tensor):
        check.fail(f"{what} returned images of type {type(images).__name__}, not a tensor")
    if images.ndim != 4 or images.shape[0] < 1 or images.shape[1] not in (1, 3, 4):
        check.fail(f"{what} returned images of shape {tuple(images.shape)}, not NCHW with 1, 3 or 4 channels")
    if not images.is_floating_point():
        check.fail(f"{what} returned {images.dtype} images, not floats in [-1, 1]")
    x = images.detach().float()
    if not torch.isfinite(x).all():
        check.fail(f"{what} returned images with NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - RANGE_TOL or hi > 1 + RANGE_TOL:
        check.fail(f"{what} returned images with values in [{lo:.4g}, {hi:.4g}], outside [-1, 1]")
    if not isinstance(nrow, int) or isinstance(nrow, bool) or nrow < 1:
        check.fail(f"{what} returned nrow={nrow!r}, not an int >= 1")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


def _same(a: Any, b: Any, tol: float = 0.0) -> bool:
    """Equal down to the last bit (``tol=0``): tensors (dtype, shape, values), and containers of them.

    With ``tol`` values may differ by that much (relative and absolute): a
    model loaded from files computes with tensors at other addresses, and
    CPU kernels may then round differently in the last bits.
    """
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        a, b = a.detach().cpu(), b.detach().cpu()
        if tol and a.is_floating_point():
            return torch.allclose(a.float(), b.float(), rtol=tol, atol=tol, equal_nan=True)
        return torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return list(a) == list(b) and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return type(a) is type(b) and a == b


def _input_spec(check: _Check, model: GenzooModel, tmp: Path) -> _Options:
    """``preprocess`` turns a PIL image, a uint8 array, a file and a float tensor into a batch of the spec's shape.

    Returns the options tasks get, with two digit images at the spec's size
    written as files for tasks that take ``inputs``.
    """
    spec = model.input_spec
    if spec is None:
        return _Options([])
    if not isinstance(spec, InputSpec):
        check.fail(f"input_spec is a {type(spec).__name__}, not a genzoo.InputSpec (or None)")
    if spec.channels not in (1, 3):
        check.fail(f"input_spec.channels is {spec.channels}; images have 1 or 3 channels")
    if spec.size is None:
        m = max(spec.multiple_of, 1)
        h = w = m * math.ceil(16 / m)
        given = (h, w)  # any size is taken as it is: give one that fits
    else:
        h, w = spec.size
        given = (h + 3, w + 5)  # a fixed size: preprocess must resize to it
    from PIL import Image

    from .data import DigitsDataset
    from .images import to_pil, to_tensor

    rgb = np.random.default_rng(0).integers(0, 256, (*given, 3), dtype=np.uint8)
    path = tmp / "input.png"
    Image.fromarray(rgb).save(path)
    inputs = {
        "a PIL image": Image.fromarray(rgb),
        "a uint8 array": rgb,
        "a file path": str(path),
        "a float tensor": torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1,
    }
    want = (1, spec.channels, h, w)
    for kind, value in inputs.items():
        x = model.preprocess(value)
        if not isinstance(x, torch.Tensor):
            check.fail(f"preprocess({kind}) returned a {type(x).__name__}, not a tensor")
        if tuple(x.shape) != want:
            check.fail(f"preprocess({kind} of {given[0]}x{given[1]}) returned shape {tuple(x.shape)}; input_spec says {want}")
        if x.device != model.device or x.dtype != model.dtype:
            check.fail(f"preprocess({kind}) returned a {x.dtype} tensor on {x.device}; the model is {model.dtype} on {model.device}")
        if not torch.isfinite(x).all():
            check.fail(f"preprocess({kind}) returned NaN or infinite values")
    digits = to_tensor(DigitsDataset("test", size=8).images[:TASK_N], size=(h, w), channels=spec.channels).clamp(-1, 1)
    files = []
    for i, image in enumerate(to_pil(digits)):
        image.save(tmp / f"digit-{i}.png")
        files.append(str(tmp / f"digit-{i}.png"))
    return _Options(files)


def _bench(check: _Check, model: GenzooModel) -> None:
    """``bench_inputs(2)`` names a method of the model that runs on its arguments, as `genzoo bench` calls it."""
    name, kwargs = model.bench_inputs(2)
    method = getattr(model, name, None) if isinstance(name, str) else None
    if not callable(method):
        check.fail(f"bench_inputs(2) names {name!r}, which is not a method of {type(model).__name__}")
    with torch.inference_mode():
        method(**kwargs)


def _load(folder: Path, cls: type[GenzooModel], components: Any) -> GenzooModel:
    """What ``genzoo.load(folder, components=...)`` does, for a class that need not be registered."""
    from . import checkpoint

    meta = checkpoint.read_meta(folder)
    chosen = checkpoint.select_components(meta, components, cls.inference_components)
    return checkpoint.load_folder(folder, cls, meta, components=chosen, device=torch.device("cpu"))


def _plain(config: dict[str, Any]) -> Any:
    return json.loads(json.dumps(config))


def _save_load(check: _Check, model: GenzooModel, results: Mapping[str, Any], options: _Options, tmp: Path) -> Path:
    """Save, load: the same config, every tensor bit-exact (non-persistent buffers too), the same task results."""
    from .api import save

    folder = save(model, tmp / "saved")
    loaded = _load(folder, type(model), None)
    if loaded.loaded_components() != list(model.groups()):
        check.fail(f"after save -> load, loaded_components() is {loaded.loaded_components()}, not {list(model.groups())}")
    if _plain(loaded.config_dict()) != _plain(model.config_dict()):
        check.fail(f"the config changed through save -> load: {_plain(model.config_dict())} -> {_plain(loaded.config_dict())}")
    want = dict([*model.named_parameters(), *model.named_buffers()])
    got = dict([*loaded.named_parameters(), *loaded.named_buffers()])
    if set(want) != set(got):
        check.fail(f"after save -> load the model has tensors {sorted(set(got) ^ set(want))[:5]} that differ in presence")
    differ = [k for k in want if not _same(want[k], got[k])]
    if differ:
        check.fail(
            f"tensor(s) {differ[:5]} differ after save -> load (a buffer that is not saved must be "
            "recomputed exactly in materialize_buffers)"
        )
    for name, spec in loaded.task_specs().items():
        if not _same(_run(loaded, spec, options), results[name], LOADED_TOL):
            check.fail(f"task {name!r} returns something else after save -> load than before")
    return folder


def _partial_load(check: _Check, model: GenzooModel, folder: Path, results: Mapping[str, Any], options: _Options) -> None:
    """Each group alone: a task either runs (with the full model's result) or raises MissingComponentError.

    With the inference groups every task must run. Comparing a partial
    model's result with the full one's is what catches a task that
    silently works around a missing component instead of saying so.
    """
    from .errors import MissingComponentError

    cls = type(model)
    for group in model.groups():
        part = _load(folder, cls, [group])
        if part.loaded_components() != [group]:
            check.fail(f"loaded with components=[{group!r}], loaded_components() is {part.loaded_components()}")
        for name, spec in part.task_specs().items():
            what = f"task {name!r} with components=[{group!r}]"
            try:
                result = _run(part, spec, options)
            except MissingComponentError:
                continue
            except Exception as exc:
                check.fail(
                    f"{what} raised {type(exc).__name__}: {exc}; a task that needs a component the model "
                    "was loaded without must raise genzoo.MissingComponentError (self.require(group))"
                )
            _check_result(check, what, spec, result)
            if not _same(result, results[name], LOADED_TOL):
                check.fail(
                    f"{what} ran but returned something else than with every component loaded; a task that "
                    "needs a missing component must raise genzoo.MissingComponentError, not carry on without it"
                )
    part = _load(folder, cls, "inference")
    for name, spec in part.task_specs().items():
        what = f"task {name!r} with components='inference' ({part.loaded_components()})"
        try:
            result = _run(part, spec, options)
        except Exception as exc:
            check.fail(f"{what} raised {type(exc).__name__}: {exc}; every task must run with the inference components")
        _check_result(check, what, spec, result)


def _training(check: _Check, cls: type[GenzooModel], config: Any) -> tuple[GenzooModel, Any]:
    """Two steps of the shared loop on the family's example data change every trained group; losses are finite.

    A fresh model: the task runs may have cached inference tensors, which autograd refuses.
    """
    from .training import TrainConfig, train

    model = _build(check, cls, config)
    data = model.example_dataset(TRAIN_ITEMS)
    if len(data) < TRAIN_BATCH:
        check.fail(f"example_dataset({TRAIN_ITEMS}) has {len(data)} items; the check trains on batches of {TRAIN_BATCH}")
    model.adapt_to_data(data)
    before = {n: (p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()}
    cfg = TrainConfig(steps=TRAIN_STEPS, batch_size=TRAIN_BATCH, device="cpu", progress=False, log_every=1, seed=0)
    result = train(model, data, cfg)
    if not result.losses:
        check.fail("training_step returned no losses (return them by name, e.g. {'loss': loss.detach()})")
    bad = {k: v for k, v in result.losses.items() if not math.isfinite(v)}
    if bad:
        check.fail(f"training gave non-finite losses: {bad}")
    after = dict(model.named_parameters())
    trainable: dict[str, list[bool]] = {}
    for name, (old, requires_grad) in before.items():
        if requires_grad:
            trainable.setdefault(model.group_of_key(name), []).append(not torch.equal(old, after[name].detach().cpu()))
    if not trainable:
        check.fail("the model has no trainable parameters, yet trains() is true")
    frozen = [g for g, changed in trainable.items() if not any(changed)]
    if frozen:
        check.fail(
            f"{TRAIN_STEPS} training steps changed no parameter of component group(s) {frozen} "
            "(does training_step call ctx.backward(loss) and ctx.step(name) for every optimiser?)"
        )
    return model, data


def _evaluate(check: _Check, model: GenzooModel | None, data: Any, cls: type[GenzooModel], config: Any) -> None:
    """``evaluate`` on the example data returns str -> finite float (as the card records them)."""
    if model is None:
        model = _build(check, cls, config)
        data = model.example_dataset(TRAIN_ITEMS)
    model.eval()
    with torch.no_grad():
        metrics = model.evaluate(data)
    if not isinstance(metrics, Mapping):
        check.fail(f"evaluate returned a {type(metrics).__name__}, not a dict of metrics")
    for key, value in metrics.items():
        if not isinstance(key, str):
            check.fail(f"evaluate returned metric name {key!r}, not a str")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            check.fail(f"evaluate returned {key}={value!r}, not a finite float")


def _card(check: _Check, card: Mapping[str, Any]) -> None:
    """The facts a model card needs: what it is, its licence, and its data (or why the data cannot be named)."""
    for key, hint in (
        ("description", "one line on what the model is"),
        ("license", "an SPDX id such as 'mit'"),
        ("dataset", "the training data, or a phrase saying why it cannot be named"),
    ):
        value = card.get(key)
        if not (isinstance(value, str) and value.strip()):
            check.fail(f"the model card has no {key!r} ({hint}); set it in the card or the registry entry")
