"""Fidelity with open_clip: token ids, image preprocessing, and the open_clip layout's config.

The reference is open_clip_torch (a test dependency). Each comparison counts
what differs and asserts the count is zero, so a failure says how far off
genzoo is, not only that it is.
"""

from __future__ import annotations

import json
import random
import warnings

import pytest
import torch

import genzoo
from genzoo.convert import convert
from genzoo_clip.tokenizer import CLIPTokenizer

open_clip = pytest.importorskip("open_clip")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


# -- token ids -----------------------------------------------------------------------------
_HAND_WRITTEN = [
    # plain, case, punctuation, numbers
    "a photo of a dog.", "A PHOTO OF A DOG", "Hello, World's 2 BIG   tests", "it's 12345 dollars!!! ok?",
    "3.14159 is pi; 1,000,000 people", "v2.0-beta_release#42", "$100 & 50% off!!!", "(a) [b] {c} <d>",
    "e-mail: someone@example.com", "https://example.com/a?b=c&d=e", "C++ vs. C# vs. F#", "x^2 + y^2 = z^2",
    "'quoted' \"double\" `back`", "...", "!!!???", "--", "a", "I", "0", "007", "1st 2nd 3rd 4th",
    # contractions and apostrophes
    "don't you'll we're I'm they've she'd he's", "DON'T YOU'LL", "rock 'n' roll", "'s 't 're 've 'm 'll 'd",
    "''s", "it''s", "the dogs' bowls", "o'clock O'Neil", "don’t", "it‘s a ‘test’", "l'été",
    # empty and whitespace
    "", " ", "   ", "\t", "\n", "\r\n", "\t\n \r", "\x0b\x0c", "\u3000", "\xa0", "a\xa0b", "a\u2003b\u2009c",
    "a\u200bb", "a\u2028b\u2029c", "\x1c\x1d\x1e\x1f", "x\x1cy",
    # control characters, \x85, terminal escapes
    "x\x00y\x7fz", "a\x85b", "\x85", "line\x85next", "\x1b[31mred\x1b[0m text", "\x1b[1;32mbold green\x1b[m",
    "\x1b]0;title\x07rest", "bell\x07", "back\x08space", "\ufeffbom at start", "soft\xadhyphen",
    "zero\u200dwidth\u200cjoiners", "left\u200eright\u200fmarks", "\ud7ff", "tab\there",
    # mojibake (UTF-8 read as Windows-1252 / Latin-1)
    "donâ€™t", "Ã©tÃ©", "cafÃ©", "â€œquotedâ€\x9d", "Ã¼ber", "naÃ¯ve", "â€”dashâ€”", "SchrÃ¶dinger",
    "Ã\xa0 la carte", "ðŸ˜€ smile", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "æ—¥æœ¬èªž", "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.",
    "l’humanitÃ©", "Ã", "Â£50", "Â", "â€",
    # HTML entities, nested
    "AT&amp;T &lt;3", "&amp;amp;", "&amp;amp;amp;", "&amp;amp;amp;amp;", "&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>",
    "&quot;hi&quot;", "&#39;s", "&#x27;", "&#8217;", "&nbsp;space", "&copy; 2024", "&eacute;t&eacute;",
    "&amp;eacute;", "&amp;#39;", "&bogus;", "& amp;", "&#0;", "&#x1F600;", "&#128512;", "&amp&amp",
    "&AMP;", "&lt&gt", "fish &amp; chips &amp;amp; peas",
    # literal special tokens
    "<|endoftext|>", "<|startoftext|>", "a <|endoftext|> b", "before<|endoftext|>after", "<|ENDOFTEXT|>",
    "<|startoftext|>hello<|endoftext|>", "&lt;|endoftext|&gt;", "<|endoftext|><|endoftext|><|endoftext|>",
    "</w>", "a</w>b", "<start>", "<|endoftext", "endoftext|>",
    # where the regex engines' Unicode tables differ: U+0345 folds to a letter; code points newer than Python's
    "a\u0345b", "ᾳ ῳ α\u0345", "\u0345", "x\U00018f67y", "\U0003d15c 1\U0003d15c2", "\U000323b0", "\U0001e4d0",
    # accents, ligatures, widths, normalization forms
    "naïve café — “quotes” ☃", "crème brûlée", "e\u0301te\u0301", "Å Å Å", "ﬁne ligatures ĳssel", "ﬀ ﬂ ﬃ ﬄ ﬅ ﬆ",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "ｶﾀｶﾅ", "①②③", "x² y³ ½ ¼", "™ ℃ № ℡", "Ǆemal ǅ ǆ", "Straße STRASSE",
    "İstanbul ıi", "ΣΑΣ σας ΟΔΥΣΣΕΥΣ", "Ωmega ω", "ﬁ", "\u017ft", "Ⅻ ⅻ", "ＡＢＣ", "ǰ", "ŉ",
    # other scripts
    "日本語 テスト", "中文字符 和 English", "한국어 텍스트", "Привет, мир!", "Γειά σου Κόσμε", "שלום עולם",
    "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก", "ქართული", "Ἀθῆναι", "𝓗𝓮𝓵𝓵𝓸", "𝐁𝐨𝐥𝐝 𝟏𝟐𝟑",
    "٠١٢٣٤٥٦٧٨٩", "१२३", "〇一二三", "Ⅷ", "ꓮꓯ", "ᚠᚢᚦ", "ⴰⵣⵓⵍ", "𐌰𐌱𐌲",
    # emoji
    "emoji 🐶🐱 and\ttabs\nnewlines", "👍🏽", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "❤️", "🇫🇷🇩🇪", "1️⃣", "😀😃😄😁",
    "a🐶b", "🐶dog", "©®", "☃️", "🫠 melting",
]

_PIECES = [
    "dog", "Café", "don't", "donâ€™t", "&amp;amp;", "<|endoftext|>", "\x85", "\x1b[31m", "日本", "🐶", "42", "x\u0301",
    "ﬁ", "ＡＢ", "   ", "\t", "'s", "İ", "ß", "Σ", "\xa0", "&lt;", "--", "​", "Ã©", "١٢",
]  # fmt: skip


def _generated(n: int, seed: int = 0) -> list[str]:
    """Texts joined from the pieces above, and random runs of code points from many blocks."""
    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0x80, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x2000, 0x206F), (0x2100, 0x22FF), (0x3000, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC80),
              (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1D400, 0x1D4FF), (0x0, 0x1F)]  # fmt: skip
    out = []
    for i in range(n):
        if i % 2:
            out.append("".join(rng.choice(_PIECES) + rng.choice(["", " ", "-", ""]) for _ in range(rng.randint(1, 6))))
        else:
            chars = []
            for _ in range(rng.randint(1, 24)):
                lo, hi = rng.choice(blocks)
                c = rng.randint(lo, hi)
                if not 0xD800 <= c <= 0xDFFF:
                    chars.append(chr(c))
            out.append("".join(chars))
    return out


def _long() -> list[str]:
    return [
        "word " * 100, "one two three " * 40, "a photo of a " + "very " * 80 + "big dog", "🐶" * 200,
        "日本語" * 60, "supercalifragilisticexpialidocious " * 20, "&amp;" * 100, "x" * 1000, "1234567890" * 30,
    ]


TEXTS = _HAND_WRITTEN + _long() + _generated(240)


@pytest.fixture(scope="module")
def genzoo_tok():
    return CLIPTokenizer.openai()


def _differing(ours: torch.Tensor, theirs: torch.Tensor, texts: list[str]) -> list[str]:
    return [t for t, a, b in zip(texts, ours, theirs) if not torch.equal(a, b)]


def test_token_ids_equal_open_clip_tokenize_on_varied_texts(genzoo_tok):
    assert len(TEXTS) >= 300
    differing = _differing(genzoo_tok(TEXTS), open_clip.tokenize(TEXTS), TEXTS)
    print(f"{len(differing)} of {len(TEXTS)} token sequences differ from open_clip.tokenize")
    assert differing == []


def test_special_token_names_in_a_text_are_text(genzoo_tok):
    """A typed ``<|endoftext|>`` neither ends the row early nor becomes an id the text tower pools at."""
    row = genzoo_tok(["a photo <|endoftext|> of a dog"])[0].tolist()
    assert row.count(49407) == 1 and row.count(49406) == 1
    assert genzoo_tok.decode(row) == "a photo <| endoftext |> of a dog"  # the words, as CLIP splits them
    assert row == open_clip.tokenize(["a photo <|endoftext|> of a dog"])[0].tolist()


def test_open_clips_own_special_spellings_are_text_here_and_control_ids_there(genzoo_tok):
    """The one deliberate difference: open_clip makes a typed ``<end_of_text>`` its end id (and the
    tower pools there, dropping the rest of the prompt); genzoo keeps every typed text as text."""
    text = "a dog <end_of_text> on a beach"
    ours, theirs = genzoo_tok([text])[0].tolist(), open_clip.tokenize([text])[0].tolist()
    assert theirs.count(49407) == 2 and ours.count(49407) == 1
    assert genzoo_tok.decode(ours) == "a dog < end _ of _ text > on a beach"


# -- image preprocessing ------------------------------------------------------------------------
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")  # square, landscape, grey
MODES = ("RGB", "L", "P", "P-adaptive", "RGBA", "LA", "CMYK", "1", "YCbCr", "HSV", "LAB", "I", "I;16", "F", "RGBX")


def _in_mode(photo: str, mode: str):
    """A scikit-image sample photo in a PIL mode; alpha channels hold a real gradient (not all opaque)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rgb = Image.fromarray(getattr(data, photo)()).convert("RGB")
    if mode in ("RGBA", "LA"):
        alpha = np.add.outer(np.linspace(0, 127, rgb.height), np.linspace(0, 128, rgb.width)).astype(np.uint8)
        im = rgb.convert(mode)
        im.putalpha(Image.fromarray(alpha))
        return im
    if mode == "P-adaptive":
        return rgb.quantize(64)
    if mode == "I;16":
        return rgb.convert("L").convert("I;16")
    return rgb.convert(mode)


@pytest.mark.parametrize("size", [224, 16])  # CLIP's real size, and the bundled clip-digits' size
def test_preprocess_equals_open_clip_transform_for_every_pil_mode(size):
    model = genzoo.load("clip-digits") if size == 16 else genzoo.create("clip", image_size=224, patch_size=32)
    assert model.config.image_size == size and list(model.config.image_mean) == list(open_clip.OPENAI_DATASET_MEAN)
    reference = open_clip.image_transform(size, is_train=False)  # OpenAI mean/std, bicubic, centre crop
    worst = {}
    for photo in PHOTOS:
        for mode in MODES:
            image = _in_mode(photo, mode)
            assert image.mode == mode.split("-")[0]
            worst[(photo, mode)] = (model.preprocess(image) - reference(image).unsqueeze(0)).abs().max().item()
    print(f"size {size}: max |genzoo - open_clip| over {len(worst)} photo/mode pairs = {max(worst.values())}")
    assert {k: v for k, v in worst.items() if v != 0.0} == {}


def test_preprocess_of_files_equals_open_clip_transform(tmp_path):
    """Palette and RGBA PNG files, read from disk as genzoo reads them (the ``genzoo run`` path)."""
    from PIL import Image

    model = genzoo.create("clip", image_size=224, patch_size=32)
    reference = open_clip.image_transform(224, is_train=False)
    paths = []
    for photo, mode in (("chelsea", "P-adaptive"), ("coffee", "RGBA"), ("rocket", "P")):
        paths.append(tmp_path / f"{photo}-{mode}.png")
        _in_mode(photo, mode).save(paths[-1])
    with torch.no_grad():
        got = model.preprocess(paths)
    expected = torch.stack([reference(Image.open(p)) for p in paths])
    assert Image.open(paths[0]).mode == "P" and Image.open(paths[1]).mode == "RGBA"
    assert torch.equal(got, expected)


# -- the open_clip layout's config -----------------------------------------------------------
#: A tiny open_clip model config (open_clip's own format), GELU as most open_clip-trained models.
TINY_GELU = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}


def _open_clip_repo(folder, model_cfg: dict, seed: int = 0):
    """An open_clip model with seeded random weights, saved as open_clip writes a Hub repo
    (``open_clip_model.safetensors`` + ``open_clip_config.json``, by its own ``save_for_hf``)."""
    from types import SimpleNamespace

    from open_clip.push_to_hf_hub import save_for_hf

    (folder.parent / f"{folder.name}.json").write_text(json.dumps(model_cfg))
    open_clip.add_model_config(folder.parent / f"{folder.name}.json")
    torch.manual_seed(seed)
    model, _, transform = open_clip.create_model_and_transforms(folder.name, pretrained=None)
    with torch.no_grad():
        for p in model.parameters():  # larger than the init, so that the activation matters
            p.add_(torch.randn_like(p) * 0.05)
    save_for_hf(model.eval(), SimpleNamespace(save_pretrained=lambda d: None), model_cfg, folder, safe_serialization=True)
    return model, transform


PROMPTS = ["a photo of a cat.", "a cup of coffee", "an astronaut", "a rocket on the launch pad", "don't &amp; can't"]


def _feature_errors(ours, theirs, transform) -> tuple[float, float]:
    """Largest |difference| of image features (real photos, each side's own preprocess) and text features."""
    photos = [_in_mode(p, m) for p, m in (("chelsea", "RGB"), ("coffee", "P-adaptive"), ("astronaut", "RGBA"), ("camera", "L"))]
    with torch.no_grad():
        img = (ours.encode_image(ours.preprocess(photos)) - theirs.encode_image(torch.stack([transform(p) for p in photos])))
        txt = ours.encode_text(PROMPTS) - theirs.encode_text(open_clip.tokenize(PROMPTS))
    return img.abs().max().item(), txt.abs().max().item()


def test_open_clip_repo_converts_with_the_activation_its_config_records(tmp_path):
    reference, transform = _open_clip_repo(tmp_path / "tiny-gelu", TINY_GELU)
    assert isinstance(reference.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the config says everything: no guess, no warning
        model = convert("clip", tmp_path / "tiny-gelu").eval()
    c = model.config
    assert (c.act, c.vision_heads, c.text_heads, c.image_size, c.patch_size) == ("gelu", 2, 4, 224, 32)
    img_err, txt_err = _feature_errors(model, reference, transform)
    print(f"open_clip GELU model: max |feature difference| image {img_err:.2e}, text {txt_err:.2e}")
    assert img_err < 1e-5 and txt_err < 1e-5
    # what the issue saw: reading the same weights as quick_gelu is measurably off
    wrong = convert("clip", tmp_path / "tiny-gelu", config={"act": "quick_gelu"}).eval()
    assert min(_feature_errors(wrong, reference, transform)) > 1e-3


def test_quick_gelu_config_and_exported_folders_round_trip_through_open_clip(tmp_path):
    cfg = {**TINY_GELU, "quick_gelu": True}
    reference, transform = _open_clip_repo(tmp_path / "tiny-quick", cfg, seed=1)
    model = convert("clip", tmp_path / "tiny-quick").eval()
    assert model.config.act == "quick_gelu"
    assert max(_feature_errors(model, reference, transform)) < 1e-5
    # genzoo writes the open_clip layout with its config, and open_clip reads it back
    from genzoo_clip.convert import export

    export(model, tmp_path / "back", "openai")
    assert json.loads((tmp_path / "back" / "open_clip_config.json").read_text())["model_cfg"]["quick_gelu"] is True
    again = open_clip.create_model("local-dir:" + str(tmp_path / "back")).eval()
    assert max(_feature_errors(model, again, transform)) < 1e-5


def test_weights_without_a_config_say_which_activation_was_assumed(tmp_path):
    from safetensors.torch import save_file

    reference, _ = _open_clip_repo(tmp_path / "tiny-bare", TINY_GELU)
    save_file(reference.state_dict(), tmp_path / "bare.safetensors")
    with pytest.warns(UserWarning, match=r"does not record its MLP activation; assumed quick_gelu .*--set act=gelu"):
        model = convert("clip", tmp_path / "bare.safetensors", config={"vision_heads": 2, "text_heads": 4})
    assert model.config.act == "quick_gelu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said explicitly: nothing to warn about
        model = convert("clip", tmp_path / "bare.safetensors", config={"act": "gelu", "vision_heads": 2, "text_heads": 4})
    assert model.config.act == "gelu"


def test_open_clip_options_genzoo_lacks_are_errors(tmp_path):
    from genzoo.errors import CheckpointError, ConfigError

    _open_clip_repo(tmp_path / "tiny-opts", TINY_GELU)
    path = tmp_path / "tiny-opts" / "open_clip_config.json"
    original = json.loads(path.read_text())
    changed = json.loads(path.read_text())
    changed["model_cfg"]["text_cfg"]["pool_type"] = "last"
    path.write_text(json.dumps(changed))
    with pytest.raises(ConfigError, match=r"text_cfg.pool_type='last' is an open_clip option genzoo's CLIP does not implement"):
        convert("clip", tmp_path / "tiny-opts")
    changed = json.loads(json.dumps(original))
    changed["model_cfg"]["vision_cfg"]["width"] = 128
    path.write_text(json.dumps(changed))
    with pytest.raises(CheckpointError, match=r"says vision_width=128 but the weights have 64"):
        convert("clip", tmp_path / "tiny-opts")
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match="open_clip_config.json is not valid JSON"):
        convert("clip", tmp_path / "tiny-opts")
