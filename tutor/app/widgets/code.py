"""The lesson screen's two panes that take the keyboard: the lesson text and the code editor."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Key
from textual.widgets import TextArea

INDENT = "    "


class LessonText(VerticalScroll, can_focus=True):
    """The lesson's Markdown, scrolled with the keys a reader expects (arrows, PageUp and
    PageDown, Home and End come with VerticalScroll; space and j/k as in a pager)."""

    BINDINGS = [
        Binding("space", "page_down", "Page down", show=False),
        Binding("b", "page_up", "Page up", show=False),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
    ]


class CodeEditor(TextArea):
    """A Python editor pane: Enter keeps the indentation (one level more after a ':'),
    Tab indents, and Escape hands the keyboard back to the screen (and then to the map)."""

    BINDINGS = [Binding("escape", "leave", "Leave editor", show=False)]

    @classmethod
    def for_python(cls, text: str, **kwargs) -> CodeEditor:
        return cls(text, language="python", theme="monokai", soft_wrap=False, tab_behavior="indent",
                   show_line_numbers=True, **kwargs)

    async def _on_key(self, event: Key) -> None:
        if event.key == "enter" and not self.read_only:
            event.stop()
            event.prevent_default()
            row, column = self.cursor_location
            line = self.document.get_line(row)[:column]
            indent = line[: len(line) - len(line.lstrip(" "))]
            if line.rstrip().endswith(":"):
                indent += INDENT
            self.replace("\n" + indent, self.selection.start, self.selection.end)
            return
        await super()._on_key(event)

    def action_leave(self) -> None:
        self.screen.set_focus(None)
