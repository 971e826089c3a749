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


@pytest.mark.parametrize("kind", ["open to others", "a file", "socket is a folder", "path too long"])
def test_an_unusable_private_folder_falls_back_with_the_same_verdict(kind, servers, make_workspace, tmp_path, monkeypatch):
    folder = tmp_path / "r"
    if kind == "open to others":
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    elif kind == "a file":
        folder.write_text("not a folder")
    elif kind == "path too long":
        folder = tmp_path / ("x" * 60) / ("y" * 60)
    monkeypatch.setenv("TUTOR_RUNTIME_DIR", str(folder))
    ws = make_workspace()
    if kind == "socket is a folder":
        check_client.socket_path(ws.root).mkdir()
    runner = servers(ws)
    runner.start()
    assert runner.fallback_reason and runner.server_pid is None
    assert runner.check(ws, LESSON_1).passed
    env = {**os.environ, "TUTOR_CHECK_SERVER": "1", "TUTOR_RUNTIME_DIR": str(folder)}
    cli = subprocess.run([sys.executable, "-m", "tutor", "check", "1", "-w", str(ws.root)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert cli.returncode == 0 and "Traceback" not in cli.stderr and "Checking without the check server" in cli.stderr, cli.stderr


def test_the_same_environment_and_folder_with_or_without_the_server(servers, make_workspace, monkeypatch, tmp_path):
    body = textwrap.dedent("""
        import json, os

        def softmax(scores):
            scale = float(os.environ.get("SOFTMAX_SCALE", "1")) * json.load(open("model/cfg.json"))["scale"]
            import math
            top = max(scores) if scores else 0
            exps = [math.exp((s - top) * scale) for s in scores]
            return [e / sum(exps) for e in exps]
    """)
    ws = make_workspace(overrides={"warmup.py": body, "cfg.json": '{"scale": 1}'})
    runner = servers(ws)
    runner.start()  # the server's environment and folder are fixed now
    monkeypatch.setenv("SOFTMAX_SCALE", "2")
    monkeypatch.chdir(tmp_path)
    through = runner.check(ws, LESSON_1, seed=3)
    with CheckRunner(timeout=30) as own:
        alone = own.check(ws, LESSON_1, seed=3)
    assert through.status == alone.status == "failed", (through.message, alone.message)
    assert [(c.name, c.status) for c in through.checks] == [(c.name, c.status) for c in alone.checks]


def test_a_client_that_leaves_ends_its_check(servers, make_workspace, tmp_path):
    marker = tmp_path / "pid"
    body = f"import os\n\ndef softmax(scores):\n    open({str(marker)!r}, 'w').write(str(os.getpid()))\n    while True:\n        pass\n"
    ws = make_workspace(overrides={"warmup.py": body})
    runner = servers(ws)
    runner.start()
    sock = check_client.socket.socket(check_client.socket.AF_UNIX, check_client.socket.SOCK_STREAM)
    sock.connect(str(check_client.socket_path(ws.root)))
    check_client.send(sock, {"hello": check_client.version(), "workspace": str(ws.root)})
    assert check_client.receive(sock, time.monotonic() + 10)["ok"]
    check_client.send(sock, CheckRunner(timeout=600).request(ws, LESSON_1))
    assert wait_until(marker.exists)
    sock.close()  # Ctrl-C in the shell that asked
    child = int(marker.read_text())
    assert wait_until(lambda: not alive(child), timeout=10), "the check ran on after its client left"
    assert servers(ws, timeout=1).check(ws, REGISTRY.get(1)).status == "error"  # and the server serves the next one


def test_a_hung_server_is_stopped_and_replaced(servers, make_workspace, monkeypatch):
    ws = make_workspace()
    first = servers(ws)
    assert first.check(ws, LESSON_1).passed
    os.kill(first.server_pid, signal.SIGSTOP)
    monkeypatch.setattr(check_client, "HELLO_TIMEOUT", 1.0)
    stuck = servers(ws)
    assert stuck.check(ws, LESSON_1).passed  # without the server, this once
    assert "did not answer" in stuck.fallback_reason
    assert wait_until(lambda: not alive(first.server_pid))
    fresh = servers(ws)
    assert fresh.check(ws, LESSON_1).passed and fresh.started_server and not fresh.fallback_reason


def test_a_second_check_waits_its_turn_instead_of_falling_back(servers, make_workspace):
    import threading

    slow = "import time\n\ndef softmax(scores):\n    time.sleep(0.5)\n    import math\n    top = max(scores) if scores else 0\n" \
           "    e = [math.exp(s - top) for s in scores]\n    return [x / sum(e) for x in e]\n"
    ws = make_workspace(overrides={"warmup.py": slow})
    servers(ws).start()
    results = {}

    def check(name):
        runner = servers(ws)
        results[name] = (runner.check(ws, LESSON_1), runner.fallback_reason)

    threads = [threading.Thread(target=check, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
        time.sleep(0.3)
    for t in threads:
        t.join(120)
    for name, (result, reason) in results.items():
        assert reason == "", (name, reason)
        assert result.status in ("passed", "failed", "error") and result.checks, (name, result.message)


def test_at_most_a_few_servers_are_kept(servers, make_workspace, monkeypatch):
    monkeypatch.setattr(check_client, "MAX_SERVERS", 2)
    pids = []
    for _ in range(3):
        ws = make_workspace()
        runner = servers(ws)
        assert runner.check(ws, LESSON_1).passed
        pids.append(runner.server_pid)
    assert wait_until(lambda: not alive(pids[0])), "the least recently used server was not retired"
    assert alive(pids[1]) and alive(pids[2])


@pytest.mark.parametrize("args", [["check", "1", "-w=X"], ["list", "--server"], ["check", "١"], ["check", "1", "--timeout", "inf"]])
def test_the_quick_path_leaves_what_the_full_command_line_refuses(args):
    from tutor.cli.quick import parse

    assert parse(args) is None
