"""The command line: a thin face over the engine (see `tutor --help`)."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax

app = typer.Typer(
    help="Learn how a GPT works by building one, one checked component at a time.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console()
err = Console(stderr=True)

USAGE = 2  # exit code for a usage error, as Click uses


class Format(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"


WorkspaceOpt = Annotated[Optional[Path], typer.Option("--workspace", "-w", help="The workspace folder (default: found from the current folder upwards).")]


def _die(message: str, code: int = USAGE) -> None:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _course(workspace: Path | None, settings=None):
    """The course of the workspace; `settings` replaces its tutor.toml's [course] table unread."""
    from tutor.engine.course import Course
    from tutor.engine.workspace import WorkspaceError, find_workspace

    try:
        course = Course(find_workspace(workspace), settings=settings)
    except WorkspaceError as exc:
        _die(str(exc))
    if course.store.warning:
        err.print(f"[yellow]warning:[/yellow] {course.store.warning}")
    return course


def _lesson(course, number: int):
    from tutor.engine.course import NotInCourse

    try:
        return course.lesson(number)
    except NotInCourse as exc:
        _die(f"{exc} (see `tutor list`)")


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context, workspace: WorkspaceOpt = None) -> None:
    """Without a command: the app in a terminal; the lesson list when output is not a terminal."""
    if ctx.invoked_subcommand is None:
        if sys.stdout.isatty() and sys.stdin.isatty():
            from tutor.app.app import run_app

            run_app(workspace)
        else:
            list_lessons(workspace)


@app.command()
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
        _die(str(exc))
    first = min(l.number for l in registry.lessons if settings.includes(l.number))
    console.print(f"Workspace ready in [bold]{ws.root}[/bold]. Next:\n  cd {ws.root}\n  tutor show {first}")
    if not settings.is_default:
        console.print(f"[dim]Course settings from {from_} are in {ws.root / 'tutor.toml'}.[/dim]")


@app.command("list")
def list_lessons(workspace: WorkspaceOpt = None) -> None:
    """The lessons, with what is locked, open and passed."""
    from tutor.render import lesson_table

    course = _course(workspace)
    states = course.states()
    console.print(lesson_table(course, states))
    done = sum(s == "passed" for s in states.values())
    console.print(f"\n{done}/{len(states)} passed · workspace {course.workspace.root}", style="dim")
    if course.settings.describe():
        console.print(f"course: {course.settings.describe()}", style="dim")


@app.command()
def show(number: int, workspace: WorkspaceOpt = None) -> None:
    """Print a lesson's text."""
    course = _course(workspace)
    lesson = _lesson(course, number)
    console.print(Markdown(lesson.text()))
    files = ", ".join(f"model/{f}" for f in lesson.files)
    console.print(f"\nYour file: {files} · check it with `tutor check {number}` · stuck? `tutor hint {number}`", style="dim")


@app.command()
def check(
    lessons: Annotated[Optional[list[int]], typer.Argument(help="Lesson numbers (default: from lesson 1 up to the first that does not pass).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Check every lesson, locked or not.")] = False,
    workspace: WorkspaceOpt = None,
    solutions: Annotated[bool, typer.Option("--solutions", help="Check the reference solutions (in a temporary workspace) instead.")] = False,
    format: Annotated[Format, typer.Option("--format", "-f", help="text, json or junit.")] = Format.text,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds allowed for one lesson's checks (default: the course's check_timeout, else 10).", min=0.1)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the checks' random inputs (to replay a failure).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Re-check whenever a lesson file is saved (Ctrl-C stops).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passed checks and full tracebacks.")] = False,
    runs: Annotated[bool, typer.Option("--runs/--no-runs", help="Check the run milestones (they need this machine's training runs).")] = True,
    ignore_settings: Annotated[bool, typer.Option("--ignore-settings", help="Check as if tutor.toml had no [course] settings (what a grader does).")] = False,
    key_stdin: Annotated[bool, typer.Option("--key-stdin", hidden=True, help="Read a key from stdin and stamp it on the JSON report (tutor grade).")] = False,
) -> None:
    """Run the checks. Exit 0 when every lesson checked passes, 1 otherwise."""
    report_key = ""
    if key_stdin:
        from tutor.engine.hardening import make_private

        report_key = sys.stdin.readline().strip()
        make_private()
    import tempfile

    from tutor.engine.course import Course
    from tutor.engine.results import Report
    from tutor.engine.runner import CheckRunner
    from tutor.engine.stubs import solution_files
    from tutor.engine.workspace import write_workspace

    if watch and format != Format.text:
        _die("--watch prints text; leave out --format")
    tmp = None
    if solutions:
        from tutor.engine.progress import ProgressStore

        tmp = tempfile.TemporaryDirectory(prefix="tutor-solutions-")
        ws = write_workspace(Path(tmp.name), {"__init__.py": "", **solution_files()})
        course = Course(ws, store=ProgressStore(ws.root, home=Path(tmp.name) / ".home"))
    else:
        from tutor.engine.settings import CourseSettings

        course = _course(workspace, CourseSettings() if ignore_settings else None)
    chosen = [_lesson(course, n) for n in (lessons or [])]
    if all_ or ((solutions or not runs) and not chosen):
        chosen = list(course.lessons)
    text = format == Format.text
    record = not solutions

    def progress(result) -> None:
        if text:
            from tutor.render import lesson_result

            console.print(lesson_result(result, verbose=verbose))

    with CheckRunner() as runner:
        if text:
            with console.status("Starting the check worker (importing torch)…"):
                runner.start()
        while True:
            if chosen:
                # The reference solution has no training runs, so its run milestones are not run.
                results = course.check(runner, chosen, seed=seed, timeout=timeout, record=record,
                                       include_runs=runs and not solutions, on_result=progress)
            else:
                results = course.check_in_order(runner, seed=seed, timeout=timeout, on_result=progress)
            report = Report(str(course.workspace.root), results)
            if format == Format.json:
                print(report.to_json(key=report_key))
            elif format == Format.junit:
                print(report.to_junit(), end="")
            else:
                checked = [r for r in results if r.status not in ("locked", "not-run")]
                style = "bold green" if report.exit_code == 0 else "bold red"
                console.print(f"{report.passed} of {len(checked)} lesson(s) passed", style=style)
                if not chosen and report.exit_code == 0 and len(checked) == len(course.lessons):
                    console.print("Every lesson passes. Well done!", style="green")
            if not watch:
                break
            try:
                _wait_for_change(course, chosen or [course.current()])
            except KeyboardInterrupt:
                break
    if tmp:
        tmp.cleanup()
    raise typer.Exit(report.exit_code)


def _wait_for_change(course, lessons) -> None:
    paths = sorted({course.workspace.file(f) for lesson in lessons for f in lesson.files})
    names = ", ".join(str(p.relative_to(course.workspace.root)) for p in paths)
    console.print(f"[dim]Watching {names}: save to re-check, Ctrl-C to stop.[/dim]")

    def stamp():
        return [p.stat().st_mtime_ns if p.exists() else 0 for p in paths]

    before = stamp()
    while stamp() == before:
        time.sleep(0.25)


@app.command()
def see(
    number: int,
    workspace: WorkspaceOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for the demo.", min=1)] = 120.0,
) -> None:
    """Run a lesson's demo on your code: a heat map, a plot, your model's text."""
    from tutor.engine.demo import demo_path, run_demo

    course = _course(workspace)
    lesson = _lesson(course, number)
    if demo_path(lesson) is None:
        with_demo = ", ".join(str(l.number) for l in course.lessons if demo_path(l)) or "none"
        _die(f"lesson {number} has no demo; lessons with one: {with_demo}")
    if course.state(lesson) not in ("passed", "changed"):
        err.print(f"[yellow]Lesson {number} has not passed yet; the demo may fail. `tutor check {number}` first.[/yellow]")
    code, message = run_demo(course.workspace, lesson, timeout=timeout)
    if message:
        err.print(f"[red]{message}[/red]", soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def hint(number: int, workspace: WorkspaceOpt = None) -> None:
    """Show the next hint for a lesson (each call reveals one more)."""
    course = _course(workspace)
    _lesson(course, number)
    index, total, text = course.next_hint(number)
    if total:
        console.print(f"[bold]Hint {index} of {total}[/bold]")
    console.print(Markdown(text))
    if index and index < total:
        console.print(f"[dim]Run `tutor hint {number}` again for the next one.[/dim]")


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        _die("this needs a confirmation; add --yes to go ahead without one")
    if not typer.confirm(question, default=False):
        console.print("Nothing changed.")
        raise typer.Exit(0)


@app.command()
def solution(
    number: int,
    apply: Annotated[bool, typer.Option("--apply", help="Write the reference into your file (a backup of yours is kept).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show a lesson's reference solution (after a confirmation)."""
    from tutor.engine.course import SolutionsOff

    course = _course(workspace)
    lesson = _lesson(course, number)
    try:
        course.require_solutions()
    except SolutionsOff as exc:
        _die(str(exc), code=1)
    verb = "write the reference solution into your file" if apply else "see the reference solution"
    _confirm(f"{lesson.label}: {verb}? Trying the hints first (`tutor hint {number}`) teaches more.", yes)
    if apply:
        for rewrite in course.apply_solution(number):
            _report_rewrite(course, rewrite)
        return
    for name, code in course.solution_text(number).items():
        console.print(f"[bold]model/{name}[/bold]")
        console.print(Syntax(code, "python", theme="ansi_dark", line_numbers=False))


@app.command()
def reset(
    number: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Skip the confirmation.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Put a lesson's stub back in your file (a backup of yours is kept)."""
    course = _course(workspace)
    lesson = _lesson(course, number)
    names = ", ".join(lesson.components)
    _confirm(f"{lesson.label}: restore the stubs of {names}?", yes)
    for rewrite in course.reset(number):
        _report_rewrite(course, rewrite)


@app.command()
def grade(
    paths: Annotated[list[Path], typer.Argument(help="Workspaces, or folders that hold one workspace per student.")],
    jobs: Annotated[int, typer.Option(help="Workspaces checked at once.", min=1)] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds allowed for one lesson's checks.", min=0.1)] = 10.0,
    workspace_timeout: Annotated[float, typer.Option(help="Seconds allowed for one whole workspace.", min=1)] = 600.0,
    lessons: Annotated[Optional[str], typer.Option(help='The lessons to grade, e.g. "5-11" or "1,3,5-8" (default: every lesson, or the --settings file\'s).')] = None,
    settings: Annotated[Optional[Path], typer.Option(help="A workshop's settings file: grade its lessons.")] = None,
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help="Write the grades as CSV.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the grades as JSON.")] = None,
    sandbox: Annotated[str, typer.Option(help="auto: bubblewrap where it runs, else none (with a warning); bwrap: required; none: no sandbox (see the README for what that does not protect).")] = "auto",
) -> None:
    """Grade a class: every workspace in its own process; a table, and CSV/JSON. Exit 0 when grading ran."""
    from rich.table import Table
    from rich.text import Text

    from tutor.engine.atomic import write_text_atomic
    from tutor.engine.grading import SandboxUnavailable, resolve_sandbox, scaled_timeout, to_csv, to_json
    from tutor.engine.grading import grade as grade_all
    from tutor.engine.lessons import load_registry
    from tutor.engine.settings import SettingsError, load_settings, parse_numbers
    from tutor.render import MARKS

    numbers = load_registry().numbers()
    chosen = None
    try:
        if settings is not None:
            chosen = load_settings(settings, numbers, required=True).lessons
        if lessons is not None:
            chosen = parse_numbers([part.strip() for part in lessons.split(",") if part.strip()], numbers, "--lessons")
        mode, warning = resolve_sandbox(sandbox)
    except (SettingsError, ValueError, SandboxUnavailable) as exc:
        _die(str(exc))
    numbers = list(chosen or numbers)
    timeout, slow = scaled_timeout(timeout, jobs)
    for note in filter(None, [warning, slow]):
        err.print(f"warning: {note}", style="yellow", markup=False)

    def save(grades) -> None:
        # After every student: the files hold every finished row even if grading is killed.
        if csv_out:
            write_text_atomic(csv_out, to_csv(grades, numbers))
        if json_out:
            write_text_atomic(json_out, to_json(grades))

    with console.status(f"Grading (sandbox: {mode})…"):
        grades = grade_all(paths, jobs=jobs, timeout=timeout, workspace_timeout=workspace_timeout,
                           lessons=list(chosen) if chosen else None, sandbox=mode, on_grade=save)
    save(grades)
    table = Table(box=None, padding=(0, 1, 0, 0))
    table.add_column("student", no_wrap=True, min_width=10)
    for n in numbers:
        table.add_column(str(n), justify="center", no_wrap=True)
    table.add_column("passed", justify="right", no_wrap=True)
    table.add_column("note", style="dim", overflow="fold")
    for g in grades:
        cells = [Text(*MARKS.get(g.lessons.get(n, ""), ("", ""))) for n in numbers]
        graded = sum(s != "not-run" for s in g.lessons.values())
        note = Text(g.message)  # Text, never markup: a folder may be named "[red]x"
        if g.flags:
            note = Text.assemble(("⚑ review: ", "bold yellow"), "; ".join(g.flags), " " if g.message else "", g.message)
        table.add_row(Text(g.student), *cells, f"{g.passed}/{graded}" if g.status == "graded" else g.status, note)
    try:
        console.print(table)
        console.print("✓ passed  ✗ failed  ! could not finish (time limit, crash, syntax error)  ⚠ tampered  "
                      "· locked or not run (run milestones are checked on the learner's own machine)  "
                      "⚑ code for a person to review", style="dim")
    except BrokenPipeError:  # `tutor grade ... | head`: the files are already written
        sys.stdout = None  # type: ignore[assignment]


@app.command("app")
def open_app(workspace: WorkspaceOpt = None) -> None:
    """Open the app (what `tutor` alone does in a terminal)."""
    from tutor.app.app import run_app

    run_app(workspace)


@app.command()
def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on. Keep localhost unless every machine that can reach it may run code as you.")] = "localhost",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    public_url: Annotated[Optional[str], typer.Option(help="The address the browser uses, when it differs (behind a proxy).")] = None,
) -> None:
    """Run the app in a web page, for learners without a good terminal (needs: pip install 'tutor[web]')."""
    import shlex

    from tutor.engine.workspace import WorkspaceError, find_workspace

    try:
        import textual_serve.server  # noqa: F401 - the extra that browser mode needs

        from tutor.web import make_server
    except ImportError:
        _die("browser mode needs textual-serve: pip install 'tutor[web]' (or pip install textual-serve)", code=1)
    try:
        root = find_workspace(workspace).root
    except WorkspaceError as exc:
        _die(str(exc))
    if host not in ("localhost", "127.0.0.1", "::1"):
        err.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach port {port} can run code "
                  "in this workspace as you. Use this only on a network you trust.")
    # Each browser tab gets its own app process; the tab's size becomes the terminal's.
    from tutor.engine.paths import python_command

    command = shlex.join(python_command("tutor", "app", "--workspace", str(root)))
    server = make_server(command, host=host, port=port, public_url=public_url)
    console.print(f"Open this address in your browser (it holds this server's token; keep it to yourself):\n"
                  f"  {server.url}", markup=False, highlight=False)
    sys.stdout.flush()
    server.serve()


def _report_rewrite(course, rewrite) -> None:
    rel = rewrite.file.relative_to(course.workspace.root)
    what = "replaced whole (it did not parse)" if rewrite.whole_file else "updated"
    console.print(f"{rel} {what}.")
    if rewrite.backup:
        console.print(f"[dim]Your previous version is kept in {rewrite.backup.relative_to(course.workspace.root)}[/dim]")


def main() -> None:
    app()


# Commands for data, training and generation live in their own module.
from tutor.cli_train import chat, data_app, generate, pack, train_app  # noqa: E402

app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.command("generate")(generate)
app.command("chat")(chat)
app.command("pack")(pack)


if __name__ == "__main__":
    main()
