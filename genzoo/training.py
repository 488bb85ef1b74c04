"""The training loop every family shares.

Each family owns its losses and its training step; this module owns
everything around them: devices, seeding, data order, mixed precision,
gradient clipping, optimiser and scheduler stepping, progress, metrics,
checkpoints, resuming and multi-process training with ``torchrun``.
A family never writes a loop of its own, so every family gets all of that
(and every fix to it) for free.

The family contract
-------------------
A family model (a :class:`~genzoo.model.GenzooModel` subclass) implements::

    def configure_optimizers(self, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]
        # named optimisers, e.g. {"g": Adam(self.generator.parameters()),
        #                         "d": Adam(self.discriminator.parameters())}
        # (a single Optimizer is accepted and named "main")

    def training_step(self, batch, ctx: StepContext) -> dict[str, torch.Tensor | float]
        # forward passes, then ctx.backward(loss) and ctx.step("g") per optimiser;
        # returns named losses for logging

and optionally::

    def configure_schedulers(self, optimizers, cfg: TrainConfig) -> dict[str, LRScheduler | tuple[LRScheduler, str]]
        # keyed by optimiser name; a bare scheduler steps once per training
        # step in which its optimiser stepped, (scheduler, "epoch") once per epoch

    def evaluate(self, eval_dataset) -> dict[str, float]
        # called on rank 0 every cfg.eval_every steps and at the end, in eval
        # mode under torch.no_grad(), when train() got an eval_dataset

Learning rates and other hyperparameters are the family's business (they
live in its model config); :class:`TrainConfig` holds only loop settings.

Inside ``training_step`` the :class:`StepContext` does the mechanics:
``ctx.autocast()`` (mixed precision), ``ctx.backward(loss)`` (scaled for
fp16), ``ctx.step(name)`` (unscale, clip by norm, optimiser step, zero the
grads), ``ctx.generator`` (a seeded generator for the family's noise),
``ctx.step_index``, ``ctx.device``, ``ctx.rank``, ``ctx.world_size``.

Under ``torchrun`` each trainable component (each module attribute named in
``model.groups()``) is wrapped in :class:`ComponentDDP` for the duration of
training, so ``self.encoder(x)`` inside ``training_step`` is a
DistributedDataParallel forward and gradients are averaged across processes
by torch itself; the wrapper still answers the component's own attributes
(``self.generator.sample_noise(n)``) and is removed before anything is saved.

See ``docs/training.md`` for the outputs (``metrics.jsonl``, checkpoint
layout, resume) and a worked example.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import difflib
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset, Sampler

from .checkpoint import read_meta, write_folder
from .errors import CheckpointError, ConfigError
from .model import GenzooModel, MissingComponent
from .version import __version__

__all__ = [
    "TrainConfig",
    "TrainResult",
    "StepContext",
    "ComponentDDP",
    "TrainableModel",
    "train",
    "seed_everything",
    "find_latest_checkpoint",
]

logger = logging.getLogger(__name__)

AMP_MODES = ("no", "bf16", "fp16")
_AMP_ALIASES = {"none": "no", "off": "no", "false": "no", "fp32": "no", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
DEVICES = ("auto", "cpu", "cuda")
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "train_config.json"
FINAL = "final"
STATE_SUFFIX = ".state"
STATE_JSON = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
STATE_FORMAT = "genzoo-trainer-state"
STATE_FORMAT_VERSION = 1
DEFAULT_OPTIMIZER = "main"


# -- configuration -----------------------------------------------------------
@dataclass
class TrainConfig:
    """Settings of the loop itself (the family's hyperparameters live in its model config).

    Exactly one of ``steps`` and ``epochs`` says how long to train; a step is
    one call of ``training_step`` on one batch (per process). ``None`` for an
    ``*_every`` field switches that thing off (a final log record, evaluation
    and ``final`` checkpoint are still made at the end).
    """

    #: Number of training steps (batches per process). Exclusive with ``epochs``.
    steps: int | None = None
    #: Number of passes over the data. Exclusive with ``steps``.
    epochs: int | None = None
    #: Batch size per process (the global batch is ``batch_size * world_size``).
    batch_size: int = 32
    #: Seeds python, numpy and torch (the same on every rank), the data order
    #: and ``ctx.generator`` (which differs per rank, so ranks draw different noise).
    seed: int = 0
    #: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    #: Under torchrun ``"auto"``/``"cuda"`` mean ``cuda:LOCAL_RANK``.
    device: str = "auto"
    #: Mixed precision: ``"no"``, ``"bf16"`` or ``"fp16"`` (fp16 needs CUDA and
    #: uses loss scaling; bf16 also works on the CPU, where it is opt-in).
    amp: str = "no"
    #: Clip each optimiser's gradients to this total L2 norm before stepping.
    grad_clip: float | None = None
    #: Write a metrics record (and update the progress bar) every N steps.
    log_every: int | None = 10
    #: Call ``model.evaluate(eval_dataset)`` every N steps (and at the end).
    eval_every: int | None = None
    #: Write ``out_dir/checkpoint-<step>`` (+ training state) every N steps.
    checkpoint_every: int | None = None
    #: Where metrics and checkpoints go; ``None`` writes nothing.
    out_dir: str | os.PathLike | None = None
    #: ``True``: continue from the latest checkpoint in ``out_dir`` (start fresh
    #: if there is none); a path: continue from that checkpoint; ``False``: fresh run.
    resume: bool | str | os.PathLike = False
    #: Fresh run into an ``out_dir`` holding an earlier run: delete its
    #: checkpoints and metrics (otherwise that is an error).
    overwrite: bool = False
    #: DataLoader worker processes.
    num_workers: int = 0
    #: Drop the last incomplete batch of each epoch (keeps batch statistics sane).
    drop_last: bool = True
    #: Show a tqdm progress bar with running losses (rank 0 only).
    progress: bool = True
    #: Convert BatchNorm layers to SyncBatchNorm while training with DDP (CUDA only).
    sync_batchnorm: bool = False
    #: Passed to DistributedDataParallel: set it when a step leaves some
    #: parameters of a trainable component without a gradient.
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ConfigError(
                "TrainConfig needs exactly one of steps or epochs "
                f"(got steps={self.steps!r}, epochs={self.epochs!r}), e.g. TrainConfig(steps=1000)"
            )
        for name in ("steps", "epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("log_every", "eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"TrainConfig.{name} must be a positive integer or None (off), got {value!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"TrainConfig.num_workers must be an integer >= 0, got {self.num_workers!r}")
        amp = str(self.amp).lower() if self.amp is not None else "no"
        amp = _AMP_ALIASES.get(amp, amp)
        if amp not in AMP_MODES:
            near = difflib.get_close_matches(str(self.amp), AMP_MODES, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"unknown amp mode {self.amp!r}{hint}; use one of {', '.join(map(repr, AMP_MODES))}")
        self.amp = amp
        dev = str(self.device)
        if dev not in DEVICES and not (dev.startswith("cuda:") and dev[5:].isdigit()):
            near = difflib.get_close_matches(dev, DEVICES, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"unknown device {self.device!r}{hint}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0):
            raise ConfigError(f"TrainConfig.grad_clip must be a positive number or None, got {self.grad_clip!r}")
        if not isinstance(self.resume, (bool, str, os.PathLike)):
            raise ConfigError(f"TrainConfig.resume must be True, False or a checkpoint path, got {self.resume!r}")
        if self.out_dir is None:
            if self.checkpoint_every is not None:
                raise ConfigError("TrainConfig.checkpoint_every needs an out_dir to write checkpoints to")
            if self.resume is True:
                raise ConfigError("TrainConfig(resume=True) needs the out_dir of the run to continue")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (paths as strings)."""
        out = dataclasses.asdict(self)
        for key in ("out_dir", "resume"):
            if isinstance(out[key], os.PathLike):
                out[key] = os.fspath(out[key])
        return out


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank; only rank 0 wrote the files)."""

    #: Training steps completed (including those before a resume).
    steps: int
    #: Epochs completed (whole passes over the data).
    epochs: int
    #: Running means of the losses over the last log window (this rank's batches).
    losses: dict[str, float]
    #: The last evaluation's metrics (empty without ``evaluate`` or ``eval_dataset``).
    metrics: dict[str, float]
    out_dir: Path | None = None
    #: ``out_dir/final``: the trained model as a genzoo folder (``genzoo.load`` it).
    final_path: Path | None = None
    #: Periodic checkpoints written by this run, oldest first.
    checkpoints: list[Path] = field(default_factory=list)
    #: ``out_dir/metrics.jsonl``.
    metrics_path: Path | None = None
    #: The checkpoint this run continued from.
    resumed_from: Path | None = None
    #: Seconds spent training, summed over resumed runs.
    elapsed: float = 0.0


@runtime_checkable
class TrainableModel(Protocol):
    """What :func:`train` needs from a family model (for type checkers and ``isinstance``)."""

    def configure_optimizers(self, cfg: TrainConfig) -> Mapping[str, torch.optim.Optimizer]: ...

    def training_step(self, batch: Any, ctx: "StepContext") -> Mapping[str, torch.Tensor | float]: ...


# -- seeding -----------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and every CUDA device).

    Call it before building a model to make its initialisation reproducible;
    :func:`train` calls it again with ``cfg.seed`` before training.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (different streams for ranks, epochs, ...)."""
    return int(np.random.SeedSequence([int(p) % 2**63 for p in parts]).generate_state(1, np.uint64)[0]) >> 1


_GENERATOR_STREAM = 1
_LOADER_STREAM = 2


# -- distributed ---------------------------------------------------------------
@dataclass
class _Dist:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _resolve_device(requested: str, local_rank: int, distributed: bool) -> torch.device:
    if requested == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        if requested != "auto":
            warnings.warn(f"CUDA is not available; training on the CPU instead of {requested}", stacklevel=4)
        return torch.device("cpu")
    if requested in ("auto", "cuda"):
        return torch.device("cuda", local_rank if distributed else torch.cuda.current_device())
    return torch.device(requested)


def _setup_distributed(cfg: TrainConfig) -> tuple[_Dist, torch.device]:
    """Join (or start, from torchrun's environment) the process group; pick the device."""
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    already = dist.is_available() and dist.is_initialized()
    distributed = already or env_world > 1
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(cfg.device, local_rank, distributed)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not distributed:
        return _Dist(), device
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    if not already:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        # The group stays up for later train() calls in this process: re-creating
        # it under torchrun reuses the launcher's store and is not reliable.
        atexit.register(_destroy_process_group)
    info = _Dist(dist.get_world_size(), dist.get_rank(), local_rank)
    return info, device


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _barrier(info: _Dist, device: torch.device) -> None:
    if not info.enabled:
        return
    if device.type == "cuda" and dist.get_backend() == "nccl":
        dist.barrier(device_ids=[device.index])
    else:
        dist.barrier()


class ComponentDDP(DistributedDataParallel):
    """DistributedDataParallel around one component, still answering its attributes.

    Families call ``self.generator(z)`` and ``self.generator.sample_noise(n)``
    in ``training_step`` without knowing whether they run distributed: calls
    go through DDP's forward (so gradients are averaged across processes),
    and any attribute DDP itself lacks is looked up on the wrapped module.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("module")
            if inner is None or name == "module":
                raise
            return getattr(inner, name)


# -- the step context -----------------------------------------------------------
class StepContext:
    """What ``training_step`` gets besides the batch: the mechanics of a step.

    The family does its forward passes and decides what to step; the context
    does mixed precision, loss scaling, clipping, stepping and zeroing the
    same way for every family.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        device: torch.device,
        optimizers: dict[str, torch.optim.Optimizer],
        amp: str,
        info: _Dist,
        total_steps: int,
    ) -> None:
        self.cfg = cfg
        #: The device the model and each batch are on.
        self.device = device
        #: Named optimisers, as returned by ``configure_optimizers``.
        self.optimizers = optimizers
        #: The mixed precision actually in use (after CPU fallbacks).
        self.amp = amp
        #: Index of the current step, 0-based, counting steps before a resume.
        self.step_index = 0
        #: Index of the current epoch, 0-based.
        self.epoch = 0
        #: Total number of steps this training runs to.
        self.total_steps = total_steps
        self.rank = info.rank
        self.world_size = info.world_size
        self.local_rank = info.local_rank
        #: Seeded per rank (different noise on each), saved and restored on resume.
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(_derive_seed(cfg.seed, _GENERATOR_STREAM, info.rank))
        #: Pre-clip total gradient norm of each optimiser's last step (when grad_clip is set).
        self.grad_norms: dict[str, torch.Tensor] = {}
        self.scaler: torch.amp.GradScaler | None = None
        if amp == "fp16":
            self.scaler = torch.amp.GradScaler(device.type)
        self._stepped: set[str] = set()
        self._loose: list[nn.Parameter] = []  # trainable parameters no DDP wrapper covers

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for the forward passes (a no-op when ``amp == "no"``)."""
        if self.amp == "no":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """``loss.backward()``, scaled when training in fp16 (keyword arguments pass through)."""
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ConfigError(f"ctx.backward needs a scalar loss tensor, got {shape}; reduce it with .mean()")
        if self.scaler is not None:
            self.scaler.scale(loss).backward(**kwargs)
        else:
            loss.backward(**kwargs)

    def step(self, *names: str) -> None:
        """Step the named optimisers (all of them when none is named).

        For each: average gradients of parameters outside any DDP-wrapped
        component, unscale (fp16), clip to ``cfg.grad_clip``, step, zero its
        gradients. The fp16 loss scale is updated once per call, so call
        ``backward`` and then ``step`` for each loss in turn; to step several
        optimisers on one backward, name them all in one call.
        """
        chosen = list(names) or list(self.optimizers)
        for name in chosen:
            if name not in self.optimizers:
                raise ConfigError(
                    f"ctx.step({name!r}): no optimiser of that name; configure_optimizers returned "
                    f"{', '.join(map(repr, self.optimizers))}"
                )
        for name in chosen:
            opt = self.optimizers[name]
            params = [p for group in opt.param_groups for p in group["params"]]
            if self.distributed and self._loose:
                ids = {id(p) for p in params}
                _average_gradients([p for p in self._loose if id(p) in ids], self.world_size)
            if self.cfg.grad_clip is not None:
                if self.scaler is not None:
                    self.scaler.unscale_(opt)
                grads = [p for p in params if p.grad is not None]
                self.grad_norms[name] = torch.nn.utils.clip_grad_norm_(grads, float(self.cfg.grad_clip)).detach()
            if self.scaler is not None:
                self.scaler.step(opt)
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
            self._stepped.add(name)
        if self.scaler is not None:
            self.scaler.update()

    def zero_grad(self, *names: str) -> None:
        """Zero the gradients of the named optimisers' parameters (all when none is named).

        Needed when a loss reaches parameters it does not train (the
        generator loss of a GAN flows through the discriminator) and the
        family steps that other optimiser later in the same step. Every step
        starts with all gradients zeroed anyway.
        """
        for name in names or self.optimizers:
            if name not in self.optimizers:
                raise ConfigError(f"ctx.zero_grad({name!r}): no optimiser of that name; have {', '.join(self.optimizers)}")
            self.optimizers[name].zero_grad(set_to_none=True)

    def lr(self, name: str | None = None) -> float:
        """The current learning rate of an optimiser's first parameter group."""
        opt = self.optimizers[name or next(iter(self.optimizers))]
        return float(opt.param_groups[0]["lr"])

    @staticmethod
    def unwrap(module: nn.Module) -> nn.Module:
        """The component itself when it is wrapped in DDP (for ``isinstance`` checks)."""
        return module.module if isinstance(module, DistributedDataParallel) else module


def _average_gradients(params: list[nn.Parameter], world_size: int) -> None:
    """All-reduce the gradients of parameters that are not inside a DDP-wrapped component.

    DDP covers module components; a bare ``nn.Parameter`` on the model (e.g.
    CLIP's logit scale) has no module to wrap, so its few values are averaged
    here. A parameter no rank produced a gradient for keeps ``grad=None``.
    """
    if not params:
        return
    flat = []
    for p in params:
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        flat.append(g.reshape(-1).float())
    flags = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)
    buf = torch.cat([*flat, flags])
    dist.all_reduce(buf)
    offset = 0
    had = buf[-len(params):]
    for i, p in enumerate(params):
        n = p.numel()
        if had[i] > 0:
            p.grad = (buf[offset : offset + n] / world_size).view_as(p).to(p.dtype)
        offset += n


# -- data --------------------------------------------------------------------
class _TensorRows(Dataset):
    """A tensor seen as a dataset of its rows (so a batch is again a tensor)."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.tensor[i]


class _ResumableSampler(Sampler[int]):
    """DistributedSampler (seeded, sharded per rank) that can start part-way through an epoch.

    Skipping indices rather than batches means a resumed run neither loads
    nor sees the samples the interrupted run already trained on.
    """

    def __init__(self, dataset: Dataset, world_size: int, rank: int, seed: int):
        self.inner = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.inner.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.inner)[self.start :])

    def __len__(self) -> int:
        return len(self.inner) - self.start


def _to_device(batch: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)({k: _to_device(v, device, non_blocking) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(_to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device, non_blocking) for v in batch)
    return batch


# -- training state: safetensors + JSON, no pickle ---------------------------
def _encode(obj: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    """JSON-ready structure of ``obj`` with every tensor moved into ``tensors``."""
    if isinstance(obj, torch.Tensor):
        key = str(len(tensors))
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = str(len(tensors))
        tensors[key] = torch.from_numpy(np.ascontiguousarray(obj).astype(np.int64 if obj.dtype.kind in "iub" else np.float64))
        return {"__ndarray__": key, "dtype": obj.dtype.str}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, f"{where}.{k}") for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors, where), _encode(v, tensors, f"{where}[{k!r}]")] for k, v in obj.items()]}
    if isinstance(obj, torch.dtype):
        return {"__dtype__": str(obj).removeprefix("torch.")}
    raise CheckpointError(
        f"cannot save the training state: {where} holds a {type(obj).__name__}, which is not a tensor, "
        "number, string or container of those. Keep optimiser/scheduler state to plain values "
        "(e.g. use a picklable-free lr lambda, or a built-in scheduler)."
    )


def _decode(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj and len(obj) == 1:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy().astype(np.dtype(obj["dtype"]))
        if "__tuple__" in obj and len(obj) == 1:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj and len(obj) == 1:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
        if "__dtype__" in obj and len(obj) == 1:
            return getattr(torch, obj["__dtype__"])
        return {k: _decode(v, tensors) for k, v in obj.items()}
    return obj


def _capture_rng(ctx: StepContext) -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generator": ctx.generator.get_state(),
    }
    if ctx.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(ctx.device)
    return state


def _restore_rng(ctx: StepContext, state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    ctx.generator.set_state(state["generator"])
    if ctx.device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], ctx.device)


def _write_state(folder: Path, payload: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Write a training-state folder atomically (temporary folder, then rename)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        save_file(tensors, tmp / STATE_TENSORS, metadata={"format": STATE_FORMAT})
        (tmp / STATE_JSON).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_state(folder: Path) -> dict[str, Any]:
    """Read a training-state folder with JSON and safetensors only (nothing is unpickled)."""
    try:
        payload = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        tensors = load_file(folder / STATE_TENSORS)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{folder} is not a complete training state ({exc.filename} is missing)") from exc
    except Exception as exc:  # noqa: BLE001 - json/safetensors errors of every kind
        raise CheckpointError(f"{folder} holds a corrupt training state ({exc}); resume from an earlier checkpoint") from exc
    if payload.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{folder / STATE_JSON} is not a genzoo training state")
    if payload.get("format_version", 0) > STATE_FORMAT_VERSION:
        raise CheckpointError(
            f"{folder} was written by a newer genzoo ({payload.get('genzoo_version')}); upgrade genzoo to resume from it"
        )
    return _decode(payload, tensors)


def _state_folder(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + STATE_SUFFIX)


def find_latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The checkpoint folder in ``out_dir`` with the highest step that has a training state.

    A checkpoint counts only once its training state is complete (the state
    is written after the model folder), so a run killed while saving resumes
    from the previous one.
    """
    best: tuple[int, int, Path] | None = None
    root = Path(out_dir)
    if not root.is_dir():
        return None
    for folder in root.iterdir():
        if not folder.name.endswith(STATE_SUFFIX) or not (folder / STATE_JSON).is_file():
            continue
        try:
            payload = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
            step = int(payload["step"])
            model_folder = root / payload["checkpoint"]
        except (ValueError, KeyError, TypeError, OSError):
            continue
        if not (model_folder / "config.json").is_file() or not (folder / STATE_TENSORS).is_file():
            continue
        key = (step, int(model_folder.name == FINAL), model_folder)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def _resolve_resume(cfg: TrainConfig) -> Path | None:
    if cfg.resume is False:
        return None
    if cfg.resume is True:
        found = find_latest_checkpoint(cfg.out_dir) if cfg.out_dir is not None else None
        if found is None:
            logger.info("resume=True but %s holds no checkpoint yet; starting a fresh run", cfg.out_dir)
        return found
    path = Path(cfg.resume).expanduser()
    if (path / STATE_JSON).is_file() and path.name.endswith(STATE_SUFFIX):
        path = path.with_name(path.name[: -len(STATE_SUFFIX)])
    if not (path / "config.json").is_file():
        raise CheckpointError(f"cannot resume from {path}: it is not a genzoo checkpoint folder (no config.json)")
    if not (_state_folder(path) / STATE_JSON).is_file():
        raise CheckpointError(
            f"cannot resume from {path}: it has no training state next to it ({_state_folder(path).name}/). "
            "To start a new run from these weights, genzoo.load() the folder and train with resume=False."
        )
    return path


# -- metrics -----------------------------------------------------------------
class _MetricsLog:
    """``metrics.jsonl``: one JSON object per line, appended and flushed as it goes."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            path.write_text("", encoding="utf-8")
        elif path.exists():  # drop what the interrupted run logged after its checkpoint
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except json.JSONDecodeError:
                    continue
            path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        self.file = path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


# -- the loop ----------------------------------------------------------------
def _check_model(model: Any) -> None:
    if not isinstance(model, GenzooModel):
        raise ConfigError(f"train() needs a genzoo model (a GenzooModel subclass), got {type(model).__name__}")
    missing = [m for m in ("configure_optimizers", "training_step") if not callable(getattr(model, m, None))]
    if missing:
        raise ConfigError(
            f"{type(model).__name__} ({model.family or 'no family'}) cannot be trained: it does not implement "
            f"{' and '.join(missing)}. A family model defines configure_optimizers(cfg) and "
            "training_step(batch, ctx); see docs/training.md"
        )


def _effective_amp(cfg: TrainConfig, device: torch.device) -> str:
    if cfg.amp == "fp16" and device.type != "cuda":
        warnings.warn(
            f"amp='fp16' needs CUDA (loss-scaled fp16 is not supported on {device.type}); "
            "training in fp32 instead. Use amp='bf16' for mixed precision on the CPU.",
            stacklevel=4,
        )
        return "no"
    if cfg.amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        warnings.warn("this GPU has no bf16 support; using amp='fp16' instead", stacklevel=4)
        return "fp16"
    return cfg.amp


def _optimizers(model: GenzooModel, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    out = model.configure_optimizers(cfg)
    if isinstance(out, torch.optim.Optimizer):
        out = {DEFAULT_OPTIMIZER: out}
    if not isinstance(out, Mapping) or not out or not all(isinstance(o, torch.optim.Optimizer) for o in out.values()):
        raise ConfigError(
            f"{type(model).__name__}.configure_optimizers must return a non-empty dict of name -> "
            f"torch.optim.Optimizer, got {out!r}"
        )
    seen: dict[int, str] = {}
    for name, opt in out.items():
        for group in opt.param_groups:
            for p in group["params"]:
                if id(p) in seen and seen[id(p)] != name:
                    raise ConfigError(
                        f"a parameter is in both optimisers {seen[id(p)]!r} and {name!r}; "
                        "each parameter must belong to one optimiser"
                    )
                seen[id(p)] = name
    return dict(out)


def _schedulers(model: GenzooModel, optimizers: dict[str, torch.optim.Optimizer], cfg: TrainConfig) -> dict[str, tuple[Any, str]]:
    hook = getattr(model, "configure_schedulers", None)
    if hook is None:
        return {}
    out = hook(optimizers, cfg) or {}
    result: dict[str, tuple[Any, str]] = {}
    for name, value in dict(out).items():
        if name not in optimizers:
            raise ConfigError(
                f"configure_schedulers returned a scheduler for {name!r}, which is not an optimiser name "
                f"({', '.join(optimizers)}); key each scheduler by the optimiser it drives"
            )
        sched, interval = value if isinstance(value, tuple) else (value, "step")
        if interval not in ("step", "epoch"):
            raise ConfigError(f"scheduler {name!r}: interval must be 'step' or 'epoch', got {interval!r}")
        if not callable(getattr(sched, "step", None)) or not callable(getattr(sched, "state_dict", None)):
            raise ConfigError(f"scheduler {name!r} is not an LRScheduler (got {type(sched).__name__})")
        result[name] = (sched, interval)
    return result


def _prepare_out_dir(cfg: TrainConfig, resuming: bool) -> None:
    out = Path(cfg.out_dir)  # type: ignore[arg-type]
    if resuming or not out.exists():
        return
    ours = [
        p for p in out.iterdir()
        if p.name in (METRICS_FILE, CONFIG_FILE, FINAL, FINAL + STATE_SUFFIX) or p.name.startswith("checkpoint-")
    ]  # fmt: skip
    if not ours:
        return
    if not cfg.overwrite:
        raise ConfigError(
            f"{out} already holds a training run ({', '.join(sorted(p.name for p in ours)[:4])}...). "
            "Pass resume=True to continue it, overwrite=True to replace it, or choose another out_dir."
        )
    for p in ours:
        shutil.rmtree(p) if p.is_dir() else p.unlink()


class _Run:
    """The state of one call of :func:`train` (kept together so helpers stay small)."""

    def __init__(self, model: GenzooModel, cfg: TrainConfig, info: _Dist, device: torch.device):
        self.model = model
        self.cfg = cfg
        self.info = info
        self.device = device
        self.out = Path(cfg.out_dir) if cfg.out_dir is not None else None
        self.originals: dict[str, nn.Module] = {}
        self.sync_bn: list[tuple[nn.Module, str, nn.Module]] = []

    # DDP wrapping ---------------------------------------------------------
    def wrap(self, ctx: StepContext) -> None:
        if not self.info.enabled:
            return
        model = self.model
        use_sync_bn = self.cfg.sync_batchnorm and self.device.type == "cuda"
        if self.cfg.sync_batchnorm and not use_sync_bn:
            warnings.warn("sync_batchnorm needs CUDA; BatchNorm statistics stay per process", stacklevel=4)
        for attrs in model.groups().values():
            for attr in attrs:
                sub = model._modules.get(attr)
                if sub is None or isinstance(sub, (MissingComponent, DistributedDataParallel)):
                    continue
                if not any(p.requires_grad for p in sub.parameters()):
                    continue  # frozen: nothing to synchronise
                if use_sync_bn:
                    self._convert_sync_bn(sub)
                self.originals[attr] = sub
                model._modules[attr] = ComponentDDP(
                    sub,
                    device_ids=[self.device.index] if self.device.type == "cuda" else None,
                    find_unused_parameters=self.cfg.find_unused_parameters,
                )
        covered = {id(p) for sub in self.originals.values() for p in sub.parameters()}
        ctx._loose = [p for p in model.parameters() if p.requires_grad and id(p) not in covered]

    def _convert_sync_bn(self, root: nn.Module) -> None:
        """Swap BatchNorm layers for SyncBatchNorm in place (sharing their tensors), remembering them."""
        for parent in list(root.modules()):
            for name, child in list(parent._modules.items()):
                if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, nn.SyncBatchNorm):
                    sync = nn.SyncBatchNorm.convert_sync_batchnorm(child)
                    self.sync_bn.append((parent, name, child))
                    parent._modules[name] = sync

    @contextlib.contextmanager
    def unwrapped(self) -> Iterator[None]:
        """The model with its plain components (for saving, evaluating)."""
        if not self.originals:
            yield
            return
        wrapped = {attr: self.model._modules[attr] for attr in self.originals}
        self.model._modules.update(self.originals)
        try:
            yield
        finally:
            self.model._modules.update(wrapped)

    def sync_buffers(self) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics), so all end with one model.

        DDP broadcasts buffers at the start of each forward, so after the last
        step each rank still holds the statistics of its own last batches.
        """
        if not self.info.enabled:
            return
        for sub in self.originals.values():
            for buf in sub.buffers():
                dist.broadcast(buf, src=0)

    def unwrap(self) -> None:
        self.model._modules.update(self.originals)
        self.originals = {}
        for parent, name, original in reversed(self.sync_bn):
            parent._modules[name] = original  # shares parameters and running stats with the sync copy
        self.sync_bn = []


def train(
    model: GenzooModel,
    dataset: Dataset | torch.Tensor,
    cfg: TrainConfig,
    eval_dataset: Any = None,
    *,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset`` with the family's own ``training_step``.

    ``dataset`` is a map-style :class:`~torch.utils.data.Dataset` (or a tensor,
    read as a dataset of its rows). Works unchanged as one process or under
    ``torchrun`` (one process per GPU, or per CPU with gloo). The model is
    trained in place, left on the training device in eval mode, and written
    to ``cfg.out_dir/final`` when ``out_dir`` is set.
    """
    _check_model(model)
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(f"train() needs a TrainConfig, got {type(cfg).__name__}")
    if isinstance(dataset, torch.Tensor):
        dataset = _TensorRows(dataset)
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        raise ConfigError(
            "train() needs a map-style dataset (with __len__ and __getitem__) so that data order is seeded "
            "and resumable; wrap an iterable in a list-backed Dataset"
        )
    info, device = _setup_distributed(cfg)
    run = _Run(model, cfg, info, device)
    try:
        return _train(run, dataset, eval_dataset, collate_fn)
    finally:
        run.unwrap()


def _train(run: _Run, dataset: Dataset, eval_dataset: Any, collate_fn: Callable | None) -> TrainResult:
    model, cfg, info, device = run.model, run.cfg, run.info, run.device
    seed_everything(cfg.seed)
    resume_from = _resolve_resume(cfg)
    if run.out is not None and info.is_main:
        _prepare_out_dir(cfg, resuming=resume_from is not None or cfg.resume is True)
    _barrier(info, device)

    model.to(device)
    model.train()
    amp = _effective_amp(cfg, device)

    # data
    sampler = _ResumableSampler(dataset, info.world_size, info.rank, cfg.seed)
    per_rank = len(sampler.inner)
    batches_per_epoch = per_rank // cfg.batch_size if cfg.drop_last else math.ceil(per_rank / cfg.batch_size)
    if batches_per_epoch == 0:
        raise ConfigError(
            f"the dataset has {len(dataset)} samples ({per_rank} per process), fewer than one batch of "
            f"{cfg.batch_size}; lower batch_size or set drop_last=False"
        )
    loader_gen = torch.Generator()
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=cfg.drop_last,
        num_workers=cfg.num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
        generator=loader_gen,
    )
    total = cfg.steps if cfg.steps is not None else cfg.epochs * batches_per_epoch  # type: ignore[operator]

    optimizers = _optimizers(model, cfg)
    schedulers = _schedulers(model, optimizers, cfg)
    ctx = StepContext(cfg, device, optimizers, amp, info, total)

    step, epoch, offset, elapsed_before = 0, 0, 0, 0.0
    losses: dict[str, float] = {}
    if resume_from is not None:
        step, epoch, offset, elapsed_before, losses = _load_resume(run, ctx, schedulers, resume_from)

    metrics_log: _MetricsLog | None = None
    if run.out is not None and info.is_main:
        metrics_log = _MetricsLog(run.out / METRICS_FILE, step if resume_from is not None else None)
        (run.out / CONFIG_FILE).write_text(json.dumps(cfg.as_dict(), indent=2) + "\n", encoding="utf-8")

    if cfg.eval_every and (eval_dataset is None or not callable(getattr(model, "evaluate", None))):
        warnings.warn(
            f"eval_every={cfg.eval_every} has no effect: evaluation needs an eval_dataset and a "
            f"{type(model).__name__}.evaluate(eval_dataset) method",
            stacklevel=3,
        )
    show = cfg.progress and info.is_main
    tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    bar = _progress(total, step, model, show, tty)
    result = TrainResult(
        steps=step, epochs=epoch, losses=losses, metrics={}, out_dir=run.out,
        metrics_path=run.out / METRICS_FILE if run.out is not None else None, resumed_from=resume_from,
    )  # fmt: skip

    run.wrap(ctx)
    sums: dict[str, torch.Tensor | float] = {}
    counts: dict[str, int] = {}
    window_start, window_steps = time.perf_counter(), 0
    t0 = time.perf_counter()
    warned_nan = False
    stepped_any = warned_idle = False
    non_blocking = device.type == "cuda"

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    def log_record() -> None:
        nonlocal sums, counts, window_start, window_steps, warned_nan, losses
        if not counts:
            return
        losses = {k: float(sums[k]) / counts[k] for k in sorted(counts)}
        now = time.perf_counter()
        record: dict[str, Any] = {
            "kind": "train",
            "step": step,
            "epoch": epoch,
            "time": round(elapsed(), 4),
            "losses": losses,
            "lr": _learning_rates(optimizers),
            "samples_per_sec": round(window_steps * cfg.batch_size * info.world_size / max(now - window_start, 1e-9), 2),
        }
        if ctx.grad_norms:
            record["grad_norm"] = {k: float(v) for k, v in ctx.grad_norms.items()}
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad and not warned_nan:
            warnings.warn(
                f"loss {', '.join(bad)} is not finite at step {step}; lower the learning rate, "
                "set grad_clip, or train with amp='no'",
                stacklevel=4,
            )
            warned_nan = True
        if metrics_log is not None:
            metrics_log.write(record)
        if bar is not None:
            bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
        sums, counts = {}, {}
        window_start, window_steps = now, 0

    def evaluate() -> None:
        if eval_dataset is None or not callable(getattr(model, "evaluate", None)):
            return
        if info.is_main:
            with run.unwrapped():
                was = model.training
                model.eval()
                try:
                    with torch.no_grad():
                        scores = model.evaluate(eval_dataset) or {}
                finally:
                    model.train(was)
            result.metrics = {k: float(v) for k, v in dict(scores).items()}
            if metrics_log is not None:
                metrics_log.write(
                    {"kind": "eval", "step": step, "epoch": epoch, "time": round(elapsed(), 4), "metrics": result.metrics}
                )
            if bar is not None:
                bar.write(f"step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items()))
            logger.info("eval at step %d: %s", step, result.metrics)
        _barrier(info, device)

    def save(name: str) -> Path:
        payload, tensors = _state_payload(run, ctx, optimizers, schedulers, name, step, epoch, offset, elapsed(), losses)
        path = run.out / name  # type: ignore[operator]
        if info.is_main:
            with run.unwrapped():
                write_folder(model, path)
            _write_state(_state_folder(path), payload, tensors)
            logger.info("wrote %s", path)
        _barrier(info, device)
        return path

    try:
        while step < total:
            sampler.set_epoch(epoch, offset * cfg.batch_size)
            loader_gen.manual_seed(_derive_seed(cfg.seed, _LOADER_STREAM, epoch, info.rank))
            for batch in loader:
                batch = _to_device(batch, device, non_blocking)
                ctx.step_index, ctx.epoch = step, epoch
                ctx._stepped = set()
                model.zero_grad(set_to_none=True)
                out = model.training_step(batch, ctx)
                for name, (sched, interval) in schedulers.items():
                    if interval == "step" and name in ctx._stepped:
                        sched.step()
                stepped_any = stepped_any or bool(ctx._stepped)
                _accumulate(out, sums, counts)
                step += 1
                offset += 1
                window_steps += 1
                if offset == batches_per_epoch:
                    epoch, offset = epoch + 1, 0
                    for sched, interval in schedulers.values():
                        if interval == "epoch":
                            sched.step()
                if bar is not None:
                    bar.update(1)
                if cfg.log_every and step % cfg.log_every == 0:
                    if not stepped_any and not warned_idle:
                        warned_idle = True
                        warnings.warn(
                            f"{type(model).__name__}.training_step has not called ctx.step() in {step} steps: "
                            "nothing is being trained",
                            stacklevel=3,
                        )
                    log_record()
                if cfg.eval_every and step % cfg.eval_every == 0 and step < total:
                    evaluate()
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total:
                    result.checkpoints.append(save(f"checkpoint-{step}"))
                if step >= total or offset == 0:
                    break
        run.sync_buffers()
        log_record()
        evaluate()
        result.steps, result.epochs = step, epoch
        result.losses = losses
        if run.out is not None:
            result.final_path = save(FINAL)
    finally:
        if bar is not None:
            bar.close()
        if metrics_log is not None:
            metrics_log.close()
    run.unwrap()
    model.eval()
    result.elapsed = elapsed()
    return result


def _progress(total: int, initial: int, model: GenzooModel, show: bool, tty: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=f"train {model.family or type(model).__name__}",
        unit="step",
        dynamic_ncols=True,
        mininterval=0.1 if tty else 10.0,
    )


def _accumulate(out: Any, sums: dict[str, Any], counts: dict[str, int]) -> None:
    if out is None:
        return
    if isinstance(out, torch.Tensor):
        out = {"loss": out}
    if not isinstance(out, Mapping):
        raise ConfigError(f"training_step must return a dict of name -> loss, got {type(out).__name__}")
    for key, value in out.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ConfigError(
                    f"training_step returned {key!r} with shape {tuple(value.shape)}; return scalar losses (use .mean())"
                )
            value = value.detach().float().reshape(())
        else:
            value = float(value)
        sums[key] = sums[key] + value if key in sums else value
        counts[key] = counts.get(key, 0) + 1


def _learning_rates(optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, opt in optimizers.items():
        lrs = [float(g["lr"]) for g in opt.param_groups]
        if len(set(lrs)) == 1:
            out[name] = lrs[0]
        else:
            out.update({f"{name}/{i}": lr for i, lr in enumerate(lrs)})
    return out


def _state_payload(
    run: _Run,
    ctx: StepContext,
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, tuple[Any, str]],
    name: str,
    step: int,
    epoch: int,
    offset: int,
    elapsed: float,
    losses: Mapping[str, float],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The training state as (JSON payload, tensors); collects every rank's RNG state."""
    rng = _capture_rng(ctx)
    if run.info.enabled:
        gathered: list[Any] = [None] * run.info.world_size
        dist.all_gather_object(gathered, rng)  # in-memory exchange between this job's processes
        rng_all = gathered
    else:
        rng_all = [rng]
    tensors: dict[str, torch.Tensor] = {}
    if not run.info.is_main:
        return {}, tensors
    payload = {
        "format": STATE_FORMAT,
        "format_version": STATE_FORMAT_VERSION,
        "genzoo_version": __version__,
        "checkpoint": name,
        "step": step,
        "epoch": epoch,
        "batch_in_epoch": offset,
        "samples_in_epoch": offset * run.cfg.batch_size,
        "batch_size": run.cfg.batch_size,
        "world_size": run.info.world_size,
        "seed": run.cfg.seed,
        "amp": ctx.amp,
        "elapsed": elapsed,
        "losses": dict(losses),
        "train_config": run.cfg.as_dict(),
        "optimizers": _encode({k: o.state_dict() for k, o in optimizers.items()}, tensors, "optimizers"),
        "schedulers": _encode({k: s.state_dict() for k, (s, _) in schedulers.items()}, tensors, "schedulers"),
        "scaler": _encode(ctx.scaler.state_dict(), tensors, "scaler") if ctx.scaler is not None else None,
        "rng": _encode(rng_all, tensors, "rng"),
    }
    return payload, tensors


def _load_resume(
    run: _Run, ctx: StepContext, schedulers: Mapping[str, tuple[Any, str]], folder: Path
) -> tuple[int, int, int, float, dict[str, float]]:
    """Load weights and training state from ``folder``; return (step, epoch, offset, elapsed, losses)."""
    model, cfg, info = run.model, run.cfg, run.info
    meta = read_meta(folder)
    if meta["family"] != model.family:
        raise CheckpointError(f"cannot resume a {model.family} model from {folder}, which holds a {meta['family']} model")
    ours = json.loads(json.dumps(model.config_dict()))
    changed = sorted(k for k in set(ours) | set(meta["config"]) if ours.get(k) != meta["config"].get(k))
    if changed:
        warnings.warn(
            f"resuming from {folder}, whose model config differs in {', '.join(changed)}; "
            "the checkpoint's weights are used with this model's config",
            stacklevel=4,
        )
    tensors: dict[str, torch.Tensor] = {}
    for file in meta["components"].values():
        tensors.update(load_file(folder / file, device=str(run.device)))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"the weights in {folder} do not fit this model: {exc}") from exc

    state = _read_state(_state_folder(folder))
    opt_states = state["optimizers"]
    if set(opt_states) != set(ctx.optimizers):
        raise CheckpointError(
            f"{folder} holds optimisers {sorted(opt_states)} but configure_optimizers returned {sorted(ctx.optimizers)}"
        )
    for name, opt in ctx.optimizers.items():
        try:
            opt.load_state_dict(opt_states[name])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"optimiser {name!r} in {folder} does not fit: {exc}") from exc
    sched_states = state.get("schedulers") or {}
    for name, (sched, _) in schedulers.items():
        if name in sched_states:
            sched.load_state_dict(sched_states[name])
        else:
            warnings.warn(f"{folder} has no state for scheduler {name!r}; it starts afresh", stacklevel=4)
    if ctx.scaler is not None and state.get("scaler"):
        ctx.scaler.load_state_dict(state["scaler"])

    exact = True
    for key, now in (("world_size", info.world_size), ("batch_size", cfg.batch_size), ("seed", cfg.seed)):
        if state.get(key) != now:
            warnings.warn(
                f"resuming with {key}={now}, but {folder} was trained with {key}={state.get(key)}; "
                "training continues, though not in the order an uninterrupted run would have taken",
                stacklevel=4,
            )
            exact = False
    rng = state.get("rng") or []
    if exact and info.rank < len(rng):
        _restore_rng(ctx, rng[info.rank])
    else:
        seed_everything(_derive_seed(cfg.seed, int(state["step"]), info.rank))
        ctx.generator.manual_seed(_derive_seed(cfg.seed, _GENERATOR_STREAM, info.rank, int(state["step"])))
    offset = int(state.get("samples_in_epoch", 0)) // cfg.batch_size
    logger.info("resumed from %s at step %d", folder, state["step"])
    return int(state["step"]), int(state["epoch"]), offset, float(state.get("elapsed", 0.0)), dict(state.get("losses") or {})
