"""The chat screen: type a message, see the verdict and the tokens that decided it.

ctrl+g toggles to completing text with the pretrained model; ctrl+t, once
OpenAI's GPT-2 is on this machine, to completing text with GPT-2 in the
learner's own GPTModel; ctrl+o to giving instructions to the instruction-tuned
model (an input may follow ' || '), whose answer appears token by token. Models
load and answer in a thread worker (this is where the app imports torch, on
demand), so the screen never waits for them.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, RichLog, Static


class Answer(Message):
    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text


class Partial(Message):
    """The instruction-tuned model's answer so far, while it is still writing."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class WeightsFound(Message):
    """Which GPT-2 is on this machine ("GPT-2 124M"), or "" when none is."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


MODES = {
    "classify": ("Chat with your classifier", "Type a message and press Enter"),
    "complete": ("Complete text with your GPT", "Type the start of a text"),
    "gpt2": ("Complete text with GPT-2 in your model", "Type the start of a text"),
    "instruct": ("Give your model an instruction", "An instruction, then optionally ' || ' and an input"),
}


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
        Binding("ctrl+o", "instruct_mode", "Instruct", priority=True),
        Binding("ctrl+t", "gpt2_mode", "GPT-2", priority=True),  # shown once its weights are here
        Binding("escape", "back", "Map"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mode = "classify"
        self._bots: dict[str, object] = {}
        self.pieces_shown = 0  # pieces of instruct answers streamed so far (the tests read it)
        self.gpt2_name = ""  # "GPT-2 124M" when its weights are on this machine, else ""
        self._gpt2_looked_up = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield RichLog(id="chat-log", wrap=True, markup=False)
        yield Static("", id="chat-partial")
        yield Input(placeholder=MODES["classify"][1], id="chat-input")
        yield Footer()

    def on_mount(self) -> None:
        # The input first: what the learner types as the screen opens lands there, and nothing
        # slow runs before it (which GPT-2 is here is looked up in a worker).
        self.query_one(Input).focus()
        self.title = MODES["classify"][0]
        self.find_gpt2()

    def on_key(self, event: events.Key) -> None:
        """Keys typed while the screen was still opening reach the screen itself, not the input:
        hand the letters on, so that nothing the learner typed is lost (an early Enter needs no
        help: it reaches the input's binding once the input has the focus)."""
        if event.is_printable and event.character:
            field = self.query_one(Input)
            field.focus()
            field.insert_text_at_cursor(event.character)
            event.stop()

    @work(thread=True, exclusive=True, group="gpt2-lookup")
    def find_gpt2(self) -> None:
        from tutor.data.gpt2 import weights_here

        self.post_message(WeightsFound(weights_here()))

    def on_weights_found(self, message: WeightsFound) -> None:
        self.gpt2_name, self._gpt2_looked_up = message.name, True
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """GPT-2's key is offered only when its weights are on this machine."""
        return bool(self.gpt2_name) if action == "gpt2_mode" else True

    def action_back(self) -> None:
        self.app.pop_screen()

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.title, self.query_one(Input).placeholder = MODES[mode]
        self.sub_title = ""

    def action_toggle_mode(self) -> None:
        self._set_mode("classify" if self.mode == "complete" else "complete")

    def action_instruct_mode(self) -> None:
        self._set_mode("classify" if self.mode == "instruct" else "instruct")

    def action_gpt2_mode(self) -> None:
        if not self.gpt2_name and not self._gpt2_looked_up:  # pressed before the lookup came back
            from tutor.data.gpt2 import weights_here

            self.gpt2_name = weights_here()
        if not self.gpt2_name:
            from tutor.data.gpt2 import missing

            self.app.notify(missing(), severity="warning")
            return
        self._set_mode("classify" if self.mode == "gpt2" else "gpt2")
        if self.mode == "gpt2":
            self.sub_title = self.gpt2_name

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        if self.mode == "instruct":  # the answer streams under the message, so the message goes first
            self.query_one(RichLog).write(Text(f"you: {text}", style="bold"))
            self.instruct(text)
        else:
            self.answer(text, self.mode)

    @work(thread=True, exclusive=False, group="chat")
    def instruct(self, line: str) -> None:
        """The answer streamed piece by piece into the partial line, then written to the log."""
        from tutor.chat import InstructChat, split_instruction
        from tutor.core.checkpoint import CheckpointError
        from tutor.learner import LearnerCodeError

        workspace = self.app.course.workspace
        instruction, extra = split_instruction(line)
        try:
            if "instruct" not in self._bots:
                self._bots["instruct"] = InstructChat(workspace, workspace.run_checkpoint("instruct"))
            bot = self._bots["instruct"]
            so_far = ""
            for piece in bot.stream(instruction, extra):  # type: ignore[attr-defined]
                so_far += piece
                self.post_message(Partial(so_far))
            reply = Text(f"model: {so_far.strip()}", style="bold green")
        except (CheckpointError, LearnerCodeError) as exc:
            reply = Text(f"{exc}. Train one first (tutor train instruct).", style="red")
        self.post_message(Answer(reply))

    def on_partial(self, message: Partial) -> None:
        self.pieces_shown += 1
        self.query_one("#chat-partial", Static).update(Text(f"model: {message.text}", style="green"))

    @work(thread=True, exclusive=False, group="chat")
    def answer(self, text: str, mode: str) -> None:
        from tutor.core.checkpoint import CheckpointError
        from tutor.data.gpt2 import Gpt2Error
        from tutor.learner import LearnerCodeError

        completing = mode in ("complete", "gpt2")
        try:
            bot = self._bots.get(mode) or self._bots.setdefault(mode, self._load(mode))
            reply = Text(text, style="bold") + Text(bot.complete(text, max_new_tokens=40)) if completing else coloured(bot.classify(text))
            note = getattr(bot, "caveat", "")
            if note and not getattr(self, "_caveat_shown", False):  # once, with the first verdict
                self._caveat_shown = True
                reply.append(f"\n{note}", style="yellow")
        except (CheckpointError, LearnerCodeError, Gpt2Error) as exc:
            what = {"complete": "tutor train pretrain", "classify": "tutor train classify"}.get(mode)
            reply = Text(f"{exc}. Train one first ({what})." if what else f"{exc}.", style="red")
        # The message and its verdict arrive together, so each verdict stands under its own message
        # even when a second message was sent before the first was answered.
        self.post_message(Answer(Text.assemble((f"you: {text}\n", "bold"), reply)))

    def _load(self, mode: str):
        """The model behind a mode (this is where torch is imported): your pretrained GPT, GPT-2 in
        your GPTModel (written by your generate_cached once lesson 25 passes), or your classifier."""
        workspace = self.app.course.workspace
        if mode == "complete":
            from tutor.core.locations import pretrained_checkpoint
            from tutor.training.generation import load_for_generation

            return load_for_generation(workspace, pretrained_checkpoint(workspace.key)[0])
        if mode == "gpt2":
            from tutor.engine.status import Status
            from tutor.training.gpt2 import gpt2_writer

            course = self.app.course
            return gpt2_writer(workspace, cached=course.state(course.lesson(25)) == Status.PASSED)
        from tutor.chat import SpamChat

        return SpamChat(workspace, workspace.run_checkpoint("classify"))

    def on_answer(self, message: Answer) -> None:
        self.query_one("#chat-partial", Static).update("")
        self.query_one(RichLog).write(message.text)
