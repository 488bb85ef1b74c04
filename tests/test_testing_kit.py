"""The conformance kit itself: it passes a sound family and fails each broken one at the right step.

The families here are defined in the test, unregistered (``check_family``
takes the class), each breaking one part of the contract; the pytest entry
is run in a real pytest subprocess against a real third-party plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import genzoo
import genzoo.testing
from genzoo import plugins
from genzoo.errors import ConfigError
from genzoo.images import to_tensor
from genzoo.model import GenzooModel, InputSpec
from genzoo.registry import Registry


@dataclass
class TinyConfig:
    size: int = 8
    width: int = 8


class TinyModel(GenzooModel):
    """A sound family: an encoder/decoder pair with three tasks, trainable, with a batch-norm (integer buffer)."""

    family = "tiny"
    config_class = TinyConfig
    inference_components = ("encoder", "decoder")
    tiny_config = {"width": 4}

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        s, w = config.size, config.width
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(s * s, w))
        self.decoder = nn.Sequential(nn.Linear(w, s * s), nn.BatchNorm1d(s * s))

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(channels=1, size=(self.config.size, self.config.size))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        s = self.config.size
        return torch.tanh(self.decoder(z)).view(len(z), 1, s, s)

    @genzoo.task("sample", default=True)
    @torch.no_grad()
    def run_sample(self, n: int = 4, seed: int = 0):
        """Decode random latents."""
        z = torch.randn(n, self.config.width, generator=torch.Generator().manual_seed(seed))
        return self.decode(z), 2

    @genzoo.task("reconstruct")
    @torch.no_grad()
    def run_reconstruct(self, n: int = 4, seed: int = 0):
        """Encode and decode random images."""
        s = self.config.size
        x = torch.rand(n, 1, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        return self.decode(self.encoder(x)), n

    @genzoo.task("codes", returns="table")
    @torch.no_grad()
    def run_codes(self, n: int = 4, seed: int = 0):
        """The norm of each random image's code."""
        s = self.config.size
        x = torch.rand(n, 1, s, s, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        return {"rows": [{"index": i, "norm": float(c.norm())} for i, c in enumerate(self.encoder(x))]}

    def configure_optimizers(self, cfg=None):
        return torch.optim.Adam(self.parameters(), lr=1e-2)

    def training_step(self, batch, ctx):
        x = batch[0]
        loss = F.mse_loss(self.decode(self.encoder(x)), x)
        ctx.backward(loss)
        ctx.step()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, dataset):
        x = torch.stack([dataset[i][0] for i in range(len(dataset))])
        return {"mse": float(F.mse_loss(self.decode(self.encoder(x)), x))}


def fails(family: type, step: str, *fragments: str) -> str:
    """``check_family(family)`` fails at ``step``, naming the family, with every fragment in the message."""
    with pytest.raises(AssertionError) as info:
        genzoo.testing.check_family(family)
    message = str(info.value)
    assert message.startswith(f"check_family({family.family!r}) step '{step}': "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_a_sound_family_passes():
    genzoo.testing.check_family(TinyModel)
    genzoo.testing.check_family(TinyModel, width=3, size=6)  # overrides on top of tiny_config


def test_unknown_config_override_fails_at_config():
    with pytest.raises(AssertionError, match=r"check_family\('tiny'\) step 'config': raised ConfigError: .*'widht' \(did you mean 'width'\?\)"):
        genzoo.testing.check_family(TinyModel, widht=3)


class WrongShape(TinyModel):
    family = "wrong-shape"

    @genzoo.task("sample", default=True)
    def run_sample(self, n: int = 4, seed: int = 0):
        return torch.rand(n, 5, 7) * 2 - 1, 2  # not NCHW


def test_wrong_output_shape_fails_at_tasks():
    fails(WrongShape, "tasks", "task 'sample' returned images of shape (2, 5, 7), not NCHW")


class OutOfRange(TinyModel):
    family = "out-of-range"

    @genzoo.task("reconstruct")
    def run_reconstruct(self, n: int = 4, seed: int = 0):
        images, nrow = super().run_reconstruct(n, seed)
        return images * 3, nrow


def test_values_outside_the_range_fail_at_tasks():
    fails(OutOfRange, "tasks", "task 'reconstruct' returned images with values in [", "outside [-1, 1]")


class NotATable(TinyModel):
    family = "not-a-table"

    @genzoo.task("codes", returns="table")
    def run_codes(self, n: int = 4, seed: int = 0):
        return [{"index": 0}]


def test_a_table_task_returning_a_list_fails_at_tasks():
    fails(NotATable, "tasks", "task 'codes' declares returns='table' but returned a list of 1, not a dict with a 'rows' list")


class Unrepeatable(TinyModel):
    family = "unrepeatable"

    @genzoo.task("sample", default=True)
    def run_sample(self, n: int = 4, seed: int = 0):
        z = torch.randn(n, self.config.width, generator=torch.Generator().manual_seed(torch.seed()))  # ignores seed
        return self.decode(z), 2


def test_a_task_that_ignores_its_seed_fails_at_tasks():
    fails(Unrepeatable, "tasks", "task 'sample' is not repeatable: two runs with n=2, seed=0 returned different results")


def test_a_registered_task_the_class_does_not_declare_is_a_registration_error():
    registrar = Registry().scoped("tiny-plugin")
    with pytest.raises(ConfigError, match=r"family 'tiny' registers task\(s\) 'denoise' that its model class does not declare \(it declares: sample, reconstruct, codes\)"):
        registrar.add_family("tiny", model=TinyModel, tasks=["sample", "denoise"])


class TaskAttributeError(TinyModel):
    family = "task-attribute-error"

    @genzoo.task("broken")
    def run_broken(self, n: int = 4):
        return self.no_such_component(n), 2


def test_a_declared_task_raising_attribute_error_fails_at_tasks():
    fails(TaskAttributeError, "tasks", "task 'broken' (run_broken(n=2)) raised AttributeError:", "no_such_component")


class OrphanTensor(TinyModel):
    family = "orphan-tensor"
    component_groups = {"encoder": ("encoder",), "decoder": ("decoder",)}

    def __init__(self, config):
        super().__init__(config)
        self.scale = nn.Parameter(torch.ones(1))  # in no group: never saved


def test_a_tensor_in_no_group_fails_at_groups():
    fails(OrphanTensor, "groups", "tensor(s) ['scale'] belong to no component group")


class TwoGroupsOneAttribute(TinyModel):
    family = "two-groups"
    component_groups = {"encoder": ("encoder",), "decoder": ("decoder",), "everything": ("encoder", "decoder")}


def test_an_attribute_in_two_groups_fails_at_groups():
    fails(TwoGroupsOneAttribute, "groups", "attribute 'encoder' is in two component groups: 'encoder' and 'everything'")


class EmptyGroup(TinyModel):
    family = "empty-group"
    component_groups = {"encoder": ("encoder",), "decoder": ("decoder",), "head": ("head",)}


def test_an_empty_group_fails_at_groups():
    fails(EmptyGroup, "groups", "component group(s) ['head'] hold no tensors")


class RealTensorOnMeta(TinyModel):
    family = "real-on-meta"

    def __init__(self, config):
        super().__init__(config)
        self.decoder.register_buffer("grid", torch.zeros(4, device="cpu"))  # escapes the meta device


def test_a_tensor_made_on_an_explicit_device_fails_at_meta_build():
    fails(RealTensorOnMeta, "meta-build", "made real tensors: ['decoder.grid']")


class UnsavedBuffer(TinyModel):
    family = "unsaved-buffer"

    def __init__(self, config):
        super().__init__(config)
        self.decoder.register_buffer("offset", torch.rand(config.size**2) * 0.1, persistent=False)

    def materialize_buffers(self):
        self.decoder.offset = torch.rand(self.config.size**2) * 0.1  # not what the saved model used

    def decode(self, z):
        s = self.config.size
        return torch.tanh(self.decoder(z) + self.decoder.offset).view(len(z), 1, s, s)


def test_a_buffer_that_is_not_saved_but_used_fails_at_save_load():
    fails(UnsavedBuffer, "save-load", "tensor(s) ['decoder.offset'] differ after save -> load")


class IgnoresInputSpec(TinyModel):
    family = "ignores-input-spec"

    def preprocess(self, inputs):
        return to_tensor(inputs)  # neither resized nor converted to grey


def test_preprocess_ignoring_the_input_spec_fails_at_input_spec():
    fails(IgnoresInputSpec, "input-spec", "preprocess(a PIL image of 11x13) returned shape (1, 3, 11, 13); input_spec says (1, 1, 8, 8)")


class BadBench(TinyModel):
    family = "bad-bench"

    def bench_inputs(self, batch_size):
        return "run_sampel", {"n": batch_size}


def test_bench_inputs_naming_no_method_fails_at_bench():
    fails(BadBench, "bench", "bench_inputs(2) names 'run_sampel', which is not a method of BadBench")


class NeverSteps(TinyModel):
    family = "never-steps"

    def training_step(self, batch, ctx):
        x = batch[0]
        return {"loss": F.mse_loss(self.decode(self.encoder(x)), x).detach()}  # no backward, no step


@pytest.mark.filterwarnings("ignore:NeverSteps.training_step has not called ctx.step:UserWarning")  # the loop's own warning
def test_a_training_step_that_changes_no_parameters_fails_at_training():
    fails(NeverSteps, "training", "2 training steps changed no parameter of component group(s) ['encoder', 'decoder']")


class NaNLoss(TinyModel):
    family = "nan-loss"

    def training_step(self, batch, ctx):
        out = super().training_step(batch, ctx)
        return {"loss": out["loss"] * float("nan")}


@pytest.mark.filterwarnings("ignore:loss loss is not finite:UserWarning")  # the loop's own warning, expected here
def test_non_finite_losses_fail_at_training():
    fails(NaNLoss, "training", "training gave non-finite losses: {'loss': nan}")


class BadMetrics(TinyModel):
    family = "bad-metrics"

    def evaluate(self, dataset):
        return {"mse": float("inf"), "note": "fine"}


def test_non_finite_metrics_fail_at_evaluate():
    fails(BadMetrics, "evaluate", "evaluate returned mse=inf, not a finite float")


class SilentPlaceholder(TinyModel):
    family = "silent-placeholder"

    @genzoo.task("sample", default=True)
    def run_sample(self, n: int = 4, seed: int = 0):
        if "decoder" not in self.loaded_components():  # carries on without the decoder instead of saying so
            return torch.zeros(n, 1, self.config.size, self.config.size), 2
        return super().run_sample(n, seed)


def test_a_task_that_works_around_a_missing_component_fails_at_partial_load():
    fails(
        SilentPlaceholder, "partial-load",
        "task 'sample' with components=['encoder'] ran but returned something else than with every component loaded",
    )  # fmt: skip


class WrongMissingError(TinyModel):
    family = "wrong-missing-error"

    @genzoo.task("reconstruct")
    def run_reconstruct(self, n: int = 4, seed: int = 0):
        if "encoder" not in self.loaded_components():
            raise RuntimeError("no encoder")
        return super().run_reconstruct(n, seed)


def test_a_task_raising_another_error_for_a_missing_component_fails_at_partial_load():
    fails(
        WrongMissingError, "partial-load",
        "task 'reconstruct' with components=['decoder'] raised RuntimeError: no encoder; a task that needs a "
        "component the model was loaded without must raise genzoo.MissingComponentError",
    )  # fmt: skip


class NeedsTheDiscriminator(TinyModel):
    family = "needs-more-than-inference"
    inference_components = ("decoder",)


def test_a_task_that_needs_more_than_the_inference_components_fails_at_partial_load():
    fails(NeedsTheDiscriminator, "partial-load", "task 'reconstruct' with components='inference' (['decoder']) raised MissingComponentError")


def test_a_family_name_that_is_not_registered_fails_at_registry():
    with pytest.raises(AssertionError, match=r"check_family\('no-such-family'\) step 'registry': raised UnknownFamilyError: unknown family 'no-such-family'"):
        genzoo.testing.check_family("no-such-family")


# -- registered families and models ------------------------------------------------
class TinyPlugin:
    @genzoo.hookimpl
    def genzoo_register_families(self, registry):
        registry.add_family("tiny", model=TinyModel, description="a tiny test family")


def test_a_registered_family_by_name(tmp_path):
    plugins.register(TinyPlugin(), name="tiny-plugin")
    genzoo.testing.check_family("tiny")


def test_check_model_on_a_folder(tmp_path):
    plugins.register(TinyPlugin(), name="tiny-plugin")
    model = genzoo.create("tiny", width=4)
    card = {"description": "a tiny model", "license": "mit", "dataset": "random numbers"}
    genzoo.save(model, tmp_path / "good", card=card)
    genzoo.testing.check_model(str(tmp_path / "good"))

    genzoo.save(model, tmp_path / "no-license", card={**card, "license": None})
    with pytest.raises(AssertionError, match=r"check_model\('.*no-license'\) step 'card': the model card has no 'license'"):
        genzoo.testing.check_model(str(tmp_path / "no-license"))


def test_genzoo_testing_imports_without_pytest():
    code = "import sys; sys.modules['pytest'] = None; import genzoo; genzoo.testing.check_family; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# -- the pytest entry, in a third-party plugin's own suite -------------------------------
PLUGIN = '''
import genzoo
from genzoo import hookimpl


@hookimpl
def genzoo_register_families(registry):
    registry.add_family("cats", model="genzoo_cats.model:CatsModel", description="tiny cats")


@hookimpl
def genzoo_register_models(registry):
    registry.add_bundled("cats-tiny", family="cats", package="genzoo_cats", path="weights/cats-tiny")
'''

CATS_MODEL = '''
import torch
import genzoo
from test_testing_kit import TinyModel


class CatsModel(TinyModel):
    family = "cats"
    {body}
'''

SUITE = '''
import genzoo.testing

test_genzoo_conformance = genzoo.testing.conformance_tests(families=["cats"], models=["cats-tiny"])
'''


def run_plugin_suite(make_plugin, tmp_path, body: str) -> subprocess.CompletedProcess:
    """Make the genzoo_cats plugin (bundled weights included), write its one-line suite, and run pytest on it."""
    site = make_plugin("genzoo_cats", PLUGIN, entry="cats", files={"model.py": CATS_MODEL.format(body=body)})
    from genzoo_cats.model import CatsModel

    card = {"description": "tiny cats", "license": "mit", "dataset": "random numbers"}
    genzoo.save(CatsModel(CatsModel.make_config(CatsModel.tiny_config)), site / "genzoo_cats" / "weights" / "cats-tiny", card=card)
    suite = tmp_path / "plugin_tests"
    suite.mkdir()
    (suite / "test_conformance.py").write_text(SUITE)
    here = os.path.dirname(__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), here, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_conformance.py"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_conformance_tests_runs_the_kit_in_a_plugins_suite(make_plugin, tmp_path):
    out = run_plugin_suite(make_plugin, tmp_path, body="pass")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout, out.stdout
    assert "test_genzoo_conformance[family-cats]" not in out.stdout  # -q: passes are quiet


def test_conformance_tests_fails_a_broken_plugin_naming_the_step(make_plugin, tmp_path):
    body = textwrap.dedent('''
    @genzoo.task("sample", default=True)
    def run_sample(self, n: int = 4, seed: int = 0):
        return torch.zeros(n, 8, 8), 2
    ''').replace("\n", "\n    ")
    out = run_plugin_suite(make_plugin, tmp_path, body=body)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2 failed" in out.stdout, out.stdout
    assert "FAILED test_conformance.py::test_genzoo_conformance[family-cats]" in out.stdout, out.stdout
    assert "FAILED test_conformance.py::test_genzoo_conformance[model-cats-tiny]" in out.stdout, out.stdout
    assert "check_family('cats') step 'tasks': task 'sample' returned images of shape (2, 8, 8), not NCHW" in out.stdout
    assert "check_model('cats-tiny') step 'tasks': task 'sample' returned images of shape (2, 8, 8), not NCHW" in out.stdout
