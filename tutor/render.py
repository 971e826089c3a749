"""Human-readable text for check results and lesson lists (Rich, for the terminal)."""

from __future__ import annotations

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from tutor.engine.results import LessonResult
from tutor.engine.status import Status

MARKS = {
    Status.PASSED: ("✓", "green"),
    Status.FAILED: ("✗", "red"),
    Status.ERROR: ("!", "red"),
    Status.TAMPERED: ("⚠", "bold red"),
    Status.LOCKED: ("·", "dim"),
    Status.NOT_RUN: ("·", "dim"),
    Status.CHANGED: ("~", "yellow"),
    Status.OPEN: ("○", "cyan"),
}


def lesson_result(result: LessonResult, *, verbose: bool = False) -> Group:
    mark, style = MARKS.get(result.status, ("?", ""))
    passed, total = result.counts
    head = Text.assemble((f"{mark} ", style), (f"Lesson {result.number} · {result.title}", "bold"))
    if result.status in (Status.PASSED, Status.FAILED):
        head.append(f"  {result.status} {passed}/{total}", style=style)
    elif result.status == Status.ERROR:
        head.append("  could not finish", style=style)
    elif result.status == Status.TAMPERED:
        head.append("  tampered: not passed", style=style)
    else:
        head.append(f"  {result.status}", style=style)
    if result.duration:
        head.append(f"  ({result.duration:.2f} s)", style="dim")
    parts: list = [head]
    show_all = verbose or result.status != Status.PASSED
    previous = None
    for c in result.checks:
        if c.status == Status.PASSED and not show_all and not c.message:
            continue
        cm, cs = MARKS.get(c.status, ("?", ""))
        parts.append(Padding(Text.assemble((f"{cm} ", cs), c.name), (0, 0, 0, 2)))
        if c.message and c.message == previous:
            parts.append(Padding(Text("(the same as above)", style="dim"), (0, 0, 0, 6)))
        elif c.message:
            parts.append(Padding(Text(c.message), (0, 0, 0, 6)))
        previous = c.message
        if c.traceback and verbose:
            parts.append(Padding(Text(c.traceback, style="dim"), (0, 0, 0, 6)))
    if result.status in (Status.ERROR, Status.TAMPERED) and result.message and not any(c.message == result.message for c in result.checks):
        parts.append(Padding(Text(result.message, style="red"), (0, 0, 0, 2)))
    if result.output.strip() and result.status != Status.PASSED:
        parts.append(Padding(Text("Your code printed:\n" + result.output.strip(), style="dim"), (0, 0, 0, 2)))
    if result.status in (Status.FAILED, Status.ERROR, Status.TAMPERED) and result.seed is not None:
        parts.append(Padding(Text(f"(inputs drawn with --seed {result.seed})", style="dim"), (0, 0, 0, 2)))
    return Group(*parts)


def lesson_table(course, states: dict[int, str]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("#", justify="right")
    table.add_column("lesson")
    table.add_column("part", style="dim")
    table.add_column("state")
    current = course.current().number
    for lesson in course.lessons:
        state = states[lesson.number]
        mark, style = MARKS.get(state, ("?", ""))
        label = "passed before; changed since, re-check" if state == Status.CHANGED else state
        if lesson.kind == "run":
            label += " · a run"  # the same words as the lesson map
        title = Text(lesson.title, style="bold" if lesson.number == current else "")
        if lesson.number == current:
            title.append("  ← next", style="cyan")
        table.add_row(str(lesson.number), title, course.registry.part_title(lesson.part), Text(f"{mark} {label}", style=style))
    return table
