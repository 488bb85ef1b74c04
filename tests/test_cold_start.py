"""A cold `genzoo.load` imports only what the call needs (behaviour, not time: see benchmarks/bench_cold.py).

A local folder or a bundled model needs neither the Hub client (huggingface_hub,
its HTTP clients) nor torchvision, timm or ``torch._dynamo``; each of them costs
a fresh process a large part of its load time. The loads run in a fresh
interpreter, since this test process has imported all of them long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import genzoo

HEAVY = ["huggingface_hub", "httpx", "requests", "torchvision", "timm", "torch._dynamo", "open_clip"]

CHILD = textwrap.dedent(
    """
    import json, sys
    import genzoo
    heavy = json.loads(sys.argv[1])
    report = {}
    for name in sys.argv[2:]:
        model = genzoo.load(name)
        report[name] = {"family": model.family, "imported": [m for m in heavy if m in sys.modules],
                        "tokenizers": "tokenizers" in sys.modules}
    if "clip-digits" in report:  # a text needs the tokenizer: built now, from the files read at load
        model = genzoo.load("clip-digits")
        report["clip text"] = {"shape": list(model.encode_text(["seven"]).shape), "tokenizers": "tokenizers" in sys.modules}
    print(json.dumps(report))
    """
)


def load_fresh(*names: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(HEAVY), *names], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_local_and_bundled_loads_import_no_hub_vision_or_compiler_modules(tmp_path):
    folders = {
        "toy": genzoo.save(genzoo.create("toy"), tmp_path / "toy"),
        "gan": genzoo.save(genzoo.create("dcgan-digits"), tmp_path / "gan"),
        "vae": genzoo.save(genzoo.create("vae-digits"), tmp_path / "vae"),
        "cyclegan": genzoo.save(genzoo.create("cyclegan-digits-bold"), tmp_path / "cyclegan"),
    }
    names = [str(f) for f in folders.values()] + ["vae-digits", "clip-digits"]
    report = load_fresh(*names)
    assert [report[n]["family"] for n in names] == ["toy", "gan", "vae", "cyclegan", "vae", "clip"]
    for name in names:
        assert report[name]["imported"] == [], f"loading {name} imported {report[name]['imported']}"
    # the CLIP tokenizer is built on first use, not by the load ...
    assert report["clip-digits"]["tokenizers"] is False
    # ... and works when a text needs it
    assert report["clip text"] == {"shape": [1, 32], "tokenizers": True}
