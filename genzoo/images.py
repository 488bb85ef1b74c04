"""Converting images between genzoo tensors, PIL, uint8 and files.

Every genzoo model takes and returns images as NCHW float tensors in
[-1, 1]: a symmetric range suits tanh outputs and zero-centred inputs, and one
convention for every family is what lets components be mixed. This module is
the border crossing to everything else:

* :func:`to_tensor` reads PIL images, files, uint8 arrays (and lists of
  them) into that convention, optionally resizing and fixing the channel count;
* :func:`to_pil` and :func:`to_uint8` go the other way, clamping to [-1, 1]
  and rounding to the nearest of 256 levels, so a uint8 image survives
  ``to_tensor`` -> ``to_uint8`` / ``to_pil`` exactly;
* :func:`save_image`, :func:`make_grid` and :func:`save_grid` write results
  to disk. Writes are atomic (temporary file in the same folder, then
  :func:`os.replace`), so an interrupted run never leaves a truncated PNG.

Values outside [-1, 1] are not an error: generators overshoot, and the
output conversions clamp. Wrong shapes and types are, with a
:class:`~genzoo.errors.ShapeError` that says what was expected.
"""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .errors import ConfigError, ImageFileError, ShapeError

__all__ = [
    "ImageFileError",
    "ImageInput",
    "to_tensor",
    "to_pil",
    "to_uint8",
    "save_image",
    "make_grid",
    "save_grid",
    "check_output_apart",
]

#: Anything :func:`to_tensor` accepts (a list may mix the first four kinds).
ImageInput = Union[Image.Image, str, os.PathLike, np.ndarray, torch.Tensor, Sequence]

# PIL modes that hold one grey channel; every other mode becomes RGB.
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "La"}
# ITU-R 601-2 luma, the weights PIL uses for mode "L", so tensor and PIL
# conversions to grey agree.
_LUMA = (0.299, 0.587, 0.114)



# -- reading -----------------------------------------------------------------
def _size_hw(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        hw = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, int) for s in size):
        hw = (int(size[0]), int(size[1]))
    else:
        raise ShapeError(f"size must be an int or a (height, width) pair, got {size!r}")
    if min(hw) < 1:
        raise ShapeError(f"size must be positive, got {size!r}")
    return hw


def _check_channels(channels: int | None) -> None:
    if channels not in (None, 1, 3):
        raise ShapeError(f"channels must be 1 (grey), 3 (RGB) or None (keep), got {channels!r}")


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"no image file at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except Image.DecompressionBombError as exc:  # not an OSError: PIL's guard against huge (or hostile) files
        raise ImageFileError(
            f"{path} is too large to open safely ({exc}); shrink it first, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS in your own code if you trust the file"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageFileError(f"{path} is not an image PIL can read ({exc})") from exc


def _pil_channels(im: Image.Image) -> int:
    return 1 if im.mode in _GREY_MODES else 3


def _pil_to_array(im: Image.Image, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """PIL image -> uint8 HWC array with ``channels`` channels, resized if asked."""
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16/32-bit grey: PIL's convert("L") clips instead of rescaling. Guess
        # the full-scale value: 65535 for 16-bit data, 1.0 for float images
        # that look normalised, else 255.
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max(initial=0)
        if im.mode.startswith("I;16") or top > 255:
            hi = 65535.0
        elif im.mode == "F" and top <= 1.0:
            hi = 1.0
        else:
            hi = 255.0
        im = Image.fromarray(np.clip(np.rint(arr / hi * 255), 0, 255).astype(np.uint8))
    target = "L" if channels == 1 else "RGB"
    if im.mode != target:
        # Alpha is dropped (not composited): generative datasets are opaque,
        # and a fixed background colour would be a guess.
        im = im.convert(target)
    if size is not None and (im.height, im.width) != size:
        im = im.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _array_to_pil(arr: np.ndarray, what: str) -> Image.Image:
    """A uint8 HW / HWC array -> PIL image (1, 3 or 4 channels)."""
    if arr.dtype != np.uint8:
        raise ShapeError(
            f"{what}: numpy arrays must be uint8 (0..255), got {arr.dtype}; for floats in [-1, 1] "
            "pass torch.from_numpy(array) in NCHW layout instead"
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr))  # uint8 HW: mode "L"
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(arr))  # uint8 HWC: "RGB" / "RGBA"
    raise ShapeError(
        f"{what}: expected a uint8 array of shape (H, W) or (H, W, C) with C in 1, 3, 4, "
        f"got {arr.shape}; uint8 images are read channels-last (as to_uint8 writes them), "
        "so permute a CHW uint8 tensor with .permute(1, 2, 0) first"
    )


def _tensor_resize_channels(
    t: torch.Tensor, size: tuple[int, int] | None, channels: int | None
) -> torch.Tensor:
    """Adjust a float NCHW batch: grey <-> RGB and bicubic resize (antialiased)."""
    if channels is not None and t.shape[1] != channels:
        if channels == 3 and t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        elif channels == 1 and t.shape[1] in (3, 4):
            w = torch.tensor(_LUMA, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
            t = (t[:, :3] * w).sum(dim=1, keepdim=True)
        elif channels == 3 and t.shape[1] == 4:
            t = t[:, :3]
        else:
            raise ShapeError(f"cannot convert {t.shape[1]}-channel images to {channels} channels")
    if size is not None and tuple(t.shape[-2:]) != size:
        t = F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=True)
        t = t.clamp(-1, 1)  # bicubic overshoots; keep the range promise
    return t


def _check_float_tensor(t: torch.Tensor, what: str) -> torch.Tensor:
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4:
        raise ShapeError(
            f"{what}: float tensors must be CHW or NCHW images in [-1, 1], got shape "
            f"{tuple(t.shape)}"
        )
    return t


def _uint8_to_float(arr: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1] (k -> k / 127.5 - 1, exact inverse of to_uint8)."""
    if isinstance(arr, np.ndarray):
        arr = torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True))  # PIL arrays are read-only
    t = arr.permute(0, 3, 1, 2).to(torch.float32)
    return t / 127.5 - 1.0


def to_tensor(
    x: ImageInput,
    size: int | Sequence[int] | None = None,
    channels: int | None = None,
) -> torch.Tensor:
    """Read images into an NCHW float32 tensor in [-1, 1].

    Accepts a PIL image, a file path (``str`` / ``Path``), a uint8 numpy array
    (``HW``, ``HWC`` or a batch ``NHWC``), a uint8 tensor in the same layouts
    (what :func:`to_uint8` returns), a float tensor (``CHW`` / ``NCHW``,
    assumed to be in [-1, 1] already: returned as is, keeping dtype and
    device, unless ``size`` or ``channels`` ask for a change), or a list of
    any of these.

    ``size`` (an int for square, or ``(height, width)``) resizes with bicubic
    filtering; PIL's for images and arrays, antialiased torch bicubic for float
    tensors. Aspect ratio is not kept: crop first if it matters. Without
    ``size``, all images of a list must have the same size.

    ``channels`` is 1 (grey, ITU-R 601 luma as PIL computes it) or 3 (RGB);
    ``None`` keeps grey images grey and makes everything else RGB (alpha is
    dropped). In a list with mixed channel counts, ``None`` means RGB.
    """
    hw = _size_hw(size)
    _check_channels(channels)
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return _tensor_resize_channels(_check_float_tensor(x, "to_tensor"), hw, channels)
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    if not items:
        raise ShapeError("to_tensor got an empty list; pass at least one image")

    # Flatten to PIL images or uint8 NHWC batches, remembering channel counts.
    parts: list[Image.Image | np.ndarray | torch.Tensor] = []
    for i, item in enumerate(items):
        what = f"to_tensor item {i}" if len(items) > 1 else "to_tensor"
        if isinstance(item, Image.Image):
            parts.append(item)
        elif isinstance(item, (str, os.PathLike)):
            parts.append(_open(item))
        elif isinstance(item, np.ndarray) or (isinstance(item, torch.Tensor) and item.dtype == torch.uint8):
            arr = item.cpu().numpy() if isinstance(item, torch.Tensor) else item
            if arr.ndim == 4:
                if arr.dtype != np.uint8:
                    _array_to_pil(arr[0], what)  # raises the dtype error
                if arr.shape[3] not in (1, 3, 4):
                    raise ShapeError(f"{what}: a 4-D uint8 batch must be NHWC with C in 1, 3, 4, got {arr.shape}")
                parts.append(arr)
            else:
                parts.append(_array_to_pil(arr, what))
        elif isinstance(item, torch.Tensor) and item.is_floating_point():
            parts.append(_check_float_tensor(item, what))
        else:
            raise ShapeError(
                f"{what}: cannot read {type(item).__name__} as an image; pass a PIL image, a "
                "file path, a uint8 numpy array (HW or HWC), a tensor, or a list of these"
            )

    def n_channels(p) -> int:
        if isinstance(p, Image.Image):
            return _pil_channels(p)
        if isinstance(p, torch.Tensor):
            return 1 if p.shape[1] == 1 else 3
        return 1 if p.shape[3] == 1 else 3

    want = channels if channels is not None else max(n_channels(p) for p in parts)
    batches: list[torch.Tensor] = []
    for p in parts:
        if isinstance(p, torch.Tensor):
            batches.append(_tensor_resize_channels(p.float().cpu(), hw, want))
            continue
        if isinstance(p, np.ndarray):
            same_channels = p.shape[3] == want or (want == 3 and p.shape[3] == 4)
            if same_channels and (hw is None or p.shape[1:3] == hw):
                batches.append(_uint8_to_float(p[..., :want]))  # fast path: no PIL round trip
            else:
                arrs = [_pil_to_array(_array_to_pil(a, "to_tensor"), want, hw) for a in p]
                batches.append(_uint8_to_float(np.stack(arrs)))
            continue
        batches.append(_uint8_to_float(_pil_to_array(p, want, hw)[None]))
    shapes = {tuple(b.shape[1:]) for b in batches}
    if len(shapes) > 1:
        raise ShapeError(
            f"to_tensor: images have different sizes {sorted(s[1:] for s in shapes)}; "
            "pass size=... to resize them to one size"
        )
    return torch.cat(batches) if len(batches) > 1 else batches[0]


# -- writing -----------------------------------------------------------------
def _as_batch(t: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ShapeError(f"{what}: expected a CHW or NCHW tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise ShapeError(
            f"{what}: expected a float tensor in [-1, 1], got dtype {t.dtype} "
            "(genzoo.images.to_tensor converts uint8 images)"
        )
    t = _check_float_tensor(t, what)
    if t.shape[1] not in (1, 3, 4):
        raise ShapeError(
            f"{what}: images need 1 (grey), 3 (RGB) or 4 (RGBA) channels, got shape "
            f"{tuple(t.shape)}; is the tensor NHWC instead of NCHW?"
        )
    return t


def to_uint8(t: torch.Tensor) -> torch.Tensor:
    """NCHW (or CHW) floats in [-1, 1] -> uint8 NHWC on the CPU.

    Values are clamped to [-1, 1] and mapped by ``round((x + 1) * 127.5)``, so
    ``to_uint8(to_tensor(u)) == u`` for every uint8 image ``u``. A CHW input
    gives a batch of one.
    """
    t = _as_batch(t, "to_uint8").detach()
    t = ((t.float().clamp(-1, 1) + 1) * 127.5).round()
    return t.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu()


def to_pil(t: torch.Tensor) -> list[Image.Image]:
    """NCHW (or CHW) floats in [-1, 1] -> one PIL image per batch item.

    1 channel gives mode ``"L"``, 3 gives ``"RGB"``, 4 gives ``"RGBA"``.
    """
    arr = to_uint8(t).numpy()
    # Pillow infers the mode from uint8 arrays: HW -> "L", HWC -> "RGB" / "RGBA".
    return [Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a) for a in arr]


def _pil_format(path: Path) -> str:
    ext = path.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise ImageFileError(
            f"cannot save {path}: {ext or 'no extension'} is not an image format PIL can write; "
            "use .png (lossless), .jpg or .webp"
        )
    return fmt


def _atomic_save(im: Image.Image, path: Path) -> None:
    """Write ``im`` to a temporary file next to ``path``, then rename it into place.

    Same folder, so :func:`os.replace` is an atomic rename on one filesystem;
    readers see either the old file or the complete new one. The temporary
    file is created with mode 0o666 so the umask applies, as for a normal file.
    """
    fmt = _pil_format(path)
    if fmt == "JPEG" and im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            im.save(f, format=fmt)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_apart(inputs: Sequence[str | os.PathLike], output: str | os.PathLike) -> None:
    """Refuse an output path that would overwrite or mix with the inputs.

    The output may not be an input, lie inside an input folder, or hold an
    input (``genzoo run NAME photos -o photos`` would write the translations
    over the photos). Symlinks and ``..`` are resolved first. Raises
    :class:`~genzoo.errors.ConfigError`; call it before any work is done.
    """
    out = Path(output).expanduser().resolve()
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            continue  # tensors, PIL images: nothing on disk to overwrite
        src = Path(item).expanduser().resolve()
        if out == src:
            why = "is the input itself"
        elif src.is_dir() and out.is_relative_to(src):
            why = f"is inside the input folder {src}"
        elif src.is_relative_to(out):
            why = f"holds the input {src}"
        else:
            continue
        raise ConfigError(
            f"-o {output} {why}: the outputs would overwrite or mix with the inputs; choose an output outside it"
        )


def save_image(
    images: torch.Tensor | Image.Image | Sequence[torch.Tensor | Image.Image],
    path: str | os.PathLike,
) -> list[Path]:
    """Save images to files, atomically; returns the paths written.

    ``images`` is a CHW / NCHW float tensor in [-1, 1], a PIL image, or a list
    of these. One image is written to ``path``. Several images need a ``{i}``
    placeholder in ``path`` (``"out/sample-{i:03d}.png"``), filled with the
    image's index; to put several images in one file use :func:`save_grid`.
    The format follows the extension; missing parent folders are created.
    """
    pils: list[Image.Image] = []
    seq = images if isinstance(images, (list, tuple)) else [images]
    for item in seq:
        if isinstance(item, Image.Image):
            pils.append(item)
        else:
            pils.extend(to_pil(_as_batch(item, "save_image")))
    if not pils:
        raise ShapeError("save_image got no images")
    template = os.fspath(path)
    if len(pils) == 1 and "{" not in template:
        targets = [Path(template)]
    elif "{" not in template:
        raise ShapeError(
            f"save_image got {len(pils)} images but one path {template!r}; put a {{i}} "
            "placeholder in the path (e.g. 'sample-{i:03d}.png') to write one file each, "
            "or use save_grid to put them in one image"
        )
    else:
        try:
            targets = [Path(template.format(i=i)) for i in range(len(pils))]
        except (KeyError, IndexError, ValueError) as exc:
            raise ImageFileError(
                f"bad path template {template!r} ({exc!r}); the only placeholder is {{i}}, "
                "e.g. 'sample-{i:03d}.png'"
            ) from exc
    for p in targets:
        _pil_format(p)  # check every extension before writing anything
    for im, p in zip(pils, targets):
        _atomic_save(im, p)
    return targets


def make_grid(
    images: torch.Tensor | Sequence[torch.Tensor],
    nrow: int = 8,
    padding: int = 2,
    pad_value: float = -1.0,
) -> torch.Tensor:
    """Tile a batch of images into one CHW image, ``nrow`` images per row.

    Images are separated (and surrounded) by ``padding`` pixels of
    ``pad_value`` (default -1: black in genzoo's [-1, 1] range). The channel
    count is kept: a grey batch gives a grey grid. The last row is filled
    with ``pad_value`` where the batch runs out. Output size:
    ``(C, rows * (H + padding) + padding, cols * (W + padding) + padding)``.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise ShapeError("make_grid got an empty list")
        if not all(isinstance(t, torch.Tensor) for t in images):
            raise ShapeError("make_grid takes a tensor or a list of CHW / NCHW tensors")
        batches = [_check_float_tensor(t, "make_grid") for t in images]
        shapes = sorted({tuple(b.shape[1:]) for b in batches})
        if len(shapes) != 1:
            raise ShapeError(f"make_grid needs images of one CHW shape, got {shapes}")
        images = torch.cat(batches)
    t = _as_batch(images, "make_grid")
    if nrow < 1 or padding < 0:
        raise ShapeError(f"make_grid needs nrow >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    n, c, h, w = t.shape
    if n == 0:
        raise ShapeError("make_grid got an empty batch")
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = t.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for k in range(n):
        y = padding + (k // cols) * (h + padding)
        x = padding + (k % cols) * (w + padding)
        grid[:, y : y + h, x : x + w] = t[k]
    return grid


def save_grid(
    images: torch.Tensor | Sequence[torch.Tensor],
    path: str | os.PathLike,
    nrow: int = 8,
    padding: int = 2,
    pad_value: float = -1.0,
) -> Path:
    """:func:`make_grid` then :func:`save_image`: one file showing the whole batch."""
    if "{" in os.fspath(path):
        raise ImageFileError(f"save_grid writes one file; {os.fspath(path)!r} looks like a template")
    return save_image(make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value), path)[0]
