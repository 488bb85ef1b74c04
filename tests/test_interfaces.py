import pytest
import torch
from torch import nn

from genzoo.errors import ShapeError
from genzoo.interfaces import (
    Decoder,
    DiagonalGaussian,
    Discriminator,
    Encoder,
    Generator,
    TextEncoder,
    check_component,
    expect_images,
)


class LinearEncoder(Encoder):
    def __init__(self, latent=4, probabilistic=False):
        super().__init__()
        self.input_shape, self.latent_shape = (1, 4, 4), (latent,)
        self.probabilistic = probabilistic
        self.fc = nn.Linear(16, 2 * latent if probabilistic else latent)

    def forward(self, images):
        h = self.fc(images.flatten(1))
        if self.probabilistic:
            return DiagonalGaussian(*h.chunk(2, dim=1))
        return h


class BadDecoder(Decoder):
    """Declares 1x4x4 output but returns 1x2x2."""

    def __init__(self):
        super().__init__()
        self.latent_shape, self.output_shape = (4,), (1, 4, 4)
        self.fc = nn.Linear(4, 4)

    def forward(self, latent):
        return self.fc(latent).view(-1, 1, 2, 2)


class CondGenerator(Generator):
    def __init__(self):
        super().__init__()
        self.noise_shape, self.output_shape, self.condition_shape = (3,), (1, 2, 2), ()
        self.emb = nn.Embedding(10, 3)
        self.fc = nn.Linear(3, 4)

    def forward(self, x, cond=None):
        return torch.tanh(self.fc(x + self.emb(cond))).view(-1, 1, 2, 2)


class PatchD(Discriminator):
    def __init__(self):
        super().__init__()
        self.input_shape = (1, 4, 4)
        self.conv = nn.Conv2d(1, 1, 3)

    def forward(self, images, cond=None):
        return self.conv(images)


class CharText(TextEncoder):
    def __init__(self):
        super().__init__()
        self.context_length, self.embed_dim = 6, 5
        self.emb = nn.EmbeddingBag(256, 5)

    def tokenize(self, texts):
        ids = [[ord(c) % 256 for c in t[: self.context_length]] for t in texts]
        return torch.tensor([row + [0] * (self.context_length - len(row)) for row in ids])

    def forward(self, tokens):
        return self.emb(tokens)


@pytest.mark.parametrize(
    "component", [LinearEncoder(), LinearEncoder(probabilistic=True), CondGenerator(), PatchD(), CharText()]
)
def test_components_that_honour_their_shapes_pass(component):
    check_component(component)


def test_check_component_names_declared_and_actual_shape():
    with pytest.raises(ShapeError, match=r"output_shape=\(1, 4, 4\).*\(2, 1, 2, 2\)"):
        check_component(BadDecoder())


def test_component_without_declared_shape_is_reported():
    class NoShape(Encoder):
        def forward(self, images):
            return images

    with pytest.raises(ShapeError, match="must set `input_shape`"):
        check_component(NoShape())


def test_interfaces_are_abstract():
    with pytest.raises(TypeError):
        Encoder()


def test_diagonal_gaussian_rsample_is_differentiable_and_has_right_moments():
    mean = torch.full((20000, 2), 3.0, requires_grad=True)
    logvar = torch.full((20000, 2), 2 * torch.log(torch.tensor(0.5)).item(), requires_grad=True)
    z = DiagonalGaussian(mean, logvar).rsample(torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 3.0) < 0.02 and abs(z.std().item() - 0.5) < 0.02
    z.sum().backward()
    assert mean.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_sample_noise_shape_and_seed():
    g = CondGenerator()
    a = g.sample_noise(5, generator=torch.Generator().manual_seed(1))
    b = g.sample_noise(5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (5, 3) and torch.equal(a, b)


def test_expect_images_accepts_single_image_and_rejects_wrong_shapes():
    assert expect_images(torch.zeros(1, 4, 4), (1, 4, 4)).shape == (1, 1, 4, 4)
    with pytest.raises(ShapeError, match=r"expected a batch of shape \(N, 3, 4, 4\), got \(2, 1, 4, 4\)"):
        expect_images(torch.zeros(2, 1, 4, 4), (3, 4, 4))
    with pytest.raises(ShapeError, match="float"):
        expect_images(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), (3, 4, 4))
    with pytest.raises(ShapeError, match="torch.Tensor"):
        expect_images([[0.0]], (3, 4, 4))
