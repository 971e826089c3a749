"""What every command shares: the consoles, the workspace option, errors and confirmations,
the checks a run needs first, and a run's progress bar."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from tutor.cli.output import console, err  # noqa: F401 - every command's consoles, named here too

USAGE = 2  # exit code for a usage error, as Click uses


class Format(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"


WorkspaceOpt = Annotated[Optional[Path], typer.Option("--workspace", "-w", help="The workspace folder (default: found from the current folder upwards).")]


def die(message: str, code: int = USAGE) -> NoReturn:
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def open_course(workspace: Path | None, settings=None):
    """The course of the workspace; `settings` replaces its tutor.toml's [course] table unread."""
    from tutor.engine.course import Course
    from tutor.engine.workspace import WorkspaceError, find_workspace

    try:
        course = Course(find_workspace(workspace), settings=settings)
    except WorkspaceError as exc:
        die(str(exc))
    if course.store.warning:
        err.print(f"[yellow]warning:[/yellow] {course.store.warning}")
    return course


def lesson_of(course, number: int):
    from tutor.engine.course import NotInCourse

    try:
        return course.lesson(number)
    except NotInCourse as exc:
        die(f"{exc} (see `tutor list`)")


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        die("this needs a confirmation; add --yes to go ahead without one")
    if not typer.confirm(question, default=False):
        console.print("Nothing changed.")
        raise typer.Exit(0)


def report_rewrite(course, rewrite) -> None:
    rel = rewrite.file.relative_to(course.workspace.root)
    what = "replaced whole (it did not parse)" if rewrite.whole_file else "updated"
    console.print(f"{rel} {what}.")
    if rewrite.backup:
        console.print(f"[dim]Your previous version is kept in {rewrite.backup.relative_to(course.workspace.root)}[/dim]")


def parse_sets(pairs: list[str] | None) -> dict:
    """--set key=value pairs, values read as JSON where they parse (numbers, true/false)."""
    changes = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            die(f"--set takes key=value, got {pair!r}")
        try:
            changes[key.strip()] = json.loads(raw)
        except ValueError:
            changes[key.strip()] = raw
    return changes


def ensure_lessons_pass(course, numbers, what: str = "training") -> None:
    """Check the lessons whose code a run calls (an architecture's `lessons`); stop naming the
    first one to finish when any fails."""
    from tutor.engine.runner import CheckRunner

    with console.status("Checking the lessons whose code the trainer uses…"), CheckRunner() as runner:
        # Lessons a course leaves out hold the reference, so only the course's own are checked.
        results = course.check(runner, [course.lesson(n) for n in numbers if course.settings.includes(n)])
    failing = [r for r in results if not r.passed]
    if failing:
        names = ", ".join(f"{r.number} ({r.title})" for r in failing)
        die(f"{what} uses your code from lessons {', '.join(map(str, numbers))}; not passing yet: {names}. "
             f"Run `tutor check {failing[0].number}` (or add --skip-checks).", code=1)


def default_pretrained(course, say) -> Path:
    """This workspace's last pretraining run, else the checkpoint a workshop kit brought."""
    from tutor.core.locations import pretrained_checkpoint

    found, where = pretrained_checkpoint(course.workspace.key)
    if where == "the workshop kit":
        say(f"No pretraining run in this workspace yet: using the workshop's checkpoint {found}")
    return found


class RunProgress:
    """A trainer's events as JSON lines (--json), or as a tqdm bar with a line per milestone.

    Each command says what its events mean: the opening line and bar length from
    the start event, the bar's postfix for a step, a line for anything else.
    """

    def __init__(self, json_lines: bool, say, *, opening, total, postfix, note, steps=("step",), initial=lambda e: 0):
        self.json_lines, self.say, self.bar = json_lines, say, None
        self.opening, self.total, self.postfix, self.note, self.steps, self.initial = opening, total, postfix, note, steps, initial

    def __call__(self, event: dict) -> None:
        if self.json_lines:
            print(json.dumps(event), flush=True)
            return
        kind = event["event"]
        if kind == "start":
            from tqdm import tqdm

            self.say(self.opening(event))
            self.bar = tqdm(total=self.total(event), initial=self.initial(event), unit="step", dynamic_ncols=True,
                            file=sys.stderr)
        elif self.bar is None:
            return
        elif kind in self.steps:
            self.bar.update(1)
            self.bar.set_postfix(**self.postfix(event))
        elif kind in ("done", "interrupted"):
            self.close()
        elif line := self.note(event):
            self.bar.write(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
