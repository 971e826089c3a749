"""The check server: the app's warm worker behind a Unix socket, for `tutor check` in a shell.

    tutor check --(socket: hello, request)--> check server (torch imported once)
                                                  |  fork() per lesson, as the worker
                                                  v
                                              child: limits, checks, events on a pipe

It is the worker of `tutor.engine.worker` with another front door: the same
`run_in_child` (time and memory limits, process group, verdict channel, subreaper),
so a verdict through the server is the verdict without it. One client at a time,
one request per connection; it serves one workspace and one version, and exits
after IDLE seconds without a request, or when a client of another version says
hello. Started by `tutor.engine.check_client`, which documents the protocol.

    python -m tutor.engine.check_server SOCKET WORKSPACE VERSION IDLE_SECONDS
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
import traceback
from pathlib import Path

from tutor.engine import worker
from tutor.engine.check_client import peer_uid, receive, send

REQUEST_TIMEOUT = 10.0  # a client that connects must ask within this long


class CheckServer:
    def __init__(self, path: Path, workspace: str, version: str, idle: float) -> None:
        self.path, self.workspace, self.version, self.idle = path, workspace, version, idle
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._inode = 0

    def bind(self) -> None:
        """Listen at `path`, made for this user alone, replacing a dead server's socket."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        old = os.umask(0o077)
        try:
            self.listener.bind(str(self.path))
        finally:
            os.umask(old)
        self.listener.listen(16)
        self._inode = os.stat(self.path).st_ino
        worker.PARENT_FDS[:] = [self.listener.fileno()]

    def step_down(self) -> None:
        """Remove the socket (if it is still this server's) so that the next client starts anew."""
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass

    def serve(self) -> None:
        last = time.monotonic()
        while True:
            remaining = last + self.idle - time.monotonic()
            if remaining <= 0:
                return
            ready, _, _ = select.select([self.listener], [], [], remaining)
            if not ready:
                continue
            conn, _ = self.listener.accept()
            with conn:
                if not self.handle(conn):
                    return
            last = time.monotonic()

    def handle(self, conn: socket.socket) -> bool:
        """One client: a hello, then one request. False when this server must exit."""
        uid = peer_uid(conn)
        if uid is not None and uid != os.getuid():
            return True  # another user: not a word
        worker.PARENT_FDS[:] = [self.listener.fileno(), conn.fileno()]
        try:
            hello = receive(conn, time.monotonic() + REQUEST_TIMEOUT, limit=1 << 16)
            if hello and hello.get("stop") is True:  # another workspace's client retires this server
                self.step_down()
                return False
            if not hello or "hello" not in hello:
                return True
            if hello["hello"] != self.version:
                self.step_down()
                send(conn, {"ok": False, "stale": True, "version": self.version})
                return False
            if hello.get("workspace") != self.workspace:
                send(conn, {"ok": False, "error": f"this server checks {self.workspace} only"})
                return True
            send(conn, {"ok": True, "pid": os.getpid(), "version": self.version})
            request = receive(conn, time.monotonic() + REQUEST_TIMEOUT, limit=1 << 20)
            if request is None:
                return True  # a hello alone: the client only wanted to know the server is up
            if request.get("workspace") != self.workspace:
                send(conn, {"id": request.get("id"), "error": "another workspace"})
                return True
            send(conn, {**self.run(request, conn.fileno()), "id": request.get("id")})
            worker.finish_check()
            try:
                os.utime(self.path)  # recently used: the last to be retired when another server starts
            except OSError:
                pass
        except (OSError, ValueError, TimeoutError):
            pass  # the client left or spoke nonsense; the next one is served
        finally:
            worker.PARENT_FDS[:] = [self.listener.fileno()]
        return True

    @staticmethod
    def run(request: dict, client: int) -> dict:
        """The check's result; the check is ended as soon as the client goes away (Ctrl-C)."""
        try:
            return worker.run_in_child(request, abort_fd=client)
        except Exception as exc:  # noqa: BLE001 - keep serving; report the fault
            return {"number": request.get("number"), "status": "error", "checks": [],
                    "message": f"The check server failed: {exc!r}", "traceback": traceback.format_exc(),
                    "output": "", "seed": request.get("seed"), "duration": 0.0}


def main(argv: list[str] | None = None) -> None:
    path, workspace, version, idle = (argv if argv is not None else sys.argv[1:])[:4]
    server = CheckServer(Path(path), workspace, version, float(idle))
    worker._become_subreaper()
    worker.warm_up()
    server.bind()  # only now: a client that connects finds torch imported
    worker.start_judge()  # after bind: the judge closes the listening socket it inherits
    try:
        server.serve()
    finally:
        server.step_down()


if __name__ == "__main__":
    main()
