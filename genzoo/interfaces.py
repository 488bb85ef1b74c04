"""The five component interfaces every family builds on.

Each component of every family subclasses exactly one of these bases, so
components can be mixed across families: a VAE decoder used as a GAN
generator, a CLIP text encoder used as a condition encoder. The bases fix the
*call contract* (what ``forward`` takes and returns) and the *shape facts* a
component must expose so that callers, checks and other families can rely on
them without knowing the concrete class.

Images are NCHW float tensors in [-1, 1]. Shapes below leave out the batch
dimension: ``(C, H, W)`` for images, ``(D,)`` or ``(C, H, W)`` for latents.
:func:`check_component` runs a component once on inputs of its declared shape
and raises :class:`~genzoo.errors.ShapeError` if it does not honour them.
"""

from __future__ import annotations

import abc
import math
from typing import Sequence

import torch
from torch import nn

from .errors import ShapeError

Shape = tuple[int, ...]


class DiagonalGaussian:
    """A batch of diagonal Gaussians, returned by probabilistic encoders.

    Holds the mean and the log-variance (the parameterisation VAEs learn,
    because it is unconstrained). ``rsample`` draws with the
    reparameterisation trick so gradients reach ``mean`` and ``logvar``.
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        if mean.shape != logvar.shape:
            raise ShapeError(
                f"mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} must have the same shape"
            )
        self.mean = mean
        self.logvar = logvar

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def shape(self) -> torch.Size:
        return self.mean.shape

    def rsample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I): differentiable in mean and logvar."""
        eps = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * eps

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(generator)

    def __repr__(self) -> str:
        return f"DiagonalGaussian(shape={tuple(self.mean.shape)})"


class Component(nn.Module, metaclass=abc.ABCMeta):
    """Common base of the five interfaces (not to be subclassed directly)."""

    #: Which interface a concrete class implements; set by the five bases.
    interface: str = "component"

    @abc.abstractmethod
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        ...


class Encoder(Component):
    """Images -> latent tensor, or a :class:`DiagonalGaussian` over latents.

    Must set ``input_shape`` (C, H, W) and ``latent_shape``.
    """

    interface = "encoder"
    input_shape: Shape
    latent_shape: Shape

    @property
    def latent_dim(self) -> int:
        """Number of latent values per sample (product of ``latent_shape``)."""
        return math.prod(self.latent_shape)

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> torch.Tensor | DiagonalGaussian: ...


class Decoder(Component):
    """Latent -> images. Must set ``latent_shape`` and ``output_shape`` (C, H, W)."""

    interface = "decoder"
    latent_shape: Shape
    output_shape: Shape

    @property
    def latent_dim(self) -> int:
        return math.prod(self.latent_shape)

    @abc.abstractmethod
    def forward(self, latent: torch.Tensor) -> torch.Tensor: ...


class Generator(Component):
    """Noise or an image (plus an optional condition) -> images.

    Must set ``output_shape``. A noise-driven generator sets ``noise_shape``
    and gets :meth:`sample_noise`; an image-to-image generator sets
    ``input_shape`` instead (and leaves ``noise_shape`` as ``None``).
    A conditional generator takes the condition as the second argument of
    ``forward(x, cond)`` and sets ``condition_shape`` (``()`` for class ids).
    """

    interface = "generator"
    output_shape: Shape
    noise_shape: Shape | None = None
    input_shape: Shape | None = None
    condition_shape: Shape | None = None

    def sample_noise(
        self,
        n: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Standard normal noise of shape ``(n, *noise_shape)`` on this generator's device."""
        if self.noise_shape is None:
            raise TypeError(f"{type(self).__name__} is image-driven and takes no noise")
        ref = _first_tensor(self)
        device = device if device is not None else (ref.device if ref is not None else "cpu")
        dtype = dtype if dtype is not None else (ref.dtype if ref is not None else torch.float32)
        return torch.randn((n, *self.noise_shape), generator=generator, device=device, dtype=dtype)

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor: ...


class Discriminator(Component):
    """Images (plus an optional condition) -> logits, a scalar or a patch map per image.

    Must set ``input_shape`` (C, H, W); may set ``condition_shape``.
    """

    interface = "discriminator"
    input_shape: Shape
    condition_shape: Shape | None = None

    @abc.abstractmethod
    def forward(self, images: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor: ...


class TextEncoder(Component):
    """Token ids -> one embedding per text.

    Must set ``context_length`` and ``embed_dim`` and implement
    :meth:`tokenize`, which turns strings into a LongTensor of shape
    ``(len(texts), context_length)`` that ``forward`` accepts.
    """

    interface = "text_encoder"
    context_length: int
    embed_dim: int

    @abc.abstractmethod
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor: ...

    @abc.abstractmethod
    def forward(self, tokens: torch.Tensor) -> torch.Tensor: ...


INTERFACES: dict[str, type[Component]] = {
    cls.interface: cls for cls in (Encoder, Decoder, Generator, Discriminator, TextEncoder)
}


def _first_tensor(module: nn.Module) -> torch.Tensor | None:
    for t in module.parameters():
        return t
    for t in module.buffers():
        return t
    return None


def expect_images(x: torch.Tensor, shape: Shape, what: str = "images") -> torch.Tensor:
    """Check that ``x`` is an NCHW batch of ``shape`` (C, H, W) and say clearly if not.

    A 3-D tensor of the right shape is treated as a batch of one. Returns the
    (possibly unsqueezed) batch.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3 and tuple(x.shape) == tuple(shape):
        x = x.unsqueeze(0)
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ShapeError(
            f"{what}: expected a batch of shape (N, {', '.join(map(str, shape))}), "
            f"got {tuple(x.shape)}; images are NCHW floats in [-1, 1] "
            "(genzoo.images.to_tensor converts PIL images and files)"
        )
    if not x.is_floating_point():
        raise ShapeError(f"{what}: expected a float tensor in [-1, 1], got dtype {x.dtype}")
    return x


def _required(component: nn.Module, attr: str) -> Shape:
    value = getattr(component, attr, None)
    if value is None:
        raise ShapeError(f"{type(component).__name__} must set `{attr}` (its declared shape)")
    return tuple(value)


def _out_shape(component: nn.Module, out: torch.Tensor, expected: Shape, n: int, attr: str) -> None:
    if tuple(out.shape) != (n, *expected):
        raise ShapeError(
            f"{type(component).__name__} declares {attr}={expected} but returned "
            f"{tuple(out.shape)} for a batch of {n}"
        )


@torch.no_grad()
def check_component(component: Component, batch_size: int = 2) -> None:
    """Run ``component`` once on inputs of its declared shapes and check its outputs.

    Raises :class:`ShapeError` naming the declared and the actual shape when a
    component does not honour its contract. Used by tests and by plugin
    authors to validate a new component.
    """
    if not isinstance(component, Component):
        raise TypeError(f"{type(component).__name__} does not subclass a genzoo interface")
    ref = _first_tensor(component)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    n = batch_size

    def rand(shape: Shape) -> torch.Tensor:
        return torch.rand((n, *shape), device=device, dtype=dtype) * 2 - 1

    def cond_for(shape: Shape | None) -> torch.Tensor | None:
        if shape is None:
            return None
        if shape == ():
            return torch.zeros(n, dtype=torch.long, device=device)
        return rand(shape)

    was_training = component.training
    component.eval()
    try:
        if isinstance(component, Encoder):
            out = component(rand(_required(component, "input_shape")))
            mean = out.mean if isinstance(out, DiagonalGaussian) else out
            _out_shape(component, mean, _required(component, "latent_shape"), n, "latent_shape")
        elif isinstance(component, Decoder):
            out = component(rand(_required(component, "latent_shape")))
            _out_shape(component, out, _required(component, "output_shape"), n, "output_shape")
        elif isinstance(component, Generator):
            if component.noise_shape is not None:
                x = component.sample_noise(n)
            else:
                x = rand(_required(component, "input_shape"))
            cond = cond_for(component.condition_shape)
            out = component(x) if cond is None else component(x, cond)
            _out_shape(component, out, _required(component, "output_shape"), n, "output_shape")
        elif isinstance(component, Discriminator):
            x = rand(_required(component, "input_shape"))
            cond = cond_for(component.condition_shape)
            out = component(x) if cond is None else component(x, cond)
            if out.shape[0] != n:
                raise ShapeError(
                    f"{type(component).__name__} returned {tuple(out.shape)}: "
                    f"the first dimension must be the batch ({n})"
                )
        elif isinstance(component, TextEncoder):
            tokens = component.tokenize(["a photo"] * n)
            if tuple(tokens.shape) != (n, component.context_length):
                raise ShapeError(
                    f"{type(component).__name__}.tokenize returned {tuple(tokens.shape)}, "
                    f"expected ({n}, context_length={component.context_length})"
                )
            out = component(tokens.to(device))
            _out_shape(component, out, (component.embed_dim,), n, "embed_dim")
    finally:
        component.train(was_training)
