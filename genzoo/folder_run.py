"""Folders at scale: the engine behind ``genzoo run NAME FOLDER -o OUT`` and ``genzoo embed``.

A folder run is planned once, then streamed:

* **plan** -- the sorted file list (:func:`genzoo.data._scan`) is cut into
  batches of ``batch_size``; with ``keep_size`` images of one size are
  batched together (sizes read from the file headers, not the pixels).
  The plan depends on the files and the batch size only.
* **shard** -- under ``torchrun`` rank ``r`` of ``w`` takes batches
  ``r, r + w, r + 2w, ...`` of that plan. Every image is computed in the same
  batch, next to the same neighbours, whatever the number of processes, so
  the outputs are byte-identical to a single-process run (same kernels on
  the same inputs; the thread count is the one knob left, see
  ``docs/inference.md``).
* **decode** -- files are opened and decoded by ``DataLoader`` workers
  (``workers``); the model's own ``translate``/``embed_images`` then reads the
  decoded PIL images exactly as it reads files, so streaming changes no pixel.
* **write** -- a background thread saves each result with an atomic rename
  (:func:`genzoo.images.save_image`): an output that exists is complete.
* **resume** -- so presence is the record of what is done: a batch whose
  outputs all exist is skipped, a batch with some missing is recomputed
  whole (same neighbours, same result) and only the missing files are
  written. Temporaries a killed run left behind are removed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from .errors import ConfigError, ImageFileError

#: ``genzoo embed``'s file: the safetensors metadata key holding the JSON facts, and its format name.
EMBEDDINGS_KEY = "genzoo.embeddings"
EMBEDDINGS_FORMAT = "genzoo.embeddings/1"
# the temporary names genzoo.images._atomic_save writes: ".NAME.<12 hex>.tmp"
_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.tmp$")


# -- processes ---------------------------------------------------------------
def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes: torch.distributed's when it runs, else torchrun's environment."""
    import sys

    if "torch.distributed" in sys.modules and torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ConfigError("RANK and WORLD_SIZE must be whole numbers (torchrun sets them); unset them for one process") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} is not a rank of WORLD_SIZE={world}; launch with torchrun or unset both")
    return rank, world


def rank_device(device: str | None) -> str | None:
    """``auto``/``cuda`` under torchrun with GPUs means ``cuda:LOCAL_RANK``: one process per GPU."""
    rank, world = rank_and_world()
    if world > 1 and device in (None, "auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
    return device


def _join_group(world: int) -> None:
    """Under torchrun, join its process group (gloo: a barrier and a few counts, whatever device the model is on).

    The group stays up for later runs in this process and ends at exit, as
    training's does: re-creating it under torchrun reuses the launcher's
    store and is not reliable.
    """
    import atexit

    import torch.distributed as dist

    if world == 1 or dist.is_initialized():
        return
    dist.init_process_group(backend="gloo", init_method="env://")
    atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())


# -- plan --------------------------------------------------------------------
def list_images(source: str | os.PathLike) -> tuple[Path, list[Path]]:
    """``(root, files)``: the images under ``source`` (searched recursively, sorted), or ``source`` itself when a file."""
    from .data import IMAGE_EXTENSIONS, _scan

    src = Path(source).expanduser()
    if not src.exists():
        raise ConfigError(f"{src} does not exist; pass a folder of images (or one image file)")
    files = [src] if src.is_file() else _scan(src, IMAGE_EXTENSIONS)
    if not files:
        raise ConfigError(f"no images in {src} (searched recursively for {', '.join(IMAGE_EXTENSIONS)})")
    return src, files


def _header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the file header, without decoding pixels; ``None`` when unreadable (decoding says why)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # noqa: BLE001 - the decode step raises the one-line error for this file
        return None


def plan_batches(files: Sequence[Path], batch_size: int, by_size: bool = False) -> list[list[int]]:
    """Indices of ``files`` in batches of at most ``batch_size``; ``by_size``: one image size per batch.

    Sizes are grouped in order of first appearance, files keep their sorted
    order inside a size. The plan is a function of the file list and the
    batch size only, which is what makes sharded and resumed runs equal to
    one clean run.
    """
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    groups: dict[Any, list[int]] = {}
    for i, path in enumerate(files):
        groups.setdefault(_header_size(path) if by_size else None, []).append(i)
    return [idx[s : s + batch_size] for idx in groups.values() for s in range(0, len(idx), batch_size)]


def shard(batches: Sequence[list[int]], rank: int, world: int) -> list[list[int]]:
    """Rank ``rank``'s batches: every ``world``-th one, starting at ``rank`` (whole batches, so neighbours never change)."""
    return list(batches[rank::world])


# -- decode ------------------------------------------------------------------
class _Decode(torch.utils.data.Dataset):
    """File ``i`` decoded to a PIL image; a failure is returned, not raised, so the main process raises it as it was.

    (A ``DataLoader`` worker would wrap it in a multi-line traceback message.)
    """

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Any:
        from .images import _open

        try:
            return _open(self.files[i])
        except Exception as exc:  # noqa: BLE001 - re-raised in the main process
            return exc


def _as_list(items: list) -> list:
    return items


def default_workers(n_batches: int) -> int:
    """Decode processes when none are asked for: a quarter of the CPUs, at most 4, none for a single batch.

    Workers only pay where CPUs would otherwise idle (a GPU computing, a
    many-core host): on 2 busy cores they compete with the model's threads
    and a run got slower (docs/benchmarks.md), so small machines decode in
    the main process.
    """
    return 0 if n_batches < 2 else min(4, n_batches - 1, (os.cpu_count() or 1) // 4)


def decoded(
    files: Sequence[Path], batches: Sequence[list[int]], workers: int | None = None
) -> Iterator[tuple[list[int], list]]:
    """``(indices, PIL images)`` per batch, in plan order, decoded by ``workers`` DataLoader processes.

    0 decodes in this process; ``None`` picks :func:`default_workers`.
    """
    if workers is None:
        workers = default_workers(len(batches))
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if not batches:
        return
    loader = torch.utils.data.DataLoader(
        _Decode(files), batch_sampler=list(batches), num_workers=workers, collate_fn=_as_list,
        prefetch_factor=2 if workers else None, persistent_workers=False,
    )  # fmt: skip
    for idx, images in zip(batches, loader):
        for item in images:
            if isinstance(item, BaseException):
                raise item
        yield idx, images


# -- write -------------------------------------------------------------------
class BackgroundWriter:
    """Saves images on a thread while the model computes the next batch; atomic renames, errors re-raised here.

    The queue is bounded (``depth`` images), so a slow disk slows the run
    instead of filling memory. Leaving the ``with`` block waits for every
    queued write, also when the block raised: finished work is kept.
    """

    def __init__(self, depth: int = 16) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._error: BaseException | None = None
        self.written: list[Path] = []
        self._thread = threading.Thread(target=self._loop, name="genzoo-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        from .images import save_image

        while (item := self._queue.get()) is not None:
            image, path = item
            if self._error is None:
                try:
                    self.written += save_image(image, path)
                except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, image: torch.Tensor, path: Path) -> None:
        """Queue ``image`` (CHW in [-1, 1], on the CPU) to be saved at ``path``; raises an earlier write's error."""
        self._check()
        self._queue.put((image, path))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._check()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def remove_stale_temporaries(out_dir: Path, targets: set[Path]) -> int:
    """Delete the temporaries a killed run left next to ``targets`` (this rank's outputs only: other ranks' are theirs)."""
    removed = 0
    if not out_dir.is_dir():
        return 0
    for dirpath, _, filenames in os.walk(out_dir):
        for name in filenames:
            m = _TEMP.match(name)
            if m and Path(dirpath) / m["name"] in targets:
                (Path(dirpath) / name).unlink(missing_ok=True)
                removed += 1
    return removed


# -- runs --------------------------------------------------------------------
@dataclass
class FolderRun:
    """What a folder run did, summed over all processes: ``written`` lists this process's files."""

    written: list[Path] = field(default_factory=list)
    images: int = 0  # computed and written, all ranks
    skipped: int = 0  # already there (resume), all ranks
    seconds: float = 0.0
    world: int = 1

    @property
    def rate(self) -> float:
        """Images per second, all processes together."""
        return self.images / self.seconds if self.seconds > 0 else 0.0


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="image", desc=desc, disable=not enabled, smoothing=0.1)


def _sum_over_ranks(values: list[int], world: int) -> list[int]:
    if world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.int64)
    dist.all_reduce(t)
    return t.tolist()


def run_folder(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    compute: Callable[[list, list[Path]], Sequence[torch.Tensor]],
    *,
    batch_size: int = 8,
    by_size: bool = False,
    workers: int | None = None,
    resume: bool = True,
    progress: bool = True,
) -> FolderRun:
    """Stream every image under ``source`` through ``compute`` into ``out_dir``, under the same relative paths.

    ``compute(images, paths)`` takes one batch of decoded PIL images (and
    their files, for messages) and returns one CHW image in [-1, 1] per input.
    ``resume`` skips outputs that exist (see the module docstring); ``False``
    recomputes and replaces them. Under torchrun each rank does its shard of
    the plan and the counts are summed.
    """
    src, files = list_images(source)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; with an input folder, -o names the output folder")
    targets = [out / (p.relative_to(src) if src.is_dir() else Path(p.name)) for p in files]
    rank, world = rank_and_world()
    _join_group(world)
    mine = shard(plan_batches(files, batch_size, by_size), rank, world)
    remove_stale_temporaries(out, {targets[i] for b in mine for i in b})
    todo = [b for b in mine if not resume or not all(targets[i].exists() for i in b)]
    skipped = sum(len(b) for b in mine) - sum(len(b) for b in todo)
    if resume:
        skipped += sum(targets[i].exists() for b in todo for i in b)
    n_todo = sum(len(b) for b in mine) - skipped
    t0 = time.perf_counter()
    desc = f"{src.name}" + (f" (rank {rank}/{world})" if world > 1 else "")
    with _progress(n_todo, desc, progress and rank == 0) as bar, BackgroundWriter(4 * batch_size) as writer:
        for idx, images in decoded(files, todo, workers):
            with torch.no_grad():
                results = compute(images, [files[i] for i in idx])
            for i, image in zip(idx, results):
                if not (resume and targets[i].exists()):
                    writer.put(image.float().cpu(), targets[i])
                    bar.update(1)
    seconds = time.perf_counter() - t0
    done, skipped = _sum_over_ranks([len(writer.written), skipped], world)
    return FolderRun(writer.written, done, skipped, seconds, world)


@dataclass
class Embeddings:
    """``genzoo embed``'s result: one L2-normalised row per file, in sorted file order."""

    files: list[str]  # paths relative to the folder, '/'-separated
    vectors: torch.Tensor  # (len(files), dim) float32
    path: Path | None = None
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.files) / self.seconds if self.seconds > 0 else 0.0


def _save_embeddings(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """safetensors written to a temporary name and renamed into place (a killed run leaves no half file)."""
    from safetensors.torch import save_file

    from .checkpoint import _umask

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        os.chmod(tmp, 0o666 & ~_umask())  # safetensors creates 0600; a file the user asked for follows the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read a file written by ``genzoo embed``: the file names (metadata ``files``) and the ``embeddings`` tensor."""
    from safetensors import safe_open

    path = Path(path).expanduser()
    try:
        with safe_open(path, "pt") as f:
            facts = json.loads((f.metadata() or {}).get(EMBEDDINGS_KEY, "{}"))
            if facts.get("format") != EMBEDDINGS_FORMAT:
                raise ImageFileError(f"{path} is not a genzoo embeddings file (no {EMBEDDINGS_FORMAT} facts in its metadata)")
            return Embeddings(facts["files"], f.get_tensor("embeddings"), path)
    except (OSError, ValueError) as exc:
        if isinstance(exc, ImageFileError):
            raise
        raise ImageFileError(f"cannot read embeddings from {path} ({exc}); write it with genzoo embed") from exc


def embed_folder(
    model: Any,
    source: str | os.PathLike,
    out_file: str | os.PathLike,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    progress: bool = True,
    name: str | None = None,
) -> Embeddings:
    """L2-normalised image embeddings (``model.embed_images``) of every image under ``source``, saved to ``out_file``.

    The file is safetensors: a float32 tensor ``embeddings`` of shape
    ``(N, dim)``, and one metadata key ``genzoo.embeddings`` holding JSON:
    ``format`` (``genzoo.embeddings/1``), ``model`` and ``files`` (the N paths
    relative to the folder, sorted, '/'-separated; row i is file i). Under
    torchrun each rank embeds its shard into a part file; rank 0 merges the
    parts in file order, so the file is byte-identical to a single-process run's.
    """
    from .images import check_output_apart

    src, files = list_images(source)
    out = Path(out_file).expanduser()
    if out.is_dir():
        raise ConfigError(f"{out} is a folder; -o names the embeddings file to write, e.g. -o embeddings.safetensors")
    if out.suffix != ".safetensors":
        raise ConfigError(f"-o {out}: embeddings are written as safetensors; name the file *.safetensors")
    check_output_apart([src], out)
    rel = [(p.relative_to(src) if src.is_dir() else Path(p.name)).as_posix() for p in files]
    rank, world = rank_and_world()
    _join_group(world)
    mine = shard(plan_batches(files, batch_size), rank, world)
    rows: list[torch.Tensor] = []
    order: list[int] = []
    t0 = time.perf_counter()
    with _progress(sum(map(len, mine)), f"embed {src.name}", progress and rank == 0) as bar:
        for idx, images in decoded(files, mine, workers):
            with torch.no_grad():
                vectors = model.embed_images(images)
            rows.append(torch.nn.functional.normalize(vectors.detach().float().cpu(), dim=-1))
            order += idx
            bar.update(len(idx))
    dim = rows[0].shape[-1] if rows else 0
    mine_t = {"indices": torch.tensor(order, dtype=torch.int64), "embeddings": torch.cat(rows) if rows else torch.zeros(0, dim)}
    # one metadata key: safetensors writes several in a random order, and the file must be byte-identical
    meta = {EMBEDDINGS_KEY: json.dumps({"format": EMBEDDINGS_FORMAT, "model": name or model.family, "files": rel})}
    if world > 1:
        import torch.distributed as dist

        part = out.with_name(f".{out.name}.rank{rank}-of-{world}.part")
        _save_embeddings(part, mine_t, {})
        dist.barrier()
        if rank == 0:
            from safetensors.torch import load_file

            parts = [out.with_name(f".{out.name}.rank{r}-of-{world}.part") for r in range(world)]
            loaded = [load_file(p) for p in parts]
            order_t = torch.cat([t["indices"] for t in loaded])
            vectors = torch.cat([t["embeddings"] for t in loaded if t["embeddings"].numel()])
            mine_t = {"indices": order_t, "embeddings": vectors}
            for p in parts:
                p.unlink(missing_ok=True)
        dist.barrier()
    seconds = time.perf_counter() - t0
    ranked = torch.argsort(mine_t["indices"])
    vectors = mine_t["embeddings"][ranked]
    if rank != 0:  # its own shard, in file order; rank 0 wrote the file
        return Embeddings([rel[i] for i in mine_t["indices"][ranked].tolist()], vectors, None, seconds)
    _save_embeddings(out, {"embeddings": vectors}, meta)
    return Embeddings(rel, vectors, out, seconds)
