"""`genzoo demo NAME`: a local web page (Gradio) for a model's tasks, with its model card beside them.

The page is built from the family contract alone, so every family (and every
third-party plugin) gets one without demo code of its own: one tab per task
the model declares with :func:`genzoo.task`, and in each tab one widget per
keyword option the task takes (:data:`WIDGET_KINDS` says which). A task's
result is shown the way `genzoo run` saves it: an ``"images"`` task as one
grid image, a ``"table"`` task as a table plus its images.

:func:`page_plan` decides the widgets without importing Gradio (so it is
testable anywhere); :func:`build_page` and :func:`serve` import Gradio, an
optional extra (``pip install "genzoo[demo]"``). The server listens on
127.0.0.1 only; nothing is shared to the internet.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import ConfigError, GenzooError

#: Which widget each task option gets; options not listed keep the task's default (the tab says so).
WIDGET_KINDS: Mapping[str, str] = {
    "seed": "number",  # a whole number: the same seed gives the same images
    "n": "slider",  # how many images / rows
    "nrow": "slider",  # images per grid row
    "steps": "slider",  # interpolation steps
    "inputs": "files",  # image upload (several files: translation batches, interpolation pairs, CLIP)
    "labels": "classes",  # class picker: class ids of a conditional model
    "path": "radio",  # interpolation path
    "classes": "text",  # CLIP zero-shot: class names, comma-separated
    "templates": "lines",  # CLIP zero-shot: prompt templates, one per line
}

#: Slider ranges (min, max) and the value used when the task's own default is ``None``.
SLIDERS: Mapping[str, tuple[int, int, int]] = {"n": (1, 64, 8), "nrow": (1, 16, 8), "steps": (2, 32, 10)}

#: Small images (16 px digits) are enlarged on the page, pixels kept sharp, to at least this many pixels a side.
DISPLAY_SIDE = 96

LABELS: Mapping[str, str] = {
    "seed": "seed",
    "n": "n (images, or rows)",
    "nrow": "images per row",
    "steps": "interpolation steps",
    "inputs": "input images (none: held-out test images)",
    "labels": "classes (none: all)",
    "path": "interpolation path",
    "classes": "class names, comma-separated (empty: the model's own)",
    "templates": "prompt templates, one per line, {} for the class name (empty: the model's own)",
}


@dataclass(frozen=True)
class Widget:
    """One input of a task's tab: the option it feeds, the kind of widget, and its start value."""

    option: str
    kind: str
    label: str
    value: Any = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskTab:
    """One tab of the page: a declared task, its widgets, and the options it leaves at their defaults."""

    name: str
    description: str
    returns: str
    widgets: tuple[Widget, ...]
    hidden: tuple[str, ...] = field(default=())


def page_plan(model: Any) -> list[TaskTab]:
    """The tabs and widgets :func:`build_page` shows for ``model``, read from its task declarations.

    The default task comes first. A task's own keyword defaults become the
    widgets' start values, so the page starts where `genzoo run` does.
    """
    tabs = []
    for spec in model.task_specs().values():
        defaults = _defaults(getattr(model, spec.method))
        widgets, hidden = [], []
        for option in spec.options:
            widget = _widget(model, option, defaults.get(option))
            if widget is None:
                hidden.append(option)
            else:
                widgets.append(widget)
        tabs.append(TaskTab(spec.name, spec.description, spec.returns, tuple(widgets), tuple(hidden)))
    if not tabs:
        raise ConfigError(f"the {model.family} family declares no tasks, so there is nothing to demo")
    return tabs


def _defaults(method: Any) -> dict[str, Any]:
    """A task method's keyword defaults (``None`` where it has none)."""
    params = inspect.signature(method).parameters.values()
    return {p.name: None if p.default is p.empty else p.default for p in params}


def _widget(model: Any, option: str, default: Any) -> Widget | None:
    kind = WIDGET_KINDS.get(option)
    label = LABELS.get(option, option)
    if kind is None:
        return None
    if kind == "number":
        return Widget(option, kind, label, int(default) if default is not None else 0)
    if kind == "slider":
        lo, hi, fallback = SLIDERS[option]
        value = fallback if default is None else int(default)
        return Widget(option, kind, label, value, lo, max(hi, value))
    if kind == "radio":
        from .latent import PATHS

        return Widget(option, kind, label, default or PATHS[-1], choices=tuple(PATHS))
    if kind == "classes":
        # Class-conditional families take class ids 0..num_classes-1 (see genzoo_cgan); the
        # config's num_classes is the one fact the picker needs. Without it, ids are typed in.
        count = model.config_dict().get("num_classes")
        if isinstance(count, int) and count > 0:
            return Widget(option, "classes", label, [], choices=tuple(str(i) for i in range(count)))
        return Widget(option, "text", "class ids, e.g. 0-9 or 1,3,5 (empty: all)", "")
    return Widget(option, kind, label, "" if kind in ("text", "lines") else None)


def task_options(tab: TaskTab, values: Sequence[Any]) -> dict[str, Any]:
    """The page's widget values (in ``tab.widgets`` order) -> keyword options for ``model.run_task``.

    Empty widgets give ``None``, which `run_task` treats as "not given", so the task's default applies.
    """
    options: dict[str, Any] = {}
    for widget, value in zip(tab.widgets, values, strict=True):
        options[widget.option] = _option_value(widget, value)
    return options


def _option_value(widget: Widget, value: Any) -> Any:
    if value is None or value == "" or value == []:
        return None
    if widget.kind in ("number", "slider"):
        return int(value)
    if widget.kind == "files":  # Gradio gives file paths (str) or objects with a .name
        return [str(getattr(v, "name", v)) for v in (value if isinstance(value, (list, tuple)) else [value])]
    if widget.kind == "classes":
        return [int(v) for v in value]
    if widget.kind == "text" and widget.option == "labels":
        from .cli import parse_labels

        return parse_labels(value)
    if widget.kind == "text":
        return [part.strip() for part in str(value).split(",") if part.strip()] or None
    if widget.kind == "lines":
        return [line.strip() for line in str(value).splitlines() if line.strip()] or None
    return value


def show_result(result: Any, returns: str) -> tuple[Any, list[list[Any]], list[str], str]:
    """A task's result -> ``(grid PIL image or None, table rows, table headers, summary text)`` for the page."""
    if returns == "images":
        images, nrow = result
        return _grid(images, nrow), [], [], f"{len(images)} images"
    rows = list(result.get("rows") or [])
    headers = list(dict.fromkeys(key for row in rows for key in row))
    table = [[_cell(row.get(h)) for h in headers] for row in rows]
    images = result.get("images")
    grid = _grid(images, result.get("nrow") or 8) if images is not None else None
    extra = {k: v for k, v in result.items() if k not in ("rows", "images", "nrow")}
    summary = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in extra.items())
    return grid, table, headers, summary or f"{len(rows)} rows"


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def _grid(images: Any, nrow: int) -> Any:
    """A batch in [-1, 1] as one PIL grid image, enlarged (nearest neighbour) when the images are small."""
    from PIL import Image

    from .images import make_grid, to_pil

    images = images.detach().float().cpu()
    grid = to_pil(make_grid(images, nrow=nrow))[0]
    scale = min(8, math.ceil(DISPLAY_SIDE / max(images.shape[-2:])))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    return grid


def card_markdown(model: Any) -> str:
    """The model card the page shows beside the tasks: the README.md genzoo writes, without its YAML header."""
    from huggingface_hub import ModelCard

    from .card import render_card

    name = model.name or model.source or model.family
    files = {group: f"{group}.safetensors" for group in model.loaded_components()}
    text = render_card(name, model.family, model.config_dict(), model.card, files, model.pipeline_tag, model.extra_files)
    spec = model.input_spec
    inputs = f"\n\n**Inputs:** {spec.describe()}" if spec is not None else ""
    return ModelCard(text).text.strip() + inputs


def require_gradio() -> Any:
    """Import Gradio (an optional extra), offline: no analytics or version checks.

    `genzoo demo` calls it before loading the model, so a missing extra fails at once.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as exc:
        raise GenzooError(f'genzoo demo needs Gradio, which is not installed ({exc}); pip install "genzoo[demo]"') from None
    return gradio


def build_page(model: Any) -> Any:
    """The Gradio page (a ``gradio.Blocks``) for ``model``: one tab per task, the model card beside them.

    Element ids for scripts and tests: ``OPTION-TASK`` (each widget, e.g.
    ``seed-sample``), ``run-TASK`` (the button), ``image-TASK`` and
    ``table-TASK`` (the outputs), ``model-card``.
    """
    gr = require_gradio()
    tabs = page_plan(model)
    title = model.name or model.source or model.family
    with gr.Blocks(title=f"genzoo demo: {title}") as page:
        gr.Markdown(f"# {title}\n{model.describe()}")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Tabs():
                    for tab in tabs:
                        with gr.Tab(tab.name, id=tab.name):
                            _task_tab(gr, model, tab)
            with gr.Column(scale=2, elem_id="model-card"):
                gr.Markdown(card_markdown(model))
    return page


def _task_tab(gr: Any, model: Any, tab: TaskTab) -> None:
    note = f"\n\nNot on this page (the task's default applies): {', '.join(tab.hidden)}." if tab.hidden else ""
    gr.Markdown(tab.description + note)
    inputs = [_component(gr, w, f"{w.option}-{tab.name}") for w in tab.widgets]
    button = gr.Button(f"Run {tab.name}", variant="primary", elem_id=f"run-{tab.name}")
    image = gr.Image(label="result", type="pil", format="png", interactive=False, elem_id=f"image-{tab.name}")
    summary = gr.Markdown()
    table = gr.Dataframe(label="result", interactive=False, visible=tab.returns == "table", elem_id=f"table-{tab.name}")

    def run(*values: Any):
        try:
            result = model.run_task(tab.name, **task_options(tab, values))
            grid, rows, headers, text = show_result(result, tab.returns)
        except Exception as exc:  # shown on the page; the server keeps serving
            raise gr.Error(f"{type(exc).__name__}: {exc}") from exc
        return grid, text, gr.Dataframe(value=rows, headers=headers or None, visible=tab.returns == "table")

    button.click(run, inputs=inputs, outputs=[image, summary, table])


def _component(gr: Any, w: Widget, elem_id: str) -> Any:
    common = {"label": w.label, "elem_id": elem_id}
    if w.kind == "number":
        return gr.Number(value=w.value, precision=0, **common)
    if w.kind == "slider":
        return gr.Slider(w.minimum, w.maximum, value=w.value, step=1, **common)
    if w.kind == "files":
        return gr.File(file_count="multiple", file_types=["image"], type="filepath", **common)
    if w.kind == "classes":
        return gr.Dropdown(list(w.choices), value=w.value, multiselect=True, **common)
    if w.kind == "radio":
        return gr.Radio(list(w.choices), value=w.value, **common)
    return gr.Textbox(value=w.value, lines=3 if w.kind == "lines" else 1, **common)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class DemoServer:
    """A running demo page: its URL, and :meth:`close` to stop it (also a context manager)."""

    url: str
    page: Any

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # Gradio prints "Closing server running on port: ..."
            self.page.close()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


HOST = "127.0.0.1"


def serve(model: Any, port: int | None = None) -> DemoServer:
    """Start the demo page of ``model`` (a loaded model, or a name for :func:`genzoo.load`) on 127.0.0.1.

    Returns at once: the server runs in a background thread until
    :meth:`DemoServer.close`. ``port=None`` takes a free one.
    """
    gr = require_gradio()
    if isinstance(model, (str, os.PathLike)):
        from .api import load

        model = load(model)
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    port = port or free_port(HOST)
    page = build_page(model)
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    try:  # system fonts: the default theme fetches Google fonts, and the page works offline
        page.launch(server_name=HOST, server_port=port, share=False, prevent_thread_lock=True, quiet=True,
                    inbrowser=False, theme=theme)  # fmt: skip
    except OSError as exc:
        page.close()
        raise ConfigError(
            f"cannot serve the demo on {HOST}:{port} ({exc}); choose another --port, or leave it out for a free one"
        ) from None
    return DemoServer(f"http://{HOST}:{port}/", page)
