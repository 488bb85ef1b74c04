"""CLIP (Radford et al., 2021): an image tower and a text tower trained to agree.

Image tower (:class:`CLIPImageEncoder`, an :class:`~genzoo.interfaces.Encoder`):
a ViT -- timm's ``VisionTransformer`` configured as CLIP's, restated in
:mod:`genzoo_clip.layers` with timm's names and numerics (importing timm costs
seconds of every cold load): patch convolution without bias, a class token, learned
positional embeddings, a LayerNorm before the blocks (``pre_norm``),
pre-norm residual blocks with a QuickGELU MLP, LayerNorm on the class token
-- then a linear projection without bias into the joint space.

Text tower (:class:`CLIPTextEncoder`, a :class:`~genzoo.interfaces.TextEncoder`):
token plus positional embeddings, a causal transformer of the same pre-norm
QuickGELU blocks, a final LayerNorm, the feature at the end-of-text token
(the highest id of each row) and a projection without bias. It tokenizes
with CLIP's BPE (:mod:`genzoo_clip.tokenizer`), so it is also a condition
encoder for other families: ``clip.text.tokenize(texts)`` then ``clip.text(tokens)``.

``logit_scale`` is stored as a log (initially ln(1/0.07)) and kept in
[0, ln 100] after every optimiser step, as the reference does; the loss is
the symmetric InfoNCE of :func:`genzoo.losses.clip_contrastive_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.errors import ConfigError, ShapeError
from genzoo.interfaces import Encoder, TextEncoder
from genzoo.model import GenzooModel, InputSpec, task

from genzoo.losses import clip_contrastive_loss, gather_features
from .layers import Block, VisionTransformer
from .preprocess import OPENAI_MEAN, OPENAI_STD, load_images, preprocess_images, unnormalize
from .presets import PRESETS  # noqa: F401  (re-exported)
from .prompts import DIGIT_NAMES, DIGIT_TEMPLATES, fill
from .tokenizer import MERGES_FILE, VOCAB_FILE, CLIPTokenizer, TokenizerError

ACTIVATIONS = ("quick_gelu", "gelu")


@dataclass
class CLIPConfig:
    """Hyperparameters of a CLIP model. The defaults are the tiny digits model; ``genzoo_clip.presets.PRESETS`` has ViT-B/32 and kin."""

    #: Ranges the types cannot say (genzoo.config); positive int defaults stay >= 1.
    limits: ClassVar[dict[str, str]] = {
        "mlp_ratio": "(0, inf)", "layer_norm_eps": "(0, inf)", "image_std": "(0, inf)", "max_logit_scale": "(0, inf)",
        "lr": "(0, inf)", "weight_decay": "[0, inf)", "warmup_steps": "[0, inf)", "augment_shift": "[0, inf)",
    }  # fmt: skip

    #: Size of the joint image-text embedding.
    embed_dim: int = 32
    # image tower
    image_size: int = 16
    patch_size: int = 4
    channels: int = 3
    vision_width: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    # text tower
    context_length: int = 12
    vocab_size: int = 649
    text_width: int = 32
    text_layers: int = 1
    text_heads: int = 2
    # both towers
    mlp_ratio: float = 4.0
    #: MLP activation: "quick_gelu" (OpenAI's models) or "gelu" (most open_clip-trained models).
    act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    #: The tokenizer of a newly created model: "openai" (49,408 tokens), a bundled
    #: vocabulary ("digits"), or a folder with vocab.json and merges.txt. A loaded
    #: model uses the files that came with its checkpoint.
    vocab: str = "digits"
    #: Image normalisation after scaling to [0, 1] (per channel).
    image_mean: list[float] = field(default_factory=lambda: list(OPENAI_MEAN))
    image_std: list[float] = field(default_factory=lambda: list(OPENAI_STD))
    #: Class names for training captions from labels, and the default zero-shot classes.
    #: ``None``: taken from the training data's classes by `genzoo train` (see ``adapt_to_data``).
    class_names: list[str] | None = None
    #: Caption templates (training captions from labels; default zero-shot prompt ensemble).
    templates: list[str] = field(default_factory=lambda: list(DIGIT_TEMPLATES))
    # training
    init_logit_scale: float = math.log(1 / 0.07)
    max_logit_scale: float = 100.0
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    #: Random translation (pixels, each direction) of training images; 0: none.
    augment_shift: int = 1

    def __post_init__(self) -> None:
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {ACTIVATIONS}, got {self.act!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        for width, heads, tower in ((self.vision_width, self.vision_heads, "vision"), (self.text_width, self.text_heads, "text")):
            if heads < 1 or width % heads:
                raise ValueError(f"{tower}_width {width} must be a positive multiple of {tower}_heads {heads}")
        if len(self.image_mean) != self.channels or len(self.image_std) != self.channels:
            raise ValueError(f"image_mean and image_std need one value per channel ({self.channels})")
        if self.context_length < 2:
            raise ValueError("context_length must be at least 2 (start and end tokens)")
        if not self.templates or any("{}" not in t for t in self.templates):
            raise ValueError("templates must be a non-empty list of strings with a '{}' for the class name")


def _block(width: int, heads: int, c: CLIPConfig) -> nn.Module:
    return Block(width, heads, c.mlp_ratio, c.act, c.layer_norm_eps)


class CLIPImageEncoder(Encoder):
    """Normalised pixels ``(N, C, S, S)`` -> image features ``(N, embed_dim)`` (not L2-normalised).

    Inputs are CLIP-normalised (``(x - mean) / std`` of [0, 1] pixels), which
    :meth:`CLIPModel.preprocess` makes from images, files or genzoo tensors.
    """

    def __init__(self, c: CLIPConfig):
        super().__init__()
        self.input_shape = (c.channels, c.image_size, c.image_size)
        self.latent_shape = (c.embed_dim,)
        self.trunk = VisionTransformer(
            image_size=c.image_size, patch_size=c.patch_size, channels=c.channels, width=c.vision_width,
            layers=c.vision_layers, heads=c.vision_heads, mlp_ratio=c.mlp_ratio, act=c.act, eps=c.layer_norm_eps,
        )  # fmt: skip
        self.proj = nn.Linear(c.vision_width, c.embed_dim, bias=False)
        if not self.proj.weight.is_meta:
            nn.init.normal_(self.proj.weight, std=c.vision_width**-0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or tuple(images.shape[1:]) != tuple(self.input_shape):
            raise ShapeError(
                f"the CLIP image tower takes normalised pixels of shape (N, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(images.shape)}; CLIPModel.preprocess makes them from images or files"
            )
        return self.proj(self.trunk(images))


class CLIPTextEncoder(TextEncoder):
    """Token ids ``(N, L)`` -> text features ``(N, embed_dim)`` (not L2-normalised).

    ``tokenize(texts)`` gives the ids, with the tokenizer that came with the
    checkpoint (or, for a new model, the one ``config.vocab`` names).
    """

    def __init__(self, c: CLIPConfig):
        super().__init__()
        self.context_length = c.context_length
        self.embed_dim = c.embed_dim
        self.vocab_size = c.vocab_size
        self._vocab_spec = c.vocab
        self._tokenizer: CLIPTokenizer | None = None
        #: Builds the tokenizer of the loaded checkpoint on first use (CLIPModel.load_extra_files sets it).
        self._make_tokenizer: Callable[[], CLIPTokenizer] | None = None
        self.token_embedding = nn.Embedding(c.vocab_size, c.text_width)
        self.positional_embedding = nn.Parameter(torch.empty(c.context_length, c.text_width))
        self.blocks = nn.ModuleList(_block(c.text_width, c.text_heads, c) for _ in range(c.text_layers))
        self.ln_final = nn.LayerNorm(c.text_width, eps=c.layer_norm_eps)
        self.proj = nn.Linear(c.text_width, c.embed_dim, bias=False)
        if not self.positional_embedding.is_meta:
            self._init_weights(c)

    def _init_weights(self, c: CLIPConfig) -> None:
        """The initialisation of the CLIP paper's text transformer."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = c.text_width**-0.5 * (2 * c.text_layers) ** -0.5
        for blk in self.blocks:
            nn.init.normal_(blk.attn.qkv.weight, std=c.text_width**-0.5)
            nn.init.zeros_(blk.attn.qkv.bias)
            nn.init.normal_(blk.attn.proj.weight, std=proj_std)
            nn.init.zeros_(blk.attn.proj.bias)
            nn.init.normal_(blk.mlp.fc1.weight, std=(2 * c.text_width) ** -0.5)
            nn.init.zeros_(blk.mlp.fc1.bias)
            nn.init.normal_(blk.mlp.fc2.weight, std=proj_std)
            nn.init.zeros_(blk.mlp.fc2.bias)
        nn.init.normal_(self.proj.weight, std=c.text_width**-0.5)

    # -- tokenizer -----------------------------------------------------------
    @property
    def tokenizer(self) -> CLIPTokenizer:
        if self._tokenizer is None:
            make = self._make_tokenizer or (lambda: CLIPTokenizer.resolve(self._vocab_spec, self.context_length))
            self.tokenizer = make()
            self._make_tokenizer = None
        return self._tokenizer  # type: ignore[return-value]

    @tokenizer.setter
    def tokenizer(self, tok: CLIPTokenizer) -> None:
        if tok.vocab_size > self.vocab_size:
            raise TokenizerError(
                f"the tokenizer has {tok.vocab_size} tokens but the text tower embeds only {self.vocab_size}"
            )
        tok.context_length = self.context_length
        self._tokenizer = tok

    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        """``(len(texts), context_length)`` token ids (on the CPU)."""
        return self.tokenizer(texts, self.context_length)

    # -- forward -------------------------------------------------------------
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2 or tokens.shape[1] > self.context_length or tokens.is_floating_point():
            raise ShapeError(
                f"the CLIP text tower takes token ids of shape (N, L <= {self.context_length}), got "
                f"{tuple(tokens.shape)} {tokens.dtype}; text_encoder.tokenize(texts) makes them"
            )
        x = self.token_embedding(tokens) + self.positional_embedding[: tokens.shape[1]]
        for blk in self.blocks:
            x = blk(x, is_causal=True)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # the end-of-text token
        return self.proj(x)


@dataclass
class ZeroShotResult:
    """What :meth:`CLIPModel.zero_shot` returns: class probabilities per image."""

    #: ``(N, num_classes)`` softmax of the scaled similarities.
    probs: torch.Tensor
    #: The class names, in column order.
    classes: list[str]

    @property
    def indices(self) -> torch.Tensor:
        """The predicted class index of each image."""
        return self.probs.argmax(dim=1)

    @property
    def labels(self) -> list[str]:
        """The predicted class name of each image."""
        return [self.classes[i] for i in self.indices.tolist()]


class CLIPModel(GenzooModel):
    """CLIP: ``encode_image``, ``encode_text``, ``similarity``, ``zero_shot``; trains contrastively."""

    family = "clip"
    config_class = CLIPConfig
    component_groups = {"image_encoder": ("visual",), "text_encoder": ("text",), "logit_scale": ("logit_scale",)}
    pipeline_tag = "zero-shot-image-classification"
    extra_files = (VOCAB_FILE, MERGES_FILE)
    train_defaults = {"steps": 2000, "batch_size": 128}
    #: Upstream layouts (``genzoo convert clip``, ``HubSource(..., layout=...)``) and the files a Hub repo
    #: in each holds: "a|b" is the first of a and b that exists, a trailing "?" marks an optional file.
    layouts = {
        "transformers": ("config.json", "model.safetensors|pytorch_model.bin", "vocab.json", "merges.txt"),
        "openai": ("open_clip_model.safetensors|open_clip_pytorch_model.bin", "open_clip_config.json?"),
    }

    def __init__(self, config: CLIPConfig):
        super().__init__(config)
        self.visual = CLIPImageEncoder(config)
        self.text = CLIPTextEncoder(config)
        self.logit_scale = nn.Parameter(torch.full((), float(config.init_logit_scale)))
        self._tokenizer: CLIPTokenizer | None = None  # kept when the text tower is not loaded
        self._make_tokenizer: Callable[[], CLIPTokenizer] | None = None  # the checkpoint's, built on first use
        self._caption_cache: dict[Any, torch.Tensor] = {}

    def describe(self) -> str:
        c = self.config
        return (
            f"CLIP with a ViT image tower ({c.image_size}px, patch {c.patch_size}, width {c.vision_width}, "
            f"{c.vision_layers} layers) and a {c.text_layers}-layer text transformer (width {c.text_width})"
        )

    # -- tokenizer files ---------------------------------------------------------
    @property
    def tokenizer(self) -> CLIPTokenizer:
        if isinstance(self._modules.get("text"), CLIPTextEncoder):
            return self.text.tokenizer
        if self._tokenizer is None:
            make = self._make_tokenizer or (lambda: CLIPTokenizer.resolve(self.config.vocab, self.config.context_length))
            self._tokenizer = make()
        return self._tokenizer

    def set_tokenizer(self, tok: CLIPTokenizer) -> None:
        """Use ``tok`` (e.g. ``CLIPTokenizer.from_folder(...)``) for this model's texts."""
        if isinstance(self._modules.get("text"), CLIPTextEncoder):
            self.text.tokenizer = tok
            self.text._make_tokenizer = None
        self._tokenizer = tok
        self._make_tokenizer = None
        self._caption_cache.clear()

    def save_extra_files(self, folder) -> None:
        self.tokenizer.save(folder)

    def load_extra_files(self, folder) -> None:
        """Read the checkpoint's vocab.json and merges.txt now (a missing one fails the load); build the
        tokenizer when a text is first tokenized: most loads (image features, benchmarks) never need it."""
        make = CLIPTokenizer.deferred(folder, self.config.context_length)
        if isinstance(self._modules.get("text"), CLIPTextEncoder):
            self.text._tokenizer, self.text._make_tokenizer = None, make
        self._tokenizer, self._make_tokenizer = None, make
        self._caption_cache.clear()

    def tokenize(self, texts: Sequence[str] | str) -> torch.Tensor:
        """``(len(texts), context_length)`` token ids."""
        return self.tokenizer(texts, self.config.context_length)

    # -- inference -----------------------------------------------------------------
    def preprocess(self, images: Any) -> torch.Tensor:
        """Images -> the image tower's input, as the reference preprocesses.

        Takes PIL images, file paths, or genzoo image tensors (NCHW or CHW in
        [-1, 1]), one or a list. Resizes the shorter side to ``image_size``
        (bicubic), crops the centre square, converts to RGB (or the model's
        channels), scales to [0, 1] and normalises with ``image_mean`` /
        ``image_std``. Returns a batch on the model's device and dtype.
        """
        c = self.config
        x = preprocess_images(images, c.image_size, c.channels, c.image_mean, c.image_std)
        return x.to(self.device, self.dtype)

    @property
    def input_spec(self) -> InputSpec:
        """Square images of ``image_size``, scaled to [0, 1] and normalised with ``image_mean``/``image_std``."""
        c = self.config
        return InputSpec(c.channels, (c.image_size, c.image_size), (0.0, 1.0), tuple(c.image_mean), tuple(c.image_std))

    def bench_inputs(self, batch_size: int) -> tuple[str, dict]:
        g = torch.Generator().manual_seed(0)
        pixels = torch.randn((batch_size, *self.image_shape), generator=g)
        return "encode_image", {"pixels": pixels.to(self.device, self.dtype)}

    def encode_image(self, pixels: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Image features of preprocessed pixels (``preprocess`` makes them)."""
        self.require("image_encoder")
        features = self.visual(pixels.to(self.device, self.dtype))
        return F.normalize(features, dim=-1) if normalize else features

    def embed_images(self, inputs: Any) -> torch.Tensor:
        """L2-normalised image features of files, PIL images or arrays (what `genzoo embed` stores)."""
        return self.encode_image(self.preprocess(inputs), normalize=True)

    def encode_text(self, texts: Sequence[str] | str | torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Text features of strings or token ids."""
        self.require("text_encoder")
        tokens = texts if isinstance(texts, torch.Tensor) else self.tokenize(texts)
        features = self.text(tokens.to(self.device))
        return F.normalize(features, dim=-1) if normalize else features

    def scale(self) -> torch.Tensor:
        """The logit multiplier ``exp(logit_scale)``, at most ``max_logit_scale``."""
        self.require("logit_scale")
        return self.logit_scale.exp().clamp(max=self.config.max_logit_scale)

    def similarity(self, images: Any, texts: Sequence[str] | str | torch.Tensor) -> torch.Tensor:
        """``(num_images, num_texts)`` logits: scaled cosine similarity of each image to each text.

        ``images`` are preprocessed pixels (a float tensor from :meth:`preprocess`)
        or anything :meth:`preprocess` takes (PIL images, files).
        """
        pixels = images if isinstance(images, torch.Tensor) else self.preprocess(images)
        img = self.encode_image(pixels, normalize=True)
        txt = self.encode_text(texts, normalize=True)
        return self.scale() * img @ txt.t()

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits_per_image, logits_per_text)`` for preprocessed pixels and token ids."""
        logits = self.similarity(pixels, tokens)
        return logits, logits.t()

    def zero_shot_classifier(self, class_names: Sequence[str], templates: Sequence[str] | None = None) -> torch.Tensor:
        """``(num_classes, embed_dim)`` unit vectors: each class's prompts, encoded, averaged, re-normalised."""
        templates = list(templates or self.config.templates)
        if not class_names:
            raise ConfigError("zero-shot classification needs at least one class name")
        bad = [t for t in templates if "{}" not in t]
        if bad:
            raise ConfigError(f"templates need a '{{}}' where the class name goes; got {bad[0]!r}")
        prompts = [p for name in class_names for p in fill(templates, name)]
        feats = self.encode_text(prompts, normalize=True).float().view(len(class_names), len(templates), -1)
        return F.normalize(feats.mean(dim=1), dim=-1)

    @torch.no_grad()
    def zero_shot(
        self,
        images: Any,
        class_names: Sequence[str] | None = None,
        templates: Sequence[str] | None = None,
        *,
        preprocessed: bool = False,
        batch_size: int = 256,
    ) -> ZeroShotResult:
        """Classify images by their similarity to prompts naming each class (prompt ensembling).

        ``images``: PIL images, files, or genzoo tensors in [-1, 1] (run through
        :meth:`preprocess`), or pixels already preprocessed with
        ``preprocessed=True``. ``class_names`` default to ``config.class_names``;
        ``templates`` (strings with ``{}``) to ``config.templates``.
        """
        class_names = list(class_names or self.config.class_names or [])
        if not class_names:
            raise ConfigError("zero_shot needs class_names (this model has no default classes)")
        weights = self.zero_shot_classifier(class_names, templates)
        pixels = images if preprocessed else self.preprocess(images)
        probs = []
        for start in range(0, len(pixels), batch_size):
            img = self.encode_image(pixels[start : start + batch_size], normalize=True).float()
            probs.append((self.scale().float() * img @ weights.t()).softmax(dim=-1))
        return ZeroShotResult(torch.cat(probs).cpu(), class_names)

    # -- training ---------------------------------------------------------------------
    def configure_optimizers(self, cfg=None) -> dict[str, torch.optim.Optimizer]:
        """AdamW (betas 0.9/0.98, eps 1e-6, as CLIP); no weight decay on gains, biases, embeddings, logit_scale."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            plain = p.dim() < 2 or "embedding" in name or "token" in name or "pos_embed" in name
            (no_decay if plain else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return {"clip": torch.optim.AdamW(groups, lr=self.config.lr, betas=(0.9, 0.98), eps=1e-6)}

    def configure_schedulers(self, optimizers, cfg) -> dict[str, Any]:
        """Linear warm-up, then cosine decay to zero over the run."""
        total = max(int(cfg.steps or 1), 1) if cfg is not None and cfg.steps else None
        warmup = max(int(self.config.warmup_steps), 0)

        def factor(step: int) -> float:
            if warmup and step < warmup:
                return (step + 1) / warmup
            if total is None or total <= warmup:
                return 1.0
            progress = min((step - warmup) / (total - warmup), 1.0)
            return 0.5 * (1 + math.cos(math.pi * progress))

        return {"clip": torch.optim.lr_scheduler.LambdaLR(optimizers["clip"], factor)}

    def adapt_to_data(self, dataset: Any) -> None:
        """Take the class names for the captions from a labelled data set, unless ``config.class_names`` is set.

        The data set's ``classes`` are used as they are (folder names of an
        image folder), except the ten digit classes "0".."9", which become
        the number words ("zero", ..., "nine") of the digits recipe.
        `genzoo train` calls this before training.
        """
        if self.config.class_names is None:
            names = class_names_of(dataset)
            if names:
                self.config.class_names = names
                self._caption_cache.clear()

    def _caption_tokens(self, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One caption per label: a random template filled in with the class name."""
        names = self.config.class_names
        if not names:
            raise ConfigError(
                "CLIP builds captions from labels with config.class_names, which is not set: set it "
                "(e.g. --set class_names='[\"cat\", \"dog\"]'), call model.adapt_to_data(dataset), "
                "or give batches of (images, captions)"
            )
        if int(labels.max()) >= len(names) or int(labels.min()) < 0:
            raise ConfigError(f"label {int(labels.max())} has no class name (config.class_names has {len(names)})")
        key = (labels.device, tuple(names), tuple(self.config.templates))
        table = self._caption_cache.get(key)
        if table is None:  # (templates, classes, context) token ids, made once
            texts = [t.format(n) for t in self.config.templates for n in names]
            table = self.text.tokenize(texts).view(len(self.config.templates), len(names), -1).to(labels.device)
            self._caption_cache[key] = table
        which = torch.randint(len(self.config.templates), labels.shape, generator=generator, device=generator.device if generator is not None else labels.device)
        return table[which.to(labels.device), labels]

    def _shift(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Translate each image by up to ``augment_shift`` pixels, filling with the background (-1)."""
        s = int(self.config.augment_shift)
        if s <= 0:
            return images
        n, _, h, w = images.shape
        padded = F.pad(images, (s, s, s, s), value=-1.0)
        gen_device = generator.device if generator is not None else images.device
        oy = torch.randint(2 * s + 1, (n,), generator=generator, device=gen_device).to(images.device)
        ox = torch.randint(2 * s + 1, (n,), generator=generator, device=gen_device).to(images.device)
        rows = (oy[:, None] + torch.arange(h, device=images.device))[:, :, None]
        cols = (ox[:, None] + torch.arange(w, device=images.device))[:, None, :]
        return padded[torch.arange(n, device=images.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)

    def _normalize(self, images: torch.Tensor) -> torch.Tensor:
        """genzoo images in [-1, 1] at the model's size -> normalised pixels (no resizing)."""
        c = self.config
        if images.shape[1] == 1 and c.channels == 3:
            images = images.expand(-1, 3, -1, -1)
        mean = torch.tensor(c.image_mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        std = torch.tensor(c.image_std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        return ((images + 1) / 2 - mean) / std

    def _batch(self, batch: Any, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            raise ConfigError(
                "CLIP trains on image-caption pairs: batches of (images, labels) -- captions are made from "
                "config.class_names and config.templates -- or (images, list of caption strings)"
            )
        images, second = batch
        if isinstance(second, torch.Tensor):
            tokens = self._caption_tokens(second, generator)
        else:
            tokens = self.text.tokenize(list(second)).to(images.device)
        return images, tokens

    def training_step(self, batch, ctx) -> dict[str, torch.Tensor]:
        images, tokens = self._batch(batch, ctx.generator)
        pixels = self._normalize(self._shift(images, ctx.generator))
        with ctx.autocast():
            img = self.visual(pixels)
            txt = self.text(tokens)
        img = F.normalize(img.float(), dim=-1)
        txt = F.normalize(txt.float(), dim=-1)
        scale = self.logit_scale.exp()
        loss = clip_contrastive_loss(gather_features(img), gather_features(txt), scale)
        ctx.backward(loss)
        ctx.step()
        with torch.no_grad():
            self.logit_scale.clamp_(0, math.log(self.config.max_logit_scale))
        return {"loss": loss.detach(), "scale": scale.detach()}

    def evaluate(self, dataset, batch_size: int = 512) -> dict[str, float]:
        """Zero-shot accuracy on a labelled data set, with ``config.class_names`` and ``config.templates``."""
        images, labels = _images_and_labels(dataset)
        names = self.config.class_names or class_names_of(dataset)
        if not names:
            return {}
        weights = self.zero_shot_classifier(names)
        correct = 0
        for start in range(0, len(images), batch_size):
            x = self._normalize(images[start : start + batch_size].to(self.device, self.dtype))
            pred = (self.encode_image(x, normalize=True).float() @ weights.t()).argmax(dim=1).cpu()
            correct += int((pred == labels[start : start + batch_size]).sum())
        return {"zero_shot_accuracy": correct / max(len(labels), 1)}

    # -- genzoo run ------------------------------------------------------------------
    @task("zero_shot", default=True, returns="table")
    def run_zero_shot(
        self,
        inputs: Any = None,
        classes: Sequence[str] | None = None,
        templates: Sequence[str] | None = None,
        n: int = 16,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Zero-shot classify image files (or ``n`` held-out test digits); a table of predictions plus the images."""
        classes = list(classes or self.config.class_names or [])
        if not classes:
            raise ConfigError("this CLIP model has no default classes: pass --classes, e.g. --classes cat dog bird")
        c = self.config
        truth: list[str | None]
        if inputs:
            items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            pixels = self.preprocess(load_images(items))
            names = [Path(str(p)).name if isinstance(p, (str, Path)) else f"image {i}" for i, p in enumerate(items)]
            truth = [None] * len(items)
        else:
            from genzoo.data import DigitsDataset

            test = DigitsDataset("test", size=c.image_size, channels=c.channels)
            idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
            pixels = self.preprocess(test.images[idx])
            names = [f"test digit {int(i)}" for i in idx]
            # the digits' labels name classes[label] when the classes are ten, in label order
            truth = [classes[int(test.labels[i])] if len(classes) == test.num_classes else None for i in idx]
        result = self.zero_shot(pixels, classes, templates, preprocessed=True)
        shown = unnormalize(pixels, c.image_mean, c.image_std)
        rows = []
        for i, name in enumerate(names):
            p = result.probs[i]
            top = p.argsort(descending=True)[:3].tolist()
            row = {"input": name, "prediction": classes[top[0]], "probability": round(float(p[top[0]]), 4),
                   "top": [[classes[j], round(float(p[j]), 4)] for j in top]}  # fmt: skip
            if truth[i] is not None:
                row["truth"] = truth[i]
            rows.append(row)
        out: dict[str, Any] = {"rows": rows, "images": shown, "nrow": min(len(rows), 8)}
        known = [r for r in rows if "truth" in r]
        if known:
            out["accuracy"] = sum(r["prediction"] == r["truth"] for r in known) / len(known)
        return out

    # -- upstream layouts -------------------------------------------------------------
    @classmethod
    def from_layout(cls, path, layout: str | None = None, config: dict | None = None):
        """Read OpenAI / open_clip or Hugging Face transformers CLIP weights (see :mod:`genzoo_clip.convert`)."""
        from .convert import convert

        return convert(path, layout, config)


def class_names_of(dataset: Any) -> list[str] | None:
    """A labelled data set's class names for captions ("0".."9" become "zero".."nine")."""
    classes = [str(c) for c in (getattr(dataset, "classes", None) or [])]
    if classes == [str(d) for d in range(10)]:
        return list(DIGIT_NAMES)
    return classes or None


def _images_and_labels(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "images") and hasattr(dataset, "labels"):
        return dataset.images, torch.as_tensor(dataset.labels)
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(xs), torch.as_tensor(ys)

