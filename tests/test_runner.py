"""Learner code is untrusted: every way it can go wrong is reported, and the tutor lives on."""

from __future__ import annotations

import time

from tutor.engine.lessons import load_registry
from tutor.engine.runner import CheckRunner

LESSON_1 = load_registry().get(1)
HEADER = "import math\n\n\n"


def softmax_file(body: str) -> dict[str, str]:
    return {"warmup.py": HEADER + "def softmax(scores):\n" + body}


def check(runner, make_workspace, body, timeout=None):
    ws = make_workspace(overrides=softmax_file(body))
    return runner.check(ws, LESSON_1, timeout=timeout)


def test_syntax_error_names_file_and_line(runner, make_workspace):
    result = check(runner, make_workspace, "    return [x for x in scores\n")
    assert result.status == "error"
    assert "model/warmup.py has a syntax error on line 5" in result.message


def test_import_error_in_learner_file(runner, make_workspace):
    ws = make_workspace(overrides={"warmup.py": "import numpyy\n"})
    result = runner.check(ws, LESSON_1)
    assert result.status == "error"
    assert "Importing model/warmup.py failed" in result.message
    assert "numpyy" in result.message


def test_missing_file(runner, make_workspace):
    ws = make_workspace()
    ws.file("warmup.py").unlink()
    result = runner.check(ws, LESSON_1)
    assert result.status == "error" and "model/warmup.py is missing" in result.message


def test_endless_loop_hits_the_time_limit(runner, make_workspace):
    started = time.monotonic()
    result = check(runner, make_workspace, "    while True:\n        pass\n", timeout=1.5)
    assert time.monotonic() - started < 10
    assert result.status == "error"
    assert "did not finish within 1.5 s" in result.message
    assert "gives probabilities" in result.message  # names the check that hung


def test_os_exit_is_reported_as_such(runner, make_workspace):
    result = check(runner, make_workspace, "    import os\n    os._exit(1)\n")
    assert result.status == "error"
    assert "exited with code 1" in result.message and "os._exit" in result.message


def test_segfault_is_reported_as_a_crash(runner, make_workspace):
    result = check(runner, make_workspace, "    import ctypes\n    return ctypes.string_at(0)\n")
    assert result.status == "error"
    assert "crashed (SIGSEGV)" in result.message


def test_sys_exit_is_caught(runner, make_workspace):
    result = check(runner, make_workspace, "    import sys\n    sys.exit(3)\n")
    assert result.status == "failed"
    assert "sys.exit(3)" in result.checks[0].message


def test_memory_limit(make_workspace):
    with CheckRunner(timeout=30, memory_mb=256) as small:
        result = check(small, make_workspace, "    big = [0.0] * (10 ** 9)\n    return big\n")
    assert result.status == "failed"
    assert "ran out of memory (the limit is 256 MB)" in result.checks[0].message


def test_exception_shows_the_learners_frame_first(runner, make_workspace):
    result = check(runner, make_workspace, "    return helper(scores)\n\n\ndef helper(s):\n    return s[99]\n")
    first = result.checks[0]
    assert first.status == "error"
    assert first.message.startswith("Your code raised IndexError")
    assert "model/warmup.py, line 9, in helper" in first.message
    assert first.traceback.startswith("Your frames, innermost first:")


def test_nan_is_reported(runner, make_workspace):
    result = check(runner, make_workspace, "    return [float('nan')] * len(scores)\n")
    assert result.status == "failed"
    assert any("NaN" in c.message or "nan" in c.message for c in result.checks)


def test_prints_and_input_do_not_break_the_protocol(runner, make_workspace):
    body = "    print('debug', scores)\n    input()\n" + "    top = max(scores) if scores else 0\n    e = [math.exp(s - top) for s in scores]\n    return [x / sum(e) for x in e]\n"
    result = check(runner, make_workspace, body)
    # input() reads end-of-file, not the worker's requests: the learner sees an EOFError.
    assert result.status == "failed"
    assert "EOFError" in result.checks[0].message
    assert "debug" in result.output


def test_worker_lives_on_after_crashes(runner, make_workspace):
    check(runner, make_workspace, "    import os\n    os._exit(0)\n")
    result = runner.check(make_workspace(), LESSON_1)
    assert result.status == "passed"


def test_a_killed_worker_is_restarted(make_workspace):
    with CheckRunner(timeout=30) as r:
        r.start()
        r._proc.kill()
        r._proc.wait()
        result = r.check(make_workspace(), LESSON_1)
    assert result.status == "passed"


RECORDING_SOFTMAX = """
import math
import pathlib

SEEN = pathlib.Path(__file__).resolve().parents[1] / "seen.txt"


def softmax(scores):
    with open(SEEN, "a") as f:  # what the checks gave the learner's function
        f.write(repr(scores) + "\\n")
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    return [e / sum(exps) for e in exps]
"""


def test_seed_replays_the_same_inputs(runner, make_workspace):
    """The inputs the checks draw come from the seed: the learner's function is called with
    the same scores when a seed is replayed, and with others under another seed."""
    ws = make_workspace(overrides={"warmup.py": RECORDING_SOFTMAX})
    seen = ws.root / "seen.txt"

    def inputs(seed: int) -> str:
        seen.unlink(missing_ok=True)
        result = runner.check(ws, LESSON_1, seed=seed)
        assert result.status == "passed" and result.seed == seed, result.message
        return seen.read_text()

    first = inputs(1234)
    assert first.count("\n") > 20  # the random cases, not only the fixed examples
    assert inputs(1234) == first
    assert inputs(99) != first
