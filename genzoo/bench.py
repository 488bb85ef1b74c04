"""What `genzoo bench` measures: load time and inference throughput, each against plain PyTorch.

Speed is measured, not asserted. Every figure is the median, with the min
and max, of ``repeat`` timed runs (20 by default) after warm-up runs, with
the genzoo way and the reference taking turns in the same process and in
alternating order (a, b, b, a, a, b, ...: a busy machine, or whoever runs
second, slows both alike), with ``torch.cuda.synchronize()`` around each run
on CUDA. The load average is recorded, and a note warns when the machine is
oversubscribed (load above its CPUs).

The reference: for Pix2Pix and CycleGAN, the upstream networks restated
independently from the authors' ``networks.py`` (:mod:`genzoo.bench_reference`,
plain ``nn.Sequential``; outputs checked equal to genzoo's before timing),
built and loaded the upstream way; for other families, the model class
itself used the plain-PyTorch way.

Load: the reference builds its network (random init), ``torch.load``\\ s a
``.pt`` state dict and calls ``load_state_dict``; genzoo calls
:func:`genzoo.load` (meta-device build, safetensors read straight to the
device, assign). Both load the same components (every one; for the
translation families the generator, as upstream's test code does), at the
requested device and dtype. ``cold=N`` adds N fresh-process loads each way
(:mod:`genzoo.coldstart`): genzoo against the floor, ``import torch`` +
``safetensors.torch.load_file`` of the same files.

Inference: the model's main task on a batch of ``batch_size`` -- genzoo's
model loaded with the requested dtype / ``compile`` / ``channels_last``,
against the same weights in fp32, eager; both under
``torch.inference_mode()``. What the task is and what its input looks like
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
import os
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
    """Seconds of ``repeat`` calls of each function, taking turns after the warm-up calls.

    The order alternates from round to round (a, b, then b, a, ...), so that
    neither side always runs first (or always right after the other's
    allocations). Returns name -> list of times; the first warm-up call of
    each is kept under ``"<name>:first"`` (it includes compilation, lazy
    imports, caches).
    """
    if repeat < 1:
        raise ConfigError(f"repeat must be at least 1, got {repeat}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup):
        for name, fn in fns.items():
            t = time_call(fn, device)
            if i == 0:
                times[f"{name}:first"] = [t]
    items = list(fns.items())
    for i in range(repeat):
        for name, fn in items if i % 2 == 0 else items[::-1]:
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


# -- the reference way ------------------------------------------------------
@dataclass
class _Plain:
    """What the reference needs: how to build its network, a ``.pt`` state dict, and how to call it."""

    build: Callable[[], torch.nn.Module]
    pt: Path
    family: str
    parameters: int
    #: What the reference is, in words, for the report.
    what: str
    #: The components genzoo loads for the comparison (``None``: all of them).
    components: str | None = None
    #: The genzoo folder of the same weights (for the cold figure).
    folder: Path | None = None
    #: ``(reference network, batch_size) -> call`` when the reference is not a genzoo model.
    call: Callable[[torch.nn.Module, Any], Callable[[], Any]] | None = None

    def load(self, device: torch.device, dtype: torch.dtype | None = None) -> torch.nn.Module:
        """Build (random init), move, ``torch.load`` the state dict, ``load_state_dict``."""
        m = self.build()
        m = m.to(device=device, dtype=dtype) if dtype is not None else m.to(device)
        m.load_state_dict(torch.load(self.pt, map_location=device, weights_only=True))
        return m.eval()


def _upstream_generator(model: Any) -> tuple[Callable[[], torch.nn.Module], torch.nn.Module] | None:
    """For Pix2Pix / CycleGAN: how to build the upstream generator (:mod:`genzoo.bench_reference`), and genzoo's."""
    from .translation import ReferenceNetsConfig, TranslationModel

    if not isinstance(model, TranslationModel) or not isinstance(model.config, ReferenceNetsConfig):
        return None
    from .bench_reference import define_G

    c = model.config
    return (lambda: define_G(c.input_nc, c.output_nc, c.ngf, c.netG, c.norm, c.dropout, c.init_gain)), model.generator_for("a2b")


def _check_equal(model: Any, reference: torch.nn.Module) -> None:
    """The restated upstream network must compute what genzoo's model does (fp32, CPU, one bench batch)."""
    from .errors import GenzooError

    _, kwargs = model.bench_inputs(1)
    images = kwargs["images"]
    with torch.inference_mode():
        ours, theirs = model.translate(images, batch_size=1), reference(images)
    if ours.shape != theirs.shape or not torch.allclose(ours, theirs, rtol=0, atol=1e-6):
        diff = (ours - theirs).abs().max().item() if ours.shape == theirs.shape else f"shapes {tuple(ours.shape)}, {tuple(theirs.shape)}"
        raise GenzooError(
            f"the upstream reference network disagrees with {model.family}'s generator (max abs diff {diff}); "
            "genzoo bench cannot compare them -- please report this"
        )


@contextlib.contextmanager
def _plain_setup(name: Any, *, folder: bool = False) -> Iterator[_Plain]:
    """The reference for ``name``: its network builder and state dict; ``folder``: also a genzoo folder
    of the same weights (for the cold figure)."""
    from .api import load, save

    model = load(name, device="cpu")  # fp32, every component: the weights the reference loads
    with tempfile.TemporaryDirectory(prefix="genzoo-bench-") as tmp:
        pt = Path(tmp) / "state_dict.pt"
        upstream = _upstream_generator(model)
        if upstream is not None:
            build, generator = upstream
            reference = build().eval()
            reference.load_state_dict(generator.state_dict())
            _check_equal(model, reference)
            torch.save(generator.state_dict(), pt)
            plain = _Plain(
                build, pt, model.family, sum(p.numel() for p in generator.parameters()),
                what="upstream networks.py generator, restated", components="inference",
                call=lambda net, kwargs: (lambda: net(kwargs["images"])),
            )  # fmt: skip
        else:
            torch.save(model.state_dict(), pt)
            cls, config = type(model), model.config
            plain = _Plain(lambda: cls(config), pt, model.family, model.num_parameters(), what="genzoo's model class, plain PyTorch")
        if folder:
            plain.folder = save(model, Path(tmp) / "genzoo")
        del model
        yield plain


# -- results -----------------------------------------------------------------
def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _spread(xs: list[float], scale: float = 1.0) -> dict[str, float]:
    return {"median": _median(xs) * scale, "min": min(xs) * scale, "max": max(xs) * scale}


def _ratios(num: list[float], den: list[float]) -> list[float]:
    """Per-round ratios ``den[i] / num[i]`` (speed-up of num over den); the pairs ran back to back."""
    return [d / n for n, d in zip(num, den)]


class _Paired:
    """Timings of the reference and genzoo taken in turns: medians ``plain_s``/``genzoo_s`` and the runs behind them."""

    plain_s: float
    genzoo_s: float
    plain_runs: list[float]
    genzoo_runs: list[float]

    @property
    def speedup(self) -> float:
        return self.plain_s / self.genzoo_s

    @property
    def speedup_range(self) -> tuple[float, float]:
        """Min and max of the per-round speed-ups (each round ran both ways back to back)."""
        r = _ratios(self.genzoo_runs, self.plain_runs) or [self.speedup]
        return min(r), max(r)


@dataclass
class LoadTiming(_Paired):
    """Seconds to load the same weights the reference way and with :func:`genzoo.load`, one entry per run."""

    plain_s: float
    genzoo_s: float
    plain_runs: list[float] = field(default_factory=list)
    genzoo_runs: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, plain: list[float], genzoo: list[float]) -> "LoadTiming":
        return cls(_median(plain), _median(genzoo), list(plain), list(genzoo))

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.speedup_range
        return {"plain_ms": self.plain_s * 1e3, "genzoo_ms": self.genzoo_s * 1e3, "speedup": self.speedup,
                "speedup_min": lo, "speedup_max": hi, "plain_ms_spread": _spread(self.plain_runs or [self.plain_s], 1e3),
                "genzoo_ms_spread": _spread(self.genzoo_runs or [self.genzoo_s], 1e3)}  # fmt: skip


@dataclass
class ColdTiming:
    """Fresh-process seconds to a loaded model: genzoo against the floor (``import torch`` + ``load_file``)."""

    floor_runs: list[float]
    genzoo_runs: list[float]

    @property
    def ratio(self) -> float:
        """genzoo's median over the floor's (1.0 is the floor itself)."""
        return _median(self.genzoo_runs) / _median(self.floor_runs)

    @property
    def ratio_range(self) -> tuple[float, float]:
        r = [g / f for g, f in zip(self.genzoo_runs, self.floor_runs)]
        return min(r), max(r)

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.ratio_range
        return {"floor_s": _spread(self.floor_runs), "genzoo_s": _spread(self.genzoo_runs), "ratio": self.ratio,
                "ratio_min": lo, "ratio_max": hi, "runs": len(self.genzoo_runs)}  # fmt: skip


@dataclass
class InferenceTiming(_Paired):
    """Seconds per batch of ``items``, reference vs genzoo's settings (medians, and every run)."""

    task: str
    items: int
    unit: str
    plain_s: float
    genzoo_s: float
    plain_first_s: float
    genzoo_first_s: float
    plain_runs: list[float] = field(default_factory=list)
    genzoo_runs: list[float] = field(default_factory=list)

    @property
    def plain_per_s(self) -> float:
        return self.items / self.plain_s

    @property
    def genzoo_per_s(self) -> float:
        return self.items / self.genzoo_s

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.speedup_range
        return {
            "task": self.task, "unit": self.unit, "batch_size": self.items,
            "plain_per_s": self.plain_per_s, "genzoo_per_s": self.genzoo_per_s, "speedup": self.speedup,
            "speedup_min": lo, "speedup_max": hi,
            "plain_ms": self.plain_s * 1e3, "genzoo_ms": self.genzoo_s * 1e3,
            "plain_ms_spread": _spread(self.plain_runs or [self.plain_s], 1e3),
            "genzoo_ms_spread": _spread(self.genzoo_runs or [self.genzoo_s], 1e3),
            "plain_first_ms": self.plain_first_s * 1e3, "genzoo_first_ms": self.genzoo_first_s * 1e3,
        }  # fmt: skip


def _ms(xs: list[float], fallback: float) -> str:
    xs = xs or [fallback]
    return f"{_median(xs) * 1e3:.1f} ({min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f})"


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
    #: What the reference is ("upstream networks.py generator, restated", ...).
    reference: str = "genzoo's model class, plain PyTorch"
    #: ``os.getloadavg()`` before and after the runs (``None`` where there is none).
    loadavg: list[list[float]] | None = None
    cold: ColdTiming | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("load", "inference", "cold")}
        out |= {"load": self.load.as_dict(), "inference": self.inference.as_dict()}
        return out | {"cold": self.cold.as_dict() if self.cold is not None else None}

    def settings(self) -> str:
        """genzoo's inference settings in words: "fp16, compiled, channels_last, inference_mode"."""
        return ", ".join([self.dtype, "compiled" if self.compile else "eager"]
                         + (["channels_last"] if self.channels_last else []) + ["inference_mode"])  # fmt: skip

    def format(self) -> str:
        ld, inf = self.load, self.inference
        where = f"{self.device}" + (f", {self.threads} threads" if self.device == "cpu" else "")
        per_s = lambda runs, fallback: f"{inf.items / _median(runs or [fallback]):.1f}"  # noqa: E731
        rows = [
            (f"load ({self.dtype}, {'generator' if 'upstream' in self.reference else 'all components'})", "ms", "", ""),
            ("  reference (init + torch.load + load_state_dict)", _ms(ld.plain_runs, ld.plain_s), "", ""),
            ("  genzoo.load (meta + safetensors + assign)", _ms(ld.genzoo_runs, ld.genzoo_s), "", ""),
            (f"inference: {inf.task}, batch {inf.items}", "", f"{inf.unit}/s", "ms/batch"),
            ("  reference (fp32, eager, inference_mode)", "", per_s(inf.plain_runs, inf.plain_s), _ms(inf.plain_runs, inf.plain_s)),
            (f"  genzoo ({self.settings()})", "", per_s(inf.genzoo_runs, inf.genzoo_s), _ms(inf.genzoo_runs, inf.genzoo_s)),
        ]  # fmt: skip
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        line = lambda r: f"{r[0]:<{w0}}  {r[1]:>{w1}}  {r[2]:>10}  {r[3]:>20}".rstrip()  # noqa: E731
        size = f"{self.parameters / 1e6:.3g} M parameters"
        load_note = ""
        if self.loadavg:
            load_note = f"; load average {self.loadavg[0][0]:.2f} -> {self.loadavg[-1][0]:.2f} on {os.cpu_count()} CPUs"
        lo, hi = ld.speedup_range
        ilo, ihi = inf.speedup_range
        lines = [
            f"{self.name}: {self.family}, {size}, {where}, torch {self.torch_version}",
            f"reference: {self.reference}",
            f"median (min-max) of {self.repeat} runs after warm-up, genzoo and the reference taking turns{load_note}",
            "",
            line(rows[0]), line(rows[1]), line(rows[2]),
            f"  speed-up: {ld.speedup:.2f}x ({lo:.2f}-{hi:.2f})",
            "",
            line(rows[3]), line(rows[4]), line(rows[5]),
            f"  speed-up: {inf.speedup:.2f}x ({ilo:.2f}-{ihi:.2f})",
        ]  # fmt: skip
        if self.cold is not None:
            c = self.cold
            clo, chi = c.ratio_range
            lines += [
                "",
                f"cold start: fresh process to a loaded model, s, {len(c.genzoo_runs)} runs each, taking turns",
                f"  floor (import torch + safetensors load_file)  {_median(c.floor_runs):.2f} ({min(c.floor_runs):.2f}-{max(c.floor_runs):.2f})",
                f"  genzoo.load                                   {_median(c.genzoo_runs):.2f} ({min(c.genzoo_runs):.2f}-{max(c.genzoo_runs):.2f})",
                f"  genzoo / floor: {c.ratio:.2f}x ({clo:.2f}-{chi:.2f} per round)",
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

    def ours():
        return load(name, device=device, dtype=dtype, components=plain.components)

    times = compare({"plain": lambda: plain.load(device, dtype), "genzoo": ours}, repeat=repeat, warmup=max(warmup, 1), device=device)
    return LoadTiming.of(times["plain"], times["genzoo"])


def time_cold(folder: Path, components: list[str] | None, runs: int) -> ColdTiming:
    """``runs`` fresh processes each way, taking turns in alternating order after one untimed pair:
    ``genzoo.load(folder)`` against ``import torch`` + ``load_file`` of the same component files."""
    import json

    from .coldstart import cold_run, floor_code, genzoo_code

    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    groups = components if components is not None else list(meta["components"])
    codes = {
        "floor": floor_code([str(folder / meta["components"][g]) for g in groups]),
        "genzoo": genzoo_code(str(folder), None if components is None else "inference"),
    }
    times: dict[str, list[float]] = {"floor": [], "genzoo": []}
    items = list(codes.items())
    for i in range(runs + 1):  # the first pair warms the page cache and writes bytecode caches
        for way, code in items if i % 2 == 0 else items[::-1]:
            seconds, _ = cold_run(code)
            if i:
                times[way].append(seconds)
    return ColdTiming(times["floor"], times["genzoo"])


def compare_load(
    name: Any, *, device: str | torch.device = "cpu", dtype: Any = None, repeat: int = 5, warmup: int = 1
) -> tuple[LoadTiming, dict[str, Any]]:
    """Load ``name`` the plain-PyTorch way and with :func:`genzoo.load`, taking turns; median times.

    Returns the timing and facts of the model (``family``, ``parameters``).
    """
    from .api import resolve_dtype

    dev, dt = bench_device(device), resolve_dtype(dtype)
    with _plain_setup(name, folder=False) as plain:
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
    repeat: int = 20,
    warmup: int = 2,
    compile: bool = False,
    channels_last: bool = False,
    seed: int = 0,
    cold: int = 0,
) -> BenchResult:
    """Time loading ``name`` and its main inference task with genzoo's settings, against the reference.

    ``name`` is anything :func:`genzoo.load` takes. Load: ``repeat`` runs
    each way after one warm-up. Inference: a batch of ``batch_size``,
    ``warmup`` untimed calls each, then ``repeat`` timed calls each; genzoo's
    model in ``dtype`` (compiled, channels_last as asked), the reference in
    fp32, eager; both under ``torch.inference_mode()``. Medians, min and max.
    ``cold``: that many fresh-process loads each way, genzoo against the floor
    (each costs a Python start and ``import torch``: seconds).
    """
    from .api import load, resolve_dtype
    from .coldstart import load_average, oversubscribed

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if repeat < 1:
        raise ConfigError(f"--repeat must be at least 1, got {repeat}")
    if warmup < 1:
        raise ConfigError(f"warmup must be at least 1, got {warmup}")
    if cold < 0:
        raise ConfigError(f"--cold must be 0 (none) or a number of runs, got {cold}")
    dev = bench_device(device)
    dt = resolve_dtype(dtype) or torch.float32
    _check_dtype(dt, dev)
    dtype_name = _DTYPE_NAMES.get(dt, str(dt).removeprefix("torch."))
    load_before = load_average()

    with _plain_setup(name, folder=cold > 0) as plain:
        load_timing = _time_load(plain, name, dev, dt, repeat, 1)
        reference = plain.load(dev)  # fp32, eager
        ours = load(name, device=dev, dtype=dt, compile=compile, channels_last=channels_last, components="inference")
        cold_timing = None
        if cold and plain.folder is not None:
            groups = list(ours.loaded_components()) if plain.components == "inference" else None
            cold_timing = time_cold(plain.folder, groups, cold)

    our_work = workload(ours, batch_size, channels_last=channels_last, seed=seed)
    if plain.call is not None:  # an upstream network: the same inputs, in fp32
        _, kwargs = ours.bench_inputs(batch_size)
        kwargs = {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in kwargs.items()}
        ref_call = plain.call(reference, kwargs)
    else:
        ref_call = workload(reference, batch_size, seed=seed).call

    def run_reference():
        with torch.inference_mode():  # the same autograd context as genzoo's side
            return ref_call()

    run_ours = _guarded(our_work.call, dtype=dtype_name, device=dev, compile=compile)
    graphs = _compiled_graphs() if compile else None  # importing torch._dynamo takes seconds: only when compiling
    times = compare({"plain": run_reference, "genzoo": run_ours}, repeat=repeat, warmup=warmup, device=dev)
    compiled_nothing = graphs is not None and _compiled_graphs() == graphs
    inference = InferenceTiming(
        task=our_work.task, items=our_work.items, unit=our_work.unit,
        plain_s=_median(times["plain"]), genzoo_s=_median(times["genzoo"]),
        plain_first_s=times["plain:first"][0], genzoo_first_s=times["genzoo:first"][0],
        plain_runs=times["plain"], genzoo_runs=times["genzoo"],
    )  # fmt: skip
    load_after = load_average()
    notes = []
    warning = oversubscribed(load_before) or oversubscribed(load_after)
    if warning:
        notes.append(warning)
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
        load=load_timing, inference=inference, notes=notes, reference=plain.what,
        loadavg=[list(x) for x in (load_before, load_after) if x is not None] or None, cold=cold_timing,
    )  # fmt: skip
