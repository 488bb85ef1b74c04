"""Data order: seeded, sharded per rank, and resumable part-way through an epoch.

The loop only accepts map-style datasets so that the order of samples is a
function of the seed, epoch and rank; :class:`_ResumableSampler` can then
skip the samples an interrupted run already trained on. A bare tensor is
read as a dataset of its rows, and batches of any nesting are moved to the
training device.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler


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
