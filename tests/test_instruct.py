"""Instruction fine-tuning from a fresh workspace, offline: train, answer, chat, and lesson 23's recount."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SIZE, tutor, until
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files
from tutor.engine.workspace import write_workspace

pytestmark = pytest.mark.slow  # training runs

LESSON_23 = load_registry().get(23)
# A micro GPT with room for the prompt format, and a short fine-tuning: seconds, not minutes.
PRETRAIN = ["train", "pretrain", "--preset", "micro", "--set", "context_length=96", "--skip-checks", "--json"]
FAST = ["--data", "instruct-demo", "--epochs", "1", "--batch-size", "32", "--max-new-tokens", "10", "--json"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A fresh workspace (the reference as the learner's code), pretrained, then instruction-tuned."""
    root = tmp_path_factory.mktemp("instruct")
    home = root / "home"
    ws = write_workspace(root / "ws", {"__init__.py": "", **solution_files()})
    env = {**os.environ, "TUTOR_HOME": str(home), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT),
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # nothing may be fetched
    tutor(*PRETRAIN, cwd=ws.root, env=env)
    run = tutor("train", "instruct", *FAST, cwd=ws.root, env=env)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    return ws, env, home, events


def test_train_instruct_writes_the_test_answers_and_scores_each_task(trained):
    _, _, _, events = trained
    kinds = [e["event"] for e in events if e["event"] != "step"]
    assert kinds == ["start", "epoch", "answering", "done"]
    start, done = events[0], events[-1]
    assert (start["train"], start["val"], start["test"], start["practice"]) == (2040, 120, 240, True)
    assert start["steps"] == 2040 // 32 == len([e for e in events if e["event"] == "step"])
    epoch = next(e for e in events if e["event"] == "epoch")
    assert epoch["best"] and epoch["val_loss"] == pytest.approx(done["val_loss"], abs=1e-4)
    table = done["exact_match"]
    assert set(table) == {"case", "count", "sort", "larger", "sum", "plural", "reverse", "spam", "overall"}
    assert table["overall"]["total"] == 240 == sum(v["total"] for k, v in table.items() if k != "overall")
    responses = Path(done["responses"])
    assert responses.parent == Path(done["checkpoint"]).parent  # beside the checkpoint, as the book does
    rows = json.loads(responses.read_text())
    assert len(rows) == 240 and {"instruction", "input", "output", "model_response", "task", "correct"} <= set(rows[0])
    assert sum(r["correct"] for r in rows) == table["overall"]["right"]
    assert all(r["correct"] == (r["model_response"] == r["output"]) for r in rows)


def test_chat_instruct_answers_a_typed_instruction(trained):
    ws, env, _, _ = trained
    chat = tutor("chat", "--instruct", cwd=ws.root, env=env, input="What is 2 + 3?\nSort these letters. || c a b\n")
    assert "Type an instruction" in chat.stdout
    answers = [line[2:] for line in chat.stdout.splitlines() if line.startswith("? ")]
    assert len(answers) == 3 and answers[-1] == ""  # two answers, then the prompt that met the end of input
    assert all(a.strip() and "### Response:" not in a for a in answers[:2]), answers


def test_lesson_23_recounts_the_same_answers_itself(trained, runner, monkeypatch):
    ws, _, home, events = trained
    monkeypatch.setenv("TUTOR_HOME", str(home))
    result = runner.check(ws, LESSON_23)
    assert result.checks[0].status == "passed", result.checks[0].message
    message = result.checks[1].message
    right, total = int(message.split()[0]), int(message.split()[2])
    overall = events[-1]["exact_match"]["overall"]
    assert (right, total) == (overall["right"], overall["total"])  # the same answers, counted twice
    if overall["accuracy"] < 0.6:
        assert result.checks[1].status == "failed" and "the milestone is 60%" in message


def test_lesson_23_measures_the_model_not_the_results_files(trained, runner, monkeypatch):
    ws, _, home, events = trained
    assert events[-1]["exact_match"]["overall"]["accuracy"] < 0.6  # a micro model after one short epoch
    monkeypatch.setenv("TUTOR_HOME", str(home))
    folder = Path(events[-1]["checkpoint"]).parent
    saved = {name: (folder / name).read_text() for name in ("test_responses.json", "metrics.jsonl")}
    try:
        rows = json.loads(saved["test_responses.json"])
        for row in rows:  # a doctored file: every answer right
            row["model_response"], row["correct"] = row["output"], True
        (folder / "test_responses.json").write_text(json.dumps(rows))
        with open(folder / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"event": "done", "exact_match": {"overall": {"right": 240, "total": 240, "accuracy": 1.0}}}) + "\n")
        result = runner.check(ws, LESSON_23)
    finally:
        for name, text in saved.items():
            (folder / name).write_text(text)
    assert result.checks[0].status == "passed"
    assert result.status == "failed" and "the milestone is 60%" in result.checks[1].message


def test_lesson_23_without_a_checkpoint(runner, make_workspace):
    result = runner.check(make_workspace(), LESSON_23)
    assert result.status == "failed" and "No instruction-tuned checkpoint yet" in result.checks[0].message
    assert "tutor train instruct" in result.checks[0].message


def test_resume_after_a_kill_follows_the_uninterrupted_run(trained, tmp_path):
    ws, env, _, events = trained
    steps = {e["step"]: e["loss"] for e in events if e["event"] == "step"}
    proc = subprocess.Popen([sys.executable, "-m", "tutor", "train", "instruct", *FAST, "--out", tmp_path / "cut"],
                            cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step" and event["step"] == 55:  # past the resumable checkpoint of step 50
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    proc.stdout.close()
    assert not (tmp_path / "cut" / "instruct.safetensors").exists()  # killed before the epoch's end
    again = tutor("train", "instruct", "--resume", "--json", "--out", tmp_path / "cut", cwd=ws.root, env=env)
    resumed = [json.loads(line) for line in again.stdout.splitlines()]
    assert resumed[0]["event"] == "start" and resumed[0]["resumed"] and resumed[0]["step"] == 50
    after = {e["step"]: e["loss"] for e in resumed if e["event"] == "step"}
    assert min(after) == 51 and max(after) == max(steps)
    assert after == {s: loss for s, loss in steps.items() if s > 50}  # the same batches, the same losses
    assert resumed[-1]["exact_match"]["overall"] == events[-1]["exact_match"]["overall"]


async def test_chat_screen_streams_an_answer_in_instruct_mode(trained, runner, monkeypatch):
    from tutor.app.app import TutorApp
    from tutor.app.screens.chat import ChatScreen

    ws, _, home, _ = trained
    monkeypatch.setenv("TUTOR_HOME", str(home))
    app = TutorApp(ws.root, runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await pilot.press("ctrl+o")
        assert screen.mode == "instruct" and "instruction" in screen.title
        await pilot.press(*"What is 2 + 3?", "enter")
        log = screen.query_one("#chat-log")
        texts = lambda: ["".join(seg.text for seg in line) for line in log.lines]  # noqa: E731
        await until(pilot, lambda: any(t.startswith("model: ") for t in texts()), timeout=60)
        assert "you: What is 2 + 3?" in texts()
        answer = next(t for t in texts() if t.startswith("model: "))
        assert len(answer) > len("model: ") and screen.pieces_shown >= 1  # it came in pieces, as it was written
        assert str(screen.query_one("#chat-partial").render()) == ""  # the partial line is cleared once done


def test_a_llama_style_model_is_instruction_tuned_and_talks(tmp_path):
    """The instruction trainer and chat build whichever model the pretrained checkpoint
    records: the Llama-style one of lessons 18-21 too."""
    from tutor.core import checkpoint as ckpt

    ws = write_workspace(tmp_path / "ws", {"__init__.py": "", **solution_files()})
    env = {**os.environ, "TUTOR_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    tutor(*PRETRAIN, "--arch", "llama", "--max-steps", "20", cwd=ws.root, env=env)
    run = tutor("train", "instruct", *FAST, cwd=ws.root, env=env)
    done = json.loads(run.stdout.splitlines()[-1])
    tuned = ckpt.load(Path(done["checkpoint"]))
    assert tuned.header["arch"] == "llama" and any(name.startswith("trf_blocks.0.norm1") for name in tuned.model)
    chat = tutor("chat", "--instruct", cwd=ws.root, env=env, input="What is 2 + 3?\n")
    answers = [line[2:] for line in chat.stdout.splitlines() if line.startswith("? ")]
    assert answers and answers[0].strip(), chat.stdout + chat.stderr


@pytest.mark.slow
def test_the_default_path_passes_lesson_23(tmp_path, runner, monkeypatch):
    """What the lessons tell a learner to run, with the defaults: pretrain the tiny model,
    instruction-tune it on the practice set, then the milestone (60%) passes."""
    ws = write_workspace(tmp_path / "ws", {"__init__.py": "", **solution_files()})
    home = tmp_path / "home"
    env = {**os.environ, "TUTOR_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    tutor("train", "pretrain", "--skip-checks", "--json", cwd=ws.root, env=env)
    run = tutor("train", "instruct", "--json", cwd=ws.root, env=env)
    overall = json.loads(run.stdout.splitlines()[-1])["exact_match"]["overall"]
    monkeypatch.setenv("TUTOR_HOME", str(home))
    result = runner.check(ws, LESSON_23, timeout=600)
    assert result.status == "passed", (overall, result.checks[-1].message)
    assert f"{overall['right']} of {overall['total']}" in result.checks[1].message
