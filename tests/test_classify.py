"""Fine-tuning and chat with the learner's code, offline on the practice set."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.helpers import MICRO, tutor
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files
from tutor.engine.workspace import Workspace, write_workspace

pytestmark = pytest.mark.slow  # training runs

LESSON_17 = load_registry().get(17)


@pytest.fixture(scope="module")
def pretrained_once(tmp_path_factory):
    """One micro pretraining run for the whole module (it is the slow part)."""
    root = tmp_path_factory.mktemp("pretrained")
    ws = write_workspace(root / "ws", {"__init__.py": "", **solution_files()})
    home = root / "home"
    tutor("train", "pretrain", *MICRO, cwd=ws.root, env={**os.environ, "TUTOR_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    return ws, home


@pytest.fixture
def pretrained(pretrained_once, tutor_home, tmp_path):
    """A copy of the pretrained workspace and its data home for this test alone: a test may
    edit the workspace's files or overwrite its runs without touching the next test's."""
    source, home = pretrained_once
    ws = Workspace(shutil.copytree(source.root, tmp_path / "ws"))
    shutil.copytree(home, tutor_home, dirs_exist_ok=True)
    (tutor_home / "runs" / source.key).rename(tutor_home / "runs" / ws.key)
    return ws, {**os.environ, "TUTOR_HOME": str(tutor_home), "PYTHONUNBUFFERED": "1"}


def test_classify_then_chat_then_lesson_17_recounts_the_same_accuracy(pretrained, runner):
    ws, env = pretrained
    run = tutor("train", "classify", "--data", "sms-demo", "--epochs", "2", "--json", cwd=ws.root, env=env)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events if e["event"] in ("start", "epoch", "done")] == ["start", "epoch", "epoch", "done"]
    done = events[-1]
    assert 0 <= done["test"]["accuracy"] <= 1 and {"precision", "recall", "f1"} <= set(done["test"])
    chat = tutor("chat", cwd=ws.root, env=env, input="WINNER!! Claim your prize now\nsee you at the gym\n")
    answers = [line for line in chat.stdout.splitlines() if line.startswith("> ") and len(line.split()) > 1]
    assert len(answers) == 2 and all(a.split()[1] in ("spam", "ham") and "%" in a for a in answers)
    said = " ".join(chat.stdout.split())
    assert "micro model" in said and "synthetic practice set" in said  # the header says what to trust
    from tutor.chat import SpamChat
    from tutor.engine.workspace import Workspace

    os.environ["TUTOR_HOME"] = env["TUTOR_HOME"]
    verdict = SpamChat(Workspace(ws.root), Workspace(ws.root).run_checkpoint("classify")).classify(
        "Congratulations! You won a free holiday, call now to claim")
    pushes = [push for _, push in verdict.pushes]
    # Occlusion keeps positions: the pushes differ from token to token, or the verdict says none matters.
    assert len({round(p, 4) for p in pushes}) > 1 or verdict.note, pushes
    result = runner.check(ws, LESSON_17)
    assert result.checks[0].status == "passed"
    text = result.checks[1].message
    right, total = int(text.split()[0]), int(text.split()[2])
    from tutor.data import sms

    assert total == len(sms.split(sms.demo_messages())["test"]) == done["test_size"]
    assert right / total == pytest.approx(done["test"]["accuracy"])  # the same answers, counted twice


def test_lesson_17_without_a_checkpoint(runner, make_workspace):
    result = runner.check(make_workspace(), LESSON_17)
    assert result.status == "failed" and "No classifier checkpoint yet" in result.checks[0].message


def test_classify_without_data_names_the_import_command(pretrained):
    ws, env = pretrained
    run = tutor("train", "classify", cwd=ws.root, env=env, check=False)
    assert run.returncode == 1 and "tutor data import FILE" in " ".join(run.stderr.split())


def test_chat_without_a_classifier(make_workspace, tutor_home):
    ws = make_workspace()
    run = tutor("chat", cwd=ws.root, env={**os.environ, "TUTOR_HOME": str(tutor_home)}, check=False, input="")
    assert run.returncode == 1 and "no checkpoint" in run.stderr


def test_lesson_17_measures_the_classifier_not_the_metrics_file(pretrained, runner):
    ws, env = pretrained
    # A classifier that learned nothing (a vanishing learning rate), then a doctored claim of a perfect one.
    tutor("train", "classify", "--data", "sms-demo", "--epochs", "1", "--lr", "1e-12", "--json", cwd=ws.root, env=env)

    metrics = ws.run_dir("classify") / "metrics.jsonl"
    assert metrics.is_file()
    with open(metrics, "a") as f:
        f.write(json.dumps({"event": "done", "val_accuracy": 1.0, "test_size": 160,
                            "test": {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}}) + "\n")
    result = runner.check(ws, LESSON_17)
    assert result.checks[0].status == "passed"  # the checkpoint loads
    assert result.status == "failed" and "the milestone is 90%" in result.checks[1].message


def test_seed_redraws_the_training_but_not_the_split(pretrained, runner):
    ws, env = pretrained

    def losses(seed: str, out: str) -> tuple[list[float], dict]:
        run = tutor("train", "classify", "--data", "sms-demo", "--epochs", "1", "--seed", seed, "--out", ws.root / out,
                    "--json", cwd=ws.root, env=env)
        events = [json.loads(line) for line in run.stdout.splitlines()]
        return [e["loss"] for e in events if e["event"] == "step"], events[0]

    first, start = losses("1", "a")
    again, _ = losses("1", "b")
    other, other_start = losses("2", "c")
    assert first == again and first != other  # reproducible under a seed, different under another
    assert {k: start[k] for k in ("train", "val", "test")} == {k: other_start[k] for k in ("train", "val", "test")}
    assert start["settings"]["seed"] == other_start["settings"]["seed"] == 123  # the split's seed


def test_lesson_17_names_the_head_that_no_longer_fits_the_checkpoint(pretrained, runner):
    ws, env = pretrained
    tutor("train", "classify", "--data", "sms-demo", "--epochs", "1", "--json", cwd=ws.root, env=env)
    classifier = ws.root / "model" / "classifier.py"
    source = classifier.read_text()
    classifier.write_text(source.replace("nn.Linear(emb_dim, num_classes)", "nn.Linear(emb_dim, num_classes + 1)"))
    result = runner.check(ws, LESSON_17)
    message = result.checks[0].message
    assert result.checks[0].status == "failed" and "out_head.weight" in message and "(2, " in message and "(3, " in message
