"""The check worker: runs a lesson's checks against untrusted learner code.

Process layout:

    app / CLI  --(JSON lines on stdin/stdout)-->  warm worker (torch imported once)
                                                      |  fork() per lesson
                                                      v
                                                 child: memory limit, learner's
                                                 prints captured, checks run,
                                                 events streamed on a pipe

The warm worker never runs learner code itself, so an endless loop, a crash or a
poisoned import in one check cannot hurt it; it watches each child with a time
limit and turns whatever happened into a structured result. Where fork() is not
available the child is a fresh interpreter (`python -m tutor.engine.worker --child`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

OUTPUT_LIMIT = 4000  # characters of the learner's own prints kept for the report
FILE_SIZE_LIMIT = 64 * 2**20  # a print loop must not fill the disk
IDLE_AFTER = 0.3  # seconds without a request before the worker warms up further


# --- inside the child -----------------------------------------------------


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
        limit = current + memory_mb * 2**20
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard == resource.RLIM_INFINITY or FILE_SIZE_LIMIT < hard:
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, hard))


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    )


def describe_exception(exc: BaseException, model_dir: Path, memory_mb: int | None) -> dict[str, str]:
    """A check's result for an exception, with the learner's own frame first."""
    from tutor.checks import CheckFailed

    if isinstance(exc, CheckFailed):
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
            "message": f"Your code raised {type(exc).__name__}: {exc}{where}",
            "traceback": "Your frames, innermost first:\n" + learner_first + "\nFull traceback:\n" + full,
        }
    return {
        "status": "error",
        "message": f"The check could not use what your code returned: {type(exc).__name__}: {exc}",
        "traceback": full,
    }


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
    """Import the learner's files, then run each check of the lesson in order."""
    workspace = Path(request["workspace"]).resolve()
    model_dir = workspace / "model"
    memory_mb = request.get("memory_mb")
    sys.path.insert(0, str(workspace))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's folder
    if request.get("data_home"):
        os.environ["TUTOR_HOME"] = request["data_home"]

    for name in request["files"]:
        module = f"model.{Path(name).stem}"
        if not (model_dir / name).is_file():
            emit({"event": "fatal", "message": f"model/{name} is missing. `tutor reset {request['number']}` restores it."})
            return
        try:
            importlib.import_module(module)
        except SyntaxError as exc:
            emit({"event": "fatal", "message": _syntax_message(exc, workspace)})
            return
        except BaseException as exc:  # noqa: BLE001 - learner code may raise anything
            info = describe_exception(exc, model_dir, memory_mb)
            emit({"event": "fatal", "message": f"Importing model/{name} failed. {info['message']}", "traceback": info["traceback"]})
            return

    spec = importlib.util.spec_from_file_location(f"tutor_lesson_{request['number']:02d}_checks", request["checks_path"])
    assert spec and spec.loader
    checks_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks_module)
    from tutor.checks import collect_checks

    checks = collect_checks(checks_module)
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
    emit({"event": "done"})


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def _child_entry(request: dict[str, Any], result_fd: int, capture_path: str) -> None:
    """Body of the child: limits, output capture, checks; then exit hard."""
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)  # input() must not read the worker's request pipe
        os.close(null)
        out = os.open(capture_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        _apply_memory_limit(request.get("memory_mb"))

        def emit(event: dict[str, Any]) -> None:
            data = (json.dumps(event) + "\n").encode()
            while data:
                data = data[os.write(result_fd, data):]

        run_checks(request, emit)
    except BaseException:  # noqa: BLE001 - report and leave; never unwind into the parent's code
        try:
            traceback.print_exc()
        finally:
            os._exit(3)
    os._exit(0)


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


def supervise(read_fd: int, wait: Callable[[], int], kill: Callable[[], None], request: dict[str, Any], capture_path: str) -> dict[str, Any]:
    """Collect a child's events within the time limit; explain any way it ended badly."""
    timeout = float(request["timeout"])
    started = time.monotonic()
    deadline = started + timeout
    buffer = b""
    events: list[dict[str, Any]] = []
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            kill()
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        events.extend(json.loads(line) for line in lines if line.strip())
    os.close(read_fd)
    code = wait()
    elapsed = time.monotonic() - started
    try:
        output = Path(capture_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        output = ""
    finally:
        try:
            os.unlink(capture_path)
        except OSError:
            pass
    return _assemble(events, timed_out, code, elapsed, request, output)


def _assemble(events: list[dict[str, Any]], timed_out: bool, code: int, elapsed: float, request: dict[str, Any], output: str) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    running: str | None = None
    fatal: dict[str, Any] | None = None
    done = False
    for event in events:
        kind = event.get("event")
        if kind == "started":
            running = event["name"]
        elif kind == "check":
            running = None
            checks.append({k: event[k] for k in ("name", "status", "message", "traceback")})
        elif kind == "fatal":
            fatal = event
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
    }
    if fatal:
        result.update(status="error", message=fatal["message"], traceback=fatal.get("traceback", ""))
    elif timed_out or not done:
        if timed_out:
            why = f"did not finish within {request['timeout']:g} s: an endless loop, or far too slow?"
        else:
            why = f"stopped: the check process {_exit_reason(code)}"
        where = f"the check '{running}'" if running else "loading the lesson"
        message = f"While running {where}, your code {why}" if running else f"While {where}, the worker {why}"
        if running:
            checks.append({"name": running, "status": "error", "message": message, "traceback": ""})
        result.update(status="error", message=message)
        if not timed_out and code == 3 and output:
            result["traceback"] = output[-OUTPUT_LIMIT:]
    elif any(c["status"] != "passed" for c in checks):
        result["status"] = "failed"
    return result


def run_in_child(request: dict[str, Any]) -> dict[str, Any]:
    """Run one lesson's checks in a fresh child and return its result."""
    fd, capture_path = tempfile.mkstemp(prefix="tutor-output-", suffix=".txt")
    os.close(fd)
    read_fd, write_fd = os.pipe()
    if hasattr(os, "fork"):
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            os.setpgid(0, 0)  # its own group, so a kill takes any processes it started
            _child_entry(request, write_fd, capture_path)
        os.close(write_fd)

        def wait() -> int:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)

        def kill() -> None:
            for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    target()
                except (ProcessLookupError, PermissionError):
                    pass

        return supervise(read_fd, wait, kill, request, capture_path)

    proc = subprocess.Popen(  # pragma: no cover - platforms without fork()
        [sys.executable, "-m", "tutor.engine.worker", "--child", str(write_fd), capture_path],
        stdin=subprocess.PIPE,
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    assert proc.stdin
    proc.stdin.write(json.dumps(request).encode())
    proc.stdin.close()
    return supervise(read_fd, proc.wait, proc.kill, request, capture_path)


# --- the warm worker's loop ------------------------------------------------


def warm_up() -> None:
    """Import what every check needs, once, before any child is forked."""
    import numpy  # noqa: F401
    import regex  # noqa: F401
    import tiktoken  # noqa: F401
    import torch  # noqa: F401
    import torch.utils.data  # noqa: F401

    import tutor.checks  # noqa: F401
    import tutor.checks.torch_refs  # noqa: F401


def warm_up_more() -> None:
    """Slower imports that some checks need (an optimizer's first step imports
    torch._dynamo, 0.8 s); done only while no request waits."""
    import torch._dynamo  # noqa: F401


def _lines(fd: int, idle: Callable[[], None]):
    """Request lines from `fd`; calls `idle` once, the first time none is waiting."""
    buffer = b""
    idled = False
    while True:
        while b"\n" not in buffer:
            if not idled and not select.select([fd], [], [], IDLE_AFTER)[0]:
                idle()
                idled = True
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        yield line.decode()


def serve() -> None:
    stdout = sys.stdout
    warm_up()
    stdout.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    stdout.flush()
    for line in _lines(sys.stdin.fileno(), warm_up_more):
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            result = run_in_child(request)
        except Exception as exc:  # noqa: BLE001 - keep serving; report the fault
            result = {"number": request.get("number"), "status": "error", "checks": [], "message": f"The check worker failed: {exc!r}", "traceback": traceback.format_exc(), "output": "", "seed": request.get("seed"), "duration": 0.0}
        stdout.write(json.dumps(result) + "\n")
        stdout.flush()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # pragma: no cover - platforms without fork()
        request = json.loads(sys.stdin.read())
        _child_entry(request, int(argv[1]), argv[2])
        return
    serve()


if __name__ == "__main__":
    main()
