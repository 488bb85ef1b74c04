"""torch.hub entry points: ``torch.hub.load("genzoo/genzoo", "load", "vae-digits")``.

torch.hub puts this repository on ``sys.path`` without installing it, so
genzoo's built-in plugins (normally found through the installed package's
entry points) are registered here from ``pyproject.toml`` when the package
is not installed. Each entry point is a thin call of the public API.
"""

dependencies = ["torch", "safetensors", "huggingface_hub", "pluggy", "tokenizers", "ftfy", "regex", "PIL", "tqdm"]


def _register_builtins() -> None:
    """Register the built-in plugins listed in pyproject.toml when genzoo runs from a checkout (torch.hub)."""
    import importlib
    import importlib.metadata
    import sys
    import tomllib
    from pathlib import Path

    try:
        importlib.metadata.distribution("genzoo")
        return  # installed: entry points find the plugins
    except importlib.metadata.PackageNotFoundError:
        pass
    root = Path(__file__).resolve().parent
    sys.path.insert(0, str(root / "plugins"))
    from genzoo import plugins

    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for name, module in project["entry-points"]["genzoo"].items():
        if name not in {info.name for info in plugins.plugin_infos()}:
            plugins.register(importlib.import_module(module), name=name)


def load(name: str, **kwargs):
    """A genzoo model by registered name, Hub repo id or folder (``genzoo.load``)."""
    _register_builtins()
    import genzoo

    return genzoo.load(name, **kwargs)


def create(name: str, pretrained: bool = False, **kwargs):
    """A new model of a family, or with ``pretrained=True`` the named model's weights (``genzoo.create``)."""
    _register_builtins()
    import genzoo

    return genzoo.create(name, pretrained=pretrained, **kwargs)


def list_models(pattern: str | None = None):
    """Registered model names (``genzoo.list_models``)."""
    _register_builtins()
    import genzoo

    return genzoo.list_models(pattern)
