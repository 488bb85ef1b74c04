"""The VAE's maths and components (no training, no bundled weights)."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genzoo.interfaces import DiagonalGaussian, check_component
from genzoo_vae.losses import kl_gaussians, kl_standard_normal, reconstruction_nll
from genzoo.latent import slerp
from genzoo_vae.model import VAEConfig, VAEModel


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(torch.zeros(7), torch.ones(7))).sum(1)
    assert torch.allclose(kl_standard_normal(mean, logvar), ref, atol=1e-5)
    p_mean, p_logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref2 = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(p_mean, (0.5 * p_logvar).exp())).sum(1)
    assert torch.allclose(kl_gaussians(mean, logvar, p_mean, p_logvar), ref2, atol=1e-5)
    assert torch.allclose(kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_gaussian_nll_matches_torch_distributions():
    x = torch.rand(3, 1, 4, 4) * 2 - 1
    logits = torch.randn(3, 1, 4, 4)
    ref = -Normal(torch.tanh(logits), 0.1).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(reconstruction_nll(logits, x, "gaussian", 0.1), ref, atol=1e-3)
    with pytest.raises(ValueError, match="bernoulli"):
        reconstruction_nll(logits, x, "poisson", 0.1)


@pytest.mark.parametrize("levels", [1, 2])
def test_components_honour_interfaces_and_gradients_flow(levels):
    torch.manual_seed(0)
    m = VAEModel(VAEConfig(image_size=8, widths=[8, 16], latent_dim=4, top_latent_dim=3, hidden=16, levels=levels))
    check_component(m.encoder)
    check_component(m.decoder)
    assert isinstance(m.encode(torch.zeros(2, 1, 8, 8)), DiagonalGaussian)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    terms = m.elbo(x, torch.Generator().manual_seed(0))
    assert len(terms.kl_levels) == levels and torch.all(terms.kl >= 0)
    terms.loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name  # every weight gets a gradient
    assert m.sample(3, seed=1).shape == (3, 1, 8, 8)
    assert torch.equal(m.sample(3, seed=1), m.sample(3, seed=1))
    assert m.reconstruct(x).abs().max() <= 1


def test_beta_scales_only_the_kl_term():
    torch.manual_seed(0)
    m1 = VAEModel(VAEConfig(image_size=8, widths=[8], latent_dim=4, beta=1.0))
    m4 = VAEModel(VAEConfig(image_size=8, widths=[8], latent_dim=4, beta=4.0))
    m4.load_state_dict(m1.state_dict())
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    t1, t4 = m1.elbo(x, torch.Generator().manual_seed(3)), m4.elbo(x, torch.Generator().manual_seed(3))
    assert torch.allclose(t4.loss - t1.loss, 3 * t1.kl.mean(), atol=1e-4)


def test_interpolation_paths():
    torch.manual_seed(0)
    m = VAEModel(VAEConfig(image_size=8, widths=[8], latent_dim=4)).eval()
    a, b = torch.randn(4), torch.randn(4)
    strip = m.interpolate(a, b, steps=5, path="linear")
    assert strip.shape == (5, 1, 8, 8)
    assert torch.allclose(strip[0], m.decode(a[None])[0]) and torch.allclose(strip[-1], m.decode(b[None])[0])
    t = torch.linspace(0, 1, 5).view(-1, 1)
    s = slerp(a[None], b[None], t)
    norms = s.norm(dim=1)
    # slerp between equal-norm vectors keeps the norm; a straight line dips in the middle
    a2, b2 = a / a.norm(), b / b.norm()
    assert torch.allclose(slerp(a2[None], b2[None], t).norm(dim=1), torch.ones(5), atol=1e-5)
    assert ((0.5 * a2 + 0.5 * b2).norm() < 1) and norms.shape == (5,)
    img = torch.rand(1, 8, 8) * 2 - 1
    assert m.interpolate(img, img, steps=3, path="spherical").shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="spherical"):
        m.interpolate(a, b, path="zigzag")


def test_bad_config_is_a_clear_error():
    import genzoo

    with pytest.raises(genzoo.ConfigError, match="levels must be 1 or 2"):
        VAEModel.make_config(levels=3)
