"""Run the code blocks of a Markdown page, in order, the way a reader would.

A page is a script: its fenced blocks run top to bottom in one scratch
folder, so a block may use what an earlier one wrote or defined.

- ```` ```python ```` blocks run in one namespace (per page), in the scratch folder;
  the namespace is a real module (``__docs__``), so dataclasses defined there work.
- ```` ```python file=PATH ```` (any language with ``file=``) writes the block to
  ``PATH`` in the scratch folder instead of running it. A ``pyproject.toml``
  written this way is "installed" the way ``pip install -e .`` would make
  it visible: its ``[project.entry-points.*]`` become a ``*.dist-info`` next
  to the package, so genzoo finds the plugin through its entry point.
- ```` ```bash ```` blocks run with ``bash -euo pipefail`` in the scratch folder,
  with this Python's ``bin/`` first on ``PATH`` (so ``genzoo`` and ``python``
  are the ones under test) and the scratch folder on ``PYTHONPATH``.
- Other languages (``text``, ``console``, ``yaml``...) are shown, not run.
- Markers are HTML comments (invisible on GitHub) on the lines right above
  a block:

  - ``<!-- no-run: REASON -->`` skips the block; the test reports the reason.
    Only for what cannot run offline on a CPU in seconds (a GPU, the real
    Hub, the authors' download server, multi-minute training).
  - ``<!-- hub: REPO=SOURCE[@TAG] ... -->`` (entries optional) runs the block,
    and every later block of the page, against a local Hub: the first marker starts
    ``tests/hubserver.py``'s olah server in the scratch folder and sets
    ``HF_ENDPOINT`` to it (for python blocks and bash blocks alike); each
    ``REPO=SOURCE`` publishes ``SOURCE`` -- a folder in the scratch folder,
    else anything ``genzoo.load`` takes, saved -- as model repo ``REPO``,
    and ``@TAG`` also tags that commit (so ``genzoo.load("REPO@TAG")``
    works). olah serves repos read-only, so for python blocks the Hub client
    genzoo pushes with (``genzoo.hub.HfApi``) is replaced by one that commits
    the uploaded folder to the local server (:class:`LocalHubApi`); everything
    before the upload (staging, sha256 checks, the card) is genzoo's real
    push path, and a later load reads the pushed files back over HTTP.
    (A ``genzoo push`` in a bash block would still use the real client, which
    olah refuses: such blocks need a no-run.)
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
import types
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```(\S*)(.*)$")
NO_RUN = re.compile(r"<!--\s*no-run:\s*(.+?)\s*-->")
HUB = re.compile(r"<!--\s*hub:\s*(.*?)\s*-->")
COMMENT = re.compile(r"^\s*<!--.*-->\s*$")


@dataclass
class Block:
    lang: str
    code: str
    line: int
    file: str | None = None
    skip: str | None = None
    #: ``(repo, source, tag or None)`` to publish on the local Hub before the block runs;
    #: ``None`` without a hub marker.
    hub: tuple[tuple[str, str, str | None], ...] | None = None


def _markers(lines: list[str], i: int) -> list[str]:
    """The HTML comment lines directly above line ``i`` (nearest first)."""
    found = []
    j = i - 1
    while j >= 0 and COMMENT.match(lines[j]):
        found.append(lines[j])
        j -= 1
    return found


def _hub_entries(text: str) -> tuple[tuple[str, str, str | None], ...]:
    """``REPO=SOURCE[@TAG] ...`` of a hub marker as ``(repo, source, tag)`` triples."""
    entries = []
    for item in text.split():
        repo, sep, source = item.partition("=")
        if not sep or not source or repo.count("/") != 1:
            raise ValueError(f"hub marker entry {item!r} is not REPO=SOURCE[@TAG] (REPO is user/name)")
        source, _, tag = source.partition("@")
        entries.append((repo, source, tag or None))
    return tuple(entries)


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
        markers = _markers(lines, i)
        skip = next((m for m in map(NO_RUN.search, markers) if m), None)
        hubs = [m.group(1) for m in map(HUB.search, reversed(markers)) if m]
        hub = tuple(e for text in hubs for e in _hub_entries(text)) if hubs else None
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        out.append(Block(lang, "\n".join(body) + "\n", start, file.group(1) if file else None, skip.group(1) if skip else None, hub))
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


class LocalHubApi:
    """What genzoo's push needs of ``huggingface_hub.HfApi``, committing to the local Hub server.

    olah serves repos read-only, so an upload becomes :meth:`HubServer.publish`
    of the staged folder (one commit, exactly its files); a branch other than
    ``main`` is pointed at that commit.
    """

    hub: Any = None  # the page's HubServer, set by run_page

    def __init__(self, endpoint: str | None = None, token: str | None = None, **_: Any):
        self.endpoint = endpoint

    def create_repo(self, repo_id: str, **_: Any) -> None:
        """Repos come into being on the first upload."""

    def create_branch(self, repo_id: str, branch: str, **_: Any) -> None:
        """Branches are made by the upload that names them."""

    def upload_folder(
        self, *, folder_path: Any, repo_id: str, revision: str | None = None, commit_message: str | None = None, **_: Any
    ) -> Any:
        sha = self.hub.publish(repo_id, folder_path, commit_message or "upload")
        if revision and revision != "main":
            _git_ref(self.hub.repo_path(repo_id), "branch", "-f", revision, sha)
        return types.SimpleNamespace(oid=sha, commit_url=f"{self.hub.endpoint}/{repo_id}/commit/{sha}")


def _git_ref(repo: Path, *args: str) -> None:
    """A git ref command in a served repo, without the developer's git config."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _publish(hub: Any, repo: str, source: str, tag: str | None, workdir: Path) -> None:
    """Publish ``source`` (a folder in ``workdir``, else a model name genzoo loads) as ``repo``."""
    import genzoo

    folder = workdir / source
    if not folder.is_dir():
        folder = genzoo.save(genzoo.load(source), hub.root / "published" / repo.replace("/", "--"))
    sha = hub.publish(repo, folder, f"publish {source}")
    if tag:
        _git_ref(hub.repo_path(repo), "tag", "-f", tag, sha)


def run_page(page: Path, workdir: Path, timeout: float = 300) -> list[str]:
    """Run every block of ``page`` in ``workdir``; returns the skip reasons. A failing block raises AssertionError."""
    import genzoo.hub
    from genzoo import plugins
    from hubserver import HubServer

    skipped: list[str] = []
    module = types.ModuleType("__docs__")  # a real module, so dataclasses and pickling find the page's classes
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    old_cwd, old_endpoint, old_api = Path.cwd(), os.environ.get("HF_ENDPOINT"), genzoo.hub.HfApi
    hub: HubServer | None = None
    sys.path.insert(0, str(workdir))
    os.chdir(workdir)
    try:
        for block in blocks(page):
            where = f"{page.name}:{block.line}"
            if block.skip:
                skipped.append(f"{where}: {block.skip}")
                continue
            if block.hub is not None and hub is None:
                hub = HubServer(workdir / ".hub").start()
                os.environ["HF_ENDPOINT"] = env["HF_ENDPOINT"] = hub.endpoint
                LocalHubApi.hub = hub
                genzoo.hub.HfApi = LocalHubApi
            for repo, source, tag in block.hub or ():
                _publish(hub, repo, source, tag, workdir)
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
        if hub is not None:
            hub.stop()
            genzoo.hub.HfApi = old_api
            if old_endpoint is None:
                os.environ.pop("HF_ENDPOINT", None)
            else:
                os.environ["HF_ENDPOINT"] = old_endpoint
        os.chdir(old_cwd)
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if getattr(sys.modules[m], "__file__", None) and str(workdir) in str(sys.modules[m].__file__)]:
            del sys.modules[name]
        sys.modules.pop(module.__name__, None)
        plugins.reset()
    return skipped


#: Environment a page must not inherit from the developer's shell (as conftest's isolated_zoo clears).
_OUTSIDE_ENV = ("HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN", "GENZOO_LOAD_PLUGINS", "GENZOO_HUB_REVISION", "GENZOO_HUB_ORG")


def run_page_isolated(page: str, workdir: str) -> tuple[list[str], str | None]:
    """:func:`run_page` in a worker process of its own: ``(skip reasons, failure message or None)``.

    For running pages side by side (a process pool): each page gets a fresh
    zoo, its own Hugging Face and torch caches under ``workdir``, one thread.
    """
    root = Path(workdir)
    for var in _OUTSIDE_ENV:
        os.environ.pop(var, None)
    os.environ.update(OMP_NUM_THREADS="1", HF_HOME=str(root / "hf_home"), TORCH_HOME=str(root / "hf_home" / "torch"))
    (root / "page").mkdir()
    try:
        return run_page(Path(page), root / "page"), None
    except AssertionError as exc:
        return [], str(exc)
