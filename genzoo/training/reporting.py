"""What a run reports while it trains: metrics.jsonl, running losses, progress bar.

The loop accumulates each step's named losses, averages them over a log
window, and hands the records to :class:`_MetricsLog` (one JSON object per
line, flushed as it goes, trimmed back to the checkpoint on resume) and to
a tqdm bar on rank 0. Kept out of the loop so that the loop reads as the
order of events only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import ConfigError
from ..model import GenzooModel


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
