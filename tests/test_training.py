"""The shared training loop: learning, outputs, resume, DDP, clipping, AMP and config errors.

The families under test are defined here: a tiny MLP autoencoder (Encoder +
Decoder from genzoo.interfaces, with dropout, ctx.generator noise and a
per-step LR schedule so that resume has real RNG and scheduler state to get
right), and the built-in toy GAN given a two-optimiser training step.
``tests/ddp_worker.py`` imports them for the torchrun test.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

import genzoo
from genzoo import plugins
from genzoo.errors import CheckpointError, ConfigError
from genzoo.interfaces import Decoder, Encoder
from genzoo.model import GenzooModel
from conftest import run_process_group
from genzoo.training import ComponentDDP, StepContext, TrainConfig, find_latest_checkpoint, train
from genzoo_toy.model import ToyModel

HERE = Path(__file__).resolve().parent


# -- the families ----------------------------------------------------------------
@dataclass
class TinyAEConfig:
    image_size: int = 4
    latent_dim: int = 2
    hidden: int = 32
    lr: float = 1e-2
    dropout: float = 0.1
    noise: float = 0.05


class TinyEncoder(Encoder):
    def __init__(self, cfg: TinyAEConfig):
        super().__init__()
        self.input_shape = (1, cfg.image_size, cfg.image_size)
        self.latent_shape = (cfg.latent_dim,)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(cfg.image_size**2, cfg.hidden), nn.ReLU(),
            nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.latent_dim),
        )  # fmt: skip

    def forward(self, images):
        return self.net(images)


class TinyDecoder(Decoder):
    def __init__(self, cfg: TinyAEConfig):
        super().__init__()
        self.latent_shape = (cfg.latent_dim,)
        self.output_shape = (1, cfg.image_size, cfg.image_size)
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.image_size**2),
            nn.Tanh(), nn.Unflatten(1, self.output_shape),
        )  # fmt: skip

    def forward(self, latent):
        return self.net(latent)


class TinyAE(GenzooModel):
    family = "tinyae"
    config_class = TinyAEConfig
    # ``scale`` is a bare parameter on the model (like CLIP's logit scale): no module for DDP to wrap.
    component_groups = {"encoder": ("encoder",), "decoder": ("decoder", "scale")}

    def __init__(self, config: TinyAEConfig):
        super().__init__(config)
        self.encoder = TinyEncoder(config)
        self.decoder = TinyDecoder(config)
        self.scale = nn.Parameter(torch.ones(()))
        self.crash_at: int | None = None  # raise in this step (to simulate an interruption)
        self.seen: dict = {}

    def configure_optimizers(self, cfg):
        return {"ae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def configure_schedulers(self, optimizers, cfg):
        return {"ae": torch.optim.lr_scheduler.StepLR(optimizers["ae"], step_size=7, gamma=0.9)}

    def training_step(self, batch, ctx: StepContext):
        if ctx.step_index == self.crash_at:
            raise KeyboardInterrupt("simulated interruption")
        if not self.seen:
            self.seen = {
                "world_size": ctx.world_size, "rank": ctx.rank, "first_batch": float(batch.sum()),
                "encoder_type": type(self.encoder).__name__, "latent_dim": self.encoder.latent_dim,
                "autocast": torch.is_autocast_enabled("cpu") if ctx.amp == "bf16" else None,
            }  # fmt: skip
        noisy = batch + self.config.noise * torch.randn(batch.shape, generator=ctx.generator, device=ctx.device)
        with ctx.autocast():
            recon = self.decoder(self.encoder(noisy)) * self.scale
            if self.seen.get("autocast") is not None:
                self.seen["autocast"] = torch.is_autocast_enabled("cpu")
        loss = F.mse_loss(recon.float(), batch)
        ctx.backward(loss)
        ctx.step("ae")
        return {"loss": loss, "lr": ctx.lr("ae")}

    def evaluate(self, dataset):
        x = torch.stack([dataset[i] for i in range(len(dataset))]).to(self.device)
        return {"mse": F.mse_loss(self.decoder(self.encoder(x)) * self.scale, x).item()}


class TrainableToy(ToyModel):
    """The built-in toy GAN plus a training step: two optimisers, the usual D-then-G update."""

    def configure_optimizers(self, cfg):
        return {
            "g": torch.optim.Adam(self.generator.parameters(), lr=2e-3, betas=(0.5, 0.999)),
            "d": torch.optim.Adam(self.discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999)),
        }

    def training_step(self, real, ctx):
        z = self.generator.sample_noise(real.shape[0], generator=ctx.generator)
        with torch.no_grad():
            fake = self.generator(z)
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))  # fmt: skip
        ctx.backward(d_loss)
        ctx.step("d")
        logits = self.discriminator(self.generator(z))
        g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        ctx.backward(g_loss)
        ctx.step("g")
        return {"d": d_loss, "g": g_loss}


def make_data(n: int = 256, seed: int = 0) -> torch.Tensor:
    """4x4 images on a 2-D manifold in [-1, 1]: an autoencoder with a 2-D latent can learn them."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g)
    w = torch.randn(2, 16, generator=g)
    return torch.tanh(z @ w).reshape(n, 1, 4, 4)


def make_images(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1


def new_ae(seed: int = 0) -> TinyAE:
    torch.manual_seed(seed)
    return TinyAE(TinyAEConfig())


def quiet(**kw) -> TrainConfig:
    return TrainConfig(**{"device": "cpu", "progress": False, "batch_size": 16, **kw})


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture
def tinyae_family():
    """Register the test family like a plugin, so genzoo.load can rebuild saved checkpoints."""

    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_families(self, registry):
            registry.add_family("tinyae", model=TinyAE, description="test autoencoder")

    plugins.register(Plugin(), name="tinyae-tests")
    yield
    plugins.unregister("tinyae-tests")


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# -- learning and outputs ---------------------------------------------------------
def test_loss_decreases_and_run_outputs_are_written(tmp_path, tinyae_family):
    model, data = new_ae(), make_data()
    cfg = quiet(steps=100, log_every=10, eval_every=50, checkpoint_every=50, out_dir=tmp_path / "run")
    result = train(model, data, cfg, eval_dataset=make_data(64, seed=1))

    log = records(tmp_path / "run" / "metrics.jsonl")
    train_recs = [r for r in log if r["kind"] == "train"]
    eval_recs = [r for r in log if r["kind"] == "eval"]
    assert [r["step"] for r in train_recs] == list(range(10, 101, 10))
    assert [r["step"] for r in eval_recs] == [50, 100] and "mse" in eval_recs[0]["metrics"]
    first, last = train_recs[0]["losses"]["loss"], train_recs[-1]["losses"]["loss"]
    assert last < 0.5 * first, (first, last)
    r = train_recs[-1]
    assert set(r) >= {"step", "epoch", "time", "losses", "lr", "samples_per_sec"}
    assert r["epoch"] == 100 * 16 // 256 and r["lr"]["ae"] == pytest.approx(1e-2 * 0.9 ** (100 // 7))
    assert r["losses"]["lr"] == pytest.approx(r["lr"]["ae"], rel=0.2)  # returned floats are logged too
    assert eval_recs[-1]["metrics"]["mse"] < eval_recs[0]["metrics"]["mse"] * 1.5

    assert result.steps == 100 and result.losses["loss"] == pytest.approx(last)
    assert result.metrics == eval_recs[-1]["metrics"]
    assert result.final_path == tmp_path / "run" / "final"
    assert result.checkpoints == [tmp_path / "run" / "checkpoint-50"]
    assert not model.training and not isinstance(model.encoder, ComponentDDP)

    final = genzoo.load(result.final_path)
    assert isinstance(final, TinyAE)
    assert_same_weights(final, model)
    mid = genzoo.load(tmp_path / "run" / "checkpoint-50", components=["decoder"])
    assert mid.loaded_components() == ["decoder"] and float(mid.scale.detach()) != 1.0
    state = json.loads((tmp_path / "run" / "checkpoint-50.state" / "trainer_state.json").read_text())
    assert state["step"] == 50 and state["checkpoint"] == "checkpoint-50" and "ae" in state["optimizers"]
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["steps"] == 100
    assert find_latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "final"


def test_two_optimiser_gan_step_and_checkpoint_loads_as_its_family(tmp_path):
    torch.manual_seed(0)
    model = TrainableToy(ToyModel.make_config(width=4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, make_images(), quiet(steps=12, log_every=4, out_dir=tmp_path / "gan"))
    rec = records(tmp_path / "gan" / "metrics.jsonl")[-1]
    assert set(rec["losses"]) == {"d", "g"} and set(rec["lr"]) == {"d", "g"}
    assert all(math.isfinite(v) for v in rec["losses"].values())
    after = model.state_dict()
    assert not torch.equal(before["generator.fc.weight"], after["generator.fc.weight"])
    assert not torch.equal(before["discriminator.head.weight"], after["discriminator.head.weight"])
    loaded = genzoo.load(result.final_path)  # the registered toy family rebuilds it
    assert type(loaded) is ToyModel
    assert_same_weights(loaded, model)


def test_epochs_and_epoch_schedulers(tmp_path):
    class EpochAE(TinyAE):
        def configure_schedulers(self, optimizers, cfg):
            return {"ae": (torch.optim.lr_scheduler.StepLR(optimizers["ae"], step_size=1, gamma=0.5), "epoch")}

    torch.manual_seed(0)
    model = EpochAE(TinyAEConfig())
    result = train(model, make_data(64), quiet(epochs=3, log_every=2))
    assert result.steps == 3 * 64 // 16 and result.epochs == 3
    assert result.losses["lr"] == pytest.approx(1e-2 * 0.25)  # stepped after epochs 1 and 2 while training


# -- resume -------------------------------------------------------------------------
def test_resume_reproduces_an_uninterrupted_run_bit_exactly(tmp_path, monkeypatch):
    data = make_data(72)  # 4 full batches of 16 per epoch, 8 samples dropped: 20 steps cross epochs
    cfg = dict(steps=20, log_every=1, checkpoint_every=5)

    straight = new_ae(seed=0)
    train(straight, data, quiet(out_dir=tmp_path / "a", **cfg))

    interrupted = new_ae(seed=0)
    interrupted.crash_at = 13  # dies after checkpoint-10 was written
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, data, quiet(out_dir=tmp_path / "b", **cfg))
    assert find_latest_checkpoint(tmp_path / "b") == tmp_path / "b" / "checkpoint-10"

    def no_pickle(*args, **kwargs):
        raise AssertionError("resume must not go through torch.load / pickle")

    monkeypatch.setattr(torch, "load", no_pickle)
    resumed = new_ae(seed=123)  # a different init: the weights must come from the checkpoint
    result = train(resumed, data, quiet(out_dir=tmp_path / "b", resume=True, **cfg))
    assert result.resumed_from == tmp_path / "b" / "checkpoint-10" and result.steps == 20

    assert_same_weights(resumed, straight)
    a, b = records(tmp_path / "a" / "metrics.jsonl"), records(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in b] == list(range(1, 21))  # records of the lost steps 11-13 were dropped
    assert [r["losses"] for r in a] == [r["losses"] for r in b]


def test_resume_from_a_finished_run_continues_training(tmp_path):
    data = make_data(64)
    straight = new_ae()
    train(straight, data, quiet(steps=12, out_dir=tmp_path / "a"))
    split = new_ae()
    train(split, data, quiet(steps=6, out_dir=tmp_path / "b"))
    result = train(new_ae(seed=5), data, quiet(steps=12, out_dir=tmp_path / "c", resume=tmp_path / "b" / "final"))
    assert result.resumed_from == tmp_path / "b" / "final"
    final = tmp_path / "c" / "final"
    resumed = {**load_file(final / "encoder.safetensors"), **load_file(final / "decoder.safetensors")}
    expected = straight.state_dict()
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(v, expected[k]) for k, v in resumed.items())


def test_resume_true_without_checkpoints_starts_fresh(tmp_path):
    result = train(new_ae(), make_data(64), quiet(steps=3, out_dir=tmp_path / "r", resume=True))
    assert result.resumed_from is None and result.steps == 3


# -- distributed --------------------------------------------------------------------
def test_torchrun_two_cpu_processes_keep_identical_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(HERE / "ddp_worker.py"), str(tmp_path),
    ]  # fmt: skip
    proc = run_process_group(cmd, env, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    seen = [json.loads((tmp_path / f"seen-rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["world_size"] for s in seen] == [2, 2] and [s["rank"] for s in seen] == [0, 1]
    assert all(s["encoder_type"] == "ComponentDDP" and s["latent_dim"] == 2 for s in seen)
    assert seen[0]["first_batch"] != seen[1]["first_batch"]  # each rank trains on its own shard

    for run in ("ae", "gan", "ae-split"):
        w0 = load_file(tmp_path / f"{run}-rank0.safetensors")
        w1 = load_file(tmp_path / f"{run}-rank1.safetensors")
        assert w0.keys() == w1.keys() and not any(k.startswith("module.") or ".module." in k for k in w0)
        for k in w0:
            assert torch.equal(w0[k], w1[k]), (run, k)
    assert "scale" in w0  # the bare parameter was averaged across ranks too
    init = load_file(tmp_path / "ae-initial-rank0.safetensors")
    final = load_file(tmp_path / "ae-rank0.safetensors")
    assert any(not torch.equal(init[k], final[k]) for k in init)
    # resuming under torchrun continues exactly as an uninterrupted run
    split = load_file(tmp_path / "ae-split-rank0.safetensors")
    assert all(torch.equal(split[k], final[k]) for k in final)
    # only rank 0 wrote; the saved model is the trained one, without DDP's "module." prefix
    saved = genzoo.load(tmp_path / "gan" / "final")
    gan = load_file(tmp_path / "gan-rank0.safetensors")
    assert all(torch.equal(v, gan[k]) for k, v in saved.state_dict().items())
    assert [r["step"] for r in records(tmp_path / "ae" / "metrics.jsonl")] == [5, 10, 15, 20, 25, 30]


def test_sync_batchnorm_conversion_is_undone_after_training():
    from genzoo.training import _Dist, _Run

    model = TrainableToy(ToyModel.make_config(width=4))
    norm = model.discriminator.norm
    run = _Run(model, quiet(steps=1, sync_batchnorm=True), _Dist(), torch.device("cpu"))
    run._convert_sync_bn(model.discriminator)
    assert isinstance(model.discriminator.norm, nn.SyncBatchNorm)
    assert model.discriminator.norm.weight is norm.weight and model.discriminator.norm.running_mean is norm.running_mean
    run.unwrap()
    assert model.discriminator.norm is norm


# -- clipping, precision, errors ------------------------------------------------------
class RecordingSGD(torch.optim.SGD):
    """SGD that remembers the total gradient norm it was asked to apply (after clipping)."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.norms: list[float] = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return super().step(closure)


class ClipAE(TinyAE):
    def configure_optimizers(self, cfg):
        self.opt = RecordingSGD(self.parameters(), lr=1e-3)
        return {"ae": self.opt}

    def configure_schedulers(self, optimizers, cfg):
        return {}

    def training_step(self, batch, ctx):
        loss = 1000.0 * F.mse_loss(self.decoder(self.encoder(batch)), -batch)  # huge gradients
        ctx.backward(loss)
        ctx.step()
        self.pre_clip = ctx.grad_norms.get("ae")
        return {"loss": loss}


def test_grad_clip_clips_by_total_norm():
    torch.manual_seed(0)
    clipped = ClipAE(TinyAEConfig())
    train(clipped, make_data(64), quiet(steps=5, grad_clip=0.5))
    assert len(clipped.opt.norms) == 5 and max(clipped.opt.norms) <= 0.5 * (1 + 1e-4)
    assert float(clipped.pre_clip) > 0.5  # the raw gradient really was larger

    torch.manual_seed(0)
    free = ClipAE(TinyAEConfig())
    train(free, make_data(64), quiet(steps=5))
    assert min(free.opt.norms) > 0.5 and free.pre_clip is None


def test_bf16_autocast_on_cpu_when_asked():
    model = new_ae()
    result = train(model, make_data(64), quiet(steps=4, amp="bf16"))
    assert model.seen["autocast"] is True and math.isfinite(result.losses["loss"])


def test_fp16_on_cpu_falls_back_to_fp32_with_a_warning():
    model = new_ae()
    with pytest.warns(UserWarning, match="amp='fp16' needs CUDA.*amp='bf16'"):
        train(model, make_data(64), quiet(steps=2, amp="fp16"))
    assert model.seen["autocast"] is None  # ran without autocast


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 10, "amp": "bf61"}, "unknown amp mode 'bf61' \\(did you mean 'bf16'\\?\\)"),
        ({"steps": 10, "amp": "fp8"}, "unknown amp mode 'fp8'.*'no', 'bf16', 'fp16'"),
        ({}, "exactly one of steps or epochs"),
        ({"steps": 10, "epochs": 1}, "exactly one of steps or epochs"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": 10, "device": "gpu"}, "unknown device 'gpu'"),
        ({"steps": 10, "grad_clip": -1}, "grad_clip must be a positive number"),
        ({"steps": 10, "checkpoint_every": 5}, "needs an out_dir"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_bad_models_and_run_folders_are_clear_errors(tmp_path):
    torch.manual_seed(0)
    class NoTraining(TinyAE):  # a family that leaves the training hooks at GenzooModel's defaults
        configure_optimizers = GenzooModel.configure_optimizers
        training_step = GenzooModel.training_step

    with pytest.raises(ConfigError, match="does not implement configure_optimizers and training_step"):
        train(NoTraining(TinyAEConfig()), make_images(), quiet(steps=1))
    with pytest.raises(ConfigError, match="fewer than one batch"):
        train(new_ae(), make_data(8), quiet(steps=1))

    class WrongName(TinyAE):
        def training_step(self, batch, ctx):
            ctx.step("generator")

    with pytest.raises(ConfigError, match="no optimiser of that name.*'ae'"):
        train(WrongName(TinyAEConfig()), make_data(64), quiet(steps=1))

    train(new_ae(), make_data(64), quiet(steps=2, out_dir=tmp_path / "run"))
    with pytest.raises(ConfigError, match="already holds a training run.*resume=True"):
        train(new_ae(), make_data(64), quiet(steps=2, out_dir=tmp_path / "run"))
    train(new_ae(), make_data(64), quiet(steps=2, out_dir=tmp_path / "run", overwrite=True))

    genzoo.save(new_ae(), tmp_path / "plain")
    with pytest.raises(CheckpointError, match="no training state next to it"):
        train(new_ae(), make_data(64), quiet(steps=2, resume=tmp_path / "plain"))


def test_progress_bar_only_when_asked(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(new_ae(), make_data(64), quiet(steps=3))
    assert capfd.readouterr().err == ""
    train(new_ae(), make_data(64), quiet(steps=3, progress=True, log_every=1))
    err = capfd.readouterr().err
    assert "train tinyae" in err and "3/3" in err and "loss=" in err


def test_a_step_that_never_steps_is_reported():
    class Idle(TinyAE):
        def training_step(self, batch, ctx):
            return {"loss": 0.0}

    with pytest.warns(UserWarning, match=r"has not called ctx.step\(\) in 2 steps"):
        train(Idle(TinyAEConfig()), make_data(64), quiet(steps=4, log_every=2))
