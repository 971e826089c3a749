"""Commands for teaching: grade a class, pack an offline workshop kit, serve the app to browsers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tutor.cli.common import WorkspaceOpt, console, die, err, open_course


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

    from tutor.core.atomic import write_text_atomic
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
        die(str(exc))
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


def pack(
    out: Annotated[Path, typer.Argument(help="The kit to write, e.g. workshop-kit.zip.")],
    corpus: Annotated[Optional[list[Path]], typer.Option("--corpus", help="A UTF-8 text file to pretrain on (repeatable).")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="A pretrained checkpoint for learners to start from ('last': this workspace's last pretraining run); packed without its optimizer state.")] = None,
    settings: Annotated[Optional[Path], typer.Option(help="The workshop's course settings (a [course] table).")] = None,
) -> None:
    """Pack an offline workshop kit: this machine's data sets, plus text, a checkpoint and settings you name.

    Learners run `tutor data import KIT.zip`: no network needed.
    """
    from tutor.data.kit import KitError
    from tutor.data.kit import pack as write_kit
    from tutor.engine.settings import SettingsError

    if checkpoint is not None and str(checkpoint) == "last":

        checkpoint = open_course(None).workspace.run_checkpoint()
        if not checkpoint.is_file():
            die("this workspace has no pretraining run yet: tutor train pretrain (or give the checkpoint's path)", code=1)
    try:
        items = write_kit(out, corpora=corpus or [], checkpoint=checkpoint, settings=settings,
                          log=lambda line: err.print(f"[dim]{line}[/dim]"))
    except (KitError, SettingsError) as exc:
        die(str(exc), code=1)
    for item in items:
        console.print(f"✓ {item.kind:<10} {item.name}  {item.size:,} bytes  sha256 {item.sha256[:12]}…")
    console.print(f"Kit written: {Path(out).resolve()} ({Path(out).stat().st_size:,} bytes). "
                  f"On each machine: tutor data import {Path(out).name}", soft_wrap=True)


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
        die("browser mode needs textual-serve: pip install 'tutor[web]' (or pip install textual-serve)", code=1)
    try:
        root = find_workspace(workspace).root
    except WorkspaceError as exc:
        die(str(exc))
    if host not in ("localhost", "127.0.0.1", "::1"):
        err.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach port {port} can run code "
                  "in this workspace as you. Use this only on a network you trust.")
    # Each browser tab gets its own app process; the tab's size becomes the terminal's.
    from tutor.core.locations import python_command

    command = shlex.join(python_command("tutor", "app", "--workspace", str(root)))
    server = make_server(command, host=host, port=port, public_url=public_url)
    console.print(f"Open this address in your browser (it holds this server's token; keep it to yourself):\n"
                  f"  {server.url}", markup=False, highlight=False)
    sys.stdout.flush()
    server.serve()
