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
