"""Seeds: one user-facing seed, and the independent streams derived from it.

``seed_everything`` seeds the global generators; ``_derive_seed`` mixes the
run seed with a stream id, rank, epoch or step so that the data order, each
rank's ``ctx.generator`` and a reseed after an inexact resume never share a
stream. Kept apart because the step context, the loop and the resume code
all draw on it.
"""

from __future__ import annotations

import random

import numpy as np
import torch


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
