"""The train screen: start, stop and resume a pretraining run, and watch it learn.

The run is a child process (`tutor train pretrain --json`) whose JSON lines are
read in a thread worker and posted to the screen as messages. Stopping sends it
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

PRESETS = ["tiny", "micro", "small", "gpt2-124m"]
DEVICES = ["auto", "cpu", "cuda", "mps"]
# The architectures of tutor.learner (not imported: it is cheap, but the
# screen's module stays free of anything below the faces but the command line it builds).
ARCHITECTURES = [("gpt", "gpt"), ("llama", "llama")]


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
            yield Label("Pick a preset and a model, and press Start (ctrl+r). tiny takes about 5 minutes on a laptop CPU.",
                        id="train-status")
            yield ProgressBar(id="train-progress", show_eta=False, total=1)  # a total: no animation before a run
            yield LossPlot(id="loss-plot")
            yield RichLog(id="samples", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Pretrain your model"
        self.sub_title = "your code, your model"

    # -- controls --
    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"start": self.action_start, "resume": self.action_resume, "stop": self.action_stop}[event.button.id]()

    def action_start(self) -> None:
        """Start a new run; when one is already saved, ask first: a new run replaces it."""
        from tutor.app.screens.dialogs import ConfirmScreen

        if self.proc and self.proc.poll() is None:
            self.app.notify("A run is already going; stop it first.", severity="warning")
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

    def _launch(self, resume: bool) -> None:
        if self.proc and self.proc.poll() is None:
            self.app.notify("A run is already going; stop it first.", severity="warning")
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
        self.losses, self.val_losses, self.first_step = [], [], None
        self.query_one(LossPlot).reset()
        self.query_one("#samples", RichLog).clear()
        self._status("Starting: checking your lessons, preparing the corpus, training your tokenizer…")
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
            bar.update(total=event["max_steps"], progress=event["step"])
            self.first_step = event["step"]
            self.started_at = time.monotonic()
            self._status(f"{event.get('arch', 'gpt')}: {event['params'] / 1e6:.2f} M parameters on {event['device']} ({event['precision']}), "
                         f"{event['train_tokens']:,} training tokens")
        elif kind == "step":
            bar.update(progress=event["step"])
            self.losses.append(event["loss"])
            self.query_one(LossPlot).add_step(event["step"], event["loss"])
            done = event["step"] - (self.first_step or 0)
            elapsed = time.monotonic() - self.started_at
            left = (bar.total - event["step"]) * elapsed / max(done, 1)
            self._status(f"step {event['step']}/{int(bar.total)} · loss {event['loss']:.3f} · "
                         f"{event['tokens_per_s'] or 0:,} tokens/s · about {left / 60:.1f} min left")
        elif kind == "eval":
            self.val_losses.append(event["val_loss"])
            self.query_one(LossPlot).add_eval(event["step"], event["val_loss"])
            self.query_one("#samples", RichLog).write(
                f"step {event['step']} · held-out loss {event['val_loss']:.3f} (perplexity {event['val_perplexity']:.0f}): {event['sample']!r}")

    def on_train_ended(self, message: TrainEnded) -> None:
        self.query_one("#stop", Button).disabled = True
        if message.code == 0:
            final = self.val_losses[-1] if self.val_losses else float("nan")
            self._status(f"Done: held-out loss {final:.3f}. Check the milestone: lesson 14 (ctrl+r there).", "bold green")
            self.app.notify("Training finished; the checkpoint is saved.", title="Done", timeout=8)
        elif message.code in (130, -signal.SIGINT):
            self._status("Stopped; the checkpoint is saved. Resume (ctrl+u) continues where it stopped.", "yellow")
        else:
            why = message.stderr.strip().splitlines()[-1] if message.stderr.strip() else f"exit code {message.code}"
            if why.startswith("error: "):  # the trainer refused or stopped with its own explanation
                self._status(f"The run did not go on: {why.removeprefix('error: ')}", "bold red")
            else:
                self._status(f"The training process ended: {why}. Resume (ctrl+u) continues from the last checkpoint.", "bold red")
