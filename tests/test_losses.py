"""The shared adversarial losses against their closed forms, and the regularisers' gradients."""

import math

import pytest
import torch

from genzoo import losses
from genzoo.errors import ConfigError


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_minimax_discriminator_loss_is_log4_at_equilibrium():
    zeros = torch.zeros(8)  # D(x) = D(G(z)) = 0.5
    assert losses.bce_d_loss(zeros, zeros).item() == pytest.approx(math.log(4), abs=1e-6)
    # the game's value V(D, G) = log D(x) + log(1 - D(G(z))) is -log 4 there, and D minimises -V
    assert losses.gan_loss("minimax").d is losses.bce_d_loss


@pytest.mark.parametrize("p_real,p_fake", [(0.9, 0.2), (0.6, 0.5), (0.99, 0.01), (0.3, 0.7)])
def test_cross_entropy_losses_match_their_closed_forms(p_real, p_fake):
    real, fake = torch.full((3,), logit(p_real)), torch.full((5,), logit(p_fake))
    expected_d = -(math.log(p_real) + math.log(1 - p_fake))
    assert losses.bce_d_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-5)
    assert losses.minimax_g_loss(fake).item() == pytest.approx(math.log(1 - p_fake), rel=1e-5)
    assert losses.nonsaturating_g_loss(fake).item() == pytest.approx(-math.log(p_fake), rel=1e-5)


def test_cross_entropy_is_stable_for_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for value in (losses.bce_d_loss(big, -big), losses.minimax_g_loss(big), losses.nonsaturating_g_loss(big)):
        assert torch.isfinite(value)
    assert losses.nonsaturating_g_loss(torch.tensor([-100.0])).item() == pytest.approx(100.0)


def test_lsgan_and_hinge_closed_forms():
    real, fake = torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.0, -0.5, 0.3])
    assert losses.lsgan_d_loss(real, fake).item() == pytest.approx(
        0.5 * (0 + 0.25 + 1) / 3 + 0.5 * (0 + 0.25 + 0.09) / 3
    )
    assert losses.lsgan_g_loss(fake).item() == pytest.approx(0.5 * (1 + 2.25 + 0.49) / 3)
    # hinge: only outputs inside the margin count
    assert losses.hinge_d_loss(real, fake).item() == pytest.approx((0 + 0.5 + 0) / 3 + (1 + 0.5 + 1.3) / 3)
    assert losses.hinge_g_loss(fake).item() == pytest.approx(-(0 - 0.5 + 0.3) / 3)
    # a perfectly separating D has zero loss under both
    assert losses.lsgan_d_loss(torch.ones(4), torch.zeros(4)).item() == 0
    assert losses.hinge_d_loss(torch.full((4,), 2.0), torch.full((4,), -3.0)).item() == 0


def test_losses_average_over_patch_maps_and_promote_to_float32():
    patches = torch.zeros(2, 1, 4, 4, dtype=torch.bfloat16)
    value = losses.bce_d_loss(patches, patches)
    assert value.dtype == torch.float32 and value.item() == pytest.approx(math.log(4), abs=1e-6)


def _logit_grad(fn, logits):
    x = torch.tensor(logits, requires_grad=True)
    fn(x).backward()
    return x.grad * len(logits)  # per-sample gradient (the losses are means)


def test_saturating_generator_gradient_vanishes_when_d_rejects_fakes():
    """D confidently rejects the fakes (D(G(z)) ~ 1e-4): log(1 - D) has no slope left, -log D has."""
    rejected = [logit(1e-4), logit(1e-3)]
    sat = _logit_grad(losses.minimax_g_loss, rejected)
    nonsat = _logit_grad(losses.nonsaturating_g_loss, rejected)
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l); d/dl -log sigmoid(l) = -(1 - sigmoid(l))
    assert torch.allclose(sat, torch.tensor([-1e-4, -1e-3]), rtol=1e-3)
    assert torch.allclose(nonsat, torch.tensor([-(1 - 1e-4), -(1 - 1e-3)]), rtol=1e-3)
    assert (nonsat.abs() > 900 * sat.abs()).all()
    # both push the logit the same way (up: towards "real")
    assert (sat < 0).all() and (nonsat < 0).all()
    # and when D is fooled the roles swap: the saturating loss is the steep one
    fooled = [logit(0.999)]
    assert _logit_grad(losses.minimax_g_loss, fooled).abs() > 900 * _logit_grad(losses.nonsaturating_g_loss, fooled).abs()


def test_r1_penalty_is_the_squared_input_gradient():
    w = torch.tensor([[1.0, -2.0, 0.5]])
    x = torch.randn(4, 3, requires_grad=True)
    out = (x * w).sum(1) + 0.1 * (x**2).sum(1)  # D(x) = w.x + 0.1 |x|^2, grad = w + 0.2 x
    expected = ((w + 0.2 * x.detach()) ** 2).sum(1).mean()
    pen = losses.r1_penalty(out, x)
    assert pen.item() == pytest.approx(expected.item(), rel=1e-5)
    pen.backward()  # create_graph=True: the penalty is differentiable (here w.r.t. x)
    assert torch.allclose(x.grad, 0.4 * (w + 0.2 * x.detach()) / 4, rtol=1e-4)
    with pytest.raises(ValueError, match="requires_grad"):
        losses.r1_penalty(out, torch.randn(4, 3))


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_reaches_its_weights():
    class Linear(torch.nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.w = torch.nn.Parameter(torch.full((1, 1, 2, 2), scale / 2.0))  # |grad| = |w| = scale

        def forward(self, x, cond=None):
            return (x * self.w).flatten(1).sum(1)

    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    g = torch.Generator().manual_seed(0)
    assert losses.gradient_penalty(Linear(1.0), real, fake, generator=g).item() == pytest.approx(0, abs=1e-10)
    critic = Linear(3.0)
    pen = losses.gradient_penalty(critic, real, fake, generator=g)
    assert pen.item() == pytest.approx(4.0, rel=1e-5)  # (3 - 1)^2
    pen.backward()
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0


def test_unknown_names_are_clear_errors():
    with pytest.raises(ConfigError, match="did you mean 'hinge'"):
        losses.gan_loss("hinje")
    with pytest.raises(ConfigError, match="regularizer"):
        losses.check_regularizer("r2")
    assert set(losses.GAN_LOSSES) == {"minimax", "nonsaturating", "lsgan", "hinge"}
