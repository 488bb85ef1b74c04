"""What the image-to-image families (Pix2Pix, CycleGAN) share: config, ``translate``, the ``genzoo run`` task.

:class:`ReferenceNetsConfig` holds the fields of the reference networks and
optimiser both families train with; each family's config subclasses it.
:class:`TranslationModel` is the base of both models: ``translate``, the
``translate`` task, the input spec and the reference's learning-rate
schedule (:func:`linear_decay`). The networks are :mod:`genzoo.nets.reference`,
the converter for the authors' files :mod:`genzoo.nets.reference_files`,
the paired/unpaired folder data sets :mod:`genzoo.folders`.

``translate(images)`` takes tensors (NCHW / CHW in [-1, 1]), PIL images,
file paths, or a list of these, and by default applies the reference's
test-time preprocessing: a bicubic resize to ``image_size`` (256 for the
published models) and scaling to [-1, 1]. ``keep_size=True`` instead keeps
every image's own size: it is padded (reflection) to the multiple of the
network's total stride (4 for ResNet generators, ``2**num_downs`` for U-Nets),
translated, and cropped back; an image too large for the memory budget is
translated in overlapping tiles (:mod:`genzoo.tiling`, ``tile=``, ``overlap=``,
``norm_stats=``; docs/inference.md, "Large images").
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import torch
import torch.nn.functional as F

from genzoo import images as gi
from genzoo.errors import ConfigError
from genzoo.losses import REFERENCE_GAN_MODES
from genzoo.model import GenzooModel, InputSpec, task
from genzoo.nets.reference import check_discriminator, check_norm, parse_generator


@dataclass
class ReferenceNetsConfig:
    """The configuration fields Pix2Pix and CycleGAN share: the reference networks and optimiser.

    Both families build the same reference generators and PatchGANs and train
    them with the same Adam settings and linear decay; only their defaults
    differ (Pix2Pix: U-Net, batch norm, dropout, vanilla GAN loss; CycleGAN:
    ResNet, instance norm, no dropout, least squares). Each family's config
    subclasses this one, restating just the defaults it changes and adding
    its own loss weights.
    """

    #: Ranges the types cannot say (genzoo.config); positive int defaults stay >= 1.
    limits: ClassVar[dict[str, str]] = {
        "init_gain": "[0, inf)", "lr": "(0, inf)", "beta1": "[0, 1)", "beta2": "[0, 1)", "decay_start": "[0, 1]",
    }  # fmt: skip

    input_nc: int = 3
    output_nc: int = 3
    #: The side images are trained on and (by default) translated at.
    image_size: int = 256
    #: resnet_9blocks, resnet_6blocks, resnet_<n>blocks, unet_256, unet_128, unet_<2^k>.
    netG: str = "resnet_9blocks"
    ngf: int = 64
    #: batch, instance or none.
    norm: str = "instance"
    #: Dropout 0.5 in the generator (U-Net: the innermost levels; ResNet: every block).
    dropout: bool = False
    #: basic (3-layer PatchGAN), n_layers (n_layers_D), pixel (1x1), or none (no discriminator: inference only).
    netD: str = "basic"
    ndf: int = 64
    n_layers_D: int = 3
    init_gain: float = 0.02
    #: vanilla (BCE with logits) or lsgan (least squares).
    gan_mode: str = "lsgan"
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    #: Fraction of the steps at a constant learning rate before the linear decay to zero.
    decay_start: float = 0.5

    def __post_init__(self):
        parse_generator(self.netG)
        check_norm(self.norm)
        check_discriminator(self.netD)
        if self.gan_mode not in REFERENCE_GAN_MODES:
            raise ValueError(f"gan_mode must be one of {REFERENCE_GAN_MODES}, got {self.gan_mode!r}")


def linear_decay(total_steps: int, decay_start: float) -> Callable[[int], float]:
    """LR factor per step: 1 for ``decay_start * total_steps`` steps, then linearly down to ``1 / (n_decay + 1)``.

    The reference's ``linear`` policy, ``1 - max(0, epoch - n_epochs) / (n_epochs_decay + 1)``,
    counted in training steps instead of epochs.
    """
    if not 0.0 <= decay_start <= 1.0:
        raise ConfigError(f"decay_start must be a fraction in [0, 1], got {decay_start}")
    n_const = int(round(total_steps * decay_start))
    n_decay = max(total_steps - n_const, 0)

    def factor(step: int) -> float:
        return 1.0 - max(0, step - n_const) / float(n_decay + 1)

    return factor


def linear_decay_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, decay_start: float):
    """A ``LambdaLR`` following :func:`linear_decay`."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, linear_decay(total_steps, decay_start))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Pad NCHW ``x`` (reflection where it can, else replication) so both sides are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = math.ceil(h / multiple) * multiple - h, math.ceil(w / multiple) * multiple - w
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if not any(pads):
        return x, pads
    mode = "reflect" if max(pads[0], pads[1]) < w and max(pads[2], pads[3]) < h else "replicate"
    return F.pad(x, pads, mode=mode), pads


def crop_back(y: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    left, right, top, bottom = pads
    return y[..., top : y.shape[-2] - bottom, left : y.shape[-1] - right]


def test_batches(dataset, device: torch.device, dtype: torch.dtype, batch_size: int = 32):
    """``(a, b)`` batches of a paired or unpaired test split, in order, on ``device``.

    Evaluation streams the split instead of stacking it: 1,098 maps at 256²
    would be 1.7 GB of inputs and targets at once.
    """
    for a, b in torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False):
        yield a.to(device, dtype), b.to(device, dtype)


class RunningL1:
    """Mean absolute error and mean per-image PSNR of outputs against targets, accumulated batch by batch."""

    def __init__(self) -> None:
        self.total, self.count, self.psnrs = 0.0, 0, []

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        from genzoo.metrics import psnr

        output, target = output.float(), target.float()
        self.total += (output - target).abs().sum().item()
        self.count += target.numel()
        self.psnrs.append(psnr(output, target, reduction="none"))

    @property
    def l1(self) -> float:
        return self.total / self.count

    @property
    def psnr(self) -> float:
        return float(torch.cat(self.psnrs).mean())


@contextlib.contextmanager
def reference_train_mode(module: torch.nn.Module, seed: int | None = None):
    """Run ``module`` as the reference's test script does without ``--eval``: batch statistics and dropout.

    Batch-norm running statistics are restored afterwards, so this leaves the model unchanged.
    """
    saved = {k: v.clone() for k, v in module.named_buffers()}
    was = module.training
    module.train()
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    try:
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            yield module
    finally:
        module.train(was)
        with torch.no_grad():
            for k, v in module.named_buffers():
                v.copy_(saved[k])


NORM_STATS = ("tile", "image")


def _tiling_options(tile: int | str | None, overlap: int | None, norm_stats: str, multiple: int) -> dict | None:
    """Check ``translate``'s tiling arguments up front (before any image is read); ``None``: never tile."""
    from genzoo import tiling

    if norm_stats not in NORM_STATS:
        raise ConfigError(f"norm_stats must be one of {', '.join(NORM_STATS)}, got {norm_stats!r}")
    if tile is None or tile == 0:
        if overlap is not None:
            raise ConfigError("overlap is only used with tile; pass tile=N (or 'auto') as well")
        return None
    if tile != "auto":
        tiling.check_tiling(tile, overlap, multiple)
    elif overlap is not None:
        raise ConfigError("overlap needs a tile size: with tile='auto' genzoo picks both")
    return {"tile": tile, "overlap": overlap, "norm_stats": norm_stats}


def _translate_tiled(gen: torch.nn.Module, x: torch.Tensor, tile: int | str, overlap: int | None, norm_stats: str) -> torch.Tensor:
    """``gen(x)``, in tiles when ``tile`` is a side or when ``"auto"`` finds that ``x`` is over the memory budget."""
    from genzoo import tiling

    if tile == "auto":
        n, (h, w) = x.shape[0], x.shape[-2:]
        if h * w <= math.prod(gen.input_shape[1:]):
            return gen(x)  # no larger than what the network was built for: batch_size decides the memory
        per_pixel = tiling.activation_bytes_per_pixel(gen, x.shape[1], gen.multiple, x.device, x.dtype)
        budget = tiling.memory_budget(x.device)
        if tiling.choose_tile(n, h, w, per_pixel, budget, gen.multiple) is None:
            return gen(x)
        if n > 1:  # over the budget: one image at a time first, then tiles if one alone is still too big
            return torch.cat([_translate_tiled(gen, x[i : i + 1], tile, overlap, norm_stats) for i in range(n)])
        tile = tiling.choose_tile(1, h, w, per_pixel, budget, gen.multiple)
        if tile is None:
            return gen(x)
    if max(x.shape[-2:]) <= tile:
        return gen(x)
    stats = tiling.image_norm_stats(gen, x, tile, overlap, gen.multiple) if norm_stats == "image" else contextlib.nullcontext()
    with stats:
        return tiling.tiled(gen, x, tile, overlap, gen.multiple)


class TranslationModel(GenzooModel):
    """Base of the image-to-image families: ``translate``, the ``translate`` task of ``genzoo run``,
    and the reference's learning-rate schedule, which both families train with."""

    pipeline_tag = "image-to-image"

    def generator_for(self, direction: str = "a2b") -> torch.nn.Module:  # pragma: no cover - families override
        raise NotImplementedError

    @property
    def input_spec(self) -> InputSpec:
        """Images of ``input_nc`` channels in [-1, 1], resized to ``image_size`` (``translate(keep_size=True)`` pads instead)."""
        c = self.config
        return InputSpec(c.input_nc, (c.image_size, c.image_size))

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        g = torch.Generator().manual_seed(0)
        x = torch.rand((batch_size, *self.image_shape), generator=g) * 2 - 1
        return "translate", {"images": x.to(self.device, self.dtype), "batch_size": batch_size}

    def export_targets(self) -> dict:
        """The generators, exported for any image size their stride divides (what ``translate(keep_size=True)`` feeds them)."""
        import dataclasses

        return {n: dataclasses.replace(t, multiple_of=t.module.multiple) for n, t in super().export_targets().items()}

    def configure_schedulers(self, optimizers, cfg):
        """Every optimiser at a constant rate for ``decay_start`` of the steps, then linearly down (the reference's ``linear``)."""
        if cfg.steps is None:
            return {}
        return {name: linear_decay_scheduler(opt, cfg.steps, self.config.decay_start) for name, opt in optimizers.items()}

    @torch.no_grad()
    def translate(
        self,
        images: Any,
        *,
        size: int | None = None,
        keep_size: bool = False,
        direction: str = "a2b",
        batch_size: int = 8,
        train_mode: bool = False,
        seed: int | None = None,
        tile: int | str | None = "auto",
        overlap: int | None = None,
        norm_stats: str = "tile",
    ) -> torch.Tensor | list[torch.Tensor]:
        """Translate images (tensors in [-1, 1], PIL images, paths, or a list of these) into the other domain.

        ``size``: the side images are resized to (bicubic), by default the
        config's ``image_size`` -- the reference's test preprocessing.
        ``keep_size=True``: no resize; pad to the network's multiple, crop
        back. ``direction``: ``"a2b"`` (the model's own direction) or, for a
        two-way CycleGAN, ``"b2a"``. ``train_mode``: run the generator as the
        reference's test script does (batch statistics, dropout as noise; see
        the Pix2Pix docs), with ``seed`` for repeatable noise.

        ``tile``: translate in overlapping tiles of this side, blended
        (:mod:`genzoo.tiling`), so memory no longer grows with the image;
        ``"auto"`` (default) tiles only a batch whose activations would
        exceed :func:`genzoo.tiling.memory_budget`, ``None`` never tiles.
        ``overlap``: pixels neighbouring tiles share (default a quarter of
        the tile). ``norm_stats``: ``"tile"`` (InstanceNorm layers see each
        tile's statistics) or ``"image"`` (statistics of the whole image,
        gathered over the tiles in one extra pass; docs/inference.md compares them).

        Returns an NCHW tensor in [-1, 1] on the model's device; in
        ``keep_size`` mode with images of different sizes, a list of CHW tensors.
        """
        gen = self.generator_for(direction)
        channels = gen.input_shape[0]
        tiling = _tiling_options(tile, overlap, norm_stats, gen.multiple)
        if keep_size:
            if isinstance(images, torch.Tensor) and images.is_floating_point():
                items = [gi.to_tensor(images, channels=channels)]
            else:
                seq = images if isinstance(images, (list, tuple)) else [images]
                items = [gi.to_tensor(item, channels=channels) for item in seq]
            outs = []
            for batch in items:
                for chunk in batch.split(batch_size):
                    x, pads = pad_to_multiple(chunk.to(self.device, self.dtype), gen.multiple)
                    outs.append(crop_back(self._run(gen, x, train_mode, seed, tiling), pads))
            if len(outs) == 1:
                return outs[0]  # not torch.cat([one]): that copies, and a 6000x6000 output is 432 MB
            if len({tuple(o.shape[1:]) for o in outs}) == 1:
                return torch.cat(outs)
            return [img for o in outs for img in o]
        side = size or self.config.image_size
        if side % gen.multiple:
            raise ConfigError(f"size {side} is not a multiple of {gen.multiple}, which this generator needs; use keep_size=True to pad")
        x = gi.to_tensor(images, size=side, channels=channels).to(self.device, self.dtype)
        return torch.cat([self._run(gen, chunk, train_mode, seed, tiling) for chunk in x.split(batch_size)])

    @staticmethod
    def _run(gen: torch.nn.Module, x: torch.Tensor, train_mode: bool, seed: int | None, tiling: dict | None = None) -> torch.Tensor:
        mode = reference_train_mode(gen, seed) if train_mode else contextlib.nullcontext()
        with mode:
            return _translate_tiled(gen, x, **tiling) if tiling else gen(x)

    # -- genzoo run ---------------------------------------------------------------
    def demo_inputs(self, n: int, seed: int, direction: str = "a2b") -> torch.Tensor:
        """``n`` held-out inputs of the data set the model was trained on (a registered name on its card)."""
        from genzoo.data import get_dataset
        from genzoo.plugins import get_registry

        known = get_registry().datasets  # pairs made by a plugin, e.g. digits-edges
        name = next((t for t in [*(self.card.get("tags") or []), self.card.get("dataset")] if t in known), None)
        if name is None:
            raise ConfigError(
                "this model has no built-in test data to show; pass images with --input "
                "(or a folder: genzoo run NAME FOLDER -o OUT_DIR)"
            )
        test = get_dataset(name, "test", self.config.image_size)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(test), generator=g)[:n]
        side = 0 if direction == "a2b" else 1
        return torch.stack([test[int(i)][side] for i in idx])

    @task("translate", default=True)
    def run_translate(self, inputs: Sequence[Any] | None = None, n: int | None = None, seed: int | None = None):
        """Inputs (the first row) and their translations (the row below), as a grid."""
        n = n or 8
        x = gi.to_tensor(list(inputs), size=self.config.image_size) if inputs else self.demo_inputs(n, seed or 0)
        y = self.translate(x)
        x = gi.to_tensor(x, size=y.shape[-1], channels=y.shape[1]).to(y.device, y.dtype)
        return torch.cat([x, y]), len(x)
