"""StepContext: the mechanics of one training step, the same for every family.

A family's ``training_step`` decides what to compute and which optimiser to
step; the context does the rest: autocast for mixed precision, fp16 loss
scaling in ``backward``, and in ``step`` averaging loose gradients across
ranks, unscaling, clipping by norm, stepping and zeroing. It also carries
the seeded per-rank ``generator`` and the step/epoch indices. The
:class:`TrainableModel` protocol (what a family must implement) and the
choice of the mixed precision actually used on a device sit beside it.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Mapping, Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError
from .config import TrainConfig
from .distributed import _average_gradients, _Dist
from .seeding import _GENERATOR_STREAM, _derive_seed


@runtime_checkable
class TrainableModel(Protocol):
    """What :func:`train` needs from a family model (for type checkers and ``isinstance``)."""

    def configure_optimizers(self, cfg: TrainConfig) -> Mapping[str, torch.optim.Optimizer]: ...

    def training_step(self, batch: Any, ctx: "StepContext") -> Mapping[str, torch.Tensor | float]: ...


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
