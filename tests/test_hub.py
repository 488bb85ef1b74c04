"""The Hub path end to end, against a real Hub-compatible server (olah, offline, on 127.0.0.1)."""

from __future__ import annotations

import shutil

import pytest
import torch
from hubserver import HubServer

import genzoo
from genzoo import plugins
from genzoo.cli import main
from genzoo.errors import CheckpointError, HubError, OfflineError

REPO = "genzoo-test/toy"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubServer(tmp_path_factory.mktemp("hub")) as server:
        yield server


@pytest.fixture
def published(hub, tmp_path, monkeypatch):
    """Two versions of one toy model published to REPO; returns (model_v1, sha_v1, model_v2, sha_v2)."""
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    torch.manual_seed(1)
    v1 = genzoo.create("toy", width=4)
    sha1 = hub.publish(REPO, genzoo.save(v1, tmp_path / "v1", name=REPO, card={"license": "mit"}), "v1")
    v2 = genzoo.create("toy", width=4)
    sha2 = hub.publish(REPO, genzoo.save(v2, tmp_path / "v2", name=REPO), "v2")
    hub.clear_requests()
    return v1, sha1, v2, sha2


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def register(name, repo, revision):
    class Plugin:
        @genzoo.hookimpl
        def genzoo_register_models(self, registry):
            registry.add_model(name, family="toy", config={"width": 4}, source=genzoo.HubSource(repo, revision))

    plugins.register(Plugin(), name="hub-test-models")


def test_load_by_repo_id_and_pinned_revisions(published):
    v1, sha1, v2, sha2 = published
    assert_same_weights(genzoo.load(REPO), v2)  # main is the newest publish
    assert_same_weights(genzoo.load(f"{REPO}@{sha1}"), v1)
    assert_same_weights(genzoo.load(f"hf://{REPO}@{sha1}"), v1)
    assert_same_weights(genzoo.load(REPO, revision=sha1), v1)
    m = genzoo.load(f"{REPO}@{sha2}", dtype="bf16")
    assert m.dtype == torch.bfloat16 and m.source == f"{REPO}@{sha2}"


def test_load_by_registered_name_uses_the_pinned_revision(published):
    v1, sha1, _, _ = published
    register("toy-hub", REPO, sha1)  # pinned to the older commit even though main moved on
    assert_same_weights(genzoo.load("toy-hub"), v1)
    assert genzoo.info("toy-hub").source == f"hf://{REPO}@{sha1}"


def test_info_of_a_hub_repo_reads_only_its_config(published, hub):
    _, sha1, _, _ = published
    i = genzoo.info(f"{REPO}@{sha1}")
    assert (i.kind, i.family, i.source, i.card["license"]) == ("hub", "toy", f"hf://{REPO}@{sha1}", "mit")
    assert set(hub.requested_files(REPO)) == {"config.json"}  # HEAD and GET of one file


def test_partial_download_never_fetches_other_components(published, hub):
    v1, sha1, _, _ = published
    m = genzoo.load(f"{REPO}@{sha1}", components=["generator"])
    assert m.loaded_components() == ["generator"]
    fetched = hub.requested_files(REPO)
    assert "generator.safetensors" in fetched and "config.json" in fetched
    assert "discriminator.safetensors" not in fetched
    assert torch.equal(m.sample(2, seed=3), v1.eval().sample(2, seed=3))


def test_offline_with_warm_cache_works_without_any_request(published, hub, monkeypatch):
    v1, sha1, v2, _ = published
    genzoo.load(f"{REPO}@{sha1}")
    genzoo.load(REPO)  # caches main -> sha2
    hub.clear_requests()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_same_weights(genzoo.load(f"{REPO}@{sha1}"), v1)
    assert_same_weights(genzoo.load(REPO), v2)
    assert hub.requests() == []


def test_offline_with_cold_cache_says_how_to_fix_it(published, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"offline mode is on.*genzoo pull genzoo-test/toy"):
        genzoo.load(REPO)


def test_missing_repo_and_non_genzoo_repo(published, hub, tmp_path):
    with pytest.raises(HubError, match="'genzoo-test/nope' not found") as e:
        genzoo.load("genzoo-test/nope")
    assert any("genzoo tried" in note for note in e.value.__notes__)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "model.pth").write_bytes(b"\0" * 4096)
    hub.publish("genzoo-test/plain", plain)
    with pytest.raises(CheckpointError, match="not in the genzoo format.*genzoo convert"):
        genzoo.load("genzoo-test/plain")


def test_cli_pull_fills_the_cache_for_offline_use(published, hub, capsys, monkeypatch):
    _, sha1, _, _ = published
    assert main(["pull", REPO, "--revision", sha1, "--components", "generator", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["commit"] == sha1 and out["components"] == ["generator"]
    assert "README.md" in hub.requested_files(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert genzoo.load(f"{REPO}@{sha1}", components=["generator"]).loaded_components() == ["generator"]


class RecordingApi:
    """Stands in for HfApi: records every call, and 'uploads' by publishing into the test Hub."""

    calls: list = []
    hub: HubServer | None = None

    def __init__(self, endpoint=None, token=None, library_name=None, **kw):
        self.calls.append(("init", {"endpoint": endpoint, "token": token}))

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", {"repo_id": repo_id, **kw}))

    def upload_folder(self, *, folder_path, repo_id, **kw):
        files = sorted(p.name for p in folder_path.iterdir())
        self.calls.append(("upload_folder", {"repo_id": repo_id, "files": files, **kw}))
        sha = self.hub.publish(repo_id, folder_path, kw.get("commit_message") or "push")
        return type("CommitInfo", (), {"oid": sha, "commit_url": f"{self.hub.endpoint}/{repo_id}/commit/{sha}"})()


@pytest.fixture
def recording_api(hub, monkeypatch):
    import genzoo.hub

    RecordingApi.calls = []
    RecordingApi.hub = hub
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setattr(genzoo.hub, "HfApi", RecordingApi)
    return RecordingApi.calls


def test_push_to_hub_sends_the_folder_and_loads_back_bit_exact(recording_api, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    torch.manual_seed(5)
    model = genzoo.create("toy", width=4)
    info = genzoo.push_to_hub(model, "me/pushed", private=True, commit_message="first push", token="hf_explicit")
    kinds = [c[0] for c in recording_api]
    assert kinds == ["init", "create_repo", "upload_folder"]
    assert recording_api[0][1] == {"endpoint": hub.endpoint, "token": "hf_explicit"}
    assert recording_api[1][1] == {"repo_id": "me/pushed", "private": True, "exist_ok": True, "repo_type": "model"}
    upload = recording_api[2][1]
    assert upload["files"] == ["README.md", "config.json", "discriminator.safetensors", "generator.safetensors"]
    assert upload["commit_message"] == "first push" and upload["revision"] is None and upload["create_pr"] is False
    loaded = genzoo.load(f"me/pushed@{info.oid}")
    assert_same_weights(loaded, model)


def test_push_to_a_branch_creates_it(recording_api, tmp_path):
    folder = genzoo.save(genzoo.create("toy"), tmp_path / "m")
    genzoo.push_to_hub(folder, "me/branchy", revision="dev")
    kinds = {c[0]: c[1] for c in recording_api}
    assert kinds["create_branch"] == {"repo_id": "me/branchy", "branch": "dev", "exist_ok": True, "repo_type": "model"}
    assert kinds["upload_folder"]["revision"] == "dev"


def test_cli_push(recording_api, tmp_path, capsys):
    folder = genzoo.save(genzoo.create("toy"), tmp_path / "m")
    assert main(["push", str(folder), "me/cli-push", "--private", "--message", "hello"]) == 0
    assert "pushed" in capsys.readouterr().out
    kinds = {c[0]: c[1] for c in recording_api}
    assert kinds["create_repo"]["private"] is True and kinds["upload_folder"]["commit_message"] == "hello"
    shutil.rmtree(folder)
