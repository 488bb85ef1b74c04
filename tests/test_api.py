"""The public API around names: create, info, list, load's name resolution, devices and dtypes."""

import warnings

import pytest
import torch

import genzoo
from genzoo import plugins
from genzoo.errors import ConfigError, UnknownModelError


@pytest.fixture
def named_toys():
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model(
                "toy-wide", family="toy", config={"width": 16}, description="A wider toy.",
                dataset="none", license="apache-2.0", paper="https://example.org/toy",
                metrics={"digit_fd": 12.5}, source=genzoo.HubSource("genzoo/toy-wide", "0" * 40),
            )  # fmt: skip
            registry.add_model("toy-narrow", family="toy", config={"width": 2})

    plugins.register(Plugin(), name="named-toys")


def test_public_api_names_exist():
    for name in ["load", "create", "save", "push_to_hub", "list_models", "list_families", "info"]:
        assert callable(getattr(genzoo, name))


def test_create_from_family_and_from_named_config(named_toys):
    m = genzoo.create("toy", width=8, noise_dim=5)
    assert (m.config.width, m.config.noise_dim) == (8, 5)
    assert m.training and m.generator.fc.weight.device.type == "cpu"
    wide = genzoo.create("toy-wide")
    assert wide.config.width == 16
    assert genzoo.create("toy-wide", width=3).config.width == 3
    half = genzoo.create("toy", dtype="bf16")
    assert half.dtype == torch.bfloat16


def test_info_of_model_family_and_folder(named_toys, tmp_path):
    i = genzoo.info("toy-wide")
    assert (i.kind, i.family, i.source, i.plugin) == ("model", "toy", "hf://genzoo/toy-wide@" + "0" * 40, "named-toys")
    assert i.card["license"] == "apache-2.0" and i.card["metrics"] == {"digit_fd": 12.5}
    f = genzoo.info("toy")
    assert f.kind == "family" and f.models == ["toy-digits", "toy-narrow", "toy-wide"] and f.plugin == "toy"
    genzoo.save(genzoo.create("toy"), tmp_path / "saved", card={"description": "mine"})
    d = genzoo.info(str(tmp_path / "saved"))
    assert d.kind == "folder" and d.family == "toy" and d.description == "mine"
    with pytest.raises(UnknownModelError, match="toy-wide"):
        genzoo.info("toy-wid")


def test_list_models_patterns(named_toys):
    assert genzoo.list_models("toy-*") == ["toy-digits", "toy-narrow", "toy-wide"]
    assert genzoo.list_models("toy-*-w*") == [] and genzoo.list_models("toy-w*") == ["toy-wide"]
    assert genzoo.list_models(family="toy") == ["toy-digits", "toy-narrow", "toy-wide"]
    assert "toy" in genzoo.list_families() and genzoo.list_families() == sorted(genzoo.list_families())


def test_load_says_which_three_it_tried(named_toys):
    with pytest.raises(UnknownModelError) as e:
        genzoo.load("toy-wid")
    msg = str(e.value)
    assert "registered names (closest: toy-wide" in msg and "local folders" in msg and "Hub repo ids" in msg


def test_load_model_without_weights_points_to_create(named_toys):
    with pytest.raises(UnknownModelError, match="genzoo.create\\('toy-narrow'\\)"):
        genzoo.load("toy-narrow")


def test_conflicting_revisions_are_refused():
    with pytest.raises(ConfigError, match="pins revision 'v1'"):
        genzoo.load("user/repo@v1", revision="v2")


def test_cuda_request_falls_back_to_cpu(tmp_path):
    genzoo.save(genzoo.create("toy"), tmp_path / "m")
    if torch.cuda.is_available():
        pytest.skip("this test is about machines without CUDA")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        m = genzoo.load(tmp_path / "m", device="cuda")
    assert m.device.type == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert genzoo.load(tmp_path / "m", device="auto").device.type == "cpu"


def test_unknown_dtype():
    with pytest.raises(ConfigError, match="fp32, fp16, bf16"):
        genzoo.create("toy", dtype="int3")


def test_channels_last_and_compile_options(tmp_path):
    genzoo.save(genzoo.create("toy"), tmp_path / "m")
    m = genzoo.load(tmp_path / "m", channels_last=True)
    assert m.discriminator.conv.weight.is_contiguous(memory_format=torch.channels_last)
    m = genzoo.load(tmp_path / "m", compile=True, components=["generator"])
    assert m.generator._compiled_call_impl is not None
    # the VAE's tasks reach its conv stacks through render/bottom_up, so those are what gets compiled
    vae = genzoo.load("vae-digits", compile=True, components=["decoder"])
    assert vae.decoder.image.up._compiled_call_impl is not None and vae.decoder._compiled_call_impl is None


def test_importing_genzoo_and_listing_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, genzoo, genzoo.plugins as p; p.get_registry().list_models(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
