"""Issue 11, checkpoint half: saves never lose data, checkpoints cannot name files outside
themselves, and corruption, NaN/Inf weights, dtypes and network errors are reported clearly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch
from hubserver import HubServer

import genzoo
from genzoo.checkpoint import HOST, STAGE_PREFIX, read_meta, sha256_file
from genzoo.cli import main
from genzoo.errors import CheckpointError, DtypeError, HubError, IntegrityError, NonFiniteWeightsWarning


def toy(seed: int = 0, **config):
    torch.manual_seed(seed)
    return genzoo.create("toy", width=4, **config)


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def flip_last_byte(path: Path) -> None:
    """Corrupt a payload byte, keeping the size (the last byte is always tensor data)."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x5A
    path.write_bytes(bytes(data))


def rewrite_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "config.json").read_text())
    meta.update(changes)
    (folder / "config.json").write_text(json.dumps(meta))


# -- what save may overwrite ---------------------------------------------------
def test_save_refuses_a_foreign_folder_and_touches_nothing(tmp_path):
    hf = tmp_path / "bert"
    hf.mkdir()
    files = {"config.json": '{"model_type": "bert"}', "pytorch_model.bin": "weights", "train.py": "print(1)"}
    for name, text in files.items():
        (hf / name).write_text(text)
    with pytest.raises(CheckpointError, match="is not empty and is not a genzoo checkpoint.*new or empty folder"):
        genzoo.save(toy(), hf)
    assert {p.name: p.read_text() for p in hf.iterdir()} == files  # nothing deleted, nothing added


def test_cli_convert_refuses_a_foreign_output_folder(tmp_path, capsys):
    from test_pix2pix import random_state, resnet_layout

    torch.save(random_state(resnet_layout(ngf=4, n_blocks=1)), tmp_path / "latest_net_G.pth")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "train.py").write_text("print(1)")
    import genzoo.convert

    def no_convert(*args, **kwargs):
        raise AssertionError("converted before the output folder was checked")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(genzoo.convert, "convert", no_convert)
        assert main(["convert", "cyclegan", str(tmp_path / "latest_net_G.pth"), "-o", str(hf)]) == 1
    err = capsys.readouterr().err
    assert "is not a genzoo checkpoint" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in hf.iterdir()) == ["config.json", "train.py"]
    assert main(["convert", "cyclegan", str(tmp_path / "latest_net_G.pth"), "-o", str(tmp_path / "ok")]) == 0
    assert read_meta(tmp_path / "ok")["family"] == "cyclegan"


def test_saving_over_a_checkpoint_keeps_the_users_files(tmp_path):
    out = genzoo.save(toy(1), tmp_path / "out")
    (out / "notes.txt").write_text("lr 1e-4 was better")
    (out / "samples").mkdir()
    (out / "samples" / "a.png").write_bytes(b"png")
    new = toy(2)
    genzoo.save(new, out)
    assert (out / "notes.txt").read_text() == "lr 1e-4 was better" and (out / "samples" / "a.png").read_bytes() == b"png"
    assert same_weights(genzoo.load(out), new)
    assert not [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]


def test_a_partial_model_saved_back_keeps_what_it_did_not_load(tmp_path):
    full = toy(1)
    out = genzoo.save(full, tmp_path / "out")
    disc = (out / "discriminator.safetensors").read_bytes()
    part = genzoo.load(out, components=["generator"])
    with torch.no_grad():
        part.generator.fc.weight.add_(1.0)  # fine-tuned
    genzoo.save(part, out)
    assert (out / "discriminator.safetensors").read_bytes() == disc
    meta = read_meta(out)
    assert meta["components"] == {"generator": "generator.safetensors", "discriminator": "discriminator.safetensors"}
    both = genzoo.load(out, verify=True)
    assert torch.equal(both.generator.fc.weight, part.generator.fc.weight)
    assert torch.equal(both.discriminator.norm.running_mean, full.discriminator.norm.running_mean)
    # a config.json from before a field existed (it takes its default) is the same config
    meta = json.loads((out / "config.json").read_text())
    del meta["config"]["noise_dim"]
    (out / "config.json").write_text(json.dumps(meta))
    genzoo.save(genzoo.load(out, components=["generator"]), out)
    assert (out / "discriminator.safetensors").read_bytes() == disc
    # over a checkpoint of another config the old discriminator cannot be kept: the new model replaces it
    other = genzoo.save(toy(3, noise_dim=4), tmp_path / "other")
    genzoo.save(part, other)
    assert read_meta(other)["components"] == {"generator": "generator.safetensors"}
    assert not (other / "discriminator.safetensors").exists()


def test_save_never_overwrites_a_file_the_checkpoint_does_not_list(tmp_path):
    part = genzoo.load(genzoo.save(toy(), tmp_path / "full"), components=["generator"])
    out = genzoo.save(part, tmp_path / "gen-only")
    (out / "discriminator.safetensors").write_bytes(b"my own file")
    with pytest.raises(CheckpointError, match="already has discriminator.safetensors, which its config.json does not list"):
        genzoo.save(toy(), out)
    assert (out / "discriminator.safetensors").read_bytes() == b"my own file"
    assert read_meta(out)["components"] == {"generator": "generator.safetensors"}


def test_a_failed_save_into_a_new_folder_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("genzoo.checkpoint.render_card", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        genzoo.save(toy(), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_save_into_the_working_directory(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    out = genzoo.save(toy(1), ".")
    assert out == here and read_meta(here)["name"] == "here" and (here / "generator.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]  # nothing staged in the parent
    new = toy(2)
    genzoo.save(new, ".")  # "." is now a genzoo checkpoint: replaced in place
    assert same_weights(genzoo.load("."), new)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "data.csv").write_text("1,2")
    monkeypatch.chdir(busy)
    with pytest.raises(CheckpointError, match=r"busy is not empty and is not a genzoo checkpoint"):
        genzoo.save(toy(), ".")


@pytest.mark.parametrize("umask, dir_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_saved_folders_honour_the_umask(tmp_path, umask, dir_mode, file_mode):
    old = os.umask(umask)
    try:
        out = genzoo.save(genzoo.create("clip"), tmp_path / "m")  # extra files too
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == dir_mode
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert "vocab.json" in modes and set(modes.values()) == {file_mode}, modes




# -- interrupted saves -----------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import torch, genzoo, genzoo.checkpoint as ck

    target, flag, phase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    torch.manual_seed(2)
    model = genzoo.create("toy", width=4)

    def pause():
        flag.write_text(str(os.getpid()))
        time.sleep(120)

    if phase == "move":  # stop right after the first file is moved into the checkpoint
        real = os.replace
        def replace(src, dst, *a, **k):
            real(src, dst, *a, **k)
            if Path(dst).parent == target:
                pause()
        os.replace = replace
    else:  # stop while staging, after the first component file is written
        real = ck.save_file
        def save_file(*a, **k):
            real(*a, **k)
            pause()
        ck.save_file = save_file
    genzoo.save(model, target)
    """
)


def kill_mid_save(tmp_path: Path, target: Path, phase: str) -> None:
    flag = tmp_path / f"paused-{phase}"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(target), str(flag), phase], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not flag.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the child never paused: {proc.communicate()[1].decode()[-2000:]}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def test_a_save_killed_while_moving_files_is_completed_on_the_next_load(tmp_path):
    out = genzoo.save(toy(1), tmp_path / "out")
    (out / "notes.txt").write_text("mine")
    kill_mid_save(tmp_path, out, "move")
    stages = [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
    assert len(stages) == 1  # the killed save's staging folder, with the files it had not moved yet
    meta = json.loads((out / "config.json").read_text())  # still the old config.json ...
    assert meta["sha256"]["generator.safetensors"] != sha256_file(out / "generator.safetensors")  # ... over a new file
    loaded = genzoo.load(out, verify=True)  # the next access rolls the save forward
    assert same_weights(loaded, toy(2))
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "config.json", "discriminator.safetensors", "generator.safetensors", "notes.txt",
    ]  # fmt: skip


def test_a_save_killed_while_staging_leaves_the_old_checkpoint(tmp_path):
    old = toy(1)
    out = genzoo.save(old, tmp_path / "out")
    kill_mid_save(tmp_path, out, "stage")
    assert [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
    assert same_weights(genzoo.load(out, verify=True), old)
    assert not [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]  # discarded


def test_a_new_folder_killed_mid_save_is_completed_on_the_next_save(tmp_path):
    out = tmp_path / "fresh"
    kill_mid_save(tmp_path, out, "move")
    assert not (out / "config.json").exists()
    genzoo.save(toy(5), tmp_path / "other-name")  # a save elsewhere does not touch it
    assert [p for p in out.iterdir() if p.name.startswith(STAGE_PREFIX)]
    assert same_weights(genzoo.load(out), toy(2))


def test_stale_stages_of_dead_processes_are_removed_but_never_a_live_ones(tmp_path):
    out = genzoo.save(toy(1), tmp_path / "out")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stages = {pid: out / f"{STAGE_PREFIX}{HOST}-{pid}-0badc0de" for pid in (dead.pid, alive.pid, os.getpid())}
        stages["other machine"] = out / f"{STAGE_PREFIX}othermachine-{dead.pid}-0badc0de"  # a shared file system
        for stage in stages.values():
            stage.mkdir()
            (stage / "generator.safetensors").write_bytes(b"half written")
        genzoo.save(toy(2), out)
        assert not stages[dead.pid].exists()
        assert stages[alive.pid].is_dir() and stages[os.getpid()].is_dir() and stages["other machine"].is_dir()
        assert (stages[alive.pid] / "generator.safetensors").read_bytes() == b"half written"
        assert same_weights(genzoo.load(out), toy(2))  # and they do not disturb loading
    finally:
        alive.kill()
        alive.wait()


# -- path confinement --------------------------------------------------------------
@pytest.mark.parametrize("name", ["ABS", "../elsewhere/generator.safetensors", "../../../../etc/passwd", "a//b", "c:\\x"])
def test_component_paths_must_stay_inside_the_folder(tmp_path, name, monkeypatch):
    elsewhere = genzoo.save(toy(), tmp_path / "elsewhere")
    out = genzoo.save(toy(), tmp_path / "out")
    name = str(elsewhere / "generator.safetensors") if name == "ABS" else name
    rewrite_meta(out, components={"generator": name, "discriminator": "discriminator.safetensors"})
    opened = []
    monkeypatch.setattr("genzoo.checkpoint.load_file", lambda p, **k: opened.append(p))
    with pytest.raises(CheckpointError, match="not a plain relative path inside the checkpoint folder"):
        genzoo.load(out)
    assert opened == []


def test_symlinks_out_of_the_folder_are_refused(tmp_path):
    secret = genzoo.save(toy(7), tmp_path / "secret")
    out = genzoo.save(toy(), tmp_path / "out")
    g = out / "generator.safetensors"
    g.unlink()
    g.symlink_to(secret / "generator.safetensors")
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        genzoo.load(out)
    g.unlink()
    (out / "sub").symlink_to(secret, target_is_directory=True)  # a folder link: sub/x resolves outside
    rewrite_meta(out, components={"generator": "sub/generator.safetensors"})
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        genzoo.load(out)
    (out / "sub").unlink()
    (out / "weights").mkdir()
    (out / "weights" / "g.safetensors").write_bytes((secret / "generator.safetensors").read_bytes())
    (out / "generator.safetensors").symlink_to("weights/g.safetensors")  # a link within the folder is fine
    rewrite_meta(out, components={"generator": "generator.safetensors"}, sizes={}, sha256={})
    assert torch.equal(genzoo.load(out).generator.fc.weight, toy(7).generator.fc.weight)


def test_group_names_must_be_identifiers_and_extra_files_are_confined(tmp_path):
    out = genzoo.save(toy(), tmp_path / "out")
    rewrite_meta(out, components={"../gen": "generator.safetensors"})
    with pytest.raises(CheckpointError, match="component group '../gen', which is not a plain identifier"):
        genzoo.load(out)
    rewrite_meta(out, components={"generator": "generator.safetensors"}, extra_files=["../secret.txt"])
    with pytest.raises(CheckpointError, match="'../secret.txt', which is not a plain relative path"):
        genzoo.load(out)
    (tmp_path / "secret.txt").write_text("secret")
    (out / "vocab.json").symlink_to(tmp_path / "secret.txt")
    rewrite_meta(out, extra_files=["vocab.json"])
    with pytest.raises(CheckpointError, match="vocab.json resolves to .*secret.txt, outside the checkpoint folder"):
        genzoo.load(out)


def test_a_family_extra_file_symlinked_out_is_refused(tmp_path):
    out = genzoo.save(genzoo.create("clip"), tmp_path / "clip")
    (tmp_path / "vocab.json").write_bytes((out / "vocab.json").read_bytes())
    (out / "vocab.json").unlink()
    (out / "vocab.json").symlink_to(tmp_path / "vocab.json")
    with pytest.raises(CheckpointError, match="vocab.json resolves to .* outside the checkpoint folder"):
        genzoo.load(out)


def hub_cache_layout(root: Path, repo: str, source: Path) -> Path:
    """A Hugging Face cache repo made by hand: snapshots/<sha>/<file> -> ../../blobs/<hash>."""
    base = root / f"models--{repo.replace('/', '--')}"
    snap = base / "snapshots" / ("a" * 40)
    (base / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for f in source.iterdir():
        blob = base / "blobs" / sha256_file(f)
        blob.write_bytes(f.read_bytes())
        (snap / f.name).symlink_to(Path("..", "..", "blobs", blob.name))
    return snap


def test_hub_cache_symlinks_into_the_repos_own_blobs_load(tmp_path):
    model = toy(4)
    snap = hub_cache_layout(tmp_path / "hub", "me/toy", genzoo.save(model, tmp_path / "src"))
    assert same_weights(genzoo.load(snap, verify=True), model)
    other = hub_cache_layout(tmp_path / "hub", "evil/other", genzoo.save(toy(5), tmp_path / "src2"))
    g = snap / "generator.safetensors"
    g.unlink()
    g.symlink_to(os.path.relpath(os.path.realpath(other / "generator.safetensors"), snap))  # another repo's blob
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        genzoo.load(snap)


# -- integrity ---------------------------------------------------------------------
def test_sha256_is_recorded_and_checked_on_request(tmp_path, capsys):
    out = genzoo.save(toy(), tmp_path / "out")
    meta = read_meta(out)
    assert meta["sha256"] == {f: sha256_file(out / f) for f in ("generator.safetensors", "discriminator.safetensors")}
    assert main(["verify", str(out)]) == 0
    assert "verified" in capsys.readouterr().out
    flip_last_byte(out / "generator.safetensors")
    genzoo.load(out)  # the default load does not hash (sizes only): see docs/checkpoints.md
    with pytest.raises(IntegrityError, match=r"generator.safetensors does not match its sha256 in config.json"):
        genzoo.load(out, verify=True)
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "generator.safetensors does not match its sha256" in err and len(err.strip().splitlines()) == 1


def test_old_checkpoints_without_hashes_verify_sizes_only(capsys):
    assert main(["verify", "vae-digits", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["files"].values()) == {"size"}
    assert main(["verify", "clip-digits"]) == 0
    text = capsys.readouterr().out
    assert "size ok (no sha256 recorded)" in text and "vocab.json" in text and "0 of 5 files by sha256" in text
    assert genzoo.load("vae-digits", verify=True).loaded_components()


def test_malformed_hash_records_are_refused(tmp_path):
    out = genzoo.save(toy(), tmp_path / "out")
    rewrite_meta(out, sha256={"generator.safetensors": "not-hex"})
    with pytest.raises(CheckpointError, match="'sha256' must map file names to 64 lowercase hex digits"):
        genzoo.load(out)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubServer(tmp_path_factory.mktemp("hub")) as server:
        yield server


def test_hub_downloads_are_verified_and_pull_rechecks_the_cache(hub, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    bad = genzoo.save(toy(1), tmp_path / "bad")
    meta = json.loads((bad / "config.json").read_text())
    meta["sha256"]["generator.safetensors"] = "0" * 64
    (bad / "config.json").write_text(json.dumps(meta))
    hub.publish("genzoo-test/bad", bad)
    with pytest.raises(IntegrityError, match="generator.safetensors does not match its sha256.*Hugging Face cache"):
        genzoo.load("genzoo-test/bad")  # checked right after the download

    model = toy(2)
    hub.publish("genzoo-test/good", genzoo.save(model, tmp_path / "good"))
    assert same_weights(genzoo.load("genzoo-test/good"), model)
    cached = next((Path(os.environ["HF_HOME"]) / "hub").glob("models--genzoo-test--good/snapshots/*/generator.safetensors"))
    blob = Path(os.path.realpath(cached))
    blob.chmod(0o644)
    flip_last_byte(blob)  # the cache goes bad after the download
    genzoo.load("genzoo-test/good")  # a cached file is not re-hashed by default
    with pytest.raises(IntegrityError, match="generator.safetensors does not match"):
        genzoo.load("genzoo-test/good", verify=True)
    assert main(["pull", "genzoo-test/good"]) == 1
    assert "generator.safetensors does not match its sha256" in capsys.readouterr().err
    assert main(["verify", "genzoo-test/good"]) == 1
    assert f"delete {blob}" in capsys.readouterr().err


# -- NaN/Inf, dtype ------------------------------------------------------------------
def test_non_finite_weights_warn_on_save_convert_and_verified_load(tmp_path):
    model = toy()
    with torch.no_grad():
        model.generator.fc.weight[0, 0] = float("nan")
        model.discriminator.head.bias.fill_(float("inf"))
    with pytest.warns(NonFiniteWeightsWarning) as caught:
        out = genzoo.save(model, tmp_path / "out")
    assert sorted(str(w.message).split(": ", 1)[1] for w in caught) == [
        "1 tensor(s) hold NaN or Inf values: discriminator.head.bias",
        "1 tensor(s) hold NaN or Inf values: generator.fc.weight",
    ]
    assert caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        genzoo.load(out)  # the default load does not scan values
    with pytest.warns(NonFiniteWeightsWarning, match="generator.fc.weight"):
        genzoo.load(out, verify=True)

    from test_pix2pix import random_state, resnet_layout

    from genzoo.convert import convert

    state = random_state(resnet_layout(ngf=4, n_blocks=1))
    state["model.1.weight"][0] = float("inf")
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.warns(NonFiniteWeightsWarning, match=r"converting .*latest_net_G.pth: 1 tensor\(s\) hold NaN or Inf"):
        convert("cyclegan", tmp_path / "latest_net_G.pth")


def test_dtype_rule_one_floating_dtype_integer_buffers_kept(tmp_path):
    model = toy()
    model.discriminator(torch.randn(4, 1, 8, 8))
    model.generator.half()  # a mixed checkpoint: fp16 generator, fp32 discriminator
    with pytest.raises(DtypeError, match=r"mix dtypes: .*float16.*model.to\(torch.float32\)"):
        model.dtype
    out = genzoo.save(model, tmp_path / "mixed")
    loaded = genzoo.load(out)
    assert loaded.dtype == torch.float32
    assert {t.dtype for t in loaded.state_dict().values() if t.is_floating_point()} == {torch.float32}
    assert loaded.discriminator.norm.num_batches_tracked.dtype == torch.int64
    assert loaded.sample(2, seed=0).dtype == torch.float32  # usable, not failing at use
    half = genzoo.save(toy().half(), tmp_path / "half")
    assert genzoo.load(half).dtype == torch.float32  # dtype=None is float32, whatever the file stores
    bf = genzoo.load(out, dtype="bf16")
    assert {t.dtype for t in bf.state_dict().values() if t.is_floating_point()} == {torch.bfloat16}
    assert bf.dtype == torch.bfloat16 and bf.discriminator.norm.num_batches_tracked.dtype == torch.int64


# -- network errors and push ----------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_push_with_the_hub_unreachable_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    folder = genzoo.save(toy(), tmp_path / "m")
    with pytest.raises(HubError, match=r"pushing .* to me/x failed: cannot reach http://127.0.0.1:\d+ \(ConnectError"):
        genzoo.push_to_hub(folder, "me/x")
    assert main(["push", str(folder), "me/x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("genzoo: error: pushing") and len(err.strip().splitlines()) == 1


def test_a_dropped_download_is_a_hub_error(monkeypatch):
    httpx2 = pytest.importorskip("httpx2")
    import genzoo.hub

    def dropped(*a, **k):
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")

    monkeypatch.setattr(genzoo.hub, "hf_hub_download", dropped)
    with pytest.raises(HubError, match="could not download config.json of me/x@main .*RemoteProtocolError: peer closed"):
        genzoo.load("me/x")


def test_push_sends_only_genzoo_files_and_never_a_corrupt_one(tmp_path, monkeypatch):
    import genzoo.hub

    sent = []

    class Api:
        def __init__(self, **kw):
            pass

        def create_repo(self, *a, **k):
            pass

        def upload_folder(self, **kw):  # what is in the uploaded folder, read while it exists
            staged = Path(kw["folder_path"])
            sent.append({"files": sorted(p.name for p in staged.iterdir()), "card": (staged / "README.md").read_text()})

    monkeypatch.setattr(genzoo.hub, "HfApi", Api)
    folder = genzoo.save(toy(), tmp_path / "m")
    (folder / "notes.txt").write_text("private")
    genzoo.push_to_hub(folder, "me/x")
    assert sent[0]["files"] == [
        "README.md", "config.json", "discriminator.safetensors", "generator.safetensors",
    ]  # fmt: skip
    assert 'genzoo.load("me/x")' in sent[0]["card"]  # the card loads from the repo it is pushed to
    flip_last_byte(folder / "discriminator.safetensors")
    with pytest.raises(IntegrityError, match="discriminator.safetensors does not match"):
        genzoo.push_to_hub(folder, "me/x")
    assert len(sent) == 1


def test_the_same_model_saved_in_different_processes_gives_the_same_bytes(tmp_path):
    """safetensors writes metadata in a per-process hash order; genzoo sorts it so a file's sha256 is stable."""
    code = (
        "import sys, torch, genzoo\n"
        "torch.manual_seed(0)\n"
        "genzoo.save(genzoo.create('toy'), sys.argv[1])\n"
    )
    hashes = set()
    for i in range(3):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"m{i}")], check=True, timeout=120)
        hashes.add(read_meta(tmp_path / f"m{i}")["sha256"]["generator.safetensors"])
    assert len(hashes) == 1
