"""genzoo_clip.layers restates timm's ViT and Block: same state-dict keys, same outputs, same init scheme."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from genzoo_clip import layers
from genzoo_clip.tokenizer import _BUILT, CLIPTokenizer, bundled_vocabulary_folder

timm_vit = pytest.importorskip("timm.models.vision_transformer")
timm_layers = pytest.importorskip("timm.layers")


def timm_trunk(act: str) -> nn.Module:
    return timm_vit.VisionTransformer(
        img_size=16, patch_size=4, in_chans=3, num_classes=0, global_pool="token", class_token=True, embed_dim=32,
        depth=2, num_heads=2, mlp_ratio=4.0, qkv_bias=True, pre_norm=True, act_layer=timm_layers.get_act_layer(act),
        norm_layer=partial(nn.LayerNorm, eps=1e-5),
    )  # fmt: skip


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
def test_vit_and_block_equal_timm(act):
    torch.manual_seed(0)
    ref = timm_trunk(act).eval()
    ours = layers.VisionTransformer(image_size=16, patch_size=4, channels=3, width=32, layers=2, heads=2,
                                    mlp_ratio=4.0, act=act, eps=1e-5).eval()  # fmt: skip
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-6, rtol=0)

    ref_block = timm_vit.Block(32, 2, mlp_ratio=4.0, qkv_bias=True, act_layer=timm_layers.get_act_layer(act),
                               norm_layer=partial(nn.LayerNorm, eps=1e-5)).eval()  # fmt: skip
    block = layers.Block(32, 2, 4.0, act, 1e-5).eval()
    assert list(block.state_dict()) == list(ref_block.state_dict())
    block.load_state_dict(ref_block.state_dict())
    t = torch.randn(2, 7, 32)
    with torch.no_grad():
        for causal in (False, True):
            assert torch.allclose(block(t, is_causal=causal), ref_block(t, is_causal=causal), atol=1e-6, rtol=0)


def test_init_follows_timm_scheme():
    torch.manual_seed(0)
    vit = layers.VisionTransformer(image_size=16, patch_size=4, channels=3, width=64, layers=2, heads=2,
                                   mlp_ratio=4.0, act="gelu", eps=1e-5)  # fmt: skip
    qkv = vit.blocks[0].attn.qkv
    assert 0.018 < qkv.weight.std() < 0.022  # timm's trunc_normal_(std=0.02)
    assert torch.count_nonzero(qkv.bias) == 0 and vit.cls_token.abs().max() < 1e-4
    with torch.device("meta"):  # genzoo.load's build: no init work on meta tensors
        assert layers.VisionTransformer(image_size=16, patch_size=4, channels=3, width=32, layers=1, heads=2,
                                        mlp_ratio=4.0, act="gelu", eps=1e-5).pos_embed.is_meta  # fmt: skip


def test_tokenizer_is_read_at_load_built_on_first_use_and_cached(tmp_path):
    folder = bundled_vocabulary_folder("digits")
    _BUILT.clear()
    make = CLIPTokenizer.deferred(folder, 12)
    assert not _BUILT  # nothing built yet
    a = make()
    b = CLIPTokenizer.from_folder(folder, 20)
    assert len(_BUILT) == 1 and a._tok is b._tok  # one build, shared tables
    assert (a.context_length, b.context_length) == (12, 20)  # each caller keeps its own context length
    assert a(["seven"]).shape == (1, 12) and b(["seven"]).shape == (1, 20)
    with pytest.raises(Exception, match="has no merges.txt"):
        (tmp_path / "vocab.json").write_text("{}")
        CLIPTokenizer.deferred(tmp_path)  # a missing file fails at load time, not at first use
