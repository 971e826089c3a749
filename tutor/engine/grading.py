"""Grading a class: every workspace checked in its own process, several at a time.

Each workspace runs `tutor check --format json` in a child process with the
lesson time limit, and a limit for the whole workspace on top, so one student's
endless loop or crash costs only their own row. The grader's lesson list and
limits apply, never the course settings in a student's own tutor.toml.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tutor.engine.workspace import is_workspace


@dataclass
class Grade:
    student: str
    path: str
    status: str  # graded | missing | error
    lessons: dict[int, str] = field(default_factory=dict)
    message: str = ""

    @property
    def passed(self) -> int:
        return sum(s == "passed" for s in self.lessons.values())


def find_workspaces(paths: list[Path]) -> list[Path]:
    """Workspaces given directly, or the workspaces one level inside a given folder."""
    found: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        if is_workspace(path) or not path.is_dir():
            found.append(path)  # a missing path stays, to be reported
            continue
        inside = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        found.extend(inside if inside else [path])
    return found


def grade_one(path: Path, timeout: float, workspace_timeout: float, lessons: list[int] | None = None) -> Grade:
    student = path.name
    if not is_workspace(path):
        why = "not found" if not path.exists() else "no tutor.toml and model/ folder"
        return Grade(student, str(path), "missing", message=why)
    chosen = [str(n) for n in lessons] if lessons else ["--all"]
    command = [sys.executable, "-m", "tutor", "check", *chosen, "--ignore-settings", "--no-runs", "--format", "json",
               "--workspace", str(path), "--timeout", str(timeout)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=workspace_timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Grade(student, str(path), "error", message=f"grading took longer than {workspace_timeout:g} s")
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Grade(student, str(path), "error", message=f"the checks did not report (exit {proc.returncode}): {tail}")
    return Grade(student, str(path), "graded", {l["number"]: l["status"] for l in report["lessons"]})


def grade(paths: list[Path], *, jobs: int = 2, timeout: float = 10.0, workspace_timeout: float = 600.0,
          lessons: list[int] | None = None) -> list[Grade]:
    """lessons: the grader's lesson list (None: every lesson)."""
    workspaces = find_workspaces(paths)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda w: grade_one(w, timeout, workspace_timeout, lessons), workspaces))


def to_csv(grades: list[Grade], numbers: list[int]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "path", "status", *(f"lesson_{n}" for n in numbers), "passed", "message"])
    for g in grades:
        writer.writerow([g.student, g.path, g.status, *(g.lessons.get(n, "") for n in numbers), g.passed, g.message])
    return out.getvalue()


def to_json(grades: list[Grade]) -> str:
    return json.dumps([{"student": g.student, "path": g.path, "status": g.status, "passed": g.passed,
                        "lessons": {str(n): s for n, s in g.lessons.items()}, "message": g.message} for g in grades], indent=2)
