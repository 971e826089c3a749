"""`tutor see N`: run a lesson's demo on the learner's own code, in a child process.

The demo script (lessons/NN_*/see.py) imports the learner's `model` package, so
it gets the same treatment as checks: its own process, a time limit and a
memory limit. Its output goes straight to the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tutor.core.locations import child_pythonpath
from tutor.engine.lessons import Lesson
from tutor.engine.workspace import Workspace

BASE_MEMORY_MB = 1536  # the interpreter and torch itself


def demo_path(lesson: Lesson) -> Path | None:
    path = lesson.dir / "see.py"
    return path if path.is_file() else None


def run_demo(workspace: Workspace, lesson: Lesson, *, timeout: float = 120.0, memory_mb: int = 2048) -> tuple[int, str]:
    """Run the demo; returns (exit code, a message when it did not end well)."""
    script = demo_path(lesson)
    if script is None:
        return 2, f"Lesson {lesson.number} has no demo."
    env = dict(os.environ)
    env["PYTHONPATH"] = child_pythonpath(str(workspace.root))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PYTHONWARNINGS", "ignore")

    def limits() -> None:  # runs in the child before exec
        import resource

        cap = (BASE_MEMORY_MB + memory_mb) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=workspace.root,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=limits if os.name == "posix" else None,
        )
    except subprocess.TimeoutExpired:
        return 1, f"The demo did not finish within {timeout:g} s: an endless loop, or far too slow?"
    if proc.returncode < 0:
        return 1, f"The demo crashed (signal {-proc.returncode})."
    if proc.returncode:
        return proc.returncode, f"The demo stopped with an error (exit code {proc.returncode}); `tutor check {lesson.number}` says more."
    return 0, ""
