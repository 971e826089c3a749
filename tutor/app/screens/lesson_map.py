"""The lesson map: parts and lessons, locked / open / passed, and the next one highlighted."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, OptionList, ProgressBar
from textual.widgets.option_list import Option

from tutor.engine.status import Status

STATE_MARKS = {Status.PASSED: ("✓", "green"), Status.CHANGED: ("~", "yellow"), Status.OPEN: ("○", "cyan"),
               Status.LOCKED: ("·", "dim")}


class LessonMapScreen(Screen):
    BINDINGS = [
        Binding("enter", "open_lesson", "Open", show=True),
        Binding("n", "open_next", "Next lesson"),
        Binding("t", "train", "Train"),
        Binding("c", "chat", "Chat"),
        Binding("r", "refresh_map", "Refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="map"):
            yield Label(id="map-summary")
            yield OptionList(id="lessons")

    def on_mount(self) -> None:
        self.title = "tutor"
        self.sub_title = "build a GPT from scratch"
        self.refresh_map()
        self.query_one(OptionList).focus()
        # The lessons first; the progress bar and the footer's keys a frame later (the app's
        # first paint is what a learner waits for on every start).
        self.call_after_refresh(self._mount_the_rest)

    async def _mount_the_rest(self) -> None:
        from textual.widget import MountError

        box = self.query_one("#map", Vertical)
        if not (self.is_attached and box.is_attached) or self.query(Footer):
            return  # the app is closing already (or it is done)
        try:
            await box.mount(ProgressBar(id="map-progress", show_eta=False), before="#lessons")
            await self.mount(Footer())
        except MountError:
            return  # closing meanwhile
        self._update_progress()
        self.refresh_bindings()  # a footer mounted late learns the keys from this

    def on_screen_resume(self) -> None:
        self.refresh_map()

    def refresh_map(self) -> None:
        course = self.app.course
        states = course.states()
        current = course.current().number
        options: list[Option | None] = []
        part = None
        for lesson in course.lessons:
            if lesson.part != part:
                if part is not None:
                    options.append(None)
                part = lesson.part
                options.append(Option(Text(course.registry.part_title(part), style="bold underline"), disabled=True))
            state = states[lesson.number]
            mark, style = STATE_MARKS[state]
            label = Text.assemble((f" {mark} ", style), (f"{lesson.number:>2}  {lesson.title}", "bold" if lesson.number == current else ""))
            if lesson.number == current:
                label.append("  ← next", style="cyan")
            label.append(f"   {state}" + (" · a run" if lesson.kind == "run" else ""), style="dim")
            options.append(Option(label, id=f"lesson-{lesson.number}", disabled=state == Status.LOCKED and not self.app.open_all))
        lessons = self.query_one(OptionList)
        highlighted = lessons.highlighted
        lessons.clear_options()
        lessons.add_options(options)
        done = sum(s == Status.PASSED for s in states.values())
        summary = f"{done} of {len(states)} lessons passed · workspace {course.workspace.root.name}"
        if course.settings.describe():
            summary += f"\ncourse: {course.settings.describe()}"
        self.query_one("#map-summary", Label).update(summary)
        self._progress = (len(states), done)
        self._update_progress()
        index = lessons.get_option_index(f"lesson-{current}")
        lessons.highlighted = highlighted if highlighted is not None else index

    def _update_progress(self) -> None:
        bars = self.query(ProgressBar)
        if bars and getattr(self, "_progress", None):
            total, done = self._progress
            bars.first().update(total=total, progress=done)

    def _open(self, number: int) -> None:
        from tutor.app.screens.lesson import LessonScreen

        self.app.push_screen(LessonScreen(self.app.course.lesson(number)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self._open(int(event.option.id.split("-")[1]))

    def action_open_lesson(self) -> None:
        lessons = self.query_one(OptionList)
        if lessons.highlighted is not None:
            option = lessons.get_option_at_index(lessons.highlighted)
            if option.id and not option.disabled:
                self._open(int(option.id.split("-")[1]))

    def action_open_next(self) -> None:
        self._open(self.app.course.current().number)

    def action_refresh_map(self) -> None:
        self.refresh_map()

    def action_chat(self) -> None:
        from tutor.app.screens.chat import ChatScreen

        self.app.push_screen(ChatScreen())

    def action_train(self) -> None:
        from tutor.app.screens.train import TrainScreen

        course = self.app.course
        if not course.ready_for("pretrain") and not self.app.open_all:
            needed = course.registry.run_lessons("pretrain")
            self.app.notify(f"Training uses your code from lessons {', '.join(map(str, needed))}: the train screen "
                            "opens once they pass.", severity="warning")
            return
        self.app.push_screen(TrainScreen())
