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

from tests.helpers import run

pytestmark = pytest.mark.slow  # the app in Chromium

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
    url = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and url is None:
        line = proc.stdout.readline().decode()
        if not line and proc.poll() is not None:
            pytest.fail("tutor serve ended early")
        match = re.search(r"(http://\S+/[0-9a-f]{48}/)", line)
        url = match.group(1) if match else None
    assert url, "tutor serve printed no address with a token"
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield url
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
    import tutor.web

    started = {}

    class FakeServer:
        url = "http://x/t0k3n/"

        def serve(self):
            started["served"] = True

    def fake_make_server(command, **options):
        started.update(command=command, **options)
        return FakeServer()

    monkeypatch.setattr(tutor.web, "make_server", fake_make_server)
    assert run("init", tmp_path / "ws").exit_code == 0
    result = run("serve", "--workspace", tmp_path / "ws", "--host", "0.0.0.0", "--port", "8123")
    assert result.exit_code == 0 and started["served"]
    assert "'tutor'" in started["command"] and " app --workspace " in started["command"] and str(tmp_path / "ws") in started["command"]
    assert "-m tutor" not in started["command"]  # never imports from the current folder
    assert started["host"] == "0.0.0.0" and started["port"] == 8123
    assert "anyone who can reach port 8123 can run code" in result.text
    assert "http://x/t0k3n/" in result.text
    quiet = run("serve", "--workspace", tmp_path / "ws")
    assert "anyone" not in quiet.text and started["host"] == "localhost"


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _websocket(url: str, origin: str) -> int:
    """The HTTP status of a WebSocket handshake with this Origin (101: accepted)."""
    import base64
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        path = parts.path.rstrip("/") + "/ws"
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n").encode())
        return int(s.recv(1024).split()[1])


def test_serve_needs_the_token_its_own_origin_and_host(server):
    base = server.rstrip("/").rsplit("/", 1)[0]
    token = server.rstrip("/").rsplit("/", 1)[1]
    assert _get(server) == 200
    assert _get(base + "/") == 403  # no token
    assert _get(base + "/" + "0" * 48 + "/") == 403  # a wrong one
    assert _get(f"{base}/?token={token}") == 403  # the token where the path should hold it
    assert _get(server, {"Host": "evil.example:80"}) == 403  # a DNS-rebinding page
    assert _get(server, {"Origin": "http://evil.example"}) == 403
    # The attack that worked: a page on another site opens the app's WebSocket.
    assert _websocket(server, "http://evil.example") == 403
    assert _websocket(base + "/", base) == 403  # right origin, no token
    assert _websocket(server, base) == 101


def _headers(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return {k.lower(): v for k, v in r.headers.items()}


def test_no_other_local_server_can_learn_the_token(server):
    """Browsers send a host's cookies to every port of that host: the token is in no cookie,
    a cookie with it is not taken in its place, and the pages send no Referer."""
    base = server.rstrip("/").rsplit("/", 1)[0]
    token = server.rstrip("/").rsplit("/", 1)[1]
    port = base.rsplit(":", 1)[1]
    headers = _headers(server)
    assert "set-cookie" not in headers and headers["referrer-policy"] == "no-referrer"
    static = _headers(server + "static/js/textual.js")
    assert "set-cookie" not in static
    # Replaying what a cookie would have carried, with no Origin, as another server could:
    for name in ("tutor_token", f"tutor_token_{port}"):
        assert _get(base + "/", {"Cookie": f"{name}={token}"}) == 403
        assert _websocket(base + "/", base) == 403
