"""`genzoo bench`: load and inference timings against a reference (figures measured, not asserted)."""

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


SPREADS = {"plain_ms_spread", "genzoo_ms_spread"}
LOAD_KEYS = {"plain_ms", "genzoo_ms", "speedup", "speedup_min", "speedup_max"} | SPREADS
INFERENCE_KEYS = {
    "task", "unit", "batch_size", "plain_per_s", "genzoo_per_s", "speedup", "speedup_min", "speedup_max",
    "plain_ms", "genzoo_ms", "plain_first_ms", "genzoo_first_ms",
} | SPREADS  # fmt: skip


@pytest.mark.parametrize(
    "name, task", [("vae-digits", "sample"), ("pix2pix-digits-edges", "translate"), ("clip-digits", "encode_image")]
)
def test_json_figures(capsys, name, task):
    code, out, err = run(capsys, "bench", name, "--device", "cpu", "--repeat", "3", "--batch-size", "2", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert {"name", "family", "parameters", "device", "dtype", "compile", "channels_last", "repeat", "load",
            "inference", "notes", "reference", "loadavg", "cold"} <= set(r)  # fmt: skip
    assert r["name"] == name and r["device"] == "cpu" and r["dtype"] == "fp32" and positive(r["parameters"])
    assert r["repeat"] == 3 and r["cold"] is None and len(r["loadavg"]) == 2 and len(r["loadavg"][0]) == 3
    assert set(r["load"]) == LOAD_KEYS and all(positive(v) for k, v in r["load"].items() if k not in SPREADS)
    inf = r["inference"]
    assert set(inf) == INFERENCE_KEYS and inf["task"] == task and inf["unit"] == "images" and inf["batch_size"] == 2
    assert all(positive(inf[k]) for k in INFERENCE_KEYS - {"task", "unit"} - SPREADS)
    for part in (r["load"], inf):
        assert part["speedup_min"] <= part["speedup"] <= part["speedup_max"]
        for spread in SPREADS:
            assert part[spread]["min"] <= part[spread]["median"] <= part[spread]["max"]
    assert math.isclose(inf["plain_per_s"], 2 / (inf["plain_ms"] / 1e3))
    assert math.isclose(inf["speedup"], inf["genzoo_per_s"] / inf["plain_per_s"])


def test_human_output(capsys):
    code, out, _ = run(capsys, "bench", "ae-digits", "--device", "cpu", "--repeat", "1", "--batch-size", "2",
                       "--dtype", "bf16", "--channels-last")  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ae-digits: autoencoder, ") and "cpu" in lines[0]
    assert lines[1] == "reference: genzoo's model class, plain PyTorch"
    assert lines[2].startswith("median (min-max) of 1 runs after warm-up") and "load average" in lines[2]
    assert "reference (init + torch.load + load_state_dict)" in out and "genzoo.load" in out
    assert "inference: reconstruct, batch 2" in out and "images/s" in out
    assert "reference (fp32, eager, inference_mode)" in out  # both sides in the same autograd context
    assert "genzoo (bf16, eager, channels_last, inference_mode)" in out
    speedups = [float(line.split()[1].rstrip("x")) for line in lines if line.strip().startswith("speed-up:")]
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
    times = bench.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeat=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then taking turns in alternating order
    assert len(times["a"]) == len(times["b"]) == 3 and len(times["a:first"]) == 1
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


@pytest.mark.parametrize("name", ["pix2pix-digits-edges", "cyclegan-digits-bold"])
def test_translation_families_are_timed_against_the_restated_upstream_generator(name):
    r = bench.bench(name, device="cpu", repeat=2, warmup=1, batch_size=2)
    model = genzoo.load(name)
    generator = model.generator_for("a2b")
    assert r.reference == "upstream networks.py generator, restated"
    assert r.parameters == sum(p.numel() for p in generator.parameters())  # the generator, as upstream loads it
    assert positive(r.inference.speedup) and len(r.inference.plain_runs) == len(r.inference.genzoo_runs) == 2


def test_upstream_restatement_is_independent_and_equal():
    from genzoo import bench_reference

    import ast

    tree = ast.parse(open(bench_reference.__file__).read())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "." for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"__future__", "functools", "re", "torch"}  # written from networks.py, not from genzoo's classes
    for name in ["pix2pix-digits-edges", "cyclegan-digits-bold"]:
        model = genzoo.load(name)
        c, g = model.config, model.generator_for("a2b")
        ref = bench_reference.define_G(c.input_nc, c.output_nc, c.ngf, c.netG, c.norm, c.dropout).eval()
        assert list(ref.state_dict()) == list(g.state_dict())
        ref.load_state_dict(g.state_dict())
        x = torch.rand(3, *model.image_shape) * 2 - 1
        with torch.inference_mode():
            assert torch.equal(ref(x), model.translate(x))


def test_a_disagreeing_reference_is_refused(monkeypatch):
    from genzoo import bench_reference

    real = bench_reference.define_G

    def off_by_one(*args, **kwargs):  # same layers and keys, a different computation
        net = real(*args, **kwargs)
        net.forward = lambda x: net.model(x) * 0.5
        return net

    monkeypatch.setattr(bench_reference, "define_G", off_by_one)
    with pytest.raises(genzoo.GenzooError, match="upstream reference network disagrees with cyclegan's generator"):
        bench.bench("cyclegan-digits-bold", device="cpu", repeat=1, warmup=1, batch_size=1)


def test_oversubscribed_machine_is_noted(monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (64.0, 64.0, 64.0))
    r = bench.bench("ae-digits", device="cpu", repeat=1, warmup=1, batch_size=2)
    assert r.loadavg == [[64.0, 64.0, 64.0], [64.0, 64.0, 64.0]]
    assert any(n.startswith("the machine is oversubscribed (load average 64.00 >") for n in r.notes)


def test_cold_figure(tmp_path, monkeypatch, capsys):
    from genzoo import coldstart

    folder = genzoo.save(genzoo.create("toy"), tmp_path / "toy")
    seconds, peak_mb = coldstart.cold_run(coldstart.genzoo_code(str(folder)))  # one real fresh process
    assert positive(seconds) and positive(peak_mb)
    with pytest.raises(RuntimeError, match="a cold-start process failed: .*no_such_module"):
        coldstart.cold_run("import no_such_module")

    ran = []

    def fake(code):  # which way ran, in which order
        ran.append("genzoo" if "genzoo.load" in code else "floor")
        return (2.0 if ran[-1] == "genzoo" else 1.6), 100.0

    monkeypatch.setattr(coldstart, "cold_run", fake)
    code, out, err = run(capsys, "bench", "cyclegan-digits-bold", "--device", "cpu", "--repeat", "1", "--batch-size", "1",
                         "--cold", "2")  # fmt: skip
    assert code == 0, err
    assert ran == ["floor", "genzoo", "genzoo", "floor", "floor", "genzoo"]  # a warm-up pair, then alternating turns
    assert "cold start: fresh process to a loaded model, s, 2 runs each" in out
    assert "genzoo / floor: 1.25x (1.25-1.25 per round)" in out
