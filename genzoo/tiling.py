"""Run a fully convolutional NCHW -> NCHW function over an image of any size, tile by tile, in bounded memory.

A generator's activations grow with the image area (a full-size CycleGAN
generator needs gigabytes for a 6000x6000 image), while its output at a
pixel depends only on a neighbourhood of it (its receptive field) -- and,
with InstanceNorm, on per-channel statistics of the whole input.
:func:`tiled` cuts the input into overlapping tiles, runs the function on
each, and stitches the outputs:

- Tiles start on a grid of ``tile - overlap`` (the last one flush with the
  edge), every start a multiple of the network's total stride, so each
  tile sees the same pixel phase as the whole image does.
- Along each shared edge, the outer quarter of the overlap of each tile is
  dropped (there the network saw the tile's border, not the image) and the
  middle half is cross-faded with a raised-cosine ramp. The weights of the
  tiles covering a pixel sum to one.
- Stitching is an incremental normalised average written as ``lerp``
  (``canvas + f * (tile - canvas)``): where the tiles agree bit for bit the
  result is that value bit for bit, so a network without InstanceNorm whose
  receptive-field radius is at most ``overlap // 4`` gives exactly its
  whole-image output.

InstanceNorm layers normalise each tile with its own statistics, which
differ from the whole image's. :func:`image_norm_stats` offers the way out:
it measures every InstanceNorm layer's whole-image statistics over the
tiles, one layer per pass, and makes the tiles use them.
``docs/inference.md`` ("Large images") has the measured differences.

:func:`choose_tile` picks a tile side for a memory budget
(:func:`memory_budget`) from the network's activation bytes per pixel
(:func:`activation_bytes_per_pixel`, measured once per network with a small probe).
"""

from __future__ import annotations

import contextlib
import math
import os
import weakref
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import ConfigError, ShapeError

#: Activation memory a CPU translation may take before it is tiled (GENZOO_TILE_BUDGET overrides it).
CPU_BUDGET = 512 * 2**20
#: Fraction of the free GPU memory a CUDA translation may take before it is tiled.
CUDA_FRACTION = 0.5
#: Peak activation memory over the widest layer's input + output: conv workspaces, blocked-format copies.
PEAK_FACTOR = 2.0

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_budget(device: torch.device | str = "cpu") -> int:
    """Bytes of activations one call may use before translation switches to tiles.

    ``GENZOO_TILE_BUDGET`` (bytes, or with a K/M/G suffix: ``512M``) wins;
    else half of the free memory of a CUDA device, else :data:`CPU_BUDGET`
    (on the CPU the free memory says little: other processes grow, and swap is slow).
    """
    env = os.environ.get("GENZOO_TILE_BUDGET")
    if env:
        text = env.strip().upper().removesuffix("B").removesuffix("I")
        unit = text[-1:] if text[-1:] in _UNITS else ""
        try:
            value = float(text[: len(text) - len(unit)])
        except ValueError:
            value = -1.0
        if not value > 0:
            raise ConfigError(f"GENZOO_TILE_BUDGET={env!r}: give bytes, or a size like 512M or 2G")
        return int(value * _UNITS[unit])
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FRACTION)
    return CPU_BUDGET


def check_tiling(tile: int, overlap: int | None, multiple: int = 1) -> tuple[int, int]:
    """Validate ``tile`` and ``overlap`` (default: a quarter of the tile) for a network of total stride ``multiple``."""
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise ConfigError(f"tile must be a positive whole number of pixels, got {tile!r}")
    if tile % multiple:
        raise ConfigError(
            f"tile {tile} is not a multiple of {multiple}, which this network needs; "
            f"use {max(multiple, tile // multiple * multiple)} or {(tile // multiple + 1) * multiple}"
        )
    if overlap is None:
        overlap = tile // 4 // multiple * multiple
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ConfigError(f"overlap must be a whole number of pixels >= 0, got {overlap!r}")
    if overlap % multiple:
        raise ConfigError(f"overlap {overlap} is not a multiple of {multiple}, which this network needs")
    if overlap >= tile:
        raise ConfigError(f"overlap {overlap} must be smaller than the tile ({tile}); e.g. overlap={tile // 4 // multiple * multiple}")
    return tile, overlap


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length``: a grid of ``tile - overlap``, the last one flush with the end."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def axis_weights(length: int, tile: int, overlap: int) -> tuple[list[int], torch.Tensor]:
    """The starts along one axis and each tile's blending weight there, as a ``(tiles, length)`` tensor (float64).

    Between neighbours ``i - 1`` and ``i`` the weight passes from one to the
    other by a raised-cosine ramp over half the overlap, centred in the
    region they share, so the outer quarter of the overlap at each tile's
    edge gets weight 0. Written as differences of rising steps,
    ``w_i = rise_i - rise_(i+1)``, the weights are never negative and sum
    to one everywhere, even where the last tile (flush with the end) overlaps more than one.
    """
    starts = tile_starts(length, tile, overlap)
    side = min(tile, length)
    blend = overlap // 2
    pos = torch.arange(length, dtype=torch.float64)

    def rise(a: int) -> torch.Tensor:  # 0 before a, 1 from a + blend, a raised cosine between
        if blend == 0:
            return (pos >= a).double()
        t = ((pos - a + 0.5) / blend).clamp(0.0, 1.0)
        return 0.5 - 0.5 * torch.cos(math.pi * t)

    rises = [torch.ones(length, dtype=torch.float64)]
    for prev, s in zip(starts, starts[1:]):
        rises.append(rise(s + (prev + side - s - blend) // 2))
    rises.append(torch.zeros(length, dtype=torch.float64))
    return starts, torch.stack([rises[i] - rises[i + 1] for i in range(len(starts))])


def _tiles(x: torch.Tensor, tile: int, overlap: int) -> Iterator[tuple[slice, slice, torch.Tensor, torch.Tensor]]:
    """Each tile of ``x`` in raster order: its rows, its columns, its weight map, and the weight of the tiles before it there."""
    h, w = x.shape[-2:]
    ys, wy = axis_weights(h, tile, overlap)
    xs, wx = axis_weights(w, tile, overlap)
    # Rows above sum to one across a whole row; add the tiles to the left in this row.
    above, left = wy.cumsum(0) - wy, wx.cumsum(0) - wx
    th, tw = min(tile, h), min(tile, w)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            sy, sx = slice(y0, y0 + th), slice(x0, x0 + tw)
            yield sy, sx, wy[i, sy, None] * wx[j, None, sx], above[i, sy, None] + wy[i, sy, None] * left[j, None, sx]


def _check_input(x: torch.Tensor, multiple: int) -> None:
    if x.dim() != 4:
        raise ShapeError(f"tiling takes an NCHW batch, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ShapeError(f"image sides {h}x{w} must be multiples of {multiple} to be tiled; pad them first")


def tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int | None = None,
    multiple: int = 1,
) -> torch.Tensor:
    """``fn(x)`` computed tile by tile: ``fn`` maps NCHW to NCHW of the same height and width.

    ``x``'s sides must be multiples of ``multiple`` (pad first: see
    ``genzoo.translation.pad_to_multiple``). Peak memory is ``fn`` on one
    tile (all of ``x``'s batch at once) plus the output.
    """
    tile, overlap = check_tiling(tile, overlap, multiple)
    _check_input(x, multiple)
    n, _, h, w = x.shape
    if h <= tile and w <= tile:
        return fn(x)
    out = None
    for sy, sx, mine, before in _tiles(x, tile, overlap):
        y = fn(x[:, :, sy, sx].contiguous())
        if y.shape[0] != n or y.shape[-2:] != mine.shape:
            raise ShapeError(
                f"tiling needs a function that keeps the batch and image size; a {tuple(mine.shape)} tile "
                f"came back as {tuple(y.shape)}"
            )
        if out is None:
            out = torch.zeros((n, y.shape[1], h, w), dtype=y.dtype, device=y.device)
        total = before + mine
        frac = torch.where(total > 0, mine / total.clamp_min(1e-300), 0.0)  # exactly 1 where no tile came before
        region = out[:, :, sy, sx]
        region.copy_(torch.lerp(region, y, frac.to(y.device, y.dtype)))
    return out


# -- how big a tile fits -----------------------------------------------------------

_PER_PIXEL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.no_grad()
def activation_bytes_per_pixel(module: nn.Module, channels: int, multiple: int = 1, device=None, dtype=None) -> float:
    """Peak activation bytes per input pixel of ``module``, measured once on a small probe and cached.

    The probe (a 64x64 input, or one stride if that is larger) records the
    widest leaf layer's input + output; :data:`PEAK_FACTOR` covers the
    workspaces and copies beside them.
    """
    p = next(module.parameters(), None)
    device = device or (p.device if p is not None else "cpu")
    dtype = dtype or (p.dtype if p is not None else torch.float32)
    key = (channels, multiple, str(device), dtype)
    cached = _PER_PIXEL.get(module, {})
    if key in cached:
        return cached[key]
    side = max(64, multiple)
    widest = [0]

    def hook(mod, inputs, output):
        sizes = [t.numel() for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        widest[0] = max(widest[0], sum(sizes))

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        module(torch.zeros(1, channels, side, side, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
    per_pixel = PEAK_FACTOR * widest[0] * torch.finfo(dtype).bits / 8 / side**2
    _PER_PIXEL.setdefault(module, {})[key] = per_pixel
    return per_pixel


def choose_tile(n: int, height: int, width: int, bytes_per_pixel: float, budget: int, multiple: int = 1) -> int | None:
    """The tile side for ``n`` images of ``height`` x ``width`` within ``budget`` bytes, or ``None`` if they fit whole.

    The largest multiple of ``multiple`` whose square fits, never below
    4 strides (a tile must leave room for its overlap).
    """
    if n * height * width * bytes_per_pixel <= budget:
        return None
    side = int(math.sqrt(budget / (n * bytes_per_pixel))) // multiple * multiple
    return max(side, 4 * multiple)


# -- whole-image InstanceNorm statistics ---------------------------------------------


def _instance_norms(module: nn.Module) -> list[nn.Module]:
    """InstanceNorm layers that normalise with the statistics of their input (no running statistics in use)."""
    return [
        m for m in module.modules()
        if isinstance(m, nn.modules.instancenorm._InstanceNorm) and not (m.track_running_stats and not m.training)
    ]  # fmt: skip


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the layer being measured has run."""


def _run_order(module: nn.Module, layers: list[nn.Module], x: torch.Tensor) -> list[nn.Module]:
    """``layers`` in the order a forward pass on (a corner of) ``x`` calls them."""
    order: list[nn.Module] = []
    handles = [m.register_forward_hook(lambda mod, i, o: order.append(mod)) for m in layers]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for hd in handles:
            hd.remove()
    return list(dict.fromkeys(order))


@contextlib.contextmanager
def image_norm_stats(module: nn.Module, x: torch.Tensor, tile: int, overlap: int | None = None, multiple: int = 1) -> Iterator[None]:
    """Make ``module``'s InstanceNorm layers use the statistics of the whole of ``x``, measured tile by tile.

    A layer's whole-image statistics depend on every earlier layer's, so
    they are measured one layer at a time, in the order the forward pass
    calls them: pass ``k`` runs every tile up to InstanceNorm layer ``k``
    (the earlier ones normalising with the whole-image statistics already
    measured) and accumulates its input's mean and variance per image and
    channel, each pixel weighted by its tile's blending weight, so every
    pixel counts once. (One pass over tiles gathering all layers at once,
    each tile normalised by its own statistics upstream, is not enough:
    measured on a trained CycleGAN, its errors compound to worse than
    plain tiles.) Memory stays that of one tile; the passes together cost
    about ``layers / 2`` forward passes. Without InstanceNorm layers this does nothing.
    """
    tile, overlap = check_tiling(tile, overlap, multiple)
    _check_input(x, multiple)
    norms = _instance_norms(module)
    if not norms:
        yield
        return
    side = min(tile, *x.shape[-2:])
    norms = _run_order(module, norms, x[:, :, :side, :side].contiguous())
    stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}
    weight: list[torch.Tensor] = []  # the current tile's weight map
    sums: list[torch.Tensor] = []

    def normalise(mod: nn.Module, t: torch.Tensor) -> torch.Tensor:
        mean, var = stats[mod]
        y = ((t.double() - mean) * torch.rsqrt(var + mod.eps)).to(t.dtype)
        if mod.affine:
            y = y * mod.weight[:, None, None] + mod.bias[:, None, None]
        return y

    def apply(mod, inputs, output):
        return normalise(mod, inputs[0])

    def gather(mod, inputs, output):
        t = inputs[0].double()
        w = F.interpolate(weight[0][None, None], size=t.shape[-2:], mode="area").to(t.device)
        acc = [w.sum().expand(t.shape[:2]), (t * w).sum((-2, -1)), (t * t * w).sum((-2, -1))]
        sums[:] = acc if not sums else [a + b for a, b in zip(sums, acc)]
        raise _Stop

    handles = [m.register_forward_hook(apply) for m in norms]
    try:
        for layer in norms:
            sums.clear()
            measuring = layer.register_forward_hook(gather, prepend=True)
            try:
                with torch.no_grad():
                    for sy, sx, mine, _before in _tiles(x, tile, overlap):
                        weight[:] = [mine]
                        try:
                            module(x[:, :, sy, sx].contiguous())
                        except _Stop:
                            pass
            finally:
                measuring.remove()
            s0, s1, s2 = sums
            mean = s1 / s0
            stats[layer] = (mean[..., None, None], (s2 / s0 - mean * mean).clamp_min(0)[..., None, None])
        yield
    finally:
        for hd in handles:
            hd.remove()
