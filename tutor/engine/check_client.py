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
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from tutor.core import locations
from tutor.engine.runner import SLACK, STARTUP_TIMEOUT, CheckRunner, not_run

IDLE_SECONDS = 15 * 60.0  # a server nobody asked for this long exits
HELLO_TIMEOUT = 15.0  # a server whose turn it is and that does not answer in this long is hung


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


def peer_creds(sock: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end of a Unix socket, as the kernel says (Linux);
    None elsewhere."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return pid, uid


def peer_uid(sock: socket.socket) -> int | None:
    creds = peer_creds(sock)
    return creds[1] if creds else None


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


MAX_SERVERS = 3  # servers kept per user; starting another retires the least recently used
SOCKET_PATH_MAX = 107  # bytes in a Unix socket's path (Linux's sun_path, less its final NUL)


class ServerRunner(CheckRunner):
    """A CheckRunner whose checks run in the workspace's check server when one can be had;
    otherwise in a worker of its own, exactly as CheckRunner does.

    Clients of one workspace take turns (a lock beside the socket), so a second `tutor
    check` waits for the first instead of taking a busy server for a dead one; a server
    that does not answer its turn is stopped and replaced."""

    def __init__(self, workspace_root: Path, **kw) -> None:
        super().__init__(**kw)
        self.workspace_root = Path(workspace_root).resolve()
        self.fallback_reason = ""  # why the server is not used, once it is not
        self.started_server = False  # this runner started the server (the first call)
        self.server_pid: int | None = None  # the server's, as the kernel reports the peer
        self._version = ""
        self._turn_lock = None

    def start(self) -> None:
        """Reach the server now (starting it when there is none), so the first check is fast."""
        if not self.fallback_reason:
            try:
                with self._turn():
                    self._connect().close()
                return
            except ServerUnavailable as exc:
                self.fallback_reason = str(exc)
        super().start()

    def exchange(self, request: dict) -> dict:
        if not self.fallback_reason:
            try:
                with self._turn():
                    return self._ask(self._connect(), request)
            except ServerUnavailable as exc:
                self.fallback_reason = str(exc)
        return super().exchange(request)

    def _turn(self):
        """This workspace's clients one at a time: held while a check runs in the server."""
        from filelock import FileLock

        if self._turn_lock is None:
            try:
                path = self._socket_path()
            except OSError as exc:
                raise ServerUnavailable(f"no private folder for the check server ({exc})") from None
            self._turn_lock = FileLock(str(path) + ".turn", timeout=3600)
        return _Turn(self._turn_lock)

    def _socket_path(self) -> Path:
        path = socket_path(self.workspace_root)
        if len(str(path).encode()) > SOCKET_PATH_MAX:
            raise ServerUnavailable(f"the socket's path would be longer than a Unix socket allows ({path}); "
                                    "set TUTOR_RUNTIME_DIR to a shorter folder")
        return path

    def _ask(self, sock: socket.socket, request: dict) -> dict:
        """Send one request on a connection that said hello; the server's result, or the
        result the cold path gives when its worker stops answering."""
        try:
            with sock:
                send(sock, request)
                raw = receive(sock, time.monotonic() + float(request["timeout"]) + SLACK)
            if raw is None:
                self._stop_server()  # it died mid-check: what its checks left running goes too
                raise ConnectionError("the check server stopped answering")
            if raw.get("id") != request["id"] or "status" not in raw:
                raise ValueError("the check server's answer was not for this request")
            return raw
        except TimeoutError:
            self._stop_server()
            return not_run(request, ConnectionError("the check server stopped answering (it was stopped; "
                                                    "the next check starts a new one)"))
        except (OSError, ValueError) as exc:
            return not_run(request, exc)

    def _stop_server(self) -> None:
        """End a server that died or hangs, with whatever its checks left running in its
        session, and remove its socket so that the next call starts anew."""
        from tutor.engine.hardening import kill_session

        if self.server_pid:
            try:
                os.kill(self.server_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            kill_session(self.server_pid)
        try:
            self._socket_path().unlink()
        except (OSError, ServerUnavailable):
            pass

    # -- reaching a server --
    def _connect(self) -> socket.socket:
        """A connection to this workspace's server, after a hello in the same version;
        starts a server (under a lock, once) when there is none or it is stale."""
        from filelock import FileLock, Timeout

        self._version = self._version or version()
        path = self._socket_path()
        try:
            sock = self._hello(path)
            if sock is not None:
                return sock
            with FileLock(str(path) + ".lock", timeout=STARTUP_TIMEOUT):
                sock = self._hello(path)  # another tutor may have started one meanwhile
                if sock is None:
                    self._spawn(path)
                    sock = self._wait_ready(path)
        except Timeout:
            raise ServerUnavailable("another tutor is still starting the check server") from None
        except OSError as exc:
            raise ServerUnavailable(f"the check server could not be reached ({exc})") from None
        return sock

    def _hello(self, path: Path) -> socket.socket | None:
        """A connection that said hello in this version; None when there is no server there
        (a stale one steps down when told our version). A server that takes its turn and
        does not answer is stopped."""
        if not path.exists() and not path.is_symlink():
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(HELLO_TIMEOUT)
            sock.connect(str(path))
            creds = peer_creds(sock)
            if creds is not None and creds[1] != os.getuid():
                raise ServerUnavailable(f"the socket {path} belongs to another user")
            self.server_pid = creds[0] if creds else None
            send(sock, {"hello": self._version, "workspace": str(self.workspace_root)})
            answer = receive(sock, time.monotonic() + HELLO_TIMEOUT)
        except (ConnectionRefusedError, FileNotFoundError, NotADirectoryError):
            sock.close()
            return None  # a server that died and left its socket behind
        except ServerUnavailable:
            sock.close()
            raise
        except TimeoutError:
            sock.close()
            self._stop_server()
            raise ServerUnavailable("the check server did not answer (it was stopped; the next check starts a new one)") from None
        except (OSError, ValueError) as exc:
            sock.close()
            raise ServerUnavailable(f"the check server did not answer ({exc})") from None
        if answer and answer.get("ok"):
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
        if path.is_dir() and not path.is_symlink():
            raise ServerUnavailable(f"{path} is a folder, where the check server's socket belongs")
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        self._retire_others(path)
        env = dict(os.environ)
        env["PYTHONPATH"] = locations.child_pythonpath()
        env.setdefault("PYTHONWARNINGS", "ignore")
        log = open(path.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child
        try:
            self._server = subprocess.Popen(
                locations.python_command("tutor.engine.check_server", str(path), str(self.workspace_root), self._version,
                                         str(idle_seconds())),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=str(self.workspace_root),
                start_new_session=True,  # outlives this command; Ctrl-C here does not reach it
            )
        finally:
            log.close()
        self.started_server = True

    @staticmethod
    def _retire_others(path: Path) -> None:
        """Keep at most MAX_SERVERS servers of this user (about 300 MB each): ask the least
        recently used ones to exit. A server touches its socket after every check."""
        others = [p for p in path.parent.glob("check-*.sock") if p != path]
        try:
            others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        for old in others[MAX_SERVERS - 1:]:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(1.0)
                sock.connect(str(old))
                send(sock, {"stop": True})
            except OSError:
                try:
                    old.unlink()  # nobody answers there
                except OSError:
                    pass
            finally:
                sock.close()

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


class _Turn:
    """The turn lock as a context manager whose failure to get it is a ServerUnavailable."""

    def __init__(self, lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout:
            raise ServerUnavailable("another check of this workspace has held the server for an hour") from None
        except OSError as exc:
            raise ServerUnavailable(f"the check server's lock could not be taken ({exc})") from None

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
