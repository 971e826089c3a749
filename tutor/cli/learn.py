"""Commands for learning: a workspace, the lessons, the checks, hints and solutions, the app."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markdown import Markdown
from rich.syntax import Syntax

from tutor.cli.common import Format, WorkspaceOpt, confirm, console, die, err, lesson_of, open_course, report_rewrite


def root(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Without a command: the app in a terminal; the lesson list when output is not a terminal."""
    if ctx.invoked_subcommand is None:
        if sys.stdout.isatty() and sys.stdin.isatty():
            from tutor.app.app import run_app

            run_app(workspace)
        else:
            list_lessons(workspace)


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new workspace (created if missing).")],
    from_: Annotated[Optional[Path], typer.Option("--from", help="A workshop's settings file (a [course] table) to stamp into the workspace.")] = None,
) -> None:
    """Make a fresh workspace: the stubs of every lesson in DIR/model/."""
    from tutor.engine.course import starting_files
    from tutor.engine.lessons import load_registry
    from tutor.engine.settings import CourseSettings, load_settings
    from tutor.engine.workspace import MARKER_TEXT, WorkspaceError, init_workspace

    registry = load_registry()
    settings = CourseSettings()
    try:
        if from_ is not None:
            settings = load_settings(from_, registry.numbers(), required=True)
        marker = MARKER_TEXT if settings.is_default else MARKER_TEXT + "\n" + settings.to_toml(registry.numbers())
        ws = init_workspace(directory, starting_files(settings, registry), marker=marker)
    except WorkspaceError as exc:
        die(str(exc))
    first = min(l.number for l in registry.lessons if settings.includes(l.number))
    console.print(f"Workspace ready in [bold]{ws.root}[/bold]. Next:\n  cd {ws.root}\n  tutor show {first}")
    if not settings.is_default:
        console.print(f"[dim]Course settings from {from_} are in {ws.root / 'tutor.toml'}.[/dim]")


def list_lessons(workspace: WorkspaceOpt = None) -> None:
    """The lessons, with what is locked, open and passed."""
    from tutor.cli.quick import print_lessons

    print_lessons(open_course(workspace))


def show(number: int, workspace: WorkspaceOpt = None) -> None:
    """Print a lesson's text."""
    from tutor.cli.quick import print_lesson

    course = open_course(workspace)
    print_lesson(lesson_of(course, number))


def check(
    lessons: Annotated[Optional[list[int]], typer.Argument(help="Lesson numbers (default: from lesson 1 on, each lesson not passed on its files as they are now, up to the first that does not pass).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Check every lesson, locked or not.")] = False,
    workspace: WorkspaceOpt = None,
    solutions: Annotated[bool, typer.Option("--solutions", help="Check the reference solutions (in a temporary workspace) instead.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="text, json or junit.")] = Format.text,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds allowed for one lesson's checks (default: the course's check_timeout, else 10; a run milestone's: run_timeout, else 120).", min=0.1, max=3600)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the checks' random inputs (to replay a failure).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Re-check whenever a lesson file is saved (Ctrl-C stops).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passed checks and full tracebacks.")] = False,
    runs: Annotated[bool, typer.Option("--runs/--no-runs", help="Check the run milestones (they need this machine's training runs).")] = True,
    ignore_settings: Annotated[bool, typer.Option("--ignore-settings", help="Check as if tutor.toml had no [course] settings (what a grader does).")] = False,
    server: Annotated[bool, typer.Option("--server/--no-server", help="Check through this workspace's check server, which keeps torch imported (TUTOR_CHECK_SERVER=0 turns it off).")] = True,
    key_stdin: Annotated[bool, typer.Option("--key-stdin", hidden=True, help="Read a key from stdin and stamp it on the JSON report (tutor grade).")] = False,
) -> None:
    """Run the checks. Exit 0 when every lesson checked passes, 1 otherwise."""
    from tutor.cli.checking import make_runner, run_checks, start
    from tutor.engine.results import Report

    report_key = _read_report_key() if key_stdin else ""
    if watch and format != Format.text:
        die("--watch prints text; leave out --format")
    text = format == Format.text
    with _course_to_check(workspace, solutions, ignore_settings) as course:
        chosen = _chosen_lessons(course, lessons, all_ or ((solutions or not runs) and not lessons))
        # A grader's check (--key-stdin) and the references' never share a server with anyone.
        with make_runner(course, server=server and not key_stdin and not solutions) as runner:
            start(runner, text)
            while True:
                results = run_checks(course, runner, chosen, seed=seed, timeout=timeout, record=not solutions,
                                     include_runs=runs and not solutions, verbose=verbose if text else None)
                report = Report(str(course.workspace.root), results)
                _print_report(report, format, report_key, every_lesson=not chosen and len(course.lessons))
                if not watch or not wait_for_change(course, chosen or [course.current()]):
                    break
    raise typer.Exit(report.exit_code)


def _read_report_key() -> str:
    """The key `tutor grade` sends on stdin, read before any learner code runs; then this
    process is made non-dumpable, so that code cannot read the key from its memory."""
    from tutor.engine.hardening import make_private

    key = sys.stdin.readline().strip()
    make_private()
    return key


@contextlib.contextmanager
def _course_to_check(workspace: Path | None, solutions: bool, ignore_settings: bool) -> Iterator:
    """The learner's course, or (--solutions) a temporary workspace holding the references."""
    if not solutions:
        from tutor.engine.settings import CourseSettings

        yield open_course(workspace, CourseSettings() if ignore_settings else None)
        return
    from tutor.engine.course import Course
    from tutor.engine.progress import ProgressStore
    from tutor.engine.stubs import solution_files
    from tutor.engine.workspace import write_workspace

    with tempfile.TemporaryDirectory(prefix="tutor-solutions-") as tmp:
        ws = write_workspace(Path(tmp), {"__init__.py": "", **solution_files()})
        yield Course(ws, store=ProgressStore(ws.root, home=Path(tmp) / ".home"))


def _chosen_lessons(course, numbers: list[int] | None, every: bool) -> list:
    """The lessons named, every lesson, or none (meaning: in order up to the first that fails)."""
    if every:
        return list(course.lessons)
    return [lesson_of(course, n) for n in (numbers or [])]


def _print_report(report, format: Format, key: str, every_lesson: int) -> None:
    """JSON or JUnit on stdout, or a closing line; `every_lesson` is the course's size when the
    whole course was checked in order."""
    from tutor.cli.checking import print_summary

    if format == Format.json:
        print(report.to_json(key=key))
        return
    if format == Format.junit:
        print(report.to_junit(), end="")
        return
    print_summary(report, every_lesson)


def wait_for_change(course, lessons) -> bool:
    """Block until a lesson file is saved (True), or until Ctrl-C (False)."""
    paths = sorted({course.workspace.file(f) for lesson in lessons for f in lesson.files})
    names = ", ".join(str(p.relative_to(course.workspace.root)) for p in paths)
    console.print(f"[dim]Watching {names}: save to re-check, Ctrl-C to stop.[/dim]")

    def stamp():
        return [p.stat().st_mtime_ns if p.exists() else 0 for p in paths]

    before = stamp()
    try:
        while stamp() == before:
            time.sleep(0.25)
    except KeyboardInterrupt:
        return False
    return True


def see(
    number: int,
    workspace: WorkspaceOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for the demo.", min=1)] = 120.0,
) -> None:
    """Run a lesson's demo on your code: a heat map, a plot, your model's text."""
    from tutor.engine.demo import demo_path, run_demo

    course = open_course(workspace)
    lesson = lesson_of(course, number)
    if demo_path(lesson) is None:
        with_demo = ", ".join(str(l.number) for l in course.lessons if demo_path(l)) or "none"
        die(f"lesson {number} has no demo; lessons with one: {with_demo}")
    if course.state(lesson) not in ("passed", "changed"):
        err.print(f"[yellow]Lesson {number} has not passed yet; the demo may fail. `tutor check {number}` first.[/yellow]")
    code, message = run_demo(course.workspace, lesson, timeout=timeout)
    if message:
        err.print(f"[red]{message}[/red]", soft_wrap=True)
    raise typer.Exit(code)


def hint(number: int, workspace: WorkspaceOpt = None) -> None:
    """Show the next hint for a lesson (each call reveals one more)."""
    course = open_course(workspace)
    lesson_of(course, number)
    index, total, text = course.next_hint(number)
    if total:
        console.print(f"[bold]Hint {index} of {total}[/bold]")
    console.print(Markdown(text))
    if index and index < total:
        console.print(f"[dim]Run `tutor hint {number}` again for the next one.[/dim]")


def solution(
    number: int,
    apply: Annotated[bool, typer.Option("--apply", help="Write the reference into your file (a backup of yours is kept).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show a lesson's reference solution (after a confirmation)."""
    from tutor.engine.course import SolutionsOff

    course = open_course(workspace)
    lesson = lesson_of(course, number)
    try:
        course.require_solutions()
    except SolutionsOff as exc:
        die(str(exc), code=1)
    verb = "write the reference solution into your file" if apply else "see the reference solution"
    confirm(f"{lesson.label}: {verb}? Trying the hints first (`tutor hint {number}`) teaches more.", yes)
    if apply:
        for rewrite in course.apply_solution(number):
            report_rewrite(course, rewrite)
        return
    for name, code in course.solution_text(number).items():
        console.print(f"[bold]model/{name}[/bold]")
        console.print(Syntax(code, "python", theme="ansi_dark", line_numbers=False))


def reset(
    number: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Put a lesson's stub back in your file (a backup of yours is kept)."""
    course = open_course(workspace)
    lesson = lesson_of(course, number)
    names = ", ".join(lesson.components)
    confirm(f"{lesson.label}: restore the stubs of {names}?", yes)
    for rewrite in course.reset(number):
        report_rewrite(course, rewrite)


def open_app(workspace: WorkspaceOpt = None) -> None:
    """Open the app (what `tutor` alone does in a terminal)."""
    from tutor.app.app import run_app

    run_app(workspace)
