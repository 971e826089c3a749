"""The check runner: the app's side of the warm worker.

`CheckRunner` starts `python -m tutor.engine.worker` once (it imports torch, then
waits) and sends it one request per lesson. Re-checks then cost a fork and the
checks themselves, not an interpreter start and a torch import. If the worker
dies or stops answering, the runner says so in the result and starts a new one.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import select
import subprocess
import threading
import time

from tutor.core.locations import child_pythonpath, data_home, python_command
from tutor.engine.lessons import Lesson
from tutor.engine.results import LessonResult
from tutor.engine.status import Status
from tutor.engine.workspace import Workspace

DEFAULT_TIMEOUT = 10.0  # seconds for one lesson's checks
MAX_TIMEOUT = 3600.0  # no check waits longer, whatever is asked
DEFAULT_MEMORY_MB = 2048  # on top of what the worker holds after importing torch
STARTUP_TIMEOUT = 120.0  # a cold torch import on a slow laptop
SLACK = 15.0  # the worker enforces the time limit; this catches a stuck worker


class WorkerError(RuntimeError):
    pass


class ForgedReply(WorkerError):
    """A line on the worker's stdout that the worker did not write."""


def default_threads(workers: int = 1) -> int:
    """Threads for each of a check's two processes when `workers` check at once. Lesson
    checks are small: one thread each is as fast as many, and never oversubscribes. The
    judge and the learner's process take turns, each with half the worker's share, so that
    the threads one leaves spinning after its work never sit on the cores of the other."""
    return max(1, (os.cpu_count() or 1) // (2 * max(1, workers)))


class CheckRunner:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT, memory_mb: int | None = DEFAULT_MEMORY_MB,
                 threads: int | None = None) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.threads = threads or int(os.environ.get("TUTOR_CHECK_THREADS") or 0) or default_threads()
        self._key = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    # -- lifecycle --
    def __enter__(self) -> CheckRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def warm(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the worker now (e.g. while the learner reads), so the first check is fast."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self.warm:
            assert self._proc
            return self._proc
        env = dict(os.environ)
        env["PYTHONPATH"] = child_pythonpath()
        env.setdefault("PYTHONWARNINGS", "ignore")
        proc = subprocess.Popen(
            python_command("tutor.engine.worker"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C in the terminal goes to the app, which ends the worker
        )
        # A fresh key per worker: its replies carry it, so a line that learner code
        # writes into the worker's stdout is told apart from a real verdict.
        self._key = secrets.token_hex(16)
        assert proc.stdin
        proc.stdin.write((self._key + "\n").encode())
        proc.stdin.flush()
        line = self._read_line(proc, STARTUP_TIMEOUT)
        ready = self._verified(line) if line else None
        if not ready or not ready.get("ready"):
            proc.kill()
            raise WorkerError("the check worker did not start (is torch installed? try: python -c 'import torch')")
        self._proc = proc
        return proc

    def _verified(self, line: bytes) -> dict | None:
        """The worker's reply, or None when the line is not one (it lacks the worker's key)."""
        try:
            message = json.loads(line)
        except ValueError:
            return None
        if not isinstance(message, dict) or not secrets.compare_digest(str(message.pop("key", "")), self._key):
            return None
        return message

    def _discard(self) -> None:
        """End a worker that failed, and whatever its checks left running in its session
        (a check whose worker was killed must not run on without a time limit)."""
        if self._proc:
            from tutor.engine.hardening import kill_session

            self._proc.kill()
            kill_session(self._proc.pid)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._proc = None

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc and proc.poll() is None:
            try:
                assert proc.stdin
                proc.stdin.close()
                proc.wait(timeout=2)
            except Exception:  # noqa: BLE001
                proc.kill()

    @staticmethod
    def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes | None:
        assert proc.stdout
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        chunks = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            chunks += chunk
            if chunks.endswith(b"\n"):
                return chunks
        return None

    # -- checking --
    def request(self, workspace: Workspace, lesson: Lesson, *, seed: int | None = None, timeout: float | None = None) -> dict:
        """What the worker is asked to do for one lesson."""
        return {
            "number": lesson.number,
            "workspace": str(workspace.root),
            "files": list(lesson.files),
            "checks_path": str(lesson.checks_path),
            "timeout": min(max(self.timeout if timeout is None else timeout, lesson.min_timeout), MAX_TIMEOUT),
            "memory_mb": self.memory_mb,
            "seed": random.randrange(1, 2**31) if seed is None else seed,
            "id": secrets.token_hex(8),
            "threads": self.threads,
            # Run-milestone checks read checkpoints from the user data folder: the app's, now.
            "data_home": str(data_home()),
            # The child takes this command's environment, whichever process forks it.
            "env": dict(os.environ),
        }

    def check(self, workspace: Workspace, lesson: Lesson, *, seed: int | None = None, timeout: float | None = None) -> LessonResult:
        request = self.request(workspace, lesson, seed=seed, timeout=timeout)
        return LessonResult.from_worker(self.exchange(request), id=lesson.id, title=lesson.title)

    def exchange(self, request: dict) -> dict:
        """The worker's raw result for `request`; a result that says what went wrong when the
        worker could not give one."""
        with self._lock:
            try:
                proc = self._ensure_started()
                assert proc.stdin
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
                line = self._read_line(proc, request["timeout"] + SLACK)
                if line is None:
                    raise WorkerError("the check worker stopped answering")
                raw = self._verified(line)
                if raw is None or raw.get("id") != request["id"] or "status" not in raw:
                    raise ForgedReply("a reply that did not come from the check worker reached the tutor "
                                      "(did your code write into the tutor's own pipes?)")
            except ForgedReply as exc:
                self._discard()
                raw = {"number": request["number"], "status": Status.TAMPERED, "checks": [], "message": f"Tampered: {exc}.", "seed": request["seed"]}
            except (WorkerError, OSError, ValueError) as exc:
                self._discard()
                raw = not_run(request, exc)
        return raw


def not_run(request: dict, exc: Exception) -> dict:
    """The result of a lesson whose checks could not run at all."""
    return {
        "number": request["number"],
        "status": Status.ERROR,
        "checks": [],
        "message": f"The checks could not run: {exc}. Try again; the worker restarts.",
        "seed": request["seed"],
    }
