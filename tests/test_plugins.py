"""Plugins through real entry points: built-ins, a third party, and broken ones."""

import subprocess
import sys

import pytest

import genzoo
from genzoo import plugins
from genzoo.errors import UnknownModelError
from genzoo.plugins import GenzooPluginWarning

CATS = '''
    import genzoo
    from genzoo import hookimpl

    @hookimpl
    def genzoo_register_families(registry):
        registry.add_family("cats", model="genzoo_cats.model:CatModel", description="cats")

    @hookimpl
    def genzoo_register_models(registry):
        registry.add_model("cats-tiny", family="cats", config={"width": 4},
                           source=genzoo.BundledSource("genzoo_cats", "weights/cats-tiny"),
                           description="a bundled tiny cat", license="mit")
'''

CAT_MODEL = '''
    from genzoo_toy.model import ToyModel

    class CatModel(ToyModel):
        family = "cats"
'''


@pytest.fixture
def cats(make_plugin, tmp_path):
    root = make_plugin("genzoo_cats", CATS, entry="cats", files={"model.py": CAT_MODEL})
    # bundled weights made by genzoo itself, inside the package
    model = genzoo.create("cats", width=4)
    genzoo.save(model, root / "genzoo_cats" / "weights" / "cats-tiny", name="cats-tiny")
    plugins.reset()
    return model


def test_builtin_family_comes_through_the_entry_point():
    info = {i.name: i for i in plugins.plugin_infos()}
    assert info["toy"].ok and info["toy"].families == ["toy"] and info["toy"].distribution == "genzoo"


def test_third_party_plugin_family_and_bundled_model_load(cats):
    assert "cats" in genzoo.list_families() and genzoo.list_models("cats-*") == ["cats-tiny"]
    info = {i.name: i for i in plugins.plugin_infos()}["cats"]
    assert (info.distribution, info.version, info.models) == ("genzoo_cats", "1.0", ["cats-tiny"])
    loaded = genzoo.load("cats-tiny")
    assert type(loaded).__name__ == "CatModel"
    for a, b in zip(cats.state_dict().values(), loaded.state_dict().values()):
        assert a.dtype == b.dtype and a.shape == b.shape
    assert genzoo.info("cats-tiny").source.startswith("bundled:genzoo_cats/")


def test_third_party_plugin_shows_in_cli(cats, tmp_path):
    env_path = str(tmp_path / "site")
    out = subprocess.run(
        [sys.executable, "-m", "genzoo.cli", "list"], capture_output=True, text=True,
        env={"PYTHONPATH": env_path, "PATH": ""}, check=True,
    ).stdout  # fmt: skip
    assert "cats-tiny" in out and "bundled:genzoo_cats" in out


def test_broken_import_is_recorded_and_the_zoo_still_works(make_plugin):
    make_plugin("genzoo_broken", "raise ImportError('needs libfoo')", entry="broken")
    with pytest.warns(GenzooPluginWarning, match="'broken' failed to import.*needs libfoo"):
        families = genzoo.list_families()
    assert "toy" in families
    info = {i.name: i for i in plugins.plugin_infos()}["broken"]
    assert not info.ok and "ImportError: needs libfoo" in info.error and "Traceback" in info.traceback
    assert genzoo.create("toy").sample(1).shape == (1, 1, 8, 8)


def test_plugin_raising_during_registration_leaves_nothing_behind(make_plugin):
    make_plugin(
        "genzoo_halfway",
        '''
        from genzoo import hookimpl
        @hookimpl
        def genzoo_register_families(registry):
            registry.add_family("halfway", model="genzoo_toy.model:ToyModel")
            raise RuntimeError("oops while registering")
        ''',
    )
    with pytest.warns(GenzooPluginWarning, match="raised in genzoo_register_families"):
        assert "halfway" not in genzoo.list_families()


def test_misspelt_hook_fails_loudly_for_that_plugin_only(make_plugin):
    make_plugin(
        "genzoo_typo",
        '''
        from genzoo import hookimpl
        @hookimpl
        def genzoo_register_modles(registry):
            pass
        ''',
    )
    with pytest.warns(GenzooPluginWarning, match="hook genzoo does not have.*genzoo_register_modles"):
        infos = {i.name: i for i in plugins.plugin_infos()}
    assert not infos["genzoo_typo"].ok and infos["toy"].ok


def test_two_plugins_registering_one_model_name_rejects_only_the_later_entry(make_plugin, cats):
    # Was: the second plugin failed whole. Now names have owners: only its clashing entry goes.
    make_plugin(
        "genzoo_copycat",
        '''
        from genzoo import hookimpl
        @hookimpl
        def genzoo_register_models(registry):
            registry.add_model("cats-tiny", family="cats", description="copycat's cat")
            registry.add_model("copycat-own", family="cats")
        ''',
        entry="copycat",
    )
    with pytest.warns(GenzooPluginWarning, match="'cats-tiny' is registered by two plugins: 'cats' and 'copycat'"):
        infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["cats"].ok and infos["copycat"].ok and infos["copycat"].models == ["copycat-own"]
    assert [(r.kind, r.name, r.owner) for r in infos["copycat"].rejected] == [("model", "cats-tiny", "cats")]
    assert genzoo.info("cats-tiny").plugin == "cats"
    assert genzoo.info("copycat:cats-tiny").description == "copycat's cat"


def test_env_var_limits_which_plugins_load(cats, monkeypatch):
    monkeypatch.setenv("GENZOO_LOAD_PLUGINS", "toy")
    plugins.reset()
    assert genzoo.list_families() == ["toy"]
    monkeypatch.setenv("GENZOO_LOAD_PLUGINS", "")
    plugins.reset()
    assert genzoo.list_families() == []
    with pytest.raises(UnknownModelError, match="unknown family or model 'toy'"):
        genzoo.create("toy")


def test_runtime_registration_of_a_plugin_object():
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model("toy-small", family="toy", config={"width": 2})

    plugins.register(Plugin(), name="notebook")
    assert genzoo.list_models("toy-*") == ["toy-digits", "toy-small"]
    assert genzoo.create("toy-small").config.width == 2
    plugins.unregister("notebook")
    assert genzoo.list_models("toy-*") == ["toy-digits"]


def test_missing_bundled_weights_skip_the_model_not_the_family(make_plugin):
    make_plugin(
        "genzoo_unbaked",
        '''
        from genzoo import hookimpl
        @hookimpl
        def genzoo_register_families(registry):
            registry.add_family("unbaked", model="genzoo_toy.model:ToyModel")
        @hookimpl
        def genzoo_register_models(registry):
            registry.add_bundled("unbaked-tiny", family="unbaked", package="genzoo_unbaked", path="weights/nope")
        ''',
    )
    with pytest.warns(GenzooPluginWarning, match="bundled weights of 'unbaked-tiny' are missing"):
        assert "unbaked" in genzoo.list_families()
    assert "unbaked-tiny" not in genzoo.list_models()


SQUARES = '''
    import torch
    from genzoo import hookimpl

    @hookimpl
    def genzoo_register_datasets(registry):
        registry.add_dataset("squares", "genzoo_squares:make", description="white squares on black")

    def make(split, size, channels, *, side=2):
        size = size or 8
        x = -torch.ones(4 if split == "train" else 2, channels or 1, size, size)
        x[:, :, :side, :side] = 1
        return torch.utils.data.TensorDataset(x, torch.zeros(len(x), dtype=torch.long))
'''


def test_a_plugin_adds_a_named_dataset_that_training_finds(make_plugin, tmp_path, capsys):
    from genzoo.cli import main
    from genzoo.data import get_dataset

    make_plugin("genzoo_squares", SQUARES, entry="squares")
    train = get_dataset("squares", "train", size=6, channels=1, side=3)
    x, _ = train[0]
    assert len(train) == 4 and x.shape == (1, 6, 6) and x[0, :3, :3].min() == 1 and x[0, 3:].max() == -1
    assert {i.name: i for i in plugins.plugin_infos()}["squares"].datasets == ["squares"]
    assert main(["plugins"]) == 0 and "squares" in capsys.readouterr().out
    with pytest.raises(genzoo.errors.DatasetNotFoundError, match="did you mean 'squares'"):
        get_dataset("squarez")
    with pytest.raises(genzoo.errors.DatasetError, match="takes no options"):
        get_dataset("digits", side=3)
    out = tmp_path / "run"
    argv = [
        "train", "autoencoder", "--data", "squares", "--data-option", "side=4", "--set", "image_size=8", "--set", "widths=[4]",
        "--steps", "2", "--batch-size", "2", "--device", "cpu", "-o", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    assert genzoo.load(out / "final").card["dataset"] == "white squares on black"


def test_two_plugins_registering_one_dataset_name_rejects_the_later_one_naming_both(make_plugin):
    # Was: the second plugin failed whole; now only its clashing dataset entry is rejected.
    make_plugin("genzoo_squares", SQUARES, entry="squares")
    make_plugin("genzoo_squares2", SQUARES.replace("genzoo_squares:make", "genzoo_squares2:make"), entry="squares2")
    with pytest.warns(GenzooPluginWarning, match="dataset name 'squares' is registered by two plugins: 'squares' and 'squares2'"):
        infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["squares"].ok and infos["squares2"].ok and infos["squares2"].datasets == []
    assert [r.name for r in infos["squares2"].rejected] == ["squares"]
    assert plugins.get_registry().datasets["squares"].factory == "genzoo_squares:make"
    assert plugins.get_registry().dataset("squares2:squares").factory == "genzoo_squares2:make"
