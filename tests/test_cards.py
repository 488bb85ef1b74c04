"""Model cards say what is true: where the model loads from, and a licence only when one is known."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import genzoo
from genzoo.card import with_load_reference
from genzoo.checkpoint import read_meta
from genzoo.cli import main


def front_matter(folder) -> str:
    return (folder / "README.md").read_text().split("---")[1]


def test_train_card_licence_comes_from_the_data_or_the_user(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "toy", "--data", "digits", "--steps", "2", "-o", "run1", "--json"]) == 0
    card = read_meta(tmp_path / "run1" / "final")["card"]
    assert card["license"] == "cc-by-4.0"  # the UCI digits' licence, not an assumed one
    readme = (tmp_path / "run1" / "final" / "README.md").read_text()
    assert 'genzoo.load("run1/final")' in readme and "license: cc-by-4.0" in front_matter(tmp_path / "run1" / "final")

    assert main(["train", "toy", "--data", "digits", "--steps", "2", "-o", "run2", "--license", "apache-2.0"]) == 0
    assert read_meta(tmp_path / "run2" / "final")["card"]["license"] == "apache-2.0"

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(np.full((8, 8), i * 30, np.uint8)).save(photos / f"{i}.png")
    assert main(["train", "toy", "--data", str(photos), "--steps", "2", "--batch-size", "4", "-o", "run3", "--json"]) == 0
    capsys.readouterr()
    assert read_meta(tmp_path / "run3" / "final")["card"].get("license") is None  # your own images: not stated
    assert "license:" not in front_matter(tmp_path / "run3" / "final")


def test_pushed_card_loads_from_the_hub_repo(tmp_path):
    folder = genzoo.save(genzoo.create("toy"), tmp_path / "m", card={"load_as": "m"})
    readme = (folder / "README.md").read_text()
    assert 'genzoo.load("m")' in readme
    pushed = with_load_reference(readme, "me/toy")
    assert 'genzoo.load("me/toy")' in pushed and 'genzoo.load("m")' not in pushed
    assert pushed.replace('"me/toy"', '"m"') == readme  # nothing else changes


def test_converted_card_loads_the_output_folder(tmp_path, capsys):
    import torch

    from test_pix2pix import random_state, resnet_layout

    torch.save(random_state(resnet_layout(ngf=4, n_blocks=1)), tmp_path / "latest_net_G.pth")
    out = tmp_path / "converted"
    assert main(["convert", "cyclegan", str(tmp_path / "latest_net_G.pth"), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["family"] == "cyclegan"
    assert f"genzoo.load({json.dumps(str(out))})" in (out / "README.md").read_text()


def test_a_converted_clip_carries_the_papers_training_defaults_not_the_digits_recipe():
    import open_clip
    from genzoo_clip.convert import infer_config
    from genzoo_clip.model import CLIPConfig

    state = open_clip.CLIP(embed_dim=16, vision_cfg={"image_size": 32, "patch_size": 8, "width": 64, "layers": 1, "head_width": 32},
                           text_cfg={"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
                           quick_gelu=True).state_dict()
    cfg = infer_config(state, "openai")
    assert (cfg["lr"], cfg["weight_decay"], cfg["warmup_steps"]) == (5e-4, 0.2, 2000)
    assert (CLIPConfig().lr, CLIPConfig().warmup_steps) == (2e-3, 100)  # the digits recipe's, which it must not carry


def test_bundled_cards_state_the_licence_of_the_digits_they_were_trained_on():
    """Every bundled model was trained on the UCI digits (CC BY 4.0): its entry, config and README say so, as the recipe writes."""
    import importlib.resources

    from genzoo.plugins import get_registry
    from genzoo.registry import BundledSource

    bundled = [e for e in get_registry().models.values() if isinstance(e.source, BundledSource)]
    assert len(bundled) >= 10
    for entry in bundled:
        folder = importlib.resources.files(entry.source.package) / entry.source.path
        assert entry.license == "cc-by-4.0", entry.name
        assert json.loads((folder / "config.json").read_text())["card"]["license"] == "cc-by-4.0", entry.name
        assert "license: cc-by-4.0" in (folder / "README.md").read_text().split("---")[1], entry.name
