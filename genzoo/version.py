"""The installed genzoo version (one place, read by the checkpoint writer and the CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genzoo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
