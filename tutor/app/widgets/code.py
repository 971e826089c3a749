"""The lesson screen's two panes that take the keyboard: the lesson text and the code editor."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.events import Key
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

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


def leading_blanks(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def dedent_width(line: str) -> int:
    """How many characters shift+tab takes off the start of a line: back to the previous
    multiple of four spaces (a tab counts as one level)."""
    if line.startswith("\t"):
        return 1
    spaces = len(line) - len(line.lstrip(" "))
    return min(spaces, spaces % len(INDENT) or len(INDENT))


class CodeEditor(TextArea):
    """A Python editor pane: Enter keeps the indentation (one level more after a ':'), Tab
    indents (every selected line when the selection spans lines) and shift+tab dedents,
    Home goes to the line's first character that is not blank and then to its column 0,
    and Escape hands the keyboard back to the screen (and then to the map)."""

    BINDINGS = [
        Binding("escape", "leave", "Leave editor", show=False),
        Binding("shift+tab", "dedent", "Dedent", show=False),
        Binding("home", "smart_home", "Line start", show=False),
        Binding("shift+home", "smart_home(True)", "Select to line start", show=False),
    ]

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
        if event.key == "tab" and not self.read_only and self.selection.start[0] != self.selection.end[0]:
            event.stop()
            event.prevent_default()
            self._shift_lines(lambda line: INDENT if line.strip() else "", lambda line: 0)
            return
        await super()._on_key(event)

    def _selected_rows(self) -> range:
        """The rows the selection touches (a selection that ends at column 0 leaves that row out)."""
        (top, _), (bottom, column) = sorted((self.selection.start, self.selection.end))
        if bottom > top and column == 0:
            bottom -= 1
        return range(top, bottom + 1)

    def _shift_lines(self, added, removed) -> None:
        """Indent or dedent the selected rows in one edit (one undo), the selection kept on the same text:
        each row gets the text added(line) at its start, after losing removed(line) characters there."""
        rows = self._selected_rows()
        lines = [self.document.get_line(row) for row in rows]
        changes = {row: (added(line), removed(line)) for row, line in zip(rows, lines)}
        if not any(add or cut for add, cut in changes.values()):
            return
        text = "\n".join(add + line[cut:] for line, (add, cut) in zip(lines, changes.values()))
        anchor, cursor = self.selection.start, self.selection.end

        def moved(location: tuple[int, int]) -> tuple[int, int]:
            row, column = location
            add, cut = changes.get(row, ("", 0))
            return row, max(0, column - cut) + len(add) if column else 0

        self.replace(text, (rows.start, 0), (rows.stop - 1, len(lines[-1])), maintain_selection_offset=False)
        self.selection = Selection(moved(anchor), moved(cursor))

    def action_dedent(self) -> None:
        """shift+tab: the line (or every selected line) one level to the left."""
        if not self.read_only:
            self._shift_lines(lambda line: "", dedent_width)

    def action_smart_home(self, select: bool = False) -> None:
        """Home: to the first character that is not blank; pressed there, to column 0."""
        row, column = self.cursor_location
        first = leading_blanks(self.document.get_line(row))
        self.move_cursor((row, 0 if column == first else first), select=select)

    def action_leave(self) -> None:
        self.screen.set_focus(None)
