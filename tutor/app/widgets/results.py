"""The check results of one lesson: each check with its mark, failures with their message."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Static

from tutor.engine.results import LessonResult
from tutor.engine.status import Status

MARKS = {Status.PASSED: ("✓", "green"), Status.FAILED: ("✗", "red"), Status.ERROR: ("!", "red")}


class CheckResults(VerticalScroll):
    """Shows a LessonResult; `show_running()` while checks are under way."""

    DEFAULT_CLASSES = "results"

    def compose(self) -> ComposeResult:
        yield Static("Press ctrl+r to run the checks (ctrl+t to watch: every save re-checks).", id="results-summary")

    def show_running(self, label: str) -> None:
        self.remove_children(".check")
        self.query_one("#results-summary", Static).update(Text(f"Checking {label}…", style="italic"))

    def show(self, result: LessonResult) -> None:
        passed, total = result.counts
        summary = self.query_one("#results-summary", Static)
        if result.passed:
            summary.update(Text(f"✓ All {total} checks pass ({result.duration:.2f} s)", style="bold green"))
        elif result.status == Status.ERROR:
            summary.update(Text(f"! The checks could not finish: {result.message}", style="bold red"))
        elif result.status == Status.TAMPERED:
            summary.update(Text(f"⚠ {result.message}", style="bold red"))
        else:
            summary.update(Text(f"✗ {passed} of {total} checks pass ({result.duration:.2f} s)", style="bold red"))
        self.remove_children(".check")
        widgets = []
        previous = None
        for c in result.checks:
            mark, style = MARKS.get(c.status, ("?", ""))
            head = Text.assemble((f"{mark} ", style), c.name)
            body = c.message if c.message != previous else "(the same as above)"
            previous = c.message
            widgets.append(Static(head, classes=f"check check-{c.status}"))
            if body and c.status != Status.PASSED or (c.status == Status.PASSED and c.message):
                widgets.append(Static(Text(body), classes="check check-message"))
            if c.traceback:
                widgets.append(Collapsible(Static(Text(c.traceback)), title="traceback", collapsed=True, classes="check"))
        if result.output.strip() and not result.passed:
            widgets.append(Collapsible(Static(Text(result.output.strip())), title="your code printed", collapsed=True, classes="check"))
        if not result.passed and result.seed is not None:
            widgets.append(Static(Text(f"inputs drawn with --seed {result.seed}", style="dim"), classes="check"))
        self.mount_all(widgets)
