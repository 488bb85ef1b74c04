"""Multi-process training under ``torchrun``: process group, devices, DDP wrapping.

Everything that differs between one process and several lives here, so the
loop itself reads the same either way: joining (or starting) the process
group and choosing the device, barriers, :class:`ComponentDDP` (which wraps
each trainable component while still answering its attributes), averaging
the gradients of loose parameters no wrapper covers, and :class:`_Run`,
which wraps the model's components for the duration of one ``train()`` call
(with optional SyncBatchNorm) and puts the plain ones back before anything
is saved or evaluated.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError
from ..model import GenzooModel, MissingComponent
from .config import TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    from .context import StepContext


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
