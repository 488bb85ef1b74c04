"""Checkpoints and resuming: the training state, the out_dir layout, bit-exact restarts.

Next to each saved model folder (``checkpoint-<step>``, ``final``) goes a
``<name>.state`` folder with everything needed to continue as if never
interrupted: optimiser, scheduler and fp16-scaler state, every rank's RNG
states, the position in the epoch. It is written as JSON plus safetensors
(never pickle) and atomically, and a checkpoint counts only once its state
is complete, so ``find_latest_checkpoint`` never picks a half-written one.
This module also decides what ``resume`` points at and guards an out_dir
holding an earlier run.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from ..checkpoint import read_meta
from ..errors import CheckpointError, ConfigError
from ..version import __version__
from .config import TrainConfig
from .seeding import _GENERATOR_STREAM, _derive_seed, seed_everything

if TYPE_CHECKING:  # pragma: no cover
    from .context import StepContext
    from .distributed import _Run

logger = logging.getLogger(__package__)  # "genzoo.training", the logger name from before the split


METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "train_config.json"
FINAL = "final"
STATE_SUFFIX = ".state"
STATE_JSON = "trainer_state.json"
STATE_TENSORS = "trainer_state.safetensors"
STATE_FORMAT = "genzoo-trainer-state"
STATE_FORMAT_VERSION = 1


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
    found = _checkpoints_newest_first(out_dir)
    return found[0] if found else None


def _checkpoints_newest_first(out_dir: str | os.PathLike) -> list[Path]:
    """Every checkpoint folder in ``out_dir`` with a training state, highest step first (``final`` before a same-step one)."""
    keyed: list[tuple[int, int, Path]] = []
    root = Path(out_dir)
    if not root.is_dir():
        return []
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
        keyed.append((step, int(model_folder.name == FINAL), model_folder))
    keyed.sort(key=lambda k: k[:2], reverse=True)
    return [folder for _, _, folder in keyed]


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why the checkpoint ``folder`` cannot be resumed from, or ``None`` when it looks whole.

    Checks config.json, the training state's JSON, and that every safetensors
    file is complete (its header covers the file exactly), without reading
    the tensors: a copy cut short or a disk that filled up while saving
    shows up here, before the weights are loaded.
    """
    from safetensors import safe_open

    from ..config import validate_meta

    folder = Path(folder)
    state = _state_folder(folder)
    try:
        meta = validate_meta(read_meta(folder), str(folder / "config.json"))
        json.loads((state / STATE_JSON).read_text(encoding="utf-8"))
    except (CheckpointError, OSError, ValueError) as exc:
        return str(exc)
    for path in [*(folder / f for f in meta["components"].values()), state / STATE_TENSORS]:
        try:
            with safe_open(path, framework="pt"):
                pass
        except Exception as exc:  # noqa: BLE001 - SafetensorError, FileNotFoundError, ...
            return f"{path.relative_to(folder.parent)} is missing, truncated or corrupt ({exc})"
    return None


def _latest_whole_checkpoint(out_dir: Path) -> tuple[Path | None, list[str]]:
    """The newest checkpoint in ``out_dir`` that :func:`checkpoint_problem` passes, and what was wrong with newer ones."""
    skipped = []
    for folder in _checkpoints_newest_first(out_dir):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder, skipped
        skipped.append(f"{folder.name}: {problem}")
    return None, skipped


def _resolve_resume(cfg: TrainConfig) -> Path | None:
    if cfg.resume is False:
        return None
    if cfg.resume is True:
        if cfg.out_dir is None or find_latest_checkpoint(cfg.out_dir) is None:
            logger.info("resume=True but %s holds no checkpoint yet; starting a fresh run", cfg.out_dir)
            return None
        found, skipped = _latest_whole_checkpoint(Path(cfg.out_dir))
        if found is None:
            raise CheckpointError(
                f"cannot resume: every checkpoint in {cfg.out_dir} is damaged ({skipped[0]}); "
                "start again with overwrite=True (--overwrite)"
            )
        if skipped:
            warnings.warn(
                f"the newest checkpoint is damaged ({skipped[0]}); resuming from {found.name} instead", stacklevel=4
            )
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
    problem = checkpoint_problem(path)
    if problem is not None:
        whole, _ = _latest_whole_checkpoint(path.parent)
        hint = f"resume from {whole} instead" if whole is not None else "no other checkpoint next to it is whole"
        raise CheckpointError(f"cannot resume from {path}: {problem}; {hint}")
    return path


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
        try:
            tensors.update(load_file(folder / file, device=str(run.device)))
        except Exception as exc:  # noqa: BLE001 - SafetensorError is not an OSError
            raise CheckpointError(f"{folder / file} is truncated or corrupt ({exc}); resume from an earlier checkpoint") from exc
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
