"""The ``genzoo`` command.

Each subcommand is a thin layer over the public API. Errors print one line
(``genzoo: error: ...``) and exit non-zero; ``--debug`` shows the traceback.
``--json`` prints machine-readable output for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

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
    rows = [[e.name, e.family, str(e.source or "-"), _short(e.description)] for e in entries]
    print(_table(rows, ["name", "family", "weights", "description"]))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .api import info

    i = info(args.name)
    if args.json:
        _print_json(i.as_dict())
        return 0
    kind = "family" if i.kind == "family" else f"{i.kind} of family {i.family}"
    print(f"{i.name}  ({kind}" + (f", plugin {i.plugin})" if i.plugin else ")"))
    if i.description:
        print(f"  {i.description}")
    if i.source:
        print(f"  weights:  {i.source}")
    for key in ("dataset", "license", "paper"):
        if i.card.get(key):
            print(f"  {key + ':':<9} {i.card[key]}")
    for key, value in (i.card.get("metrics") or {}).items():
        print(f"  metric:   {key} = {value}")
    if i.tasks:
        print(f"  tasks:    {', '.join(i.tasks)}")
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
        [i.name, i.version or "-", ", ".join(i.families) or "-", str(len(i.models)), "ok" if i.ok else f"ERROR: {i.error}"]
        for i in infos
    ]
    print(_table(rows, ["plugin", "version", "families", "models", "status"]))
    if args.traceback:
        for i in infos:
            if i.traceback:
                print(f"\n--- {i.name} ---\n{i.traceback}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from . import hub
    from .plugins import get_registry
    from .registry import BundledSource, HubSource

    registry = get_registry()
    components = args.components.split(",") if args.components else None
    if args.name in registry.models:
        source = registry.models[args.name].source
        if isinstance(source, BundledSource):
            print(f"{args.name} is bundled with its plugin; nothing to download: {source.folder()}")
            return 0
        if not isinstance(source, HubSource):
            raise GenzooError(f"model {args.name!r} has no weight source to pull")
        repo_id, revision = source.repo_id, args.revision or source.revision
    else:
        ref = hub.parse_repo_ref(args.name)
        if ref is None:
            registry.model(args.name)  # raises with suggestions
        repo_id, revision = ref[0], args.revision or ref[1]
    folder, meta, chosen = hub.download(repo_id, revision, components, with_card=True)
    if args.json:
        _print_json({"repo_id": repo_id, "folder": str(folder), "commit": folder.name, "components": chosen})
    else:
        print(f"pulled {repo_id}@{folder.name[:12]} ({meta['family']}; {', '.join(chosen)}) to {folder}")
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
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise GenzooError(f"--labels {spec!r}: use ids like '0-9' or '1,3,5'") from None
    return out


def cmd_run(args: argparse.Namespace) -> int:
    from .api import load
    from .images import save_grid
    from .tasks import run_task

    model = load(args.name, device=args.device, dtype=args.dtype)
    options = {
        "n": args.n, "seed": args.seed, "steps": args.steps, "nrow": None,
        "inputs": args.input or None, "labels": parse_labels(args.labels), "path": args.path,
    }  # fmt: skip
    images, nrow = run_task(model, args.task, options)
    out = save_grid(images.float().cpu(), args.output, nrow=args.nrow or nrow)
    if args.json:
        _print_json({"output": str(out), "images": len(images)})
    else:
        print(f"wrote {len(images)} images to {out}")
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
    p.add_argument("-o", "--output", required=True, help="image file to write (png, jpg, ...)")
    p.add_argument("--task", help="the family's task (default: its main one); `genzoo info` lists them")
    p.add_argument("--n", type=int, help="how many images / rows")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--steps", type=int, help="interpolation steps")
    p.add_argument("--input", nargs="+", help="input image files (default: held-out test digits)")
    p.add_argument("--labels", help="class ids for conditional models, e.g. 0-9")
    p.add_argument("--path", choices=["linear", "spherical"], help="interpolation path")
    p.add_argument("--nrow", type=int, help="images per row in the grid")
    p.add_argument("--device", default="auto", help="cpu, cuda, auto (default)")
    p.add_argument("--dtype", help="fp32 (default), fp16, bf16")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("pull", parents=[common], help="download a model into the Hub cache")
    p.add_argument("name", help="registered model name or Hub repo id (user/repo[@rev])")
    p.add_argument("--revision", help="branch, tag or commit (default: the pinned one)")
    p.add_argument("--components", help="comma-separated component groups (default: all)")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("push", parents=[common], help="upload a saved genzoo folder to the Hub")
    p.add_argument("folder", help="folder written by genzoo.save")
    p.add_argument("repo_id", help="user/repo")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--message", help="commit message")
    p.add_argument("--revision", help="branch to push to (created if missing)")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    p.set_defaults(func=cmd_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (GenzooError, OSError) as exc:
        if args.debug:
            raise
        print(f"genzoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genzoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
