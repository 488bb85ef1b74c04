"""Pix2Pix and the shared reference networks: layout, parameter counts, conversion, parity, translate, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import genzoo
from genzoo.convert import convert as convert_upstream
from genzoo.errors import CheckpointError, ConfigError
from genzoo.interfaces import check_component
from genzoo.losses import reference_gan_loss
from genzoo.nets.reference import PatchDiscriminator, PixelDiscriminator, ResnetGenerator, UnetGenerator
from genzoo.nets.reference_files import convert_generator, drop_stale_norm_stats, infer_generator_config
from genzoo.translation import linear_decay


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


# -- upstream-like state dicts, written from the reference's layout (not from our modules) --------------
STATS = ("running_mean", "running_var", "num_batches_tracked")


def _norm(keys, prefix, c, norm, stale=True):
    if norm == "batch":
        keys[f"{prefix}.weight"], keys[f"{prefix}.bias"] = (c,), (c,)
        keys[f"{prefix}.running_mean"], keys[f"{prefix}.running_var"], keys[f"{prefix}.num_batches_tracked"] = (c,), (c,), ()
    elif norm == "instance" and stale:  # what files saved by PyTorch < 0.4 carry
        keys[f"{prefix}.running_mean"], keys[f"{prefix}.running_var"], keys[f"{prefix}.num_batches_tracked"] = (c,), (c,), ()


def resnet_layout(ngf=64, n_blocks=9, in_nc=3, out_nc=3, norm="instance", dropout=False, stale=True):
    """Key -> shape of the reference ResnetGenerator's state dict (with stale InstanceNorm stats if asked)."""
    k, bias = {}, norm == "instance"

    def conv(i, o, c_in, size):
        k[f"model.{i}.weight"] = (o, c_in, size, size)
        if bias:
            k[f"model.{i}.bias"] = (o,)

    conv(1, ngf, in_nc, 7)
    _norm(k, "model.2", ngf, norm, stale)
    conv(4, 2 * ngf, ngf, 3)
    _norm(k, "model.5", 2 * ngf, norm, stale)
    conv(7, 4 * ngf, 2 * ngf, 3)
    _norm(k, "model.8", 4 * ngf, norm, stale)
    second = 6 if dropout else 5
    for i in range(10, 10 + n_blocks):
        for j in (1, second):
            k[f"model.{i}.conv_block.{j}.weight"] = (4 * ngf, 4 * ngf, 3, 3)
            if bias:
                k[f"model.{i}.conv_block.{j}.bias"] = (4 * ngf,)
            _norm(k, f"model.{i}.conv_block.{j + 1}", 4 * ngf, norm, stale)
    for i, c in ((10 + n_blocks, 4 * ngf), (13 + n_blocks, 2 * ngf)):
        k[f"model.{i}.weight"] = (c, c // 2, 3, 3)  # ConvTranspose2d: (in, out, k, k)
        if bias:
            k[f"model.{i}.bias"] = (c // 2,)
        _norm(k, f"model.{i + 1}", c // 2, norm, stale)
    k[f"model.{17 + n_blocks}.weight"] = (out_nc, ngf, 7, 7)
    k[f"model.{17 + n_blocks}.bias"] = (out_nc,)
    return k


def unet_levels(ngf, downs):
    """(outer, inner) channels of each nested level below the outermost, outside in."""
    return [(ngf, 2 * ngf), (2 * ngf, 4 * ngf), (4 * ngf, 8 * ngf)] + [(8 * ngf, 8 * ngf)] * (downs - 4)


def unet_layout(ngf=64, downs=8, in_nc=3, out_nc=3):
    """Key -> shape of the reference UnetGenerator (batch norm) state dict."""
    k = {"model.model.0.weight": (ngf, in_nc, 4, 4), "model.model.3.weight": (2 * ngf, out_nc, 4, 4), "model.model.3.bias": (out_nc,)}
    prefix = "model.model.1.model."
    levels = unet_levels(ngf, downs)
    for depth, (outer, inner) in enumerate(levels):
        k[prefix + "1.weight"] = (inner, outer, 4, 4)
        if depth == len(levels) - 1:  # innermost
            k[prefix + "3.weight"] = (inner, outer, 4, 4)
            _norm(k, prefix + "4", outer, "batch")
        else:
            _norm(k, prefix + "2", inner, "batch")
            k[prefix + "5.weight"] = (2 * inner, outer, 4, 4)
            _norm(k, prefix + "6", outer, "batch")
            prefix += "3.model."
    return k


def random_state(layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("running_mean"):
            out[key] = torch.randn(shape, generator=g) * 0.1
        else:
            out[key] = torch.randn(shape, generator=g) * (0.1 if len(shape) > 1 else 0.5)
    return out


# -- a plain re-statement of the reference forward passes -----------------------------------------------
def ref_resnet(sd, x, n_blocks, norm="instance", dropout=False):
    def nrm(h, p):
        if norm == "instance":
            return F.instance_norm(h)
        return F.batch_norm(h, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"])

    def conv(h, i, stride=1, padding=0):
        return F.conv2d(h, sd[f"{i}.weight"], sd.get(f"{i}.bias"), stride, padding)

    h = F.relu(nrm(conv(F.pad(x, (3,) * 4, mode="reflect"), "model.1"), "model.2"))
    h = F.relu(nrm(conv(h, "model.4", 2, 1), "model.5"))
    h = F.relu(nrm(conv(h, "model.7", 2, 1), "model.8"))
    for i in range(10, 10 + n_blocks):
        p = f"model.{i}.conv_block."
        y = F.relu(nrm(conv(F.pad(h, (1,) * 4, mode="reflect"), p + "1"), p + "2"))
        j = 6 if dropout else 5  # eval mode: dropout is the identity, but it shifts the indices
        h = h + nrm(conv(F.pad(y, (1,) * 4, mode="reflect"), p + str(j)), p + str(j + 1))
    for i in (10 + n_blocks, 13 + n_blocks):
        h = F.conv_transpose2d(h, sd[f"model.{i}.weight"], sd.get(f"model.{i}.bias"), 2, 1, output_padding=1)
        h = F.relu(nrm(h, f"model.{i + 1}"))
    return torch.tanh(conv(F.pad(h, (3,) * 4, mode="reflect"), f"model.{17 + n_blocks}"))


def ref_unet(sd, x, ngf, downs):
    def bn(h, p):
        return F.batch_norm(h, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"])

    levels = unet_levels(ngf, downs)

    def level(h, depth, p):
        down = F.conv2d(F.leaky_relu(h, 0.2), sd[p + "1.weight"], None, 2, 1)
        if depth == len(levels) - 1:
            up = bn(F.conv_transpose2d(F.relu(down), sd[p + "3.weight"], None, 2, 1), p + "4")
        else:
            inner = level(bn(down, p + "2"), depth + 1, p + "3.model.")
            up = bn(F.conv_transpose2d(F.relu(inner), sd[p + "5.weight"], None, 2, 1), p + "6")
        return torch.cat([h, up], 1)

    h = level(F.conv2d(x, sd["model.model.0.weight"], None, 2, 1), 0, "model.model.1.model.")
    return torch.tanh(F.conv_transpose2d(F.relu(h), sd["model.model.3.weight"], sd["model.model.3.bias"], 2, 1))


# -- architectures ---------------------------------------------------------------------------------------
def count(module):
    return sum(p.numel() for p in module.parameters())


def test_reference_parameter_counts_and_key_layouts():
    with torch.device("meta"):
        resnet = ResnetGenerator(ngf=64, n_blocks=9, norm="instance")
        unet = UnetGenerator(ngf=64, num_downs=8, norm="batch")
        d = PatchDiscriminator(input_nc=3, ndf=64, n_layers=3, norm="batch", condition_nc=3)
    assert count(resnet) == 11_378_179
    assert count(unet) == 54_413_955
    shapes = {k: tuple(v.shape) for k, v in resnet.state_dict().items()}
    assert shapes == {k: s for k, s in resnet_layout(stale=False).items()}
    assert {k: tuple(v.shape) for k, v in unet.state_dict().items()} == unet_layout()
    d_keys = {k.rsplit(".", 1)[0] for k in d.state_dict()}
    assert d_keys == {"model.0", "model.2", "model.3", "model.5", "model.6", "model.8", "model.9", "model.11"}
    assert d.state_dict()["model.0.weight"].shape == (64, 6, 4, 4)  # sees A and B concatenated


def test_pixel_discriminator_has_the_reference_layout_and_forward():
    """The reference's 1x1 PixelGAN: keys net.0, net.2, net.3 (norm), net.5; bias only with instance norm."""
    d = PixelDiscriminator(input_nc=3, ndf=8, norm="batch", condition_nc=3).eval()
    shapes = {k: tuple(v.shape) for k, v in d.state_dict().items()}
    assert shapes == {
        "net.0.weight": (8, 6, 1, 1), "net.0.bias": (8,), "net.2.weight": (16, 8, 1, 1),
        "net.3.weight": (16,), "net.3.bias": (16,), "net.3.running_mean": (16,), "net.3.running_var": (16,),
        "net.3.num_batches_tracked": (), "net.5.weight": (1, 16, 1, 1),
    }  # fmt: skip
    inst = PixelDiscriminator(input_nc=3, ndf=8, norm="instance")
    assert {k for k in inst.state_dict()} == {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.5.weight", "net.5.bias"}
    sd = random_state({k: v for k, v in shapes.items()}, seed=1)
    d.load_state_dict(sd)
    a, b = torch.rand(2, 3, 9, 7) * 2 - 1, torch.rand(2, 3, 9, 7) * 2 - 1
    h = F.leaky_relu(F.conv2d(torch.cat([a, b], 1), sd["net.0.weight"], sd["net.0.bias"]), 0.2)
    h = F.conv2d(h, sd["net.2.weight"])
    h = F.leaky_relu(F.batch_norm(h, sd["net.3.running_mean"], sd["net.3.running_var"], sd["net.3.weight"], sd["net.3.bias"]), 0.2)
    expected = F.conv2d(h, sd["net.5.weight"])
    out = d(b, a)
    assert out.shape == (2, 1, 9, 7)  # one logit per pixel, any size
    assert torch.allclose(out, expected, atol=1e-6)


def test_pix2pix_trains_with_the_pixel_discriminator():
    from genzoo.training import TrainConfig, train
    from genzoo_pix2pix.data import DigitEdgesDataset

    torch.manual_seed(0)
    model = genzoo.create("pix2pix", input_nc=1, output_nc=1, image_size=32, netG="unet_32", ngf=4, netD="pixel", ndf=4)
    assert isinstance(model.discriminator, PixelDiscriminator) and "1x1 PixelGAN" in model.describe()
    result = train(model, DigitEdgesDataset("train", 32), TrainConfig(steps=3, batch_size=4, progress=False, device="cpu"))
    assert set(result.losses) == {"d", "g_gan", "l1"} and all(math.isfinite(v) for v in result.losses.values())
    with pytest.raises(ConfigError, match="unknown netD 'pixels'.*'pixel'"):
        genzoo.create("pix2pix", netD="pixels")


def test_patchgan_gives_30x30_logits_for_256_inputs():
    d = PatchDiscriminator(input_nc=3, ndf=8, n_layers=3, norm="batch", image_size=256, condition_nc=3).eval()
    x = torch.zeros(1, 3, 256, 256)
    assert d(x, x).shape == (1, 1, 30, 30)


def test_components_honour_their_interfaces():
    check_component(ResnetGenerator(1, 1, ngf=4, n_blocks=1, image_size=16))
    check_component(UnetGenerator(1, 1, ngf=2, num_downs=5, image_size=32))
    check_component(PatchDiscriminator(1, ndf=4, n_layers=2, image_size=32, condition_nc=1))


# -- conversion ------------------------------------------------------------------------------------------
def test_upstream_resnet_state_dict_loads_key_for_key_without_stale_stats():
    upstream = random_state(resnet_layout(ngf=8, n_blocks=9))
    stale = [k for k in upstream if k.rsplit(".", 1)[1] in STATS]
    assert stale  # the file carries InstanceNorm statistics like the published ones
    cfg, tensors, dropped = convert_generator(upstream)
    assert sorted(dropped) == sorted(stale)
    assert cfg == {"netG": "resnet_9blocks", "ngf": 8, "input_nc": 3, "output_nc": 3, "norm": "instance", "dropout": False}
    net = ResnetGenerator(ngf=8, n_blocks=9, norm="instance")
    net.load_state_dict(tensors, strict=True)  # key for key, shape for shape
    for k, v in net.state_dict().items():
        assert torch.equal(v, upstream[k]), k


def test_stale_instance_norm_stats_would_change_the_output():
    upstream = random_state(resnet_layout(ngf=4, n_blocks=1))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    clean, _ = drop_stale_norm_stats(upstream)
    with_stats = ref_resnet(upstream, x, 1)  # instance_norm ignores them in our restatement...
    net = ResnetGenerator(ngf=4, n_blocks=1).eval()
    net.load_state_dict(clean)
    assert torch.allclose(net(x), with_stats, atol=1e-5)
    # ...but an InstanceNorm that tracked them would use them in eval mode:
    n = torch.nn.InstanceNorm2d(4, track_running_stats=True).eval()
    n.load_state_dict({k.split(".")[-1]: v for k, v in upstream.items() if k.startswith("model.2.")})
    h = torch.randn(1, 4, 8, 8)
    assert not torch.allclose(n(h), F.instance_norm(h), atol=1e-3)


def test_converted_resnet_matches_the_reference_forward(tmp_path):
    upstream = random_state(resnet_layout(ngf=8, n_blocks=6), seed=1)
    torch.save(upstream, tmp_path / "latest_net_G.pth")
    model = convert_upstream("cyclegan", tmp_path / "latest_net_G.pth")
    assert model.config.netG == "resnet_6blocks" and model.config.ngf == 8 and not model.config.bidirectional
    assert model.loaded_components() == ["generator"]
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model.g_ab(x), ref_resnet(upstream, x, 6), atol=1e-5)


def test_converted_unet_matches_the_reference_forward(tmp_path):
    upstream = random_state(unet_layout(ngf=4, downs=6), seed=2)
    torch.save(upstream, tmp_path / "facades_label2photo.pth")
    model = convert_upstream("pix2pix", tmp_path / "facades_label2photo.pth")
    c = model.config
    assert (c.netG, c.ngf, c.norm, c.netD, c.dropout) == ("unet_64", 4, "batch", "none", True)
    assert model.card["source"].endswith("/pix2pix/models-pytorch/facades_label2photo.pth")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model.generator(x), ref_unet(upstream, x, 4, 6), atol=1e-5)


def test_converter_infers_batch_norm_and_dropout_resnets():
    upstream = random_state(resnet_layout(ngf=4, n_blocks=2, norm="batch", dropout=True, in_nc=1, out_nc=3))
    cfg = infer_generator_config(upstream)
    assert cfg == {"netG": "resnet_2blocks", "ngf": 4, "input_nc": 1, "output_nc": 3, "norm": "batch", "dropout": True}
    _, tensors, dropped = convert_generator(upstream)
    assert dropped == []
    net = ResnetGenerator(1, 3, ngf=4, n_blocks=2, norm="batch", dropout=True).eval()
    net.load_state_dict(tensors, strict=True)
    x = torch.rand(1, 1, 16, 16)
    assert torch.allclose(net(x), ref_resnet(upstream, x, 2, norm="batch", dropout=True), atol=1e-5)


def test_converter_refuses_unmappable_state_dicts_naming_the_keys():
    upstream = random_state(resnet_layout(ngf=4, n_blocks=2))
    upstream["model.99.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"model\.99\.weight"):
        convert_generator(upstream)
    bad_shape = random_state(resnet_layout(ngf=4, n_blocks=2))
    bad_shape["model.4.weight"] = torch.zeros(8, 5, 3, 3)
    with pytest.raises(CheckpointError, match=r"model\.4\.weight"):
        convert_generator(bad_shape)
    with pytest.raises(CheckpointError, match=r"encoder\.fc\.weight"):
        convert_generator({"encoder.fc.weight": torch.zeros(2, 2)})


def test_convert_cli_writes_a_carded_generator_only_folder(tmp_path, capsys):
    from genzoo.cli import main

    torch.save(random_state(resnet_layout(ngf=4, n_blocks=2)), tmp_path / "horse2zebra.pth")
    out = tmp_path / "out"
    assert main(["convert", "cyclegan", str(tmp_path / "horse2zebra.pth"), "--name", "cyclegan-test", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "generator.safetensors"]
    card = (out / "README.md").read_text()
    assert "cyclegan/pretrained_models/horse2zebra.pth" in card and "license: bsd" in card
    assert "arxiv.org/abs/1703.10593" in card
    model = genzoo.load(out)
    assert model.config.netG == "resnet_2blocks" and model.loaded_components() == ["generator"]


def test_convert_refuses_pickled_objects(tmp_path):
    torch.save({"model.1.weight": torch.zeros(1), "note": Image.new("L", (2, 2))}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError):
        convert_upstream("pix2pix", tmp_path / "evil.pth")


# -- translate -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return genzoo.create(
        "pix2pix", input_nc=3, output_nc=3, image_size=64, netG="unet_64", ngf=2, netD="n_layers", n_layers_D=1, ndf=2
    ).eval()


def test_translate_accepts_tensors_pil_images_and_paths(tiny, tmp_path):
    pil = Image.new("RGB", (40, 50), (200, 30, 30))
    pil.save(tmp_path / "a.png")
    x = genzoo.images.to_tensor(pil, size=64)
    y_tensor = tiny.translate(x)
    assert y_tensor.shape == (1, 3, 64, 64) and y_tensor.abs().max() <= 1
    assert torch.allclose(tiny.translate(pil), y_tensor, atol=1e-5)
    assert torch.allclose(tiny.translate(str(tmp_path / "a.png")), y_tensor, atol=1e-5)
    assert tiny.translate([pil, pil]).shape == (2, 3, 64, 64)


def test_keep_size_pads_to_the_networks_multiple_and_crops_back(tiny):
    x = torch.rand(1, 3, 45, 70) * 2 - 1
    y = tiny.translate(x, keep_size=True)
    assert y.shape == (1, 3, 45, 70)
    sizes = [Image.new("RGB", (33, 20)), Image.new("RGB", (64, 64))]
    out = tiny.translate(sizes, keep_size=True)
    assert [tuple(o.shape) for o in out] == [(3, 20, 33), (3, 64, 64)]
    with pytest.raises(ConfigError, match="multiple"):
        tiny.translate(x, size=40)


def test_eval_mode_by_default_and_reference_train_mode_on_request(tiny):
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    a, b = tiny.translate(x), tiny.translate(x)
    assert torch.equal(a, b)  # eval: deterministic
    n1 = tiny.translate(x, train_mode=True, seed=1)
    assert torch.equal(n1, tiny.translate(x, train_mode=True, seed=1))
    assert not torch.allclose(n1, a) and not torch.equal(n1, tiny.translate(x, train_mode=True, seed=2))
    assert not tiny.generator.training
    for k, v in tiny.state_dict().items():  # batch statistics were not folded into the model
        assert torch.equal(v, before[k]), k


def test_run_over_a_folder_writes_one_image_per_input(tiny, tmp_path):
    from genzoo.cli import main

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        Image.new("RGB", (20 + i, 30), (i * 60, 100, 50)).save(src / name)
    folder = genzoo.save(tiny, tmp_path / "model")
    assert main(["run", str(folder), str(src), "-o", str(tmp_path / "out"), "--batch-size", "2", "--device", "cpu"]) == 0
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*"))
    assert written == ["a.png", "b.jpg", "sub/c.png"]
    assert Image.open(tmp_path / "out" / "a.png").size == (64, 64)
    assert main(["run", str(folder), str(src), "-o", str(tmp_path / "kept"), "--keep-size", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "kept" / "b.jpg").size == (21, 30)
    # the reference's train-mode test behaviour from the command line: dropout noise, repeatable with --seed
    for out in ("noisy1", "noisy2"):
        argv = ["run", str(folder), str(src), "-o", str(tmp_path / out), "--train-mode", "--seed", "3", "--device", "cpu"]
        assert main(argv) == 0
    pixels = {o: np.asarray(Image.open(tmp_path / o / "a.png")) for o in ("out", "noisy1", "noisy2")}
    assert np.array_equal(pixels["noisy1"], pixels["noisy2"]) and not np.array_equal(pixels["noisy1"], pixels["out"])
    assert main(["run", str(folder), str(src), "-o", str(tmp_path / "back"), "--direction", "b2a", "--device", "cpu"]) == 1


# -- losses and training ---------------------------------------------------------------------------------
def test_reference_gan_losses_match_closed_forms():
    r, f = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([-0.5, 0.7, 0.1])
    sig = torch.sigmoid
    v = reference_gan_loss("vanilla")
    d_closed = 0.5 * (-torch.log(sig(r)).mean() - torch.log(1 - sig(f)).mean())
    assert torch.allclose(v.d(r, f), d_closed, atol=1e-6)
    assert torch.allclose(v.g(f), -torch.log(sig(f)).mean(), atol=1e-6)
    ls = reference_gan_loss("lsgan")
    assert torch.allclose(ls.d(r, f), 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean())
    assert torch.allclose(ls.g(f), ((f - 1) ** 2).mean())
    with pytest.raises(ConfigError):
        reference_gan_loss("wgan")


def test_linear_decay_is_constant_then_linear():
    factor = linear_decay(100, 0.5)
    assert [factor(s) for s in (0, 49, 50)] == [1.0, 1.0, 1.0]
    assert math.isclose(factor(75), 1 - 25 / 51) and factor(100) > 0 and factor(99) < factor(75)


def test_pix2pix_losses_are_adversarial_plus_weighted_l1(tiny):
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    fake = tiny.generator(a)
    terms = tiny.losses(a, b, fake)
    assert torch.allclose(terms["l1"], (fake - b).abs().mean())
    logits = tiny.discriminator.model(torch.cat([a, fake], 1))
    assert torch.allclose(terms["g_gan"], F.softplus(-logits).mean(), atol=1e-6)


def test_short_training_lowers_the_l1_on_digit_edges():
    from genzoo.training import TrainConfig, train
    from genzoo_pix2pix.data import DigitEdgesDataset

    torch.manual_seed(0)
    model = genzoo.create(
        "pix2pix", input_nc=1, output_nc=1, image_size=32, netG="unet_32", ngf=4,
        netD="n_layers", n_layers_D=2, ndf=4, lr=1e-3,
    )  # fmt: skip
    data = DigitEdgesDataset("train", 32)
    test = torch.utils.data.Subset(DigitEdgesDataset("test", 32), range(64))
    before = model.evaluate(test)["test_l1"]
    result = train(model, data, TrainConfig(steps=25, batch_size=16, progress=False, device="cpu"), eval_dataset=test)
    assert result.metrics["test_l1"] < before * 0.95
    assert set(result.losses) == {"d", "g_gan", "l1"}


def _aligned_folder(root, n=6, size=24):
    """The reference's aligned format: each file is A (a dark square on white) | B (the same square, inverted)."""
    for split, count in (("train", n), ("test", 2)):
        (root / split).mkdir(parents=True)
        for i in range(count):
            a = Image.new("RGB", (size, size), (255, 255, 255))
            a.paste((0, 0, 0), (i % 8 + 2, 4, i % 8 + 12, 14))
            b = Image.eval(a, lambda v: 255 - v)
            ab = Image.new("RGB", (2 * size, size))
            ab.paste(a, (0, 0))
            ab.paste(b, (size, 0))
            ab.save(root / split / f"{i}.png")
    return root


def test_genzoo_train_reads_a_paired_folder_and_honours_direction(tmp_path):
    """`genzoo train pix2pix --data FOLDER` reads A|B pairs (not an image folder with labels), with data options."""
    from genzoo.cli import main
    from genzoo.recipes import load_split

    folder = _aligned_folder(tmp_path / "pairs")
    model = genzoo.create("pix2pix", input_nc=3, output_nc=3, image_size=16, netG="unet_32", ngf=2, netD="pixel", ndf=2)
    a, b = load_split(model, str(folder), "test")[0]
    assert a.shape == b.shape == (3, 16, 16) and torch.allclose(a, -b, atol=0.05)  # B is A inverted
    a2, b2 = load_split(model, str(folder), "test", {"direction": "BtoA"})[0]
    assert torch.equal(a2, b) and torch.equal(b2, a)
    out = tmp_path / "run"
    argv = [
        "train", "pix2pix", "--data", str(folder), "--data-option", "direction=BtoA", "--steps", "2", "--batch-size", "2",
        "--set", "image_size=32", "--set", "netG=unet_32", "--set", "ngf=2", "--set", "netD=pixel", "--set", "ndf=2",
        "--device", "cpu", "-o", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    trained = genzoo.load(out / "final")
    assert trained.card["dataset"] == "pairs" and trained.card["tags"] == ["pairs"]  # the folder's name, not its path
    assert "test_l1" in trained.card["metrics"]  # the test/ split was used for evaluation
    with pytest.raises(genzoo.errors.DatasetError, match="direction must be"):
        load_split(model, str(folder), "train", {"direction": "sideways"})


def test_converted_generator_only_models_refuse_to_train(tmp_path):
    torch.save(random_state(unet_layout(ngf=2, downs=5)), tmp_path / "g.pth")
    model = convert_upstream("pix2pix", tmp_path / "g.pth")
    with pytest.raises(ConfigError, match="no discriminator"):
        model.configure_optimizers()


def test_evaluation_streams_the_test_split_and_matches_the_whole_split_at_once():
    """evaluate reads the split in batches (a 256² test split need not fit in memory) with the same figures."""
    from genzoo.metrics import psnr
    from genzoo_pix2pix.data import DigitEdgesDataset

    model = genzoo.load("pix2pix-digits-edges")
    test = torch.utils.data.Subset(DigitEdgesDataset("test", 32), range(70))  # 32 + 32 + 6
    a = torch.stack([test[i][0] for i in range(70)])
    b = torch.stack([test[i][1] for i in range(70)])
    with torch.no_grad():
        fake = model.generator(a)
    got = model.evaluate(test)
    assert got["test_l1"] == pytest.approx(F.l1_loss(fake, b).item(), rel=1e-6)
    assert got["test_psnr"] == pytest.approx(psnr(fake, b), rel=1e-6)


def test_digits_edges_meets_the_family_defaults_three_channels_at_256():
    """`genzoo train pix2pix --data digits-edges` with no --set: the data set comes at the model's channels and size."""
    from genzoo.recipes import load_split

    model = genzoo.create("pix2pix", netD="none")  # input_nc 3, image_size 256: the family defaults
    data = load_split(model, "digits-edges", "train")
    a, b = data[0]
    assert a.shape == b.shape == (3, 256, 256)
    assert torch.equal(a[0], a[2]) and torch.equal(b[0], b[1])  # grey RGB
    assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1 and b.max() <= 1
    grey = load_split(genzoo.create("pix2pix", netD="none", input_nc=1, output_nc=1, image_size=32), "digits-edges", "train")
    assert grey[0][0].shape == (1, 32, 32)
    from genzoo.data import DatasetError
    from genzoo_pix2pix.data import DigitEdgesDataset

    with pytest.raises(DatasetError, match="channels must be 1"):
        DigitEdgesDataset("train", 8, channels=2)
