"""`genzoo bench`: load and inference timings against plain PyTorch (figures measured, not asserted)."""

import json
import math

import pytest
import torch

import genzoo
from genzoo import bench
from genzoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


LOAD_KEYS = {"plain_ms", "genzoo_ms", "speedup"}
INFERENCE_KEYS = {
    "task", "unit", "batch_size", "plain_per_s", "genzoo_per_s", "speedup",
    "plain_ms", "genzoo_ms", "plain_first_ms", "genzoo_first_ms",
}  # fmt: skip


@pytest.mark.parametrize(
    "name, task", [("vae-digits", "sample"), ("pix2pix-digits-edges", "translate"), ("clip-digits", "encode_image")]
)
def test_json_figures(capsys, name, task):
    code, out, err = run(capsys, "bench", name, "--device", "cpu", "--repeat", "1", "--batch-size", "2", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert {"name", "family", "parameters", "device", "dtype", "compile", "channels_last", "repeat", "load",
            "inference", "notes"} <= set(r)  # fmt: skip
    assert r["name"] == name and r["device"] == "cpu" and r["dtype"] == "fp32" and positive(r["parameters"])
    assert set(r["load"]) == LOAD_KEYS and all(positive(v) for v in r["load"].values())
    inf = r["inference"]
    assert set(inf) == INFERENCE_KEYS and inf["task"] == task and inf["unit"] == "images" and inf["batch_size"] == 2
    assert all(positive(inf[k]) for k in INFERENCE_KEYS - {"task", "unit"})
    assert math.isclose(inf["plain_per_s"], 2 / (inf["plain_ms"] / 1e3))
    assert math.isclose(inf["speedup"], inf["genzoo_per_s"] / inf["plain_per_s"])


def test_human_output(capsys):
    code, out, _ = run(capsys, "bench", "ae-digits", "--device", "cpu", "--repeat", "1", "--batch-size", "2",
                       "--dtype", "bf16", "--channels-last")  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ae-digits: autoencoder, ") and "cpu" in lines[0]
    assert "plain PyTorch (init + torch.load + load_state_dict)" in out and "genzoo.load" in out
    assert "inference: reconstruct, batch 2" in out and "images/s" in out
    assert "genzoo (bf16, eager, channels_last, inference_mode)" in out
    speedups = [float(line.split()[-1].rstrip("x")) for line in lines if line.strip().startswith("speed-up:")]
    assert len(speedups) == 2 and all(positive(s) for s in speedups)


def test_python_api_and_hook():
    r = bench.bench("vae-digits", device="cpu", repeat=1, warmup=1, batch_size=3)
    assert r.inference.task == "sample" and r.inference.items == 3 and positive(r.load.speedup)
    assert json.loads(json.dumps(r.as_dict()))["inference"]["batch_size"] == 3

    model = genzoo.load("ae-digits")
    assert bench.workload(model, 2).task == "reconstruct" and model.image_shape == (1, 16, 16)
    model.bench_inputs = lambda n: ("encode", {"images": torch.zeros(n, 1, 16, 16)})  # a family's own choice
    w = bench.workload(model, 4)
    assert w.task == "encode" and w.call().shape[0] == 4


def test_folder_name(tmp_path):
    folder = genzoo.save(genzoo.create("toy"), tmp_path / "toy")  # any name genzoo.load takes
    r = bench.bench(str(folder), device="cpu", repeat=1, warmup=1, batch_size=2)
    assert r.family == "toy" and r.inference.task == "sample" and positive(r.inference.genzoo_per_s)


def test_timing_helpers():
    calls = []
    times = bench.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=2, warmup=1)
    assert calls == ["a", "b"] * 3  # warm-up, then taking turns
    assert len(times["a"]) == len(times["b"]) == 2 and len(times["a:first"]) == 1
    assert bench.timed(lambda: None, 3) >= 0


def test_errors(capsys):
    code, _, err = run(capsys, "bench", "no-such-model", "--repeat", "1")
    assert code == 1 and err.startswith("genzoo: error: cannot load 'no-such-model'")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "bench", "vae-digits", "--repeat", "0")
    assert code == 1 and "--repeat must be at least 1" in err
    if not torch.cuda.is_available():
        code, _, err = run(capsys, "bench", "vae-digits", "--device", "cuda")
        assert code == 1 and "CUDA is not available" in err and "does not fall back" in err
    with pytest.raises(SystemExit):  # argparse: not a dtype
        main(["bench", "vae-digits", "--dtype", "fp8"])
    capsys.readouterr()
    with pytest.raises(genzoo.ConfigError, match="bench_inputs"):
        bench.workload(torch.nn.Linear(2, 2), 2)
