"""Browser mode: `tutor serve`, opened in headless Chromium as a learner would."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_cli import run

CHROMIUM = next((p for p in (os.environ.get("TUTOR_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and Path(p).is_file()), None)
ANSI = re.compile(r"\x1b(\[[0-9;?$]*[A-Za-z~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screen_text(frames: list) -> str:
    """What the app has drawn so far: the bytes the page received, without escape sequences."""
    raw = b"".join(f if isinstance(f, bytes) else f.encode() for f in frames)
    return ANSI.sub("", raw.decode("utf-8", "ignore"))


@pytest.fixture
def server(tmp_path, tutor_home):
    pytest.importorskip("textual_serve")
    assert run("init", tmp_path / "ws").exit_code == 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tutor", "serve", "--workspace", str(tmp_path / "ws"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "TUTOR_HOME": str(tutor_home)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("tutor serve ended early:\n" + proc.stdout.read().decode())
            time.sleep(0.2)
    yield f"http://localhost:{port}"
    os.killpg(proc.pid, signal.SIGTERM)  # the server and the app process of each browser tab
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install chromium)")
def test_the_lesson_map_in_a_browser(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    frames: list = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
            page.goto(server)

            def wait_for(*words: str, timeout: float = 60) -> str:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    page.wait_for_timeout(250)
                    text = screen_text(frames)
                    if all(w in text for w in words):
                        return text
                raise AssertionError(f"the page never showed {words}; it showed:\n{screen_text(frames)[-2000:]}")

            # The lesson map: every part, lesson 1 next, lesson 2 locked.
            wait_for("build a GPT from scratch", "The edit-check loop", "Self-attention", "Fine-tune and chat", "locked")
            assert "-first-byte" in (page.get_attribute("body", "class") or "")  # the terminal drew it
            page.screenshot(path=str(tmp_path / "lesson-map.png"))
            # A key press in the page reaches the app: Enter opens lesson 1.
            frames.clear()
            page.focus(".xterm-helper-textarea")  # where xterm.js takes keys, as after a click
            page.keyboard.press("Enter")
            wait_for("Lesson 1", "warmup.py")
        finally:
            browser.close()


def test_serve_explains_what_it_needs(tmp_path, monkeypatch):
    assert run("init", tmp_path / "ws").exit_code == 0
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # as if the extra were not installed
    result = run("serve", "--workspace", tmp_path / "ws")
    assert result.exit_code == 1 and "pip install 'tutor[web]'" in result.text


def test_serve_warns_before_leaving_localhost(tmp_path, monkeypatch):
    pytest.importorskip("textual_serve")
    import textual_serve.server

    started = {}

    class FakeServer:
        def __init__(self, command, **options):
            started.update(command=command, **options)

        def serve(self):
            started["served"] = True

    monkeypatch.setattr(textual_serve.server, "Server", FakeServer)
    assert run("init", tmp_path / "ws").exit_code == 0
    result = run("serve", "--workspace", tmp_path / "ws", "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0 and started["served"]
    assert "-m tutor app --workspace" in started["command"] and str(tmp_path / "ws") in started["command"]
    assert started["host"] == "0.0.0.0" and started["port"] == 8123
    assert "anyone who can reach port 8123 can run code" in result.text
    quiet = run("serve", "--workspace", tmp_path / "ws")
    assert "anyone" not in quiet.text and started["host"] == "localhost"
