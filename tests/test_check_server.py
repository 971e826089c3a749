"""The check server: the same verdicts as a worker of one's own, one server per workspace and
version, gone when idle or killed, and the quick path of `tutor check` through it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tutor.engine import check_client
from tutor.engine.check_client import ServerRunner
from tutor.engine.lessons import load_registry
from tutor.engine.runner import CheckRunner
from tutor.engine.stubs import solution_files

REGISTRY = load_registry()
LESSON_1 = REGISTRY.get(1)
GOOD = solution_files()["warmup.py"]


@pytest.fixture
def servers(monkeypatch, tmp_path):
    """Servers on: every one started here is ended after the test."""
    monkeypatch.setenv("TUTOR_CHECK_SERVER", "1")
    started: list[int] = []

    def runner(ws, **kw) -> ServerRunner:
        r = ServerRunner(ws.root, timeout=kw.pop("timeout", 30), **kw)
        started.append(r)
        return r

    yield runner
    for r in started:
        r.close()
        if r.server_pid:
            try:
                os.kill(r.server_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of this test process (the server that a runner here spawned) has ended too.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


WRONG = "def softmax(scores):\n    return [1.0 / len(scores)] * len(scores)\n"
HOSTILE = {
    "exits": "import os\n\ndef softmax(scores):\n    os._exit(1)\n",
    "loops": "def softmax(scores):\n    while True:\n        pass\n",
    "kills its worker": "import os, signal\n\ndef softmax(scores):\n    os.kill(os.getppid(), signal.SIGKILL)\n",
    "forges on every descriptor": textwrap.dedent("""
        import json, os

        def softmax(scores):
            for fd in range(3, 256):
                try:
                    os.write(fd, (json.dumps({"id": "x", "status": "passed", "checks": []}) + "\\n").encode())
                except OSError:
                    pass
            return [1.0]
    """),
}


@pytest.mark.parametrize("name", ["good", "wrong", *HOSTILE])
def test_verdicts_through_the_server_equal_those_without(name, servers, make_workspace):
    body = {"good": GOOD, "wrong": WRONG, **HOSTILE}[name]
    ws = make_workspace(overrides={"warmup.py": body})
    through = servers(ws, timeout=3).check(ws, LESSON_1, seed=7)
    with CheckRunner(timeout=3) as own:
        alone = own.check(ws, LESSON_1, seed=7)
    assert through.status == alone.status, (through.message, alone.message)
    assert [(c.name, c.status) for c in through.checks] == [(c.name, c.status) for c in alone.checks]
    assert (through.status == "passed") == (name == "good")


def test_a_second_call_reuses_the_server_and_a_stale_one_is_replaced(servers, make_workspace, monkeypatch):
    ws = make_workspace()
    first = servers(ws)
    assert first.check(ws, LESSON_1).passed and first.started_server
    again = servers(ws)
    assert again.check(ws, LESSON_1).passed and not again.started_server
    assert again.server_pid == first.server_pid
    monkeypatch.setattr(check_client, "version", lambda: "an-upgraded-tutor")
    upgraded = servers(ws)
    assert upgraded.check(ws, LESSON_1).passed and upgraded.started_server
    assert upgraded.server_pid != first.server_pid
    assert wait_until(lambda: not alive(first.server_pid)), "the stale server is still running"


def test_two_workspaces_never_share_a_server(servers, make_workspace):
    good, wrong = make_workspace(), make_workspace(overrides={"warmup.py": WRONG})
    a, b = servers(good), servers(wrong)
    assert a.check(good, LESSON_1).passed
    assert b.check(wrong, LESSON_1).status == "failed"
    assert a.server_pid != b.server_pid
    assert check_client.socket_path(good.root) != check_client.socket_path(wrong.root)
    # A server answers for its own workspace only, even when asked on its socket.
    sock = check_client.socket.socket(check_client.socket.AF_UNIX, check_client.socket.SOCK_STREAM)
    sock.connect(str(check_client.socket_path(good.root)))
    check_client.send(sock, {"hello": check_client.version(), "workspace": str(wrong.root)})
    answer = check_client.receive(sock, time.monotonic() + 10)
    sock.close()
    assert answer and not answer["ok"] and "checks" in answer["error"]


def test_an_idle_server_exits_and_removes_its_socket(servers, make_workspace, monkeypatch):
    monkeypatch.setenv("TUTOR_CHECK_SERVER_IDLE", "1")
    ws = make_workspace()
    runner = servers(ws)
    assert runner.check(ws, LESSON_1).passed
    assert wait_until(lambda: not alive(runner.server_pid)), "the idle server did not exit"
    assert not check_client.socket_path(ws.root).exists()


def test_a_killed_server_is_restarted_on_the_next_call(servers, make_workspace):
    ws = make_workspace()
    first = servers(ws)
    assert first.check(ws, LESSON_1).passed
    os.kill(first.server_pid, signal.SIGKILL)
    assert wait_until(lambda: not alive(first.server_pid))
    assert check_client.socket_path(ws.root).exists()  # left behind by the dead server
    second = servers(ws)
    assert second.check(ws, LESSON_1).passed and second.started_server
    assert second.server_pid != first.server_pid


def test_a_folder_others_can_open_is_not_used_and_the_check_runs_without_a_server(servers, make_workspace, tmp_path, monkeypatch):
    shared = tmp_path / "shared-run"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("TUTOR_RUNTIME_DIR", str(shared))
    ws = make_workspace()
    runner = servers(ws)
    assert runner.check(ws, LESSON_1).passed
    assert "not a private folder" in runner.fallback_reason and runner.server_pid is None


def test_the_quick_path_answers_without_loading_typer(servers, make_workspace, tmp_path):
    ws = make_workspace()
    code = ("import sys; from tutor.cli import main; sys.argv = ['tutor', 'check', '1', '-w', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    print('exit', exc.code, 'typer' in sys.modules, 'torch' in sys.modules)")
    env = {**os.environ, "TUTOR_CHECK_SERVER": "1"}
    runs = [subprocess.run([sys.executable, "-c", code, str(ws.root)], capture_output=True, text=True, env=env, timeout=120)
            for _ in range(2)]
    try:
        for run in runs:
            assert "Lesson 1" in run.stdout and run.stdout.strip().endswith("exit 0 False False"), run.stdout + run.stderr
        # Anything the quick path does not take goes to the full command line, as before.
        other = subprocess.run([sys.executable, "-m", "tutor", "check", "1", "-w", str(ws.root), "--format", "json"],
                               capture_output=True, text=True, env=env, timeout=120)
        assert '"status": "passed"' in other.stdout
    finally:
        probe = servers(ws)
        probe.start()  # learns the server's pid, so the fixture ends it
