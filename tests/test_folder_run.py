"""Folders at scale (genzoo/folder_run.py): streaming, resume after a kill, torchrun sharding, `genzoo embed`.

Real files and real processes: the killed run is a subprocess SIGKILLed
mid-run, the sharded runs are 2 CPU processes under torchrun with gloo, and
their outputs are compared byte for byte with a single process's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from conftest import run_process_group
from genzoo.cli import main
from genzoo.errors import ConfigError
from genzoo.folder_run import EMBEDDINGS_FORMAT, load_embeddings, plan_batches, shard
from genzoo.images import save_image
from genzoo.tasks import translate_folder

MODEL = "cyclegan-digits-bold"  # instance norm, 16 px, grey: milliseconds per image


def digits_folder(root: Path, n: int = 16, sizes=((16, 16),)) -> Path:
    """``n`` PNG digits (scikit-learn's, enlarged) in two sub-folders, cycling through ``sizes`` (w, h)."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:n]
    for i, digit in enumerate(images):
        w, h = sizes[i % len(sizes)]
        im = Image.fromarray((digit * 255 / 16).astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR)
        path = root / ("odd" if i % 2 else "even") / f"d{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        im.save(path)
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too: a leftover temporary is a difference), by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def env() -> dict[str, str]:
    here = str(Path(__file__).parent)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)  # the subprocesses run with OMP_NUM_THREADS=1 too
    return genzoo.load(MODEL, device="cpu")


# -- the plan ------------------------------------------------------------------------
def test_plan_groups_sizes_and_shards_whole_batches(tmp_path):
    src = digits_folder(tmp_path / "in", n=7, sizes=((16, 16), (20, 12)))
    files = sorted(src.rglob("*.png"), key=lambda p: p.relative_to(src).as_posix())
    assert plan_batches(files, 3) == [[0, 1, 2], [3, 4, 5], [6]]
    by_size = plan_batches(files, 3, by_size=True)
    assert sorted(i for b in by_size for i in b) == list(range(7))
    assert all(len({Image.open(files[i]).size for i in b}) == 1 for b in by_size)
    assert shard(by_size, 0, 2) + shard(by_size, 1, 2) == by_size[0::2] + by_size[1::2]
    with pytest.raises(ConfigError, match="--batch-size must be >= 1"):
        plan_batches(files, 0)


# -- streaming changes no pixel -------------------------------------------------------
def test_streaming_equals_the_old_batch_by_batch_loop(model, tmp_path):
    src = digits_folder(tmp_path / "in", n=12)
    files = sorted(src.rglob("*.png"), key=lambda p: p.relative_to(src).as_posix())
    old = tmp_path / "old"
    for start in range(0, len(files), 5):  # what translate_folder did before: files in, one batch at a time
        chunk = files[start : start + 5]
        for path, image in zip(chunk, model.translate(chunk, batch_size=5)):
            save_image(image.float().cpu(), old / path.relative_to(src))
    written = translate_folder(model, src, tmp_path / "new", batch_size=5, workers=2, progress=False)
    assert len(written) == 12 and tree(tmp_path / "new") == tree(old)


def test_keep_size_batches_by_size_and_keeps_each_size(model, tmp_path):
    src = digits_folder(tmp_path / "in", n=6, sizes=((16, 16), (24, 12), (13, 9)))
    translate_folder(model, src, tmp_path / "out", batch_size=4, keep_size=True, workers=0, progress=False)
    for path in src.rglob("*.png"):
        out = tmp_path / "out" / path.relative_to(src)
        assert Image.open(out).size == Image.open(path).size
        expected = model.translate([path], keep_size=True)
        assert np.array_equal(np.asarray(Image.open(out)), genzoo.images.to_uint8(expected)[0, :, :, 0].numpy())


def test_a_bad_file_in_a_worker_is_one_line(tmp_path, capsys):
    src = digits_folder(tmp_path / "in", n=4)
    (src / "even" / "broken.png").write_bytes(b"not a png")
    code = main(["run", MODEL, str(src), "-o", str(tmp_path / "out"), "--workers", "2", "--batch-size", "1", "--device", "cpu", "--json"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "broken.png is not an image PIL can read" in err


# -- resume ----------------------------------------------------------------------------
SLOW_RUN = """
import sys, time
import genzoo.images
from genzoo.cli import main
save = genzoo.images.save_image
def slow(*args, **kwargs):  # a slow disk: the run is still going when the test kills it
    out = save(*args, **kwargs)
    time.sleep(0.15)
    return out
genzoo.images.save_image = slow
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_without_redoing_finished_files(tmp_path, capsys):
    src = digits_folder(tmp_path / "in", n=20)
    out = tmp_path / "out"
    argv = ["run", MODEL, str(src), "-o", str(out), "--device", "cpu", "--batch-size", "3", "--workers", "0"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, *argv], env=env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list(out.rglob("*.png"))) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-3000:]
    finished = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*.png")}
    assert 5 <= len(finished) < 20
    stale = out / "even" / ".d00.png.0123456789ab.tmp"  # what a kill inside a write leaves behind
    stale.write_bytes(b"half a png")

    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == len(finished) and report["translated"] == 20 - len(finished)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in finished} == finished  # not rewritten
    assert main(["run", MODEL, str(src), "-o", str(tmp_path / "clean"), "--device", "cpu", "--batch-size", "3"]) == 0
    assert tree(out) == tree(tmp_path / "clean")  # the same files, and no temporary left
    capsys.readouterr()

    assert main([*argv, "--overwrite", "--json"]) == 0  # --overwrite recomputes them all
    assert json.loads(capsys.readouterr().out)["translated"] == 20
    assert all(p.stat().st_ino != ino for p, (ino, _) in finished.items())


# -- torchrun ---------------------------------------------------------------------------
def test_two_processes_under_torchrun_write_the_same_bytes_as_one(tmp_path, capsys):
    src = digits_folder(tmp_path / "in", n=16, sizes=((16, 16), (20, 12)))
    common = ["--device", "cpu", "--batch-size", "3", "--workers", "1", "--json"]
    commands = {
        "run": ["run", MODEL, str(src), "-o", "{}", "--keep-size", *common],
        "embed": ["embed", "clip-digits", str(src), "-o", "{}.safetensors", *common],
    }
    for argv in commands.values():
        assert main([a.format(tmp_path / "one") for a in argv]) == 0
    capsys.readouterr()

    # one launch, both commands, each as `python -m genzoo` runs it (genzoo.cli.main)
    argvs = [[a.format(tmp_path / "two") for a in argv] for argv in commands.values()]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).parent / "folder_worker.py"), json.dumps(argvs)]  # fmt: skip
    proc = run_process_group(cmd, env(), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)  # rank 0 alone reports, for both processes
    assert report["processes"] == 2 and report["translated"] == 16 and len(report["images"]) < 16
    assert tree(tmp_path / "two") == tree(tmp_path / "one") and len(tree(tmp_path / "one")) == 16
    assert (tmp_path / "two.safetensors").read_bytes() == (tmp_path / "one.safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "one", "one.safetensors", "two", "two.safetensors"]


# -- genzoo embed ------------------------------------------------------------------------
def test_embed_writes_normalised_rows_with_file_names(tmp_path, capsys):
    src = digits_folder(tmp_path / "in", n=5)
    out = tmp_path / "emb.safetensors"
    assert main(["embed", "clip-digits", str(src), "-o", str(out), "--batch-size", "2", "--workers", "0"]) == 0
    assert "wrote 5 embeddings" in capsys.readouterr().out
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not safetensors' 0600
    emb = load_embeddings(out)
    assert emb.files == ["even/d00.png", "even/d02.png", "even/d04.png", "odd/d01.png", "odd/d03.png"]
    clip = genzoo.load("clip-digits")
    expected = clip.encode_image(clip.preprocess([src / f for f in emb.files]), normalize=True)
    assert emb.vectors.shape == expected.shape and torch.allclose(emb.vectors, expected, atol=1e-5)
    assert torch.allclose(emb.vectors.norm(dim=-1), torch.ones(5), atol=1e-5)
    from safetensors import safe_open

    with safe_open(out, "pt") as f:  # the documented layout: one metadata key holding JSON facts
        facts = json.loads(f.metadata()["genzoo.embeddings"])
    assert facts == {"format": EMBEDDINGS_FORMAT, "model": "clip-digits", "files": emb.files}


@pytest.mark.parametrize(
    "name, output, message",
    [
        (MODEL, "e.safetensors", "cyclegan models do not embed images, so `genzoo embed` does not apply"),
        ("clip-digits", "e.npy", "embeddings are written as safetensors; name the file *.safetensors"),
        ("clip-digits", ".", "is a folder; -o names the embeddings file to write"),
    ],
)
def test_embed_refuses_what_it_cannot_do_in_one_line(name, output, message, tmp_path, capsys, monkeypatch):
    src = digits_folder(tmp_path / "in", n=2)
    monkeypatch.chdir(tmp_path)
    code = main(["embed", name, str(src), "-o", output, "--workers", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
