"""The Textual app, driven as a learner would with Textual's Pilot."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import SIZE, install_tiny_gpt2, until
from tutor.app.app import ProblemScreen, TutorApp
from tutor.app.screens.dialogs import ConfirmScreen, PageScreen
from tutor.app.screens.lesson import LessonScreen
from tutor.app.screens.lesson_map import LessonMapScreen
from tutor.engine.stubs import solution_files


def summary(app) -> str:
    return str(app.screen.query_one("#results-summary").render())


@pytest.fixture
def stub_ws(make_workspace):
    return make_workspace(solutions=False)


async def test_map_opens_the_next_lesson(stub_ws, runner):
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LessonMapScreen)
        text = str(app.screen.query_one("#lessons").get_option_at_index(1).prompt)
        assert "1  The edit-check loop" in text and "next" in text
        assert app.screen.query_one("#lessons").get_option("lesson-2").disabled  # locked
        await pilot.press("enter")
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.number == 1


async def test_from_lesson_1_to_a_passed_lesson_2_without_leaving_the_app(stub_ws, runner):
    solutions = solution_files()
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "checks pass" in summary(app))
        assert "0 of 5 checks pass" in summary(app)
        editor = app.screen.query_one("#editor")
        editor.load_text(solutions["warmup.py"])  # the learner writes their softmax
        await pilot.press("ctrl+r")  # saves, then checks
        await until(pilot, lambda: "All 5 checks pass" in summary(app))
        assert "def softmax" in stub_ws.file("warmup.py").read_text()
        await until(pilot, lambda: any("Lesson 2 is unlocked" in n.message for n in app._notifications))
        await pilot.press("escape")
        assert isinstance(app.screen, LessonMapScreen)
        assert not app.screen.query_one("#lessons").get_option("lesson-2").disabled
        await pilot.press("n")  # the next lesson
        assert app.screen.lesson.number == 2
        app.screen.query_one("#editor").load_text(solutions["tokenizer.py"])
        await pilot.press("ctrl+s", "ctrl+r")
        await until(pilot, lambda: "checks pass" in summary(app))
        assert "All 7 checks pass" in summary(app)


async def test_watch_mode_rechecks_after_an_outside_save(stub_ws, runner):
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "ctrl+t")
        await until(pilot, lambda: "0 of 5" in summary(app))
        stub_ws.file("warmup.py").write_text(solution_files()["warmup.py"])  # saved from another editor
        await until(pilot, lambda: "All 5 checks pass" in summary(app))
        assert "def softmax" in app.screen.query_one("#editor").text and "math.exp" in app.screen.query_one("#editor").text


async def test_an_outside_save_never_overwritten_by_unsaved_edits(stub_ws, runner):
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "ctrl+t")
        await until(pilot, lambda: "0 of 5" in summary(app))
        app.screen.query_one("#editor").load_text("# half-typed, unsaved\n")
        stub_ws.file("warmup.py").write_text(solution_files()["warmup.py"])
        await until(pilot, lambda: "All 5 checks pass" in summary(app))
        assert app.screen.query_one("#editor").text == "# half-typed, unsaved\n"
        assert any("unsaved edits" in n.message for n in app._notifications)
    assert "math.exp" in stub_ws.file("warmup.py").read_text()


async def test_hints_one_at_a_time_and_the_solution_behind_a_confirm(stub_ws, runner):
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "ctrl+g")
        assert isinstance(app.screen, PageScreen) and "Hint 1 of 3" in app.screen.title_text
        await pilot.press("escape", "ctrl+g")
        assert "Hint 2 of 3" in app.screen.title_text
        await pilot.press("escape", "f7")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, LessonScreen)
        await pilot.press("f7", "y")
        assert isinstance(app.screen, PageScreen) and "def softmax" in app.screen.markdown


async def test_the_last_hint_says_it_is_the_last(stub_ws, runner):
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        for _ in range(2):
            await pilot.press("ctrl+g", "escape")
        await pilot.press("ctrl+g")
        assert app.screen.title_text.endswith("Hint 3 of 3, the last") and "That was the last hint." in app.screen.markdown
        await pilot.press("escape", "ctrl+g")  # a fourth time
        assert app.screen.title_text.endswith("Hint 3 of 3, the last")
        assert "You have seen all 3 hints; this was the last one again." in app.screen.markdown


async def test_reset_behind_a_confirm_keeps_a_backup(make_workspace, runner):
    ws = make_workspace()
    app = TutorApp(ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "f8", "y")
        await until(pilot, lambda: "NotImplementedError" in app.screen.query_one("#editor").text)
    backups = list((ws.root / ".tutor" / "backups").iterdir())
    assert len(backups) == 1 and "math.exp" in backups[0].read_text()


async def test_a_crash_in_learner_code_is_shown_and_the_app_lives_on(stub_ws, runner):
    stub_ws.file("warmup.py").write_text("import os\n\ndef softmax(scores):\n    os._exit(1)\n")
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "ctrl+r")
        await until(pilot, lambda: "could not finish" in summary(app))
        assert "exited with code 1" in summary(app)
        assert isinstance(app.screen, LessonScreen)


async def test_missing_workspace_is_explained(tmp_path):
    app = TutorApp(tmp_path / "nowhere")
    async with app.run_test(size=SIZE):
        assert isinstance(app.screen, ProblemScreen)
        assert "tutor init" in app.screen.message


async def test_corrupt_progress_file_is_announced(stub_ws, runner, tutor_home):
    from tutor.engine.progress import ProgressStore

    path = ProgressStore(stub_ws.root).path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{broken")
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE):
        assert any("could not be read" in n.message for n in app._notifications)


async def test_first_paint_imports_no_torch(stub_ws):
    code = ("import sys, asyncio\nfrom tutor.app.app import TutorApp\n"
            "async def main():\n    app = TutorApp(sys.argv[1])\n    async with app.run_test() as pilot:\n        await pilot.pause(0.2)\n"
            "        print('torch' in sys.modules)\nasyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", code, str(stub_ws.root)], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert out.stdout.strip().endswith("False"), out.stderr


async def start_micro_run(pilot, extra_args: list[str]):
    """From the map, open the train screen and start the micro preset: what a learner's clicks do."""
    from tutor.app.screens.train import TrainScreen

    await pilot.press("t")
    screen = pilot.app.screen
    assert isinstance(screen, TrainScreen)
    screen.extra_args = ["--skip-checks", *extra_args]
    screen.query_one("#preset").value = "micro"
    await pilot.press("ctrl+r")
    return screen


@pytest.mark.slow  # a training run
async def test_train_screen_runs_a_micro_config_to_the_end(make_workspace, runner, tutor_home):
    ws = make_workspace()
    app = TutorApp(ws.root, runner=runner, open_all=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await start_micro_run(pilot, ["--set", "eval_every=20"])
        await until(pilot, lambda: "Done" in str(screen.query_one("#train-status").render()), timeout=120)
        assert len(screen.losses) == 40 and len(screen.val_losses) == 2
        assert screen.query_one("#train-progress").progress == 40
        assert len(screen.query_one("#samples").lines) >= 2


async def test_train_screen_compile_box_adds_compile_to_the_run(make_workspace, runner, tutor_home, monkeypatch):
    from tutor.app.screens import train

    launched = []
    real_popen = subprocess.Popen

    def record(command, **kw):  # the command a learner's clicks build; a no-op child stands in for training
        launched.append(command)
        return real_popen([sys.executable, "-c", "pass"], **kw)

    monkeypatch.setattr(train.subprocess, "Popen", record)
    app = TutorApp(make_workspace().root, runner=runner, open_all=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await pilot.press("ctrl+r")
        await pilot.click("#compile")
        await until(pilot, lambda: pilot.app.screen.proc.poll() is not None, timeout=30)
        await pilot.press("ctrl+r")
    assert len(launched) == 2 and "--compile" not in launched[0] and "--compile" in launched[1]


async def test_train_screen_architecture_choice_goes_to_a_new_run_not_a_resume(make_workspace, runner, tutor_home,
                                                                              monkeypatch):
    from textual.widgets import Select

    from tutor.app.screens import train

    launched = []
    real_popen = subprocess.Popen

    def record(command, **kw):
        launched.append(command)
        return real_popen([sys.executable, "-c", "pass"], **kw)

    monkeypatch.setattr(train.subprocess, "Popen", record)
    app = TutorApp(make_workspace().root, runner=runner, open_all=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        screen = pilot.app.screen
        for widget in screen.query("#train-controls > *"):  # every control fits the 80-column screen
            assert widget.region.right <= SIZE[0], widget.id
        await pilot.press("ctrl+r")
        await until(pilot, lambda: screen.proc.poll() is not None, timeout=30)
        await pilot.click("#arch")
        await pilot.pause(0.2)
        await pilot.press("down", "enter")
        await until(pilot, lambda: screen.query_one("#arch", Select).value == "llama", timeout=10)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(launched) == 2 and screen.proc.poll() is not None, timeout=30)
        await pilot.press("ctrl+u")
        await until(pilot, lambda: len(launched) == 3, timeout=30)
    first, second, resumed = launched
    assert first[first.index("--arch") + 1] == "gpt" and second[second.index("--arch") + 1] == "llama"
    assert "--resume" in resumed and "--arch" not in resumed  # the run keeps its own architecture


# What `tutor train classify|instruct --from gpt2 --json` prints, in brief: the screen reads these.
GPT2_RUNS = {
    "classify": [{"event": "start", "data": "sms-spam", "train": 1045, "val": 149, "test": 300, "max_length": 120,
                  "steps": 2, "adapt_steps": 0},
                 {"event": "step", "step": 1, "epoch": 1, "loss": 0.71}, {"event": "step", "step": 2, "epoch": 1, "loss": 0.52},
                 {"event": "epoch", "epoch": 1, "step": 2, "train_accuracy": 0.9, "val_accuracy": 0.93},
                 {"event": "done", "val_accuracy": 0.93, "test": {"accuracy": 0.96}, "checkpoint": "c.pt"}],
    "instruct": [{"event": "start", "data": "instruct-demo", "train": 1700, "val": 100, "test": 200, "steps": 1, "step": 0,
                  "params": 1e6, "practice": True},
                 {"event": "step", "step": 1, "epoch": 1, "loss": 2.0, "lr": 5e-5},
                 {"event": "epoch", "epoch": 1, "step": 1, "val_loss": 1.5, "best": True},
                 {"event": "answering", "test": 200},
                 {"event": "done", "val_loss": 1.5, "exact_match": {"overall": {"right": 150, "total": 200}}, "checkpoint": "i.pt"}],
}


async def test_train_screen_offers_gpt2_once_its_weights_are_here(make_workspace, runner, tutor_home, tmp_path, monkeypatch):
    """No GPT-2 row without the weights; with them, each button starts the book's fine-tuning of GPT-2
    and the screen follows that run's own events to its own result."""

    from tutor.app.screens import train

    launched = []
    real_popen = subprocess.Popen

    def record(command, **kw):  # a child that prints what the real run prints, in brief
        launched.append(command)
        events = GPT2_RUNS[command[command.index("train") + 1]]
        return real_popen([sys.executable, "-c", f"import json\nfor e in {events!r}: print(json.dumps(e), flush=True)"], **kw)

    monkeypatch.setattr(train.subprocess, "Popen", record)
    app = TutorApp(make_workspace().root, runner=runner, open_all=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        assert not app.screen.query("#gpt2-row") and app.screen.gpt2_name == ""
        await pilot.press("escape")
        install_tiny_gpt2(tmp_path / "stick")
        await pilot.press("t")
        screen = app.screen
        assert screen.gpt2_name == "GPT-2 custom-32x2"
        for widget in screen.query("#gpt2-row > *"):  # the offer fits the 80-column screen
            assert widget.region.right <= SIZE[0], widget.id
        status = lambda: str(screen.query_one("#train-status").render())  # noqa: E731
        await pilot.click("#gpt2-classify")
        await until(pilot, lambda: status().startswith("Done"), timeout=30)
        assert "test accuracy 96.0%" in status() and "lesson 17" in status()
        assert screen.losses == [0.71, 0.52]
        assert any("validation 93.0%" in "".join(s.text for s in line) for line in screen.query_one("#samples").lines)
        await pilot.click("#gpt2-instruct")
        await until(pilot, lambda: status().startswith("Done") and "150 of 200" in status(), timeout=30)
        assert "lesson 23" in status() and screen.val_losses == [1.5]
    classify, instruct = launched
    assert classify[classify.index("train"):classify.index("--json")] == ["train", "classify", "--from", "gpt2"]
    assert instruct[instruct.index("train"):instruct.index("--json")] == ["train", "instruct", "--from", "gpt2"]


async def test_chat_screen_offers_gpt2_only_once_its_weights_are_here(make_workspace, runner, tutor_home, tmp_path):
    app = TutorApp(make_workspace().root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        screen = app.screen
        assert "ctrl+t" not in screen.active_bindings  # not in the footer
        await pilot.press("ctrl+t")  # the key does nothing but say where the weights come from
        assert screen.mode == "classify"
        await pilot.press("escape")
        install_tiny_gpt2(tmp_path / "stick")
        await pilot.press("c")
        screen = app.screen
        await until(pilot, lambda: "ctrl+t" in screen.active_bindings)  # looked up in a worker
        await pilot.press("ctrl+t")
        assert screen.mode == "gpt2" and "GPT-2" in screen.title and screen.sub_title == "GPT-2 custom-32x2"


@pytest.mark.slow  # GPT-2's layout fine-tuned for real
async def test_train_screen_fine_tunes_gpt2_then_the_chat_screen_uses_it(make_workspace, runner, tutor_home, tmp_path):
    """A learner's path with the weights on the machine: the button fine-tunes GPT-2 (here a tiny random
    one in GPT-2's layout) in their own GPTModel; the chat screen then classifies with it and writes with GPT-2."""
    install_tiny_gpt2(tmp_path / "stick")
    app = TutorApp(make_workspace().root, runner=runner, open_all=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        screen = app.screen
        screen.extra_args = ["--data", "sms-demo", "--epochs", "1"]
        await pilot.click("#gpt2-classify")
        status = lambda: str(screen.query_one("#train-status").render())  # noqa: E731
        await until(pilot, lambda: status().startswith(("Done", "The ")), timeout=300)
        assert status().startswith("Done: test accuracy"), status()
        await pilot.press("escape", "c")
        chat = app.screen
        log = chat.query_one("#chat-log")
        texts = lambda: ["".join(seg.text for seg in line) for line in log.lines]  # noqa: E731
        await pilot.press(*"WIN a prize now", "enter")
        await until(pilot, lambda: any(t.startswith(("spam ", "ham ")) for t in texts()), timeout=120)
        await pilot.press("ctrl+t", *"Every effort", "enter")
        await until(pilot, lambda: "you: Every effort" in texts() and texts()[-1] != "you: Every effort", timeout=120)
        lines = texts()
        assert lines[lines.index("you: Every effort") + 1].startswith("Every effort")


@pytest.mark.slow  # a training run
async def test_train_screen_stop_saves_and_resume_finishes(make_workspace, runner, tutor_home):
    from tutor.core import checkpoint as ckpt

    ws = make_workspace()
    app = TutorApp(ws.root, runner=runner, open_all=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await start_micro_run(pilot, ["--set", "eval_every=1000", "--max-steps", "3000"])
        await until(pilot, lambda: len(screen.losses) >= 5, timeout=120)
        await pilot.press("ctrl+x")
        await until(pilot, lambda: "Stopped" in str(screen.query_one("#train-status").render()), timeout=60)
        stopped_at = ckpt.load(ws.run_checkpoint()).step
        assert 5 <= stopped_at < 3000
        screen.extra_args = ["--skip-checks", "--max-steps", str(stopped_at + 10)]
        await pilot.press("ctrl+u")
        await until(pilot, lambda: "Done" in str(screen.query_one("#train-status").render()), timeout=120)
        await pilot.press("ctrl+u")  # again, on the finished run: told how to lengthen it
        await until(pilot, lambda: "did not go on" in str(screen.query_one("#train-status").render()), timeout=60)
        assert "--max-steps N" in str(screen.query_one("#train-status").render())
    assert ckpt.load(ws.run_checkpoint()).step == stopped_at + 10


@pytest.mark.slow  # a training run
async def test_chat_screen_classifies_and_completes(make_workspace, runner, tutor_home):
    from tutor.app.screens.chat import ChatScreen

    ws = make_workspace()
    env = {**os.environ, "TUTOR_HOME": str(tutor_home)}
    for args in (["train", "pretrain", "--preset", "micro", "--skip-checks"], ["train", "classify", "--data", "sms-demo", "--epochs", "1"]):
        subprocess.run([sys.executable, "-m", "tutor", *args], cwd=ws.root, env=env, check=True, capture_output=True)
    app = TutorApp(ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await pilot.press(*"WIN a prize now", "enter", *"see you at lunch", "enter")  # the second before the first answer
        log = screen.query_one("#chat-log")
        texts = lambda: ["".join(seg.text for seg in line) for line in log.lines]  # noqa: E731
        await until(pilot, lambda: sum(t.startswith(("spam ", "ham ")) for t in texts()) == 2, timeout=60)
        lines = texts()
        for message in ("you: WIN a prize now", "you: see you at lunch"):
            answer = lines[lines.index(message) + 1]  # each verdict right under its own message
            assert answer.startswith(("spam ", "ham ")) and "%" in answer and "pushes" in answer
            assert "'" in answer  # tokens are quoted
        await pilot.press("ctrl+g", *"The ", "enter")
        await until(pilot, lambda: any(t.startswith("you: The") for t in texts()) and len(texts()) > texts().index("you: The") + 1, timeout=60)
        lines = texts()
        assert lines[lines.index("you: The") + 1].startswith("The")


async def test_chat_screen_without_a_classifier_says_what_to_do(make_workspace, runner):
    app = TutorApp(make_workspace().root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c", *"hello", "enter")
        log = app.screen.query_one("#chat-log")
        await until(pilot, lambda: len(log.lines) >= 2, timeout=60)
        assert "tutor train classify" in "".join("".join(s.text for s in line) for line in log.lines)


async def test_chat_screen_keeps_what_is_typed_while_it_opens(make_workspace, runner):
    """Keys a terminal delivers while the chat screen is still opening (before anything on it has
    the focus) land in the input, and an Enter among them sends the message."""
    from textual import events

    from tutor.app.screens.chat import ChatScreen

    app = TutorApp(make_workspace().root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.action_chat()  # as the "c" key does, and then keys at once, without waiting
        for key in "hello":
            app.post_message(events.Key(key, key))
        app.post_message(events.Key("enter", None))
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.query("#chat-log") and len(screen.query_one("#chat-log").lines) >= 2, timeout=60)
        log = screen.query_one("#chat-log")
        assert "".join(s.text for s in log.lines[0]) == "you: hello"
        assert app.focused is screen.query_one("#chat-input")
        await pilot.press(*"again")  # and typing goes on as usual, each letter once
        assert screen.query_one("#chat-input").value == "again"


@pytest.mark.slow  # a training run
async def test_killed_training_process_is_explained(make_workspace, runner, tutor_home):
    import signal

    from tutor.app.screens.train import TrainScreen

    app = TutorApp(make_workspace().root, runner=runner, open_all=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        screen.extra_args = ["--skip-checks", "--max-steps", "3000"]
        screen.query_one("#preset").value = "micro"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: len(screen.losses) >= 3, timeout=120)
        screen.proc.send_signal(signal.SIGKILL)
        await until(pilot, lambda: "ended" in str(screen.query_one("#train-status").render()), timeout=30)
        assert "Resume" in str(screen.query_one("#train-status").render())


async def test_every_screen_action_is_in_the_command_palette(make_workspace, runner):
    from tutor.app.screens.chat import ChatScreen
    from tutor.app.screens.train import TrainScreen

    app = TutorApp(make_workspace().root, runner=runner, open_all=True)
    async with app.run_test(size=SIZE) as pilot:
        for open_key, kind in (("enter", LessonScreen), ("t", TrainScreen), ("c", ChatScreen)):
            await pilot.press(open_key)
            screen = app.screen
            assert isinstance(screen, kind)
            titles = {command.title for command in app.get_system_commands(screen)}
            assert {b.description for b in screen.BINDINGS} <= titles
            await pilot.press("escape")
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Next lesson", "Train", "Chat"} <= titles


async def test_the_keyboard_alone_reads_edits_and_checks(stub_ws, runner, monkeypatch):
    """Open lesson 1, scroll its text, type an indented body with Enter, check; ctrl+e with
    no editor on the machine leaves the app where it was."""
    from textual.widgets import TextArea

    from tutor.app.widgets.code import LessonText

    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no nano, no vi
    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        text = app.screen.query_one(LessonText)
        assert app.focused is text
        await pilot.press("pagedown", "pagedown")
        assert text.scroll_y > 0
        await pilot.press("end")
        assert text.scroll_y == text.max_scroll_y
        await pilot.press("f3")
        editor = app.screen.query_one("#editor", TextArea)
        assert app.focused is editor
        editor.load_text("import math\n\n\n")
        editor.move_cursor((3, 0))
        for key in "def softmax(scores):":
            await pilot.press(key if key != " " else "space")
        await pilot.press("enter")
        assert editor.document.get_line(4) == "    "  # one level in, after the colon
        for key in "return scores":
            await pilot.press(key if key != " " else "space")
        assert editor.document.get_line(4) == "    return scores"
        await pilot.press("ctrl+e")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LessonScreen)
        assert any("No outside editor found" in n.message for n in app._notifications)
        await pilot.press("escape")  # the editor lets go of the keyboard
        assert app.focused is not editor and isinstance(app.screen, LessonScreen)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: "checks pass" in summary(app) or "could not finish" in summary(app))
        assert app.focused is app.screen.query_one("CheckResults")


async def test_the_editor_dedents_with_shift_tab_and_goes_home_as_editors_do(stub_ws, runner):
    from textual.widgets import TextArea
    from textual.widgets.text_area import Selection

    app = TutorApp(stub_ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "f3")
        editor = app.screen.query_one("#editor", TextArea)
        editor.load_text("def f(x):\n        y = x\n        return y\n")
        editor.move_cursor((1, 10))
        await pilot.press("shift+tab")  # one level to the left, and the keyboard stays in the pane
        assert app.focused is editor
        assert editor.document.get_line(1) == "    y = x" and editor.cursor_location == (1, 6)
        await pilot.press("home")  # to the first character that is not blank
        assert editor.cursor_location == (1, 4)
        await pilot.press("home")  # then to column 0
        assert editor.cursor_location == (1, 0)
        await pilot.press("home")  # and back
        assert editor.cursor_location == (1, 4)
        editor.move_cursor((1, 2))  # inside the indentation: to the first character, not to column 0
        await pilot.press("home")
        assert editor.cursor_location == (1, 4)
        await pilot.press("shift+home")  # selects back to column 0
        assert editor.selected_text == "    "
        editor.selection = Selection((1, 0), (3, 0))  # rows 1 and 2, selected whole
        await pilot.press("shift+tab")
        assert editor.text == "def f(x):\ny = x\n    return y\n"
        await pilot.press("shift+tab")
        assert editor.text == "def f(x):\ny = x\nreturn y\n"
        await pilot.press("shift+tab")  # nothing left to take away: nothing changes, nothing breaks
        assert editor.text == "def f(x):\ny = x\nreturn y\n" and app.focused is editor
        await pilot.press("tab")  # a selection over lines: tab indents each of them
        assert editor.text == "def f(x):\n    y = x\n    return y\n"
        assert editor.selection == ((1, 0), (3, 0))
        await pilot.press("ctrl+z")  # one edit, one undo
        assert editor.text == "def f(x):\ny = x\nreturn y\n"


async def test_starting_over_a_saved_run_asks_first(make_workspace, runner):
    from tutor.app.screens.train import TrainScreen

    ws = make_workspace()
    saved = ws.run_checkpoint()
    saved.parent.mkdir(parents=True)
    saved.write_bytes(b"a saved run")
    app = TutorApp(ws.root, runner=runner)
    app.open_all = True
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, TrainScreen)
        train = app.screen
        await pilot.press("ctrl+r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # no: nothing starts, nothing is replaced
        await pilot.pause(0.2)
        assert app.screen is train and train.proc is None
        assert saved.read_bytes() == b"a saved run"
