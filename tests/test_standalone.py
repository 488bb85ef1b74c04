"""Families stand alone: each built-in plugin works with every other plugin package uninstalled.

A plugin imports only ``genzoo``; what two families share lives in the core.
Each plugin runs in a real subprocess that loads only its own entry point
(``GENZOO_LOAD_PLUGINS``) while a ``sys.meta_path`` finder makes every other
``genzoo_*`` package unimportable, as if it were not installed. A static
check reads every plugin's source for imports (and ``"module:attr"``
references) of another plugin's package.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genzoo

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = ROOT / "plugins"
PACKAGES = sorted(p.name for p in PLUGIN_DIR.iterdir() if (p / "__init__.py").is_file())

#: Installed before anything else in the child: every genzoo_* package but the plugin's own is "not installed".
BLOCKER = r'''
import importlib.abc, sys

OWN = sys.argv[1]
BLOCKED = []


class OtherPluginsUninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top.startswith("genzoo_") and top != OWN:
            BLOCKED.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (only {OWN} is installed)", name=name)
        return None


sys.meta_path.insert(0, OtherPluginsUninstalled())
'''

CHILD = BLOCKER + r'''
import json
from pathlib import Path

import torch

import genzoo
from genzoo import plugins
from genzoo.cli import main

out_dir = Path(sys.argv[2])
report = {"plugins": {i.name: i.as_dict() for i in plugins.plugin_infos()}, "families": genzoo.list_families()}
report["models"] = genzoo.list_models()
for family in report["families"]:  # imports the family's model module and builds its networks
    cls = plugins.get_registry().families[family].model_class()
    genzoo.create(family, **cls.tiny_config)
report["ran"] = {}
for name in report["models"]:
    if not genzoo.info(name).source.startswith("bundled:"):
        continue
    model = genzoo.load(name)
    method, kwargs = model.bench_inputs(2)
    out = getattr(model, method)(**kwargs)
    report["ran"][name] = method
if OWN == "genzoo_cyclegan":
    g = genzoo.load("cyclegan-digits-bold")
    x = torch.linspace(-1, 1, 2 * 16 * 16).reshape(2, 1, 16, 16)
    report["translated"] = g.translate(x).flatten().tolist()
    report["run_rc"] = main(["run", "cyclegan-digits-bold", "--n", "4", "--seed", "0", "-o", str(out_dir / "bold.png")])
if OWN == "genzoo_cgan":
    g = genzoo.load("cgan-digits")
    report["sampled"] = g.sample(10, seed=0, labels=torch.arange(10)).flatten().tolist()
    report["run_rc"] = main(["run", "cgan-digits", "--seed", "0", "-o", str(out_dir / "grid.png")])
report["blocked"] = BLOCKED
report["other_plugin_modules"] = sorted(
    m for m in sys.modules if m.partition(".")[0].startswith("genzoo_") and m.partition(".")[0] != OWN
)
print("REPORT " + json.dumps(report))
'''


def entry_names() -> dict[str, str]:
    """Package -> entry-point name of the built-in plugins (declared in our pyproject.toml)."""
    eps = importlib.metadata.entry_points(group="genzoo")
    return {ep.value: ep.name for ep in eps if ep.value in PACKAGES}


def run_child(script: str, package: str, entry: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GENZOO_LOAD_PLUGINS": entry, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", script, package, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )


def test_every_plugin_package_is_a_declared_entry_point():
    assert PACKAGES and set(entry_names()) == set(PACKAGES)


def test_the_blocker_makes_other_plugins_unimportable(tmp_path):
    """The finder the tests below rely on really hides another plugin (and lets the own one through)."""
    script = BLOCKER + "import genzoo_cgan\nimport genzoo_gan\n"
    proc = run_child(script, "genzoo_cgan", "cgan", tmp_path)
    assert proc.returncode == 1
    assert "No module named 'genzoo_gan' (only genzoo_cgan is installed)" in proc.stderr


@pytest.mark.parametrize("package", PACKAGES)
def test_plugin_loads_and_runs_with_every_other_plugin_uninstalled(package, tmp_path):
    entry = entry_names()[package]
    proc = run_child(CHILD, package, entry, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    assert list(report["plugins"]) == [entry]
    info = report["plugins"][entry]
    assert info["error"] is None and info["module"] == package
    assert report["families"] == sorted(info["families"]) and report["families"]
    assert report["models"] == sorted(info["models"])
    assert report["blocked"] == [] and report["other_plugin_modules"] == []
    bundled = sorted(n for n in info["models"] if genzoo.info(n).source.startswith("bundled:"))
    assert sorted(report["ran"]) == bundled

    if package == "genzoo_cyclegan":
        # the same numbers as the full zoo gives: the move into the core changed nothing
        x = torch.linspace(-1, 1, 2 * 16 * 16).reshape(2, 1, 16, 16)
        expected = genzoo.load("cyclegan-digits-bold").translate(x)
        assert torch.equal(torch.tensor(report["translated"]).reshape(expected.shape), expected)
        assert report["run_rc"] == 0 and (tmp_path / "bold.png").stat().st_size > 0
    if package == "genzoo_cgan":
        expected = genzoo.load("cgan-digits").sample(10, seed=0, labels=torch.arange(10))
        assert torch.equal(torch.tensor(report["sampled"]).reshape(expected.shape), expected)
        assert report["run_rc"] == 0 and (tmp_path / "grid.png").stat().st_size > 0


#: A ``"package.module:attr"`` reference, as registries and ``importlib`` take them.
_REFERENCE = re.compile(r"(genzoo_\w+)(\.\w+)*(:\w+)?")


def other_plugin_references(package: str) -> list[str]:
    """``file:line name`` of every import of, or call-argument reference to, another plugin's package."""
    found = []
    for path in sorted((PLUGIN_DIR / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call):
                values = [*node.args, *(k.value for k in node.keywords)]
                names = [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str) and _REFERENCE.fullmatch(v.value)]
            for name in names:
                top = name.partition(".")[0].partition(":")[0]
                if top.startswith("genzoo_") and top != package:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_plugins_import_no_other_plugin_package():
    found = {p: other_plugin_references(p) for p in PACKAGES}
    assert {p: refs for p, refs in found.items() if refs} == {}


def test_the_static_check_finds_a_cross_plugin_import(tmp_path, monkeypatch):
    """The static check is not vacuous: a plugin that imports, or registers a factory of, another plugin is caught."""
    fake = tmp_path / "plugins" / "genzoo_fake"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import genzoo_fake.model\nfrom genzoo_gan.model import GANModel\n"
        "def genzoo_register_datasets(registry):\n    registry.add_dataset('x', 'genzoo_pix2pix.data:digits_edges')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PLUGIN_DIR", tmp_path / "plugins")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert other_plugin_references("genzoo_fake") == [
        "plugins/genzoo_fake/__init__.py:2 genzoo_gan.model",
        "plugins/genzoo_fake/__init__.py:4 genzoo_pix2pix.data:digits_edges",
    ]
