"""Names have owners: clashes between plugins, PLUGIN:NAME, plugins that try to end the process, bad Hub env vars.

Every plugin here is a real package with a real ``*.dist-info`` entry point
(the ``make_plugin`` fixture), found by ``importlib.metadata`` like an
installed one.
"""

import json
import os
import re
import subprocess
import sys

import pytest

import genzoo
from genzoo import plugins
from genzoo.cli import main
from genzoo.errors import UnknownFamilyError, UnknownModelError
from genzoo.plugins import GenzooPluginWarning
from genzoo.registry import HubSource, Registry

# A third party whose entry point ("aaa") sorts before every built-in one and that
# claims the built-in `vae` family and `vae-digits` model (the attack of issue 10).
HIJACK = '''
    import genzoo
    from genzoo import hookimpl

    @hookimpl
    def genzoo_register_families(registry):
        registry.add_family("vae", model="aaa_hijack.model:HijackVAE", description="someone else's vae")
        registry.add_family("hijack", model="aaa_hijack.model:HijackOwn", description="a family of its own")

    @hookimpl
    def genzoo_register_models(registry):
        registry.add_model("vae-digits", family="vae", source=genzoo.HubSource("evil/vae-digits", "main"))
        registry.add_model("aaa-tiny", family="vae", config={"width": 4},
                           source=genzoo.BundledSource("aaa_hijack", "weights/aaa-tiny"))
        registry.add_model("aaa-own", family="hijack")
'''

HIJACK_MODEL = '''
    from genzoo_toy.model import ToyModel

    class HijackVAE(ToyModel):
        family = "vae"

    class HijackOwn(ToyModel):
        family = "hijack"
'''


def infos():
    return {i.name: i for i in plugins.plugin_infos()}


def env_with(root, **extra):
    """The environment of a `python -m genzoo` subprocess that sees the plugins under ``root``."""
    path = os.pathsep.join([str(root), *sys.path])
    return {"PYTHONPATH": path, "PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1", **extra}


@pytest.fixture
def hijack(make_plugin):
    return make_plugin("aaa_hijack", HIJACK, entry="aaa", files={"model.py": HIJACK_MODEL})


def test_a_third_party_cannot_take_a_builtin_name_whatever_its_entry_point_order(hijack):
    with pytest.warns(GenzooPluginWarning) as caught:
        registry = plugins.get_registry()
    text = "\n".join(str(w.message) for w in caught)
    assert "the family name 'vae' is registered by two plugins: 'vae' and 'aaa'" in text
    assert "Built-in plugins load before third-party ones" in text
    # the built-in plugin is whole: family, both models, its own weights
    assert registry.families["vae"].plugin == "vae" and genzoo.create("vae").__class__.__name__ != "HijackVAE"
    assert {"vae-digits", "hvae-digits"} <= set(genzoo.list_models(family="vae"))
    assert genzoo.info("vae-digits").plugin == "vae" and genzoo.info("vae-digits").source.startswith("bundled:genzoo_vae/")
    # the third party keeps what did not clash, and says what it lost
    aaa = infos()["aaa"]
    assert aaa.ok and aaa.families == ["hijack"] and aaa.models == ["aaa-own"] and infos()["vae"].ok
    assert sorted((r.kind, r.name) for r in aaa.rejected) == [("family", "vae"), ("model", "aaa-tiny"), ("model", "vae-digits")]
    assert {r.owner for r in aaa.rejected if r.name == "vae"} == {"vae"}
    # no model points at a family that is not there: its models went with its rejected family
    registry = plugins.get_registry()
    assert all(m.family in registry.families for m in registry.models.values())


def test_plugin_qualified_names_reach_both_sides_of_a_clash(hijack):
    with pytest.warns(GenzooPluginWarning):
        plugins.get_registry()
    lost = genzoo.info("aaa:vae-digits")
    assert (lost.name, lost.plugin, lost.family, lost.source) == ("aaa:vae-digits", "aaa", "aaa:vae", "hf://evil/vae-digits@main")
    assert genzoo.info("vae:vae-digits").source == genzoo.info("vae-digits").source
    assert type(genzoo.load("vae:vae-digits")) is type(genzoo.load("vae-digits"))
    assert type(genzoo.create("aaa:vae")).__name__ == "HijackVAE" and genzoo.info("aaa:vae").models == ["aaa:aaa-tiny", "aaa:vae-digits"]
    # a model of the rejected family loads with that family's class, from the loser's own package
    made = genzoo.create("aaa:vae", width=4)
    genzoo.save(made, hijack / "aaa_hijack" / "weights" / "aaa-tiny", name="aaa-tiny")
    loaded = genzoo.load("aaa:aaa-tiny")
    assert type(loaded).__name__ == "HijackVAE" and loaded.config.width == 4
    for a, b in zip(made.state_dict().values(), loaded.state_dict().values()):
        assert (a == b).all()


def test_unknown_qualified_names_say_which_part_is_wrong(hijack):
    with pytest.warns(GenzooPluginWarning):
        plugins.get_registry()
    with pytest.raises(UnknownModelError, match=r"unknown plugin 'aab' in 'aab:vae-digits'\. Did you mean: aaa\?"):
        genzoo.load("aab:vae-digits")
    with pytest.raises(UnknownModelError, match=r"plugin 'vae' has no model 'vae-digitz'\. Did you mean: vae:vae-digits"):
        genzoo.info("vae:vae-digitz")
    with pytest.raises(UnknownModelError, match="plugin 'aaa' has no model"):
        genzoo.create("aaa:nothing")
    with pytest.raises(UnknownFamilyError, match="unknown plugin 'nobody'"):
        plugins.get_registry().family("nobody:vae")


def test_among_third_parties_the_distribution_name_decides_not_the_entry_point(make_plugin):
    code = '''
        from genzoo import hookimpl
        @hookimpl
        def genzoo_register_models(registry):
            registry.add_model("toy-shared", family="toy", description="from {who}")
    '''
    make_plugin("genzoo_beta", code.format(who="beta"), entry="alpha")  # entry name sorts first...
    make_plugin("genzoo_alpha", code.format(who="alpha"), entry="zeta")  # ...distribution name decides
    with pytest.warns(GenzooPluginWarning, match="'toy-shared' is registered by two plugins: 'zeta' and 'alpha'.*by distribution name"):
        assert genzoo.info("toy-shared").description == "from alpha"
    assert genzoo.info("alpha:toy-shared").description == "from beta"
    assert [r.owner for r in infos()["alpha"].rejected] == ["zeta"] and not infos()["zeta"].rejected


def test_the_same_name_twice_in_one_plugin_rejects_the_second(make_plugin):
    make_plugin(
        "genzoo_twice",
        '''
        from genzoo import hookimpl
        @hookimpl
        def genzoo_register_models(registry):
            registry.add_model("twice-a", family="toy", description="first")
            registry.add_model("twice-a", family="toy", description="second")
            registry.add_model("twice-b", family="toy")
        ''',
        entry="twice",
    )
    with pytest.warns(GenzooPluginWarning, match="plugin 'twice' registers the model name 'twice-a' twice; the first one is kept"):
        assert genzoo.list_models("twice-*") == ["twice-a", "twice-b"]
    assert genzoo.info("twice-a").description == "first" and infos()["twice"].ok


def test_a_second_distribution_with_a_builtin_plugin_name_is_reported_not_loaded(make_plugin):
    make_plugin("genzoo_fakevae", "raise AssertionError('must not be imported')", entry="vae")
    with pytest.warns(GenzooPluginWarning, match="plugin name 'vae' is taken by distribution 'genzoo'"):
        found = infos()
    assert found["vae"].ok and found["vae"].builtin and not found["vae (genzoo_fakevae)"].ok
    assert genzoo.info("vae-digits").plugin == "vae"


# -- plugins that try to end the process -------------------------------------------
EXIT_AT_IMPORT = "import sys\nsys.exit(3)\n"
EXIT_IN_HOOK = '''
    from genzoo import hookimpl
    @hookimpl
    def genzoo_register_families(registry):
        registry.add_family("quitter", model="genzoo_toy.model:ToyModel")
        raise SystemExit(4)
'''


def test_sys_exit_at_import_or_in_a_hook_is_a_plugin_error(make_plugin):
    make_plugin("genzoo_exit_import", EXIT_AT_IMPORT, entry="exit-import")
    make_plugin("genzoo_exit_hook", EXIT_IN_HOOK, entry="exit-hook")
    with pytest.warns(GenzooPluginWarning) as caught:
        found = infos()
    text = "\n".join(str(w.message) for w in caught)
    assert "'exit-import' failed to import genzoo_exit_import: SystemExit: 3" in text
    assert "'exit-hook' raised in genzoo_register_families: SystemExit: 4" in text
    assert not found["exit-import"].ok and not found["exit-hook"].ok and found["toy"].ok
    assert "quitter" not in genzoo.list_families() and "vae-digits" in genzoo.list_models()


def test_sys_exit_in_plugins_does_not_end_the_genzoo_command(make_plugin):
    root = make_plugin("genzoo_exit_import", EXIT_AT_IMPORT, entry="exit-import")
    make_plugin("genzoo_exit_hook", EXIT_IN_HOOK, entry="exit-hook")
    done = subprocess.run(
        [sys.executable, "-m", "genzoo", "list", "*vae-digits"], capture_output=True, text=True, env=env_with(root), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "vae-digits" in done.stdout and "hvae-digits" in done.stdout
    assert "SystemExit: 3" in done.stderr and "SystemExit: 4" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "genzoo", "plugins", "--json"], capture_output=True, text=True, env=env_with(root), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    errors = {p["name"]: p["error"] for p in json.loads(done.stdout)}
    assert "SystemExit: 3" in errors["exit-import"] and "SystemExit: 4" in errors["exit-hook"] and errors["vae"] is None


# -- Hub locations from the environment, and which plugins load -----------------------
def test_a_bad_hub_org_rejects_those_entries_naming_the_variable(monkeypatch):
    monkeypatch.setenv("GENZOO_HUB_ORG", "../../x")
    monkeypatch.setenv("GENZOO_HUB_REVISION", "main")
    with pytest.warns(GenzooPluginWarning) as caught:
        registry = plugins.get_registry()
    text = "\n".join(str(w.message) for w in caught)
    for family in ("pix2pix", "cyclegan"):  # one warning per plugin, naming the variable
        assert re.search(rf"'{family}' had \d+ entries rejected: model '{family}-\w+': invalid Hub repo id "
                         rf"'\.\./\.\./x/{family}-\w+' \(from GENZOO_HUB_ORG='\.\./\.\./x'", text), text
    pix2pix = infos()["pix2pix"]
    assert pix2pix.ok and pix2pix.families == ["pix2pix"] and pix2pix.models == ["pix2pix-digits-edges"]
    assert "pix2pix-edges2shoes" in {r.name for r in pix2pix.rejected}
    assert not any(isinstance(m.source, HubSource) and ".." in m.source.repo_id for m in registry.models.values())
    assert "cyclegan-digits-bold" in registry.models  # cyclegan reads the same variables; its bundled model stays


def test_a_blank_hub_revision_rejects_those_entries_naming_the_variable(monkeypatch):
    monkeypatch.setenv("GENZOO_HUB_REVISION", " ")
    with pytest.warns(GenzooPluginWarning, match=r"invalid Hub revision ' ' \(from GENZOO_HUB_REVISION=' '"):
        names = genzoo.list_models("pix2pix-*")
    assert names == ["pix2pix-digits-edges"]


def test_hub_sources_are_checked_where_entries_are_built():
    assert HubSource("genzoo/x", "0123abcd" * 5).problem() is None
    assert HubSource("gpt2", "refs/pr/1").problem() is None and HubSource("a.b-c/d_e", "v1.0").problem() is None
    for repo in ("../../x/y", "a/b/c", "user/", "-user/x", "a--b/c", "u/x" + "y" * 100, "ünï/x", ""):
        assert "invalid Hub repo id" in HubSource(repo, "main").problem(), repo
    for rev in (" ", "", "main branch", "../x", "a\nb", "/main", "main/"):
        assert "invalid Hub revision" in HubSource("org/x", rev).problem(), rev
    # a plugin's other entries are kept; only the bad one is rejected
    r = Registry().scoped("p")
    r.add_family("fam", model="a:B")
    r.add_model("good", family="fam", source=HubSource("org/good", "abc"))
    r.add_model("bad", family="fam", source=HubSource("org/bad", " "))
    done = r.commit()
    assert done.models == ["good"] and [(x.name, x.entry) for x in done.rejected] == [("bad", None)]


def test_a_misspelt_load_plugins_entry_warns_with_the_known_names(monkeypatch):
    monkeypatch.setenv("GENZOO_LOAD_PLUGINS", "toy,vea")
    with pytest.warns(GenzooPluginWarning, match=r"GENZOO_LOAD_PLUGINS names 'vea', .*did you mean 'vae'\?.*Installed plugins: .*cyclegan"):
        assert genzoo.list_families() == ["toy"]


# -- the command shows who owns each name ---------------------------------------------
def test_cli_list_info_and_plugins_show_owners_and_rejections(hijack, capsys):
    with pytest.warns(GenzooPluginWarning):
        plugins.get_registry()
    assert main(["list", "*vae-digits"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "family", "plugin"]
    assert {line.split()[0]: line.split()[2] for line in lines[2:]} == {"hvae-digits": "vae", "vae-digits": "vae"}
    assert main(["list", "aaa-*", "--json"]) == 0
    assert [(m["name"], m["plugin"]) for m in json.loads(capsys.readouterr().out)] == [("aaa-own", "aaa")]
    assert main(["info", "aaa:vae-digits"]) == 0
    out = capsys.readouterr().out
    assert "aaa:vae-digits  (model of family aaa:vae, plugin aaa)" in out
    assert "the name 'vae-digits' belongs to plugin 'vae'" in out and "hf://evil/vae-digits@main" in out
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line and not line.startswith(" ")}
    assert "ok, 3 rejected" in rows["aaa"] and rows["vae"].rstrip().endswith("ok")
    assert "  aaa: model 'vae-digits': the model name 'vae-digits' is registered by two plugins: 'vae' and 'aaa'" in out
    assert main(["pull", "aaa:aaa-tiny"]) == 0 and "aaa_hijack/weights/aaa-tiny" in capsys.readouterr().out
    assert main(["pull", "vae:vae-digits"]) == 0 and "genzoo_vae/weights/vae-digits" in capsys.readouterr().out
    assert main(["plugins", "--json"]) == 0
    by_name = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert by_name["vae"]["builtin"] and not by_name["aaa"]["builtin"] and by_name["vae"]["rejected"] == []
    assert {(r["kind"], r["name"], r["owner"], r["qualified"]) for r in by_name["aaa"]["rejected"]} == {
        ("family", "vae", "vae", "aaa:vae"), ("model", "vae-digits", "vae", "aaa:vae-digits"), ("model", "aaa-tiny", None, "aaa:aaa-tiny"),
    }  # fmt: skip


def test_cli_reaches_a_rejected_model_through_a_real_subprocess(hijack):
    done = subprocess.run(
        [sys.executable, "-m", "genzoo", "info", "aaa:vae-digits", "--json"],
        capture_output=True, text=True, env=env_with(hijack), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source"] == "hf://evil/vae-digits@main"
    assert "'vae-digits' is registered by two plugins: 'vae' and 'aaa'" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "genzoo", "info", "vae-digits", "--json"], capture_output=True, text=True, env=env_with(hijack), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["plugin"] == "vae"


def test_a_plugin_can_ask_whether_a_family_is_installed():
    seen = {}

    class Asker:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            seen["vae"], seen["nope"] = registry.has_family("vae"), registry.has_family("nope")

    plugins.register(Asker(), name="asker")
    assert seen == {"vae": True, "nope": False}
