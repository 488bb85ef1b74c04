"""CLIP's symmetric contrastive loss, and gathering features across processes for it.

For a batch of N matched pairs with L2-normalised image features ``I`` and
text features ``T`` (row i of each belongs to pair i), the logits are the
scaled cosine similarities ``s * I @ T.T``: row i scores image i against every
text, column j scores text j against every image. The loss (InfoNCE, as in
Radford et al., 2021) is the mean of two cross-entropies with the diagonal as
the targets -- each image must pick its own caption among the N, and each
caption its own image:

    L = ( CE(s I T^T, diag) + CE(s T I^T, diag) ) / 2

It is symmetric (swapping the roles of images and texts leaves it unchanged)
and smallest when matched pairs are more similar than every mismatched pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, scale: torch.Tensor | float
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matched (image, text) pairs.

    ``image_features`` and ``text_features`` are ``(N, D)`` and L2-normalised
    (row i of each is pair i); ``scale`` is the logit multiplier -- CLIP's
    ``logit_scale.exp()``, about 1/0.07 at the start of training. Computed in
    float32. Returns a scalar.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError(
            f"image and text features must both be (N, D) with matching rows, got "
            f"{tuple(image_features.shape)} and {tuple(text_features.shape)}"
        )
    img, txt = image_features.float(), text_features.float()
    logits = scale * img @ txt.t()
    targets = torch.arange(len(img), device=img.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """All ranks' rows, concatenated in rank order, with gradients flowing back to each rank's own rows.

    Under ``torch.distributed`` (gloo or NCCL), every rank then computes the
    loss over the global batch; its gradient for its own rows sums the
    contributions of every rank's loss, and DistributedDataParallel's
    averaging turns that into exactly the gradient of the global-batch loss.
    Single process: returned unchanged.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(features.contiguous()), dim=0)
