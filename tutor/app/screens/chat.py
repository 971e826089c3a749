"""The chat screen: type a message, see the verdict and the tokens that decided it.

ctrl+g toggles to completing text with the pretrained model. Models load and
answer in a thread worker (this is where the app imports torch, on demand).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, RichLog

from tutor.training.pretrain import run_dir


class Answer(Message):
    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text


def coloured(verdict) -> Text:
    """The verdict line, then the message's tokens coloured by their push (red: spam, green: ham)."""
    line = Text(f"{verdict.label} {verdict.probability:.1%}", style="bold red" if verdict.label == "spam" else "bold green")
    line.append("   strongest pushes: ", style="dim")
    for token, push in verdict.pushes:
        line.append(repr(token), style=("on dark_red" if push > 0 else "on dark_green"))  # quoted: ' h', not a blank
        line.append(f" {push:+.2f}  ", style="dim")
    if verdict.note:
        line.append(f"\n{verdict.note}", style="dim italic")
    return line


class ChatScreen(Screen):
    BINDINGS = [
        Binding("ctrl+g", "toggle_mode", "Classify/complete", priority=True),
        Binding("escape", "back", "Map"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.generate_mode = False
        self._bots: dict[bool, object] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield RichLog(id="chat-log", wrap=True, markup=False)
        yield Input(placeholder="Type a message and press Enter", id="chat-input")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Chat with your classifier"
        self.query_one(Input).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_mode(self) -> None:
        self.generate_mode = not self.generate_mode
        self.title = "Complete text with your GPT" if self.generate_mode else "Chat with your classifier"
        self.query_one(Input).placeholder = "Type the start of a text" if self.generate_mode else "Type a message and press Enter"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        self.answer(text, self.generate_mode)

    @work(thread=True, exclusive=False, group="chat")
    def answer(self, text: str, generate_mode: bool) -> None:
        from tutor.training.checkpoint import CheckpointError
        from tutor.training.learner import LearnerCodeError

        workspace = self.app.course.workspace
        try:
            if generate_mode not in self._bots:
                if generate_mode:
                    from tutor.training.generation import load_for_generation

                    self._bots[True] = load_for_generation(workspace, run_dir(workspace) / "checkpoint.safetensors")
                else:
                    from tutor.chat import SpamChat

                    self._bots[False] = SpamChat(workspace, run_dir(workspace, "classify") / "classifier.safetensors")
            bot = self._bots[generate_mode]
            reply = Text(text, style="bold") + Text(bot.complete(text, max_new_tokens=40)) if generate_mode else coloured(bot.classify(text))
            note = getattr(bot, "caveat", "")
            if note and not getattr(self, "_caveat_shown", False):  # once, with the first verdict
                self._caveat_shown = True
                reply.append(f"\n{note}", style="yellow")
        except (CheckpointError, LearnerCodeError) as exc:
            what = "tutor train pretrain" if generate_mode else "tutor train classify"
            reply = Text(f"{exc}. Train one first ({what}).", style="red")
        # The message and its verdict arrive together, so each verdict stands under its own message
        # even when a second message was sent before the first was answered.
        self.post_message(Answer(Text.assemble((f"you: {text}\n", "bold"), reply)))

    def on_answer(self, message: Answer) -> None:
        self.query_one(RichLog).write(message.text)
