"""The shell's side of the check server: `tutor check` through a server that stays warm.

A cold `tutor check` pays for an interpreter and a torch import (2-5 s) before the
first check runs. The check server (`tutor.engine.check_server`) is the app's warm
worker behind a Unix socket: the first `tutor check` in a workspace starts it, and
later ones connect, send the same request the app's runner sends and read the same
result back, so a check from the shell costs what it costs in the app.

One server per user and workspace, in a private folder (mode 0700, owned by this
user; the peer's uid is checked on both ends). A hello carries a version (the
tutor's files, the lessons' checks, the interpreter): a server of another version
steps down and a new one starts. Any failure to reach a server falls back to the
cold path, a worker of this process's own, with the same verdicts.
`--no-server` or TUTOR_CHECK_SERVER=0 turn it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from tutor.core import locations
from tutor.engine.runner import SLACK, STARTUP_TIMEOUT, CheckRunner, not_run

IDLE_SECONDS = 15 * 60.0  # a server nobody asked for this long exits
HELLO_TIMEOUT = 5.0  # a server that does not answer a hello in this long is not used


class ServerUnavailable(RuntimeError):
    """No server could be reached or started; the caller checks without one."""


def enabled() -> bool:
    return os.environ.get("TUTOR_CHECK_SERVER", "1").strip().lower() not in ("0", "off", "no", "false")


def idle_seconds() -> float:
    try:
        return float(os.environ.get("TUTOR_CHECK_SERVER_IDLE") or IDLE_SECONDS)
    except ValueError:
        return IDLE_SECONDS


def socket_path(workspace_root: Path) -> Path:
    return private_dir() / f"check-{locations.workspace_key(Path(workspace_root).resolve())}.sock"


def private_dir() -> Path:
    """The user's runtime folder for the tutor's sockets, made 0700 and checked to be this
    user's alone: nobody else may reach a server that runs this user's checks."""
    override = os.environ.get("TUTOR_RUNTIME_DIR")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if override:
        folder = Path(override)
    elif runtime and Path(runtime).is_dir():
        folder = Path(runtime) / "tutor"
    else:
        folder = Path("/tmp") / f"tutor-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
    except OSError as exc:
        raise ServerUnavailable(f"no private folder for the check server ({exc})") from None
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise ServerUnavailable(f"{folder} is not a private folder of this user (mode {oct(st.st_mode & 0o777)})")
    return folder


def version() -> str:
    """Changes whenever the server would check differently: the tutor's code, the lessons'
    checks and course file, the interpreter, the path a worker imports from."""
    digest = hashlib.sha256()
    import tutor

    digest.update(f"{tutor.__version__}\0{sys.executable}\0{locations.child_pythonpath()}".encode())
    package = Path(tutor.__file__).resolve().parent
    try:
        lessons = locations.lessons_dir()
    except FileNotFoundError:
        lessons = package
    digest.update(str(lessons).encode())
    files = [*package.rglob("*.py"), *lessons.glob("*/checks.py"), lessons / "lessons.toml"]
    for path in sorted(files):
        try:
            st = path.stat()
        except OSError:
            continue
        digest.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux); None elsewhere."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def send(sock: socket.socket, message: dict) -> None:
    sock.sendall((json.dumps(message) + "\n").encode())


def receive(sock: socket.socket, deadline: float, limit: int = 64 * 2**20) -> dict | None:
    """One JSON line from `sock` by `deadline`; None when the other end closed first."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer in time")
        sock.settimeout(remaining)
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None
        data += chunk
        if len(data) > limit:
            raise ValueError("an answer far too large")
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("an answer that is not an object")
    return message


class ServerRunner(CheckRunner):
    """A CheckRunner whose checks run in the workspace's check server when one can be had;
    otherwise in a worker of its own, exactly as CheckRunner does."""

    def __init__(self, workspace_root: Path, **kw) -> None:
        super().__init__(**kw)
        self.workspace_root = Path(workspace_root).resolve()
        self.fallback_reason = ""  # why the server is not used, once it is not
        self.started_server = False  # this runner started the server (the first call)
        self.server_pid: int | None = None  # the server's, as its last hello said
        self._version = ""

    def start(self) -> None:
        """Reach the server now (starting it when there is none), so the first check is fast."""
        if self.fallback_reason:
            return super().start()
        try:
            self._connect().close()
        except ServerUnavailable as exc:
            self.fallback_reason = str(exc)
            super().start()

    def exchange(self, request: dict) -> dict:
        if not self.fallback_reason:
            try:
                sock = self._connect()
            except ServerUnavailable as exc:
                self.fallback_reason = str(exc)
            else:
                return self._ask(sock, request)
        return super().exchange(request)

    def _ask(self, sock: socket.socket, request: dict) -> dict:
        """Send one request on a connection that said hello; the server's result, or the
        result the cold path gives when its worker stops answering."""
        try:
            with sock:
                send(sock, request)
                raw = receive(sock, time.monotonic() + float(request["timeout"]) + SLACK)
            if raw is None:
                if self.server_pid:  # killed mid-check: what its checks left running goes too
                    from tutor.engine.hardening import kill_session

                    kill_session(self.server_pid)
                raise ConnectionError("the check server stopped answering")
            if raw.get("id") != request["id"] or "status" not in raw:
                raise ValueError("the check server's answer was not for this request")
            return raw
        except (OSError, ValueError) as exc:
            return not_run(request, exc)

    # -- reaching a server --
    def _connect(self) -> socket.socket:
        """A connection to this workspace's server, after a hello in the same version;
        starts a server (under a lock, once) when there is none or it is stale."""
        self._version = self._version or version()
        path = socket_path(self.workspace_root)
        sock = self._hello(path)
        if sock is not None:
            return sock
        from filelock import FileLock, Timeout

        try:
            with FileLock(str(path) + ".lock", timeout=STARTUP_TIMEOUT):
                sock = self._hello(path)  # another tutor may have started one meanwhile
                if sock is None:
                    self._spawn(path)
                    sock = self._wait_ready(path)
        except Timeout:
            raise ServerUnavailable("another tutor is still starting the check server") from None
        return sock

    def _hello(self, path: Path) -> socket.socket | None:
        """A connection that said hello in this version; None when there is no server there
        (a stale one steps down when told our version)."""
        if not path.exists():
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(HELLO_TIMEOUT)
            sock.connect(str(path))
            uid = peer_uid(sock)
            if uid is not None and uid != os.getuid():
                raise ServerUnavailable(f"the socket {path} belongs to another user")
            send(sock, {"hello": self._version, "workspace": str(self.workspace_root)})
            answer = receive(sock, time.monotonic() + HELLO_TIMEOUT)
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            return None  # a server that died and left its socket behind
        except ServerUnavailable:
            sock.close()
            raise
        except (OSError, ValueError) as exc:
            sock.close()
            raise ServerUnavailable(f"the check server did not answer ({exc})") from None
        if answer and answer.get("ok"):
            self.server_pid = answer.get("pid")
            return sock
        sock.close()
        if answer and answer.get("stale"):
            self._wait_gone(path)
            return None
        raise ServerUnavailable(f"the check server refused: {(answer or {}).get('error', 'no answer')}")

    @staticmethod
    def _wait_gone(path: Path) -> None:
        deadline = time.monotonic() + 5.0
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _spawn(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        env = dict(os.environ)
        env["PYTHONPATH"] = locations.child_pythonpath()
        env.setdefault("PYTHONWARNINGS", "ignore")
        log = open(path.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = None
            self._server = subprocess.Popen(
                locations.python_command("tutor.engine.check_server", str(path), str(self.workspace_root), self._version,
                                         str(idle_seconds())),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=str(self.workspace_root),
                start_new_session=True,  # outlives this command; Ctrl-C here does not reach it
            )
        except OSError as exc:
            raise ServerUnavailable(f"the check server could not start ({exc})") from None
        finally:
            log.close()
        self.started_server = True

    def _wait_ready(self, path: Path) -> socket.socket:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            code = self._server.poll()
            if code is not None:
                raise ServerUnavailable(f"the check server exited with code {code} while starting "
                                        f"(its log: {path.with_suffix('.log')})")
            sock = self._hello(path)
            if sock is not None:
                return sock
            time.sleep(0.02)
        raise ServerUnavailable("the check server did not start in time")
