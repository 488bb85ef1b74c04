"""Every bad input gets one clear line and a non-zero exit, never a traceback (issue 11).

Bad config values, bad numbers, devices, labels and sizes, images too large
to open, outputs that would overwrite inputs, a closed stdout, anything
unforeseen, a damaged checkpoint to resume from; and converters that read
tensors only, never running code from a file.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Tuple

import pytest
import torch

import genzoo
from genzoo.cli import main
from genzoo.errors import CheckpointError, ConfigError


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The single ``genzoo: error: ...`` line of ``err`` (warnings may come before it)."""
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("genzoo: error:")]
    assert len(lines) == 1, err
    return lines[0]


def argparse_error(capsys, *argv) -> str:
    """Run a command that argparse must refuse (exit 2); return its error line."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    return err.strip().splitlines()[-1]


def png(path: Path, size: tuple[int, int] = (8, 8)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width`` x ``height`` pixels; PIL judges the size from the header alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))
    return path


# -- bad config values: --set and config.json ----------------------------------------
@pytest.mark.parametrize(
    "setting, message",
    [
        ("latent_dim=-3", "vae config: latent_dim must be an integer >= 1, got -3"),
        ("latent_dim=abc", "vae config: latent_dim must be an integer >= 1, got 'abc'"),
        ("latent_dim=1e9", "vae config: latent_dim must be an integer >= 1, got 1000000000.0"),
        ("widths=[]", "vae config: widths must be a list of integers, each >= 1 (at least one), got []"),
        ("lr=-1", "vae config: lr must be a number > 0, got -1"),
        ("beta=NaN", "vae config: beta must be a number >= 0, got nan"),
        ("levels=true", "vae config: levels must be an integer >= 1, got True"),
    ],
)
def test_bad_config_values_through_set_name_the_field(setting, message, tmp_path, capsys):
    code, _, err = run(capsys, "train", "vae", "--data", "digits", "-o", tmp_path / "run", "--set", setting)
    assert code == 1 and one_error_line(err) == f"genzoo: error: {message}"
    assert not (tmp_path / "run").exists()


def test_declared_ranges_and_the_default_rule():
    with pytest.raises(ConfigError, match=r"gan config: betas must be a list of numbers, each in \[0, 1\) \(at least one\), got \[0.5, 1.5\]"):
        genzoo.create("gan", betas=[0.5, 1.5])
    with pytest.raises(ConfigError, match="autoencoder config: mask_prob must be a number in \\[0, 1\\), got 1"):
        genzoo.create("autoencoder", mask_prob=1)
    with pytest.raises(ConfigError, match="clip config: class_names must be a list of strings or null"):
        genzoo.create("clip", class_names=["a", 3])
    assert genzoo.create("cyclegan", image_size=32, ngf=4, ndf=4, netG="resnet_2blocks", pool_size=0).config.pool_size == 0
    assert genzoo.create("clip", augment_shift=0, warmup_steps=0).config.augment_shift == 0  # declared: 0 means none
    assert genzoo.create("vae", lr=1).config.lr == 1  # an int is a fine float


def _saved(tmp_path: Path, edit) -> Path:
    folder = genzoo.save(genzoo.create("vae", widths=[4], latent_dim=2), tmp_path / "m")
    meta = json.loads((folder / "config.json").read_text())
    edit(meta)
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["config"].update(latent_dim=-3), "vae config: latent_dim must be an integer >= 1, got -3"),
        (lambda m: m["config"].update(beta="high"), "vae config: beta must be a number >= 0, got 'high'"),
        (lambda m: m.update(family=None), '"family" must be a family name such as "vae", got None'),
        (lambda m: m.update(components=["encoder.safetensors"]), '"components" must be an object of group name -> file name'),
    ],
)
def test_bad_config_json_is_one_line(edit, message, tmp_path, capsys):
    folder = _saved(tmp_path, edit)
    code, _, err = run(capsys, "run", folder, "-o", tmp_path / "out.png")
    assert code == 1 and message in one_error_line(err)
    assert not (tmp_path / "out.png").exists()


# -- bad numbers, devices, labels, sizes ------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "vae-digits", "--n", "0"], "argument --n: must be at least 1, got 0"),
        (["run", "vae-digits", "--n", "-5"], "argument --n: must be at least 1, got -5"),
        (["run", "vae-digits", "--scale", "0"], "argument --scale: must be at least 1, got 0"),
        (["run", "vae-digits", "--nrow", "0"], "argument --nrow: must be at least 1, got 0"),
        (["run", "vae-digits", "--n", "many"], "argument --n: expected a whole number >= 1, got 'many'"),
        (["run", "vae-digits", "--device", "tpu"], "argument --device: unknown device 'tpu'; use auto, cpu, cuda, cuda:N or mps"),
        (["train", "vae", "--data", "no-such-data", "-o", "x", "--steps", "0"], "argument --steps: must be at least 1, got 0"),
        (["train", "vae", "--data", "no-such-data", "-o", "x", "--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["train", "vae", "--data", "no-such-data", "-o", "x", "--device", "tpu"], "unknown device 'tpu'"),
        (["bench", "vae-digits", "--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    ],
)
def test_zero_and_negative_numbers_are_errors_not_defaults(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in argparse_error(capsys, *argv)
    assert not (tmp_path / "x").exists()


def test_labels_out_of_range_and_reversed(tmp_path, capsys):
    code, _, err = run(capsys, "run", "cgan-digits", "--labels", "99", "-o", tmp_path / "c.png")
    assert code == 1 and one_error_line(err) == "genzoo: error: labels must be class ids in 0..9, got [99]"
    code, _, err = run(capsys, "run", "cgan-digits", "--labels", "7-2", "-o", tmp_path / "c.png")
    assert code == 1 and "--labels '7-2': use ids like '0-9'" in one_error_line(err)
    assert not (tmp_path / "c.png").exists()


def test_huge_scale_is_refused_before_allocating(tmp_path, capsys):
    code, _, err = run(capsys, "run", "vae-digits", "--n", "4", "--scale", "100000", "-o", tmp_path / "s.png")
    line = one_error_line(err)
    assert code == 1 and "--scale 100000 would make 4 images of 1600000x1600000 pixels" in line
    most = int(re.search(r"use --scale (\d+) or less", line)[1])
    assert run(capsys, "run", "vae-digits", "--n", "4", "--scale", most, "-o", tmp_path / "s.png")[0] == 0


def test_an_image_too_large_to_open_is_one_line(tmp_path, capsys):
    png_header_only(tmp_path / "in" / "big.png", 20000, 20000)
    code, _, err = run(capsys, "run", "pix2pix-digits-edges", tmp_path / "in", "-o", tmp_path / "out", "--json")
    line = one_error_line(err)
    assert code == 1 and "big.png is too large to open safely" in line and "MAX_IMAGE_PIXELS" in line


def test_keep_size_on_an_image_too_small_for_the_network(tmp_path, capsys):
    png(tmp_path / "in" / "dot.png", (1, 1))
    code, _, err = run(capsys, "run", "cyclegan-digits-bold", tmp_path / "in", "--keep-size", "-o", tmp_path / "out", "--json")
    line = one_error_line(err)
    assert code == 1 and "cannot translate dot.png at their own size with --keep-size" in line and "drop --keep-size" in line


def test_grid_options_with_an_input_folder_are_refused(tmp_path, capsys):
    png(tmp_path / "in" / "a.png")
    code, _, err = run(capsys, "run", "pix2pix-digits-edges", tmp_path / "in", "--n", "5", "-o", tmp_path / "out")
    assert code == 1 and "--n: not used when translating the folder" in one_error_line(err)
    assert not (tmp_path / "out").exists()


# -- -o: asked for before loading, never over the inputs --------------------------------
def test_missing_output_is_reported_before_the_model_loads(capsys, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before -o was checked")

    monkeypatch.setattr(genzoo.api, "load", no_load)
    code, _, err = run(capsys, "run", "vae-digits")
    assert code == 1 and "-o/--output is required: this task makes images" in one_error_line(err)
    code, _, err = run(capsys, "run", "pix2pix-digits-edges", ".")
    assert code == 1 and "-o/--output is required" in one_error_line(err)


def test_zero_shot_needs_no_output(capsys):
    code, out, _ = run(capsys, "run", "clip-digits", "--zero-shot", "--n", "2")
    assert code == 0 and "prediction" in out


@pytest.mark.parametrize("where", ["same", "inside", "holds"])
def test_outputs_never_overwrite_inputs(where, tmp_path, capsys):
    src = tmp_path / "photos"
    a = png(src / "a.png")
    before = a.read_bytes()
    source, out = {
        "same": (src, src),  # the issue: -o INPUT_DIR wrote the outputs over the inputs
        "inside": (src, src / "translated"),
        "holds": (src / "a.png", src),  # an input file inside the output folder
    }[where]
    code, _, err = run(capsys, "run", "pix2pix-digits-edges", source, "-o", out, "--json")
    assert code == 1 and "the outputs would overwrite or mix with the inputs" in one_error_line(err)
    assert a.read_bytes() == before and sorted(p.name for p in src.rglob("*")) == ["a.png"]
    code, _, err = run(capsys, "run", "vae-digits", "--task", "reconstruct", "--input", a, "-o", a)
    assert code == 1 and "is the input itself" in one_error_line(err) and a.read_bytes() == before


def test_translate_folder_refuses_overlap_through_the_api_too(tmp_path):
    from genzoo.tasks import translate_folder

    src = tmp_path / "photos"
    png(src / "a.png")
    model = genzoo.load("pix2pix-digits-edges")
    with pytest.raises(ConfigError, match="is inside the input folder"):
        translate_folder(model, src, src / "out", progress=False)
    assert [p.name for p in src.rglob("*")] == ["a.png"]


# -- the last resort, network errors, a closed stdout -----------------------------------
def test_anything_unforeseen_is_one_line_with_a_debug_hint(capsys, monkeypatch):
    def broken(name):
        raise RuntimeError("something deep broke\nwith a second line")

    monkeypatch.setattr(genzoo.api, "info", broken)
    code, _, err = run(capsys, "info", "vae-digits")
    assert code == 1
    assert err == "genzoo: error: RuntimeError: something deep broke (run with --debug for the traceback)\n"
    with pytest.raises(RuntimeError, match="something deep broke"):
        main(["info", "vae-digits", "--debug"])


def test_a_network_error_during_push_is_one_line(tmp_path, capsys, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    folder = genzoo.save(genzoo.create("toy"), tmp_path / "toy")
    code, _, err = run(capsys, "push", folder, "me/toy")
    assert code == 1 and one_error_line(err)


def test_a_closed_stdout_ends_quietly(tmp_path):
    # the reader is gone before genzoo writes: deterministic, unlike a race with `head`
    proc = subprocess.Popen([sys.executable, "-m", "genzoo", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == ""
    shell = subprocess.run(f"{sys.executable} -m genzoo list | head -1", shell=True, capture_output=True, text=True, timeout=120)
    assert shell.stdout.split() == ["name", "family", "plugin", "weights", "description"] and "Traceback" not in shell.stderr
    assert "Error" not in shell.stderr


# -- resuming from a damaged checkpoint --------------------------------------------------
def test_resume_skips_a_truncated_checkpoint_with_a_warning(tmp_path, capsys):
    from genzoo.recipes import train_recipe

    out = tmp_path / "run"
    argv = ["train", "autoencoder", "--data", "digits", "--batch-size", "8", "--device", "cpu", "--set", "widths=[4]",
            "--set", "latent_dim=2", "-o", out, "--json"]  # fmt: skip
    assert run(capsys, *argv, "--steps", "4")[0] == 0
    weights = out / "final" / "encoder.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a copy cut short
    with pytest.warns(UserWarning, match=r"the newest checkpoint is damaged \(final: final/encoder.safetensors .*truncated.*resuming from checkpoint-3"):
        code, out_text, err = run(capsys, *argv, "--steps", "6", "--resume")
    assert code == 0 and json.loads(out_text)["steps"] == 6 and "Traceback" not in err
    # naming the damaged one explicitly says which one to use instead
    state = out / "checkpoint-3" / "decoder.safetensors"
    state.write_bytes(state.read_bytes()[:50])
    with pytest.raises(CheckpointError, match=r"cannot resume from .*checkpoint-3: .*truncated.*; resume from .*final instead"):
        train_recipe("autoencoder", data="digits", out_dir=out, steps=8, resume=str(out / "checkpoint-3"),
                     config={"widths": [4], "latent_dim": 2}, progress=False)  # fmt: skip


def test_resume_when_every_checkpoint_is_damaged(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "autoencoder", "--data", "digits", "--batch-size", "8", "--device", "cpu", "--set", "widths=[4]",
            "--set", "latent_dim=2", "-o", out, "--json"]  # fmt: skip
    assert run(capsys, *argv, "--steps", "2")[0] == 0
    for f in out.glob("*/trainer_state.safetensors"):
        f.write_bytes(b"")
    code, _, err = run(capsys, *argv, "--steps", "4", "--resume")
    assert code == 1 and "cannot resume: every checkpoint in" in one_error_line(err) and "--overwrite" in err


# -- converters read tensors only ------------------------------------------------------
class _Scripted(torch.nn.Module):
    """A TorchScript module whose loading runs code: its __setstate__ prints a marker."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        print("GENZOO-MARKER: code in the file ran")
        self.weight = state[0]
        self.training = state[1]


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("family, name", [("clip", "ViT-B-32.pt"), ("pix2pix", "latest_net_G.pth"), ("cyclegan", "horse2zebra.pth")])
def test_converters_refuse_torchscript_without_running_it(family, name, tmp_path):
    path = tmp_path / name
    torch.jit.save(torch.jit.script(_Scripted()), str(path))
    proc = subprocess.run(
        [sys.executable, "-m", "genzoo", "convert", family, str(path), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "GENZOO-MARKER" not in proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{path} is a TorchScript archive, which genzoo does not load" in proc.stderr
    assert "torch.jit.load" in proc.stderr and ".state_dict()" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_no_converter_can_run_code_from_a_file():
    import genzoo.convert
    import genzoo.nets.reference_files
    import genzoo_clip.convert

    for module in (genzoo.convert, genzoo_clip.convert, genzoo.nets.reference_files):
        source = Path(module.__file__).read_text()
        assert "torch.jit.load(" not in source.replace("torch.jit.load({", "") and "import pickle" not in source, module
        for call in re.findall(r"torch\.load\([^)]*\)", source):
            assert "weights_only=True" in call, (module, call)
