"""Denoising diffusion: DDPM training, DDPM and DDIM sampling, guidance, inpainting, denoising.

The papers, and where each piece comes from:

- Ho, Jain & Abbeel 2020 (DDPM): the forward process
  q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), the "simple" loss
  ||eps - eps_theta(x_t, t)||^2 and ancestral sampling from the posterior
  q(x_{t-1} | x_t, x_0).
- Song, Meng & Ermon 2021 (DDIM): the non-Markovian sampler on any
  sub-sequence of timesteps; eta = 0 is deterministic (and invertible, which
  gives the latents ``interpolate`` slerps between), eta = 1 is DDPM's noise.
- Nichol & Dhariwal 2021: the cosine schedule.
- Salimans & Ho 2022: v-prediction, v = sqrt(abar) eps - sqrt(1 - abar) x_0.
- Ho & Salimans 2022: classifier-free guidance; the condition is dropped
  with probability ``cond_drop`` in training, and sampling mixes
  pred_u + s (pred_c - pred_u), so s = 0 is the unconditional model and
  s = 1 the conditional one.
- Lugmayr et al. 2022 (RePaint): inpainting by replacing the known pixels
  with the forward process's sample at every step, with optional resampling.

Components, one safetensors file each: ``unet`` (trained), ``ema`` (the
exponential moving average of ``unet``, what sampling uses) and, for text
conditioning, ``text_encoder``: another family's frozen ``TextEncoder``
(``genzoo.create("diffusion", text_encoder="clip-digits")``), rebuilt on
load from the family and config recorded in this model's config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import genzoo
from genzoo.errors import ConfigError, MissingComponentError, ShapeError
from genzoo.interfaces import TextEncoder
from genzoo.data import DigitsDataset
from genzoo.latent import latent_path
from genzoo.tasks import images_of, inputs_or_digits

from .schedule import SCHEDULES, alpha_bars, step_sequence
from .unet import UNet

PREDICTIONS = ("eps", "v")
CONDITIONS = ("none", "labels", "text")
SAMPLERS = ("ddim", "ddpm")
MASKS = ("right", "left", "top", "bottom", "center")
#: Sampling loops at least this long show a progress bar (``progress=None``).
PROGRESS_FROM = 100

#: The caption templates and class names ``clip-digits`` was trained on (its config records the same).
DIGIT_TEMPLATES = [
    "a photo of the number {}.", "a photo of the digit {}.", "a handwritten {}.", "the number {}.",
    "a drawing of the digit {}.", "a blurry photo of a {}.", "an image of the number {}.", "a {} written by hand.",
]
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass
class DiffusionConfig:
    image_size: int = 16
    channels: int = 1
    #: U-Net base width and the width multiplier of each resolution (halved between them).
    width: int = 32
    width_mults: list[int] = field(default_factory=lambda: [1, 2, 2])
    heads: int = 4
    dropout: float = 0.0
    timesteps: int = 1000
    schedule: str = "cosine"
    #: What the network predicts: ``eps`` (the noise) or ``v`` (Salimans & Ho).
    prediction: str = "eps"
    #: ``none``, ``labels`` (class ids) or ``text`` (a TextEncoder's embedding of a prompt).
    condition: str = "none"
    num_classes: int = 10
    #: Size of the class embedding (text: the text encoder's ``embed_dim``).
    cond_dim: int = 32
    #: Probability of training a batch row without its condition (classifier-free guidance).
    cond_drop: float = 0.1
    #: Registered model whose ``text_encoder`` group conditions this one (``condition="text"``).
    text_encoder: str | None = None
    #: ``{"family": ..., "config": {...}}`` of the text encoder's model: what rebuilds it on load.
    text_encoder_spec: dict | None = None
    #: Captions for class ``i`` in training: ``template.format(class_names[i])``.
    templates: list[str] = field(default_factory=lambda: list(DIGIT_TEMPLATES))
    class_names: list[str] = field(default_factory=lambda: list(DIGIT_NAMES))
    #: How ``labels`` become prompts for a text-conditioned model (``genzoo run ... --labels 7``).
    label_template: str = "a handwritten {}."
    #: Sampling defaults (each a task option too).
    guidance: float = 2.0
    sample_steps: int = 50
    sampler: str = "ddim"
    eta: float = 0.0
    ema_decay: float = 0.995
    lr: float = 1e-3

    def __post_init__(self):
        if self.text_encoder and self.condition == "none":
            self.condition = "text"
        checks = [
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"),
            (self.prediction in PREDICTIONS, f"prediction must be 'eps' or 'v', got {self.prediction!r}"),
            (self.condition in CONDITIONS, f"condition must be one of {', '.join(CONDITIONS)}, got {self.condition!r}"),
            (self.sampler in SAMPLERS, f"sampler must be 'ddim' or 'ddpm', got {self.sampler!r}"),
            (self.timesteps >= 2, f"timesteps must be at least 2, got {self.timesteps}"),
            (1 <= self.sample_steps <= self.timesteps, f"sample_steps must be in 1..timesteps ({self.timesteps}), got {self.sample_steps}"),
            (0.0 <= self.cond_drop < 1.0, f"cond_drop must be in [0, 1), got {self.cond_drop}"),
            (0.0 <= self.ema_decay < 1.0, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.eta >= 0.0, f"eta must be >= 0, got {self.eta}"),
            (self.width % self.heads == 0 or self.heads < 1, f"width {self.width} must be divisible by heads {self.heads}"),
            (self.condition != "text" or bool(self.text_encoder or self.text_encoder_spec),
             'condition="text" needs a text encoder: text_encoder="clip-digits" (any model with a text_encoder group)'),
            (self.condition != "labels" or self.num_classes >= 2, f"num_classes must be at least 2, got {self.num_classes}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.width_mults = [int(m) for m in self.width_mults]


def _borrow_text_encoder(name: str) -> tuple[TextEncoder, dict]:
    """The frozen text tower of registered model ``name``, and the spec that rebuilds it without the registry entry."""
    wrong = ConfigError(f"{name!r} has no text_encoder component that is a genzoo TextEncoder; use a CLIP model such as clip-digits")
    try:
        donor = genzoo.load(name, components=["text_encoder"])
    except MissingComponentError:
        raise wrong from None
    attrs = donor.groups().get("text_encoder", ())
    tower = getattr(donor, attrs[0], None) if len(attrs) == 1 else None
    if not isinstance(tower, TextEncoder):
        raise wrong
    return tower, {"family": donor.family, "config": donor.config_dict()}


def _build_text_encoder(spec: dict) -> TextEncoder:
    """An empty text tower of the recorded family and config (weights come from text_encoder.safetensors).

    Built on whatever device the caller builds on (the meta device when
    genzoo loads a checkpoint), through the family's class rather than
    ``genzoo.create``, which would also move it: a meta tensor cannot move.
    """
    cls = genzoo.plugins.get_registry().family(spec["family"]).model_class()
    donor = cls(cls.make_config(spec["config"]))
    return getattr(donor, donor.groups()["text_encoder"][0])


class DiffusionModel(genzoo.GenzooModel):
    family = "diffusion"
    config_class = DiffusionConfig
    inference_components = ("ema", "text_encoder")
    pipeline_tag = "text-to-image"
    train_defaults = {"steps": 4000, "batch_size": 64}
    tiny_config = {
        "image_size": 8, "width": 8, "width_mults": [1, 2], "heads": 2, "timesteps": 20, "sample_steps": 4,
        "condition": "labels", "cond_dim": 8, "ema_decay": 0.5,
    }

    def __init__(self, config: DiffusionConfig):
        super().__init__(config)
        c = config
        tower, cond_dim = None, c.cond_dim
        if c.condition == "text":
            if c.text_encoder_spec is None:
                tower, c.text_encoder_spec = _borrow_text_encoder(c.text_encoder)
            else:
                tower = _build_text_encoder(c.text_encoder_spec)
            cond_dim = c.cond_dim = tower.embed_dim
        net = dict(channels=c.channels, image_size=c.image_size, width=c.width, mults=tuple(c.width_mults),
                   heads=c.heads, dropout=c.dropout, cond_dim=cond_dim if c.condition != "none" else 0,
                   num_classes=c.num_classes if c.condition == "labels" else 0)
        self.unet = UNet(**net)
        self.ema = UNet(**net)
        if not self.unet.stem.weight.is_meta:
            self.ema.load_state_dict(self.unet.state_dict())
        self.ema.requires_grad_(False)
        if tower is not None:
            self.text_encoder = tower.requires_grad_(False).eval()
        self._alpha_bars: dict[tuple, torch.Tensor] = {}
        self._captions: dict[tuple, torch.Tensor] = {}

    def materialize_buffers(self) -> None:
        """Loaded tensors are assigned as they were saved; keep the EMA and the borrowed tower frozen."""
        self.ema.requires_grad_(False)
        if "text_encoder" in self._modules:
            self.text_encoder.requires_grad_(False)

    @property
    def input_spec(self) -> genzoo.InputSpec:
        c = self.config
        return genzoo.InputSpec(channels=c.channels, size=(c.image_size, c.image_size))

    def describe(self) -> str:
        cond = {"none": "unconditional", "labels": "class-conditional", "text": "text-conditional"}[self.config.condition]
        return f"A {cond} diffusion model ({self.config.schedule} schedule, {self.config.prediction}-prediction)"

    def export_targets(self) -> dict:
        """Only the text tower: the denoiser takes a timestep besides the image, which the default targets do not describe."""
        return {k: v for k, v in super().export_targets().items() if k == "text_encoder"}

    # -- the forward process ---------------------------------------------------
    def alpha_bars(self, device: torch.device | None = None) -> torch.Tensor:
        """abar_t for t = 0..T-1 (float64 on the CPU; float32 elsewhere), cached per device."""
        device = torch.device(device or "cpu")
        key = (device.type, device.index)
        if key not in self._alpha_bars:
            ab = alpha_bars(self.config.schedule, self.config.timesteps)
            self._alpha_bars[key] = ab.to(device, torch.float64 if device.type == "cpu" else torch.float32)
        return self._alpha_bars[key]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise: the forward process in closed form, at timesteps ``t`` (N,)."""
        ab = self.alpha_bars(x0.device)[t.to(x0.device)].to(x0.dtype).view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    # -- conditions --------------------------------------------------------------
    def _labels(self, n: int, labels: Any) -> torch.Tensor:
        if self.config.condition != "labels":
            raise ConfigError(f"this diffusion model is conditioned on {self.config.condition!r}, not on class labels; leave labels out")
        y = torch.as_tensor(labels).reshape(-1).long()
        k = self.config.num_classes
        if not y.numel() or y.min() < 0 or y.max() >= k:
            raise ConfigError(f"labels must be class ids in 0..{k - 1}, got {y.tolist()[:10]}")
        return y.repeat(math.ceil(n / len(y)))[:n].to(self.device)

    def encode_prompts(self, prompts: Sequence[str] | str) -> torch.Tensor:
        """(N, cond_dim) unit vectors: the frozen text encoder's embeddings of ``prompts``."""
        if self.config.condition != "text":
            raise ConfigError(f"this diffusion model is conditioned on {self.config.condition!r}, not on text; leave the prompt out")
        self.require("text_encoder")
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        with torch.no_grad():
            tokens = self.text_encoder.tokenize(prompts).to(self.device)
            return F.normalize(self.text_encoder(tokens).float(), dim=-1).to(self.dtype)

    def condition_for(self, n: int, labels: Any = None, prompt: Any = None, embeddings: torch.Tensor | None = None):
        """What the U-Net takes as condition for ``n`` images, repeated to ``n``; ``None``: unconditional."""
        given = [k for k, v in (("labels", labels), ("prompt", prompt), ("embeddings", embeddings)) if v is not None]
        if len(given) > 1:
            raise ConfigError(f"give one condition, not {' and '.join(given)}")
        if labels is not None:
            return self._labels(n, labels)
        if prompt is None and embeddings is None:
            return None
        e = self.encode_prompts(prompt) if prompt is not None else torch.as_tensor(embeddings).to(self.device, self.dtype)
        if self.config.condition != "text" or e.ndim != 2 or e.shape[1] != self.config.cond_dim:
            raise ShapeError(f"embeddings must be (N, {self.config.cond_dim}) text embeddings of a text-conditioned model, got {tuple(e.shape)}")
        return e.repeat(math.ceil(n / len(e)), 1)[:n]

    # -- one denoising step ----------------------------------------------------------
    def predict(self, x: torch.Tensor, t: int, cond=None, guidance: float = 1.0):
        """(x0, eps) the EMA network predicts from x_t, with classifier-free guidance ``guidance`` when there is a condition."""
        net = self.ema
        tt = torch.full((len(x),), t, device=x.device, dtype=torch.long)
        if cond is not None and guidance == 1.0:  # the conditional model alone: one pass
            out = net(x, cond, t=tt)
        else:
            out = net(x, None, t=tt)
            if cond is not None:
                out = out + guidance * (net(x, cond, t=tt) - out)
        ab = self.alpha_bars(x.device)[t].to(x.dtype)
        if self.config.prediction == "eps":
            x0 = (x - (1 - ab).sqrt() * out) / ab.sqrt()
        else:
            x0 = ab.sqrt() * x - (1 - ab).sqrt() * out
        x0 = x0.clamp(-1, 1)
        return x0, (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    def _step(self, x, t, t_prev, cond, guidance, sampler, eta, generator):
        """x_{t_prev} from x_t: DDPM's posterior sample or DDIM's update (``t_prev = -1``: the clean image)."""
        ab_all = self.alpha_bars(x.device)
        ab = ab_all[t].to(x.dtype)
        ab_prev = ab_all[t_prev].to(x.dtype) if t_prev >= 0 else torch.ones((), device=x.device, dtype=x.dtype)
        x0, eps = self.predict(x, t, cond, guidance)
        if t_prev < 0:
            return x0
        var = (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)  # the posterior's beta tilde
        if sampler == "ddpm":
            beta = 1 - ab / ab_prev
            mean = ab_prev.sqrt() * beta / (1 - ab) * x0 + (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab) * x
            sigma = var.sqrt()
        else:
            sigma = eta * var.sqrt()
            mean = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        if float(sigma) == 0.0:
            return mean
        return mean + sigma * self._noise(x.shape, generator).to(x.device, x.dtype)

    @staticmethod
    def _noise(shape, generator: torch.Generator) -> torch.Tensor:
        """Standard normal noise drawn on the CPU, so a seed gives the same images on every device."""
        return torch.randn(shape, generator=generator)

    def _options(self, steps, guidance, sampler, eta):
        c = self.config
        sampler = sampler or c.sampler
        if sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be 'ddim' or 'ddpm', got {sampler!r}")
        return (step_sequence(c.timesteps, steps or c.sample_steps), c.guidance if guidance is None else float(guidance),
                sampler, c.eta if eta is None else float(eta))

    def _loop(self, x, seq, cond, guidance, sampler, eta, generator, progress, known=None, mask=None, resample=1):
        """Run the sampler along ``seq``; with ``known``/``mask`` (1 = known pixel), RePaint's inpainting."""
        show = len(seq) >= PROGRESS_FROM if progress is None else progress
        ab_all = self.alpha_bars(x.device)
        for i, t in enumerate(tqdm(seq, desc="sampling", disable=not show, leave=False)):
            t_prev = seq[i + 1] if i + 1 < len(seq) else -1
            for r in range(resample):
                x_prev = self._step(x, t, t_prev, cond, guidance, sampler, eta, generator)
                if known is not None:
                    if t_prev >= 0:
                        ab_p = ab_all[t_prev].to(x.dtype)
                        noisy = ab_p.sqrt() * known + (1 - ab_p).sqrt() * self._noise(x.shape, generator).to(x.device, x.dtype)
                    else:
                        noisy = known
                    x_prev = mask * noisy + (1 - mask) * x_prev
                if r + 1 < resample and t_prev >= 0:  # RePaint's resampling: back to x_t, then down again
                    a = (ab_all[t] / ab_all[t_prev]).to(x.dtype)
                    x = a.sqrt() * x_prev + (1 - a).sqrt() * self._noise(x.shape, generator).to(x.device, x.dtype)
                else:
                    x = x_prev
        return x.clamp(-1, 1)

    # -- what users call ------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int = 8, *, prompt: Any = None, labels: Any = None, embeddings: torch.Tensor | None = None,
               seed: int = 0, steps: int | None = None, guidance: float | None = None, sampler: str | None = None,
               eta: float | None = None, noise: torch.Tensor | None = None, progress: bool | None = None) -> torch.Tensor:
        """``n`` images in [-1, 1], seeded; ``prompt``/``labels``/``embeddings`` condition them (else unconditional)."""
        self.require("ema")
        cond = self.condition_for(n, labels, prompt, embeddings)
        seq, guidance, sampler, eta = self._options(steps, guidance, sampler, eta)
        g = torch.Generator().manual_seed(seed)
        x = (self._noise((n, *self.image_shape), g) if noise is None else noise).to(self.device, self.dtype)
        return self._loop(x, seq, cond, guidance, sampler, eta, g, progress)

    @torch.no_grad()
    def invert(self, images, *, steps: int | None = None, prompt: Any = None, labels: Any = None,
               guidance: float | None = None) -> torch.Tensor:
        """DDIM's latents x_T of ``images``: the deterministic sampler run backwards (Song et al., sec. 4.3)."""
        self.require("ema")
        x = self.as_input(images)
        cond = self.condition_for(len(x), labels, prompt)
        seq, guidance, _, _ = self._options(steps, guidance, "ddim", 0.0)
        ab_all = self.alpha_bars(x.device)
        ab_cur = torch.ones((), device=x.device, dtype=x.dtype)
        for t in reversed(seq):
            _, eps = self.predict(x, t, cond, guidance)
            x0 = (x - (1 - ab_cur).sqrt() * eps) / ab_cur.sqrt()
            ab_cur = ab_all[t].to(x.dtype)
            x = ab_cur.sqrt() * x0 + (1 - ab_cur).sqrt() * eps
        return x

    @torch.no_grad()
    def inpaint(self, images, mask: str | torch.Tensor = "right", *, seed: int = 0, steps: int | None = None,
                prompt: Any = None, labels: Any = None, guidance: float | None = None, sampler: str | None = None,
                eta: float | None = None, resample: int = 1, progress: bool | None = None) -> torch.Tensor:
        """Fill the unknown pixels of ``images`` (``mask``: a side/centre name for the unknown part, or a
        tensor with 1 where pixels are known); the known pixels come back exactly."""
        self.require("ema")
        x0 = self.as_input(images)
        m = self.known_mask(mask).to(x0.device, x0.dtype).expand_as(x0)
        cond = self.condition_for(len(x0), labels, prompt)
        seq, guidance, sampler, eta = self._options(steps, guidance, sampler, eta)
        if resample < 1:
            raise ConfigError(f"resample must be at least 1, got {resample}")
        g = torch.Generator().manual_seed(seed)
        x = self._noise(x0.shape, g).to(x0.device, x0.dtype)
        out = self._loop(x, seq, cond, guidance, sampler, eta, g, progress, known=x0, mask=m, resample=resample)
        return m * x0 + (1 - m) * out

    def known_mask(self, mask: str | torch.Tensor) -> torch.Tensor:
        """(1, 1, H, W) with 1 on known pixels; a name says which part is unknown (``right`` half...)."""
        if isinstance(mask, torch.Tensor):
            m = mask.float()
            return m.reshape(1, 1, *m.shape[-2:]) if m.ndim == 2 else m
        if mask not in MASKS:
            raise ConfigError(f"mask must be a tensor or one of {', '.join(MASKS)}, got {mask!r}")
        s = self.config.image_size
        m, h = torch.ones(1, 1, s, s), s // 2
        region = {"right": (slice(None), slice(h, None)), "left": (slice(None), slice(None, h)),
                  "top": (slice(None, h), slice(None)), "bottom": (slice(h, None), slice(None)),
                  "center": (slice(s // 4, s - s // 4), slice(s // 4, s - s // 4))}[mask]
        m[0, 0][region] = 0
        return m

    @torch.no_grad()
    def denoise(self, noisy, level: float, *, steps: int | None = None, prompt: Any = None, labels: Any = None,
                guidance: float | None = None) -> torch.Tensor:
        """Clean images from ``noisy`` = clean + ``level`` * N(0, I) (images in [-1, 1]), by DDIM from the matching timestep.

        x_t / sqrt(abar_t) = x_0 + sqrt((1 - abar_t) / abar_t) eps, so noise of
        std ``level`` is timestep t with (1 - abar_t) / abar_t = level^2.
        """
        self.require("ema")
        y = noisy if isinstance(noisy, torch.Tensor) and noisy.is_floating_point() else self.as_input(noisy)
        y = y.to(self.device, self.dtype)
        if level <= 0:
            return y.clamp(-1, 1)
        ab_all = self.alpha_bars(y.device)
        t = int(torch.argmin(((1 - ab_all) / ab_all - level**2).abs()))
        x = ab_all[t].to(y.dtype).sqrt() * y
        cond = self.condition_for(len(y), labels, prompt)
        _, guidance, _, _ = self._options(None, guidance, "ddim", 0.0)
        seq = step_sequence(t + 1, min(steps or self.config.sample_steps, t + 1))
        return self._loop(x, seq, cond, guidance, "ddim", 0.0, None, False)

    # -- tasks -----------------------------------------------------------------------------
    @genzoo.task("sample", default=True)
    def run_sample(self, n: int | None = None, seed: int = 0, steps: int | None = None, labels=None, prompt=None,
                   templates: Sequence[str] | None = None, guidance: float | None = None, sampler: str | None = None,
                   eta: float | None = None):
        """Images from noise, seeded; conditioned on labels or a prompt when given (n: one per label, else 8).

        A text-conditioned model reads ``labels`` as the prompts
        ``template.format(class name)`` (``templates``: the first one given,
        else ``label_template``), so `genzoo run` prompts it with
        ``--labels 7 --template "a handwritten {}."``.
        """
        if n is None:
            n = len(torch.as_tensor(labels).reshape(-1)) if labels is not None else 8
        if templates and self.config.condition != "text":
            raise ConfigError("templates make prompts for a text-conditioned model; this one is conditioned on "
                              f"{self.config.condition!r}")
        if labels is not None and self.config.condition == "text":
            names, template = self.config.class_names, (templates or [self.config.label_template])[0]
            ids = torch.as_tensor(labels).reshape(-1).tolist()
            if any(not 0 <= i < len(names) for i in ids):
                raise ConfigError(f"labels must be class ids in 0..{len(names) - 1}, got {ids[:10]}")
            labels, prompt = None, [template.format(names[i]) for i in ids]
        return self.sample(n, prompt=prompt, labels=labels, seed=seed, steps=steps, guidance=guidance,
                           sampler=sampler, eta=eta), min(n, 8)

    @genzoo.task("interpolate")
    def run_interpolate(self, n: int = 8, seed: int = 0, steps: int | None = None, inputs=None, labels=None,
                        prompt=None, guidance: float | None = None):
        """A slerp between two DDIM latents (of the first two inputs when given, else of seeded noise), decoded."""
        self.require("ema")
        if inputs is not None and (not isinstance(inputs, (list, tuple)) or len(inputs) >= 2):
            ends = self.invert(self.as_input(inputs)[:2], steps=steps, prompt=prompt, labels=labels, guidance=guidance)
        else:
            ends = self._noise((2, *self.image_shape), torch.Generator().manual_seed(seed)).to(self.device, self.dtype)
        z = latent_path(ends[0], ends[1], max(n, 2), "spherical").view(-1, *self.image_shape)
        images = self.sample(len(z), noise=z, prompt=prompt, labels=labels, steps=steps, guidance=guidance,
                             sampler="ddim", eta=0.0)
        return images, len(z)

    @genzoo.task("inpaint")
    def run_inpaint(self, n: int = 4, seed: int = 0, steps: int | None = None, inputs=None, labels=None,
                    prompt=None, mask: str = "right", resample: int = 1):
        """Inputs (test digits by default) with a part hidden, above RePaint's completion of it."""
        x = inputs_or_digits(self, inputs, n, seed)
        m = self.known_mask(mask).to(x.device, x.dtype)
        out = self.inpaint(x, mask, seed=seed, steps=steps, labels=labels, prompt=prompt, resample=resample)
        return torch.cat([m * x, out]), len(x)  # the hidden part shown grey (0 in [-1, 1])

    @genzoo.task("denoise")
    def run_denoise(self, n: int = 4, seed: int = 0, steps: int | None = None, inputs=None, level: float = 0.5):
        """Inputs (test digits by default), with noise of std ``level`` added, and denoised: three rows."""
        x = inputs_or_digits(self, inputs, n, seed)
        noisy = x + level * self._noise(x.shape, torch.Generator().manual_seed(seed)).to(x.device, x.dtype)
        return torch.cat([x, noisy.clamp(-1, 1), self.denoise(noisy, level, steps=steps)]), len(x)

    # -- training -------------------------------------------------------------------------------
    def configure_optimizers(self, cfg):
        return {"main": torch.optim.AdamW(self.unet.parameters(), lr=self.config.lr, weight_decay=0.0)}

    def _train_condition(self, labels: torch.Tensor, generator: torch.Generator, device) -> torch.Tensor | None:
        """Class ids, or the embedding of a random caption of each class (the templates clip-digits learnt)."""
        c = self.config
        if c.condition == "none":
            return None
        labels = labels.to(device).long()
        if c.condition == "labels":
            return labels
        key = (device.type, device.index)
        if key not in self._captions:
            if max(labels.tolist(), default=0) >= len(c.class_names):
                raise ConfigError(f"text conditioning names {len(c.class_names)} classes (class_names), the data has label {max(labels.tolist())}")
            captions = [t.format(name) for name in c.class_names for t in c.templates]
            self._captions[key] = self.encode_prompts(captions).to(device).view(len(c.class_names), len(c.templates), -1)
        pick = torch.randint(len(c.templates), (len(labels),), generator=generator, device=generator.device).to(device)
        return self._captions[key][labels, pick]

    def training_step(self, batch, ctx):
        images = batch[0].to(ctx.device)
        labels = batch[1] if isinstance(batch, (list, tuple)) and len(batch) > 1 else torch.zeros(len(images), dtype=torch.long)
        g, n = ctx.generator, len(images)
        cond = self._train_condition(labels, g, ctx.device)
        t = torch.randint(self.config.timesteps, (n,), generator=g, device=g.device).to(ctx.device)
        noise = torch.randn(images.shape, generator=g, device=g.device).to(ctx.device, images.dtype)
        drop = (torch.rand(n, generator=g, device=g.device) < self.config.cond_drop).to(ctx.device) if cond is not None else None
        x_t = self.q_sample(images, t, noise)
        if self.config.prediction == "eps":
            target = noise
        else:
            ab = self.alpha_bars(ctx.device)[t].to(images.dtype).view(-1, 1, 1, 1)
            target = ab.sqrt() * noise - (1 - ab).sqrt() * images
        with ctx.autocast():
            loss = F.mse_loss(self.unet(x_t, cond, t=t, drop=drop).float(), target.float())
        ctx.backward(loss)
        ctx.step("main")
        self.update_ema(ctx.unwrap(self.unet), ctx.step_index)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def update_ema(self, net: torch.nn.Module, step: int) -> None:
        """ema <- d ema + (1 - d) net, with d warmed up as min(ema_decay, (1 + step) / (10 + step))."""
        d = min(self.config.ema_decay, (1 + step) / (10 + step))
        for e, p in zip(self.ema.parameters(), net.parameters()):
            e.lerp_(p.detach().to(e.dtype), 1 - d)
        for e, b in zip(self.ema.buffers(), net.buffers()):
            e.copy_(b)

    @torch.no_grad()
    def evaluate(self, dataset, n_samples: int = 1000) -> dict[str, float]:
        """The simple loss of the EMA network on ``dataset`` at fixed timesteps and noise (comparable across runs);
        on the digits also the digit-FD of ``n_samples`` unconditional samples and, for a conditional model,
        the share of samples the bundled classifier reads as the digit asked for (``label_template`` prompts)."""
        out = self._test_loss(dataset)
        if isinstance(dataset, DigitsDataset) and self.config.channels == 1 and len(self.config.class_names) == 10:
            from genzoo.metrics import digits_accuracy, digits_fd

            out["digit_fd"] = digits_fd(self.sample(n_samples, seed=0).float())
            if self.config.condition != "none" and (self.config.condition == "labels" or "text_encoder" in self.loaded_components()):
                y = torch.arange(10).repeat_interleave(math.ceil(n_samples / 10))[:n_samples]
                images, _ = self.run_sample(n_samples, seed=1, labels=y)
                out["class_accuracy"] = digits_accuracy(images.float(), y)
        return out

    def _test_loss(self, dataset) -> dict[str, float]:
        self.require("ema")
        x = images_of(dataset)[:256].to(self.device, self.dtype)
        g = torch.Generator().manual_seed(0)
        t = torch.randint(self.config.timesteps, (len(x),), generator=g).to(self.device)
        noise = self._noise(x.shape, g).to(self.device, self.dtype)
        x_t = self.q_sample(x, t, noise)
        ab = self.alpha_bars(self.device)[t].to(x.dtype).view(-1, 1, 1, 1)
        target = noise if self.config.prediction == "eps" else ab.sqrt() * noise - (1 - ab).sqrt() * x
        return {"test_loss": F.mse_loss(self.ema(x_t, None, t=t).float(), target.float()).item()}
