"""The lesson screen: the text, the learner's file in an editor, the check results.

Watch mode re-checks whenever the file is saved, from the editor pane or from an
outside editor; checks run in a thread worker, so the screen never freezes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, Static, TabbedContent, TabPane, TextArea

from tutor.app.messages import CheckFinished
from tutor.app.widgets.code import CodeEditor, LessonText
from tutor.app.widgets.results import CheckResults
from tutor.core.atomic import write_text_atomic
from tutor.engine.lessons import Lesson
from tutor.engine.status import Status

WATCH_INTERVAL = 0.4  # seconds between looks at the file's modification time


class LessonScreen(Screen):
    BINDINGS = [
        Binding("ctrl+r", "check", "Check", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True, show=False),
        Binding("ctrl+t", "toggle_watch", "Watch", priority=True),
        Binding("ctrl+g", "hint", "Hint", priority=True),
        Binding("ctrl+e", "external_editor", "Editor", priority=True),
        Binding("f2", "show_tab('text')", "Text", priority=True),
        Binding("f3", "show_tab('code')", "Code", priority=True),
        Binding("f4", "show_tab('results')", "Results", priority=True),
        Binding("f7", "solution", "Solution"),
        Binding("f8", "reset", "Reset"),
        Binding("escape", "back", "Map"),
    ]

    def __init__(self, lesson: Lesson) -> None:
        super().__init__()
        self.lesson = lesson
        self.watching = False
        self._stamp: int | None = None

    @property
    def path(self):
        return self.app.course.workspace.file(self.lesson.files[0]) if self.lesson.files else None

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="text"):
            with TabPane("Lesson", id="text"):
                with LessonText(id="lesson-scroll"):
                    yield Markdown(self.lesson.text(), id="lesson-text")
            with TabPane("Code", id="code"):
                if self.path is not None:
                    yield CodeEditor.for_python(self._read(), id="editor")
                else:
                    yield Static("This lesson is a run: train with `tutor train pretrain --preset tiny`, "
                                 "then press ctrl+r to check the result.", id="editor-none")
            with TabPane("Results", id="results"):
                yield CheckResults()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        editor = self._editor()
        self._saved_text = editor.text if editor is not None else ""
        self.title = self.lesson.label
        self.sub_title = f"model/{', model/'.join(self.lesson.files)}" if self.lesson.files else "a run milestone"
        self._stamp = self._mtime()
        self.set_interval(WATCH_INTERVAL, self._poll)
        self.query_one(LessonText).focus()  # the text scrolls with the keyboard from the start

    # -- file --
    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8") if self.path else ""
        except (OSError, UnicodeDecodeError) as exc:
            self.app.notify(f"Could not read {self.path}: {exc}", severity="error")
            return ""

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns if self.path else None
        except OSError:
            return None

    def _editor(self) -> TextArea | None:
        found = self.query("#editor")
        return found.first(TextArea) if found else None

    def _reload_editor(self) -> None:
        editor = self._editor()
        if editor is not None:
            editor.load_text(self._read())
            self._saved_text = editor.text

    @property
    def dirty(self) -> bool:
        """The editor holds edits that are not on disk."""
        editor = self._editor()
        return editor is not None and editor.text != self._saved_text

    def _poll(self) -> None:
        stamp = self._mtime()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        if self.dirty:
            # Both changed: keep the editor's text unsaved, and check what is on disk.
            self.app.notify("The file changed on disk while the editor has unsaved edits; they are kept, not saved.",
                            severity="warning")
        elif self._read() != self._saved_text:  # our own save changes the time, not the text
            self._reload_editor()
        if self.watching:
            self._start_check()

    # -- actions --
    def action_save(self) -> None:
        editor = self._editor()
        if editor is None or self.path is None:
            return
        write_text_atomic(self.path, editor.text)
        self._saved_text = editor.text
        self.app.notify(f"Saved model/{self.path.name}", timeout=2)
        # The poll sees the new modification time and, in watch mode, re-checks.

    def action_check(self) -> None:
        if self.dirty:
            self.action_save()
        self._start_check()

    def _start_check(self) -> None:
        self.query_one(CheckResults).show_running(self.lesson.label)
        self.action_show_tab("results")
        self.run_checks()

    @work(thread=True, exclusive=True, group="check")
    def run_checks(self) -> None:
        course = self.app.course
        following = next((l for l in course.lessons if l.number > self.lesson.number), None)  # the course's next
        was_locked = following is not None and course.state(following) == Status.LOCKED
        result = course.check(self.app.runner, [self.lesson])[0]
        unlocked = following.number if (result.passed and was_locked) else None
        self.post_message(CheckFinished(result, unlocked))

    def on_check_finished(self, message: CheckFinished) -> None:
        self.query_one(CheckResults).show(message.result)
        if message.result.passed:
            text = f"{self.lesson.label} passes!"
            if message.unlocked:
                text += f" Lesson {message.unlocked} is unlocked."
            self.app.notify(text, title="Well done", timeout=8)

    def action_toggle_watch(self) -> None:
        self.watching = not self.watching
        self.sub_title = ("watching: every save re-checks · " if self.watching else "") + ", ".join(f"model/{f}" for f in self.lesson.files)
        self.app.notify("Watch mode on: save to re-check." if self.watching else "Watch mode off.", timeout=3)
        if self.watching:
            self.action_check()

    def action_hint(self) -> None:
        from tutor.app.screens.dialogs import PageScreen

        index, total, text = self.app.course.next_hint(self.lesson.number)
        title = (f"Hint {index} of {total}" + (", the last" if index == total else "")) if total else "No hints"
        self.app.push_screen(PageScreen(f"{self.lesson.label} · {title}", text))

    def action_solution(self) -> None:
        from tutor.app.screens.dialogs import ConfirmScreen, PageScreen
        from tutor.engine.course import SolutionsOff

        try:
            self.app.course.require_solutions()
        except SolutionsOff as exc:
            self.app.notify(str(exc).capitalize() + ".", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                code = "\n\n".join(f"**model/{name}**\n\n```python\n{src}\n```" for name, src in self.app.course.solution_text(self.lesson.number).items())  # noqa: E501
                self.app.push_screen(PageScreen(f"{self.lesson.label} · reference solution", code or "This lesson has no code."))

        self.app.push_screen(ConfirmScreen("See the reference solution? The hints (ctrl+g) teach more."), answered)

    def action_reset(self) -> None:
        from tutor.app.screens.dialogs import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                rewrites = self.app.course.reset(self.lesson.number)
                self._stamp = self._mtime()
                self._reload_editor()
                kept = ", ".join(str(r.backup.relative_to(self.app.course.workspace.root)) for r in rewrites if r.backup)
                self.app.notify(f"Stub restored. Your version is kept in {kept}." if kept else "Stub restored.")

        names = ", ".join(self.lesson.components) or "nothing"
        self.app.push_screen(ConfirmScreen(f"Restore the stub of {names}? A backup of your file is kept."), answered)

    def action_external_editor(self) -> None:
        if self.path is None:
            return
        if self.dirty:
            self.action_save()
        command = find_editor()
        if command is None:
            self.app.notify(
                "No outside editor found: set $EDITOR (or $VISUAL), or install nano or vi. The Code tab (f3) edits the file here.",
                severity="warning",
                timeout=8,
            )
            return
        try:
            with self.app.suspend():
                subprocess.run([*command, str(self.path)], check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            self.app.notify(f"Could not start {command[0]}: {exc}. Set $EDITOR.", severity="error")

    def action_show_tab(self, tab: str) -> None:
        """Show a tab and put the keyboard in it: the text scrolls, the editor types,
        the results scroll."""
        self.query_one(TabbedContent).active = tab
        target = {"text": "#lesson-scroll", "code": "#editor", "results": "CheckResults"}[tab]
        found = self.query(target)
        if found:
            # After the tab is shown: a widget in a pane still hidden cannot take focus.
            self.call_after_refresh(found.first().focus)

    def action_back(self) -> None:
        if self.dirty:
            self.action_save()
        self.app.pop_screen()


def find_editor() -> list[str] | None:
    """The outside editor to run, looked up before the app suspends: $VISUAL, $EDITOR,
    then nano, then vi; None when none of them exists (suspending for a missing
    program would leave the terminal blank)."""
    for candidate in (os.environ.get("VISUAL"), os.environ.get("EDITOR"), "nano", "vi"):
        if not candidate:
            continue
        try:
            command = shlex.split(candidate)
        except ValueError:
            continue
        if command and shutil.which(command[0]):
            return command
    return None
