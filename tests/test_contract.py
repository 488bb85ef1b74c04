"""The family contract: tasks declared once, read everywhere; missing components always say so."""

from __future__ import annotations

import json

import pytest
import torch

import genzoo
from genzoo import plugins
from genzoo.cli import main
from genzoo.errors import ConfigError, MissingComponentError
from genzoo.model import GenzooModel, OPTIONAL_HOOKS
from genzoo_toy.model import ToyConfig, ToyModel


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_component_error_is_not_swallowed_by_properties():
    vae = genzoo.load("vae-digits", components=["decoder"])
    x = torch.zeros(2, 1, 16, 16)
    with pytest.raises(MissingComponentError, match="'encoder'"):
        vae.reconstruct(x)
    assert not issubclass(MissingComponentError, AttributeError)
    assert vae.image_shape == (1, 16, 16)  # the input spec comes from the config, not the missing encoder
    assert vae.sample(2, seed=0).shape == (2, 1, 16, 16)  # what needs only the decoder works



@pytest.mark.parametrize("name", ["ae-digits", "dae-digits", "vae-digits", "hvae-digits", "dcgan-digits", "cgan-digits",
                                  "clip-digits", "pix2pix-digits-edges", "cyclegan-digits-bold", "toy-digits"])
def test_info_and_run_agree_on_tasks(name, capsys, tmp_path):
    info = genzoo.info(name)
    model_class = genzoo.plugins.get_registry().family(info.family).model_class()
    assert info.tasks == list(model_class.task_specs()) and info.tasks
    assert genzoo.info(info.family).tasks == info.tasks  # family and model read the same declaration
    code, out, _ = run(capsys, "info", name, "--json")
    assert code == 0 and json.loads(out)["tasks"] == info.tasks
    for task in info.tasks:
        spec = model_class.task_specs()[task]
        argv = ["run", name, "--task", task, "-o", str(tmp_path / f"{task}.png")]
        if "n" in spec.options:
            argv += ["--n", "2"]
        code, out, err = run(capsys, *argv)
        assert code == 0, f"genzoo run {name} --task {task}: {err}"
        if spec.returns == "images":
            assert (tmp_path / f"{task}.png").is_file()


def test_autoencoder_anomaly_score_runs_from_the_cli(capsys):
    code, out, err = run(capsys, "run", "ae-digits", "--task", "anomaly_score", "--n", "3", "--json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert len(rows) == 3 and all(r["anomaly_score"] > 0 for r in rows)
    code, out, _ = run(capsys, "run", "ae-digits", "--task", "anomaly_score", "--n", "2")
    assert "anomaly_score" in out.splitlines()[0] and "test digit 1" in out


def test_unknown_task_and_option_are_clear(capsys):
    code, _, err = run(capsys, "run", "ae-digits", "--task", "anomaly", "-o", "x.png")
    assert code == 1 and "no task 'anomaly'" in err and "anomaly_score" in err
    code, _, err = run(capsys, "run", "ae-digits", "--labels", "1", "-o", "x.png")
    assert code == 1 and "does not take --labels" in err and "--input" in err
    model = genzoo.load("ae-digits")
    with pytest.raises(ConfigError, match="does not take labels; it takes: n, seed, inputs"):
        model.run_task("reconstruct", labels=[1])


def test_task_declarations():
    class Base(GenzooModel):
        family = "decl"

        @genzoo.task("sample")
        def run_sample(self, n: int = 2):
            """Samples."""
            return torch.zeros(n, 1, 2, 2), n

        @genzoo.task(default=True)
        def run_other(self, seed: int = 0):
            return torch.zeros(1, 1, 2, 2), 1

    specs = Base.task_specs()
    assert list(specs) == ["other", "sample"] and Base.default_task() == "other"
    assert specs["sample"].description == "Samples." and specs["sample"].options == ("n",)

    class Child(Base):
        def run_sample(self, n: int = 2):  # overriding keeps the task
            return torch.ones(n, 1, 2, 2), n

    assert torch.equal(Child.__new__(Child).run_task("sample", n=1)[0], torch.ones(1, 1, 2, 2))

    class TwoDefaults(Base):
        @genzoo.task("again", default=True)
        def run_again(self):
            return torch.zeros(1, 1, 2, 2), 1

    with pytest.raises(ConfigError, match="more than one default task"):
        TwoDefaults.task_specs()
    with pytest.raises(ConfigError, match="returns must be one of"):
        genzoo.task("x", returns="video")


def test_registering_a_task_the_class_does_not_declare_is_an_error():
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_families(self, registry):
            registry.add_family("toy2", model=ToyModel, tasks=["sample", "denoise"])

    with pytest.warns(genzoo.errors.GenzooPluginWarning, match="'denoise'.*declares: sample"):
        info = plugins.register(Plugin(), name="claims")
    assert not info.ok and "toy2" not in genzoo.list_families()

    class Honest:
        @genzoo.hookimpl
        def genzoo_register_families(self, registry):
            registry.add_family("toy3", model=ToyModel, tasks=["sample"])

    assert plugins.register(Honest(), name="honest").ok and genzoo.info("toy3").tasks == ["sample"]


def test_optional_hooks_are_declared_and_detected():
    for hook in OPTIONAL_HOOKS:
        assert callable(getattr(GenzooModel, hook)), hook
    assert ToyModel.trains() and ToyModel.implements("evaluate") and not ToyModel.implements("translate")
    with pytest.raises(ConfigError, match="not an optional hook"):
        ToyModel.implements("sample")
    with pytest.raises(ConfigError, match="do not translate"):
        ToyModel(ToyConfig()).translate(torch.zeros(1, 1, 8, 8))


def test_preprocess_reads_every_input_kind(tmp_path):
    import numpy as np
    from PIL import Image

    model = genzoo.load("vae-digits")
    arr = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(64, 48)
    Image.fromarray(arr).save(tmp_path / "a.png")
    for item in (Image.fromarray(arr), arr, str(tmp_path / "a.png"), torch.zeros(1, 16, 16), [tmp_path / "a.png"] * 2):
        x = model.preprocess(item)
        assert x.shape[1:] == (1, 16, 16) and x.dtype == model.dtype and -1 <= x.min() <= x.max() <= 1
    assert len(model.postprocess(model.preprocess([arr, arr]))) == 2


def test_toy_plugin_is_complete(capsys, tmp_path):
    code, out, err = run(capsys, "run", "toy-digits", "-o", str(tmp_path / "toy.png"), "--n", "4")
    assert code == 0 and (tmp_path / "toy.png").is_file(), err
    code, out, err = run(capsys, "train", "toy", "--data", "digits", "--steps", "3", "-o", str(tmp_path / "run"), "--json")
    assert code == 0 and "d_accuracy" in json.loads(out)["metrics"], err


def test_ecosystem_habits(tmp_path):
    from genzoo_vae.model import VAEModel

    vae = VAEModel.from_pretrained("vae-digits")
    with pytest.raises(ConfigError, match="is a vae model.*not a ToyModel"):
        ToyModel.from_pretrained("vae-digits")
    folder = vae.save_pretrained(tmp_path / "vae")
    assert torch.equal(genzoo.load(folder).sample(2, seed=1), vae.sample(2, seed=1))
    same = genzoo.create("vae-digits", pretrained=True)
    assert torch.equal(same.decoder.image.fc.weight, vae.decoder.image.fc.weight)
    with pytest.raises(ConfigError, match=r"pretrained=True\) loads trained weights"):
        genzoo.create("vae-digits", pretrained=True, latent_dim=3)
    images, nrow = vae(4)  # calling a model runs its default task (sample)
    assert images.shape == (4, 1, 16, 16) and nrow == 8
    assert genzoo.images.to_pil(images)[0].size == (16, 16)  # genzoo.images is there without an import


def test_torch_hub_local(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    model = torch.hub.load(str(root), "load", "toy-digits", source="local", trust_repo=True)
    assert model.family == "toy" and model.sample(2, seed=0).shape == (2, 1, 8, 8)
    # from a bare checkout (genzoo not installed), hubconf registers the built-in plugins itself
    code = (
        "import importlib.metadata as md, sys, torch\n"
        "real = md.distribution\n"
        "def gone(name):\n"
        "    if name == 'genzoo': raise md.PackageNotFoundError(name)\n"
        "    return real(name)\n"
        "md.distribution = gone\n"
        "md.entry_points = lambda **kw: []\n"
        f"m = torch.hub.load({str(root)!r}, 'load', 'vae-digits', source='local', trust_repo=True)\n"
        "print(m.family, len(torch.hub.load(" + repr(str(root)) + ", 'list_models', source='local', trust_repo=True)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    family, count = out.stdout.split()
    assert family == "vae" and int(count) >= 10


def test_public_methods_take_every_input_kind_and_refuse_wrong_tensors(tmp_path):
    import numpy as np
    from PIL import Image

    from genzoo.errors import ShapeError

    Image.fromarray(np.zeros((40, 30), np.uint8)).save(tmp_path / "cat.png")
    vae = genzoo.load("vae-digits")
    assert vae.reconstruct([tmp_path / "cat.png"]).shape == (1, 1, 16, 16)  # the issue's `vae.reconstruct(["cat.jpg"])`
    ae = genzoo.load("ae-digits")
    assert ae.anomaly_score(str(tmp_path / "cat.png")).shape == (1,)
    with pytest.raises(ShapeError, match=r"expected a batch of shape \(N, 1, 16, 16\), got \(2, 1, 32, 32\)"):
        ae.reconstruct(torch.zeros(2, 1, 32, 32))  # a tensor of the wrong size is an error, not silently resized
    assert ae.preprocess(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 16, 16)  # preprocess is the explicit conversion
