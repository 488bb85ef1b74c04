"""What `genzoo bench` measures: load time and inference throughput, each against plain PyTorch.

Speed is measured, not asserted. Every figure is the median of ``repeat``
timed runs after warm-up runs, with the genzoo way and the plain-PyTorch
reference taking turns in the same process (so a busy machine slows both
alike), and with ``torch.cuda.synchronize()`` around each run on CUDA.

Load: plain PyTorch builds the model class (random init), ``torch.load``\\ s a
``.pt`` state dict and calls ``load_state_dict``; genzoo calls
:func:`genzoo.load` (meta-device build, safetensors read straight to the
device, assign). Both load every component, at the requested device and dtype.

Inference: the model's main task on a batch of ``batch_size`` -- genzoo's
model loaded with the requested dtype / ``compile`` / ``channels_last`` and run
under ``torch.inference_mode()``, against the same weights in fp32, eager,
under ``torch.no_grad()``. What the task is and what its input looks like
comes from the model's ``bench_inputs(batch_size)`` (a hook of the family
contract, :class:`genzoo.GenzooModel`; by default the default task with
``n=batch_size``).

Like timm's ``benchmark.py``, the bench runs in the precision and on the
device it is asked for and never falls back: ``--device cuda`` without CUDA,
bf16 on a GPU without bf16, or a dtype PyTorch cannot run a model's ops in on
that device is a :class:`~genzoo.errors.ConfigError` that says so.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .errors import ConfigError

_DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


# -- timing ------------------------------------------------------------------
def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    """Seconds one call of ``fn`` takes (synchronising CUDA before and after)."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def timed(fn: Callable[[], Any], repeat: int, *, warmup: int = 1, device: torch.device | str | None = None) -> float:
    """Median seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        time_call(fn, device)
    return statistics.median(time_call(fn, device) for _ in range(repeat))


def compare(
    fns: dict[str, Callable[[], Any]], *, repeat: int, warmup: int = 1, device: torch.device | str | None = None
) -> dict[str, list[float]]:
    """Seconds of ``repeat`` calls of each function, taking turns (a, b, a, b, ...) after the warm-up calls.

    Returns name -> list of times; the first warm-up call of each is kept
    under ``"<name>:first"`` (it includes compilation, lazy imports, caches).
    """
    if repeat < 1:
        raise ConfigError(f"repeat must be at least 1, got {repeat}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup):
        for name, fn in fns.items():
            t = time_call(fn, device)
            if i == 0:
                times[f"{name}:first"] = [t]
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(time_call(fn, device))
    return times


# -- what to run -------------------------------------------------------------
@dataclass
class Workload:
    """One inference call of a model: ``call()`` processes ``items`` ``unit`` (e.g. 8 images)."""

    task: str
    call: Callable[[], Any]
    items: int
    unit: str = "images"


def _channels_last(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point():
        return x.contiguous(memory_format=torch.channels_last)
    return x


def workload(model: Any, batch_size: int, *, channels_last: bool = False, seed: int = 0) -> Workload:
    """The model's main inference call on a batch of ``batch_size``, inputs on its device and dtype.

    The model says what that is: ``bench_inputs(batch_size) -> (method name,
    keyword arguments)``. ``channels_last`` converts 4-D float inputs to that
    memory format. ``seed`` is kept for callers; the inputs are the model's own.
    """
    from .model import GenzooModel

    if not isinstance(model, GenzooModel):
        raise ConfigError(f"genzoo bench needs a genzoo model, got {type(model).__name__}; define bench_inputs on a GenzooModel")
    task, kwargs = model.bench_inputs(batch_size)
    kwargs = dict(kwargs)
    if channels_last:
        kwargs = {k: _channels_last(v) for k, v in kwargs.items()}
    method = getattr(model, task)
    return Workload(task=task, call=lambda: method(**kwargs), items=batch_size)


# -- the plain-PyTorch way ---------------------------------------------------
@dataclass
class _Plain:
    """What the plain way needs: the model class, its config and a ``.pt`` state dict."""

    cls: type
    config: Any
    pt: Path
    family: str
    parameters: int

    def load(self, device: torch.device, dtype: torch.dtype | None = None) -> torch.nn.Module:
        """Build (random init), move, ``torch.load`` the state dict, ``load_state_dict``."""
        m = self.cls(self.config)
        m = m.to(device=device, dtype=dtype) if dtype is not None else m.to(device)
        m.load_state_dict(torch.load(self.pt, map_location=device, weights_only=True))
        return m.eval()


@contextlib.contextmanager
def _plain_setup(name: Any) -> Iterator[_Plain]:
    from .api import load

    model = load(name, device="cpu")  # fp32, every component: the weights the plain way loads
    with tempfile.TemporaryDirectory(prefix="genzoo-bench-") as tmp:
        pt = Path(tmp) / "state_dict.pt"
        torch.save(model.state_dict(), pt)
        plain = _Plain(type(model), model.config, pt, model.family, model.num_parameters())
        del model
        yield plain


# -- results -----------------------------------------------------------------
def _median(xs: list[float]) -> float:
    return statistics.median(xs)


@dataclass
class LoadTiming:
    """Median seconds to load the same weights the plain way and with :func:`genzoo.load`."""

    plain_s: float
    genzoo_s: float

    @property
    def speedup(self) -> float:
        return self.plain_s / self.genzoo_s

    def as_dict(self) -> dict[str, float]:
        return {"plain_ms": self.plain_s * 1e3, "genzoo_ms": self.genzoo_s * 1e3, "speedup": self.speedup}


@dataclass
class InferenceTiming:
    """Median seconds per batch of ``items``, plain reference vs genzoo's settings."""

    task: str
    items: int
    unit: str
    plain_s: float
    genzoo_s: float
    plain_first_s: float
    genzoo_first_s: float

    @property
    def plain_per_s(self) -> float:
        return self.items / self.plain_s

    @property
    def genzoo_per_s(self) -> float:
        return self.items / self.genzoo_s

    @property
    def speedup(self) -> float:
        return self.plain_s / self.genzoo_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "unit": self.unit, "batch_size": self.items,
            "plain_per_s": self.plain_per_s, "genzoo_per_s": self.genzoo_per_s, "speedup": self.speedup,
            "plain_ms": self.plain_s * 1e3, "genzoo_ms": self.genzoo_s * 1e3,
            "plain_first_ms": self.plain_first_s * 1e3, "genzoo_first_ms": self.genzoo_first_s * 1e3,
        }  # fmt: skip


@dataclass
class BenchResult:
    """Everything `genzoo bench` prints."""

    name: str
    family: str
    parameters: int
    device: str
    dtype: str
    compile: bool
    channels_last: bool
    repeat: int
    warmup: int
    threads: int
    torch_version: str
    load: LoadTiming
    inference: InferenceTiming
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("load", "inference")}
        return out | {"load": self.load.as_dict(), "inference": self.inference.as_dict()}

    def settings(self) -> str:
        """genzoo's inference settings in words: "fp16, compiled, channels_last, inference_mode"."""
        return ", ".join([self.dtype, "compiled" if self.compile else "eager"]
                         + (["channels_last"] if self.channels_last else []) + ["inference_mode"])  # fmt: skip

    def format(self) -> str:
        ld, inf = self.load, self.inference
        where = f"{self.device}" + (f", {self.threads} threads" if self.device == "cpu" else "")
        rows = [
            (f"load ({self.dtype}, all components)", "ms", "", ""),
            ("  plain PyTorch (init + torch.load + load_state_dict)", f"{ld.plain_s * 1e3:.1f}", "", ""),
            ("  genzoo.load (meta + safetensors + assign)", f"{ld.genzoo_s * 1e3:.1f}", "", ""),
            (f"inference: {inf.task}, batch {inf.items}", "", f"{inf.unit}/s", "ms/batch"),
            ("  plain PyTorch (fp32, eager, no_grad)", "", f"{inf.plain_per_s:.1f}", f"{inf.plain_s * 1e3:.2f}"),
            (f"  genzoo ({self.settings()})", "", f"{inf.genzoo_per_s:.1f}", f"{inf.genzoo_s * 1e3:.2f}"),
        ]
        w0 = max(len(r[0]) for r in rows)
        line = lambda r: f"{r[0]:<{w0}}  {r[1]:>8}  {r[2]:>10}  {r[3]:>9}".rstrip()  # noqa: E731
        size = f"{self.parameters / 1e6:.3g} M parameters"
        lines = [
            f"{self.name}: {self.family}, {size}, {where}, torch {self.torch_version}",
            f"median of {self.repeat} runs after warm-up, genzoo and plain PyTorch taking turns",
            "",
            line(rows[0]), line(rows[1]), line(rows[2]),
            f"  speed-up: {ld.speedup:.2f}x",
            "",
            line(rows[3]), line(rows[4]), line(rows[5]),
            f"  speed-up: {inf.speedup:.2f}x",
        ]  # fmt: skip
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# -- entry points ------------------------------------------------------------
def bench_device(device: str | torch.device | None) -> torch.device:
    """The device to measure on; unlike :func:`genzoo.load`, a missing accelerator is an error, not a fallback."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {device}: CUDA is not available here; genzoo bench measures on the device it is "
            "asked for and does not fall back (use --device cpu, or auto)"
        )
    return dev


def _check_dtype(dtype: torch.dtype, device: torch.device) -> None:
    if dtype == torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        gpu = torch.cuda.get_device_name(device)
        raise ConfigError(f"--dtype bf16: this GPU ({gpu}) does not support bfloat16; use fp16 or fp32")


def _time_load(
    plain: _Plain, name: Any, device: torch.device, dtype: torch.dtype | None, repeat: int, warmup: int
) -> LoadTiming:
    from .api import load

    times = compare(
        {"plain": lambda: plain.load(device, dtype), "genzoo": lambda: load(name, device=device, dtype=dtype)},
        repeat=repeat, warmup=max(warmup, 1), device=device,
    )  # fmt: skip
    return LoadTiming(_median(times["plain"]), _median(times["genzoo"]))


def compare_load(
    name: Any, *, device: str | torch.device = "cpu", dtype: Any = None, repeat: int = 5, warmup: int = 1
) -> tuple[LoadTiming, dict[str, Any]]:
    """Load ``name`` the plain-PyTorch way and with :func:`genzoo.load`, taking turns; median times.

    Returns the timing and facts of the model (``family``, ``parameters``).
    """
    from .api import resolve_dtype

    dev, dt = bench_device(device), resolve_dtype(dtype)
    with _plain_setup(name) as plain:
        timing = _time_load(plain, name, dev, dt, repeat, warmup)
    return timing, {"family": plain.family, "parameters": plain.parameters}


def _compiled_graphs() -> int | None:
    """How many graphs torch.compile has made in this process (``None`` if PyTorch does not say)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover
        return None
    return int(counters["stats"]["unique_graphs"])


def _guarded(fn: Callable[[], Any], *, dtype: str, device: torch.device, compile: bool) -> Callable[[], Any]:
    """``fn`` whose PyTorch failures from the requested settings become a clear :class:`ConfigError`."""

    def run():
        try:
            with torch.inference_mode():
                return fn()
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if "not implemented for" in first:
                raise ConfigError(
                    f"--dtype {dtype} does not run on {device.type} for this model with PyTorch {torch.__version__} "
                    f"({first}); use --dtype fp32" + (" or another device" if device.type == "cpu" else "")
                ) from exc
            if compile:
                raise ConfigError(f"torch.compile failed on {device.type}: {first}; run without --compile") from exc
            raise

    return run


def bench(
    name: Any,
    *,
    device: str | torch.device | None = "auto",
    dtype: Any = "fp32",
    batch_size: int = 8,
    repeat: int = 5,
    warmup: int = 2,
    compile: bool = False,
    channels_last: bool = False,
    seed: int = 0,
) -> BenchResult:
    """Time loading ``name`` and its main inference task with genzoo's settings, against plain PyTorch.

    ``name`` is anything :func:`genzoo.load` takes. Load: median of
    ``repeat`` runs each way after one warm-up. Inference: a batch of
    ``batch_size``, ``warmup`` untimed calls each, then ``repeat`` timed calls
    each; genzoo's model in ``dtype`` (compiled, channels_last as asked) under
    ``torch.inference_mode()``, the reference in fp32, eager, ``torch.no_grad()``.
    """
    from .api import load, resolve_dtype

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if repeat < 1:
        raise ConfigError(f"--repeat must be at least 1, got {repeat}")
    if warmup < 1:
        raise ConfigError(f"warmup must be at least 1, got {warmup}")
    dev = bench_device(device)
    dt = resolve_dtype(dtype) or torch.float32
    _check_dtype(dt, dev)
    dtype_name = _DTYPE_NAMES.get(dt, str(dt).removeprefix("torch."))

    with _plain_setup(name) as plain:
        load_timing = _time_load(plain, name, dev, dt, repeat, 1)
        reference = plain.load(dev)  # fp32, eager
    ours = load(name, device=dev, dtype=dt, compile=compile, channels_last=channels_last, components="inference")

    ref_work = workload(reference, batch_size, seed=seed)
    our_work = workload(ours, batch_size, channels_last=channels_last, seed=seed)

    def run_reference():
        with torch.no_grad():
            return ref_work.call()

    run_ours = _guarded(our_work.call, dtype=dtype_name, device=dev, compile=compile)
    graphs = _compiled_graphs() if compile else None  # importing torch._dynamo takes seconds: only when compiling
    times = compare({"plain": run_reference, "genzoo": run_ours}, repeat=repeat, warmup=warmup, device=dev)
    compiled_nothing = graphs is not None and _compiled_graphs() == graphs
    inference = InferenceTiming(
        task=our_work.task, items=our_work.items, unit=our_work.unit,
        plain_s=_median(times["plain"]), genzoo_s=_median(times["genzoo"]),
        plain_first_s=times["plain:first"][0], genzoo_first_s=times["genzoo:first"][0],
    )  # fmt: skip
    notes = []
    if compiled_nothing:
        notes.append(
            f"--compile changed nothing here: {inference.task} does not call the forward of the model's components, "
            "which is what genzoo.load(compile=True) compiles"
        )
    elif compile:
        notes.append(f"genzoo's first call, which compiles, took {inference.genzoo_first_s:.2f} s (not in the median)")
    for label, value in [("load", load_timing.speedup), ("inference", inference.speedup)]:
        if not math.isfinite(value):  # pragma: no cover - a timer of 0 s
            notes.append(f"the {label} ratio is not finite: the runs were too short to time; raise --batch-size")
    return BenchResult(
        name=str(name), family=plain.family, parameters=plain.parameters, device=str(dev), dtype=dtype_name,
        compile=compile, channels_last=channels_last, repeat=repeat, warmup=warmup,
        threads=torch.get_num_threads(), torch_version=torch.__version__.split("+")[0],
        load=load_timing, inference=inference, notes=notes,
    )  # fmt: skip
