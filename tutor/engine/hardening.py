"""Linux process settings that keep learner code away from the tutor's own processes."""

from __future__ import annotations

import sys

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, value: int) -> bool:
    """Linux's prctl through libc; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def make_private() -> None:
    """Other processes of this user may no longer open this one's pipes or memory
    through /proc (unless they hold CAP_SYS_PTRACE, which a sandbox drops)."""
    prctl(PR_SET_DUMPABLE, 0)


def become_subreaper() -> bool:
    """Orphaned descendants are handed to this process instead of init, so it can end them."""
    return prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int | None = None) -> None:
    """SIGKILL this process when its parent ends; ends it now if that has already happened
    (`parent`: the pid the parent had before the fork)."""
    import os
    import signal

    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def kill_session(session: int) -> int:
    """SIGKILL every process of a session (Linux; a worker started with its own session has
    its pid as the session's id): what a dead worker's checks left running. Returns how
    many were killed; a process that called setsid() itself is out of reach here."""
    import os
    import signal

    killed = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rfind(b")") + 2:].split()
            if int(fields[3]) == session:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError, IndexError):
            continue
    return killed
