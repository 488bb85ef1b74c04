"""The training loop every family shares.

Each family owns its losses and its training step; this package owns
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

# The package is split by concern; each module's docstring says why it exists:
#   config       TrainConfig and its validation
#   seeding      seed_everything and the derived per-rank/per-epoch streams
#   context      StepContext (autocast, backward, step, clipping) and the TrainableModel protocol
#   distributed  process group, devices, ComponentDDP, DDP wrapping for one run
#   loader       seeded, sharded, resumable data order
#   hooks        checks on configure_optimizers / configure_schedulers
#   reporting    metrics.jsonl, running losses, progress bar
#   state        checkpoint training state, find_latest_checkpoint, resuming
#   loop         train() and TrainResult
from .config import AMP_MODES, DEVICES, TrainConfig
from .context import StepContext, TrainableModel
from .distributed import ComponentDDP, _Dist, _Run  # the private two: tests build a _Run directly
from .hooks import DEFAULT_OPTIMIZER
from .loop import TrainResult, train
from .seeding import seed_everything
from .state import (
    CONFIG_FILE,
    FINAL,
    METRICS_FILE,
    STATE_FORMAT,
    STATE_FORMAT_VERSION,
    STATE_JSON,
    STATE_SUFFIX,
    STATE_TENSORS,
    find_latest_checkpoint,
)

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
