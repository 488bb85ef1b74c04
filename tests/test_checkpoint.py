"""The folder format: round trips, partial loads, dtype/device, and every way a checkpoint can be bad."""

import json
import pickle
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

import genzoo
from genzoo.checkpoint import FORMAT_VERSION, read_meta
from genzoo.errors import CheckpointError, ConfigError, FormatVersionError, MissingComponentError


@pytest.fixture
def trained_toy():
    torch.manual_seed(0)
    m = genzoo.create("toy", width=4)
    m.discriminator(torch.randn(8, 1, 8, 8))  # update BatchNorm running stats (non-trivial buffers)
    return m


def test_save_writes_the_folder_format(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out", name="toy-demo", card={"license": "mit", "dataset": "digits"})
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "config.json", "discriminator.safetensors", "generator.safetensors",
    ]  # fmt: skip
    meta = json.loads((out / "config.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["family"] == "toy" and meta["config"]["width"] == 4
    assert meta["components"] == {"generator": "generator.safetensors", "discriminator": "discriminator.safetensors"}
    with safe_open(out / "generator.safetensors", "pt") as f:
        assert all(k.startswith("generator.") for k in f.keys())
        assert f.metadata()["genzoo_component"] == "generator"
    card = (out / "README.md").read_text()
    front = card.split("---")[1]
    assert "library_name: genzoo" in front and "license: mit" in front and "- digits" in front
    assert "pipeline_tag: unconditional-image-generation" in front and "# toy-demo" in card


def test_round_trip_is_bit_exact(trained_toy, tmp_path):
    genzoo.save(trained_toy, tmp_path / "out")
    loaded = genzoo.load(tmp_path / "out")
    a, b = trained_toy.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    assert not loaded.training  # load returns eval mode
    assert torch.equal(trained_toy.eval().sample(3, seed=7), loaded.sample(3, seed=7))


def test_load_to_dtype_keeps_integer_buffers(trained_toy, tmp_path):
    genzoo.save(trained_toy, tmp_path / "out")
    m = genzoo.load(tmp_path / "out", dtype="bf16")
    assert m.generator.fc.weight.dtype == torch.bfloat16
    assert m.discriminator.norm.num_batches_tracked.dtype == torch.int64
    ref = trained_toy.generator.fc.weight.to(torch.bfloat16)
    assert torch.equal(m.generator.fc.weight, ref)


def test_load_one_component_reads_only_its_file(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out")
    (out / "discriminator.safetensors").unlink()  # if it were read, loading would fail
    m = genzoo.load(out, components=["generator"])
    assert m.loaded_components() == ["generator"]
    assert m.sample(2, seed=0).shape == (2, 1, 8, 8)
    with pytest.raises(MissingComponentError, match="components=\\['generator'\\].*'discriminator'"):
        m.score(torch.zeros(1, 1, 8, 8))
    with pytest.raises(MissingComponentError, match="'discriminator' is missing"):
        m.discriminator(torch.zeros(1, 1, 8, 8))
    assert genzoo.load(out, components="inference").loaded_components() == ["generator"]
    # saving a partial model writes only what it has
    again = genzoo.save(m, tmp_path / "partial")
    assert read_meta(again)["components"] == {"generator": "generator.safetensors"}


def test_unknown_component_lists_available(trained_toy, tmp_path):
    genzoo.save(trained_toy, tmp_path / "out")
    with pytest.raises(MissingComponentError, match="no component 'encoder'; it has: generator, discriminator"):
        genzoo.load(tmp_path / "out", components=["encoder"])


def test_no_random_init_on_load(trained_toy, tmp_path, monkeypatch):
    genzoo.save(trained_toy, tmp_path / "out")
    calls = []
    orig = torch.nn.Linear.reset_parameters

    def spy(self):
        calls.append(self.weight.device.type)
        return orig(self)

    monkeypatch.setattr(torch.nn.Linear, "reset_parameters", spy)
    genzoo.load(tmp_path / "out")
    assert calls and set(calls) == {"meta"}  # initialisers only ever ran on the meta device


def test_truncated_file_is_a_clear_error(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out")
    f = out / "generator.safetensors"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        genzoo.load(out)


def test_corrupt_safetensors_header_is_a_clear_error(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out")
    f = out / "generator.safetensors"
    size = f.stat().st_size
    f.write_bytes(b"\xff" * size)  # same size, garbage content
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        genzoo.load(out)


def test_missing_file_and_missing_config(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out")
    (out / "discriminator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="discriminator.safetensors is missing"):
        genzoo.load(out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        genzoo.load(out)
    (out / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        genzoo.load(out)


def test_newer_format_version_is_refused(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out")
    meta = json.loads((out / "config.json").read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(FormatVersionError, match="pip install -U genzoo"):
        genzoo.load(out)


def test_mismatched_weights_list_missing_unexpected_and_shapes(trained_toy, tmp_path):
    out = genzoo.save(trained_toy, tmp_path / "out")
    meta = json.loads((out / "config.json").read_text())
    meta["config"]["width"] = 6  # the weights were made with width 4
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"shape mismatches: .*generator.fc.bias: checkpoint \(64,\) vs model \(96,\) \(and 2 more\)"):
        genzoo.load(out)

    from safetensors.torch import load_file, save_file

    out2 = genzoo.save(trained_toy, tmp_path / "out2")
    g = out2 / "generator.safetensors"
    tensors = load_file(g)
    tensors["generator.extra"] = torch.zeros(1)
    del tensors["generator.fc.bias"]
    save_file(tensors, g)
    meta = json.loads((out2 / "config.json").read_text())
    meta["sizes"]["generator.safetensors"] = g.stat().st_size
    (out2 / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="(?s)missing keys: generator.fc.bias.*unexpected keys: generator.extra"):
        genzoo.load(out2)
    # non-strict: the missing key is freshly initialised, the rest is the checkpoint's
    m = genzoo.load(out2, strict=False)
    assert torch.equal(m.generator.fc.weight, trained_toy.generator.fc.weight)
    assert not m.generator.fc.bias.is_meta


def test_unknown_config_field_suggests(trained_toy, tmp_path):
    with pytest.raises(ConfigError, match="no field 'widht' \\(did you mean 'width'\\?\\)"):
        genzoo.create("toy", widht=3)


def test_save_is_atomic_and_never_mixes_with_other_files(trained_toy, tmp_path, monkeypatch):
    out = genzoo.save(trained_toy, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import genzoo.checkpoint as ck

    def boom(*a, **k):
        raise RuntimeError("disk full")

    bigger = genzoo.create("toy", width=6)
    monkeypatch.setattr(ck, "render_card", boom)  # fail after the weights are written
    with pytest.raises(RuntimeError, match="disk full"):
        genzoo.save(bigger, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old checkpoint untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp folders left
    monkeypatch.undo()

    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="not empty and is not a genzoo checkpoint"):
        genzoo.save(trained_toy, other)


def test_load_path_never_unpickles(trained_toy, tmp_path, monkeypatch):
    genzoo.save(trained_toy, tmp_path / "out")

    def forbidden(*a, **k):
        raise AssertionError("pickle used on the load path")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    genzoo.load(tmp_path / "out")


def test_a_loaded_model_keeps_its_name_when_saved_again(trained_toy, tmp_path):
    genzoo.save(trained_toy, tmp_path / "first", name="toy-demo")
    again = genzoo.save(genzoo.load(tmp_path / "first"), tmp_path / "second")
    assert read_meta(again)["name"] == "toy-demo" and "# toy-demo" in (again / "README.md").read_text()


def test_inference_components_fall_back_to_what_the_checkpoint_has():
    from genzoo.checkpoint import select_components

    meta = {"family": "gan", "components": {"generator": "g.safetensors", "discriminator": "d.safetensors"}}
    assert select_components(meta, "inference", ("generator_ema", "generator")) == ["generator"]
    assert select_components(meta, "inference", ("generator_ema",)) == ["generator", "discriminator"]


def test_meta_builds_skip_weight_init_but_keep_everything_else():
    """Init on meta tensors is wasted work (and in torch 2.14 its first normal_ imports torch._dynamo)."""
    from genzoo.model import _SkipMetaFills, meta_device

    calls = []

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(4, 3)
            self.b = torch.nn.Linear(3, 2)
            torch.nn.init.normal_(self.a.weight, 0.0, 0.02)
            self.b.weight.data.uniform_(-1, 1)
            self.b.requires_grad_(False)  # not a fill: it must still happen
            calls.append(self.a.weight.device.type)

    with meta_device():
        net = Net()
    assert calls == ["meta"] and net.a.weight.is_meta and not net.b.weight.requires_grad
    plain = Net()  # outside the block, init runs as usual
    assert 0 < plain.a.weight.std() < 0.05 and not plain.a.weight.is_meta
    fill = torch.zeros(3)
    with _SkipMetaFills():
        fill.fill_(2.0)  # a real tensor is filled even inside the mode
    assert fill.tolist() == [2.0, 2.0, 2.0]


def test_loading_a_bundled_model_does_not_import_dynamo():
    """A cold `genzoo.load` stays fast: no torch._dynamo import from init on the meta device."""
    code = "import sys, genzoo; genzoo.load('dcgan-digits'); genzoo.load('pix2pix-digits-edges'); print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
