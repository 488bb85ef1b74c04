"""CLIP weights in OpenAI's and Hugging Face's layouts, to and from genzoo's.

Three layouts name the same tensors:

- **openai** -- OpenAI's released ``.pt`` files (TorchScript, fp16) and
  open_clip's checkpoints: ``visual.conv1.weight``, ``visual.class_embedding``,
  ``visual.positional_embedding``, ``visual.ln_pre``,
  ``visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight/bias,
  attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``, ``visual.ln_post``,
  ``visual.proj`` (width x embed, used as ``x @ proj``), ``token_embedding``,
  ``positional_embedding``, ``transformer.resblocks.N.*``, ``ln_final``,
  ``text_projection`` (``x @ proj``), ``logit_scale``.
- **transformers** -- Hugging Face's ``CLIPModel``: ``vision_model.embeddings.
  {patch_embedding, class_embedding, position_embedding}``,
  ``vision_model.pre_layrnorm`` (sic), ``vision_model.encoder.layers.N.
  {layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}``,
  ``vision_model.post_layernorm``, ``text_model.embeddings.{token_embedding,
  position_embedding}``, ``text_model.encoder.layers.N.*``,
  ``text_model.final_layer_norm``, ``visual_projection`` and
  ``text_projection`` (``nn.Linear`` weights: the transposes of OpenAI's),
  ``logit_scale``. Query, key and value are three matrices where OpenAI (and
  genzoo) fuse them; ``position_ids`` buffers of older files are ignored.
- **genzoo** -- timm's ViT names in the image tower (``visual.trunk.cls_token``,
  ``pos_embed``, ``patch_embed.proj``, ``norm_pre``, ``blocks.N.{norm1,
  attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``), the same block
  names in the text tower, ``visual.proj`` / ``text.proj`` as linear layers.

One table (:func:`key_table`) lists, for a given config, every genzoo key with
its foreign key(s) and how the tensor changes between them (as is, transposed,
reshaped, or q/k/v concatenated), so both directions come from the same
facts and a round trip is exact. Hyperparameters are read from the shapes:
widths from the embeddings, layer counts from the block keys, the patch from
the patch convolution, the resolution from the number of positions
(patch x sqrt(positions - 1)), heads = width / 64 (OpenAI's rule; a Hugging Face
``config.json`` says it explicitly).
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from genzoo.convert import Converted, read_weights_file
from genzoo.errors import CheckpointError, ConfigError

from .prompts import PHOTO_TEMPLATES
from .presets import OPENAI_TRAINING
from .tokenizer import MERGES_FILE, OPENAI_VOCAB_SIZE, VOCAB_FILE

LAYOUTS = ("openai", "transformers")
#: Keys upstream files carry that hold no weights.
_IGNORED = re.compile(r"(^|\.)position_ids$|^(input_resolution|context_length|vocab_size)$|(^|\.)attn_mask$")

# Each entry: (genzoo key, foreign keys, kind). Kinds: "same"; "T" (transpose);
# "cls" (genzoo (1, 1, W) <-> foreign (W,)); "pos" (genzoo (1, N, W) <-> foreign (N, W));
# "qkv" (genzoo fused (3W, ...) <-> foreign q, k, v).
Entry = tuple[str, tuple[str, ...], str]

_BLOCK_OPENAI = (("norm1", "ln_1"), ("attn.proj", "attn.out_proj"), ("norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"))
_BLOCK_HF = (("norm1", "layer_norm1"), ("attn.proj", "self_attn.out_proj"), ("norm2", "layer_norm2"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2"))


def _block(layout: str, g: str, f: str) -> Iterator[Entry]:
    """One transformer block: genzoo prefix ``g``, foreign prefix ``f``."""
    if layout == "openai":
        yield g + "attn.qkv.weight", (f + "attn.in_proj_weight",), "same"
        yield g + "attn.qkv.bias", (f + "attn.in_proj_bias",), "same"
        names = _BLOCK_OPENAI
    else:
        for wb in ("weight", "bias"):
            yield g + f"attn.qkv.{wb}", tuple(f + f"self_attn.{p}_proj.{wb}" for p in "qkv"), "qkv"
        names = _BLOCK_HF
    for ours, theirs in names:
        for wb in ("weight", "bias"):
            yield g + f"{ours}.{wb}", (f + f"{theirs}.{wb}",), "same"


def _ln(g: str, f: str) -> Iterator[Entry]:
    for wb in ("weight", "bias"):
        yield f"{g}.{wb}", (f"{f}.{wb}",), "same"


def key_table(layout: str, vision_layers: int, text_layers: int) -> list[Entry]:
    """Every genzoo key of a CLIP with these layer counts, with its ``layout`` key(s) and the change between them."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown CLIP layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    t: list[Entry] = []
    if layout == "openai":
        t += [
            ("visual.trunk.cls_token", ("visual.class_embedding",), "cls"),
            ("visual.trunk.pos_embed", ("visual.positional_embedding",), "pos"),
            ("visual.trunk.patch_embed.proj.weight", ("visual.conv1.weight",), "same"),
        ]
        t += _ln("visual.trunk.norm_pre", "visual.ln_pre")
        for i in range(vision_layers):
            t += _block(layout, f"visual.trunk.blocks.{i}.", f"visual.transformer.resblocks.{i}.")
        t += _ln("visual.trunk.norm", "visual.ln_post")
        t += [
            ("visual.proj.weight", ("visual.proj",), "T"),
            ("text.token_embedding.weight", ("token_embedding.weight",), "same"),
            ("text.positional_embedding", ("positional_embedding",), "same"),
        ]
        for i in range(text_layers):
            t += _block(layout, f"text.blocks.{i}.", f"transformer.resblocks.{i}.")
        t += _ln("text.ln_final", "ln_final")
        t += [("text.proj.weight", ("text_projection",), "T")]
    else:
        t += [
            ("visual.trunk.cls_token", ("vision_model.embeddings.class_embedding",), "cls"),
            ("visual.trunk.pos_embed", ("vision_model.embeddings.position_embedding.weight",), "pos"),
            ("visual.trunk.patch_embed.proj.weight", ("vision_model.embeddings.patch_embedding.weight",), "same"),
        ]
        t += _ln("visual.trunk.norm_pre", "vision_model.pre_layrnorm")
        for i in range(vision_layers):
            t += _block(layout, f"visual.trunk.blocks.{i}.", f"vision_model.encoder.layers.{i}.")
        t += _ln("visual.trunk.norm", "vision_model.post_layernorm")
        t += [
            ("visual.proj.weight", ("visual_projection.weight",), "same"),
            ("text.token_embedding.weight", ("text_model.embeddings.token_embedding.weight",), "same"),
            ("text.positional_embedding", ("text_model.embeddings.position_embedding.weight",), "same"),
        ]
        for i in range(text_layers):
            t += _block(layout, f"text.blocks.{i}.", f"text_model.encoder.layers.{i}.")
        t += _ln("text.ln_final", "text_model.final_layer_norm")
        t += [("text.proj.weight", ("text_projection.weight",), "same")]
    t.append(("logit_scale", ("logit_scale",), "same"))
    return t


# -- reading files ----------------------------------------------------------------
def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: safetensors or a plain state dict (``.pt``/``.pth``/``.bin``).

    Read by ``genzoo.convert.read_weights_file``: tensors only, nothing in the
    file runs. OpenAI's released ``.pt`` files are TorchScript archives, which
    are refused with a message saying how to export their state dict.
    ``{"state_dict": ...}`` wrappers of training checkpoints and ``module.``
    prefixes are removed.
    """
    path = Path(path)
    state: Any = read_weights_file(path)
    for wrapper in ("state_dict", "model", "module"):
        if isinstance(state, Mapping) and wrapper in state and isinstance(state[wrapper], Mapping):
            state = state[wrapper]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    out = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def detect_layout(keys) -> str:
    """``"openai"`` or ``"transformers"`` from a state dict's keys."""
    keys = set(keys)
    if any(k.startswith(("vision_model.", "text_model.")) for k in keys):
        return "transformers"
    if "visual.conv1.weight" in keys or "token_embedding.weight" in keys:
        return "openai"
    if any(k.startswith("visual.trunk.") for k in keys):
        raise CheckpointError("these are genzoo's own CLIP keys; load the genzoo folder with genzoo.load instead")
    sample = ", ".join(sorted(keys)[:4])
    raise CheckpointError(f"not a CLIP checkpoint in the OpenAI or Hugging Face layout (keys like {sample})")


def _count_layers(keys, pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in keys if (m := rx.match(k))}
    if found and found != set(range(len(found))):
        raise CheckpointError(f"the checkpoint's block indices are not contiguous: {sorted(found)}")
    return len(found)


def infer_config(state: Mapping[str, torch.Tensor], layout: str, hf_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """CLIPConfig fields from the tensors' shapes (and a transformers ``config.json``, for heads and eps)."""
    keys = set(state)

    def get(key: str) -> torch.Tensor:
        if key not in state:
            raise CheckpointError(f"the {layout}-layout checkpoint lacks {key}")
        return state[key]

    if layout == "openai":
        conv, pos = get("visual.conv1.weight"), get("visual.positional_embedding")
        vision_layers = _count_layers(keys, r"visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$")
        text_layers = _count_layers(keys, r"transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$")
        vision_fc = get("visual.transformer.resblocks.0.mlp.c_fc.weight")
        text_fc = get("transformer.resblocks.0.mlp.c_fc.weight")
        token, text_pos, ln_final = get("token_embedding.weight"), get("positional_embedding"), get("ln_final.weight")
        embed_dim = get("text_projection").shape[1]
    else:
        conv = get("vision_model.embeddings.patch_embedding.weight")
        pos = get("vision_model.embeddings.position_embedding.weight")
        vision_layers = _count_layers(keys, r"vision_model\.encoder\.layers\.(\d+)\.self_attn\.q_proj\.weight$")
        text_layers = _count_layers(keys, r"text_model\.encoder\.layers\.(\d+)\.self_attn\.q_proj\.weight$")
        vision_fc = get("vision_model.encoder.layers.0.mlp.fc1.weight")
        text_fc = get("text_model.encoder.layers.0.mlp.fc1.weight")
        token = get("text_model.embeddings.token_embedding.weight")
        text_pos = get("text_model.embeddings.position_embedding.weight")
        ln_final = get("text_model.final_layer_norm.weight")
        embed_dim = get("text_projection.weight").shape[0]
    vision_width, channels, patch = conv.shape[0], conv.shape[1], conv.shape[-1]
    grid = math.isqrt(pos.shape[0] - 1)
    if grid * grid != pos.shape[0] - 1:
        raise CheckpointError(f"{pos.shape[0]} image positions is not a square grid plus the class token")
    text_width = ln_final.shape[0]
    ratios = {vision_fc.shape[0] / vision_width, text_fc.shape[0] / text_width}
    if len(ratios) != 1:
        raise CheckpointError(f"the two towers have different MLP ratios {sorted(ratios)}; genzoo's CLIP uses one")
    cfg: dict[str, Any] = dict(
        embed_dim=int(embed_dim), image_size=int(patch * grid), patch_size=int(patch), channels=int(channels),
        vision_width=int(vision_width), vision_layers=vision_layers, vision_heads=max(int(vision_width) // 64, 1),
        context_length=int(text_pos.shape[0]), vocab_size=int(token.shape[0]), text_width=int(text_width),
        text_layers=text_layers, text_heads=max(int(text_width) // 64, 1), mlp_ratio=ratios.pop(),
        vocab="openai", class_names=None, templates=list(PHOTO_TEMPLATES), **OPENAI_TRAINING,
        act="quick_gelu",  # OpenAI's; the tensors cannot tell, a config file next to them can
    )  # fmt: skip
    if hf_config:
        cfg.update(_from_transformers_config(hf_config, cfg))
    return cfg


def _sub_config(hf: Mapping[str, Any], name: str) -> dict[str, Any]:
    sub = dict(hf.get(f"{name}_config") or {})
    sub.update(hf.get(f"{name}_config_dict") or {})  # older files keep the real values here
    return sub


def _from_transformers_config(hf: Mapping[str, Any], shapes: Mapping[str, Any]) -> dict[str, Any]:
    """Heads, activation and epsilon from a transformers config (where its widths agree with the tensors)."""
    out: dict[str, Any] = {}
    vision, text = _sub_config(hf, "vision"), _sub_config(hf, "text")
    for sub, prefix in ((vision, "vision"), (text, "text")):
        if sub.get("hidden_size") == shapes[f"{prefix}_width"] and sub.get("num_attention_heads"):
            out[f"{prefix}_heads"] = int(sub["num_attention_heads"])
    acts = {sub.get("hidden_act") for sub in (vision, text) if sub.get("hidden_act")}
    if len(acts) == 1:
        act = acts.pop()
        if act not in ("quick_gelu", "gelu"):
            raise ConfigError(f"the transformers config uses activation {act!r}; genzoo's CLIP has quick_gelu and gelu")
        out["act"] = act
    eps = {sub.get("layer_norm_eps") for sub in (vision, text) if sub.get("layer_norm_eps")}
    if len(eps) == 1:
        out["layer_norm_eps"] = float(eps.pop())
    return out


#: open_clip's config file, next to ``open_clip_model.safetensors`` in its Hub repos.
OPEN_CLIP_CONFIG = "open_clip_config.json"
#: open_clip tower options that change the features without changing the tensors' names, with the
#: value genzoo's CLIP implements (absent means open_clip's default, which is that value).
_OPEN_CLIP_FIXED = {
    "vision_cfg": {"pool_type": "tok", "final_ln_after_pool": False, "attentional_pool": False, "act_kwargs": None,
                   "pos_embed_type": "learnable", "timm_model_name": None, "block_type": None, "qk_norm": False,
                   "scaled_cosine_attn": False, "scale_heads": False, "scale_attn_inner": False, "scale_attn": False,
                   "scale_fc": False},
    "text_cfg": {"pool_type": "argmax", "final_ln_after_pool": False, "no_causal_mask": False, "embed_cls": False,
                 "act_kwargs": None, "proj_type": "linear", "hf_model_name": None, "hf_tokenizer_name": None,
                 "tokenizer_kwargs": None, "block_type": None, "qk_norm": False, "scaled_cosine_attn": False,
                 "scale_heads": False, "scale_attn_inner": False, "scale_attn": False, "scale_fc": False},
}  # fmt: skip


def _from_open_clip_config(oc: Mapping[str, Any], shapes: Mapping[str, Any], where: Path) -> dict[str, Any]:
    """Activation, heads, epsilon and normalisation from an ``open_clip_config.json``, read as open_clip reads it.

    Absent fields take open_clip's defaults (``quick_gelu`` false, i.e. GELU; 64-wide
    vision heads; 8 text heads). Options genzoo's CLIP does not implement are
    errors, not silently different features; sizes must agree with the tensors.
    """
    model = oc.get("model_cfg", oc)
    vision, text = dict(model.get("vision_cfg") or {}), dict(model.get("text_cfg") or {})
    for name, sub in (("vision_cfg", vision), ("text_cfg", text)):
        for key, wanted in _OPEN_CLIP_FIXED[name].items():
            if sub.get(key, wanted) != wanted:
                raise ConfigError(
                    f"{where}: {name}.{key}={sub[key]!r} is an open_clip option genzoo's CLIP does not "
                    f"implement (it has {key}={wanted!r}); these weights cannot be converted faithfully"
                )
    checks = {"embed_dim": model.get("embed_dim"), "vision_width": vision.get("width"), "vision_layers": vision.get("layers"),
              "patch_size": vision.get("patch_size"), "text_width": text.get("width"), "text_layers": text.get("layers"),
              "context_length": text.get("context_length"), "vocab_size": text.get("vocab_size")}  # fmt: skip
    for field, value in checks.items():
        if value is not None and value != shapes[field]:
            raise CheckpointError(f"{where} says {field}={value!r} but the weights have {shapes[field]}; they do not belong together")
    head_width = int(vision.get("head_width", 64))
    out: dict[str, Any] = {
        "act": "quick_gelu" if model.get("quick_gelu", False) else "gelu",
        "vision_heads": max(shapes["vision_width"] // head_width, 1),
        "text_heads": int(text.get("heads", 8)),
    }
    eps = {float(sub["norm_kwargs"]["eps"]) for sub in (vision, text) if "eps" in (sub.get("norm_kwargs") or {})}
    if len(eps) > 1:
        raise ConfigError(f"{where}: the two towers' layer norms use different eps {sorted(eps)}; genzoo's CLIP uses one")
    if eps:
        out["layer_norm_eps"] = eps.pop()
    pre = oc.get("preprocess_cfg") or {}
    if pre.get("mean") is not None and pre.get("std") is not None:
        out["image_mean"], out["image_std"] = [float(v) for v in pre["mean"]], [float(v) for v in pre["std"]]
    for key, ours in (("interpolation", "bicubic"), ("resize_mode", "shortest")):
        if pre.get(key, ours) != ours:
            warnings.warn(
                f"{where}: the model was preprocessed with {key}={pre[key]!r}; genzoo's CLIP preprocess uses "
                f"{key}={ours!r}, so its image features will differ slightly from open_clip's",
                stacklevel=4,
            )
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a JSON {type(data).__name__}, not an object")
    return data


# -- converting -----------------------------------------------------------------------
def to_genzoo(state: Mapping[str, torch.Tensor], layout: str, vision_layers: int, text_layers: int) -> dict[str, torch.Tensor]:
    """A ``layout`` state dict under genzoo's names. Every foreign key must be used (or be a known non-weight)."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    for ours, theirs, kind in key_table(layout, vision_layers, text_layers):
        if any(k not in state for k in theirs):
            missing += [k for k in theirs if k not in state]
            continue
        used.update(theirs)
        parts = [state[k] for k in theirs]
        if kind == "same":
            out[ours] = parts[0]
        elif kind == "T":
            out[ours] = parts[0].t()
        elif kind == "cls":
            out[ours] = parts[0].reshape(1, 1, -1)
        elif kind == "pos":
            out[ours] = parts[0].unsqueeze(0)
        elif kind == "qkv":
            out[ours] = torch.cat(parts, dim=0)
    unexpected = sorted(k for k in state if k not in used and not _IGNORED.search(k))
    if missing or unexpected:
        raise CheckpointError(
            f"the {layout}-layout CLIP checkpoint does not match the layout"
            + (f"; missing: {', '.join(missing[:6])}" + (" ..." if len(missing) > 6 else "") if missing else "")
            + (f"; unexpected: {', '.join(unexpected[:6])}" + (" ..." if len(unexpected) > 6 else "") if unexpected else "")
        )
    return {k: v.contiguous() for k, v in out.items()}


def from_genzoo(state: Mapping[str, torch.Tensor], layout: str, vision_layers: int, text_layers: int) -> dict[str, torch.Tensor]:
    """genzoo's CLIP state dict in the ``layout``'s names (the inverse of :func:`to_genzoo`)."""
    out: dict[str, torch.Tensor] = {}
    for ours, theirs, kind in key_table(layout, vision_layers, text_layers):
        if ours not in state:
            raise CheckpointError(f"the genzoo state dict lacks {ours} (was the model loaded with all components?)")
        value = state[ours]
        if kind == "same":
            out[theirs[0]] = value
        elif kind == "T":
            out[theirs[0]] = value.t()
        elif kind == "cls":
            out[theirs[0]] = value.reshape(-1)
        elif kind == "pos":
            out[theirs[0]] = value.squeeze(0)
        elif kind == "qkv":
            for name, part in zip(theirs, value.chunk(3, dim=0)):
                out[name] = part
    return {k: v.detach().contiguous() for k, v in out.items()}


def transformers_config(config: Any) -> dict[str, Any]:
    """A transformers ``CLIPModel`` config.json for a genzoo CLIP config."""
    c = config
    common = {"hidden_act": c.act, "layer_norm_eps": c.layer_norm_eps, "attention_dropout": 0.0, "initializer_range": 0.02,
              "initializer_factor": 1.0, "projection_dim": c.embed_dim}  # fmt: skip
    text = {
        "model_type": "clip_text_model", "hidden_size": c.text_width, "intermediate_size": int(c.text_width * c.mlp_ratio),
        "num_attention_heads": c.text_heads, "num_hidden_layers": c.text_layers, "max_position_embeddings": c.context_length,
        "vocab_size": c.vocab_size, "bos_token_id": c.vocab_size - 2, "eos_token_id": c.vocab_size - 1, "pad_token_id": 1, **common,
    }  # fmt: skip
    vision = {
        "model_type": "clip_vision_model", "hidden_size": c.vision_width, "intermediate_size": int(c.vision_width * c.mlp_ratio),
        "num_attention_heads": c.vision_heads, "num_hidden_layers": c.vision_layers, "image_size": c.image_size,
        "patch_size": c.patch_size, "num_channels": c.channels, **common,
    }  # fmt: skip
    return {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": c.embed_dim,
        "logit_scale_init_value": c.init_logit_scale, "initializer_factor": 1.0,
        "text_config": text, "vision_config": vision,
    }  # fmt: skip


def open_clip_config(config: Any) -> dict[str, Any]:
    """An ``open_clip_config.json`` for a genzoo CLIP config (what open_clip's ``save_for_hf`` writes),
    so that open_clip (``create_model("local-dir:FOLDER")``) and genzoo read the activation back."""
    c = config
    norm = {"norm_kwargs": {"eps": c.layer_norm_eps}} if c.layer_norm_eps != 1e-5 else {}
    vision = {"image_size": c.image_size, "layers": c.vision_layers, "width": c.vision_width,
              "head_width": c.vision_width // c.vision_heads, "mlp_ratio": c.mlp_ratio, "patch_size": c.patch_size, **norm}
    text = {"context_length": c.context_length, "vocab_size": c.vocab_size, "width": c.text_width,
            "heads": c.text_heads, "layers": c.text_layers, "mlp_ratio": c.mlp_ratio, **norm}  # fmt: skip
    return {
        "model_cfg": {"embed_dim": c.embed_dim, "quick_gelu": c.act == "quick_gelu", "vision_cfg": vision, "text_cfg": text},
        "preprocess_cfg": {"mean": list(c.image_mean), "std": list(c.image_std)},
    }


def convert(path: str | os.PathLike, layout: str | None = None, config: Mapping[str, Any] | None = None) -> Converted:
    """Read a CLIP checkpoint file, or a folder (a Hugging Face repo, or one holding one checkpoint file).

    ``config`` overrides inferred fields, e.g. ``{"vision_heads": 2}`` for a
    model whose head width is not 64. Tokenizer files (vocab.json,
    merges.txt) next to the weights come along. The activation, heads and
    normalisation come from the config the weights travel with (a transformers
    ``config.json``, or open_clip's ``open_clip_config.json``); where there is
    none, OpenAI's quick_gelu is assumed and a warning says so.
    """
    path = Path(path)
    hf_config = None
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        if (path / "config.json").is_file():
            meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
            if meta.get("format") == "genzoo":
                raise CheckpointError(f"{path} is a genzoo folder already; load it with genzoo.load")
            hf_config = meta if ("text_config" in meta or "vision_config" in meta or meta.get("model_type") == "clip") else None
        weights = _weights_file(path, layout or ("transformers" if hf_config else None))
    else:
        weights = path
    state = read_state_dict(weights)
    found = detect_layout(state)
    if layout is not None and layout != found:
        raise CheckpointError(f"{weights} is in the {found} layout, not {layout}")
    cfg = infer_config(state, found, hf_config if found == "transformers" else None)
    oc_path = folder / OPEN_CLIP_CONFIG
    recorded = found == "transformers" and hf_config is not None  # transformers' default is quick_gelu
    if found == "openai" and oc_path.is_file():
        cfg.update(_from_open_clip_config(_read_json(oc_path), cfg, oc_path))
        recorded = True
    cfg.update(config or {})
    if not recorded and "act" not in (config or {}):
        warnings.warn(
            f"{weights} does not record its MLP activation; assumed {cfg['act']} (OpenAI's models). Weights trained "
            "by open_clip mostly use gelu: pass config={'act': 'gelu'} (genzoo convert: --set act=gelu) for them",
            stacklevel=3,
        )
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in to_genzoo(state, found, cfg["vision_layers"], cfg["text_layers"]).items()}
    has_vocab = (folder / VOCAB_FILE).is_file() and (folder / MERGES_FILE).is_file()
    if not has_vocab and "vocab" not in (config or {}) and cfg["vocab_size"] != OPENAI_VOCAB_SIZE:
        raise CheckpointError(
            f"{path} has no {VOCAB_FILE}/{MERGES_FILE} and its vocabulary ({cfg['vocab_size']} tokens) is not "
            "OpenAI's: put the tokenizer files next to the weights, or name them with vocab=FOLDER"
        )
    card = {"license": "mit"} if cfg["vocab_size"] == OPENAI_VOCAB_SIZE else {}
    return Converted(config=cfg, tensors=tensors, layout=found, extra_folder=folder if has_vocab else None, card=card)


_WEIGHT_FILES = {
    "transformers": ("model.safetensors", "pytorch_model.bin"),
    "openai": ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
}


def _weights_file(folder: Path, layout: str | None) -> Path:
    """The checkpoint file of a folder: the layout's usual names first (timm's repos hold a
    ``model.safetensors`` of their own next to open_clip's file), else the only checkpoint file."""
    names = _WEIGHT_FILES.get(layout or "", ()) or _WEIGHT_FILES["openai"] + _WEIGHT_FILES["transformers"]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".pt", ".pth", ".bin"))
    if len(candidates) == 1:
        return candidates[0]
    raise CheckpointError(
        f"{folder} holds {'no' if not candidates else 'several'} checkpoint files"
        + (f" ({', '.join(p.name for p in candidates)})" if candidates else "")
        + "; pass the file itself"
    )


# -- writing -------------------------------------------------------------------------
def export(model: Any, path: str | os.PathLike, layout: str) -> Path:
    """Write a genzoo CLIP in an upstream layout.

    ``"transformers"``: a folder a Hugging Face ``CLIPModel.from_pretrained``
    reads (config.json, model.safetensors) with the tokenizer files.
    ``"openai"``: one safetensors file of the OpenAI / open_clip state dict
    (``path`` ending in .safetensors), or a folder holding
    ``open_clip_model.safetensors``, ``open_clip_config.json`` and the tokenizer files.
    """
    from safetensors.torch import save_file

    c = model.config
    state = from_genzoo(model.state_dict(), layout, c.vision_layers, c.text_layers)
    state = {k: v.to("cpu") for k, v in state.items()}
    path = Path(path)
    if layout == "openai" and path.suffix == ".safetensors":
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(state, path, metadata={"format": "pt"})
        return path
    path.mkdir(parents=True, exist_ok=True)
    if layout == "transformers":
        save_file(state, path / "model.safetensors", metadata={"format": "pt"})
        (path / "config.json").write_text(json.dumps(transformers_config(c), indent=2) + "\n", encoding="utf-8")
    else:
        save_file(state, path / "open_clip_model.safetensors", metadata={"format": "pt"})
        (path / OPEN_CLIP_CONFIG).write_text(json.dumps(open_clip_config(c), indent=2) + "\n", encoding="utf-8")
    model.tokenizer.save(path)
    return path
