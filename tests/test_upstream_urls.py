"""Registry entries whose weights are the upstream authors' files at a plain URL (``UrlSource``).

A tiny HTTP server on 127.0.0.1 stands in for the authors' server: the file
is downloaded once into torch's checkpoint cache, checked against a sha256
when one is registered, converted once into a genzoo folder kept there, and
served from that folder offline.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

from unittest.mock import patch

import pytest
import torch
from test_pix2pix import random_state, ref_resnet, resnet_layout

import genzoo
from genzoo import plugins
from genzoo.checkpoint import read_meta
from genzoo.cli import main
from genzoo.errors import CheckpointError, DownloadError, OfflineError
from genzoo.upstream import HUB_ORG


class FileServer:
    """Serves a folder over HTTP on 127.0.0.1 and records the paths asked for."""

    def __init__(self, root: Path):
        self.root, self.requests = root, []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    s = FileServer(tmp_path / "www")
    (tmp_path / "www" / "cyclegan").mkdir(parents=True)
    yield s
    s.close()


@pytest.fixture
def upstream(server, tmp_path):
    """An authors'-layout CycleGAN generator file on the server (with stale InstanceNorm stats)."""
    state = random_state(resnet_layout(ngf=4, n_blocks=2), seed=5)
    path = tmp_path / "www" / "cyclegan" / "horse2zebra.pth"
    torch.save(state, path)
    return state, f"{server.url}/cyclegan/horse2zebra.pth", hashlib.sha256(path.read_bytes()).hexdigest()


def register(name: str, url: str, sha256: str | None = None):
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model(
                name, family="cyclegan", config={"netD": "none", "bidirectional": False},
                source=genzoo.UrlSource(url, layout="reference", sha256=sha256), license="bsd",
            )  # fmt: skip

    plugins.register(Plugin(), name=f"url-test-{name}")


def test_url_weights_download_and_convert_once_then_load_as_a_folder_offline(server, upstream, monkeypatch):
    state, url, sha = upstream
    register("cyclegan-h2z-url", url, sha)
    model = genzoo.load("cyclegan-h2z-url")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(model.translate(x, size=32), ref_resnet(state, x, 2), atol=1e-5)
    assert model.name == model.source == "cyclegan-h2z-url" and model.card["license"] == "bsd"
    [folder] = (Path(torch.hub.get_dir()) / "checkpoints" / "genzoo").iterdir()  # the .pth is gone, no temp left
    assert folder.name.startswith("cyclegan-h2z-url-")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "generator.safetensors"]
    assert read_meta(folder)["card"]["converted_from"] == url
    with patch("torch.load", side_effect=AssertionError("unpickled on a later load")):  # safetensors from now on
        again = genzoo.load("cyclegan-h2z-url", components="inference")
    assert server.requests == ["/cyclegan/horse2zebra.pth"]  # downloaded once
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = genzoo.load("cyclegan-h2z-url", dtype="fp32")
    assert torch.equal(offline.translate(x, size=32), model.translate(x, size=32))
    assert torch.equal(again.translate(x, size=32), model.translate(x, size=32))
    assert len(server.requests) == 1


def test_offline_with_a_cold_cache_says_to_pull(upstream, monkeypatch, capsys):
    _, url, _ = upstream
    register("cyclegan-h2z-url", url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match="genzoo pull cyclegan-h2z-url"):
        genzoo.load("cyclegan-h2z-url")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert main(["pull", "cyclegan-h2z-url", "--json"]) == 0
    assert '"layout": "reference"' in capsys.readouterr().out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert genzoo.load("cyclegan-h2z-url").config.netG == "resnet_2blocks"


def test_wrong_checksum_and_missing_file_are_clear_errors_and_leave_nothing(server, upstream):
    _, url, _ = upstream
    register("cyclegan-bad-sum", url, "0" * 64)
    with pytest.raises(DownloadError, match="did not match the registered sha256"):
        genzoo.load("cyclegan-bad-sum")
    register("cyclegan-gone", f"{server.url}/cyclegan/nope.pth")
    with pytest.raises(DownloadError, match="404.*genzoo convert"):
        genzoo.load("cyclegan-gone")
    assert main(["pull", "cyclegan-gone"]) == 1
    (server.root / "cyclegan" / "broken.pth").write_bytes(b"not a checkpoint")
    register("cyclegan-broken", f"{server.url}/cyclegan/broken.pth")
    with pytest.raises(CheckpointError, match="tensors-only state dict"):
        genzoo.load("cyclegan-broken")
    cache = Path(torch.hub.get_dir()) / "checkpoints" / "genzoo"
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing kept: the next try downloads afresh


def test_published_models_point_at_the_authors_files_until_hub_commits_are_recorded(monkeypatch):
    import genzoo_cyclegan

    info = genzoo.info("cyclegan-horse2zebra")
    assert info.source.startswith("http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth")
    assert genzoo.info("pix2pix-sat2map").source.startswith("http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/sat2map.pth")
    assert len(genzoo.list_models("cyclegan-*")) == 19 and len(genzoo.list_models("pix2pix-*")) == 6
    monkeypatch.setitem(genzoo_cyclegan.REVISIONS, "cyclegan-horse2zebra", "a" * 40)
    plugins.reset()
    assert genzoo.info("cyclegan-horse2zebra").source == f"hf://{HUB_ORG}/cyclegan-horse2zebra@{'a' * 40}"
    monkeypatch.setenv("GENZOO_HUB_REVISION", "main")  # a mirror of your own, followed by branch
    monkeypatch.setenv("GENZOO_HUB_ORG", "my-org")
    plugins.reset()
    assert genzoo.info("pix2pix-day2night").source == "hf://my-org/pix2pix-day2night@main"


def test_the_headline_call_loads_horse2zebra_from_the_authors_file(server, tmp_path, monkeypatch):
    """`genzoo.load("cyclegan-horse2zebra")` end to end, with the authors' server played by 127.0.0.1."""
    import genzoo_cyclegan

    state = random_state(resnet_layout(ngf=2, n_blocks=9), seed=6)  # resnet_9blocks, as the registry states
    torch.save(state, tmp_path / "www" / "cyclegan" / "horse2zebra.pth")
    monkeypatch.setattr(genzoo_cyclegan, "CYCLEGAN_URL", server.url + "/cyclegan/{name}.pth")
    plugins.reset()
    g = genzoo.load("cyclegan-horse2zebra", components="inference")
    assert server.requests == ["/cyclegan/horse2zebra.pth"]
    assert g.loaded_components() == ["generator"] and (g.config.netG, g.config.ngf) == ("resnet_9blocks", 2)
    assert g.card["upstream_name"] == "horse2zebra" and g.card["dataset"].startswith("horse2zebra")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(g.translate(x, size=32), ref_resnet(state, x, 9), atol=1e-5)
