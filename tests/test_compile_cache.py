"""load(compile=True) keeps torch.compile's artefacts in genzoo's cache and a second process reuses them.

Keying and the save/load round trip are tested with torch's cache functions
replaced (fast); one end-to-end run compiles a tiny CycleGAN generator for
real in two fresh processes (opt-in: ``GENZOO_TEST_COMPILE=1``, it takes
minutes on a busy CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo import compile_cache
from genzoo.compile_cache import CachedCall, CompileCacheWarning, ModelCache

TINY = dict(input_nc=1, output_nc=1, image_size=16, netG="resnet_1blocks", ngf=4, netD="none", bidirectional=False)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "gcache"))
    return tmp_path / "gcache" / "compile"


def _save_tiny(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return genzoo.save(genzoo.create("cyclegan", **TINY), folder)


def _folder_of(model) -> Path:
    call = model.g_ab._compiled_call_impl
    assert isinstance(call, CachedCall)
    return call.cache.folder


def test_cache_dir_follows_genzoo_cache_and_xdg(monkeypatch, tmp_path):
    assert compile_cache.cache_dir() == tmp_path / "gcache" / "compile"
    monkeypatch.delenv("GENZOO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.cache_dir() == tmp_path / "xdg" / "genzoo" / "compile"


def test_key_changes_with_weights_dtype_and_not_otherwise(tmp_path, private_cache):
    a, b = _save_tiny(tmp_path / "a", seed=0), _save_tiny(tmp_path / "b", seed=1)
    fa = _folder_of(genzoo.load(a, compile=True))
    assert fa.parent == private_cache and fa.name.startswith("cyclegan-")
    assert _folder_of(genzoo.load(a, compile=True)) == fa  # same weights, same settings: same folder
    assert _folder_of(genzoo.load(b, compile=True)) != fa  # other weights
    assert _folder_of(genzoo.load(a, compile=True, dtype="bf16")) != fa  # other dtype
    assert _folder_of(genzoo.load(a, compile=True, channels_last=True)) != fa
    key = json.loads((fa / "key.json").read_text())
    meta = json.loads((a / "config.json").read_text())
    assert key["dtype"] == "torch.float32" and key["device"] == "cpu" and key["torch"] == torch.__version__
    # the recorded sha256 keys the weights: no tensor hashing for a checkpoint folder
    assert key["weights"] == compile_cache.weights_digest(torch.nn.Module(), meta, ["generator.safetensors"])


def test_weights_digest_hashes_tensor_bytes_without_a_record():
    torch.manual_seed(0)
    m = genzoo.create("cyclegan", **TINY)
    d0 = compile_cache.weights_digest(m)
    assert d0 == compile_cache.weights_digest(m, {"sha256": {}}, ["generator.safetensors"])
    with torch.no_grad():
        next(m.parameters()).view(-1)[0] += 1e-3
    assert compile_cache.weights_digest(m) != d0


class FakeTorchCache:
    """Stands in for torch.compiler's mega-cache functions: records what genzoo loads and saves."""

    def __init__(self):
        self.loaded: list[bytes] = []
        self.blob = b"artefacts-v1"

    def save(self):
        return (self.blob, None)

    def load(self, data):
        self.loaded.append(data)
        return object()


def test_second_load_finds_the_artefacts_of_the_first(tmp_path, monkeypatch):
    fake = FakeTorchCache()
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", fake.save)
    monkeypatch.setattr(torch.compiler, "load_cache_artifacts", fake.load)
    folder = _save_tiny(tmp_path / "m")
    x = torch.randn(2, 1, 16, 16)
    m1 = genzoo.load(folder, compile=True)
    call = m1.g_ab._compiled_call_impl
    call.compiled = m1.g_ab._call_impl  # no real compile: the cache logic is what is tested here
    m1.g_ab(x), m1.g_ab(x)
    assert call.events == ["saved"] and fake.loaded == []  # one save per new signature, not per call
    files = list(call.cache.folder.glob("*.megacache"))
    assert len(files) == 1 and files[0].read_bytes() == b"artefacts-v1"

    m2 = genzoo.load(folder, compile=True)
    call2 = m2.g_ab._compiled_call_impl
    call2.compiled = m2.g_ab._call_impl
    m2.g_ab(x)
    assert call2.events == ["hit"] and fake.loaded == [b"artefacts-v1"]
    m2.g_ab(torch.randn(1, 1, 16, 16))  # another input shape: its own file
    assert call2.events == ["hit", "saved"] and len(list(call2.cache.folder.glob("*.megacache"))) == 2


def test_an_unusable_cache_warns_and_still_runs(tmp_path, monkeypatch):
    def broken(data):
        raise RuntimeError("bad magic number")

    monkeypatch.setattr(torch.compiler, "load_cache_artifacts", broken)
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"x", None))
    m = genzoo.load(_save_tiny(tmp_path / "m"), compile=True)
    call = m.g_ab._compiled_call_impl
    call.compiled = m.g_ab._call_impl
    x = torch.randn(1, 1, 16, 16)
    call.artifact_path(compile_cache.signature((x,), {})).write_bytes(b"garbage")
    with pytest.warns(CompileCacheWarning, match="not usable.*compiling again"):
        m.g_ab(x)
    assert call.events == ["saved"]


def test_an_unwritable_cache_warns_and_still_runs(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "file"))
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"x", None))
    m = genzoo.load(_save_tiny(tmp_path / "m"), compile=True)
    m.g_ab._compiled_call_impl.compiled = m.g_ab._call_impl
    with pytest.warns(CompileCacheWarning, match="cannot write compile cache"):
        y = m.g_ab(torch.randn(1, 1, 16, 16))
    assert y.shape == (1, 1, 16, 16)


SCRIPT = textwrap.dedent(
    """
    import json, sys, time, torch, genzoo
    folder = sys.argv[1]
    x = torch.linspace(-1, 1, 2 * 16 * 16).reshape(2, 1, 16, 16)
    eager = genzoo.load(folder)
    m = genzoo.load(folder, compile=True)
    with torch.inference_mode():
        t = time.perf_counter()
        y = m.g_ab(x)
        first = time.perf_counter() - t
        diff = (y - eager.g_ab(x)).abs().max().item()
    call = m.g_ab._compiled_call_impl
    print(json.dumps({"events": call.events, "diff": diff, "first_s": first, "folder": str(call.cache.folder)}))
    """
)


@pytest.mark.skipif(
    os.environ.get("GENZOO_TEST_COMPILE") != "1",
    reason="compiles for real in two processes (about 100 s on a busy 2-core CPU); set GENZOO_TEST_COMPILE=1 to run it",
)
def test_real_compile_second_process_hits_the_cache(tmp_path, private_cache):
    """Two fresh processes, torch.compile for real: the second loads the first's artefacts, outputs match eager.

    benchmarks/bench_compile.py does the same on the full-size generator, with timings.
    """
    folder = _save_tiny(tmp_path / "m")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    runs = []
    for i in (1, 2):
        env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / f"inductor{i}")  # torch's own /tmp cache: not shared
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["events"] == ["saved"] and second["events"] == ["hit"], runs
    assert first["folder"] == second["folder"] and Path(first["folder"]).parent == private_cache
    assert len(list(Path(first["folder"]).glob("*.megacache"))) == 1
    assert first["diff"] <= 1e-5 and second["diff"] <= 1e-5


def test_genzoo_run_compile_flag_reaches_load(tmp_path, monkeypatch, capsys):
    """`genzoo run NAME --compile` loads with compile=True (the compile itself is replaced: it is tested above)."""
    from genzoo.cli import main

    seen = []
    monkeypatch.setattr(compile_cache, "compile_cached", lambda model, **kw: seen.append((model.family, kw)))
    out = tmp_path / "grid.png"
    assert main(["run", "cyclegan-digits-bold", "--compile", "--device", "cpu", "-o", str(out)]) == 0
    assert out.is_file() and [f for f, _ in seen] == ["cyclegan"]
    assert seen[0][1]["files"] and seen[0][1]["meta"]["family"] == "cyclegan"  # the recorded sha256 travel with it
    seen.clear()
    assert main(["run", "cyclegan-digits-bold", "--device", "cpu", "-o", str(out)]) == 0
    assert seen == []


@pytest.mark.parametrize("user_dir", [None, "mine"])
def test_kernels_go_to_genzoo_cache_unless_the_user_chose_a_torch_cache(tmp_path, monkeypatch, private_cache, user_dir):
    """Inductor's C++ kernels are not in the mega-cache: while compiling, torch's cache points into genzoo's."""
    if user_dir:
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / user_dir))
    else:
        monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"x", None))
    m = genzoo.load(_save_tiny(tmp_path / "m"), compile=True)
    during = []
    m.g_ab._compiled_call_impl.compiled = lambda x: during.append(os.environ.get("TORCHINDUCTOR_CACHE_DIR")) or x
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")  # importing torch._inductor sets torch's default
    m.g_ab(torch.zeros(1, 1, 16, 16))
    assert during == [str(tmp_path / user_dir) if user_dir else str(private_cache / "torch")]
    assert os.environ.get("TORCHINDUCTOR_CACHE_DIR") == before  # restored after the compile
    if user_dir:
        assert before == str(tmp_path / user_dir)
