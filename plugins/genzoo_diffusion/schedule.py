"""Noise schedules and the closed forms of the forward process (Ho et al. 2020; Nichol & Dhariwal 2021).

Everything is computed in float64 from the config on demand (a few thousand
numbers), so the model holds no schedule buffers that a checkpoint would
have to carry or a meta-device build would have to recompute.
"""

from __future__ import annotations

import math

import torch

from genzoo.errors import ConfigError

SCHEDULES = ("linear", "cosine")


def betas_for(schedule: str, timesteps: int) -> torch.Tensor:
    """The T betas of a schedule, float64.

    ``linear``: DDPM's 1e-4 .. 0.02 for T=1000, rescaled by 1000/T so that
    other T end at the same amount of noise (Nichol & Dhariwal's rescaling).
    ``cosine``: alpha_bar(t) = cos^2((t/T + s)/(1 + s) * pi/2), s = 0.008,
    betas clipped at 0.999 (Nichol & Dhariwal eq. 17).
    """
    if schedule == "linear":
        scale = 1000 / timesteps
        return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    if schedule == "cosine":
        s = 0.008
        f = lambda t: math.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        return torch.tensor([min(1 - f(i + 1) / f(i), 0.999) for i in range(timesteps)], dtype=torch.float64)
    raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def alpha_bars(schedule: str, timesteps: int) -> torch.Tensor:
    """alpha_bar_t = prod_{s<=t} (1 - beta_s) for t = 0..T-1 (index t is the paper's t+1), float64."""
    return torch.cumprod(1 - betas_for(schedule, timesteps), 0)


def step_sequence(timesteps: int, steps: int) -> list[int]:
    """``steps`` timesteps from T-1 down to 0, evenly spaced (DDIM's respacing)."""
    if not 1 <= steps <= timesteps:
        raise ConfigError(f"steps must be in 1..{timesteps} (the model's timesteps), got {steps}")
    if steps == 1:
        return [timesteps - 1]
    return sorted({round(i * (timesteps - 1) / max(steps - 1, 1)) for i in range(steps)}, reverse=True)
