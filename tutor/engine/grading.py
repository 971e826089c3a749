"""Grading a class: every workspace checked in its own process, several at a time.

Students' code is hostile input here. Each workspace is graded from a fresh copy
of its `model/` with a fresh read-only copy of the lessons (so no student can
change the checks another is graded by), by `tutor check --format json` started
so that it never imports from the current folder, with the lesson time limit and
a limit for the whole workspace on top. With bubblewrap (`--sandbox bwrap`, the
default where it runs) that process also sees a read-only filesystem, no
classmates' folders, no network and no other processes. Its report must carry a
key given on its stdin; anything else is an error row naming the student. The
grader's own lesson list and limits apply, never a student's tutor.toml.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tutor.core.locations import child_pythonpath, python_command
from tutor.engine.lessons import load_registry
from tutor.engine.runner import default_threads
from tutor.engine.scan import scan_workspace
from tutor.engine.status import RESULTS, Status
from tutor.engine.workspace import MARKER, is_workspace

MAX_WORKSPACE_BYTES = 32 * 2**20  # a submission's model/ larger than this is not graded
SANDBOXES = ("auto", "bwrap", "none")


@dataclass
class Grade:
    student: str
    path: str
    status: str  # graded | missing | error
    lessons: dict[int, str] = field(default_factory=dict)
    message: str = ""
    flags: list[str] = field(default_factory=list)  # constructs for a person to review (tutor.engine.scan)

    @property
    def passed(self) -> int:
        return sum(s == Status.PASSED for s in self.lessons.values())


class SandboxUnavailable(RuntimeError):
    pass


def find_workspaces(paths: list[Path]) -> list[Path]:
    """Workspaces given directly, or the workspaces one level inside a given folder."""
    found: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        if is_workspace(path) or not path.is_dir():
            found.append(path)  # a missing path stays, to be reported
            continue
        inside = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and not p.is_symlink())
        found.extend(inside if inside else [path])
    return found


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and may create namespaces here."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        probe = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                               capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def resolve_sandbox(choice: str) -> tuple[str, str]:
    """(the sandbox to use, a warning to print once or ""). `auto` falls back to none."""
    if choice not in SANDBOXES:
        raise ValueError(f"--sandbox must be one of {', '.join(SANDBOXES)}")
    if choice == "none":
        return "none", ""
    if bwrap_works():
        return "bwrap", ""
    if choice == "bwrap":
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed or cannot create namespaces here: "
                                 "install it (Debian: apt install bubblewrap), or grade with --sandbox none")
    return "none", ("bubblewrap is not available, so students' code runs without a sandbox: it can read "
                    "classmates' folders and the grader's files (see the README's grading section); "
                    "install bubblewrap (apt install bubblewrap) to isolate each student")


def _copy_submission(source: Path, target: Path) -> list[str]:
    """tutor.toml and the regular files of model/, never following a link: a submission
    whose tutor.toml or model/ is a link is refused (it would be graded on, or read,
    whatever the link points to); links inside model/ are left behind and flagged."""
    for top in (source, source / MARKER, source / "model"):
        if top.is_symlink():
            raise ValueError(f"{top.name} is a link; a submission must hold its own files")
    notes: list[str] = []
    total = 0
    target.mkdir(parents=True)
    shutil.copyfile(source / MARKER, target / MARKER, follow_symlinks=False)
    for folder, dirs, files in os.walk(source / "model", followlinks=False):
        here = Path(folder)
        rel_dir = here.relative_to(source)
        dirs[:] = [d for d in dirs if d != "__pycache__" and not _note_link(here / d, source, notes)]
        (target / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            path = here / name
            if _note_link(path, source, notes) or not path.is_file():
                continue
            total += path.stat().st_size
            if total > MAX_WORKSPACE_BYTES:
                raise ValueError(f"model/ holds more than {MAX_WORKSPACE_BYTES // 2**20} MB")
            shutil.copyfile(path, target / rel_dir / name, follow_symlinks=False)
    return notes


def _note_link(path: Path, source: Path, notes: list[str]) -> bool:
    if path.is_symlink():
        notes.append(f"{path.relative_to(source)} is a link (not copied)")
        return True
    return False


def _copy_lessons(source: Path, target: Path) -> str:
    """A copy of the lessons without the reference solutions, read-only; returns its digest.
    The grader takes one before any student's code runs, and each student is graded by a
    copy of that one, so an edit reaches no one else."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("reference", "__pycache__", "*.pyc"))
    for path in sorted(target.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    target.chmod(0o555)
    return _digest(target)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _make_writable(folder: Path) -> None:
    """Let the grader delete its temporary copies; a link the student made is never followed
    (a chmod through it would change the file it points to, outside the sandbox)."""
    for here, dirs, files in os.walk(folder, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(here) / name
            if path.is_symlink():
                continue
            try:
                path.chmod(0o755 if path.is_dir() else 0o644)
            except OSError:
                pass
    try:
        folder.chmod(0o755)
    except OSError:
        pass


SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")  # what an interpreter needs
SCRATCH_BYTES = 512 * 2**20  # the sandbox's /tmp: the student's copy, the data home and every write


def _runtime_folders() -> list[Path]:
    """The folders the checks run from, and nothing around them: the interpreter's prefixes,
    the folders of installed packages, and the tutor's own package folder. In a clone the
    tutor's folder is bound alone: its .git, tests/ (the mutants) and lessons/ (the
    references) stay outside."""
    package = Path(child_pythonpath().split(os.pathsep)[0]) / "tutor"
    folders = {Path(sys.prefix), Path(sys.base_prefix), package}
    folders |= {Path(p) for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()}
    folders = {f.resolve() for f in folders if f.is_dir()}
    # A folder inside another bound one is bound with it.
    return sorted(f for f in folders if not any(o != f and o in f.parents for o in folders))


def _bwrap_prefix(workspace: Path, lessons: Path, hidden: list[Path], env: dict[str, str]) -> list[str]:
    """A root made of the system's own folders and the tutor's runtime, read-only; /tmp a
    size-limited tmpfs holding a copy of the student's folder, the lessons (without their
    references) and an empty data home; no other host folder (none that could hold a
    socket: /run, /var/tmp, the user's runtime folder), no network, its own PIDs, no
    capabilities; dies with the grader."""
    args = ["bwrap", "--dev", "/dev", "--proc", "/proc", "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp"]
    for folder in SYSTEM:
        path = Path(folder)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), folder]
        elif path.is_dir():
            args += ["--ro-bind", folder, folder]
    runtime = _runtime_folders()
    for folder in runtime:
        args += ["--ro-bind", str(folder), str(folder)]
    reference = load_registry().root / "reference"  # the solutions, wherever the tutor is installed
    for folder in [*hidden, *([reference] if reference.is_dir() else [])]:
        folder = folder.resolve()
        if any(folder == f or f in folder.parents for f in runtime):
            args += ["--tmpfs", str(folder)]
    args += ["--ro-bind", str(workspace), "/tmp/submission", "--ro-bind", str(lessons), "/tmp/lessons",
             "--dir", "/tmp/home", "--chdir", "/tmp",
             "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             "--clearenv"]  # none of the grader's environment (tokens, paths) reaches the student
    for name in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "PYTHONWARNINGS", "TUTOR_CHECK_THREADS"):
        if env.get(name):
            args += ["--setenv", name, env[name]]
    args += ["--setenv", "HOME", "/tmp/home", "--setenv", "TUTOR_HOME", "/tmp/home",
             "--setenv", "TUTOR_LESSONS_DIR", "/tmp/lessons", "--setenv", "TMPDIR", "/tmp"]
    # The student's code writes into a copy on the sized tmpfs, never onto the grader's disk.
    return [*args, "/bin/sh", "-c", 'cp -R /tmp/submission /tmp/workspace && exec "$@"', "sh"]


def grade_one(path: Path, timeout: float, workspace_timeout: float, lessons: list[int] | None = None, *,
              sandbox: str = "none", hidden: list[Path] | None = None, threads: int = 1,
              checks: tuple[Path, str] | None = None) -> Grade:
    """checks: the grader's pristine copy of the lessons and its digest (made here if None)."""
    student = path.name
    if not is_workspace(path):
        why = "not found" if not path.exists() else "no tutor.toml and model/ folder"
        return Grade(student, str(path), "missing", message=why)
    flags = [str(flag) for flag in scan_workspace(path / "model")]
    with tempfile.TemporaryDirectory(prefix="tutor-grade-") as tmp:
        root = Path(tmp)
        try:
            flags += _copy_submission(path, root / "workspace")
        except (OSError, ValueError) as exc:
            return Grade(student, str(path), "error", message=f"the submission could not be copied: {exc}", flags=flags)
        source, digest = checks or (load_registry().root, "")
        lessons_copy = root / "lessons"
        if _copy_lessons(source, lessons_copy) != digest and digest:
            _make_writable(root)
            return Grade(student, str(path), "error", flags=flags, message="the grader's copy of the checks changed "
                         "during grading (by an earlier student's code?): grade again with --sandbox bwrap")
        home = root / "home"
        home.mkdir()
        try:
            return _run_checks(student, path, root / "workspace", lessons_copy, home, timeout, workspace_timeout,
                               lessons, sandbox, hidden or [], threads, flags)
        finally:
            _make_writable(root)


def _run_checks(student: str, path: Path, workspace: Path, lessons_copy: Path, home: Path, timeout: float,
                workspace_timeout: float, lessons: list[int] | None, sandbox: str, hidden: list[Path],
                threads: int, flags: list[str]) -> Grade:
    chosen = [str(n) for n in lessons] if lessons else ["--all"]
    inner_ws = "/tmp/workspace" if sandbox == "bwrap" else str(workspace)
    command = python_command("tutor", "check", *chosen, "--ignore-settings", "--no-runs", "--no-server", "--format", "json",
                             "--workspace", inner_ws, "--timeout", str(timeout), "--key-stdin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUTOR_")}
    env.update(PYTHONPATH=child_pythonpath(), TUTOR_CHECK_THREADS=str(threads), PYTHONWARNINGS="ignore")
    if sandbox == "bwrap":
        command = _bwrap_prefix(workspace, lessons_copy, hidden, env) + command
    else:
        env.update(TUTOR_HOME=str(home), TUTOR_LESSONS_DIR=str(lessons_copy), HOME=str(home))
    key = secrets.token_hex(16)
    try:
        proc = subprocess.run(command, input=key + "\n", capture_output=True, text=True, timeout=workspace_timeout,
                              cwd=str(workspace), env=env, start_new_session=True)
    except subprocess.TimeoutExpired:
        return Grade(student, str(path), "error", message=f"grading took longer than {workspace_timeout:g} s", flags=flags)
    try:
        statuses = _read_report(proc.stdout, key)
    except ValueError as exc:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return Grade(student, str(path), "error", flags=flags,
                     message=f"the checks did not give a well-formed report ({exc}; exit {proc.returncode}: {tail})")
    return Grade(student, str(path), "graded", statuses, flags=flags)


def _read_report(stdout: str, key: str) -> dict[int, str]:
    """The lesson statuses of one `tutor check --format json` report, or ValueError."""
    try:
        report = json.loads(stdout)
    except ValueError:
        raise ValueError("not one JSON document") from None
    if not isinstance(report, dict) or not isinstance(report.get("lessons"), list):
        raise ValueError("not a report")
    if not secrets.compare_digest(str(report.get("key", "")), key):
        raise ValueError("the report does not carry this run's key")
    statuses: dict[int, str] = {}
    for lesson in report["lessons"]:
        if (not isinstance(lesson, dict) or not isinstance(lesson.get("number"), int)
                or lesson.get("status") not in RESULTS):
            raise ValueError("a lesson entry is malformed")
        statuses[lesson["number"]] = lesson["status"]
    return statuses


def grade(paths: list[Path], *, jobs: int = 2, timeout: float = 10.0, workspace_timeout: float = 600.0,
          lessons: list[int] | None = None, sandbox: str = "none",
          on_grade: Callable[[list[Grade]], None] | None = None) -> list[Grade]:
    """lessons: the grader's lesson list (None: every lesson). `on_grade` receives the grades
    finished so far (in the order of the workspaces) each time one finishes, so that
    the grader's files are complete up to the last finished student whatever happens next."""
    workspaces = find_workspaces(paths)
    hidden = sorted({Path(p).expanduser().resolve() for p in paths if Path(p).is_dir()}
                    | {w.resolve() for w in workspaces if w.is_dir()})
    threads = default_threads(jobs)
    done: dict[int, Grade] = {}
    with tempfile.TemporaryDirectory(prefix="tutor-grade-checks-") as tmp, \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        pristine = Path(tmp) / "lessons"
        checks = (pristine, _copy_lessons(load_registry().root, pristine))
        futures = {pool.submit(grade_one, w, timeout, workspace_timeout, lessons, sandbox=sandbox, hidden=hidden,
                               threads=threads, checks=checks): i for i, w in enumerate(workspaces)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                done[index] = future.result()
            except Exception as exc:  # noqa: BLE001 - one student's row, never the whole run
                w = workspaces[index]
                done[index] = Grade(w.name, str(w), "error", message=f"grading failed: {exc!r}")
            if on_grade:
                on_grade([done[i] for i in sorted(done)])
        _make_writable(Path(tmp))
    return [done[i] for i in sorted(done)]


def scaled_timeout(timeout: float, jobs: int) -> tuple[float, str]:
    """More jobs than cores slow every check down: scale the time limit, and say so."""
    cores = os.cpu_count() or 1
    if jobs <= cores:
        return timeout, ""
    factor = jobs / cores
    return timeout * factor, (f"--jobs {jobs} is more than this machine's {cores} cores: each check runs about "
                              f"{factor:.1f}x slower, so the time limit is raised to {timeout * factor:g} s")


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting =, +, - or @ gets a leading '."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(grades: list[Grade], numbers: list[int]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "path", "status", *(f"lesson_{n}" for n in numbers), "passed", "review", "message"])
    for g in grades:
        row = [g.student, g.path, g.status, *(g.lessons.get(n, "") for n in numbers), g.passed,
               "; ".join(g.flags), g.message]
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def to_json(grades: list[Grade]) -> str:
    return json.dumps([{"student": g.student, "path": g.path, "status": g.status, "passed": g.passed,
                        "lessons": {str(n): s for n, s in g.lessons.items()}, "review": g.flags,
                        "message": g.message} for g in grades], indent=2)
