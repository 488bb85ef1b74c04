"""train(): the one loop every family trains through, and the TrainResult it returns.

This is the order of events of a run (set up devices and the process group,
seed, resolve a resume, build the loader, optimisers and schedulers, then
step, log, evaluate and checkpoint until done, and save ``final``); the
mechanics of each part live in the sibling modules.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..checkpoint import write_folder
from ..errors import ConfigError
from ..model import GenzooModel
from .config import TrainConfig
from .context import StepContext, _effective_amp
from .distributed import _barrier, _Run, _setup_distributed
from .hooks import _check_model, _optimizers, _schedulers
from .loader import _ResumableSampler, _TensorRows, _to_device
from .reporting import _accumulate, _learning_rates, _MetricsLog, _progress
from .seeding import _LOADER_STREAM, _derive_seed, seed_everything
from .state import (
    CONFIG_FILE,
    FINAL,
    METRICS_FILE,
    _load_resume,
    _prepare_out_dir,
    _resolve_resume,
    _state_folder,
    _state_payload,
    _write_state,
)

logger = logging.getLogger(__package__)  # "genzoo.training", the logger name from before the split


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

    if cfg.eval_every and (eval_dataset is None or not model.implements("evaluate")):
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
        if eval_dataset is None or not model.implements("evaluate"):
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
