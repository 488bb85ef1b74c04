"""Shared fixtures: an isolated zoo, a Hub cache per test, and third-party plugins made on the fly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from genzoo import plugins


@pytest.fixture(autouse=True)
def isolated_zoo(tmp_path_factory, monkeypatch):
    """Each test sees a freshly loaded zoo, its own Hub cache and no Hub/plugin env from outside."""
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))  # URL weights land in torch's checkpoint cache
    for var in ("HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN", "GENZOO_LOAD_PLUGINS", "GENZOO_HUB_REVISION", "GENZOO_HUB_ORG"):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models: on a shared 2-core machine it is many times faster than two.

    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``;
    module scope, so that the module's own model fixtures are built under it too.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PluginFactory = Callable[..., Path]


def run_process_group(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own process group and kill the whole group on timeout.

    torchrun's workers are grandchildren: ``subprocess.run(timeout=...)`` would
    kill torchrun alone and leave hung workers behind.
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{cmd[:4]} ran past {timeout} s and was killed\n{out[-2000:]}\n{err[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture
def make_plugin(tmp_path, monkeypatch) -> PluginFactory:
    """Create an importable third-party plugin package with a real ``*.dist-info`` entry point.

    ``make_plugin("genzoo_cats", code, entry="cats")`` writes ``genzoo_cats/__init__.py``
    with ``code`` and ``genzoo_cats-1.0.dist-info/{METADATA,entry_points.txt}``
    into a folder on ``sys.path`` -- what ``pip install`` would leave, without pip.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(package: str, code: str, entry: str | None = None, version: str = "1.0", files: dict[str, str] | None = None) -> Path:
        pkg = root / package
        pkg.mkdir()
        (pkg / "__init__.py").write_text(textwrap.dedent(code))
        for name, text in (files or {}).items():
            (pkg / name).write_text(textwrap.dedent(text))
        dist = root / f"{package}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        (dist / "entry_points.txt").write_text(f"[genzoo]\n{entry or package} = {package}\n")
        plugins.reset()
        sys.modules.pop(package, None)
        return root

    yield make
    for name in [m for m in sys.modules if m.startswith("genzoo_") and m not in ("genzoo_toy",) and not m.startswith("genzoo_toy.")]:
        mod = sys.modules[name]
        if getattr(mod, "__file__", "") and str(root) in str(mod.__file__):
            del sys.modules[name]
