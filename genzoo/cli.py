"""The ``genzoo`` command.

Each subcommand is a thin layer over the public API. Errors print one line
(``genzoo: error: ...``) and exit non-zero; ``--debug`` shows the traceback.
``--json`` prints machine-readable output for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import GenzooError
from .version import __version__


def _table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain left-aligned text table (no dependency, readable in any terminal)."""
    cells = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _short(text: str | None, n: int = 60) -> str:
    text = (text or "").strip().splitlines()[0] if text else ""
    return text if len(text) <= n else text[: n - 1] + "…"


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


# -- argparse types: bad numbers are errors, never "use the default" -----------
def _at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1. ``--steps 0`` or ``--n -5`` is refused rather than read as "the default"."""
    return _at_least(text, 1)


def tile_arg(text: str) -> int | str | None:
    """``--tile``: a side in pixels, ``auto`` (tile above the memory budget) or ``off``."""
    if text in ("auto", "off"):
        return None if text == "off" else text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; or auto, or off") from None


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``--workers 0``: decode in the main process)."""
    return _at_least(text, 0)


def device_name(text: str) -> str:
    """``auto`` or a device torch knows (``cpu``, ``cuda``, ``cuda:1``, ``mps``): checked before any model loads."""
    if text == "auto":
        return text
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda, cuda:N or mps") from None
    return text


#: The most pixels an enlarged grid may have (PIL refuses to open images past about 179 M pixels).
MAX_GRID_PIXELS = 2**27


def _enlarge(images: Any, scale: int) -> Any:
    """Nearest-neighbour enlargement for ``--scale``, refused before it would allocate an absurd grid."""
    if scale <= 1:
        return images
    import torch

    n, _, h, w = images.shape
    pixels = n * h * w * scale * scale
    if pixels > MAX_GRID_PIXELS:
        most = max(int((MAX_GRID_PIXELS / (n * h * w)) ** 0.5), 1)
        raise GenzooError(
            f"--scale {scale} would make {n} images of {h * scale}x{w * scale} pixels ({pixels:,} in all); "
            f"use --scale {most} or less"
        )
    return torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")


# -- subcommands -------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    from .plugins import get_registry

    registry = get_registry()
    names = registry.list_models(args.pattern, family=args.family)
    entries = [registry.models[n] for n in names]
    if args.json:
        _print_json([
            {"name": e.name, "family": e.family, "source": str(e.source) if e.source else None,
             "plugin": e.plugin, "description": e.description}
            for e in entries
        ])  # fmt: skip
        return 0
    if not entries:
        what = f" matching {args.pattern!r}" if args.pattern else ""
        print(f"no models{what}. Families: {', '.join(registry.list_families()) or 'none'}")
        return 0
    rows = [[e.name, e.family, e.plugin or "-", e.source.label() if e.source else "-", _short(e.description)] for e in entries]
    print(_table(rows, ["name", "family", "plugin", "weights", "description"]))
    return 0


#: Task options whose `genzoo run` flag differs from the keyword the task method takes.
TASK_FLAGS = {"inputs": "--input", "templates": "--template"}


def cmd_info(args: argparse.Namespace) -> int:
    from .api import info
    from .plugins import get_registry
    from .registry import split_qualified

    i = info(args.name)
    if args.json:
        _print_json(i.as_dict())
        return 0
    kind = "family" if i.kind == "family" else f"{i.kind} of family {i.family}"
    print(f"{i.name}  ({kind}" + (f", plugin {i.plugin})" if i.plugin else ")"))
    if i.kind in ("model", "family") and (parts := split_qualified(i.name)):
        owner = get_registry().find(i.kind, parts[1])
        if owner is not None and owner.plugin != i.plugin:  # PLUGIN:NAME of an entry that lost a clash
            print(f"  note:     the name {parts[1]!r} belongs to plugin {owner.plugin!r}; this is {i.plugin!r}'s entry")
    if i.description:
        print(f"  {i.description}")
    if i.source:
        print(f"  weights:  {i.source}")
    for key in ("dataset", "license", "paper"):
        if i.card.get(key):
            print(f"  {key + ':':<9} {i.card[key]}")
    for key, value in (i.card.get("metrics") or {}).items():
        print(f"  metric:   {key} = {value}")
    for spec in i.task_specs:
        options = " ".join(TASK_FLAGS.get(o, f"--{o}") for o in spec["options"])
        mark = " (default)" if spec["default"] else ""
        print(f"  task:     {spec['name']}{mark}: {spec['description']}" + (f" [{options}]" if options else ""))
    if i.input_spec:
        from .model import InputSpec

        print(f"  input:    {InputSpec(**i.input_spec).describe()}")
    if i.kind == "family":
        print(f"  models:   {', '.join(i.models) or '-'}")
    if i.config:
        print("  config:   " + ", ".join(f"{k}={v}" for k, v in i.config.items()))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import plugin_infos

    infos = plugin_infos()
    if args.json:
        _print_json([i.as_dict() for i in infos])
        return 0
    rows = [
        [
            i.name, i.version or "-", ", ".join(i.families) or "-", str(len(i.models)),
            ", ".join(i.datasets) or "-",
            f"ERROR: {i.error}" if not i.ok else f"ok, {len(i.rejected)} rejected" if i.rejected else "ok",
        ]
        for i in infos
    ]  # fmt: skip
    print(_table(rows, ["plugin", "version", "families", "models", "datasets", "status"]))
    rejected = [(i.name, r) for i in infos for r in i.rejected]
    if rejected:
        print("\nrejected entries (the name's owner keeps it; PLUGIN:NAME reaches the rejected one):")
        for name, r in rejected:
            print(f"  {name}: {r}")
    if args.traceback:
        for i in infos:
            if i.traceback:
                print(f"\n--- {i.name} ---\n{i.traceback}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from . import hub
    from .plugins import get_registry
    from .registry import BundledSource, HubSource, UrlSource

    registry = get_registry()
    components = args.components.split(",") if args.components else None
    entry = registry.find("model", args.name)  # a registered name or PLUGIN:NAME
    if entry is not None:
        source = entry.source
        if isinstance(source, BundledSource):
            print(f"{args.name} is bundled with its plugin; nothing to download: {source.folder()}")
            return 0
        if isinstance(source, UrlSource):  # the authors' file: download and convert it once
            from .convert import fetch_url_folder

            folder = fetch_url_folder(entry, progress=not args.json)
            if args.json:
                _print_json({"url": source.url, "folder": str(folder), "layout": source.layout})
            else:
                print(f"pulled {source.url} ({source.layout} layout), converted to {folder}")
            return 0
        if not isinstance(source, HubSource):
            raise GenzooError(f"model {args.name!r} has no weight source to pull")
        if source.layout:  # an upstream repo, converted on load: fetch the files its layout needs
            from .convert import fetch_layout, layouts_of

            model_class = registry.family(entry.family).model_class()
            files = layouts_of(model_class)[source.layout]
            folder = fetch_layout(source.repo_id, args.revision or source.revision, files)
            if args.json:
                _print_json({"repo_id": source.repo_id, "folder": str(folder), "commit": folder.name, "layout": source.layout})
            else:
                print(f"pulled {source.repo_id}@{folder.name[:12]} ({source.layout} layout) to {folder}")
            return 0
        repo_id, revision = source.repo_id, args.revision or source.revision
    else:
        ref = hub.parse_repo_ref(args.name)
        if ref is None:
            registry.model(args.name)  # raises with suggestions
        repo_id, revision = ref[0], args.revision or ref[1]
    folder, meta, chosen = hub.download(repo_id, revision, components, with_card=True, verify=True)
    if args.json:
        _print_json({"repo_id": repo_id, "folder": str(folder), "commit": folder.name, "components": chosen})
    else:
        print(f"pulled {repo_id}@{folder.name[:12]} ({meta['family']}; {', '.join(chosen)}) to {folder}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a checkpoint's files against the sha256 (or, for old checkpoints, the sizes) its config.json records."""
    from pathlib import Path

    from . import checkpoint, hub
    from .plugins import get_registry
    from .registry import BundledSource, HubSource, UrlSource

    registry = get_registry()
    if args.name in registry.models:
        entry = registry.models[args.name]
        source = entry.source
        if isinstance(source, BundledSource):
            folder = source.folder()
        elif isinstance(source, UrlSource):
            from .convert import fetch_url_folder

            folder = fetch_url_folder(entry, progress=not args.json)
        elif isinstance(source, HubSource) and not source.layout:
            folder = hub.download(source.repo_id, args.revision or source.revision, None)[0]
        else:
            raise GenzooError(
                f"{args.name} is an upstream repo converted on load; genzoo recorded no hashes for its files "
                "(huggingface_hub checks their LFS sha256 when it downloads them)"
            )
    elif Path(args.name).expanduser().is_dir():
        folder = Path(args.name).expanduser()
    elif (ref := hub.parse_repo_ref(args.name)) is not None:
        folder = hub.download(ref[0], args.revision or ref[1], None)[0]
    else:
        registry.model(args.name)  # raises with suggestions
        raise AssertionError("unreachable")
    checked = checkpoint.verify_files(folder, checkpoint.read_meta(folder))
    if args.json:
        _print_json({"folder": str(folder), "files": checked})
        return 0
    how = {"sha256": "sha256 ok", "size": "size ok (no sha256 recorded)", "none": "unchecked (nothing recorded)"}
    print(_table([[name, how[kind]] for name, kind in checked.items()], ["file", "check"]))
    hashed = sum(kind == "sha256" for kind in checked.values())
    print(f"verified {folder}: {hashed} of {len(checked)} files by sha256")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .hub import push_folder

    info = push_folder(
        args.folder, args.repo_id, private=args.private, commit_message=args.message,
        revision=args.revision, create_pr=args.create_pr,
    )  # fmt: skip
    url = getattr(info, "commit_url", None) or str(info)
    if args.json:
        _print_json({"repo_id": args.repo_id, "commit_url": url, "oid": getattr(info, "oid", None)})
    else:
        print(f"pushed {args.folder} to {args.repo_id}: {url}")
    return 0


def parse_labels(spec: str | None) -> list[int] | None:
    """``"0-9"``, ``"1,3,5"`` or ``"0-4,7"`` -> a list of class ids."""
    if not spec:
        return None
    out: list[int] = []
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            if hi and int(hi) < int(lo):
                raise ValueError(part)
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise GenzooError(f"--labels {spec!r}: use ids like '0-9' or '1,3,5'") from None
    return out


def _names(values: list[str] | None) -> list[str] | None:
    """``--classes cat dog`` or ``--classes cat,dog`` -> ``["cat", "dog"]``."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _print_rows(result: dict[str, Any]) -> None:
    rows = result.get("rows") or []
    columns = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, (list, dict))))
    print(_table([[str(r.get(c, "")) for c in columns] for r in rows], columns))
    if "accuracy" in result:
        print(f"accuracy: {result['accuracy']:.4g} ({len(rows)} images)")


def _makes_images(name: str, task: str | None) -> bool:
    """Whether ``name``'s ``task`` returns images (so needs ``-o``), known without loading any weights.

    Read from the task's declaration (``returns``). Hub repos are not asked
    (that would need the network): ``False``, the check then happens after the load.
    """
    from .checkpoint import read_meta
    from .plugins import get_registry

    registry = get_registry()
    try:
        if registry.find("model", name) is None and Path(name).expanduser().is_dir():
            family = read_meta(Path(name).expanduser())["family"]
        else:
            family = registry.model(name).family  # a registered name, or PLUGIN:NAME
        model_class = registry.family(family).model_class()
    except GenzooError:
        return False  # the load reports it, with its own message
    spec = model_class.task_specs().get(task or model_class.default_task() or "")
    return spec is not None and spec.returns == "images"  # an unknown task: run_task names the tasks there are


#: ``genzoo run`` options that shape a grid of images, and mean nothing with an INPUT_FOLDER.
_GRID_ONLY = {
    "task": "--task", "zero_shot": "--zero-shot", "classes": "--classes", "template": "--template", "n": "--n",
    "steps": "--steps", "input": "--input", "labels": "--labels", "path": "--path", "nrow": "--nrow",
    "prompt": "--prompt", "guidance": "--guidance",
}  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    from .api import load
    from .images import save_grid
    from .tasks import run_task

    if _backend(args) == "onnxruntime":
        return _run_onnx(args)
    if args.source is not None:  # image-to-image over a folder: folder in, folder out
        return _run_folder(args)
    task, inputs = args.task, args.input
    if args.zero_shot is not None:  # --zero-shot [IMAGES]: the zero_shot task on these images
        task, inputs = task or "zero_shot", args.zero_shot or inputs
    if not args.output and _makes_images(args.name, task):  # say so now, not after loading the model
        raise GenzooError("-o/--output is required: this task makes images (e.g. -o samples.png)")
    if args.output and inputs:
        from .images import check_output_apart

        check_output_apart(inputs, args.output)
    model = load(args.name, device=args.device, dtype=args.dtype, compile=args.compile, channels_last=args.channels_last)
    options = {
        "n": args.n, "seed": args.seed, "steps": args.steps, "nrow": None,
        "inputs": inputs or None, "labels": parse_labels(args.labels), "path": args.path,
        "classes": _names(args.classes), "templates": args.template or None,
        "prompt": args.prompt, "guidance": args.guidance,
    }  # fmt: skip
    _check_task_flags(model, task, options)
    result = run_task(model, task, options)
    if isinstance(result, dict):  # a task that answers with a table (zero-shot classification)
        images = result.get("images")
        out = None
        if args.output and images is not None:
            images = _enlarge(images.float().cpu(), args.scale)
            out = save_grid(images, args.output, nrow=args.nrow or result.get("nrow") or 8)
        if args.json:
            _print_json({k: v for k, v in result.items() if k not in ("images", "nrow")} | {"output": str(out) if out else None})
        else:
            _print_rows(result)
            if out:
                print(f"wrote {len(images)} images to {out}")
        return 0
    if not args.output:
        raise GenzooError("-o/--output is required: this task makes images (e.g. -o samples.png)")
    images, nrow = result
    # small images (16 px digits) are easier to look at enlarged, pixels kept sharp
    images = _enlarge(images.float().cpu(), args.scale)
    out = save_grid(images, args.output, nrow=args.nrow or nrow)
    if args.json:
        _print_json({"output": str(out), "images": len(images)})
    else:
        print(f"wrote {len(images)} images to {out}")
    return 0


def _check_task_flags(model: Any, task: str | None, options: dict[str, Any]) -> None:
    """Name the command-line flags (not the keywords) when a task does not take what was given."""
    spec = model.task_specs().get(task or model.default_task())
    if spec is None:
        return  # run_task says the task is unknown
    flag = lambda o: TASK_FLAGS.get(o, f"--{o}")  # noqa: E731
    extra = [o for o, v in options.items() if v is not None and o not in spec.options]
    if extra:
        raise GenzooError(
            f"task {spec.name!r} of {model.family} does not take {', '.join(map(flag, extra))}; "
            f"it takes: {', '.join(map(flag, spec.options)) or 'no options'}"
        )


def _run_folder(args: argparse.Namespace) -> int:
    from .api import load
    from .folder_run import rank_and_world, rank_device
    from .tasks import translate_folder_run

    if not args.output:
        raise GenzooError("-o/--output is required: the folder the translated images are written to")
    given = [flag for dest, flag in _GRID_ONLY.items() if getattr(args, dest) is not None]
    if given or args.scale != 1:
        raise GenzooError(
            f"{', '.join(given or ['--scale'])}: not used when translating the folder {args.source}; "
            "drop it (every image in the folder is translated at the model's size, or its own with --keep-size)"
        )
    from .images import check_output_apart

    check_output_apart([args.source], args.output)  # before loading: never write over the inputs
    _set_threads(args.threads)
    model = load(args.name, device=rank_device(args.device), dtype=args.dtype, compile=args.compile,
                 channels_last=args.channels_last)
    options = {"direction": args.direction} if args.direction else {}
    if args.train_mode:  # the reference's test.py without --eval: batch statistics, dropout as noise
        options.update(train_mode=True, seed=args.seed)
    options.update(tile=args.tile, overlap=args.overlap, norm_stats=args.norm_stats)  # large images: genzoo.tiling
    run = translate_folder_run(
        model, args.source, args.output, batch_size=args.batch_size, keep_size=args.keep_size,
        progress=not args.json, workers=args.workers, resume=not args.overwrite, **options,
    )  # fmt: skip
    if rank_and_world()[0] != 0:
        return 0  # rank 0 reports for all processes
    if args.json:
        _print_json({
            "output": str(args.output), "images": [str(p) for p in run.written], "translated": run.images,
            "skipped": run.skipped, "images_per_second": round(run.rate, 2), "processes": run.world,
        })  # fmt: skip
    elif not run.images:
        print(f"nothing to do: all {run.skipped} outputs are already in {args.output} (--overwrite recomputes them)")
    else:
        skipped = f"; skipped {run.skipped} already there" if run.skipped else ""
        print(f"wrote {run.images} images to {args.output} ({run.rate:.1f} images/s{skipped})")
    return 0


def _set_threads(threads: int | None) -> None:
    """``--threads N``: torch's intra-op threads for this process (each torchrun process sets its own)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def cmd_embed(args: argparse.Namespace) -> int:
    from .api import load
    from .folder_run import embed_folder, rank_and_world, rank_device

    _set_threads(args.threads)
    model = load(args.name, device=rank_device(args.device), dtype=args.dtype)
    if not model.implements("embed_images"):
        model.embed_images(None)  # the contract's default says this family does not embed, and what to do
    result = embed_folder(
        model, args.source, args.output, batch_size=args.batch_size, workers=args.workers, progress=not args.json,
        name=str(args.name),
    )  # fmt: skip
    if rank_and_world()[0] != 0:
        return 0
    n, dim = result.vectors.shape
    if args.json:
        _print_json({"output": str(result.path), "images": n, "dim": dim, "images_per_second": round(result.rate, 2)})
    else:
        print(f"wrote {n} embeddings of {dim} values to {result.path} ({result.rate:.1f} images/s)")
    return 0


def _backend(args: argparse.Namespace) -> str:
    """``torch``, or ``onnxruntime`` for a folder written by `genzoo export` (``--backend auto``, the default)."""
    from .export import is_export

    export = is_export(args.name)
    if args.backend == "torch" and export:
        raise GenzooError(f"{args.name} is an ONNX export (no PyTorch weights); run it with --backend onnxruntime")
    if args.backend == "onnxruntime" and not export:
        raise GenzooError(
            f"--backend onnxruntime runs a folder written by genzoo export; export it first: "
            f"genzoo export {args.name} --format onnx -o DIR, then genzoo run DIR ..."
        )
    return "onnxruntime" if export else "torch"


def _run_onnx(args: argparse.Namespace) -> int:
    """`genzoo run EXPORT_DIR`: translate a folder or sample a grid with onnxruntime (genzoo.export.OnnxModel)."""
    import torch

    from .export import ONNX_TASKS, OnnxModel
    from .images import check_output_apart, save_grid, to_tensor

    unsupported = [flag for flag, given in [
        ("--device", args.device not in ("auto", "cpu")), ("--dtype", args.dtype not in (None, "fp32")),
        ("--channels-last", args.channels_last), ("--compile", args.compile),
        ("--train-mode", args.train_mode), ("--zero-shot", args.zero_shot is not None), ("--classes", args.classes),
        ("--template", args.template), ("--steps", args.steps), ("--path", args.path),
        ("--prompt", args.prompt), ("--guidance", args.guidance is not None),
    ] if given]  # fmt: skip
    if unsupported:
        raise GenzooError(f"{', '.join(unsupported)}: not supported by the onnxruntime backend (it runs fp32 on the CPU)")
    model = OnnxModel(args.name)
    if args.source is not None:
        from .tasks import translate_folder

        if not args.output:
            raise GenzooError("-o/--output is required: the folder the translated images are written to")
        check_output_apart([args.source], args.output)
        options = {"direction": args.direction} if args.direction else {}
        written = translate_folder(
            model, args.source, args.output, batch_size=args.batch_size, keep_size=args.keep_size, progress=not args.json, **options
        )
        if args.json:
            _print_json({"output": str(args.output), "images": [str(p) for p in written]})
        else:
            print(f"wrote {len(written)} images to {args.output}")
        return 0
    task = args.task or model.manifest.get("default_task")
    if task not in ONNX_TASKS:
        raise GenzooError(
            f"the onnxruntime backend runs the tasks {', '.join(ONNX_TASKS)}, not {task!r}; run the model itself for that"
        )
    if not args.output:
        raise GenzooError("-o/--output is required: this task makes images (e.g. -o samples.png)")
    if task == "translate":
        if not args.input:
            raise GenzooError("the onnxruntime backend translates your images: pass them with --input (or an INPUT_FOLDER)")
        check_output_apart(args.input, args.output)
        y = model.translate(list(args.input))
        x = to_tensor(list(args.input), size=y.shape[-1], channels=y.shape[1])
        images, nrow = torch.cat([x, y]), len(x)  # inputs above their translations, as the translate task shows them
    else:
        images, nrow = model.sample(args.n or 16, seed=args.seed or 0, labels=parse_labels(args.labels))
    images = _enlarge(images, args.scale)
    out = save_grid(images, args.output, nrow=args.nrow or nrow)
    if args.json:
        _print_json({"output": str(out), "images": len(images), "backend": "onnxruntime"})
    else:
        print(f"wrote {len(images)} images to {out} (onnxruntime)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .api import load
    from .export import TOLERANCE, check_export_target, describe, export_onnx, require_onnx

    require_onnx()  # a missing extra and a bad -o are said before the model loads
    check_export_target(args.output)
    model = load(args.name, device="cpu", dtype="fp32", components="inference")
    manifest = export_onnx(model, args.output, name=args.name)
    if args.json:
        _print_json(manifest | {"output": str(args.output)})
    else:
        for line in describe(manifest):
            print(line)
        print(
            f"wrote {len(manifest['components'])} ONNX graph(s) and {args.output}/manifest.json; onnxruntime matches "
            f"PyTorch within {manifest['max_abs_diff']:.3g} (limit {TOLERANCE:g})"
        )
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .api import save
    from .checkpoint import check_save_target
    from .convert import convert

    check_save_target(args.output)  # a bad -o is said before the conversion, not after it
    model = convert(args.family, args.source, layout=args.layout, config=_parse_sets(args.set), revision=args.revision)
    card = {
        "description": f"{model.describe()}, converted by genzoo from {args.source}.",
        "converted_from": args.source,
        "load_as": args.output,  # the card's snippet loads the folder written here
    }
    out = save(model, args.output, name=args.name, card=card)
    if args.json:
        _print_json({"output": str(out), "family": model.family, "config": model.config_dict()})
    else:
        print(f"converted {args.source} ({model.family}) to {out}")
    return 0


def _parse_sets(pairs: list[str] | None, flag: str = "--set", example: str = "latent_dim=16") -> dict[str, Any]:
    """``--set key=value`` pairs; values are read as JSON when they parse (numbers, lists, booleans)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise GenzooError(f"{flag} {pair!r}: use key=value, e.g. {flag} {example}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from .recipes import train_recipe

    result = train_recipe(
        args.family,
        data=args.data,
        data_options=_parse_sets(args.data_option, "--data-option", "direction=BtoA"),
        out_dir=args.output,
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        config=_parse_sets(args.set),
        device=args.device,
        amp=args.amp,
        resume=args.resume,
        overwrite=args.overwrite,
        name=args.name,
        license=args.license,
        command="genzoo " + shlex.join(args.argv),
        progress=not args.json,
    )
    if args.json:
        _print_json({"final": str(result.final_path), "metrics": result.metrics, "steps": result.steps})
    else:
        print(f"trained {args.family} for {result.steps} steps; model in {result.final_path}")
        for key, value in result.metrics.items():
            print(f"  {key} = {value:.6g}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench

    result = bench(
        args.name, device=args.device, dtype=args.dtype, batch_size=args.batch_size, repeat=args.repeat,
        compile=args.compile, channels_last=args.channels_last, cold=args.cold,
    )  # fmt: skip
    if args.json:
        _print_json(result.as_dict())
    else:
        print(result.format())
    return 0


#: Seconds `genzoo demo` gives the server to stop after Ctrl-C before it exits anyway.
DEMO_CLOSE_SECONDS = 15.0


def close_within(close: Callable[[], None], seconds: float) -> bool:
    """Run ``close()`` in a daemon thread; ``False`` if it has not returned within ``seconds``.

    Ctrl-C must end `genzoo demo` even when the web server's shutdown hangs
    (seen once in CI: no output after SIGINT for 30 s).
    """
    import threading

    closer = threading.Thread(target=close, name="genzoo-demo-close", daemon=True)
    closer.start()
    closer.join(seconds)
    return not closer.is_alive()


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve the demo page until Ctrl-C (or SIGTERM), then stop the server and exit 0."""
    import signal
    import threading

    from .api import load
    from .demo import require_gradio, serve

    require_gradio()  # before the model loads: a missing extra fails at once
    model = load(args.name, device=args.device, dtype=args.dtype)
    server = serve(model, port=args.port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # our own handlers, whatever the server installed while starting
        signal.signal(sig, lambda *_: stop.set())
    print(f"genzoo demo of {args.name}: {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    closed = close_within(server.close, DEMO_CLOSE_SECONDS)
    if not closed:
        print(f"genzoo demo: the server did not stop within {DEMO_CLOSE_SECONDS:.0f} s; exiting anyway",
              file=sys.stderr, flush=True)  # fmt: skip
    print("genzoo demo: stopped", flush=True)
    if not closed:
        os._exit(0)  # the hung server thread would keep the interpreter from exiting
    return 0


# -- parser ------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genzoo", description="A zoo of generative models for PyTorch.")
    parser.add_argument("--version", action="version", version=f"genzoo {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[common], help="list registered models")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern, e.g. 'cyclegan-*'")
    p.add_argument("--family", help="only models of this family")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", parents=[common], help="show a model's (or family's) facts")
    p.add_argument("name", help="model name, family name or local folder")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plugins", parents=[common], help="list plugins, what they added, and errors")
    p.add_argument("--traceback", action="store_true", help="print tracebacks of failed plugins")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("run", parents=[common], help="run a model's task and save the images as a grid")
    p.add_argument("name", help="model name, Hub repo id or local folder")
    p.add_argument("source", nargs="?", metavar="INPUT_FOLDER",
                   help="image-to-image models: translate every image in this folder (or file) into the -o folder")
    p.add_argument("-o", "--output", help="image file to write (png, jpg, ...); required by tasks that make images")
    p.add_argument("--task", help="the family's task (default: its main one); `genzoo info` lists them")
    p.add_argument("--zero-shot", nargs="*", metavar="IMAGE",
                   help="zero-shot classify these images (none: held-out test digits); prints the predictions")
    p.add_argument("--classes", nargs="+", metavar="NAME", help="class names for zero-shot classification (or NAME,NAME,...)")
    p.add_argument("--prompt", metavar="TEXT", help="text-conditioned models (diffusion): what to draw, e.g. 'a handwritten seven.'")
    p.add_argument("--guidance", type=float, metavar="W",
                   help="classifier-free guidance scale of conditioned diffusion models (0: unconditional)")
    p.add_argument("--template", action="append", metavar="TEXT",
                   help="prompt template with {} for the class name, repeatable (default: the model's own)")
    p.add_argument("--n", type=positive_int, help="how many images / rows")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--steps", type=positive_int, help="interpolation steps")
    p.add_argument("--input", nargs="+", help="input image files (default: held-out test digits)")
    p.add_argument("--labels", help="class ids for conditional models, e.g. 0-9")
    p.add_argument("--path", choices=["linear", "spherical"], help="interpolation path")
    p.add_argument("--nrow", type=positive_int, help="images per row in the grid")
    p.add_argument("--scale", type=positive_int, default=1, help="enlarge each image by this factor (nearest neighbour)")
    p.add_argument("--device", type=device_name, default="auto", help="cpu, cuda, auto (default)")
    p.add_argument("--dtype", help="fp32 (default), fp16, bf16")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model; compiled code is kept in genzoo's cache for the next run")
    p.add_argument("--channels-last", action="store_true",
                   help="channels-last weights (faster convolutions on many CPUs and GPUs, above all with --dtype bf16)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="with INPUT_FOLDER: images per batch (default 8)")
    p.add_argument("--keep-size", action="store_true",
                   help="with INPUT_FOLDER: keep each image's size (pad to the network's multiple, crop back)")
    p.add_argument("--direction", choices=["a2b", "b2a"],
                   help="with INPUT_FOLDER: a two-way CycleGAN's direction (default a2b, the model's own)")
    p.add_argument("--train-mode", action="store_true",
                   help="with INPUT_FOLDER: run as the reference's test.py does without --eval (batch statistics, "
                        "dropout as noise; Pix2Pix), repeatable with --seed")
    p.add_argument("--workers", type=non_negative_int, metavar="N",
                   help="with INPUT_FOLDER: processes decoding images (default: a quarter of the CPUs, at most 4; 0 for none)")
    p.add_argument("--threads", type=positive_int, metavar="N", help="torch threads for the model (default: torch's)")
    p.add_argument("--overwrite", action="store_true",
                   help="with INPUT_FOLDER: recompute outputs that already exist (default: skip them, so a "
                        "killed run resumes)")
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime"], default="auto",
                   help="onnxruntime: run a folder written by `genzoo export` (auto, the default, picks it for such a folder); "
                        "it translates and samples, on the CPU")
    p.add_argument("--tile", type=tile_arg, default="auto", metavar="N|auto|off",
                   help="with INPUT_FOLDER and --keep-size: translate large images in overlapping N-pixel tiles, blended "
                        "(default auto: only images over the memory budget, GENZOO_TILE_BUDGET; off: never)")
    p.add_argument("--overlap", type=non_negative_int, metavar="M",
                   help="with --tile N: pixels neighbouring tiles share (default N/4)")
    p.add_argument("--norm-stats", choices=["tile", "image"], default="tile",
                   help="with tiles: InstanceNorm statistics of each tile (default) or of the whole image (one extra pass)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("embed", parents=[common],
                       help="embed every image of a folder (CLIP) into one safetensors file, with the file names")
    p.add_argument("name", help="model name, Hub repo id or local folder")
    p.add_argument("source", metavar="INPUT_FOLDER", help="folder of images (searched recursively) or one image")
    p.add_argument("-o", "--output", required=True, help="file to write, e.g. embeddings.safetensors")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per batch (default 32)")
    p.add_argument("--device", type=device_name, default="auto", help="cpu, cuda, auto (default)")
    p.add_argument("--dtype", help="fp32 (default), fp16, bf16")
    p.add_argument("--workers", type=non_negative_int, metavar="N", help="processes decoding images (default: a quarter of the CPUs, at most 4; 0 for none)")
    p.add_argument("--threads", type=positive_int, metavar="N", help="torch threads for the model (default: torch's)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("export", parents=[common],
                       help='export the inference components as ONNX graphs, checked against PyTorch; needs pip install "genzoo[onnx]"')
    p.add_argument("name", help="model name, Hub repo id or local folder")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="onnx (the only format so far)")
    p.add_argument("-o", "--output", required=True, help="folder to write: one .onnx per component and manifest.json")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train", parents=[common], help="train a family (or a named model's config) on a data set")
    p.add_argument("family", help="family name, or a registered model whose config to start from")
    p.add_argument("--data", required=True,
                   help="a dataset name ('digits', or one a plugin adds: `genzoo plugins` lists them) or a folder "
                        "(read as the family reads it: Pix2Pix A|B pairs, CycleGAN trainA/trainB, else an image folder)")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="dataset option, repeatable, e.g. direction=BtoA for Pix2Pix folders")
    p.add_argument("-o", "--output", required=True, help="run folder: metrics.jsonl, checkpoints, final/")
    p.add_argument("--seed", type=int, default=0, help="seeds the init, the data order and the noise")
    p.add_argument("--steps", type=positive_int, help="training steps (default: the family's recipe)")
    p.add_argument("--batch-size", type=positive_int, help="batch size per process (default: the family's recipe)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model config field, repeatable")
    p.add_argument("--name", help="model name for the card (default: the output folder's name)")
    p.add_argument("--license", help="licence of the trained model for its card, e.g. cc-by-4.0 (default: the data's, "
                                     "when the dataset states one; never assumed)")
    p.add_argument("--device", type=device_name, default="auto", help="auto (default), cpu, cuda")
    p.add_argument("--amp", default="no", help="mixed precision: no (default), bf16, fp16")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in the output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in the output folder")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("convert", parents=[common], help="convert upstream weights (another layout) to a genzoo folder")
    p.add_argument("family", help="the family whose converter reads SRC, e.g. clip")
    p.add_argument("source", help="a file, a folder, or a Hub repo id (user/repo[@revision]) in an upstream layout")
    p.add_argument("-o", "--output", required=True, help="genzoo folder to write")
    p.add_argument("--layout", help="upstream layout (default: detected), e.g. openai, transformers")
    p.add_argument("--revision", help="Hub revision of SRC")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config field the converter cannot infer, repeatable")
    p.add_argument("--name", help="model name for the card (default: the output folder's name)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("pull", parents=[common], help="download a model into the Hub cache")
    p.add_argument("name", help="registered model name or Hub repo id (user/repo[@rev])")
    p.add_argument("--revision", help="branch, tag or commit (default: the pinned one)")
    p.add_argument("--components", help="comma-separated component groups (default: all)")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("verify", parents=[common],
                       help="check a checkpoint's files against the sha256 its config.json records")
    p.add_argument("name", help="registered model name, local folder or Hub repo id (user/repo[@rev])")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: the pinned one)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("push", parents=[common], help="upload a saved genzoo folder to the Hub")
    p.add_argument("folder", help="folder written by genzoo.save")
    p.add_argument("repo_id", help="user/repo")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--message", help="commit message")
    p.add_argument("--revision", help="branch to push to (created if missing)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("bench", parents=[common],
                       help="time loading and the main task against plain PyTorch (speed is measured, not asserted)")
    p.add_argument("name", help="model name, Hub repo id or local folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto (default: cuda if available), cpu, cuda; no fallback when the device is missing")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"],
                   help="genzoo's precision (the reference stays fp32); default fp32")
    p.add_argument("--batch-size", type=positive_int, default=8, help="items per inference call (default 8)")
    p.add_argument("--repeat", type=int, default=20,
                   help="timed runs each way, taking turns; median and min-max are shown (default 20)")
    p.add_argument("--cold", type=int, default=0, metavar="N",
                   help="also N fresh-process loads each way, genzoo against import torch + load_file (default 0: none)")
    p.add_argument("--compile", action="store_true", help="genzoo side: torch.compile each component")
    p.add_argument("--channels-last", action="store_true", help="genzoo side: channels_last weights and inputs")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", parents=[common],
                       help='a local web page (Gradio) for a model\'s tasks and its card; needs pip install "genzoo[demo]"')
    p.add_argument("name", help="model name, Hub repo id or local folder")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one); the page is never shared")
    p.add_argument("--device", default="auto", help="cpu, cuda, auto (default)")
    p.add_argument("--dtype", help="fp32 (default), fp16, bf16")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the command line); return the exit status.

    Errors print one line and return 1; anything unforeseen too, with a hint
    to rerun with ``--debug`` (which raises instead). A closed stdout
    (``genzoo list | head -1``) ends the command quietly with 141, as SIGPIPE would.
    """
    parser = build_parser()
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if from_command_line:  # warnings as one line each, like errors (not file:line plus the source line)
        warnings.formatwarning = lambda message, category, *_, **__: f"genzoo: warning: {message}\n"
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the try, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, whatever escaped
        if isinstance(exc, BrokenPipeError) and _stdout_closed():
            # `genzoo list | head -1`: the reader has all it wanted. Exit quietly, as a tool killed by SIGPIPE does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit-time flush must not fail too
            return 141
        if args.debug:
            raise
        if isinstance(exc, GenzooError):  # ours: the message says what was wrong and what to do
            message = str(exc)
        else:  # a bug, a network failure, an unforeseen input: what it was, and how to see more
            first = (str(exc).strip().splitlines() or [""])[0]
            kind = "" if isinstance(exc, OSError) and first else f"{type(exc).__name__}: " if first else type(exc).__name__
            message = f"{kind}{first} (run with --debug for the traceback)"
        print(f"genzoo: error: {message}", file=sys.stderr)
        return 1


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (so a BrokenPipeError is ours, not a socket's)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows) or no real stdout: assume it is ours
        return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
