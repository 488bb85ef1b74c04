"""The docs run: every code block of these pages runs, in order, as a reader would (see docs_runner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from docs_runner import blocks, run_page
from genzoo.model import GenzooModel

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: Pages whose blocks all run (the others are being converted; see the closing notes).
RUNNABLE = ["plugins.md", "contract.md", "inference.md"]


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    skipped = run_page(DOCS / page, tmp_path)
    assert all("no-run" not in s for s in skipped)  # reasons, not markers, are reported
    for reason in skipped:
        print(f"skipped {reason}")


def test_runnable_pages_have_blocks_that_run():
    for page in RUNNABLE:
        runnable = [b for b in blocks(DOCS / page) if not b.skip and (b.file or b.lang in ("python", "bash"))]
        assert runnable, f"{page} has no block that runs"


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
