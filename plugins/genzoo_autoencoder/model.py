"""Convolutional autoencoder and its denoising variant.

The encoder maps an image to a deterministic latent vector through stride-2
convolutions and a linear bottleneck; the decoder mirrors it. The denoising
variant (Vincent et al., 2008) trains on corrupted inputs -- additive
Gaussian noise and randomly masked pixels -- against the clean targets, so it
learns to remove exactly that corruption. Per-sample reconstruction error is
the anomaly score: inputs unlike the training data reconstruct badly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from genzoo.model import GenzooModel, InputSpec, task
from genzoo.nets import ConvDecoder, ConvEncoder
from genzoo.tasks import images_of, input_label, inputs_or_digits


@dataclass
class AEConfig:
    #: Ranges the types cannot say (genzoo.config); positive int defaults stay >= 1.
    limits: ClassVar[dict[str, str]] = {
        "noise_std": "[0, inf)", "mask_prob": "[0, 1)", "lr": "(0, inf)", "weight_decay": "[0, inf)",
    }  # fmt: skip

    image_size: int = 16
    channels: int = 1
    latent_dim: int = 16
    widths: list[int] = field(default_factory=lambda: [32, 64])
    #: Denoising: train on corrupted inputs (Gaussian noise std, masked-pixel fraction).
    denoising: bool = False
    noise_std: float = 0.5
    mask_prob: float = 0.25
    lr: float = 1e-3
    weight_decay: float = 0.0


def corrupt(x: torch.Tensor, noise_std: float, mask_prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive Gaussian noise, then a random ``mask_prob`` of pixels set to -1 (black); clamped to [-1, 1]."""
    noisy = x + noise_std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if mask_prob > 0:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= mask_prob
        noisy = torch.where(keep, noisy, torch.full_like(noisy, -1.0))
    return noisy.clamp(-1, 1)


class AutoencoderModel(GenzooModel):
    family = "autoencoder"
    config_class = AEConfig
    inference_components = ("encoder", "decoder")
    pipeline_tag = "image-to-image"
    train_defaults = {"steps": 3000, "batch_size": 64}
    tiny_config = {"latent_dim": 4, "widths": [4, 8]}

    def __init__(self, config: AEConfig):
        super().__init__(config)
        c = config
        self.encoder = ConvEncoder(c.image_size, c.channels, c.widths, c.latent_dim)
        self.decoder = ConvDecoder(c.image_size, c.channels, c.widths, c.latent_dim)

    def describe(self) -> str:
        kind = "Denoising convolutional autoencoder" if self.config.denoising else "Convolutional autoencoder"
        return f"{kind} with a {self.config.latent_dim}-d latent"

    @property
    def input_spec(self) -> InputSpec:
        """Images of the config's size and channels in [-1, 1]."""
        return InputSpec(self.config.channels, (self.config.image_size, self.config.image_size))

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        g = torch.Generator().manual_seed(0)
        x = torch.rand((batch_size, *self.image_shape), generator=g) * 2 - 1
        return "reconstruct", {"images": x.to(self.device, self.dtype)}

    def encode(self, images: Any) -> torch.Tensor:
        return self.encoder(self.as_input(images))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    @torch.no_grad()
    def reconstruct(self, images: Any) -> torch.Tensor:
        """Decode the encoding (inference; train through ``encoder``/``decoder`` directly)."""
        return self.decode(self.encode(images))

    @torch.no_grad()
    def denoise(self, images: Any) -> torch.Tensor:
        """Reconstruct noisy images; a denoising-trained model returns them cleaned."""
        return self.reconstruct(images)

    @torch.no_grad()
    def anomaly_score(self, images: Any) -> torch.Tensor:
        """Per-sample mean squared reconstruction error: high for inputs unlike the training data."""
        images = self.as_input(images)
        return (self.reconstruct(images) - images).pow(2).flatten(1).mean(1)

    # -- training (the contract of genzoo.training) ----------------------
    def configure_optimizers(self, cfg=None) -> dict[str, torch.optim.Optimizer]:
        return {"ae": torch.optim.Adam(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)}

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        x = x.to(ctx.device)
        inp = corrupt(x, self.config.noise_std, self.config.mask_prob, ctx.generator) if self.config.denoising else x
        with ctx.autocast():
            loss = F.mse_loss(self.decoder(self.encoder(inp)), x)
        ctx.backward(loss)
        ctx.step("ae")
        return {"mse": loss.detach()}

    @torch.no_grad()
    def evaluate(self, dataset) -> dict[str, float]:
        """Test reconstruction MSE; for the denoising model also PSNR on corrupted inputs."""
        from genzoo.metrics import psnr

        x = images_of(dataset).to(self.device)
        rec = self.reconstruct(x)
        out = {"test_mse": F.mse_loss(rec, x).item()}
        if self.config.denoising:
            g = torch.Generator(device=x.device).manual_seed(0)
            noisy = corrupt(x, self.config.noise_std, self.config.mask_prob, g)
            out["psnr_noisy"] = psnr(noisy, x)
            out["psnr_denoised"] = psnr(self.denoise(noisy), x)
        return out

    # -- genzoo run ------------------------------------------------------
    @task("reconstruct", default=True)
    @torch.no_grad()
    def run_reconstruct(self, n: int = 16, seed: int = 0, inputs=None):
        """Top row: inputs (test digits by default); bottom row: reconstructions."""
        x = inputs_or_digits(self, inputs, n, seed)
        return torch.cat([x, self.reconstruct(x)]), len(x)

    @task("denoise")
    @torch.no_grad()
    def run_denoise(self, n: int = 16, seed: int = 0, inputs=None):
        """Rows: clean inputs, corrupted inputs, denoised outputs."""
        x = inputs_or_digits(self, inputs, n, seed)
        g = torch.Generator(device=x.device).manual_seed(seed)
        noisy = corrupt(x, self.config.noise_std, self.config.mask_prob, g)
        return torch.cat([x, noisy, self.denoise(noisy)]), len(x)

    @task("anomaly_score", returns="table")
    @torch.no_grad()
    def run_anomaly_score(self, n: int = 16, seed: int = 0, inputs=None):
        """Per-image anomaly score (reconstruction MSE) of the inputs (test digits by default); high = unusual."""
        x = inputs_or_digits(self, inputs, n, seed)
        scores = self.anomaly_score(x).float().cpu().tolist()
        rows = [{"input": input_label(inputs, i), "anomaly_score": round(s, 6)} for i, s in enumerate(scores)]
        return {"rows": rows, "images": torch.cat([x, self.reconstruct(x)]), "nrow": len(x)}
