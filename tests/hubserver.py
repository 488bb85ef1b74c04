"""A real, local, offline Hugging Face Hub for tests.

``HubServer`` runs `olah <https://github.com/vtuber-plan/olah>`_ (a Hub mirror
server) as a subprocess on ``127.0.0.1``, in offline mode, serving git
repositories from a local *mirrors* folder.  ``huggingface_hub`` talks to it
exactly as it talks to huggingface.co (``hf_hub_download``,
``snapshot_download``, ``HfApi().model_info`` / ``list_repo_refs`` /
``list_repo_files`` ...), so tests exercise the real client code path --
HEAD/GET of ``/resolve/`` URLs, revision resolution, the on-disk cache -- with
no network and no mocking.

Typical use::

    with HubServer(tmp_path) as hub:
        sha = hub.publish("genzoo-test/tiny", folder)
        path = hf_hub_download("genzoo-test/tiny", "config.json",
                               revision=sha, endpoint=hub.endpoint,
                               cache_dir=tmp_path / "hf-cache")
        assert "discriminator.safetensors" not in hub.requested_files("genzoo-test/tiny")

Pass ``endpoint=hub.endpoint`` explicitly: ``huggingface_hub`` reads
``HF_ENDPOINT`` once, at import time.

Why the helper writes a little into olah's cache folder
--------------------------------------------------------
olah 0.5.4 serves mirrored repos live from git for everything that names a
revision (``/resolve/<rev>/...``, ``/api/models/<id>/revision/<rev>``, tree,
refs, paths-info, commits).  Two lookups, however, only consult its offline
*cache* folder (``repos-path``), never the mirror:

* ``GET /api/models/<id>`` (``HfApi().model_info(repo_id)`` with no revision)
  asks for the newest commit, found from ``api/.../revision/*/meta_head.json``;
* a file missing from a mirrored revision falls through to the proxy path,
  which resolves a branch name via ``api/.../revision/<branch>/resolved_commit.json``
  and otherwise answers "repository not found".

``publish`` therefore records, for the repo it just committed, the newest
commit and the ``main`` -> sha mapping in the format olah itself writes.  With
that, ``model_info`` without a revision works and a missing file on ``main``
raises ``EntryNotFoundError`` as on the real Hub (instead of
``RepositoryNotFoundError``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote

__all__ = ["HubServer", "HubRequest"]

# Branch that ``publish`` commits to; also the Hub's default revision.
BRANCH = "main"

# A request line of uvicorn's access log, e.g.
#   INFO:     127.0.0.1:33498 - "HEAD /org/repo/resolve/main/config.json HTTP/1.1" 200 OK
_ACCESS_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3})'
)
# A file URL: /[datasets|spaces/]<org>/<name>/resolve/<revision>/<file path>
_RESOLVE_PATH = re.compile(
    r"^/(?:(?P<type>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Runs olah's own CLI (``olah.server.main``, what ``python -m olah.server``
# runs) after hardening olah 0.5.4's git mirror reader.  Its methods catch only
# ``BadName``, so a well-formed but unknown 40-hex sha raises ``ValueError``
# and a missing file in ``get_file`` raises ``KeyError``: both become HTTP 500,
# on which huggingface_hub retries for ~25 s, and uvicorn drops the keep-alive
# connection, which then breaks the client's next request.  Answering ``None``
# ("not in this mirror") instead lets olah take its normal offline miss path: a
# clean 404 EntryNotFound.  The wrapper also closes the per-request GitPython
# repo.  If olah's internals differ, the patch is skipped.
_BOOTSTRAP = """
import functools, sys

def _harden_mirror_reader():
    try:
        import gitdb
        from olah.mirror.repos import LocalMirrorRepo
    except ImportError:
        return
    unknown_revision = (ValueError, gitdb.exc.BadName, gitdb.exc.BadObject)

    def guard(method):
        @functools.wraps(method)
        def wrapper(self, commit_hash, *args, **kwargs):
            try:
                self._git_repo.commit(commit_hash)
                return method(self, commit_hash, *args, **kwargs)
            except (KeyError, *unknown_revision):
                return None
            finally:
                # Results are fully read by now; without this every request
                # leaves two `git cat-file` processes running until GC.
                self._git_repo.close()
        return wrapper

    for name in ("get_file_head", "get_file", "get_meta", "get_tree", "get_pathinfos", "get_commits"):
        if hasattr(LocalMirrorRepo, name):
            setattr(LocalMirrorRepo, name, guard(getattr(LocalMirrorRepo, name)))

_harden_mirror_reader()
sys.argv[0] = "olah"
from olah.server import main
main()
"""

# olah 0.5.4 reads any git blob of 121..149 bytes as a possible git-lfs pointer
# and decodes it as UTF-8 first; a binary file of that size makes it answer 500.
_LFS_SNIFF_MIN, _LFS_SNIFF_MAX = 120, 150

# git must not pick up the developer's config (autocrlf, hooks, lfs filters,
# signing): the bytes committed must be the bytes in the folder.
_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}
_GIT_IDENTITY = [
    "-c", "user.name=genzoo tests",
    "-c", "user.email=tests@genzoo.invalid",
    "-c", "commit.gpgsign=false",
    "-c", "core.autocrlf=false",
]


@dataclass(frozen=True)
class HubRequest:
    """One HTTP request the server answered, as read from its access log."""

    method: str
    """``GET``, ``HEAD``, ``POST`` ..."""
    path: str
    """URL path as logged (query string included, still percent-encoded)."""
    status: int
    """HTTP status code of the answer."""


class HubServer:
    """A Hugging Face Hub-compatible server (olah, offline) on ``127.0.0.1``.

    Everything lives under ``root``: ``mirrors/`` (the git repos served),
    ``olah-cache/`` (olah's own cache dir), ``logs/``, ``olah.toml`` and
    ``olah.log`` (the subprocess' stdout+stderr, which holds the access log).

    Attributes:
        root: the folder given to the constructor.
        mirrors: folder of served repos, laid out as ``models/<org>/<name>``
            (each a non-bare git repo with branch ``main``).
        endpoint: ``http://127.0.0.1:<port>`` once started, else ``""``; kept
            after ``stop()`` (and reused by a later ``start()`` if possible).
    """

    def __init__(self, root: str | os.PathLike[str], *, startup_timeout: float = 30.0) -> None:
        self.root = Path(root).resolve()
        self.mirrors = self.root / "mirrors"
        self.endpoint = ""
        self.startup_timeout = startup_timeout
        self._cache = self.root / "olah-cache"
        self._logs = self.root / "logs"
        self._config = self.root / "olah.toml"
        self._log_file = self.root / "olah.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_mark = 0  # byte offset in olah.log where "recorded requests" start

    # ------------------------------------------------------------------ life
    def start(self) -> "HubServer":
        """Start olah on a free port and wait until it answers HTTP.

        Raises ``RuntimeError`` (carrying olah's output) if it exits or does
        not answer within ``startup_timeout`` seconds.  A port taken between
        choosing and binding it is retried with a new port.
        """
        if self._proc is not None:
            raise RuntimeError("HubServer already started")
        for sub in (self.mirrors / "models", self._cache, self._logs):
            sub.mkdir(parents=True, exist_ok=True)
        # A restarted server keeps its endpoint when the old port is still free.
        previous = int(self.endpoint.rsplit(":", 1)[1]) if self.endpoint else None
        last_error: RuntimeError | None = None
        for attempt in range(3):
            try:
                self._launch(previous if attempt == 0 and previous else _free_port())
                return self
            except _PortInUse as error:
                last_error = RuntimeError(str(error))
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop olah (and the git helpers it spawned); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            # olah runs in its own session: signal the whole group so the
            # ``git cat-file`` processes GitPython starts go too.
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        _signal_group(proc, signal.SIGKILL)  # stragglers in the group, if any

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the olah subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _launch(self, port: int) -> None:
        self._write_config(port)
        env = dict(os.environ)
        env.update(PYTHONUNBUFFERED="1", NO_COLOR="1")
        with open(self._log_file, "ab") as log:
            self._log_mark = log.tell()
            # olah.server.init() logs relative to the cwd; keep it inside root.
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP,
                 "--config", str(self._config), "--log-path", str(self._logs)],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                output = self._olah_output()
                self._proc = None
                if "address already in use" in output.lower():
                    raise _PortInUse(f"port {port} was taken:\n{output}")
                raise RuntimeError(f"olah exited during startup (see {self._log_file}):\n{output}")
            if _answers_http(endpoint):
                self.endpoint = endpoint
                # The readiness probe is not a request the test made.
                self.clear_requests()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"olah did not answer on {endpoint} within {self.startup_timeout:.0f}s "
            f"(see {self._log_file}):\n{self._olah_output()}"
        )

    def _write_config(self, port: int) -> None:
        # Offline: olah never contacts huggingface.co (no visibility probes,
        # no periodic connectivity check, no upstream fallback for misses).
        # hf-* point at a closed local port anyway, as a second safety net.
        config = (
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {port}\n"
            f"repos-path = {json.dumps(str(self._cache))}\n"
            f"mirrors-path = [{json.dumps(str(self.mirrors))}]\n"
            'hf-scheme = "http"\n'
            'hf-netloc = "127.0.0.1:9"\n'
            'hf-lfs-netloc = "127.0.0.1:9"\n'
            "\n[accessibility]\n"
            "offline = true\n"
        )
        self._config.write_text(config, encoding="utf-8")

    def _olah_output(self, limit: int = 20000) -> str:
        try:
            data = self._log_file.read_bytes()[self._log_mark:]
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    # --------------------------------------------------------------- publish
    def repo_path(self, repo_id: str) -> Path:
        """Mirror git repo folder olah serves ``repo_id`` (a model) from."""
        parts = repo_id.split("/")
        if not 1 <= len(parts) <= 2 or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid repo_id {repo_id!r}")
        return self.mirrors.joinpath("models", *parts)

    def publish(self, repo_id: str, folder: str | os.PathLike[str], message: str = "publish") -> str:
        """Make ``folder``'s files the new content of model repo ``repo_id``.

        Creates the mirror repo on first publish.  Each call makes exactly one
        commit on ``main`` whose tree is exactly ``folder`` (files absent from
        it are deleted; an identical tree still gets a new, empty commit) and
        returns its full 40-hex sha.  The server may be running or not.

        Raises ``ValueError`` for a binary file of 121..149 bytes, which olah
        0.5.4 cannot serve (it sniffs that size range for git-lfs pointers and
        fails with HTTP 500 on non-UTF-8 data).
        """
        source = Path(folder)
        if not source.is_dir():
            raise NotADirectoryError(source)
        _check_servable(source)
        repo = self.repo_path(repo_id)
        if not (repo / ".git").is_dir():
            repo.mkdir(parents=True, exist_ok=True)
            _git(repo, "init", "-q")
            _git(repo, "symbolic-ref", "HEAD", f"refs/heads/{BRANCH}")
        for entry in repo.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        shutil.copytree(source, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
        _git(repo, "add", "--all", "--force", ".")
        _git(repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)
        sha = _git(repo, "rev-parse", "HEAD").strip()
        self._record_head(repo_id, sha)
        return sha

    def _record_head(self, repo_id: str, sha: str) -> None:
        """Seed olah's offline cache with the newest commit and ``main``'s sha.

        See the module docstring: ``model_info`` without a revision and the
        "missing file" answer only look there.  Formats are olah 0.5.4's
        (``utils/repo_utils.py``: ``get_newest_commit_hf_offline`` accepts a
        plain ``{"sha", "lastModified"}`` document; ``resolved_commit.json`` is
        a ``write_cache_request`` envelope with the sha in a ``.body`` file).
        """
        revisions = self._cache / "api" / "models" / repo_id / "revision"
        for old in revisions.glob("*/meta_head.json"):
            old.unlink()
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        _atomic_write(revisions / sha / "meta_head.json",
                      json.dumps({"sha": sha, "lastModified": now}).encode())
        resolved = revisions / BRANCH / "resolved_commit.json"
        _atomic_write(resolved.with_name(resolved.name + ".body"), sha.encode("ascii"))
        _atomic_write(resolved, json.dumps(
            {"status_code": 200, "headers": {}, "cached_at": time.time()}).encode())

    # -------------------------------------------------------------- requests
    def requests(self) -> list[HubRequest]:
        """Requests answered since start (or the last ``clear_requests``), in order.

        Parsed from olah's (uvicorn's) access log, which is written before the
        response is sent, so a request the client has seen answered is listed.
        """
        try:
            with open(self._log_file, "rb") as log:
                log.seek(self._log_mark)
                text = log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            match = _ACCESS_LINE.search(_ANSI.sub("", line))
            if match:
                found.append(HubRequest(match["method"], match["path"], int(match["status"])))
        return found

    def requested_paths(self) -> list[str]:
        """``"METHOD /path"`` strings of ``requests()``, e.g.
        ``"HEAD /genzoo-test/tiny/resolve/main/config.json"``."""
        return [f"{r.method} {r.path}" for r in self.requests()]

    def requested_files(self, repo_id: str | None = None) -> list[str]:
        """Repo file paths asked for through ``/resolve/`` (HEAD or GET).

        This is what tells whether a file was touched at all: ``hf_hub_download``
        sends a HEAD (metadata) then a GET (bytes) for a file not already in its
        cache.  Restricted to ``repo_id`` if given.  Order kept, duplicates kept.

        Caveat: uvicorn logs the decoded path, so a revision containing ``/``
        (``refs/pr/1``) is misparsed; branch names and shas are fine.
        """
        files = []
        for req in self.requests():
            match = _RESOLVE_PATH.match(req.path.split("?", 1)[0])
            if match and (repo_id is None or unquote(match["repo"]) == repo_id):
                files.append(unquote(match["file"]))
        return files

    def clear_requests(self) -> None:
        """Forget requests so far: later ``requests()`` start after this point."""
        try:
            self._log_mark = self._log_file.stat().st_size
        except FileNotFoundError:
            self._log_mark = 0


# ---------------------------------------------------------------- helpers
class _PortInUse(RuntimeError):
    """olah could not bind the chosen port (someone took it meanwhile)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_http(endpoint: str) -> bool:
    """True once the server answers; any HTTP status counts.

    The probe hits a route olah answers from local state only (offline, no
    mirror for this name -> 401 "repo not found"), never one it would proxy.
    """
    url = f"{endpoint}/api/models/hubserver-probe/ready/revision/{BRANCH}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore *_PROXY
    try:
        with opener.open(urllib.request.Request(url, method="HEAD"), timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *_GIT_IDENTITY, *args],
        cwd=repo,
        env={**os.environ, **_GIT_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}:\n{result.stderr}")
    return result.stdout


def _check_servable(folder: Path) -> None:
    for path in folder.rglob("*"):
        if ".git" in path.relative_to(folder).parts or not path.is_file():
            continue
        size = path.stat().st_size
        if _LFS_SNIFF_MIN < size < _LFS_SNIFF_MAX:
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(
                    f"{path} is {size} bytes of binary data; olah 0.5.4 answers HTTP 500 "
                    f"for binary files of {_LFS_SNIFF_MIN + 1}..{_LFS_SNIFF_MAX - 1} bytes "
                    "(it sniffs that size for git-lfs pointers). Make the file smaller "
                    "or larger, e.g. use a bigger tensor."
                ) from None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
