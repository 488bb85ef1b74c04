"""The docs run: every code block of these pages runs, in order, as a reader would (see docs_runner)."""

from __future__ import annotations

import multiprocessing
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from torch import nn

from docs_runner import blocks, run_page, run_page_isolated
from genzoo.model import GenzooModel

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Every page: the README and each docs/*.md, so a new page cannot be forgotten.
RUNNABLE = ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))]
#: Languages the runner runs (the others are output or data, shown as they are).
RUN_LANGS = ("python", "bash", "sh", "shell")


def page_path(page: str) -> Path:
    return ROOT / page if page == "README.md" else DOCS / page


#: Pages run side by side in this many processes (each page is sequential and single-threaded).
WORKERS = int(os.environ.get("GENZOO_DOCS_WORKERS") or min(2, os.cpu_count() or 1))


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory):
    """The selected pages, all started at once in a pool of WORKERS processes; page -> its future.

    The pages are independent and each one is sequential and single-threaded,
    so two at a time halve the wall time on two cores. Each test below waits
    for its own page only. The longest pages go first.
    """
    selected = {item.callspec.params["page"] for item in request.session.items if item.originalname == "test_page_runs"}
    order = sorted(selected, key=lambda page: -page_path(page).stat().st_size)
    pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"))
    futures = {page: pool.submit(run_page_isolated, str(page_path(page)), str(tmp_path_factory.mktemp(page))) for page in order}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_runs(page, page_runs):
    skipped, failure = page_runs[page].result(timeout=600)
    if failure:
        pytest.fail(failure, pytrace=False)
    assert all("no-run" not in s for s in skipped)  # reasons, not markers, are reported
    for reason in skipped:
        print(f"skipped {reason}")


def test_every_page_is_run():
    assert "README.md" in RUNNABLE and {"training.md", "demo.md", "plugins.md", "contract.md"} <= set(RUNNABLE)
    assert len(RUNNABLE) == 1 + len(list(DOCS.glob("*.md")))


def test_runnable_pages_have_blocks_that_run():
    for page in RUNNABLE:
        if page == "interfaces.md":  # a reference table, no code
            continue
        runnable = [b for b in blocks(page_path(page)) if not b.skip and (b.file or b.lang in RUN_LANGS)]
        assert runnable, f"{page} has no block that runs"


def test_skips_give_a_reason():
    for page in RUNNABLE:
        for b in blocks(page_path(page)):
            if b.skip is not None:
                assert len(b.skip) > 15, f"{page}:{b.line}: no-run needs a reason a reader understands, got {b.skip!r}"


def contract_names() -> set[str]:
    """Every public attribute and method GenzooModel declares beyond nn.Module's."""
    return {
        name for name, value in vars(GenzooModel).items()
        if not name.startswith("_") and not hasattr(nn.Module, name)
    } | {name for name in GenzooModel.__annotations__ if not name.startswith("_")}


def test_contract_page_names_every_hook():
    text = (DOCS / "contract.md").read_text(encoding="utf-8")
    missing = sorted(n for n in contract_names() if f"`{n}`" not in text)
    assert not missing, f"docs/contract.md does not document {missing}"
    assert "run_task" in contract_names() and "input_spec" in contract_names()  # the check itself sees the hooks


def readme_run_command() -> str:
    """The README's one-line run command (the bash block after ``<!-- run-command -->``)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    at = lines.index("<!-- run-command -->")
    assert lines[at + 1] == "```bash", "the run-command marker must sit right above its bash block"
    return lines[at + 2]


def fresh_checkout(dest: Path) -> Path:
    """The repository's tracked files, as a fresh clone has them (uncommitted edits included)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files a clone would have")
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def test_readme_run_command_in_a_fresh_checkout(tmp_path):
    """The `genzoo run` part of the README's run command, in a copy of the tracked files, with this venv's genzoo."""
    install, _, run = readme_run_command().rpartition(" && ")
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install -e .") and run.startswith(".venv/bin/genzoo run ")
    clone = fresh_checkout(tmp_path / "clone")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(clone), str(clone / "plugins")])}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", run.removeprefix(".venv/bin/")], cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "wrote 64 images to samples.png" in proc.stdout
    with Image.open(clone / "samples.png") as grid:  # 8 x 8 digits of 16 px, scaled 4 times
        assert grid.format == "PNG" and min(grid.size) >= 8 * 16 * 4


@pytest.mark.skipif(not os.environ.get("GENZOO_TEST_INSTALL"), reason="downloads torch and the rest from PyPI into a new venv (~2 min, ~6 GB); set GENZOO_TEST_INSTALL=1 to run it")
def test_readme_run_command_as_written(tmp_path):
    """The whole README run command, install included, exactly as a reader types it in a fresh checkout."""
    clone = fresh_checkout(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_run_command()], cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (clone / "samples.png").is_file()


INLINE = re.compile(r"`(genzoo (?:run|train|info|list|pull|verify|push|convert|bench|plugins)\b[^`\n]*)`")


def inline_commands() -> list[tuple[str, str]]:
    """Every concrete `genzoo ...` command quoted in the pages' prose (synopses with NAME, [..] or | left out)."""
    found = []
    for page in RUNNABLE:
        for command in INLINE.findall(page_path(page).read_text(encoding="utf-8")):
            if len(command.split()) > 2 and not re.search(r"[A-Z]{2,}|\[|\||…|\.\.\.", command):  # "`genzoo train`" names the command
                found.append((page, command))
    return found


def test_inline_commands_parse_and_name_their_output():
    """Commands in the prose are not run (the blocks are), but each must parse, and `genzoo run` must say where to write."""
    from genzoo.cli import build_parser

    commands = inline_commands()
    assert len(commands) > 20 and ("vae.md", "genzoo run vae-digits -o samples.png") in commands
    wrong = []
    for page, command in commands:
        try:
            args = build_parser().parse_args(shlex.split(command)[1:])
        except SystemExit:
            wrong.append(f"{page}: `{command}` does not parse")
            continue
        if args.command == "run" and not args.zero_shot and not args.output:
            wrong.append(f"{page}: `{command}` needs -o (genzoo run writes images to a file or folder)")
    assert not wrong, "\n".join(wrong)


RUNNER_PAGE = '''# a page

<!-- hub: me/toy=toy-digits@v1 -->
```python
import genzoo
toy = genzoo.load("me/toy@v1")
genzoo.push_to_hub(toy, "me/copy", commit_message="copy")
```

```bash
genzoo verify me/copy > verified.txt
```

<!-- no-run: it would fail -->
```bash
false
```

```console
$ not run
```
'''


def test_runner_hub_marker_and_skips(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    page = tmp_path / "page.md"
    page.write_text(RUNNER_PAGE, encoding="utf-8")
    (work := tmp_path / "work").mkdir()
    assert [b.hub for b in blocks(page)] == [(("me/toy", "toy-digits", "v1"),), None, None, None]
    assert run_page(page, work) == ["page.md:15: it would fail"]
    assert "models--me--copy" in (work / "verified.txt").read_text()  # pushed, then downloaded by a subprocess
    assert "HF_ENDPOINT" not in os.environ  # the page's Hub is gone with the page
    page.write_text(RUNNER_PAGE.split("<!-- no-run: it would fail -->\n")[1], encoding="utf-8")
    with pytest.raises(AssertionError, match=r"page.md:1: the bash block failed \(rc 1\)"):
        run_page(page, work)


def test_readme_snippet_offline_part_in_a_fresh_interpreter(tmp_path):
    """The README snippet up to its Hub lines, as a script in a new process.

    In this pytest process other tests have imported ``genzoo.images`` and
    friends already, which would hide a missing lazy attribute
    (``genzoo.images.save_grid`` once failed exactly so); a fresh interpreter
    does not. The Hub lines run in test_page_runs[README.md], against the local Hub.
    """
    snippet = next(b for b in blocks(ROOT / "README.md") if b.lang == "python").code.splitlines()
    offline = snippet[: next(i for i, line in enumerate(snippet) if "user/repo" in line)]
    assert any("genzoo.images.save_grid" in line for line in offline)
    (tmp_path / "snippet.py").write_text("\n".join(offline) + "\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "out" / "config.json").is_file()
