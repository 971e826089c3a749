"""The check worker: runs a lesson's checks against untrusted learner code.

Process layout:

    app / CLI  --(JSON lines on stdin/stdout)-->  warm worker (torch imported once)
                                                      |  fork() once per lesson, and
                                                      v  once for the judge
                              learner's process (tutor.engine.agent): limits, prints
                              captured, the only one that imports model/; answers
                              questions with data
                              judge (tutor.engine.judge): given each lesson's pipes,
                              runs the checks, asks, decides; streams events on a
                              pipe to the worker

The warm worker never runs learner code itself, so an endless loop, a crash or a
poisoned import in one check cannot hurt it; it watches each lesson with a time
limit and turns whatever happened into a structured result. The verdict is decided
where no learner code runs (see docs/security.md). Besides:
- the worker's replies carry a key that the runner gave it, which is wiped in each
  child, so a forged reply on the worker's own stdout is rejected;
- the worker is a child subreaper: whatever a check started, `setsid` or not, is
  killed when the check ends.

Where fork() is not available the checks run in one child, a fresh interpreter
(`python -m tutor.engine.worker --child`), beside the learner's code: there the
checks and the tools they rely on are snapshotted before the learner's code is
imported and compared after, and the child's events carry a per-request key and may
come from the check loop alone.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import random
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUTPUT_LIMIT = 4000  # characters of the learner's own prints kept for the report
FILE_SIZE_LIMIT = 64 * 2**20  # a print loop must not fill the disk


# --- inside the child -----------------------------------------------------

# Taken when the worker starts, before any learner code: a learner who replaces
# json.dumps or os.write cannot change what these names mean here.
_dumps, _write, _getframe = json.dumps, os.write, sys._getframe
from tutor.checks import CheckFailed as _CheckFailed  # noqa: E402
from tutor.checks import collect_checks as _collect_checks  # noqa: E402


def _apply_memory_limit(memory_mb: int | None) -> None:
    try:
        import resource
    except ImportError:  # Windows: no rlimits
        return
    if memory_mb:
        try:
            with open("/proc/self/statm") as f:
                current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            current = 0
        _lower_limit(resource.RLIMIT_AS, current + memory_mb * 2**20)
    _lower_limit(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT)


def _lower_limit(which: int, limit: int) -> None:
    """Soft and hard limit both: a soft limit alone, learner code can lift to the hard one."""
    import resource

    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(which, (limit, limit))


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    )


def describe_exception(exc: BaseException, model_dir: Path, memory_mb: int | None) -> dict[str, str]:
    """A check's result for an exception, with the learner's own frame first."""
    if isinstance(exc, _CheckFailed):
        return {"status": "failed", "message": str(exc), "traceback": ""}
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if _inside(f.filename, model_dir)]
    full = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    where = ""
    if mine:
        f = mine[-1]
        rel = Path(f.filename).resolve().relative_to(model_dir.parent)
        where = f"\n  at {rel}, line {f.lineno}, in {f.name}\n    {(f.line or '').strip()}"
    if isinstance(exc, NotImplementedError) and mine:
        f = mine[-1]
        text = str(exc) or f"{f.name} is not written yet"
        rel = Path(f.filename).resolve().relative_to(model_dir.parent)
        return {"status": "failed", "message": f"Not implemented yet: {text}. Write it in {rel}, line {f.lineno}.", "traceback": ""}
    if _is_out_of_memory(exc):
        limit = f" (the limit is {memory_mb} MB)" if memory_mb else ""
        return {
            "status": "error",
            "message": f"Your code ran out of memory{limit}: is a tensor far larger than it needs to be?{where}",
            "traceback": full,
        }
    if isinstance(exc, SystemExit):
        return {"status": "error", "message": f"Your code called sys.exit({exc.code!r}).{where}", "traceback": full}
    if mine:
        learner_first = "".join(traceback.format_list(mine[::-1]))
        return {
            "status": "error",
            "message": f"Your code raised {type(exc).__name__}: {exc}{where}{_likely_cause(exc, mine[-1].line or '')}",
            "traceback": "Your frames, innermost first:\n" + learner_first + "\nFull traceback:\n" + full,
        }
    return {
        "status": "error",
        "message": f"The check could not use what your code returned: {type(exc).__name__}: {exc}",
        "traceback": full,
    }


def _likely_cause(exc: BaseException, line: str) -> str:
    """A named mistake for an error whose line shows it; "" when none is clear."""
    if isinstance(exc, RuntimeError) and re.search(r"\.T\b", line) and ("size" in str(exc) or "shape" in str(exc)):
        return ("\n  Looks like .T on a batch: on a 3-D tensor .T reverses every dimension, the batch too. "
                "Swap the last two with .transpose(-2, -1) (or .mT).")
    return ""


def _inside(filename: str, folder: Path) -> bool:
    try:
        Path(filename).resolve().relative_to(folder)
        return True
    except (ValueError, OSError):
        return False


def _syntax_message(exc: SyntaxError, workspace: Path) -> str:
    try:
        rel = Path(exc.filename or "").resolve().relative_to(workspace)
    except ValueError:
        rel = exc.filename
    line = (exc.text or "").rstrip("\n")
    caret = " " * max((exc.offset or 1) - 1, 0) + "^"
    return f"{rel} has a syntax error on line {exc.lineno}: {exc.msg}\n    {line.strip()}\n    {caret[len(line) - len(line.lstrip()):]}"


def run_checks(request: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    """Load the lesson's checks, then the learner's files, then run each check in order.

    The checks (trusted) are loaded and snapshotted before any learner code runs,
    so nothing the learner's `model/__init__.py` does can change which checks run
    or how they decide without the guard seeing it."""
    from tutor.engine.guard import Guard

    workspace = Path(request["workspace"]).resolve()
    model_dir = workspace / "model"
    memory_mb = request.get("memory_mb")
    sys.path.insert(0, str(workspace))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's folder
    if request.get("data_home"):
        os.environ["TUTOR_HOME"] = request["data_home"]

    spec = importlib.util.spec_from_file_location(f"tutor_lesson_{request['number']:02d}_checks", request["checks_path"])
    assert spec and spec.loader
    checks_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks_module)
    checks = _collect_checks(checks_module)
    guard = Guard(checks_module, checks)
    sys.meta_path.insert(0, _ImportsSought)  # type: ignore[arg-type]

    stopped = import_lesson_files(request, workspace)
    if stopped is not None:
        emit({"event": "fatal", **stopped})
        return

    emit({"event": "plan", "checks": [name for name, _ in checks]})
    seed = int(request["seed"])
    for index, (name, func) in enumerate(checks):
        emit({"event": "started", "name": name})
        _seed_everything(seed + index)
        try:
            note = func()  # a check may return a short note (a measured figure) for its pass
            result = {"status": "passed", "message": note if isinstance(note, str) else "", "traceback": ""}
        except BaseException as exc:  # noqa: BLE001
            result = describe_exception(exc, model_dir, memory_mb)
        emit({"event": "check", "name": name, **result})
    emit({"event": "used", "files": _model_files_loaded(model_dir)})
    changed = guard.changed()
    if changed:
        emit({"event": "tampered", "why": "your code replaced what the checks rely on: " + ", ".join(changed[:8])})
    emit({"event": "done"})


def import_lesson_files(request: dict[str, Any], workspace: Path) -> dict[str, str] | None:
    """Import the lesson's files of model/, as its checks will use them: None, or the message
    (and traceback) of what stopped it: a missing file, a syntax error, an import that raised."""
    model_dir = workspace / "model"
    for name in request["files"]:
        if not (model_dir / name).is_file():
            return {"message": f"model/{name} is missing. `tutor reset {request['number']}` restores it.", "traceback": ""}
        try:
            importlib.import_module(f"model.{Path(name).stem}")
        except SyntaxError as exc:
            return {"message": _syntax_message(exc, workspace), "traceback": ""}
        except BaseException as exc:  # noqa: BLE001 - learner code may raise anything
            info = describe_exception(exc, model_dir, request.get("memory_mb"))
            return {"message": f"Importing model/{name} failed. {info['message']}", "traceback": info["traceback"]}
    return None


class _ImportsSought:
    """First on sys.meta_path while the learner's code runs: notes every module of the
    `model` package that is asked for, found or not (`try: import model.fast` that fails
    today depends on model/fast.py all the same), and finds nothing itself."""

    sought: set[str] = set()

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "model" or fullname.startswith("model."):
            cls.sought.add(fullname)
        return None


def _model_files_loaded(model_dir: Path) -> list[str]:
    """The files of model/ that this lesson's run imported or looked for: a later edit to
    any other file cannot change its verdict, so the pass it earned stays true. Paths are
    taken as the import system saw them (model/helper.py that links elsewhere is
    model/helper.py), and as they resolve (a model/ folder that is itself a link)."""
    used = set()
    roots = [Path(os.path.abspath(model_dir)), model_dir.resolve()]
    # The learner's files are the modules of the `model` package; torch and the rest are
    # thousands of modules whose attributes are not read (some load lazily when asked).
    # Read by name, not by walking sys.modules: every module touched here is a page copied
    # in this forked process, and sys.modules holds thousands. Those imported since the
    # fork are its newest entries: a model module put there by hand is among them.
    names = set(_ImportsSought.sought)
    newest = max(0, len(sys.modules) - MODULES_AT_FORK[0]) + 32
    names.update(name for name in itertools.islice(reversed(sys.modules), newest)
                 if name == "model" or name.startswith("model."))
    mine = [sys.modules[name] for name in sorted(names) if name in sys.modules]
    for module in mine:
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            continue
        for root, name in ((roots[0], Path(os.path.abspath(filename))), (roots[1], Path(filename).resolve())):
            try:
                used.add(name.relative_to(root).as_posix())
                break
            except ValueError:
                continue
    for fullname in _ImportsSought.sought:
        parts = fullname.split(".")[1:]
        if parts:
            used.add("/".join(parts) + ".py")
            used.add("/".join(parts) + "/__init__.py")
    return sorted(used)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        torch.manual_seed(seed)  # every device's generator, each when first used
    else:
        # What torch.manual_seed does on a CPU-only machine, without the 0.1-1 ms it spends
        # recording the caller's stack in case CUDA starts later: a check seeds often.
        torch.default_generator.manual_seed(seed)


def _child_entry(request: dict[str, Any], result_fd: int, capture: str | int, key: str,
                 body: Callable[[], None] | None = None) -> None:
    """Body of the child: limits, output capture (a file's path, or the descriptor of an
    unlinked one), then the checks (or, judged, `body`: the learner's side); then exit hard."""
    try:
        _wipe_reply_key()
        _leave_parent_behind()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # input() must not read the worker's request pipe
        os.close(null)
        out = os.dup(capture) if isinstance(capture, int) else os.open(capture, os.O_WRONLY | os.O_APPEND)
        _take_callers_place(request)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        _apply_memory_limit(request.get("memory_mb"))
        _limit_threads(request.get("threads"))
        if body is not None:
            body()
        else:
            run_checks(request, _make_emit(result_fd, str(request["id"]), key))
    except BaseException:  # noqa: BLE001 - report and leave; never unwind into the parent's code
        try:
            traceback.print_exc()
        finally:
            os._exit(3)
    os._exit(0)


def _take_callers_place(request: dict[str, Any]) -> None:
    """The environment and folder of the command that asked for the check, whichever process
    forks it (a worker of its own, or a check server started by an earlier command): the
    same code then gets the same verdict either way. The workspace is the current folder."""
    env = request.get("env")
    if isinstance(env, dict):
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
    if request.get("tmpdir"):  # the check's own scratch folder, removed with the check
        os.environ["TMPDIR"] = tempfile.tempdir = str(request["tmpdir"])
    try:
        os.chdir(request["workspace"])
    except (OSError, KeyError, TypeError):
        pass


# Descriptors of the process that forks the checks (a check server's sockets): closed in
# each child before any learner code runs, so that code cannot answer a client itself.
PARENT_FDS: list[int] = []


def _leave_parent_behind() -> None:
    """Close the parent's own descriptors, and die with the parent: a check whose worker was
    killed must not run on with no time limit."""
    for fd in PARENT_FDS:
        try:
            os.close(fd)
        except OSError:
            pass
    from tutor.engine.hardening import die_with_parent

    die_with_parent(_FORKED_BY[0] if _FORKED_BY else None)


_FORKED_BY: list[int] = []  # the pid of the process that forked this child


def _make_emit(result_fd: int, request_id: str, key: str) -> Callable[[dict[str, Any]], None]:
    """The child's only way to speak: stamped messages, from the check loop alone."""
    trusted = {run_checks.__code__, _child_entry.__code__}

    def emit(event: dict[str, Any]) -> None:
        caller = _getframe(1).f_code
        if caller not in trusted:
            event = {"event": "tampered", "why": f"code in {Path(caller.co_filename).name} ({caller.co_name}) "
                                                  "tried to send a verdict of its own"}
        data = (_dumps({**event, "id": request_id, "key": key}) + "\n").encode()
        while data:
            data = data[_write(result_fd, data):]

    return emit


def _limit_threads(threads: int | None) -> None:
    """The child's share of the cores: several workers each using every core run far
    slower than one thread each, and a check's time limit is for endless loops."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch

        torch.set_num_threads(int(threads))
    except ImportError:  # pragma: no cover
        pass


# --- supervising a child --------------------------------------------------


def _exit_reason(code: int) -> str:
    if code < 0:
        sig = -code
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGKILL:
            return f"was killed ({name}; often the system running out of memory)"
        if hasattr(signal, "SIGXFSZ") and sig == signal.SIGXFSZ:
            return f"printed more than {FILE_SIZE_LIMIT // 2**20} MB of output ({name})"
        return f"crashed ({name})"
    return f"exited with code {code} (did your code call os._exit() or exit the interpreter?)"


def supervise(read_fd: int, poll: Callable[[], int | None], kill: Callable[[], None], request: dict[str, Any],
              capture: str | int, key: str, pid: int | None = None, abort_fd: int | None = None,
              settle: Callable[[dict[str, Any] | None], int | None] | None = None) -> dict[str, Any]:
    """Collect a child's events within the time limit; explain any way it ended badly.

    The child's end, not the pipe's, ends the wait: a process the learner started
    with `setsid` may hold the pipe open long after the checks are done. With `settle`
    (the judge, which runs no learner code and outlives the check), the last event once
    the pipe closes says how the check ended, when it can: no process end is awaited."""
    timeout = float(request["timeout"])
    started = time.monotonic()
    deadline = started + timeout
    buffer = b""
    events: list[dict[str, Any]] = []
    timed_out = False
    code: int | None = None
    forged = 0
    spent: tuple[float, float] | None = None
    while code is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            spent = time_spent(pid) if pid else None
            kill()
            break
        ready, _, _ = select.select([read_fd] + ([abort_fd] if abort_fd is not None else []), [], [], min(remaining, 0.05))
        if abort_fd is not None and abort_fd in ready:
            kill()  # the one who asked has gone (Ctrl-C): the check ends with it
            abort_fd = None
            continue
        if read_fd in ready:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break  # the pipe closed: the child is ending; wait for it below
            buffer += chunk
        code = poll()
    if settle is not None and not timed_out and code is None:
        code = settle(_last_event(buffer, str(request["id"]), key))
    if code is None:
        code = _wait_exit(poll, kill)
    kill_orphans()
    buffer += _drain(read_fd)
    os.close(read_fd)
    for line in buffer.split(b"\n"):
        event = _parse_event(line, str(request["id"]), key)
        if event is None:
            forged += bool(line.strip())
        else:
            events.append(event)
    if forged:
        events.append({"event": "tampered", "why": f"{forged} message(s) on the check channel did not come from the checks"})
    elapsed = time.monotonic() - started
    output = _read_capture(capture)
    return _assemble(events, timed_out, code, elapsed, request, output, spent)


def _poll_for(poll: Callable[[], Any], seconds: float) -> Any:
    """poll()'s first answer that is not None, asked again at growing intervals (from
    0.2 ms: a child that closed its pipe is usually gone within a millisecond); None
    after `seconds`."""
    give_up = time.monotonic() + seconds
    pause = 0.0002
    while (answer := poll()) is None and time.monotonic() < give_up:
        time.sleep(pause)
        pause = min(pause * 2, 0.01)
    return answer


def _wait_exit(poll: Callable[[], int | None], kill: Callable[[], None]) -> int:
    code = _poll_for(poll, 5.0)
    while code is None:
        kill()
        code = _poll_for(poll, 1.0)
    return code


def wait_pid(pid: int, wait: float) -> int | None:
    """The exit code of child `pid` once it ends, within `wait` seconds; None if it has not
    ended (or is not this process's child)."""
    def collected() -> int | bool | None:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False
        if not done:
            return None
        if pid in _REAP_LATER:  # collected here: its number may be reused from now on
            _REAP_LATER.remove(pid)
        return os.waitstatus_to_exitcode(status)

    code = _poll_for(collected, wait)
    return None if code is False else code


def sigkill(pid: int) -> None:
    """SIGKILL process `pid`'s group and the process itself (which may have left it)."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _drain(fd: int) -> bytes:
    """What is left in the pipe once the child has ended and its descendants are killed."""
    data = b""
    os.set_blocking(fd, False)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            if not select.select([fd], [], [], 0.05)[0]:
                break
            continue
        if not chunk:
            break
        data += chunk
    return data


def _parse_event(line: bytes, request_id: str, key: str) -> dict[str, Any] | None:
    """An event of this request's child, or None for anything else on the pipe."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("id") != request_id or not secrets.compare_digest(str(event.get("key", "")), key):
        return None
    return event


def _last_event(buffer: bytes, request_id: str, key: str) -> dict[str, Any] | None:
    return _parse_event(buffer.rstrip(b"\n").rsplit(b"\n", 1)[-1], request_id, key)


# A check's processes, killed (they run no more code) but collected only once the
# verdict is sent: the end of a large process, its memory unmapped, takes ~10 ms. A
# pid stays here until it is collected, so that no signal goes to a reused number.
_REAP_LATER: list[int] = []
# Children that are not a check's leftovers: the judge, which outlives each check.
KEEP_CHILDREN: list[int] = []
# How many leftovers kill_orphans has killed: a check that left processes behind may
# have signalled the judge, which is then replaced.
LEFTOVERS_KILLED = [0]


def reap_later(pid: int) -> None:
    _REAP_LATER.append(pid)


def kill_uncollected(pid: int) -> None:
    """SIGKILL child `pid` and its group, unless it has been collected already (its
    number may belong to another process by now)."""
    if pid in _REAP_LATER:
        sigkill(pid)


def finish_check() -> None:
    """Collect the last check's processes, then kill what they left running (processes
    they started are handed to this worker only as they end). Called after each reply and
    before each check: the next check never starts beside the last one's leftovers."""
    if not _REAP_LATER:
        return
    while _REAP_LATER:
        pid = _REAP_LATER[-1]
        kill_uncollected(pid)
        _REAP_LATER.pop()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    kill_orphans()


def kill_orphans() -> None:
    """Kill every process this worker inherited as a subreaper: whatever a check left
    running, in its own session or not. Repeats until none is left, because a killed
    process's own children are handed to the worker in turn."""
    if not _SUBREAPER:
        return
    me = os.getpid()
    for _ in range(50):
        orphans = [pid for pid in _children_of(me) if pid not in _REAP_LATER and pid not in KEEP_CHILDREN]
        if not orphans:
            break
        LEFTOVERS_KILLED[0] += len(orphans)
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in orphans:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _children_of(parent: int) -> list[int]:
    """The processes whose parent is `parent` (this worker): from its own threads' lists
    where Linux keeps them, which touch no other process (reading the /proc entry of one
    that is ending waits until its memory is unmapped); else by reading every process's."""
    try:
        tasks = os.listdir(f"/proc/{parent}/task")
        found = set()
        for task in tasks:
            with open(f"/proc/{parent}/task/{task}/children", "rb") as f:
                found.update(int(pid) for pid in f.read().split())
        return sorted(found)
    except (OSError, ValueError):
        pass
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the fields follow the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            found.append(int(entry))
    return found


_USED_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\.py")


def _clean_used(files: object) -> list[str] | None:
    """The child's list of the model/ files it imported, as data: relative .py paths
    that stay inside model/, at most 500 of them; None when it is not such a list."""
    if not isinstance(files, list) or len(files) > 500:
        return None
    clean = [f for f in files if isinstance(f, str) and _USED_NAME.fullmatch(f) and ".." not in f.split("/")]
    return sorted(set(clean)) if len(clean) == len(files) else None


def time_spent(pid: int) -> tuple[float, float] | None:
    """(seconds on a processor, seconds waiting for one) of the main thread of `pid` so far,
    from Linux's scheduler statistics; None where they cannot be read. The main thread
    alone: it runs the checks, and the threads of a matrix product would add up to more
    seconds than the clock shows."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            fields = f.read().split()
        run, wait = int(fields[0]) / 1e9, int(fields[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
    return (run, wait) if run or wait else None


def timeout_reason(limit: float, elapsed: float, spent: tuple[float, float] | None) -> str:
    """Why a check ran out of time, as far as the scheduler can tell: a busy machine (the
    check waited for a processor a good part of the time), code that waited (sleep,
    input, a lock), or code that computed all along (an endless loop, or far too slow)."""
    if spent:
        run, wait = spent
        if wait >= 0.25 * max(run + wait, 1e-9) and wait >= 0.1 * elapsed:
            try:
                load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            except OSError:
                load = f"{os.cpu_count()} cores"
            return (f"was slowed by a busy machine and did not finish within {limit:g} s: it waited {wait:.1f} s "
                    f"for a processor and computed for {run:.1f} s ({load}). If your code is only slow, check again when "
                    "the machine is quieter, or allow more time with --timeout SECONDS; an endless loop would not "
                    "finish either way")
        if run < 0.3 * elapsed:
            return (f"did not finish within {limit:g} s, and computed for only {run:.1f} s of them: it was waiting "
                    "(time.sleep, input(), a lock, or another process that never answered)")
    return f"did not finish within {limit:g} s: an endless loop, or far too slow?"


def _assemble(events: list[dict[str, Any]], timed_out: bool, code: int, elapsed: float, request: dict[str, Any], output: str,
              spent: tuple[float, float] | None = None) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    running: str | None = None
    fatal: dict[str, Any] | None = None
    tampered: list[str] = []
    used: list[str] | None = None
    done = False
    for event in events:
        kind = event.get("event")
        if kind == "started":
            running = str(event.get("name"))
        elif kind == "check":
            running = None
            checks.append({k: str(event.get(k, "")) for k in ("name", "status", "message", "traceback")})
        elif kind == "fatal":
            fatal = event
        elif kind == "tampered":
            tampered.append(str(event.get("why", "")))
        elif kind == "used":
            used = _clean_used(event.get("files"))
        elif kind == "done":
            done = True
    result: dict[str, Any] = {
        "number": request["number"],
        "status": "passed",
        "checks": checks,
        "message": "",
        "traceback": "",
        "output": output[-OUTPUT_LIMIT:],
        "seed": request["seed"],
        "duration": round(elapsed, 3),
        "used_files": used,
    }
    if tampered:
        reasons = "; ".join(dict.fromkeys(tampered))
        result.update(status="tampered", message=f"Tampered: {reasons}. The checks' verdict cannot be trusted, "
                                                   "so this lesson does not pass.")
    elif fatal:
        result.update(status="error", message=str(fatal.get("message", "")), traceback=str(fatal.get("traceback", "")))
    elif timed_out or not done:
        if timed_out:
            why = timeout_reason(float(request["timeout"]), elapsed, spent)
        else:
            why = f"stopped: the check process {_exit_reason(code)}"
        where = f"the check '{running}'" if running else "loading the lesson and your files"
        who = "the check" if why.startswith("was slowed") else "your code" if running or timed_out else "the worker"
        message = f"While running {where}, {who} {why}" if running else f"While {where}, {who} {why}"
        if running:
            checks.append({"name": running, "status": "error", "message": message, "traceback": ""})
        result.update(status="error", message=message)
        if not timed_out and code == 3 and output:
            result["traceback"] = output[-OUTPUT_LIMIT:]
    elif any(c["status"] != "passed" for c in checks):
        result["status"] = "failed"
    elif not checks:
        result.update(status="error", message="This lesson ran no checks: its checks.py is empty or damaged. "
                                              "Reinstall the tutor.")
    return result


def _read_capture(capture: str | int) -> str:
    """The end of what the child printed (the report keeps OUTPUT_LIMIT characters); the
    capture file is gone afterwards."""
    try:
        if isinstance(capture, int):
            size = os.fstat(capture).st_size
            data = os.pread(capture, min(size, 4 * OUTPUT_LIMIT), max(0, size - 4 * OUTPUT_LIMIT))
            return data.decode("utf-8", errors="replace")
        return Path(capture).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    finally:
        try:
            os.close(capture) if isinstance(capture, int) else os.unlink(capture)
        except OSError:
            pass


def run_in_child(request: dict[str, Any], abort_fd: int | None = None) -> dict[str, Any]:
    """Run one lesson's checks in a fresh child and return its result. The child's printed
    output goes to an unlinked file and its temporary files to a folder of its own, removed
    after the check: a worker killed meanwhile leaves nothing in /tmp but that folder."""
    finish_check()
    scratch = tempfile.mkdtemp(prefix="tutor-check-")
    try:
        if hasattr(os, "fork"):  # the judge and the learner's process, each forked (tutor.engine.judge)
            from tutor.engine.judge import run_judged

            return run_judged({**request, "tmpdir": scratch}, abort_fd)
        return _run_in_child({**request, "tmpdir": scratch}, abort_fd)  # no fork(): one process, guarded
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run_in_child(request: dict[str, Any], abort_fd: int | None = None) -> dict[str, Any]:
    key = secrets.token_hex(16)  # drawn per request: a child cannot reuse an earlier one
    fd, capture_path = tempfile.mkstemp(prefix="tutor-output-", suffix=".txt")
    read_fd, write_fd = os.pipe()
    if hasattr(os, "fork"):
        os.unlink(capture_path)
        capture: str | int = fd
        _FORKED_BY[:] = [os.getpid()]
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            os.setpgid(0, 0)  # its own group, so a kill takes any processes it started
            _child_entry(request, write_fd, capture, key)
        os.close(write_fd)
        exit_code: list[int] = []

        def poll() -> int | None:
            if not exit_code:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    exit_code.append(os.waitstatus_to_exitcode(status))
            return exit_code[0] if exit_code else None

        return supervise(read_fd, poll, lambda: sigkill(pid), request, capture, key, pid, abort_fd)

    os.close(fd)
    proc = subprocess.Popen(  # pragma: no cover - platforms without fork()
        [sys.executable, "-m", "tutor.engine.worker", "--child", str(write_fd), capture_path],
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    assert proc.stdin
    proc.stdin.write(json.dumps({**request, "key": key}).encode())
    proc.stdin.close()
    return supervise(read_fd, proc.poll, proc.kill, request, capture_path, key)


# --- the warm worker's loop ------------------------------------------------


# How many modules the worker had imported when it forked a check: what a check imports
# comes after them in sys.modules.
MODULES_AT_FORK = [0]


def warm_up() -> None:
    """Import what every check needs, once, before any child is forked."""
    import numpy  # noqa: F401
    import regex  # noqa: F401
    import tiktoken  # noqa: F401
    import torch  # noqa: F401

    # An optimizer's first step imports torch._dynamo (0.8 s), which rewraps
    # torch.manual_seed among others. Imported here, once, it is neither paid in every
    # child (a grader's tight time limit) nor mistaken for learner tampering.
    import torch._dynamo  # noqa: F401
    import torch.utils.data  # noqa: F401

    import tutor.checks  # noqa: F401
    import tutor.checks.gpt2_refs  # noqa: F401
    import tutor.checks.llama_refs  # noqa: F401
    import tutor.checks.probes  # noqa: F401
    import tutor.checks.remote  # noqa: F401
    import tutor.checks.torch_refs  # noqa: F401
    import tutor.engine.agent  # noqa: F401
    import tutor.engine.judge  # noqa: F401
    from tutor.engine.guard import prepare

    prepare()
    import gc

    gc.collect()
    gc.freeze()
    MODULES_AT_FORK[0] = len(sys.modules)


def start_judge() -> None:
    """The judge's process, started with the worker so that the first check need not wait
    for it (tutor.engine.judge); where there is no fork(), checks run in one process."""
    if hasattr(os, "fork"):
        from tutor.engine.judge import JUDGE

        JUDGE.ready()


def _lines(fd: int):
    """Request lines from `fd`, until it closes."""
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        yield line.decode()


# The key the runner gave this worker, stamped on every reply. A bytearray, so that
# each child can wipe its copy before any learner code runs (see _wipe_reply_key).
_REPLY_KEY = bytearray()
_SUBREAPER = False


def _wipe_reply_key() -> None:
    for i in range(len(_REPLY_KEY)):
        _REPLY_KEY[i] = 0
    del _REPLY_KEY[:]


def _become_subreaper() -> None:
    """Orphans of the checks come back to this worker, so they can be killed; and other
    processes of this user may not open this worker's pipes through /proc."""
    global _SUBREAPER
    from tutor.engine.hardening import become_subreaper, make_private

    _SUBREAPER = become_subreaper()
    make_private()


def _read_key(fd: int) -> None:
    """The first line on stdin: the runner's key, read byte by byte into _REPLY_KEY."""
    while True:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            return
        _REPLY_KEY.extend(byte)


def serve() -> None:
    stdout = sys.stdout
    stdin = sys.stdin.fileno()
    _read_key(stdin)
    _become_subreaper()
    warm_up()
    start_judge()
    _reply(stdout, {"ready": True, "pid": os.getpid()})
    for line in _lines(stdin):
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = run_in_child(request)
        except Exception as exc:  # noqa: BLE001 - keep serving; report the fault
            result = {"number": request.get("number"), "status": "error", "checks": [], "message": f"The check worker failed: {exc!r}", "traceback": traceback.format_exc(), "output": "", "seed": request.get("seed"), "duration": 0.0}  # noqa: E501
        result["id"] = request.get("id")
        _reply(stdout, result)
        finish_check()


def _reply(stdout: Any, message: dict[str, Any]) -> None:
    stdout.write(json.dumps({**message, "key": _REPLY_KEY.decode()}) + "\n")
    stdout.flush()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # pragma: no cover - platforms without fork()
        request = json.loads(sys.stdin.read())
        _child_entry(request, int(argv[1]), argv[2], request.pop("key"))
        return
    serve()


if __name__ == "__main__":
    # One module, whatever name it is reached by: the judge's `tutor.engine.worker` must be
    # this one, with the subreaper flag and the reply key that serve() set here.
    sys.modules["tutor.engine.worker"] = sys.modules[__name__]
    main()
