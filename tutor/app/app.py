"""The tutor's Textual app: bare `tutor` opens it on the lesson map."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tutor.engine.course import Course
from tutor.engine.runner import CheckRunner
from tutor.engine.workspace import WorkspaceError, find_workspace


class ProblemScreen(Screen):
    """Shown instead of the map when the app cannot start (no workspace, say)."""

    BINDINGS = [Binding("q,escape", "app.quit", "Quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.message, id="problem")
        yield Footer()


class TutorApp(App):
    CSS_PATH = "tutor.tcss"
    TITLE = "tutor"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+d", "toggle_dark", "Light/dark"),
    ]

    def __init__(self, workspace: Path | None = None, runner: CheckRunner | None = None, open_all: bool = False) -> None:
        super().__init__()
        self.workspace_arg = workspace
        self.runner = runner or CheckRunner()
        self._own_runner = runner is None
        self.open_all = open_all
        self.course: Course | None = None
        self.problem: str | None = None
        try:
            self.course = Course(find_workspace(workspace))
        except WorkspaceError as exc:
            self.problem = f"{exc}\n\nPress q to quit."

    def get_default_screen(self) -> Screen:
        """The map itself (or what stops the app) is the first screen: no blank screen is
        composed and painted before it."""
        if self.course is None:
            return ProblemScreen(self.problem or "No workspace.")
        from tutor.app.screens.lesson_map import LessonMapScreen

        return LessonMapScreen()

    def on_mount(self) -> None:
        if self.course is None:
            return
        if self.course.store.warning:
            self.notify(self.course.store.warning, severity="warning", timeout=15)
        # Import torch in the worker process while the learner reads, once the map is painted:
        # the first check is then fast, and the first paint does not wait for a process to start.
        self.call_after_refresh(self.run_worker, self.runner.start, thread=True, group="runner", exit_on_error=False)

    def on_unmount(self) -> None:
        if self._own_runner:
            self.runner.close()

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                yield SystemCommand(binding.description, f"{binding.description} ({binding.key})",
                                    lambda a=action, s=screen: s.run_action(a))


def run_app(workspace: Path | None = None) -> None:
    TutorApp(workspace).run()
