"""Reading the reference's published generator files (``latest_net_G.pth``, ``horse2zebra.pth`` ...).

The authors' checkpoints (junyanz/pytorch-CycleGAN-and-pix2pix) are plain
state dicts of one generator. Our networks keep the reference's module
layout, so the keys map one to one (``model.1.weight`` ->
``generator.model.1.weight``); what the converter adds is

- reading the file safely (``torch.load(weights_only=True)``: tensors only);
- dropping the stale ``running_mean`` / ``running_var`` /
  ``num_batches_tracked`` that files saved by old PyTorch versions carry
  under *instance* norms (the reference deletes them too; loading them would
  turn the instance norms into batch norms with frozen statistics and change
  the output);
- inferring the configuration from the keys and shapes: the generator kind,
  ``ngf``, the number of residual blocks or of U-Net downsamplings, the
  norm, ResNet dropout, and the channel counts;
- refusing, with the first offending keys, a state dict that does not fit.

U-Net dropout has no weights, so it cannot be read from a file: it defaults
to on (Pix2Pix's setting) and can be set with ``--set dropout=false``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from genzoo.convert import read_weights_file
from genzoo.errors import CheckpointError, ConfigError
from genzoo.model import meta_device

from .reference import build_generator

#: The authors' code (junyanz/pytorch-CycleGAN-and-pix2pix), which these networks rebuild.
CODE_URL = "https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix"

#: File names a folder (or Hub repo) in the reference layout may hold, in order of preference.
GENERATOR_FILES = ("latest_net_G.pth", "latest_net_G_A.pth", "model.pth")
_STATS = ("running_mean", "running_var", "num_batches_tracked")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a reference ``.pth`` file (or of the generator file in a folder), loaded safely.

    Only tensors are unpickled (``genzoo.convert.read_weights_file``). A ``{"state_dict": ...}``
    wrapper and the ``module.`` prefix of files saved from ``DataParallel`` are removed.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        found = [path / n for n in GENERATOR_FILES if (path / n).is_file()]
        if not found:
            pths = sorted(path.glob("*.pth"))
            if len(pths) != 1:
                raise CheckpointError(
                    f"{path} holds no {' or '.join(GENERATOR_FILES)}"
                    + (f" and {len(pths)} other .pth files; name the file to convert" if pths else "")
                )
            found = pths
        path = found[0]
    obj = read_weights_file(path)  # tensors only; TorchScript archives are refused
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def drop_stale_norm_stats(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove running statistics of norm layers that have no affine weight (stale InstanceNorm stats).

    A batch norm always has ``weight`` next to its statistics; an instance
    norm (affine off) has none, so statistics without a weight are leftovers
    of PyTorch < 0.4's InstanceNorm. Returns the cleaned dict and the dropped keys.
    """
    kept, dropped = {}, []
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _STATS and f"{prefix}.weight" not in state:
            dropped.append(key)
        else:
            kept[key] = value
    return kept, dropped


def _norm_of(state: Mapping[str, torch.Tensor], norm_prefix: str, conv_prefix: str) -> str:
    if f"{norm_prefix}.weight" in state:
        return "batch"
    return "instance" if f"{conv_prefix}.bias" in state else "none"


def _first_keys(keys, n: int = 5) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" (and {len(keys) - n} more)" if len(keys) > n else "")


def infer_generator_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """netG, ngf, input_nc, output_nc, norm (and ResNet dropout) from the keys and shapes."""
    w = state.get("model.1.weight")
    if w is not None and w.dim() == 4 and w.shape[-1] == 7:  # ResNet: reflect-pad then the 7x7 conv at index 1
        blocks = sorted(
            int(k.split(".")[1]) for k in state if k.startswith("model.") and k.endswith(".conv_block.1.weight")
        )
        n = len(blocks)
        if blocks != list(range(10, 10 + n)):
            raise CheckpointError(f"ResNet generator with residual blocks at unexpected indices {blocks[:12]}")
        out = state.get(f"model.{17 + n}.weight")
        if out is None:
            raise CheckpointError(f"ResNet generator with {n} blocks has no output convolution model.{17 + n}.weight")
        return {
            "netG": f"resnet_{n}blocks",
            "ngf": int(w.shape[0]),
            "input_nc": int(w.shape[1]),
            "output_nc": int(out.shape[0]),
            "norm": _norm_of(state, "model.2", "model.1"),
            "dropout": "model.10.conv_block.6.weight" in state,
        }
    w = state.get("model.model.0.weight")
    if w is not None and w.dim() == 4 and w.shape[-1] == 4:  # U-Net: the outermost block's down conv
        downs, prefix = 1, "model.model.1."
        while f"{prefix}model.1.weight" in state:
            downs += 1
            if f"{prefix}model.3.model.1.weight" not in state:
                break
            prefix += "model.3."
        up = state.get("model.model.3.weight")
        if up is None:
            raise CheckpointError("U-Net generator has no outermost up convolution model.model.3.weight")
        return {
            "netG": f"unet_{2**downs}",
            "ngf": int(w.shape[0]),
            "input_nc": int(w.shape[1]),
            "output_nc": int(up.shape[1]),
            "norm": _norm_of(state, "model.model.1.model.2", "model.model.0"),
        }
    raise CheckpointError(
        "cannot map this state dict onto a reference generator: it has neither a ResNet generator's "
        "model.1.weight (7x7 conv) nor a U-Net's model.model.0.weight; its first keys are "
        + _first_keys(state)
    )


def convert_generator(
    state: Mapping[str, torch.Tensor], overrides: Mapping[str, Any] | None = None, image_size: int = 256
) -> tuple[dict[str, Any], dict[str, torch.Tensor], list[str]]:
    """(generator config, tensors under the reference's own keys, dropped stale keys) for an upstream generator.

    The tensors are checked key for key and shape for shape against the
    network the config builds; anything that does not fit is refused with
    the first offending keys.
    """
    clean, dropped = drop_stale_norm_stats(state)
    cfg = {"dropout": True, **infer_generator_config(clean), **dict(overrides or {})}
    try:
        with meta_device():
            net = build_generator(
                cfg["netG"], cfg["input_nc"], cfg["output_nc"], cfg["ngf"], cfg["norm"], cfg["dropout"], image_size
            )
    except (ConfigError, TypeError, KeyError) as exc:
        raise CheckpointError(f"cannot build a generator for the inferred config {cfg}: {exc}") from exc
    expected = net.state_dict()
    tensors = dict(clean)
    for key, value in expected.items():  # files from before PyTorch 0.4.1 lack this counter
        if key.endswith("num_batches_tracked") and key not in tensors and key.rsplit(".", 1)[0] + ".running_mean" in tensors:
            tensors[key] = torch.zeros((), dtype=torch.long)
    unexpected = [k for k in tensors if k not in expected]
    shapes = [
        f"{k} {tuple(tensors[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in tensors
        if k in expected and tuple(tensors[k].shape) != tuple(expected[k].shape)
    ]
    missing = [k for k in expected if k not in tensors]
    if unexpected or shapes or missing:
        parts = []
        if unexpected:
            parts.append("keys that fit nowhere: " + _first_keys(unexpected))
        if shapes:
            parts.append("shapes that do not fit: " + _first_keys(shapes, 3))
        if missing:
            parts.append("missing keys: " + _first_keys(missing))
        raise CheckpointError(f"this state dict does not map onto a {cfg['netG']} generator ({cfg}); " + "; ".join(parts))
    return cfg, tensors, dropped


def provenance(path: str | os.PathLike, family: str, known: Mapping[str, Any], url_template: str) -> dict[str, Any]:
    """Card facts for a converted file: the upstream URL (``url_template`` of the name) when the file is a known published model."""
    p = Path(path)
    stems = [p.stem, p.stem.removeprefix(f"{family}-"), p.name.removesuffix("_pretrained")]  # a URL download is NAME.pth
    if p.is_file() or p.suffix == ".pth":
        stems += [p.parent.name.removesuffix("_pretrained")]
    name = next((s for s in stems if s in known), None)
    facts: dict[str, Any] = {"code": CODE_URL}
    if name is not None:
        facts["source"] = url_template.format(name=name)
        facts["dataset"] = known[name].get("dataset")
        facts["upstream_name"] = name
    else:
        facts["source"] = f"a {family} checkpoint of {CODE_URL}"
    return facts


#: The config fields of a generator that a file's keys and shapes decide (``config`` may state them).
GENERATOR_FIELDS = ("netG", "ngf", "input_nc", "output_nc", "norm", "dropout")


def read_generator_file(
    path: str | os.PathLike,
    config: Mapping[str, Any] | None,
    *,
    family: str,
    known: Mapping[str, Any],
    url_template: str,
    card: Mapping[str, Any],
    component: str,
    fixed: Mapping[str, Any],
    layout: str | None = None,
):
    """A ``genzoo.convert.Converted`` for an authors' generator file: what both families' ``from_layout`` return.

    ``config`` overrides what the file's keys say; ``fixed`` are the config
    fields of a generator-only model (no discriminator); ``component`` is
    the attribute the generator lives under (``generator``, ``g_ab``).
    ``known`` (published name -> card facts) and ``url_template`` (where the
    family's published files are) name the upstream source on the card;
    ``card`` adds the family's own facts (paper, licence).
    """
    from genzoo.convert import Converted

    config = dict(config or {})
    stated = {k: config[k] for k in GENERATOR_FIELDS if k in config}
    cfg, tensors, _ = convert_generator(read_state_dict(path), stated, config.get("image_size", 256))
    card = {**card, **provenance(path, family, known, url_template)}
    return Converted({**fixed, **cfg, **config}, {f"{component}.{k}": v for k, v in tensors.items()}, layout or "reference", card=card)
