"""ONNX export of a model's inference components, checked against PyTorch, and running the result.

``genzoo export NAME --format onnx -o DIR`` (:func:`export_onnx`) writes one
``<component>.onnx`` per target of :meth:`GenzooModel.export_targets` (by
default each inference component: generators, encoders/decoders, CLIP's two
towers) with a dynamic batch, and a dynamic image size where the family
declares the network takes one (the translation generators). Each graph is
run with onnxruntime on the same inputs as PyTorch, at the export batch and
at another batch (and another size), and the largest absolute difference is
printed and kept in ``manifest.json``; a graph that differs by more than
:data:`TOLERANCE` is never written. The exporter is torch's recommended one
(``torch.onnx.export(..., dynamo=True)``).

Files go to a staging folder beside ``DIR`` and are moved into place only
when every check passed. ``DIR`` may be new, empty, or an earlier genzoo
export (whose listed files are replaced); any other folder is refused.

:class:`OnnxModel` runs an export folder with onnxruntime: ``translate``
(image-to-image generators, what ``genzoo run DIR INPUT_FOLDER -o OUT``
calls) and ``sample`` (noise-driven generators and decoders). onnx,
onnxruntime and onnxscript are the optional extra ``genzoo[onnx]``; nothing
here imports them until an export or a session needs them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .errors import ExportError, GenzooError, ShapeError

#: The largest absolute difference between onnxruntime's and PyTorch's outputs that an export may have.
TOLERANCE = 1e-4
MANIFEST = "manifest.json"
#: Bumped when the manifest changes in a way an older reader cannot follow.
MANIFEST_VERSION = 1
FORMATS = ("onnx",)
#: The tasks ``genzoo run --backend onnxruntime`` can run, and what each needs.
ONNX_TASKS = {
    "translate": "an image-to-image generator (Pix2Pix, CycleGAN)",
    "sample": "a noise-driven generator or a decoder (GAN, cGAN with --labels, VAE)",
}


@dataclass
class ExportTarget:
    """One graph to export: a module, example inputs, and which of their axes may vary.

    ``dynamic`` maps an input name to ``{axis: name}``; the default makes
    axis 0 of every input ``"batch"``. ``multiple_of`` set: the image inputs'
    height and width (axes 2 and 3) vary too, in steps of it (a translation
    generator takes any size its stride divides). ``outputs`` names the
    outputs; an encoder that returns a :class:`~genzoo.interfaces.DiagonalGaussian`
    is exported with two, ``mean`` and ``logvar``.
    """

    module: nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    interface: str
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)
    multiple_of: int | None = None

    def __post_init__(self) -> None:
        if not self.dynamic:
            self.dynamic = {name: {0: "batch"} for name in self.input_names}


def require_onnx() -> tuple[Any, Any]:
    """Import onnx and onnxruntime (and onnxscript, which torch's exporter needs), or say how to install them."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401 - torch.onnx.export(dynamo=True) needs it
    except ImportError as exc:
        raise ExportError(
            f"ONNX export and the onnxruntime backend need onnx, onnxruntime and onnxscript ({exc}); "
            'pip install "genzoo[onnx]"'
        ) from None
    return onnx, onnxruntime


# -- the default targets (GenzooModel.export_targets) --------------------------
def component_target(component: nn.Module, batch: int = 2) -> ExportTarget | None:
    """The export target of one component, from the shapes its interface declares; ``None`` for discriminators.

    Inputs are seeded random values of the declared shapes: images in
    [-1, 1], standard normal noise and latents, class ids 0 and 1, token ids
    of ``"a photo"``.
    """
    from .interfaces import Decoder, Encoder, Generator, TextEncoder

    g = torch.Generator().manual_seed(0)
    ref = next(iter(component.parameters()), None)
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    device = ref.device if ref is not None else torch.device("cpu")

    def images(shape) -> torch.Tensor:
        return (torch.rand((batch, *shape), generator=g) * 2 - 1).to(device, dtype)

    def normal(shape) -> torch.Tensor:
        return torch.randn((batch, *shape), generator=g).to(device, dtype)

    if isinstance(component, Encoder):
        return ExportTarget(component, (images(component.input_shape),), ("images",), ("latent",), "encoder")
    if isinstance(component, Decoder):
        return ExportTarget(component, (normal(component.latent_shape),), ("latent",), ("images",), "decoder")
    if isinstance(component, Generator):
        if component.noise_shape is not None:
            x, name = normal(component.noise_shape), "noise"
        else:
            x, name = images(component.input_shape), "images"
        out = ("images",) if name == "noise" else ("translated",)  # ONNX names must differ from the input's
        cond = component.condition_shape
        if cond is None:
            return ExportTarget(component, (x,), (name,), out, "generator")
        c = torch.arange(batch, device=device) % 2 if cond == () else normal(cond)
        return ExportTarget(component, (x, c), (name, "labels" if cond == () else "condition"), out, "generator")
    if isinstance(component, TextEncoder):
        return ExportTarget(component, (component.tokenize(["a photo"] * batch).to(device),), ("tokens",), ("features",), "text_encoder")
    return None


def default_targets(model: Any) -> dict[str, ExportTarget]:
    """Each loaded inference component that implements an interface (discriminators left out), by group name."""
    groups = model.groups()
    wanted = model.inference_components or tuple(groups)
    targets: dict[str, ExportTarget] = {}
    for group in (g for g in wanted if g in model.loaded_components()):
        modules = [(a, model._modules[a]) for a in groups[group] if isinstance(model._modules.get(a), nn.Module)]
        for attr, module in modules:
            target = component_target(module)
            if target is not None:
                targets[group if len(modules) == 1 else f"{group}.{attr}"] = target
    return targets


# -- export ----------------------------------------------------------------------
class _Flat(nn.Module):
    """Runs a component and returns plain tensors: a DiagonalGaussian becomes ``(mean, logvar)``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *inputs: torch.Tensor):
        from .interfaces import DiagonalGaussian

        out = self.module(*inputs)
        return (out.mean, out.logvar) if isinstance(out, DiagonalGaussian) else out


def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _dynamic_shapes(target: ExportTarget) -> tuple[dict[int, Any], ...]:
    """torch.export dims for the target's dynamic axes: one ``Dim`` per axis name, spatial ones in steps of ``multiple_of``."""
    from torch.export import Dim

    dims: dict[str, Any] = {}

    def dim(name: str, spatial: bool) -> Any:
        if name not in dims:  # spatial: at least 2 steps, as torch.export specialises a size of 1 (a U-Net's innermost map)
            m = target.multiple_of or 1
            dims[name] = m * Dim(f"{name}_steps", min=2, max=65536 // m) if spatial else Dim(name, min=1, max=65536)
        return dims[name]

    shapes = []
    for name, x in zip(target.input_names, target.inputs):
        axes = dict(target.dynamic.get(name, {}))
        if _spatial(target, x):
            axes.update({2: "height", 3: "width"})
        shapes.append({axis: dim(n, axis >= 2 and _spatial(target, x)) for axis, n in axes.items()})
    return tuple(shapes)


def _like(x: torch.Tensor, shape: Sequence[int], g: torch.Generator) -> torch.Tensor:
    """Values of the kind ``x`` holds, in ``shape``: uniform over its range for floats, its own rows for ids."""
    if x.is_floating_point():
        lo, hi = float(x.min()), float(x.max())
        return (torch.rand(tuple(shape), generator=g) * (hi - lo) + lo).to(x.device, x.dtype)
    return x[torch.arange(shape[0]) % x.shape[0]]  # ids: valid classes, real tokens


def _spatial(target: ExportTarget, x: torch.Tensor) -> bool:
    return target.multiple_of is not None and x.is_floating_point() and x.dim() == 4


def _trace_inputs(target: ExportTarget) -> tuple[torch.Tensor, ...]:
    """The example inputs, enlarged to two steps of ``multiple_of`` where a side has one (see :func:`_dynamic_shapes`)."""
    g = torch.Generator().manual_seed(2)
    m = target.multiple_of or 1
    out = []
    for x in target.inputs:
        if _spatial(target, x) and min(x.shape[2:]) < 2 * m:
            x = _like(x, (*x.shape[:2], *(max(s, 2 * m) for s in x.shape[2:])), g)
        out.append(x)
    return tuple(out)


def _check_inputs(target: ExportTarget) -> list[tuple[torch.Tensor, ...]]:
    """The example inputs, and the same kind at another batch (and, where it may vary, another image size)."""
    g = torch.Generator().manual_seed(1)
    m = target.multiple_of or 1
    other = []
    for name, x in zip(target.input_names, target.inputs):
        shape = list(x.shape)
        if 0 in target.dynamic.get(name, {}):
            shape[0] = x.shape[0] + 1  # another batch is enough to catch a batch baked into the graph; tests also run 5
        if _spatial(target, x):
            shape[2], shape[3] = shape[2] + m, shape[3] + 2 * m
        other.append(_like(x, shape, g))
    return [target.inputs, tuple(other)]


def _session(path: Path) -> Any:
    _, ort = require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_session(session: Any, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Run an onnxruntime session on tensors (by position, in the graph's input order); outputs as CPU tensors."""
    feed = {i.name: x.detach().cpu().numpy() for i, x in zip(session.get_inputs(), inputs)}
    return [torch.from_numpy(y) for y in session.run(None, feed)]


def _graph_shapes(values: Any) -> list[dict[str, Any]]:
    """Names and shapes of ONNX graph inputs/outputs; a dynamic axis shows as its name."""
    from onnx import TensorProto  # noqa: F401 - require_onnx has imported it

    out = []
    for v in values:
        t = v.type.tensor_type
        shape = [d.dim_param or d.dim_value for d in t.shape.dim]
        out.append({"name": v.name, "shape": shape, "elem_type": int(t.elem_type)})
    return out


def _named_axes(inputs: list[dict[str, Any]], target: ExportTarget) -> list[dict[str, Any]]:
    """The inputs' dynamic axes shown by their names (``height``), not torch.export's expressions (``4*height_steps``)."""
    for item, x in zip(inputs, target.inputs):
        names = dict(target.dynamic.get(item["name"], {})) | ({2: "height", 3: "width"} if _spatial(target, x) else {})
        item["shape"] = [names.get(a, d) if isinstance(d, str) else d for a, d in enumerate(item["shape"])]
    return inputs


def _export_one(name: str, target: ExportTarget, stage: Path, tolerance: float) -> dict[str, Any]:
    """Export one target into ``stage``, check it with onnxruntime, and describe it for the manifest."""
    import warnings

    from .interfaces import DiagonalGaussian

    onnx, _ = require_onnx()
    module = _Flat(target.module).eval()
    traced = _trace_inputs(target)
    with torch.no_grad():
        raw = target.module(*traced)
    gaussian = isinstance(raw, DiagonalGaussian)  # exported as two outputs, mean and logvar
    output_names = ("mean", "logvar") if gaussian else target.output_names
    if not gaussian and len(output_names) != len(_as_tuple(raw)):
        raise ExportError(f"{name}: the component returns {len(_as_tuple(raw))} outputs but the target names {len(output_names)}")
    path = stage / f"{name}.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, traced, None, dynamo=True, input_names=list(target.input_names),
                output_names=list(output_names), dynamic_shapes=(_dynamic_shapes(target),), verbose=False,
            )  # fmt: skip
            program.save(str(path))
    except GenzooError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch.export failures come as many types
        cause = exc.__cause__ or exc  # torch.onnx wraps torch.export's error in a page of advice
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ExportError(
            f"could not export {name} ({type(target.module).__name__}) to ONNX: {first}; "
            "the family may need to override export_targets"
        ) from exc
    try:
        session = _session(path)
    except GenzooError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise ExportError(f"onnxruntime cannot load the graph exported for {name}: {str(exc).strip().splitlines()[0]}") from exc
    worst, checked = 0.0, []
    for inputs in _check_inputs(target):
        with torch.no_grad():
            expected = _as_tuple(module(*inputs))
        got = run_session(session, inputs)
        for want, have in zip(expected, got):
            if tuple(want.shape) != tuple(have.shape):
                raise ExportError(f"{name}: onnxruntime gave shape {tuple(have.shape)}, PyTorch {tuple(want.shape)}")
            worst = max(worst, float((want.float().cpu() - have.float()).abs().max()))
        checked.append([list(x.shape) for x in inputs])
    if not worst <= tolerance:  # also refuses NaN
        raise ExportError(
            f"{name}: onnxruntime's outputs differ from PyTorch's by up to {worst:.3g} (> {tolerance:g}); "
            "nothing was written"
        )
    graph = onnx.load(str(path), load_external_data=False).graph
    files = sorted(p.name for p in stage.iterdir() if p.name == path.name or p.name.startswith(path.name + "."))
    return {
        "file": path.name, "files": files, "interface": target.interface,
        "inputs": _named_axes(_graph_shapes(graph.input), target), "outputs": _graph_shapes(graph.output),
        "dynamic_axes": {
            n: {str(a): d for a, d in target.dynamic.get(n, {}).items()} | ({"2": "height", "3": "width"} if _spatial(target, x) else {})
            for n, x in zip(target.input_names, target.inputs)
        },
        "multiple_of": target.multiple_of,
        "checked_shapes": checked, "max_abs_diff": worst,
    }  # fmt: skip


def _existing_export(target: Path) -> dict[str, Any] | None:
    """The manifest of an earlier genzoo export in ``target``; ``None`` if it is new or empty; refuse anything else."""
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is a file; -o names the folder the export is written to")
    if not target.is_dir() or not any(target.iterdir()):
        return None
    try:
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("genzoo_export") is None:
        raise ExportError(
            f"{target} is not empty and is not a genzoo export (no {MANIFEST} written by genzoo export); "
            "genzoo never writes among other files. Export to a new or empty folder."
        )
    return manifest


def check_export_target(path: str | os.PathLike) -> None:
    """Refuse now an ``-o`` that :func:`export_onnx` would refuse, before the model is loaded."""
    _existing_export(Path(os.path.abspath(os.path.expanduser(path))))


def export_onnx(model: Any, out: str | os.PathLike, *, tolerance: float = TOLERANCE, name: str | None = None) -> dict[str, Any]:
    """Export ``model``'s :meth:`export_targets` as ONNX graphs into folder ``out``; returns the manifest.

    Every graph is checked with onnxruntime against PyTorch (see the module
    docstring); one whose outputs differ by more than ``tolerance`` raises
    :class:`ExportError` and nothing is written. ``out`` may be new, empty,
    or an earlier export (only the files its manifest lists are replaced).
    """
    require_onnx()
    target = Path(os.path.abspath(os.path.expanduser(out)))
    old = _existing_export(target)
    targets = model.export_targets()
    if not targets:
        raise ExportError(
            f"{model.family} model has no component genzoo can export (no encoder, decoder, generator or text "
            "encoder among its inference components); the family can declare them with export_targets()"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.genzoo-export-{os.getpid()}-{secrets.token_hex(4)}"
    stage.mkdir()
    try:
        components = {n: _export_one(n, t, stage, tolerance) for n, t in targets.items()}
        spec = model.input_spec
        manifest = {
            "genzoo_export": MANIFEST_VERSION, "format": "onnx", "family": model.family,
            "name": name or model.name or model.source, "source": model.source,
            "genzoo_version": _version(), "torch_version": torch.__version__,
            "tasks": list(model.task_specs()), "default_task": model.default_task(),
            "input_spec": spec.as_dict() if spec is not None else None,
            "tolerance": tolerance, "max_abs_diff": max(c["max_abs_diff"] for c in components.values()),
            "components": components,
        }  # fmt: skip
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _move_into_place(stage, target, old)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _version() -> str:
    from .version import __version__

    return __version__


def _listed(manifest: dict[str, Any] | None) -> set[str]:
    if not manifest:
        return set()
    files = {MANIFEST}
    for c in (manifest.get("components") or {}).values():
        files.update(Path(f).name for f in c.get("files") or [c.get("file")] if f)
    return files


def _move_into_place(stage: Path, target: Path, old: dict[str, Any] | None) -> None:
    """A new target is the stage, renamed; an earlier export gets the new files (manifest last) and loses its obsolete ones."""
    if not target.exists():
        os.rename(stage, target)
        return
    new = sorted(p.name for p in stage.iterdir() if p.name != MANIFEST)
    for name in new:
        os.replace(stage / name, target / name)
    os.replace(stage / MANIFEST, target / MANIFEST)
    for name in _listed(old) - set(new) - {MANIFEST}:
        path = target / name
        if path.is_file() or path.is_symlink():
            path.unlink()


# -- running an export -------------------------------------------------------------
def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by ``genzoo export`` (its manifest says so)."""
    try:
        manifest = json.loads((Path(os.path.expanduser(str(path))) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("genzoo_export") is not None


class OnnxModel:
    """An export folder run with onnxruntime: ``translate`` and ``sample``, as far as its components allow.

    Duck-types the parts of :class:`~genzoo.GenzooModel` that ``genzoo run``
    uses (``family``, ``implements``, ``translate``, ``device``, ``dtype``).
    Outputs are CPU float32 tensors in [-1, 1].
    """

    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(self, folder: str | os.PathLike):
        require_onnx()
        self.folder = Path(os.path.expanduser(str(folder)))
        try:
            self.manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
            self.components: dict[str, Any] = dict(self.manifest["components"])
            self.family: str = self.manifest["family"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ExportError(f"{self.folder} is not a readable genzoo export ({exc}); export it again with genzoo export") from None
        if self.manifest.get("genzoo_export", 0) > MANIFEST_VERSION:
            raise ExportError(f"{self.folder} was exported by a newer genzoo; upgrade genzoo to run it")
        self._sessions: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.folder)!r}, family={self.family!r}, components={list(self.components)})"

    def session(self, name: str) -> Any:
        if name not in self._sessions:
            file = Path(self.components[name]["file"]).name  # a manifest names files inside its folder only
            path = self.folder / file
            if not path.is_file():
                raise ExportError(f"{path} is missing; export the model again with genzoo export")
            self._sessions[name] = _session(path)
        return self._sessions[name]

    def run(self, name: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """Run component ``name`` on ``inputs`` (in its graph's input order)."""
        return run_session(self.session(name), inputs)

    def _find(self, interface: str, first_input: str | None = None) -> str | None:
        for name, c in self.components.items():
            if c["interface"] == interface and (first_input is None or c["inputs"][0]["name"] == first_input):
                return name
        return None

    def implements(self, hook: str) -> bool:
        return hook == "translate" and self._find("generator", "images") is not None

    def _unsupported(self, task: str) -> ExportError:
        kinds = ", ".join(f"{t} ({need})" for t, need in ONNX_TASKS.items())
        return ExportError(
            f"this {self.family} export cannot {task} with onnxruntime; the onnxruntime backend runs {kinds}. "
            "Run the model itself with PyTorch instead (genzoo run NAME ...)"
        )

    def translate(self, images: Any, *, size: int | None = None, keep_size: bool = False, direction: str = "a2b",
                  batch_size: int = 8, **options: Any) -> torch.Tensor | list[torch.Tensor]:  # fmt: skip
        """Translate images as :meth:`genzoo.translation.TranslationModel.translate` does (resize, or ``keep_size``)."""
        from . import images as gi
        from .translation import crop_back, pad_to_multiple

        if options:
            raise ExportError(f"the onnxruntime backend does not take {', '.join(sorted(options))}; run the model with PyTorch for that")
        generators = [n for n, c in self.components.items() if c["interface"] == "generator" and c["inputs"][0]["name"] == "images"]
        if not generators:
            raise self._unsupported("translate")
        if direction not in ("a2b", "b2a") or (direction == "b2a" and len(generators) < 2):
            raise ExportError(f"direction {direction!r}: this export holds the generator(s) {', '.join(generators)} only")
        name = generators[0 if direction == "a2b" else 1]
        comp = self.components[name]
        channels = comp["inputs"][0]["shape"][1]
        multiple = comp.get("multiple_of") or 1
        if keep_size:
            seq = images if isinstance(images, (list, tuple)) else [images]
            outs = []
            for item in seq:
                for chunk in gi.to_tensor(item, channels=channels).split(batch_size):
                    x, pads = pad_to_multiple(chunk, multiple)
                    outs.append(crop_back(self.run(name, x)[0], pads))
            if len({tuple(o.shape[1:]) for o in outs}) == 1:
                return torch.cat(outs)
            return [img for o in outs for img in o]
        side = size or (self.manifest.get("input_spec") or {}).get("size", [None])[0]
        if side is None or not isinstance(side, int):
            fixed = comp["inputs"][0]["shape"][2]
            side = fixed if isinstance(fixed, int) else None
        if side is None or side % multiple:
            raise ShapeError(f"pass size= (a multiple of {multiple}) or keep_size=True to translate with this export")
        x = gi.to_tensor(images, size=side, channels=channels)
        return torch.cat([self.run(name, chunk)[0] for chunk in x.split(batch_size)])

    def sample(self, n: int, seed: int = 0, labels: Sequence[int] | None = None) -> tuple[torch.Tensor, int]:
        """``n`` images from standard normal noise (seeded as the PyTorch model seeds it) and a grid width.

        A noise-driven generator takes the noise (a conditional one: ``n``
        images per class id in ``labels``, one row each); else a decoder
        decodes latents drawn from N(0, I).
        """
        g = torch.Generator().manual_seed(seed)
        name = self._find("generator", "noise") or self._find("decoder")
        if name is None:
            raise self._unsupported("sample")
        comp = self.components[name]
        shape = comp["inputs"][0]["shape"][1:]
        if not all(isinstance(d, int) for d in shape):
            raise ExportError(f"{name}'s input shape {shape} is not fixed; cannot draw noise for it")
        conditional = len(comp["inputs"]) > 1
        if conditional and not labels:
            raise ExportError("this export's generator is conditional: pass class ids with --labels (e.g. --labels 0-9)")
        if not conditional and labels:
            raise ExportError("this export's generator takes no labels; drop --labels")
        if conditional:
            ids = torch.tensor([label for label in labels for _ in range(n)], dtype=torch.int64)
            z = torch.randn((len(ids), *shape), generator=g)
            return self.run(name, z, ids)[0], n
        z = torch.randn((n, *shape), generator=g)
        return self.run(name, z)[0], min(n, 8)


def describe(manifest: dict[str, Any]) -> list[str]:
    """One line per exported component, for the command's report."""
    lines = []
    for name, c in manifest["components"].items():
        ins = ", ".join(f"{i['name']} {'x'.join(map(str, i['shape']))}" for i in c["inputs"])
        lines.append(f"{name}: {c['file']} ({ins}); max abs diff vs PyTorch {c['max_abs_diff']:.3g}")
    return lines

