"""The `genzoo` command: tables for people, --json for scripts, one-line errors."""

import json
import subprocess
import sys

import pytest

import genzoo
from genzoo import plugins
from genzoo.cli import main


@pytest.fixture
def named():
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model("toy-a", family="toy", description="first toy", source=genzoo.HubSource("org/toy-a", "r1"))
            registry.add_model("toy-b", family="toy", description="second toy", metrics={"fd": 1.5}, license="mit")

    plugins.register(Plugin(), name="named")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_and_json(named, capsys):
    code, out, _ = run(capsys, "list", "toy-*")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["name", "family", "plugin", "weights", "description"]
    assert "toy-a" in lines[2] and "hf://org/toy-a@r1" in lines[2] and lines[2].split()[2] == "named"
    code, out, _ = run(capsys, "list", "toy-*b", "--json")
    assert [m["name"] for m in json.loads(out)] == ["toy-b"]
    code, out, _ = run(capsys, "list", "nothing-*")
    assert code == 0 and "no models matching 'nothing-*'" in out


def test_info_human_and_json(named, capsys):
    code, out, _ = run(capsys, "info", "toy-b")
    assert code == 0 and "model of family toy" in out and "fd = 1.5" in out and "license:  mit" in out
    code, out, _ = run(capsys, "info", "toy", "--json")
    assert json.loads(out)["models"] == ["toy-a", "toy-b", "toy-digits"]


def test_errors_are_one_line_without_traceback(capsys):
    code, out, err = run(capsys, "info", "toy-c")
    assert code == 1 and err.startswith("genzoo: error: unknown model 'toy-c'") and len(err.strip().splitlines()) == 1
    with pytest.raises(genzoo.UnknownModelError):
        main(["info", "toy-c", "--debug"])


def test_plugins_table_shows_errors(make_plugin, capsys):
    make_plugin("genzoo_bad", "raise RuntimeError('kaput')", entry="bad")
    with pytest.warns(UserWarning):
        code, out, _ = run(capsys, "plugins")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "ok" in rows["toy"] and "ERROR: failed to import genzoo_bad: RuntimeError: kaput" in rows["bad"]
    code, out, _ = run(capsys, "plugins", "--json", "--traceback")
    status = {p["name"]: p["error"] is None for p in json.loads(out)}
    assert status["bad"] is False and status["toy"] is True


def test_pull_of_bundled_and_unknown(capsys):
    code, _, err = run(capsys, "pull", "not-a-model")
    assert code == 1 and "unknown model 'not-a-model'" in err


def test_push_refuses_a_folder_that_is_not_genzoo(tmp_path, capsys):
    code, _, err = run(capsys, "push", str(tmp_path), "me/repo")
    assert code == 1 and "not a genzoo checkpoint" in err


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "genzoo.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("genzoo ")
