"""Checks in two halves: the learner's process answers with data, the judge decides.

The judge never imports the learner's code and reads nothing from its process but
well-formed, bounded data; whatever that process does to itself, a stub passes nothing.
"""

from __future__ import annotations

import math
import os
import textwrap

import pytest
import torch

from tutor.checks.remote import Session
from tutor.core import wire
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files

REGISTRY = load_registry()


def _roundtrip(value):
    blobs: list[bytes] = []
    data = wire.encode(value, blobs, lambda v: pytest.fail(f"not data: {v!r}"))
    read, write = os.pipe()
    try:
        wire.send(write, {"ok": data}, blobs)
        header, got_blobs = wire.receive(read)
    finally:
        os.close(read)
        os.close(write)
    return wire.decode(header["ok"], got_blobs, lambda ref: pytest.fail("no references here"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int8, torch.uint8, torch.bool])
def test_tensors_cross_exactly(dtype):
    t = (torch.randn(3, 4) * 50).to(dtype)
    got = _roundtrip(t)
    assert type(got) is torch.Tensor and got.dtype == dtype and torch.equal(got, t)
    for odd in (t[:, 1:3], t.T, t[0, 0], t[:0]):  # views, a 0-d tensor, an empty one
        back = _roundtrip(odd)
        assert back.shape == odd.shape and torch.equal(back, odd)


def test_plain_values_cross_as_they_are():
    value = {"a": [1, 2.5, None, True], 3: ("x", b"\x00\xff"), (1, 2): {4, 5}, "nan": float("nan"),
             "size": torch.Size([2, 3]), "dtype": torch.long, "cut": slice(1, None, 2)}
    got = _roundtrip(value)
    assert got["a"] == [1, 2.5, None, True] and got[3] == ("x", b"\x00\xff") and got[(1, 2)] == {4, 5}
    assert math.isnan(got["nan"]) and got["size"] == torch.Size([2, 3]) and got["dtype"] is torch.long
    assert got["cut"] == slice(1, None, 2)
    param = _roundtrip(torch.nn.Parameter(torch.ones(2)))
    assert type(param) is torch.nn.Parameter and param.requires_grad


def _decode_raw(data, blobs=()):
    return wire.decode(data, list(blobs), lambda ref: pytest.fail("no references here"))


@pytest.mark.parametrize("data, blobs, why", [
    ({"$T": 0, "dt": "float32", "sh": [2, 2]}, [b"\x00" * 15], "bytes"),
    ({"$T": 0, "dt": "object", "sh": [1]}, [b"\x00" * 8], "dtype"),
    ({"$T": 0, "dt": "float32", "sh": [-1]}, [b""], "shape"),
    ({"$T": 5, "dt": "float32", "sh": [1]}, [b"\x00" * 4], "blob"),
    ({"$dt": "object"}, [], "tag"),
    ({"$zz": 1}, [], "tag"),
    ({"$sl": [1.5, None, None]}, [], "whole numbers"),
    ({"$d": [[[1], 2]]}, [], "hashed"),
])
def test_malformed_values_are_refused_by_name(data, blobs, why):
    with pytest.raises(wire.WireError) as info:
        _decode_raw(data, blobs)
    assert why in str(info.value)


def test_deep_nesting_and_huge_messages_are_refused():
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.WireError, match="deep"):
        _decode_raw(deep)
    read, write = os.pipe()
    try:
        os.write(write, (wire.MAX_MESSAGE + 1).to_bytes(8, "big") + (10).to_bytes(4, "big"))
        with pytest.raises(wire.WireError, match="bytes"):
            wire.receive(read)
    finally:
        os.close(read)
        os.close(write)


def test_the_learner_side_cannot_send_a_pickle():
    # The judge turns only numbered references into objects; a pickle from the child is refused.
    read, write = os.pipe()
    session = Session(write, read, deadline=0)
    try:
        with pytest.raises(wire.WireError):
            session._incoming({"$p": 0})
        with pytest.raises(wire.WireError):
            session._incoming({"$r": "1"})
    finally:
        os.close(read)
        os.close(write)


# A model/__init__.py that does what a check loop's own code could do, and more: it walks
# every object of its process for a key, a verdict function or a channel, calls anything
# named like one with passing events, writes passing verdicts, old-style lines and
# well-formed frames onto every descriptor it has, and makes every comparison agree.
HOSTILE_INIT = textwrap.dedent('''
    import gc, json, os, struct, sys
    passed = {"event": "check", "name": "x", "status": "passed", "message": "", "traceback": ""}
    for obj in gc.get_objects():
        try:
            if callable(obj) and getattr(obj, "__name__", "") in ("emit", "_emit", "_reply", "send"):
                obj(passed)
        except BaseException:
            pass
    frame = {"ok": None, "blobs": []}
    head = json.dumps(frame).encode()
    framed = struct.pack(">QI", len(head) + 4, len(head)) + head
    line = (json.dumps({"event": "done", "status": "passed"}) + "\\n").encode()
    for fd in range(3, 256):
        for data in (framed, line):
            try:
                os.write(fd, data)
            except OSError:
                pass
    import torch
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.Tensor.__eq__ = lambda *a, **k: True
''')


def test_a_stub_workspace_with_a_hostile_init_passes_no_lesson(runner, make_workspace):
    ws = make_workspace(solutions=False, overrides={"__init__.py": HOSTILE_INIT})
    statuses = {lesson.number: runner.check(ws, lesson).status for lesson in REGISTRY.lessons}
    assert len(statuses) >= 27
    assert not [n for n, status in statuses.items() if status == "passed"], statuses


def test_weights_the_judge_gave_are_the_judges_own(runner, make_workspace):
    # The learner's side ignores the judge's weights (it replaces the probe that sets them),
    # keeps all-zero weights and answers zeros: consistent with its own weights, wrong with
    # the judge's. Reading the weights back gives the judge's record, so it fails.
    init = textwrap.dedent('''
        import tutor.checks.probes as probes
        probes.assign = lambda module, values: None
    ''')
    source = solution_files()["attention.py"].replace(
        "        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)\n",
        "        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)\n"
        "        for p in self.parameters():\n            nn.init.zeros_(p)\n", 1)
    assert "zeros_" in source
    ws = make_workspace(overrides={"__init__.py": init, "attention.py": source})
    result = runner.check(ws, REGISTRY.get(6))
    assert result.status != "passed", result.message


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
def test_graded_a_hostile_stub_passes_nothing(tmp_path, sandbox):
    from tutor.engine.grading import bwrap_works, grade
    from tutor.engine.stubs import generate_stubs
    from tutor.engine.workspace import write_workspace

    if sandbox == "bwrap" and not bwrap_works():
        pytest.skip("bubblewrap is not installed or cannot run here")
    klass = tmp_path / "class"
    write_workspace(klass / "hostile", {**generate_stubs(), "__init__.py": HOSTILE_INIT})
    write_workspace(klass / "honest", {"__init__.py": "", **solution_files()})
    numbers = [1, 5, 13, 16, 26]
    grades = {g.student: g for g in grade([klass], jobs=1, lessons=numbers, sandbox=sandbox, timeout=60)}
    assert grades["honest"].lessons == {n: "passed" for n in numbers}, grades["honest"]
    assert set(grades["hostile"].lessons) == set(numbers), grades["hostile"]
    assert "passed" not in grades["hostile"].lessons.values(), grades["hostile"].lessons


def test_patching_torch_in_the_learners_process_changes_no_comparison(runner, make_workspace):
    # Random attention output, with every comparison tool of the learner's process patched to
    # agree: the comparisons are made in the judge, whose torch the learner's code never touches.
    init = textwrap.dedent('''
        import torch
        torch.Tensor.cpu = lambda self, *a, **k: torch.zeros_like(self)
        torch.Tensor.double = lambda self, *a, **k: torch.zeros(self.shape, dtype=torch.float64)
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
    ''')
    source = solution_files()["attention.py"]
    old = "        return weights @ values\n"
    assert source.count(old) == 1
    ws = make_workspace(overrides={"__init__.py": init,
                                   "attention.py": source.replace(old, "        return torch.randn_like(weights @ values)\n")})
    result = runner.check(ws, REGISTRY.get(6))
    assert result.status != "passed"
    assert any("values differ" in c.message for c in result.checks if c.status == "failed"), result.checks


# Weights the learner's side keeps for itself: all-zero values make an "attention" that
# only returns W_value(x) = 0 agree with any reference computed from them.
HIDES_ITS_WEIGHTS = textwrap.dedent('''
    import torch
    from torch import nn


    class SelfAttention(nn.Module):
        def __init__(self, d_in, d_out, qkv_bias=False):
            super().__init__()
            self.W_query, self.W_key, self.W_value = (nn.Linear(d_in, d_out, bias=qkv_bias) for _ in range(3))
            for p in self.W_value.parameters():
                nn.init.zeros_(p)

        def named_parameters(self, *args, **kwargs):  # no weight for the judge to set
            return iter(())

        def forward(self, x):
            return self.W_value(x)
''')

NOT_A_MODULE = textwrap.dedent('''
    import torch
    from torch import nn


    class SelfAttention:  # no nn.Module: nothing says it is one
        def __init__(self, d_in, d_out, qkv_bias=False):
            self.W_query, self.W_key, self.W_value = (nn.Linear(d_in, d_out, bias=qkv_bias) for _ in range(3))
            for p in self.W_value.parameters():
                nn.init.zeros_(p)

        def __call__(self, x):
            return self.W_value(x)
''')


@pytest.mark.parametrize("source", [HIDES_ITS_WEIGHTS, NOT_A_MODULE], ids=["hidden-weights", "not-a-module"])
def test_weights_the_judge_did_not_give_are_not_read_as_if_it_had(runner, make_workspace, source):
    result = runner.check(make_workspace(overrides={"attention.py": source}), REGISTRY.get(5))
    assert result.status != "passed"
    failed = {c.name: c.message for c in result.checks if c.status != "passed"}
    assert any("on random inputs" in name for name in failed), failed
    assert any("weights" in message for message in failed.values()), failed


def _children(pid: int) -> set[int]:
    """The worker's children once the last check's learner's process is collected (just
    after the reply)."""
    import time

    from tutor.engine.worker import _children_of

    deadline = time.monotonic() + 5
    while True:
        found = set(_children_of(pid))
        if len(found) <= 1 or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


@pytest.fixture
def own_runner():
    from tutor.engine.runner import CheckRunner

    with CheckRunner(timeout=20) as r:
        r.start()
        yield r


def test_one_judge_serves_check_after_check(own_runner, make_workspace):
    # The judge outlives each check (the learner's process does not): the worker's one
    # remaining child, the same process, before and after.
    ws = make_workspace()
    worker = own_runner._proc.pid
    assert own_runner.check(ws, REGISTRY.get(1)).status == "passed"
    judges = _children(worker)
    assert len(judges) == 1
    assert own_runner.check(ws, REGISTRY.get(5)).status == "passed"
    assert _children(worker) == judges


def test_the_learners_process_holds_no_socket_of_the_judges(own_runner, make_workspace, tmp_path):
    # The judge is given each check over a socket only the worker holds: a learner's
    # process that could write to it could hand the judge checks of its own.
    marker = tmp_path / "fds"
    init = textwrap.dedent(f'''
        import os
        links = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink(f"/proc/self/fd/{{fd}}"))
            except OSError:
                pass
        open({str(marker)!r}, "w").write("\\n".join(links))
    ''')
    result = own_runner.check(make_workspace(overrides={"__init__.py": init}), REGISTRY.get(1))
    assert result.status == "passed", result.message
    links = marker.read_text().splitlines()
    assert links and not [link for link in links if link.startswith("socket:")], links


def test_a_learner_that_kills_the_judge_passes_nothing_and_the_next_check_gets_a_new_one(own_runner, make_workspace):
    # Its siblings are the judge: killed, the check has no verdict; the next check is
    # judged by a fresh judge and passes.
    init = textwrap.dedent('''
        import os, signal
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                except OSError:
                    continue
                if int(stat[stat.rfind(")") + 2:].split()[1]) == os.getppid():
                    os.kill(int(entry), signal.SIGKILL)
    ''')
    worker = own_runner._proc.pid
    before = _children(worker)
    result = own_runner.check(make_workspace(overrides={"__init__.py": init}), REGISTRY.get(1))
    assert result.status != "passed", result.message
    after = own_runner.check(make_workspace(), REGISTRY.get(1))
    assert after.status == "passed", after.message
    assert _children(worker) and _children(worker) != before


def test_items_read_in_one_question_raise_where_one_by_one_would():
    from tutor.checks import each_item

    class Windows:
        def __getitem__(self, i):
            if i == 2:
                raise IndexError("window 2 runs past the end")
            return (i, i + 1)

    got = []
    with pytest.raises(IndexError, match="window 2"):
        for item in each_item(Windows(), range(4)):
            got.append(item)
    assert got == [(0, 1), (1, 2)]


def test_a_learner_that_leaves_its_group_is_killed_and_the_next_check_passes(own_runner, make_workspace):
    # Into the worker's own group, then asleep: killing the group misses it, the pid does not.
    init = "import os, time\nos.setpgid(0, os.getsid(0))\ntime.sleep(3600)\n"
    import time

    first = own_runner.check(make_workspace(overrides={"__init__.py": init}), REGISTRY.get(1), timeout=3)
    assert first.status != "passed", first.message
    started = time.monotonic()
    after = own_runner.check(make_workspace(), REGISTRY.get(1))
    assert after.status == "passed", after.message
    assert time.monotonic() - started < 5


STOP_THE_JUDGE = textwrap.dedent(r'''
    import os, time, signal, stat, fcntl, select
    def _judge(me, worker):
        for e in os.listdir("/proc"):
            if e.isdigit() and int(e) != me:
                try:
                    st = open(f"/proc/{e}/stat", "rb").read()
                except OSError:
                    continue
                f = st[st.rfind(b")") + 2:].split()
                if int(f[1]) == worker and int(f[2]) == int(e):
                    return int(e)
    def _cmd_pipe():
        for fd in map(int, os.listdir("/proc/self/fd")):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                    return fd
            except OSError:
                pass
    _judge_pid, _cmd = _judge(os.getpid(), os.getppid()), _cmd_pipe()
    if _judge_pid and os.fork() == 0:  # outlives the check until the worker kills what it left
        os.setsid()
        p = select.poll()
        p.register(_cmd, select.POLLHUP)
        while not any(ev & select.POLLHUP for _, ev in p.poll(1000)):
            time.sleep(0.00005)
        time.sleep(0.0003)
        os.kill(_judge_pid, signal.SIGSTOP)
        os._exit(0)
''')


def test_a_judge_stopped_by_an_earlier_check_does_not_fail_the_next(own_runner, make_workspace):
    hostile = make_workspace(overrides={"__init__.py": STOP_THE_JUDGE})
    own_runner.check(hostile, REGISTRY.get(1), timeout=5)
    for _ in range(2):
        result = own_runner.check(make_workspace(), REGISTRY.get(1), timeout=5)
        assert result.status == "passed", result.message


def test_files_that_do_not_load_are_reported_at_once(own_runner, make_workspace):
    import time

    own_runner.check(make_workspace(), REGISTRY.get(1))
    started = time.monotonic()
    result = own_runner.check(make_workspace(overrides={"warmup.py": "def softmax(:\n"}), REGISTRY.get(1))
    assert result.status == "error" and "syntax error" in result.message.lower(), result.message
    assert time.monotonic() - started < 2


def test_a_model_module_put_in_sys_modules_by_hand_counts_as_used(own_runner, make_workspace):
    sol = solution_files()
    warm = ("import importlib.util, sys, pathlib\n"
            "_spec = importlib.util.spec_from_file_location('model.helper', pathlib.Path(__file__).with_name('helper.py'))\n"
            "helper = importlib.util.module_from_spec(_spec); sys.modules['model.helper'] = helper\n"
            "_spec.loader.exec_module(helper)\n"
            "softmax = helper.softmax\n")
    result = own_runner.check(make_workspace(overrides={"warmup.py": warm, "helper.py": sol["warmup.py"]}), REGISTRY.get(1))
    assert result.status == "passed", result.message
    assert "helper.py" in result.used_files and "warmup.py" in result.used_files, result.used_files
