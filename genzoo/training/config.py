"""TrainConfig: the settings of the training loop, checked when they are made.

It lives on its own because everything else in the package reads it and it
needs nothing from the rest: a typo in ``amp`` or ``device``, or a
contradictory combination (``checkpoint_every`` without an ``out_dir``), is
reported when the config is built rather than part-way through a run. The
family's own hyperparameters are not here; they belong to its model config.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


AMP_MODES = ("no", "bf16", "fp16")
_AMP_ALIASES = {"none": "no", "off": "no", "false": "no", "fp32": "no", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
DEVICES = ("auto", "cpu", "cuda")


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
