"""What `genzoo run` needs: a family's named tasks, and their inputs.

A family model declares its tasks once, with :func:`genzoo.task` on the
methods (see :class:`genzoo.model.TaskSpec`). Each task method takes keyword
options (``n``, ``seed``, ``inputs``, ``steps``, ``labels`` ...) and returns
``(images, nrow)``: a batch in [-1, 1] that the command line lays out as a
grid with ``nrow`` images per row and saves (or a table, for tasks declared
``returns="table"``). Options a task does not take are an error, not
silently ignored.
"""

from __future__ import annotations

from typing import Any

import torch

from .errors import ConfigError


def task_names(model: Any) -> list[str]:
    """The tasks ``model`` declares (see :func:`genzoo.task`), default first."""
    return list(model.task_specs())


def run_task(model: Any, task: str | None, options: dict[str, Any]) -> Any:
    """Run ``model``'s task (default: its default task) with the options it accepts (see GenzooModel.run_task)."""
    return model.run_task(task, **options)


def images_of(dataset: Any) -> torch.Tensor:
    """All images of a data set as one tensor (digits-sized data sets fit in memory)."""
    if hasattr(dataset, "images"):
        return dataset.images
    return torch.stack([item[0] if isinstance(item, (list, tuple)) else item for item in dataset])


def input_label(inputs: Any, i: int) -> str:
    """How a table row names input ``i``: its file name when the inputs are paths, else its position."""
    from pathlib import Path

    items = inputs if isinstance(inputs, (list, tuple)) else [inputs] if inputs is not None else []
    if i < len(items) and isinstance(items[i], (str, Path)):
        return Path(items[i]).name
    return f"input {i}" if items else f"test digit {i}"


def inputs_or_digits(model: Any, inputs: Any, n: int, seed: int) -> torch.Tensor:
    """User images (paths, PIL images, arrays, tensors) through ``model.preprocess``, or ``n`` held-out test digits."""
    from .data import DigitsDataset

    if inputs is not None and (not isinstance(inputs, (list, tuple)) or len(inputs)):
        return model.preprocess(inputs)
    c, h, _ = model.image_shape
    test = DigitsDataset("test", size=h, channels=c)
    idx = torch.randperm(len(test.images), generator=torch.Generator().manual_seed(seed))[:n]
    return test.images[idx].to(model.device, model.dtype)


def translate_folder(
    model: Any,
    source: Any,
    out_dir: Any,
    *,
    batch_size: int = 8,
    keep_size: bool = False,
    progress: bool = True,
    workers: int | None = None,
    resume: bool = True,
    **options: Any,
) -> list:
    """Translate every image under ``source`` (a folder, searched recursively, or one file) into ``out_dir``.

    For image-to-image models (those with a ``translate`` method): images are
    decoded by ``workers`` DataLoader processes, go through ``model.translate``
    ``batch_size`` at a time (with ``keep_size``, images of one size
    together), and a background thread saves each result atomically under the
    same relative path and file name in ``out_dir``, with a progress bar in
    images/s. ``resume`` (default) skips outputs that already exist, so a
    killed run continues where it stopped; under torchrun each process
    translates its shard (:mod:`genzoo.folder_run`). ``options`` go to
    ``translate`` (e.g. ``direction="b2a"``, ``train_mode=True, seed=0``).
    Returns the paths this process wrote. ``out_dir`` may not be, lie inside,
    or hold ``source``: the outputs would overwrite the inputs.
    """
    return translate_folder_run(
        model, source, out_dir, batch_size=batch_size, keep_size=keep_size, progress=progress,
        workers=workers, resume=resume, **options,
    ).written  # fmt: skip


def translate_folder_run(
    model: Any,
    source: Any,
    out_dir: Any,
    *,
    batch_size: int = 8,
    keep_size: bool = False,
    progress: bool = True,
    workers: int | None = None,
    resume: bool = True,
    **options: Any,
) -> Any:
    """:func:`translate_folder`, returning the whole :class:`genzoo.folder_run.FolderRun` (counts, images/s)."""
    from pathlib import Path

    from .errors import ShapeError
    from .folder_run import run_folder
    from .images import check_output_apart

    if not model.implements("translate"):
        model.translate(None)  # the contract's default says this family does not translate, and what to do
    translate = model.translate
    src = Path(source).expanduser()
    if not src.exists():
        raise ConfigError(f"{src} does not exist; pass a folder of images (or one image file)")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    check_output_apart([src], Path(out_dir).expanduser())

    def compute(images: list, paths: list) -> Any:
        try:
            return translate(images, keep_size=keep_size, batch_size=batch_size, **options)
        except (RuntimeError, ValueError) as exc:
            if not keep_size or isinstance(exc, ConfigError):
                raise
            # at its own size an image can be too small for the network (a 1x1 image through
            # a ResNet generator): name the files and the way out, not the layer that failed
            raise ShapeError(
                f"cannot translate {', '.join(p.name for p in paths[:3])} at their own size with --keep-size "
                f"({str(exc).splitlines()[0]}); drop --keep-size to resize them to the model's size"
            ) from exc

    return run_folder(
        src, out_dir, compute, batch_size=batch_size, by_size=keep_size, workers=workers, resume=resume,
        progress=progress,
    )  # fmt: skip
