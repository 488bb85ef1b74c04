"""The clip family: tokenizer, towers, loss, converters, parity with open_clip, zero-shot, CLI.

Tiny configs throughout; the reference implementation (open_clip_torch, a
test dependency) provides OpenAI's real vocabulary, the model to compare
features with, and the reference preprocessing.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import genzoo
from genzoo.cli import main
from genzoo.convert import Converted, build, convert
from genzoo.interfaces import check_component

from genzoo_clip import convert as C
from genzoo.losses import clip_contrastive_loss
from genzoo_clip.model import CLIPModel
from genzoo_clip.presets import PRESETS
from genzoo_clip.prompts import DIGIT_NAMES, DIGIT_TEMPLATES, fill
from genzoo_clip.tokenizer import CLIPTokenizer, subset_vocabulary



@pytest.fixture(scope="module")
def open_clip():
    """The reference implementation (a test dependency); tests that compare with it skip without it."""
    return pytest.importorskip("open_clip")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture(scope="module")
def openai_tok(open_clip):
    return CLIPTokenizer.openai()


@pytest.fixture(scope="module")
def reference_tok(open_clip):
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


# -- tokenizer ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, ids",
    [
        ("a diagram", [49406, 320, 22697, 49407]),
        ("a dog", [49406, 320, 1929, 49407]),
        ("Hello, World's 2 BIG   tests", [49406, 3306, 267, 1002, 568, 273, 1205, 8715, 49407]),
    ],
)
def test_known_token_ids(openai_tok, text, ids):
    row = openai_tok([text])[0]
    assert row.shape == (77,) and row.dtype == torch.long
    assert row[: len(ids)].tolist() == ids
    assert not row[len(ids) :].any()  # padded with 0


def test_vocabulary_is_openais(openai_tok):
    assert openai_tok.vocab_size == 49408 and len(openai_tok.merges) == 48894
    assert openai_tok.sot_id == 49406 and openai_tok.eot_id == 49407
    assert openai_tok.vocab["a</w>"] == 320


def test_tokenizer_matches_the_reference_on_hard_texts(openai_tok, reference_tok):
    texts = [
        "naïve café — “quotes” ☃ 日本語 テスト", "it's 12345 dollars!!! ok?", "AT&amp;T &lt;3",
        "emoji 🐶🐱 and\ttabs\nnewlines", "don't you'll we're I'm they've she'd", "ﬁne ligatures ĳssel",
        "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "x\x00y\x7fz", "", "   ", "word " * 100,
    ]  # fmt: skip
    assert torch.equal(openai_tok(texts), reference_tok(texts))


def test_truncation_keeps_the_end_token_last(openai_tok, reference_tok):
    long = "one two three " * 40
    row = openai_tok([long], context_length=16)[0]
    assert row[0] == 49406 and row[-1] == 49407 and (row != 0).all()
    assert torch.equal(row, reference_tok([long], context_length=16)[0])


def test_files_round_trip_and_decode(openai_tok, tmp_path):
    openai_tok.save(tmp_path)
    assert (tmp_path / "merges.txt").read_text().startswith("#version")
    again = CLIPTokenizer.from_folder(tmp_path)
    texts = ["A photo of a dog.", "Hello, World's 2 BIG   tests"]
    assert torch.equal(again(texts), openai_tok(texts))
    assert again.decode(again(texts)[0]) == "a photo of a dog ."


def test_digits_vocabulary_splits_captions_as_openai_does(openai_tok):
    small = CLIPTokenizer.resolve("digits")
    captions = [c for name in DIGIT_NAMES for c in fill(DIGIT_TEMPLATES, name)]
    assert small.vocab_size < 700 and small.eot_id == small.vocab_size - 1
    assert all(small.tokens(c) == openai_tok.tokens(c) for c in captions)
    # any other text still tokenizes (into bytes and the kept merges)
    assert small.decode(small(["Hello Zebra!"])[0]) == "hello zebra !"
    # and a subset built the same way is the bundled one
    vocab, merges = subset_vocabulary(captions[:3], openai_tok.vocab, openai_tok.merges)
    assert len(vocab) == 512 + len(merges) + 2 and set(merges) <= set(openai_tok.merges)


# -- model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return genzoo.create("clip").eval()


def test_towers_honour_their_interfaces(tiny):
    from genzoo.interfaces import Encoder, TextEncoder

    assert isinstance(tiny.visual, Encoder) and isinstance(tiny.text, TextEncoder)
    check_component(tiny.visual)
    check_component(tiny.text)
    assert tiny.text.tokenize(["a photo"]).shape == (1, tiny.config.context_length)
    assert tiny.logit_scale.item() == pytest.approx(math.log(1 / 0.07))


def test_text_feature_is_taken_at_the_end_token(tiny):
    tokens = tiny.tokenize(["a handwritten seven."])
    padded_differently = tokens.clone()
    end = int(tokens.argmax())
    padded_differently[0, end + 1 :] = 5  # causal mask: what follows the end token cannot matter
    with torch.no_grad():
        assert torch.allclose(tiny.text(tokens), tiny.text(padded_differently), atol=1e-6)


def test_zero_shot_api(tiny):
    from genzoo.data import DigitsDataset

    images = DigitsDataset("test", size=16, channels=3).images[:5]
    result = tiny.zero_shot(images, ["zero", "one"], templates=["a {}", "the number {}"])
    assert result.probs.shape == (5, 2) and torch.allclose(result.probs.sum(1), torch.ones(5))
    assert len(result.labels) == 5 and set(result.labels) <= {"zero", "one"}
    logits = tiny.similarity(tiny.preprocess(images), ["a zero", "a one", "a two"])
    assert logits.shape == (5, 3)


def test_preset_shapes_match_openai_parameter_counts():
    """ViT-B/32 has 151,277,313 parameters (OpenAI's released model); built on the meta device."""
    with torch.device("meta"):
        b32 = CLIPModel(CLIPModel.make_config(PRESETS["ViT-B/32"]))
        l14 = CLIPModel(CLIPModel.make_config(PRESETS["ViT-L/14@336"]))
    assert b32.num_parameters() == 151_277_313
    assert l14.num_parameters() == 427_944_193
    # the shapes alone give the config back (what the converters rely on)
    for model, preset in ((b32, "ViT-B/32"), (l14, "ViT-L/14@336")):
        for layout in C.LAYOUTS:
            state = C.from_genzoo(model.state_dict(), layout, model.config.vision_layers, model.config.text_layers)
            inferred = C.infer_config(state, layout)
            assert {k: inferred[k] for k in PRESETS[preset] if k in inferred and k != "templates"} == {
                k: PRESETS[preset][k] for k in PRESETS[preset] if k in inferred and k != "templates"
            }


# -- loss ---------------------------------------------------------------------------
def test_loss_is_symmetric_and_minimised_by_matched_pairs():
    torch.manual_seed(0)
    img = nn.functional.normalize(torch.randn(8, 16), dim=-1)
    txt = nn.functional.normalize(torch.randn(8, 16), dim=-1)
    loss = clip_contrastive_loss(img, txt, 10.0)
    assert loss.item() == pytest.approx(clip_contrastive_loss(txt, img, 10.0).item(), abs=1e-6)
    matched = clip_contrastive_loss(img, img, 10.0)
    assert matched < loss
    # matched pairs: the loss falls towards 0 as the scale grows; any mismatch keeps it higher
    assert clip_contrastive_loss(img, img, 100.0) < 1e-3
    shuffled = clip_contrastive_loss(img, img[torch.roll(torch.arange(8), 1)], 100.0)
    assert shuffled > 10
    # the same as the two cross-entropies written out
    logits = 10.0 * img @ txt.t()
    ce = nn.functional.cross_entropy
    assert loss.item() == pytest.approx(0.5 * (ce(logits, torch.arange(8)) + ce(logits.t(), torch.arange(8))).item())


# -- layouts ----------------------------------------------------------------------------
def _reference_clip(seed: int = 0):
    """A tiny open_clip CLIP (OpenAI layout) with every weight perturbed away from its init."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    ref = CLIP(
        embed_dim=24,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=8, image_size=32),
        text_cfg=CLIPTextCfg(context_length=16, vocab_size=649, width=64, heads=2, layers=2),
        quick_gelu=True,
    ).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return ref


def _from_openai_state(state, **overrides):
    cfg = C.infer_config(state, "openai")
    cfg.update(vocab="digits", **overrides)
    return build(CLIPModel, Converted(cfg, C.to_genzoo(state, "openai", cfg["vision_layers"], cfg["text_layers"])))


def test_features_match_open_clip_on_the_same_random_weights(open_clip):
    ref = _reference_clip()
    model = _from_openai_state(ref.state_dict(), vision_heads=2, text_heads=2)
    torch.manual_seed(1)
    pixels = torch.randn(4, 3, 32, 32)
    tokens = model.tokenize(["a photo of the number seven.", "a dog", "", "a handwritten two written by hand"])
    with torch.no_grad():
        img_err = (ref.encode_image(pixels) - model.encode_image(pixels)).abs().max().item()
        txt_err = (ref.encode_text(tokens) - model.encode_text(tokens)).abs().max().item()
        ref_logits = ref.logit_scale.exp() * ref.encode_image(pixels, normalize=True) @ ref.encode_text(tokens, normalize=True).t()
        logit_err = (ref_logits - model.similarity(pixels, tokens)).abs().max().item()
    assert img_err <= 1e-4 and txt_err <= 1e-4 and logit_err <= 1e-3 * ref_logits.abs().max().item()


def test_openai_genzoo_transformers_round_trips_are_exact(open_clip):
    state = _reference_clip().state_dict()
    model = _from_openai_state(state, vision_heads=2, text_heads=2)
    ours = model.state_dict()
    back = C.from_genzoo(ours, "openai", 2, 2)
    assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)
    hf = C.from_genzoo(ours, "transformers", 2, 2)
    assert any(k.endswith("self_attn.q_proj.weight") for k in hf) and "vision_model.pre_layrnorm.weight" in hf
    assert torch.equal(hf["visual_projection.weight"], state["visual.proj"].t())
    again = C.to_genzoo(hf, "transformers", 2, 2)
    assert again.keys() == ours.keys() and all(torch.equal(again[k], ours[k]) for k in ours)
    # OpenAI -> genzoo -> HF -> genzoo -> OpenAI
    final = C.from_genzoo(C.to_genzoo(C.from_genzoo(C.to_genzoo(state, "openai", 2, 2), "transformers", 2, 2), "transformers", 2, 2), "openai", 2, 2)
    assert all(torch.equal(final[k], state[k]) for k in state)


def test_layout_mismatches_are_clear_errors(open_clip):
    state = _reference_clip().state_dict()
    del state["visual.ln_post.weight"]
    state["visual.extra"] = torch.zeros(1)
    with pytest.raises(genzoo.errors.CheckpointError, match="missing: visual.ln_post.weight.*unexpected: visual.extra"):
        C.to_genzoo(state, "openai", 2, 2)
    with pytest.raises(genzoo.errors.CheckpointError, match="not a CLIP checkpoint"):
        C.detect_layout(["foo.weight"])


def _torchscript(state, path):
    """An OpenAI-style release file: a TorchScript archive of an fp16 model."""

    class Holder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    for key, value in state.items():
        *parents, leaf = key.split(".")
        mod = root
        for part in parents:
            if part not in mod._modules:
                mod.add_module(part, Holder())
            mod = mod._modules[part]
        mod.register_parameter(leaf, nn.Parameter(value.half(), requires_grad=False))
    torch.jit.save(torch.jit.script(root), str(path))


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_genzoo_convert_reads_state_dicts_safetensors_and_transformers_folders_not_torchscript(open_clip, tmp_path, capsys):
    from safetensors.torch import save_file

    ref = _reference_clip()
    state = ref.state_dict()
    vocab = tmp_path / "vocab"
    CLIPTokenizer.resolve("digits").save(vocab)
    sets = ["--set", "vision_heads=2", "--set", "text_heads=2", "--set", f"vocab={vocab}"]
    # an OpenAI-style TorchScript release file is refused (loading it would run its code), with the way out
    _torchscript(state, tmp_path / "ViT-tiny-jit.pt")
    capsys.readouterr()
    assert main(["convert", "clip", str(tmp_path / "ViT-tiny-jit.pt"), "-o", str(tmp_path / "from-jit"), *sets]) == 1
    err = capsys.readouterr().err
    assert "is a TorchScript archive" in err and "torch.jit.load" in err and ".state_dict()" in err
    assert not (tmp_path / "from-jit").exists()
    # its exported state dict (fp16, as OpenAI's files hold) converts
    torch.save({k: v.half() for k, v in state.items()}, tmp_path / "ViT-tiny.pt")
    save_file(state, tmp_path / "tiny.safetensors")
    assert main(["convert", "clip", str(tmp_path / "ViT-tiny.pt"), "-o", str(tmp_path / "from-pt"), *sets]) == 0
    assert main(["convert", "clip", str(tmp_path / "tiny.safetensors"), "-o", str(tmp_path / "from-st"), "--layout", "openai", *sets]) == 0
    capsys.readouterr()
    from_pt, from_st = genzoo.load(tmp_path / "from-pt"), genzoo.load(tmp_path / "from-st")
    assert from_pt.config.vision_heads == 2 and from_pt.dtype == torch.float32
    assert all(torch.equal(v, state[k].half().float()) for k, v in C.from_genzoo(from_pt.state_dict(), "openai", 2, 2).items())
    assert all(torch.equal(v, state[k]) for k, v in C.from_genzoo(from_st.state_dict(), "openai", 2, 2).items())
    assert "converted" in from_st.card["description"]
    # genzoo -> a transformers folder -> genzoo, through the command line
    C.export(from_st, tmp_path / "hf", "transformers")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["vision_config"]["num_attention_heads"] == 2
    assert main(["convert", "clip", str(tmp_path / "hf"), "-o", str(tmp_path / "from-hf"), "--json"]) == 0
    from_hf = genzoo.load(tmp_path / "from-hf")
    assert from_hf.config.text_heads == 2  # from the transformers config.json, not width / 64
    assert all(torch.equal(from_hf.state_dict()[k], v) for k, v in from_st.state_dict().items())
    assert torch.equal(from_hf.tokenize(["a seven"]), from_st.tokenize(["a seven"]))
    # an open_clip-style folder (as in timm's Hub repos, next to timm's own model.safetensors)
    C.export(from_st, tmp_path / "oc", "openai")
    (tmp_path / "oc" / "model.safetensors").write_bytes(b"timm's own layout, not read")
    from_oc = convert("clip", tmp_path / "oc", config={"vision_heads": 2, "text_heads": 2})
    assert all(torch.equal(from_oc.state_dict()[k], v) for k, v in from_st.state_dict().items())


def test_preprocess_matches_open_clip_transform(open_clip):
    from PIL import Image

    torch.manual_seed(0)
    arr = (torch.rand(150, 97, 3) * 255).to(torch.uint8).numpy()
    image = Image.fromarray(arr)
    reference = open_clip.image_transform(32, is_train=False)(image).unsqueeze(0)
    model = genzoo.create("clip", image_size=32, patch_size=8)
    got = model.preprocess(image)
    assert got.shape == reference.shape and (got - reference).abs().max() < 1e-5
    # genzoo tensors in [-1, 1] go through the same steps (torch's bicubic instead of PIL's)
    from genzoo.images import to_tensor

    as_tensor = to_tensor(image)
    assert (model.preprocess(as_tensor) - reference).abs().mean() < 0.05


# -- training and the bundled model -------------------------------------------------------
def test_training_with_the_shared_loop_writes_a_loadable_model(tmp_path):
    from genzoo.data import DigitsDataset
    from genzoo.training import TrainConfig, train

    torch.manual_seed(0)
    model = genzoo.create("clip", vision_layers=1, text_layers=1, vision_width=16, vision_heads=1, text_width=16, text_heads=1)
    data = DigitsDataset("train", size=16, channels=3)
    model.adapt_to_data(data)  # captions from the classes: "0".."9" become the number words
    assert model.config.class_names == list(DIGIT_NAMES)
    result = train(model, data, TrainConfig(steps=6, batch_size=32, device="cpu", progress=False, out_dir=tmp_path, log_every=3),
                   eval_dataset=DigitsDataset("test", size=16, channels=3))  # fmt: skip
    assert 0 <= result.metrics["zero_shot_accuracy"] <= 1 and math.isfinite(result.losses["loss"])
    assert 0 <= model.logit_scale.item() <= math.log(100)
    loaded = genzoo.load(result.final_path)
    assert (result.final_path / "vocab.json").is_file()
    with torch.no_grad():
        assert torch.allclose(loaded.encode_text(["a one"]), model.encode_text(["a one"]))
    # batches of (images, caption strings) work too
    images = data.images[:4]
    ctx = type("Ctx", (), {"generator": None, "world_size": 1, "autocast": lambda self: torch.autocast("cpu", enabled=False),
                           "backward": lambda self, loss: loss.backward(), "step": lambda self: None})()  # fmt: skip
    out = model.training_step((images, ["a one", "a two", "a three", "a four"]), ctx)
    assert math.isfinite(out["loss"].item())


def test_bundled_clip_digits_zero_shot_accuracy():
    from genzoo.data import DigitsDataset

    model = genzoo.load("clip-digits")
    assert model.num_parameters() * 4 < 500_000  # tiny: well under 1 MB of weights
    accuracy = model.evaluate(DigitsDataset("test", size=16, channels=3))["zero_shot_accuracy"]
    assert accuracy >= 0.9
    assert model.card["metrics"]["zero_shot_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert "genzoo train clip" in model.card["command"]


def test_genzoo_run_zero_shot_on_files(tmp_path, capsys):
    from genzoo.data import DigitsDataset
    from genzoo.images import save_image

    test = DigitsDataset("test", size=16, channels=3)
    files = []
    for i in (0, 1, 2, 3):
        files.append(tmp_path / f"digit-{int(test.labels[i])}.png")
        save_image(test.images[i], files[-1])
    assert main(["run", "clip-digits", "--zero-shot", *map(str, files), "--classes", ",".join(DIGIT_NAMES), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {row["input"]: row["prediction"] for row in out["rows"]}
    assert sum(got[f.name] == DIGIT_NAMES[int(f.stem[-1])] for f in files) >= 3
    # held-out digits by default, with their accuracy, and a picture of them
    assert main(["run", "clip-digits", "--zero-shot", "--n", "8", "-o", str(tmp_path / "grid.png")]) == 0
    text = capsys.readouterr().out
    assert "accuracy:" in text and "prediction" in text and (tmp_path / "grid.png").is_file()
    assert main(["run", "clip-digits", "--zero-shot", str(files[0]), "--classes", "cat", "dog", "--template", "a {}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["prediction"] in ("cat", "dog")


def test_features_gathered_across_processes_give_the_global_batch_gradient(tmp_path):
    """Two gloo processes, each with half the batch, get the gradient of the loss over the whole batch."""
    import socket
    import subprocess
    import sys
    from pathlib import Path

    torch.manual_seed(0)
    data = {"x": torch.randn(8, 5), "y": torch.randn(8, 6), "w_img": torch.randn(5, 4), "w_txt": torch.randn(6, 4),
            "scale": torch.tensor(10.0), "per_rank": 4}  # fmt: skip
    torch.save(data, tmp_path / "data.pt")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    worker = Path(__file__).with_name("clip_ddp_worker.py")
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(worker), str(r), "2", str(port), str(tmp_path)], env=env) for r in range(2)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]

    w_img, w_txt, scale = (data[k].clone().requires_grad_() for k in ("w_img", "w_txt", "scale"))
    img = nn.functional.normalize(data["x"] @ w_img, dim=-1)
    txt = nn.functional.normalize(data["y"] @ w_txt, dim=-1)
    loss = clip_contrastive_loss(img, txt, scale)
    loss.backward()
    expected = torch.cat([w_img.grad.flatten(), w_txt.grad.flatten(), scale.grad.flatten()])
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got["loss"].item() == pytest.approx(loss.item(), abs=1e-6)
        assert torch.allclose(got["grads"], expected, atol=1e-6)
