"""CLIP from a Hugging Face (transformers-layout) Hub repo, converted on load, against a real Hub server (olah)."""

from __future__ import annotations

import json

import pytest
import torch
from hubserver import HubServer

import genzoo
from genzoo import plugins
from genzoo.cli import main
from genzoo.convert import convert
from genzoo.errors import CheckpointError

from genzoo_clip import convert as C

REPO = "openai/clip-vit-base-patch32"  # the repo id of the registered clip-vit-b-32


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubServer(tmp_path_factory.mktemp("hub")) as server:
        yield server


@pytest.fixture
def tiny():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = genzoo.create("clip", vision_width=32, vision_heads=2, text_width=32, text_heads=2, vision_layers=1, text_layers=1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def register(name, repo, revision):
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model(name, family="clip", source=genzoo.HubSource(repo, revision, layout="transformers"))

    plugins.register(Plugin(), name="clip-hub-test-models")


def test_registered_name_loads_a_transformers_repo(hub, tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    folder = C.export(tiny, tmp_path / "hf", "transformers")
    (folder / "preprocessor_config.json").write_text("{}")  # present in real repos, never needed
    (folder / "pytorch_model.bin").write_bytes(b"not fetched: model.safetensors comes first")
    sha = hub.publish(REPO, folder, "transformers-layout tiny CLIP")
    hub.clear_requests()

    # the real registry entry, at the commit of this server
    model = genzoo.load("clip-vit-b-32", revision=sha)
    assert same_weights(model, tiny) and model.source == "clip-vit-b-32"
    assert model.config.text_heads == 2 and model.card["license"] == "mit"
    assert torch.equal(model.tokenize(["a seven"]), tiny.tokenize(["a seven"]))
    fetched = set(hub.requested_files(REPO))
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt"} <= fetched
    assert not fetched & {"pytorch_model.bin", "preprocessor_config.json"}
    assert "transformers layout" in genzoo.info("clip-vit-b-32").source

    # a plugin's registration pinned to that commit; part of the model; the pull/offline path
    register("clip-hub-test", REPO, sha)
    text_only = genzoo.load("clip-hub-test", components=["text_encoder"], dtype="bf16")
    assert text_only.loaded_components() == ["text_encoder"] and text_only.text.proj.weight.dtype == torch.bfloat16
    assert main(["pull", "clip-hub-test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["commit"] == sha
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert same_weights(genzoo.load("clip-hub-test"), tiny)


def test_pytorch_bin_fallback_and_convert_from_the_hub(hub, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    folder = C.export(tiny, tmp_path / "hf", "transformers")
    state = C.from_genzoo(tiny.state_dict(), "transformers", 1, 1)
    state["text_model.embeddings.position_ids"] = torch.arange(tiny.config.context_length)[None]  # older files
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    sha = hub.publish("genzoo-test/clip-bin", folder)
    assert main(["convert", "clip", f"genzoo-test/clip-bin@{sha}", "-o", str(tmp_path / "out")]) == 0
    assert same_weights(genzoo.load(tmp_path / "out"), tiny)
    with pytest.raises(CheckpointError, match="has no"):
        convert("clip", f"genzoo-test/clip-bin@{sha}", layout="openai")
