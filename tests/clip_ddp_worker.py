"""Spawned by test_clip.py: two gloo processes compute CLIP's loss on their halves of a batch.

Each rank runs a shared linear "tower" on its own rows, gathers the features
of all ranks (genzoo.losses.gather_features), computes the contrastive
loss over the global batch, and averages the weight gradient across ranks as
DistributedDataParallel does. The test compares with one process on the whole
batch.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F


def run(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from genzoo.losses import clip_contrastive_loss, gather_features

        data = torch.load(os.path.join(out, "data.pt"))
        w_img = data["w_img"].clone().requires_grad_()
        w_txt = data["w_txt"].clone().requires_grad_()
        scale = data["scale"].clone().requires_grad_()
        rows = slice(rank * data["per_rank"], (rank + 1) * data["per_rank"])
        img = F.normalize(data["x"][rows] @ w_img, dim=-1)
        txt = F.normalize(data["y"][rows] @ w_txt, dim=-1)
        loss = clip_contrastive_loss(gather_features(img), gather_features(txt), scale)
        loss.backward()
        grads = torch.cat([w_img.grad.flatten(), w_txt.grad.flatten(), scale.grad.flatten()])
        dist.all_reduce(grads)
        grads /= world  # what DDP (and ctx.step for loose parameters) does
        torch.save({"loss": loss.detach(), "grads": grads}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
