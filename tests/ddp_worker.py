"""Run by ``torchrun --nproc_per_node=2`` from test_training.py: train tiny models on 2 CPU processes.

Each rank writes the weights it ends with (and what its training step saw),
so the test can check that DistributedDataParallel kept the ranks identical,
that training changed the weights, and that resuming under torchrun matches
an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_training import TinyAE, TinyAEConfig, TrainableToy, make_data, make_images  # noqa: E402

from genzoo.training import TrainConfig, train  # noqa: E402


def dump(model: torch.nn.Module, path: Path) -> None:
    save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}, path)


def main(out: Path) -> None:
    rank = int(os.environ["RANK"])
    common = dict(device="cpu", progress=False, batch_size=8, log_every=5)

    # Different initial weights per rank: DDP must start every rank from rank 0's.
    torch.manual_seed(100 + rank)
    ae = TinyAE(TinyAEConfig())
    dump(ae, out / f"ae-initial-rank{rank}.safetensors")
    train(ae, make_data(96), TrainConfig(steps=30, checkpoint_every=10, out_dir=out / "ae", **common))
    dump(ae, out / f"ae-rank{rank}.safetensors")
    (out / f"seen-rank{rank}.json").write_text(json.dumps(ae.seen))

    # The same run in two parts (resume from a finished shorter run) must end identical.
    torch.manual_seed(100 + rank)
    split = TinyAE(TinyAEConfig())
    train(split, make_data(96), TrainConfig(steps=15, out_dir=out / "ae-split", **common))
    split = TinyAE(TinyAEConfig())
    train(split, make_data(96), TrainConfig(steps=30, out_dir=out / "ae-split", resume=True, **common))
    dump(split, out / f"ae-split-rank{rank}.safetensors")

    # Two optimisers, a BatchNorm discriminator, sample_noise through the DDP wrapper.
    torch.manual_seed(200 + rank)
    gan = TrainableToy(TrainableToy.make_config(width=4))
    train(gan, make_images(64), TrainConfig(steps=10, out_dir=out / "gan", **common))
    dump(gan, out / f"gan-rank{rank}.safetensors")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
