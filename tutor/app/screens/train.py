"""The train screen: start, stop and resume a pretraining run, and watch it learn.

Once OpenAI's GPT-2 is on this machine (`tutor data download gpt2`), the screen
also offers the book's two fine-tunings of it in the learner's own GPTModel: a
spam classifier (`tutor train classify --from gpt2`) and an instruction follower
(`tutor train instruct --from gpt2`).

Each run is a child process (`tutor train ... --json`) whose JSON lines are read
in a thread worker and posted to the screen as messages. Stopping sends it
Ctrl-C (SIGINT), on which it writes its checkpoint; closing the screen or the app
does the same, so a checkpoint is never cut short.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Header, Label, ProgressBar, RichLog, Select

from tutor.app.widgets.plots import LossPlot
from tutor.core.locations import python_command
from tutor.data.gpt2 import missing, weights_here

PRESETS = ["tiny", "micro", "small", "gpt2-124m"]
DEVICES = ["auto", "cpu", "cuda", "mps"]
# The architectures of tutor.learner (not imported: it is cheap, but the
# screen's module stays free of anything below the faces but the command line it builds).
ARCHITECTURES = [("gpt", "gpt"), ("llama", "llama")]
# What each fine-tuning of GPT-2 makes of it (the status line names it).
MAKES = {"classify": "a spam classifier", "instruct": "an instruction follower"}


class TrainEvent(Message):
    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event


class TrainEnded(Message):
    def __init__(self, code: int, stderr: str) -> None:
        super().__init__()
        self.code = code
        self.stderr = stderr


class TrainScreen(Screen):
    BINDINGS = [
        Binding("ctrl+r", "start", "Start"),
        Binding("ctrl+u", "resume", "Resume"),
        Binding("ctrl+x", "stop", "Stop"),
        Binding("escape", "back", "Map"),
    ]

    def __init__(self, extra_args: list[str] | None = None) -> None:
        super().__init__()
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[str] | None = None
        self.losses: list[float] = []
        self.val_losses: list[float] = []
        self.started_at = 0.0
        self.first_step: int | None = None
        self.kind = "pretrain"  # the run going or last gone: pretrain, classify or instruct
        self.done: dict = {}  # the finished run's last event
        self.stopping = False
        self.gpt2_name = ""  # "GPT-2 124M" when its weights are on this machine, else ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="train"):
            with Horizontal(id="train-controls"):
                # Compact selects and box (no border): with the buttons they fit in 80 columns.
                yield Select([(p, p) for p in PRESETS], value="tiny", allow_blank=False, id="preset", compact=True)
                arch = Select(ARCHITECTURES, value="gpt", allow_blank=False, id="arch", compact=True)
                arch.tooltip = ("the model a new run trains: your GPT (lessons 8-10) or your Llama-style model "
                                "(lessons 18-21), at the same parameter count; Resume keeps the run's own")
                yield arch
                yield Select([(d, d) for d in DEVICES], value="auto", allow_blank=False, id="device", compact=True)
                compile_box = Checkbox("compile", id="compile", compact=True)
                compile_box.tooltip = ("torch.compile your model for the training steps: faster once compiled "
                                       "(a compile takes up to a minute; CPUs need a C++ compiler)")
                yield compile_box
                yield Button("Start", id="start", variant="success")
                yield Button("Resume", id="resume")
                yield Button("Stop", id="stop", variant="error", disabled=True)
            self.gpt2_name = weights_here()
            if self.gpt2_name:
                with Horizontal(id="gpt2-row"):
                    yield Label(f"From OpenAI's {self.gpt2_name}:", id="gpt2-label")
                    yield Button("Spam classifier", id="gpt2-classify")
                    yield Button("Instructions", id="gpt2-instruct")
            yield Label("Pick a preset and a model, and press Start (ctrl+r). tiny takes about 5 minutes on a laptop CPU.",
                        id="train-status")
            yield ProgressBar(id="train-progress", show_eta=False, total=1)  # a total: no animation before a run
            yield LossPlot(id="loss-plot")
            yield RichLog(id="samples", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Train your model"
        self.sub_title = "your code, your model"

    # -- controls --
    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"start": self.action_start, "resume": self.action_resume, "stop": self.action_stop,
         "gpt2-classify": self.action_gpt2_classify, "gpt2-instruct": self.action_gpt2_instruct}[event.button.id]()

    def action_gpt2_classify(self) -> None:
        """The book's chapter 6: GPT-2 with a new head, its last block fine-tuned on the SMS data."""
        self._launch_gpt2("classify")

    def action_gpt2_instruct(self) -> None:
        """The book's chapter 7: GPT-2 fine-tuned on instruction-response pairs."""
        self._launch_gpt2("instruct")

    def _launch_gpt2(self, kind: str) -> None:
        if not self.gpt2_name:
            self.app.notify(missing(), severity="warning")
            return
        if self._run_going():
            return
        command = [*python_command("tutor"), "train", kind, "--from", "gpt2", "--json",
                   "--workspace", str(self.app.course.workspace.root), *self.extra_args]
        self._start_process(kind, command, f"Starting: loading {self.gpt2_name} into your GPTModel…")

    def action_start(self) -> None:
        """Start a new run; when one is already saved, ask first: a new run replaces it."""
        from tutor.app.screens.dialogs import ConfirmScreen

        if self._run_going():
            return
        if not (self.app.course.workspace.run_checkpoint()).exists():
            self._launch(resume=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._launch(resume=False)

        self.app.push_screen(ConfirmScreen("A saved run exists. Start a new run and replace it? "
                                           "(Resume, ctrl+u, continues the saved one.)"), answered)

    def action_resume(self) -> None:
        self._launch(resume=True)

    def action_stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.stopping = True
            self.proc.send_signal(signal.SIGINT)
            self._status("Stopping: saving the checkpoint…")

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self._stop_and_wait()

    def _stop_and_wait(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#train-status", Label).update(Text(text, style=style))

    def _run_going(self) -> bool:
        if self.proc and self.proc.poll() is None:
            self.app.notify("A run is already going; stop it first.", severity="warning")
            return True
        return False

    def _launch(self, resume: bool) -> None:
        if self._run_going():
            return
        preset = self.query_one("#preset", Select).value
        device = self.query_one("#device", Select).value
        command = [*python_command("tutor"), "train", "pretrain", "--json", "--preset", str(preset), "--device", str(device),
                   "--workspace", str(self.app.course.workspace.root), *self.extra_args]
        if self.query_one("#compile", Checkbox).value:
            command.append("--compile")
        if resume:
            command.append("--resume")  # a resumed run keeps the architecture its checkpoint records
        else:
            command += ["--arch", str(self.query_one("#arch", Select).value)]
        self._start_process("pretrain", command, "Starting: checking your lessons, preparing the corpus, training your tokenizer…")

    def _start_process(self, kind: str, command: list[str], status: str) -> None:
        self.kind, self.done, self.stopping = kind, {}, False
        self.losses, self.val_losses, self.first_step = [], [], None
        self.query_one(LossPlot).reset()
        self.query_one("#samples", RichLog).clear()
        self._status(status)
        self.query_one("#stop", Button).disabled = False
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self.follow(self.proc)

    @work(thread=True, group="train")
    def follow(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout and proc.stderr
        for line in proc.stdout:
            try:
                self.post_message(TrainEvent(json.loads(line)))
            except ValueError:
                continue
        code = proc.wait()
        self.post_message(TrainEnded(code, proc.stderr.read()[-2000:]))

    # -- events --
    def on_train_event(self, message: TrainEvent) -> None:
        event = message.event
        kind = event["event"]
        bar = self.query_one("#train-progress", ProgressBar)
        if kind == "start":
            total = event["max_steps"] if self.kind == "pretrain" else event["steps"] + event.get("adapt_steps", 0)
            bar.update(total=total, progress=event.get("step", 0))
            self.first_step = event.get("step", 0)
            self.started_at = time.monotonic()
            self._status(self._opening(event))
        elif kind in ("step", "adapt"):
            bar.update(progress=event["step"])
            self.losses.append(event["loss"])
            self.query_one(LossPlot).add_step(event["step"], event["loss"])
            done = event["step"] - (self.first_step or 0)
            elapsed = time.monotonic() - self.started_at
            left = (bar.total - event["step"]) * elapsed / max(done, 1)
            speed = f" · {event['tokens_per_s'] or 0:,} tokens/s" if "tokens_per_s" in event else ""
            stage = f" · epoch {event['epoch']}" if "epoch" in event else " · adapting" if kind == "adapt" else ""
            self._status(f"step {event['step']}/{int(bar.total)}{stage} · loss {event['loss']:.3f}{speed} · "
                         f"about {left / 60:.1f} min left")
        elif kind == "eval":
            self.val_losses.append(event["val_loss"])
            self.query_one(LossPlot).add_eval(event["step"], event["val_loss"])
            self.query_one("#samples", RichLog).write(
                f"step {event['step']} · held-out loss {event['val_loss']:.3f} (perplexity {event['val_perplexity']:.0f}): {event['sample']!r}")
        elif kind == "epoch":
            self.query_one("#samples", RichLog).write(self._epoch_line(event))
            if "val_loss" in event:
                self.val_losses.append(event["val_loss"])
                self.query_one(LossPlot).add_eval(event["step"], event["val_loss"])
        elif kind in ("answering", "judging"):
            what = "Answering" if kind == "answering" else "Scoring the answers to"
            self._status(f"{what} the {event['test']} test entries…")
        elif kind == "done":
            self.done = event

    def _opening(self, event: dict) -> str:
        if self.kind == "pretrain":
            return (f"{event.get('arch', 'gpt')}: {event['params'] / 1e6:.2f} M parameters on {event['device']} "
                    f"({event['precision']}), {event['train_tokens']:,} training tokens")
        what = "messages" if self.kind == "classify" else "entries"
        return (f"{self.gpt2_name} into {MAKES[self.kind]}: {event['data']}, {event['train']:,} training, "
                f"{event['val']:,} validation, {event['test']:,} test {what}")

    @staticmethod
    def _epoch_line(event: dict) -> str:
        if "val_accuracy" in event:  # the classifier
            return (f"epoch {event['epoch']}: train accuracy {event['train_accuracy']:.1%}, "
                    f"validation {event['val_accuracy']:.1%}")
        return f"epoch {event['epoch']}: held-out loss {event['val_loss']:.3f}{'  (best so far: kept)' if event.get('best') else ''}"

    def _finished(self) -> str:
        """What a finished run reached, and where it leads."""
        done = self.done
        if self.kind == "classify":
            accuracy = f"test accuracy {done['test']['accuracy']:.1%}" if "test" in done else "finished"
            return f"Done: {accuracy}. Talk to it in the chat screen (c); lesson 17 checks it."
        if self.kind == "instruct":
            if "exact_match" in done:
                overall = done["exact_match"]["overall"]
                score = f"{overall['right']} of {overall['total']} test answers exactly right"
            else:
                score = f"mean score {done['score']['mean']:.1f} / 100" if "score" in done else "finished"
            return f"Done: {score}. Give it an instruction in the chat screen (c, then ctrl+o); lesson 23 checks it."
        final = self.val_losses[-1] if self.val_losses else float("nan")
        return f"Done: held-out loss {final:.3f}. Check the milestone: lesson 14 (ctrl+r there)."

    def on_train_ended(self, message: TrainEnded) -> None:
        self.query_one("#stop", Button).disabled = True
        if message.code == 0:
            self._status(self._finished(), "bold green")
            self.app.notify("Training finished; the checkpoint is saved.", title="Done", timeout=8)
        elif message.code in (130, -signal.SIGINT) or self.stopping:
            again = ("Resume (ctrl+u) continues where it stopped." if self.kind == "pretrain" else
                     "tutor train instruct --resume continues it." if self.kind == "instruct" else
                     "A fine-tuning starts afresh: press its button again.")
            self._status(f"Stopped; {'the checkpoint is saved. ' if self.kind != 'classify' else ''}{again}", "yellow")
        else:
            why = message.stderr.strip().splitlines()[-1] if message.stderr.strip() else f"exit code {message.code}"
            if why.startswith("error: "):  # the trainer refused or stopped with its own explanation
                self._status(f"The run did not go on: {why.removeprefix('error: ')}", "bold red")
            elif self.kind == "pretrain":
                self._status(f"The training process ended: {why}. Resume (ctrl+u) continues from the last checkpoint.", "bold red")
            else:
                self._status(f"The training process ended: {why}.", "bold red")
