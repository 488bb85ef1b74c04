"""CycleGAN: components and groups, the image pool, the losses, training, and converted models on the Hub."""

from __future__ import annotations

import pytest
import torch
from hubserver import HubServer
from test_pix2pix import random_state, ref_resnet, resnet_layout

import genzoo
from genzoo import plugins
from genzoo.errors import ConfigError
from genzoo_cyclegan.pool import ImagePool


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(input_nc=1, output_nc=1, image_size=16, netG="resnet_1blocks", ngf=4, netD="n_layers", n_layers_D=2, ndf=4)
    return genzoo.create("cyclegan", **{**cfg, **kw})


def test_reference_defaults_and_component_groups():
    with torch.device("meta"):
        m = genzoo.create("cyclegan", device="meta")
    c = m.config
    assert (c.netG, c.norm, c.gan_mode, c.lambda_a, c.lambda_b, c.lambda_identity, c.pool_size) == (
        "resnet_9blocks", "instance", "lsgan", 10.0, 10.0, 0.5, 50,
    )  # fmt: skip
    assert (c.lr, c.beta1, c.beta2) == (2e-4, 0.5, 0.999)
    assert m.groups() == {"generator": ("g_ab",), "generator_ba": ("g_ba",), "discriminators": ("d_a", "d_b")}
    assert sum(p.numel() for p in m.g_ab.parameters()) == 11_378_179
    one_way = genzoo.create("cyclegan", bidirectional=False, netD="none", image_size=16, ngf=2, netG="resnet_1blocks")
    assert one_way.groups() == {"generator": ("g_ab",)}
    with pytest.raises(ConfigError, match="only the A -> B generator"):
        one_way.translate(torch.zeros(1, 3, 16, 16), direction="b2a")
    with pytest.raises(ConfigError):
        genzoo.create("cyclegan", bidirectional=False)  # discriminators need both generators


def test_image_pool_behaviour():
    off = ImagePool(0)
    x = torch.randn(4, 1, 2, 2)
    assert off.query(x) is x and len(off) == 0
    pool = ImagePool(3)
    g = torch.Generator().manual_seed(0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    out = pool.query(first, g)
    assert torch.equal(out[:3], first[:3]) and len(pool) == 3  # filling: the new images come back
    stored = {float(t) for t in torch.cat(pool.images).flatten()}
    assert stored == {0.0, 1.0, 2.0}
    new = torch.full((200, 1, 1, 1), 100.0) + torch.arange(200.0).view(200, 1, 1, 1)
    out = pool.query(new, g)
    assert len(pool) == 3 and out.shape == new.shape
    old = (out != new).flatten()
    assert 60 < int(old.sum()) < 140  # about half are swapped for stored images
    for i in torch.nonzero(old).flatten()[:5]:  # ...which were real earlier fakes
        assert float(out[i]) in {0.0, 1.0, 2.0, 3.0} or 100 <= float(out[i]) < 100 + int(i)


def test_generator_losses_match_closed_forms():
    m = tiny()
    a, b = torch.rand(2, 1, 16, 16) * 2 - 1, torch.rand(2, 1, 16, 16) * 2 - 1
    t = m.generator_losses(a, b)
    with torch.no_grad():
        fake_b, fake_a = m.g_ab(a), m.g_ba(b)
        assert torch.allclose(t["cycle_a"], 10 * (m.g_ba(fake_b) - a).abs().mean(), atol=1e-6)
        assert torch.allclose(t["cycle_b"], 10 * (m.g_ab(fake_a) - b).abs().mean(), atol=1e-6)
        assert torch.allclose(t["idt_b"], 0.5 * 10 * (m.g_ab(b) - b).abs().mean(), atol=1e-6)
        assert torch.allclose(t["idt_a"], 0.5 * 10 * (m.g_ba(a) - a).abs().mean(), atol=1e-6)
        assert torch.allclose(t["gan_ab"], ((m.d_b(fake_b) - 1) ** 2).mean(), atol=1e-6)  # LSGAN: MSE to 1
        assert torch.allclose(t["gan_ba"], ((m.d_a(fake_a) - 1) ** 2).mean(), atol=1e-6)
    assert "idt_a" not in tiny(lambda_identity=0.0).generator_losses(a, b)


def test_linear_decay_schedule_and_adam_settings():
    from genzoo.training import TrainConfig

    m = tiny()
    opts = m.configure_optimizers()
    assert set(opts) == {"g", "d"}
    assert opts["g"].defaults["betas"] == (0.5, 0.999) and opts["g"].defaults["lr"] == 2e-4
    sched = m.configure_schedulers(opts, TrainConfig(steps=10))["g"]
    lrs = []
    for _ in range(10):
        lrs.append(opts["g"].param_groups[0]["lr"])
        opts["g"].step()
        sched.step()
    assert lrs[:5] == [2e-4] * 5 and all(x > y for x, y in zip(lrs[5:], lrs[6:]))


def test_short_training_lowers_the_cycle_loss_on_digits():
    from genzoo.training import TrainConfig, train
    from genzoo_cyclegan.data import DigitStylesDataset

    m = tiny(lr=2e-3)
    test = torch.utils.data.Subset(DigitStylesDataset("test", 16), range(64))
    before = m.evaluate(test)
    result = train(m, DigitStylesDataset("train", 16), TrainConfig(steps=25, batch_size=8, progress=False, device="cpu"), eval_dataset=test)
    after = result.metrics
    assert after["test_cycle_l1_a"] < 0.8 * before["test_cycle_l1_a"]
    assert after["test_cycle_l1_b"] < 0.8 * before["test_cycle_l1_b"]
    assert {"cycle_a", "cycle_b", "idt_a", "idt_b", "gan_ab", "gan_ba", "d_a", "d_b"} <= set(result.losses)
    assert len(m.pool_a) == len(m.pool_b) == 50


def test_unpaired_and_paired_folders(tmp_path):
    from PIL import Image

    from genzoo.folders import PairedFolderDataset, UnpairedFolderDataset

    for side, n in (("trainA", 3), ("trainB", 5)):
        (tmp_path / "u" / side).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(tmp_path / "u" / side / f"{i}.png")
    u = UnpairedFolderDataset(tmp_path / "u", "train", size=32)
    assert len(u) == 5 and [t.shape for t in u[0]] == [(3, 32, 32), (3, 32, 32)]
    (tmp_path / "p" / "train").mkdir(parents=True)
    ab = Image.new("RGB", (64, 32), (255, 255, 255))
    ab.paste((0, 0, 0), (32, 0, 64, 32))  # A white on the left, B black on the right
    ab.save(tmp_path / "p" / "train" / "x.png")
    a, b = PairedFolderDataset(tmp_path / "p", "train", size=16, augment=False)[0]
    assert a.min() == 1 and b.max() == -1
    a, b = PairedFolderDataset(tmp_path / "p", "train", size=16, direction="BtoA")[0]  # with crop and flip
    assert a.shape == (3, 16, 16) and a.max() == -1 and b.min() == 1
    for side, colour in (("A", 255), ("B", 0)):
        (tmp_path / "two" / side).mkdir(parents=True)
        Image.new("RGB", (20, 20), (colour,) * 3).save(tmp_path / "two" / side / "same.png")
    a, b = PairedFolderDataset(tmp_path / "two", size=16, augment=False)[0]
    assert a.min() == 1 and b.max() == -1


def test_genzoo_train_reads_an_unpaired_folder(tmp_path):
    """`genzoo train cyclegan --data FOLDER` reads the reference's trainA/trainB (and testA/testB) layout."""
    from PIL import Image

    from genzoo.cli import main

    for side, colour, n in (("trainA", 40, 4), ("trainB", 220, 3), ("testA", 40, 2), ("testB", 220, 2)):
        (tmp_path / "h2z" / side).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (20, 20), (colour, i * 30, 0)).save(tmp_path / "h2z" / side / f"{i}.jpg")
    out = tmp_path / "run"
    argv = [
        "train", "cyclegan", "--data", str(tmp_path / "h2z"), "--steps", "2", "--batch-size", "2", "--set", "image_size=16",
        "--set", "netG=resnet_1blocks", "--set", "ngf=2", "--set", "ndf=2", "--set", "netD=n_layers", "--set", "n_layers_D=2", "--device", "cpu", "-o", str(out), "--json",
    ]  # fmt: skip
    assert main(argv) == 0
    model = genzoo.load(out / "final")
    assert {"test_cycle_l1_a", "test_cycle_l1_b"} <= set(model.card["metrics"])
    assert model.card["dataset"] == "h2z"
    empty = tmp_path / "no_layout"
    empty.mkdir()
    assert main(["train", "cyclegan", "--data", str(empty), "--steps", "1", "-o", str(tmp_path / "r2")]) == 1


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubServer(tmp_path_factory.mktemp("hub")) as server:
        yield server


def test_converted_checkpoint_on_the_hub_loads_by_registry_name_with_the_generator_only(hub, tmp_path, monkeypatch):
    from genzoo.cli import main

    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    upstream = random_state(resnet_layout(ngf=4, n_blocks=2), seed=3)
    torch.save(upstream, tmp_path / "horse2zebra.pth")
    folder = tmp_path / "converted"
    assert main(["convert", "cyclegan", str(tmp_path / "horse2zebra.pth"), "--name", "cyclegan-h2z", "-o", str(folder)]) == 0
    repo = "genzoo-test/cyclegan-h2z"
    sha = hub.publish(repo, folder)
    hub.clear_requests()

    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model("cyclegan-h2z-test", family="cyclegan", source=genzoo.HubSource(repo, sha))

    plugins.register(Plugin(), name="cyclegan-hub-test")
    try:
        model = genzoo.load("cyclegan-h2z-test", cache_dir=tmp_path / "cache")
    finally:
        plugins.unregister("cyclegan-hub-test")
    assert sorted(set(hub.requested_files(repo))) == ["config.json", "generator.safetensors"]  # no other file
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(model.translate(x, size=32), ref_resnet(upstream, x, 2), atol=1e-5)
    assert model.card["license"] == "bsd" and "horse2zebra.pth" in model.card["source"]


def test_digits_bold_meets_the_family_defaults_three_channels_at_256():
    """`genzoo train cyclegan --data digits-bold` with no --set: items come at the model's channels and size."""
    from genzoo.recipes import load_split

    model = genzoo.create("cyclegan", netD="none")  # input_nc 3, image_size 256
    a, b = load_split(model, "digits-bold", "train")[0]
    assert a.shape == b.shape == (3, 256, 256) and torch.equal(a[0], a[1]) and torch.equal(b[1], b[2])
    assert load_split(genzoo.create("cyclegan", netD="none", input_nc=1, output_nc=1, image_size=16), "digits-bold", "train")[0][0].shape == (1, 16, 16)
