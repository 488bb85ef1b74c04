"""`genzoo demo`: the page plan (no browser), the server and command, and the page in a real headless Chromium.

The browser tests skip when Gradio, Playwright or Chromium is missing, unless
``GENZOO_REQUIRE_BROWSER=1`` (``.ci/run`` sets it once Chromium is installed):
then a missing piece fails the run instead of hiding the test.
Set ``GENZOO_DEMO_SCREENSHOTS=DIR`` to keep the screenshots (docs/images/demo-*.png are made so).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import genzoo
from genzoo.demo import WIDGET_KINDS, DemoServer, page_plan, show_result, task_options
from genzoo.errors import ConfigError, GenzooError
from genzoo.latent import PATHS
from genzoo.model import GenzooModel

ROOT = Path(__file__).resolve().parents[1]
# Gradio's queue calls pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|The copy keyword is deprecated).*")


def widgets(tab) -> dict[str, tuple[str, object]]:
    return {w.option: (w.kind, w.value) for w in tab.widgets}


# -- the page plan: which widgets each model gets (no Gradio needed) -----------------------
def test_plan_vae_tabs_follow_the_declared_tasks():
    tabs = page_plan(genzoo.load("vae-digits"))
    assert [t.name for t in tabs] == ["sample", "reconstruct", "interpolate"]  # default task first
    sample, reconstruct, interpolate = tabs
    assert widgets(sample) == {"n": ("slider", 64), "seed": ("number", 0), "nrow": ("slider", 8)}  # the task's own defaults
    assert widgets(reconstruct)["inputs"] == ("files", None)
    assert widgets(interpolate)["steps"] == ("slider", 10)
    path = next(w for w in interpolate.widgets if w.option == "path")
    assert (path.kind, path.choices, path.value) == ("radio", PATHS, "spherical")
    assert all(not t.hidden for t in tabs)


def test_plan_cgan_gets_a_class_picker_of_its_class_ids():
    sample, interpolate = page_plan(genzoo.load("cgan-digits"))
    picker = next(w for w in sample.widgets if w.option == "labels")
    assert picker.kind == "classes" and picker.choices == tuple(str(i) for i in range(10)) and picker.value == []
    assert widgets(interpolate)["labels"][0] == "classes"


def test_plan_clip_gets_uploads_and_text_prompts():
    (tab,) = page_plan(genzoo.load("clip-digits"))
    assert tab.name == "zero_shot" and tab.returns == "table"
    assert widgets(tab) == {
        "inputs": ("files", None), "classes": ("text", ""), "templates": ("lines", ""),
        "n": ("slider", 16), "seed": ("number", 0),
    }  # fmt: skip


def test_plan_translation_model_gets_an_upload():
    (tab,) = page_plan(genzoo.load("cyclegan-digits-bold"))
    assert tab.name == "translate" and widgets(tab)["inputs"] == ("files", None)
    assert widgets(tab)["n"] == ("slider", 8)  # the task's default is None: the page starts at 8, as the task does


@dataclass
class _Config:
    size: int = 4


class _Unusual(GenzooModel):
    """A family with an option the page has no widget for, and labels without a num_classes in its config."""

    family = "unusual"
    config_class = _Config

    @genzoo.task("sample", default=True)
    def run_sample(self, n: int = 3, temperature: float = 1.0, labels=None):
        """Samples."""


def test_plan_unknown_options_are_listed_not_guessed_and_labels_fall_back_to_typed_ids():
    (tab,) = page_plan(_Unusual(_Config()))
    assert "temperature" not in WIDGET_KINDS and tab.hidden == ("temperature",)
    labels = next(w for w in tab.widgets if w.option == "labels")
    assert labels.kind == "text" and "0-9" in labels.label
    assert task_options(tab, [5, "1-3,7"]) == {"n": 5, "labels": [1, 2, 3, 7]}


def test_task_options_empty_widgets_mean_the_task_default():
    sample, interpolate = page_plan(genzoo.load("cgan-digits"))
    assert task_options(sample, [10.0, [], None]) == {"n": 10, "labels": None, "seed": None}
    assert task_options(sample, [2, ["3", "7"], 5]) == {"n": 2, "labels": [3, 7], "seed": 5}
    with pytest.raises(ValueError):  # one value per widget, no more, no fewer
        task_options(sample, [2, ["3"]])
    (clip,) = page_plan(genzoo.load("clip-digits"))
    values = [["/x/a.png", "/x/b.png"], " zero, one ,, two", "a photo of {}.\n\n{} written by hand.", 4, 0]
    assert task_options(clip, values) == {
        "inputs": ["/x/a.png", "/x/b.png"], "classes": ["zero", "one", "two"],
        "templates": ["a photo of {}.", "{} written by hand."], "n": 4, "seed": 0,
    }  # fmt: skip


def test_show_result_images_and_table():
    model = genzoo.load("cgan-digits")
    sample, _ = page_plan(model)
    result = model.run_task("sample", **task_options(sample, [2, ["3", "7"], 0]))
    grid, rows, headers, text = show_result(result, "images")
    # 2 rows (classes 3 and 7) of 2 digits of 16 px with 2 px padding, enlarged 6x (16 px -> 96 px)
    assert grid.size == ((2 * 18 + 2) * 6, (2 * 18 + 2) * 6) and (rows, headers, text) == ([], [], "4 images")
    clip = genzoo.load("clip-digits")
    grid, rows, headers, text = show_result(clip.run_task("zero_shot", n=3), "table")
    assert headers[:3] == ["input", "prediction", "probability"] and len(rows) == 3
    assert isinstance(rows[0][headers.index("top")], str) and text.startswith("accuracy: ")
    assert grid.size == ((3 * 18 + 2) * 6, 20 * 6)


def test_card_beside_the_tasks_is_the_model_card_without_yaml():
    from genzoo.demo import card_markdown

    text = card_markdown(genzoo.load("cgan-digits"))
    assert text.startswith("# cgan-digits") and "library_name" not in text
    assert "class_accuracy" in text and "**Inputs:** 1 channel(s), 16x16" in text


def test_require_gradio_is_a_genzoo_error_when_gradio_is_missing(monkeypatch):
    from genzoo.demo import require_gradio

    monkeypatch.setitem(sys.modules, "gradio", None)  # what Python does for a module that is not installed
    with pytest.raises(GenzooError, match=r'needs Gradio.*pip install "genzoo\[demo\]"'):
        require_gradio()


def test_demo_without_gradio_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "blocked" / "gradio"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named gradio (blocked by the test)')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "genzoo", "demo", "vae-digits"], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith("genzoo: error: genzoo demo needs Gradio") and 'pip install "genzoo[demo]"' in out.stderr
    assert "Traceback" not in out.stderr


# -- the server (needs Gradio) ------------------------------------------------------------------
def _need(*modules: str, browser: bool = False) -> None:
    """Skip (or, with GENZOO_REQUIRE_BROWSER=1, fail) when a piece of the demo stack is missing."""
    missing = [f"{m} (pip install -e '.[test]')" for m in modules if importlib.util.find_spec(m) is None]
    if browser and shutil.which("chromium") is None:
        missing.append("chromium on PATH (apt-get install chromium)")
    if missing:
        reason = f"the demo test needs {', '.join(missing)}"
        if os.environ.get("GENZOO_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; GENZOO_REQUIRE_BROWSER=1 says it must run here")
        pytest.skip(reason)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode("utf-8", "replace")


def test_serve_answers_on_localhost_and_close_stops_it():
    _need("gradio")
    from genzoo.demo import serve

    with serve(genzoo.load("vae-digits")) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, html = _get(server.url)
        assert status == 200 and "genzoo demo: vae-digits" in html
    with pytest.raises(urllib.error.URLError):
        _get(server.url)


def test_serve_on_a_busy_port_is_a_clear_error():
    _need("gradio")
    from genzoo.demo import serve

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve the demo on 127.0.0.1:{port} .*choose another --port"):
            serve(genzoo.load("toy-digits"), port=port)
    with pytest.raises(ConfigError, match="--port must be between 1 and 65535, got 70000"):
        serve(genzoo.load("toy-digits"), port=70000)


def test_cli_demo_prints_the_url_serves_and_stops_on_ctrl_c():
    _need("gradio")
    from genzoo.demo import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "genzoo", "demo", "toy-digits", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()  # printed once the server answers
        assert line.strip() == f"genzoo demo of toy-digits: http://127.0.0.1:{port}/  (Ctrl-C to stop)", proc.stderr.read()
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # the CLI bounds the close at 15 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip().endswith("genzoo demo: stopped") and "Traceback" not in err
    with pytest.raises(urllib.error.URLError):
        _get(f"http://127.0.0.1:{port}/")


def test_demo_shutdown_is_bounded_when_the_server_hangs():
    """Ctrl-C ends `genzoo demo` even if the server's close never returns: close_within gives up after its time."""
    import threading
    import time

    from genzoo.cli import close_within

    release = threading.Event()
    t = time.perf_counter()
    assert close_within(lambda: release.wait(60), 0.3) is False  # a close that hangs
    assert time.perf_counter() - t < 5
    release.set()
    closed = []
    assert close_within(lambda: closed.append(1), 5) is True and closed == [1]


# -- the page in a real headless browser -------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    _need("gradio", "playwright", browser=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"))
        yield chromium
        chromium.close()


def _open(browser, server: DemoServer):
    page = browser.new_page(viewport={"width": 1280, "height": 960})
    page.set_default_timeout(30_000)
    page.goto(server.url)
    return page


def _check_output(page, task: str, card_text: str, tmp_path: Path, shot: str) -> tuple[int, int]:
    """Wait for the task's image, screenshot the page, check the image has a size and the card shows."""
    image = page.locator(f"#image-{task} img")
    image.wait_for(state="visible")
    box = image.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    card = page.locator("#model-card")
    assert card.is_visible() and card_text in card.inner_text()
    page.evaluate("window.scrollTo(0, 0)")  # the page as it opens, with the result in view
    page.screenshot(path=tmp_path / shot)
    assert (tmp_path / shot).stat().st_size > 0
    if keep := os.environ.get("GENZOO_DEMO_SCREENSHOTS"):  # kept small for the docs: 64 colours
        from PIL import Image

        Path(keep).mkdir(parents=True, exist_ok=True)
        Image.open(tmp_path / shot).convert("RGB").quantize(64).save(Path(keep) / shot, optimize=True)
    return tuple(image.evaluate("img => [img.naturalWidth, img.naturalHeight]"))


def test_browser_vae_samples_with_a_seed(browser, tmp_path):
    from genzoo.demo import serve

    with serve(genzoo.load("vae-digits")) as server:
        page = _open(browser, server)
        from playwright.sync_api import expect

        expect(page).to_have_title("genzoo demo: vae-digits")  # the page sets it once its script has run
        page.locator("#seed-sample input").fill("3")
        page.locator("#n-sample input[type=number]").fill("16")
        page.get_by_role("button", name="Run sample").click()
        size = _check_output(page, "sample", "scikit-learn digits", tmp_path, "demo-vae.png")
    assert size == ((8 * 18 + 2) * 6, (2 * 18 + 2) * 6)  # 16 samples, 8 a row: the n widget reached the task


def test_browser_cgan_class_picker(browser, tmp_path):
    from genzoo.demo import serve

    with serve(genzoo.load("cgan-digits")) as server:
        page = _open(browser, server)
        for label in ("3", "7"):
            page.locator("#labels-sample input").click()
            page.get_by_role("option", name=label, exact=True).click()
        page.get_by_role("button", name="Run sample").click()
        size = _check_output(page, "sample", "class_accuracy", tmp_path, "demo-cgan.png")
    assert size == ((10 * 18 + 2) * 6, (2 * 18 + 2) * 6)  # two rows (classes 3 and 7) of 10: the picker reached the task


def test_browser_cyclegan_upload_and_translate(browser, tmp_path):
    from genzoo.data import DigitsDataset
    from genzoo.demo import serve
    from genzoo.images import save_image

    digit = save_image(DigitsDataset("test", size=16, channels=1).images[0], tmp_path / "digit.png")[0]
    with serve(genzoo.load("cyclegan-digits-bold")) as server:
        page = _open(browser, server)
        page.locator("#inputs-translate input[type=file]").set_input_files(str(digit))
        page.locator("#inputs-translate").get_by_text("digit.png").wait_for()  # uploaded
        page.get_by_role("button", name="Run translate").click()
        size = _check_output(page, "translate", "digits-bold", tmp_path, "demo-cyclegan.png")
    assert size == ((18 + 2) * 6, (2 * 18 + 2) * 6)  # the uploaded digit over its translation, not 8 test digits


def test_browser_clip_zero_shot_with_typed_classes(browser, tmp_path):
    from genzoo.demo import serve

    with serve(genzoo.load("clip-digits")) as server:
        page = _open(browser, server)
        page.locator("#classes-zero_shot textarea").fill("zero, one, two, three, four, five, six, seven, eight, nine")
        page.locator("#n-zero_shot input[type=number]").fill("4")
        page.get_by_role("button", name="Run zero_shot").click()
        _check_output(page, "zero_shot", "zero_shot_accuracy", tmp_path, "demo-clip.png")
        table = page.locator("#table-zero_shot")
        assert table.is_visible() and table.get_by_text("test digit").filter(visible=True).count() == 4
        assert page.get_by_text("accuracy: ").is_visible()


def test_docs_page_runs(tmp_path):
    """docs/demo.md's blocks run as a reader would (the server ones are marked no-run and say why)."""
    _need("gradio")
    from docs_runner import blocks, run_page

    page = ROOT / "docs" / "demo.md"
    skipped = run_page(page, tmp_path)
    assert any("starts a web server" in s for s in skipped)
    assert [b.lang for b in blocks(page) if not b.skip] == ["python"]
