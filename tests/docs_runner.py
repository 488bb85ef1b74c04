"""Run the code blocks of a Markdown page, in order, the way a reader would.

A page is a script: its fenced blocks run top to bottom in one scratch
folder, so a block may use what an earlier one wrote or defined.

- ```` ```python ```` blocks run in one namespace (per page), in the scratch folder.
- ```` ```python file=PATH ```` (any language with ``file=``) writes the block to
  ``PATH`` in the scratch folder instead of running it. A ``pyproject.toml``
  written this way is "installed" the way ``pip install -e .`` would make
  it visible: its ``[project.entry-points.*]`` become a ``*.dist-info`` next
  to the package, so genzoo finds the plugin through its entry point.
- ```` ```bash ```` blocks run with ``bash -euo pipefail`` in the scratch folder,
  with this Python's ``bin/`` first on ``PATH`` (so ``genzoo`` and ``python``
  are the ones under test) and the scratch folder on ``PYTHONPATH``.
- Other languages (``text``, ``console``, ``yaml``...) are shown, not run.
- ``<!-- no-run: REASON -->`` on the line before a block skips it; the test
  reports the reason.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\S*)(.*)$")
NO_RUN = re.compile(r"<!--\s*no-run:\s*(.+?)\s*-->")


@dataclass
class Block:
    lang: str
    code: str
    line: int
    file: str | None = None
    skip: str | None = None


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with their language, options and line number."""
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        lang, rest = m.group(1), m.group(2)
        file = re.search(r"file=(\S+)", rest)
        skip = NO_RUN.search(lines[i - 1]) if i else None
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        out.append(Block(lang, "\n".join(body) + "\n", start, file.group(1) if file else None, skip.group(1) if skip else None))
        i += 1
    return out


def _install(pyproject: Path, root: Path) -> None:
    """Make a written pyproject's entry points visible, as ``pip install -e .`` would."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    name, version = project["name"], project.get("version", "0.0")
    dist = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    groups = project.get("entry-points", {})
    text = "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for g, eps in groups.items())
    (dist / "entry_points.txt").write_text(text)


def run_page(page: Path, workdir: Path, timeout: float = 300) -> list[str]:
    """Run every block of ``page`` in ``workdir``; returns the skip reasons. A failing block raises AssertionError."""
    from genzoo import plugins

    skipped: list[str] = []
    namespace: dict = {"__name__": "__docs__"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    old_cwd = Path.cwd()
    sys.path.insert(0, str(workdir))
    os.chdir(workdir)
    try:
        for block in blocks(page):
            where = f"{page.name}:{block.line}"
            if block.skip:
                skipped.append(f"{where}: {block.skip}")
                continue
            if block.file:
                target = workdir / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
                if target.name == "pyproject.toml":
                    _install(target, workdir)
                importlib.invalidate_caches()
                plugins.reset()  # the next use finds plugins written so far
                continue
            if block.lang == "python":
                try:
                    exec(compile(block.code, where, "exec"), namespace)  # noqa: S102 - our own docs
                except Exception as exc:
                    raise AssertionError(f"{where}: the python block failed: {type(exc).__name__}: {exc}") from exc
            elif block.lang in ("bash", "sh", "shell"):
                proc = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", block.code], cwd=workdir, env=env,
                    capture_output=True, text=True, timeout=timeout,
                )  # fmt: skip
                if proc.returncode != 0:
                    raise AssertionError(
                        f"{where}: the bash block failed (rc {proc.returncode}):\n{textwrap.indent(block.code, '  ')}"
                        f"\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
                    )
    finally:
        os.chdir(old_cwd)
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if getattr(sys.modules[m], "__file__", None) and str(workdir) in str(sys.modules[m].__file__)]:
            del sys.modules[name]
        plugins.reset()
    return skipped
