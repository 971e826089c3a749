"""The judge's side of a check: it decides, and never runs the learner's code.

For each lesson the warm worker forks the learner's process (`tutor.engine.agent`),
which alone imports the learner's files, and then the judge, which runs the lesson's
checks: `learner("gpt")` there gives a stand-in (`tutor.checks.remote.Remote`) whose
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


def run_judged(request: dict[str, Any], checks_module: Any, abort_fd: int | None = None) -> dict[str, Any]:
    """Run one lesson judged: the learner's child (forked first, from the worker as it is,
    so it inherits no state of any judge) and the judge (forked next, holding the only ends
    of the child's pipes and of the verdict's channel). The worker watches the judge as it
    watches any check: the time limit, the Ctrl-C of the one who asked, an end without a
    verdict. The learner's child is killed, with whatever it started, when the judge ends.
    Both are forked because the judge computes with torch, and a process that has run
    torch's thread pools cannot safely fork a child that uses them."""
    import secrets
    import signal
    import tempfile

    from tutor.engine import worker as w
    from tutor.engine.agent import Agent

    capture, capture_path = tempfile.mkstemp(prefix="tutor-output-", suffix=".txt")
    os.unlink(capture_path)
    cmd_r, cmd_w = os.pipe()
    reply_r, reply_w = os.pipe()
    w._FORKED_BY[:] = [os.getpid()]
    learner_pid = os.fork()
    if learner_pid == 0:
        os.close(cmd_w)
        os.close(reply_r)
        os.setpgid(0, 0)
        # The seed stays with the judge: its inputs cannot be foreseen from here.
        mine = {k: v for k, v in request.items() if k not in ("seed", "id")}
        w._child_entry(mine, -1, capture, "", body=lambda: Agent(mine, cmd_r, reply_w).serve())
    close_quietly(cmd_r)
    close_quietly(reply_w)
    key = secrets.token_hex(16)  # drawn after the learner's child was forked: it never held it
    events_r, events_w = os.pipe()
    judge_pid = os.fork()
    if judge_pid == 0:
        os.close(events_r)
        _judge_entry(request, checks_module, cmd_w, reply_r, events_w, key)
    for fd in (cmd_w, reply_r, events_w):
        close_quietly(fd)
    ended: list[int] = []

    def learner_exit(wait: float) -> int | None:
        give_up = time.monotonic() + wait
        while True:
            try:
                done, status = os.waitpid(learner_pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= give_up:
                return None
            time.sleep(0.005)

    def poll() -> int | None:
        if not ended:
            done, status = os.waitpid(judge_pid, os.WNOHANG)
            if not done:
                return None
            code = os.waitstatus_to_exitcode(status)
            # A judge that stopped early stopped because the learner's child did: say how it ended.
            mine = learner_exit(2.0 if code == 0 else 0.5)
            ended.append(mine if code != 0 and mine not in (None, 0) else code)
        return ended[0]

    def kill() -> None:
        for pgid in (learner_pid, judge_pid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    try:
        return w.supervise(events_r, poll, kill, request, capture, key, learner_pid, abort_fd)
    finally:
        kill()
        learner_exit(1.0)


def _judge_entry(request: dict[str, Any], checks_module: Any, cmd_fd: int, reply_fd: int, events_fd: int, key: str) -> None:
    """The judge's process: its own group, no terminal output (the worker's stdout is its
    reply channel), dies with the worker; exits 0 with a verdict, 5 when the learner's
    child ended or spoke out of turn first."""
    import json
    import traceback

    from tutor.engine import worker as w
    from tutor.engine.hardening import die_with_parent

    code = 0
    try:
        os.setpgid(0, 0)
        die_with_parent()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        # The asking command's environment and data folder (a run milestone reads its checkpoint there).
        w._take_callers_place(request)
        if request.get("data_home"):
            os.environ["TUTOR_HOME"] = str(request["data_home"])

        def emit(event: dict[str, Any]) -> None:
            data = (json.dumps({**event, "id": str(request["id"]), "key": key}) + "\n").encode()
            while data:
                data = data[os.write(events_fd, data):]

        # A backstop only: the worker enforces the lesson's time limit and kills both.
        session = Session(cmd_fd, reply_fd, time.monotonic() + float(request["timeout"]) + 30)
        try:
            _judge(request, checks_module, session, emit)
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
    os._exit(code)


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
            session.request("seed", learner_seed(seed))
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
