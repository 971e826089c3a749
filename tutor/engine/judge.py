"""The judge's side of a check: it decides, and never runs the learner's code.

For each lesson the warm worker forks the learner's process (`tutor.engine.agent`),
which alone imports the learner's files, and hands the check to its judge, a process
forked from it before any check, which runs the lesson's checks: `learner("gpt")`
there gives a stand-in (`tutor.checks.remote.Remote`) whose
every use (an attribute, a call, an iteration) is a question to the learner's
process, answered with data. The random inputs, the references, the comparisons, the
diagnosis and the verdict live in the judge only, which shares no memory with the
learner's process after the fork and reads nothing from it but data
(`tutor.core.wire`). Forging anything there gains nothing: the only way to pass is to
answer with the right numbers for inputs the learner's process has not seen before.
"""

from __future__ import annotations

import os
import time
from typing import Any

from tutor.checks.remote import Broken, LearnerRaised, Session, close_quietly
from tutor.core import wire


def load_checks(request: dict[str, Any]) -> Any:
    """The lesson's checks module, loaded afresh in the judge, under the name the child
    gives it too (so an object of a class it defines can be sent there)."""
    import importlib.util
    import sys

    name = f"tutor_lesson_{request['number']:02d}_checks"
    spec = importlib.util.spec_from_file_location(name, request["checks_path"])
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class JudgeProcess:
    """The worker's judge: one process, forked from the worker before any check computes
    (a process that has run torch's thread pools cannot safely fork a child that uses
    them, and the worker never does), that judges one check after another. Each check's
    pipes to the learner's process and to the worker reach it over a socket that only
    the worker holds; it keeps nothing of one check for the next but what it imported.
    Killed with the check when a check must be stopped, and forked afresh for the next."""

    RETIRE_AFTER = 200  # checks; a fresh judge after that many, so that nothing accumulates

    def __init__(self) -> None:
        self.pid: int | None = None
        self.socket: Any = None
        self.judged = 0

    def ready(self) -> None:
        """A judge that is alive and waiting for a check."""
        from tutor.engine import worker as w

        if self.pid is not None and (self.judged >= self.RETIRE_AFTER or w.LEFTOVERS_KILLED[0]):
            self.stop()  # retired; or the last check left processes behind, which may have signalled it
        w.LEFTOVERS_KILLED[0] = 0
        if self.pid is not None and self.exit_code() is None:
            return
        import socket

        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        w._FORKED_BY[:] = [os.getpid()]
        pid = os.fork()
        if pid == 0:
            mine.close()
            _judge_process(theirs)
        theirs.close()
        try:
            os.setpgid(pid, pid)  # its own group from the start, as it makes itself
        except OSError:
            pass
        self.pid, self.socket, self.judged = pid, mine, 0
        w.KEEP_CHILDREN[:] = [pid]

    def give(self, job: dict[str, Any], fds: list[int]) -> None:
        """A check to judge, with the ends of its pipes (which the worker then closes)."""
        import json
        import signal
        import socket
        import struct

        # A process of an earlier check's may have stopped it (same user): it goes on.
        os.kill(self.pid, signal.SIGCONT)

        data = json.dumps(job).encode()
        socket.send_fds(self.socket, [struct.pack(">I", len(data)) + data], fds)
        self.judged += 1

    def exit_code(self) -> int | None:
        """None while the judge lives; once it has ended (collected here), how it ended."""
        from tutor.engine import worker as w

        if self.pid is None:
            return 4
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            done, status = self.pid, 4 << 8
        if not done:
            return None
        self.socket.close()
        self.pid, self.socket = None, None
        w.KEEP_CHILDREN[:] = []
        return os.waitstatus_to_exitcode(status)

    def stop(self) -> None:
        """Kill the judge (a check it was judging is stopped); collected after the reply."""
        from tutor.engine import worker as w

        if self.pid is None:
            return
        w.sigkill(self.pid)
        w.KEEP_CHILDREN[:] = []
        w.reap_later(self.pid)
        self.socket.close()
        self.pid, self.socket = None, None

    def forget(self) -> None:
        """In the learner's process, just forked: it must never hold the judge's socket."""
        if self.socket is not None:
            self.socket.close()


JUDGE = JudgeProcess()


def run_judged(request: dict[str, Any], abort_fd: int | None = None) -> dict[str, Any]:
    """Run one lesson judged: the learner's child (forked from the worker as it is, so it
    inherits no state of the judge's) and the judge, given the only ends of the child's
    pipes and of the verdict's channel. The worker watches the check as it watches any:
    the time limit, the Ctrl-C of the one who asked, an end without a verdict. The
    learner's child is killed, with whatever it started, when the verdict is in."""
    import secrets
    import tempfile

    from tutor.engine import worker as w
    from tutor.engine.agent import Agent

    JUDGE.ready()  # before any pipe of this check exists: the judge inherits none of them
    capture, capture_path = tempfile.mkstemp(prefix="tutor-output-", suffix=".txt")
    os.unlink(capture_path)
    cmd_r, cmd_w = os.pipe()
    reply_r, reply_w = os.pipe()
    w._FORKED_BY[:] = [os.getpid()]
    learner_pid = os.fork()
    if learner_pid == 0:
        os.close(cmd_w)
        os.close(reply_r)
        JUDGE.forget()
        os.setpgid(0, 0)
        # Not sent the seed (though the worker's memory that the fork copied holds it: docs/security.md).
        mine = {k: v for k, v in request.items() if k not in ("seed", "id")}
        w._child_entry(mine, -1, capture, "", body=lambda: Agent(mine, cmd_r, reply_w).serve())
    close_quietly(cmd_r)
    close_quietly(reply_w)
    try:
        os.setpgid(learner_pid, learner_pid)  # its own group at once, whatever it does first
    except OSError:
        pass
    w.reap_later(learner_pid)  # killed when the verdict is in, collected after it is sent
    key = secrets.token_hex(16)  # drawn after the learner's child was forked: it never held it
    events_r, events_w = os.pipe()
    try:
        try:
            JUDGE.give({"request": request, "key": key}, [cmd_w, reply_r, events_w])
        except OSError:  # the judge ended between checks: a fresh one
            JUDGE.stop()
            JUDGE.ready()
            JUDGE.give({"request": request, "key": key}, [cmd_w, reply_r, events_w])
    except BaseException:
        w.kill_uncollected(learner_pid)
        for fd in (capture, events_r):
            close_quietly(fd)
        raise
    finally:
        for fd in (cmd_w, reply_r, events_w):
            close_quietly(fd)
    judge_pid = JUDGE.pid

    def settle(last: dict[str, Any] | None) -> int | None:
        """How the check ended, from the judge's last word: 0 with a verdict; else the
        learner's child's own end when it ended first (a crash, a kill), or the judge's code."""
        if last is not None and last.get("event") in ("done", "fatal"):
            return 0  # a verdict, or the reason there is none (the learner's files did not load)
        if last is not None and last.get("event") == "end":
            mine = w.wait_pid(learner_pid, 0.5)
            return mine if mine not in (None, 0) else int(last.get("code", 4))
        return None

    def poll() -> int | None:
        """The judge's own end, should it end while judging (a fault of its own)."""
        return JUDGE.exit_code() if JUDGE.pid == judge_pid else 4

    def kill() -> None:
        w.kill_uncollected(learner_pid)
        JUDGE.stop()  # stopped mid-check: what it held of this check goes with it

    try:
        return w.supervise(events_r, poll, kill, request, capture, key, learner_pid, abort_fd, settle=settle)
    finally:
        w.kill_uncollected(learner_pid)


def _judge_process(sock: Any) -> None:
    """The judge's process: its own group, no terminal output (the worker's stdout is its
    reply channel), none of the worker's descriptors but its socket, dies with the worker.
    Judges each check it is given until the socket closes."""
    from tutor.engine import worker as w
    from tutor.engine.hardening import die_with_parent

    code = 0
    try:
        os.setpgid(0, 0)
        die_with_parent()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for fd in w.PARENT_FDS:  # a check server's sockets: its clients are not the judge's to hold
            close_quietly(fd)
        while True:
            job = _next_job(sock)
            if job is None:
                break
            _judge_one(*job)
    except BaseException:  # noqa: BLE001 - the judge's own fault: the worker reports a check without a verdict
        code = 4
    os._exit(code)


def _next_job(sock: Any) -> tuple[dict[str, Any], str, int, int, int] | None:
    import json
    import socket
    import struct

    data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 3)
    if not data:
        return None
    if len(fds) != 3 or len(data) < 4:
        raise ValueError("a check without its pipes")
    size = struct.unpack(">I", data[:4])[0]
    data = data[4:]
    while len(data) < size:
        more = sock.recv(min(size - len(data), 1 << 20))
        if not more:
            raise EOFError("a check cut short")
        data += more
    job = json.loads(data)
    return job["request"], str(job["key"]), fds[0], fds[1], fds[2]


def _judge_one(request: dict[str, Any], key: str, cmd_fd: int, reply_fd: int, events_fd: int) -> None:
    """One check, judged: the verdict's events on `events_fd`, ending with "done", or with
    "end" and why there is no verdict (5: the learner's child ended or spoke out of turn
    first; 4: the checks' own fault, said in a "fatal" event before it)."""
    import json
    import traceback

    import tutor.checks.remote as remote
    from tutor.engine import worker as w

    def emit(event: dict[str, Any]) -> None:
        data = (json.dumps({**event, "id": str(request["id"]), "key": key}) + "\n").encode()
        while data:
            data = data[os.write(events_fd, data):]

    code = 0
    try:
        # The asking command's environment and data folder (a run milestone reads its checkpoint there).
        w._take_callers_place(request)
        w._limit_threads(request.get("threads"))
        if request.get("data_home"):
            os.environ["TUTOR_HOME"] = str(request["data_home"])
        remote.forget_classes()
        # A backstop only: the worker enforces the lesson's time limit and stops the check.
        session = Session(cmd_fd, reply_fd, time.monotonic() + float(request["timeout"]) + 30)
        try:
            _judge(request, load_checks(request), session, emit)
        except (wire.Ended, wire.Deadline):
            code = 5
        except Broken as exc:
            # Only bytes the learner's code wrote into the channel itself are not an answer.
            emit({"event": "tampered", "why": f"your code wrote into the checks' own channel ({exc})"})
            emit({"event": "done"})
        finally:
            session.close()
    except BaseException:  # noqa: BLE001 - the judge's own fault: say so, never a pass
        try:
            emit({"event": "fatal", "message": "The checks themselves failed (a fault in the tutor, not in your code).",
                  "traceback": traceback.format_exc()})
        except BaseException:  # noqa: BLE001
            pass
        code = 4
    try:
        if code:
            emit({"event": "end", "code": code})
    except OSError:
        pass
    finally:
        for fd in (cmd_fd, reply_fd, events_fd):
            close_quietly(fd)


def learner_seed(seed: int) -> int:
    """The learner's process's seed for a check (its modules' own initialisation, dropout):
    fixed by the judge's, which it does not reveal."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"learner:{seed}".encode()).digest()[:4], "big") >> 1


def _judge(request: dict[str, Any], checks_module: Any, session: Session, emit: Any) -> None:
    from pathlib import Path

    import tutor.checks as api
    from tutor.engine import worker as w

    model_dir = Path(request["workspace"]).resolve() / "model"
    fatal = session.request("load")
    if fatal is not None:
        if not isinstance(fatal, dict):
            raise Broken("a load answer that is not a description")
        emit({"event": "fatal", "message": str(fatal.get("message", ""))[:20000],
                       "traceback": str(fatal.get("traceback", ""))[:20000]})
        return
    checks = api.collect_checks(checks_module)
    emit({"event": "plan", "checks": [name for name, _ in checks]})
    api._SESSION[:] = [session]
    try:
        for index, (name, func) in enumerate(checks):
            emit({"event": "started", "name": name})
            seed = int(request["seed"]) + index
            w._seed_everything(seed)
            session.next_seed = learner_seed(seed)  # the learner's side is seeded before its first question
            try:
                note = func()
                result = {"status": "passed", "message": note if isinstance(note, str) else "", "traceback": ""}
            except (wire.Deadline, wire.Ended):
                raise
            except Broken:
                raise
            except LearnerRaised as exc:
                result = dict(exc.info)
                if result.get("status") not in ("failed", "error"):
                    result["status"] = "error"
            except BaseException as exc:  # noqa: BLE001 - a check's own failure, or what it made of the answers
                result = w.describe_exception(exc, model_dir, request.get("memory_mb"))
            emit({"event": "check", "name": name, **result})
        emit({"event": "used", "files": session.request("used")})
        changed = session.request("guard")
        if isinstance(changed, list) and changed:
            emit({"event": "tampered", "why": "your code replaced what the checks rely on: "
                           + ", ".join(str(c)[:200] for c in changed[:8])})
        emit({"event": "done"})
    finally:
        api._SESSION.clear()
