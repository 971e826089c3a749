"""A hostile learner's code cannot forge a pass, and leaves nothing running behind.

Each test reproduces an attack that worked once: it must now end as "tampered"
(or as the honest failure of the stub underneath), never as "passed".
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

from tutor.engine.lessons import load_registry
from tutor.engine.stubs import generate_stubs

REGISTRY = load_registry()
LESSON_1 = REGISTRY.get(1)
LESSON_5 = REGISTRY.get(5)


def stub_workspace(make_workspace, init: str = "", **files: str):
    """Untouched stubs (which fail every check) plus the learner's own __init__.py."""
    return make_workspace(solutions=False, overrides={"__init__.py": textwrap.dedent(init), **files})


# A model/__init__.py that walks up the stack to the worker's emit and reports passes.
FORGE_EMIT = """
import sys
frame = sys._getframe()
while frame and "emit" not in frame.f_locals:
    frame = frame.f_back
if frame:
    emit = frame.f_locals["emit"]
    checks = frame.f_locals.get("checks") or []
    emit({"event": "plan", "checks": [n for n, _ in checks]})
    for name, _ in checks:
        emit({"event": "started", "name": name})
        emit({"event": "check", "name": name, "status": "passed", "message": "", "traceback": ""})
    emit({"event": "done"})
    import os
    os._exit(0)
"""


def test_forged_events_from_the_stack_find_no_verdict_to_forge(runner, make_workspace):
    # Judged, the learner's process holds no check loop and no verdict channel: the stubs fail.
    result = runner.check(stub_workspace(make_workspace, FORGE_EMIT), LESSON_1)
    assert result.status == "failed", (result.status, result.message)
    assert result.checks and all(c.status == "failed" for c in result.checks)


# The same, but writing straight into the pipe without emit (it lacks the request's key).
FORGE_PIPE = """
import json, os
for fd in range(3, 64):
    try:
        os.write(fd, (json.dumps({"event": "done"}) + "\\n").encode())
    except OSError:
        pass
os._exit(0)
"""


def test_forged_lines_on_the_pipe_are_rejected(runner, make_workspace):
    result = runner.check(stub_workspace(make_workspace, FORGE_PIPE), LESSON_1)
    assert result.status == "tampered", (result.status, result.message)
    assert "the checks' own channel" in result.message


PATCH_COLLECT = """
import tutor.checks
tutor.checks.collect_checks = lambda module: []
"""


def test_patched_collect_checks_is_tampered(runner, make_workspace):
    result = runner.check(stub_workspace(make_workspace, PATCH_COLLECT), LESSON_1)
    assert result.status == "tampered"
    assert "tutor.checks.collect_checks" in result.message
    assert result.counts[1] > 0  # the real checks still ran: the patch came too late to hide them


def test_patched_allclose_is_tampered(runner, make_workspace, tmp_path):
    # Unscaled attention passes matches_reference only if allclose lies.
    from tutor.engine.stubs import solution_files

    source = solution_files()["attention.py"].replace(
        "weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)  # each row sums to 1",
        "weights = torch.softmax(scores, dim=-1)")
    init = "import torch\ntorch.allclose = lambda *a, **k: True\n"
    ws = make_workspace(overrides={"__init__.py": init, "attention.py": source})
    result = runner.check(ws, LESSON_5)
    assert result.status == "tampered"
    assert "torch.allclose" in result.message


def test_a_forged_reply_on_the_workers_stdout_is_rejected(runner, make_workspace):
    # Learner code opens the worker's own stdout through /proc and writes a passing reply.
    body = textwrap.dedent("""
        import json, os
        worker = os.getppid()
        reply = {"number": 1, "status": "passed", "checks": [], "message": "", "seed": 1, "duration": 0.1}
        try:
            with open(f"/proc/{worker}/fd/1", "w") as out:
                out.write(json.dumps(reply) + "\\n")
        except OSError:
            pass
    """)
    result = runner.check(stub_workspace(make_workspace, body), LESSON_1)
    assert result.status != "passed"
    # The worker must still answer correctly afterwards.
    ok = runner.check(make_workspace(), LESSON_1)
    assert ok.status == "passed", ok.message


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _spawn_then(body_after: str, marker: Path, setsid: bool) -> str:
    start = "start_new_session=True, " if setsid else ""
    return textwrap.dedent(f"""
        import subprocess, sys
        p = subprocess.Popen(["sleep", "1000"], {start}stdout=sys.__stdout__, stderr=subprocess.DEVNULL,
                             pass_fds=tuple(range(3, 20)) if False else ())
        open({str(marker)!r}, "w").write(str(p.pid))
    """) + body_after


def test_background_processes_do_not_outlive_the_check(runner, make_workspace, tmp_path):
    for setsid in (False, True):
        marker = tmp_path / f"pid-{setsid}"
        init = _spawn_then("", marker, setsid)
        ws = make_workspace(overrides={"__init__.py": init})
        result = runner.check(ws, LESSON_1)
        assert result.status == "passed", result.message
        pid = int(marker.read_text())
        deadline = time.monotonic() + 3
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"sleep 1000 (setsid={setsid}) outlived the check")


def test_a_setsid_child_holding_the_pipe_does_not_time_the_checks_out(runner, make_workspace, tmp_path):
    # The grandchild inherits every descriptor, the result pipe included, and sleeps.
    init = textwrap.dedent("""
        import os
        if os.fork() == 0:
            os.setsid()
            import time
            time.sleep(1000)
            os._exit(0)
    """)
    started = time.monotonic()
    result = runner.check(make_workspace(overrides={"__init__.py": init}), LESSON_1, timeout=10)
    assert result.status == "passed", result.message
    assert time.monotonic() - started < 8


def test_the_memory_limit_cannot_be_lifted(runner, make_workspace):
    lift = textwrap.dedent("""
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    """)
    grab = "    block = bytearray(3 * 2**30)\n    return [1.0 / len(scores)] * len(scores)\n"
    ws = make_workspace(overrides={"__init__.py": lift, "warmup.py": "import math\n\n\ndef softmax(scores):\n" + grab})
    result = runner.check(ws, LESSON_1)
    assert result.status != "passed"
    assert any(c.status == "error" and "out of memory" in c.message for c in result.checks), result.checks


def test_init_py_is_part_of_the_fingerprint(make_workspace):
    ws = make_workspace()
    before = ws.fingerprint(LESSON_1)
    (ws.root / "model" / "__init__.py").write_text("import os\n")
    assert ws.fingerprint(LESSON_1) != before
    (ws.root / "model" / "helpers.py").write_text("x = 1\n")
    assert ws.fingerprint(LESSON_1) != before


def test_stubs_still_fail_honestly(runner, make_workspace):
    """The guard adds no false alarms: untouched stubs fail as not implemented."""
    assert "warmup.py" in generate_stubs()
    result = runner.check(make_workspace(solutions=False), LESSON_1)
    assert result.status == "failed"


def test_a_tensor_subclass_that_agrees_with_everything_fails(runner, make_workspace):
    """Returning a tensor whose __torch_function__ answers allclose with True passes nothing."""
    from tutor.engine.stubs import solution_files

    source = solution_files()["attention.py"].replace(
        "class SelfAttention(nn.Module):",
        "class Agreeable(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if getattr(func, '__name__', '') in ('allclose', 'equal', 'isclose'):\n"
        "            return True\n"
        "        return super().__torch_function__(func, types, args, kwargs or {})\n\n\n"
        "class SelfAttention(nn.Module):", 1)
    source = source.replace(
        "weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)  # each row sums to 1",
        "weights = torch.softmax(scores, dim=-1)", 1)
    source = source.replace("        return weights @ values  # (b, t, d_out)",
                            "        return (weights @ values).as_subclass(Agreeable)", 1)
    assert "as_subclass(Agreeable)" in source, "the edit did not apply"
    result = runner.check(make_workspace(overrides={"attention.py": source}), LESSON_5)
    assert result.status != "passed"
    assert any("subclass" in c.message for c in result.checks if c.status != "passed")


def test_objects_that_agree_with_everything_fail(runner, make_workspace):
    body = ("    class Whatever(float):\n"
            "        def __sub__(self, other): return 0.0\n"
            "        __rsub__ = __sub__\n"
            "        def __add__(self, other): return Whatever(1.0)\n"
            "        __radd__ = __add__\n"
            "    return [Whatever(0.5) for _ in scores]\n")
    ws = make_workspace(overrides={"warmup.py": "import math\n\n\ndef softmax(scores):\n" + body})
    result = runner.check(ws, LESSON_1)
    assert result.status != "passed"
    assert any("class Whatever" in c.message for c in result.checks)


KILLS_ITS_WORKER = """
import os, signal, subprocess, sys, time

def softmax(scores):
    for _ in range(3):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "tutor-orphan-marker"])
    os.kill(os.getppid(), signal.SIGKILL)
    while True:
        time.sleep(0.1)
"""


def _marked() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"tutor-orphan-marker" in f.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def test_a_check_that_kills_its_worker_leaves_nothing_running_and_no_files(make_workspace):
    import tempfile

    from tutor.engine.runner import CheckRunner

    ws = make_workspace(overrides={"warmup.py": KILLS_ITS_WORKER})
    before = {p.name for p in Path(tempfile.gettempdir()).glob("tutor-*")}
    with CheckRunner(timeout=20) as own:
        result = own.check(ws, LESSON_1)
    assert result.status == "error" and "could not run" in result.message
    deadline = time.monotonic() + 10
    while _marked() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _marked(), "processes the check started outlived its killed worker"
    left = {p.name for p in Path(tempfile.gettempdir()).glob("tutor-output-*")} - before
    assert not left, left
