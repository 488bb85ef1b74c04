"""ONNX export (genzoo.export, `genzoo export`) and the onnxruntime backend of `genzoo run`.

Every bundled model is exported once (a module fixture: torch's exporter
takes about a second a graph); the tests then run the graphs with
onnxruntime on inputs the export never saw and compare with PyTorch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install "genzoo[onnx]"')
pytest.importorskip("onnxscript", reason='needs the onnx extra: pip install "genzoo[onnx]"')

import genzoo  # noqa: E402
from genzoo import export as gx  # noqa: E402
from genzoo.cli import main  # noqa: E402
from genzoo.errors import ExportError  # noqa: E402
from genzoo.interfaces import DiagonalGaussian  # noqa: E402

BUNDLED = [n for n in genzoo.list_models() if str(genzoo.info(n).source).startswith("bundled:")]
DOCS = Path(__file__).resolve().parents[1] / "docs"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """Each bundled model exported with the default targets, by name."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for name in BUNDLED:
        gx.export_onnx(genzoo.load(name, components="inference"), root / name, name=name)
        out[name] = root / name
    return out


def pytorch_outputs(module, inputs) -> list[torch.Tensor]:
    with torch.no_grad():
        out = module.eval()(*inputs)
    if isinstance(out, DiagonalGaussian):
        return [out.mean, out.logvar]
    return list(out) if isinstance(out, (tuple, list)) else [out]


def max_diff(module, onnx_model: gx.OnnxModel, name: str, inputs) -> float:
    got = onnx_model.run(name, *inputs)
    want = pytorch_outputs(module, inputs)
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in want]
    return max(float((a - b).abs().max()) for a, b in zip(got, want))


def test_every_bundled_model_exports_and_matches_pytorch_at_another_batch(exports):
    assert len(BUNDLED) >= 8 and {"cyclegan-digits-bold", "clip-digits", "vae-digits", "cgan-digits"} <= set(BUNDLED)
    for name, folder in exports.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        model = genzoo.load(name, components="inference")
        targets = model.export_targets()
        assert manifest["family"] == model.family and set(manifest["components"]) == set(targets), name
        assert manifest["max_abs_diff"] <= 1e-4 and manifest["tolerance"] == 1e-4
        onnx_model = gx.OnnxModel(folder)
        for comp, target in targets.items():
            entry = manifest["components"][comp]
            assert (folder / entry["file"]).is_file() and entry["inputs"][0]["shape"][0] == "batch"
            assert [s[0][0] for s in entry["checked_shapes"]] == [2, 3]  # exported at batch 2, checked at 2 and 3
            fresh = gx.component_target(target.module, batch=5).inputs  # inputs the export never saw
            assert max_diff(target.module, onnx_model, comp, fresh) <= 1e-4, (name, comp)
    clip = json.loads((exports["clip-digits"] / "manifest.json").read_text())["components"]
    assert set(clip) == {"image_encoder", "text_encoder"}  # both towers; logit_scale is a parameter, not a graph
    vae = json.loads((exports["vae-digits"] / "manifest.json").read_text())["components"]["encoder"]
    assert [o["name"] for o in vae["outputs"]] == ["mean", "logvar"]  # the posterior, as two tensors


@pytest.mark.parametrize("name, size", [("cyclegan-digits-bold", (24, 40)), ("pix2pix-digits-edges", (64, 96))])
def test_translation_generators_take_any_size(exports, name, size):
    model = genzoo.load(name, components="inference")
    onnx_model = gx.OnnxModel(exports[name])
    entry = onnx_model.components["generator"]
    assert entry["inputs"][0]["shape"][2:] == ["height", "width"] and entry["multiple_of"] == model.generator_for("a2b").multiple
    x = torch.rand(3, 1, *size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert max_diff(model.generator_for("a2b"), onnx_model, "generator", (x,)) <= 1e-4
    kept = onnx_model.translate(x[:, :, :21, :30], keep_size=True)  # padded to the multiple and cropped back
    assert kept.shape == (3, 1, 21, 30)
    assert float((kept - model.translate(x[:, :, :21, :30], keep_size=True)).abs().max()) <= 1e-4


def test_onnx_backend_translates_a_folder_as_pytorch_does(exports, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 28), dtype=np.uint8)).save(src / f"d{i}.png")
    code, out, err = run(capsys, "run", str(exports["cyclegan-digits-bold"]), str(src), "-o", str(tmp_path / "ort"), "--json")
    assert code == 0, err
    assert len(json.loads(out)["images"]) == 3
    assert run(capsys, "run", "cyclegan-digits-bold", str(src), "-o", str(tmp_path / "pt"))[0] == 0
    for i in range(3):
        a = np.asarray(Image.open(tmp_path / "ort" / f"d{i}.png"), dtype=int)
        b = np.asarray(Image.open(tmp_path / "pt" / f"d{i}.png"), dtype=int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1  # equal up to rounding to 8 bits


def test_onnx_backend_samples_as_pytorch_does(exports, tmp_path, capsys):
    for name in ("vae-digits", "dcgan-digits"):
        images, nrow = gx.OnnxModel(exports[name]).sample(6, seed=3)
        want = genzoo.load(name).sample(6, seed=3)
        assert images.shape == want.shape and float((images - want).abs().max()) <= 1e-4, name
    code, out, err = run(capsys, "run", str(exports["dcgan-digits"]), "-o", str(tmp_path / "g.png"), "--n", "4")
    assert code == 0 and "(onnxruntime)" in out and Image.open(tmp_path / "g.png").size[0] > 0
    cgan = gx.OnnxModel(exports["cgan-digits"])
    images, nrow = cgan.sample(2, seed=0, labels=[3, 7])
    assert images.shape[0] == 4 and nrow == 2
    code, _, err = run(capsys, "run", str(exports["cgan-digits"]), "-o", str(tmp_path / "c.png"))
    assert code == 1 and "--labels" in err
    code, _, err = run(capsys, "run", str(exports["clip-digits"]), "-o", str(tmp_path / "c.png"))
    assert code == 1 and "runs the tasks translate, sample" in err


def test_backend_flag_says_what_a_folder_is(exports, tmp_path, capsys):
    code, _, err = run(capsys, "run", "toy-digits", "--backend", "onnxruntime", "-o", str(tmp_path / "t.png"))
    assert code == 1 and "genzoo export toy-digits --format onnx -o DIR" in err
    code, _, err = run(capsys, "run", str(exports["toy-digits"]), "--backend", "torch", "-o", str(tmp_path / "t.png"))
    assert code == 1 and "is an ONNX export" in err
    code, _, err = run(capsys, "run", str(exports["toy-digits"]), "--dtype", "bf16", "-o", str(tmp_path / "t.png"))
    assert code == 1 and "--dtype: not supported by the onnxruntime backend" in err
    code, _, err = run(capsys, "run", str(exports["toy-digits"]), "--compile", "--channels-last", "-o", str(tmp_path / "t.png"))
    assert code == 1 and "--channels-last, --compile: not supported by the onnxruntime backend" in err


def test_a_graph_that_differs_from_pytorch_is_never_written(tmp_path, monkeypatch):
    real = gx.run_session
    monkeypatch.setattr(gx, "run_session", lambda s, inputs: [y + 1e-3 for y in real(s, inputs)])
    with pytest.raises(ExportError, match=r"differ from PyTorch's by up to 0\.001.*nothing was written"):
        gx.export_onnx(genzoo.load("toy-digits", components="inference"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # no folder, no staging left behind


def test_export_command_and_target_folders(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    code, _, err = run(capsys, "export", "toy-digits", "--format", "onnx", "-o", str(foreign))
    assert code == 1 and "is not a genzoo export" in err and [p.name for p in foreign.iterdir()] == ["notes.txt"]
    code, _, err = run(capsys, "export", "toy-digits", "-o", str(foreign / "notes.txt"))
    assert code == 1 and "is a file" in err
    out = tmp_path / "exp"  # an earlier export (as genzoo writes its manifest), with a file of the user's
    out.mkdir()
    earlier = {"genzoo_export": 1, "components": {"old": {"file": "old.onnx", "files": ["old.onnx"]}}}
    (out / "manifest.json").write_text(json.dumps(earlier))
    (out / "old.onnx").write_bytes(b"from an earlier export")
    (out / "README.txt").write_text("the user's own file")
    code, text, err = run(capsys, "export", "toy-digits", "--format", "onnx", "-o", str(out))
    assert code == 0, err
    assert "generator: generator.onnx" in text and "max abs diff vs PyTorch" in text and "limit 0.0001" in text
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "generator.onnx", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["name"] == "toy-digits"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_extra_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    code, _, err = run(capsys, "export", "toy-digits", "-o", str(tmp_path / "x"))
    assert code == 1 and 'pip install "genzoo[onnx]"' in err and not (tmp_path / "x").exists()
    with pytest.raises(ExportError, match="onnxruntime"):
        gx.require_onnx()


def test_export_page_runs(tmp_path, monkeypatch):
    from docs_runner import run_page

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_page(DOCS / "export.md", tmp_path)
