"""The image pool of CycleGAN (Shrivastava et al., 2017): discriminators also see older fakes.

Each discriminator is updated on a mix of the generator's newest images and
images it produced earlier, which damps the oscillation of the two players.
The rule is the reference's ``ImagePool``, per image of a batch:

- while the pool holds fewer than ``size`` images, store the new image and return it;
- otherwise, with probability 1/2, return a stored image chosen uniformly at
  random and put the new image in its place; else return the new image.

``size=0`` turns the pool off (every image is returned as is). The pool
lives in memory only; a resumed training run starts with an empty pool,
as the reference's does.
"""

from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int = 50):
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A batch the same size as ``images``: new images and, once the pool is full, some stored ones."""
        if self.size == 0:
            return images
        device = generator.device if generator is not None else torch.device("cpu")
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=generator, device=device).item() > 0.5:
                i = int(torch.randint(len(self.images), (), generator=generator, device=device).item())
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)
