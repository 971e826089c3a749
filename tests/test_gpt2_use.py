"""GPT-2's weights in use, end to end and offline: a tiny random GPT-2-layout file (GPT-2's
50,257-token vocabulary, two narrow layers) imported into a temporary data home, then
generate, chat and the classifier through the learner's own code."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import tutor
from tutor.checks.gpt2_refs import gpt2_state_dict
from tutor.engine.lessons import load_registry

LESSON_17, LESSON_23 = load_registry().get(17), load_registry().get(23)

pytestmark = pytest.mark.slow  # training runs


@pytest.fixture
def with_gpt2(make_workspace, tutor_home, tmp_path):
    from safetensors.torch import save_file

    stick = tmp_path / "stick"
    stick.mkdir()
    save_file(gpt2_state_dict(50257, 128, 32, 2, seed=0), str(stick / "model.safetensors"))
    (stick / "config.json").write_text(json.dumps({"n_head": 4, "n_embd": 32, "n_layer": 2}))
    ws = make_workspace()
    env = {**os.environ, "TUTOR_HOME": str(tutor_home), "PYTHONUNBUFFERED": "1"}
    out = tutor("data", "import", stick, cwd=ws.root, env=env)
    assert "structure verified" in out.stdout and "2 layers" in out.stdout
    return ws, env


def test_generate_and_chat_with_gpt2_weights_then_the_cache_writes_the_same(with_gpt2):
    ws, env = with_gpt2
    args = ("generate", "--weights", "gpt2", "--prompt", "Every effort moves you", "--max-new-tokens", "12",
            "--temperature", "0")
    plain = tutor(*args, cwd=ws.root, env=env).stdout
    assert plain.startswith("Every effort moves you") and len(plain) > len("Every effort moves you")
    tutor("check", "25", cwd=ws.root, env=env)  # lesson 25 passes: generate_cached writes from now on
    assert tutor(*args, cwd=ws.root, env=env).stdout == plain
    chat = tutor("chat", "--weights", "gpt2", cwd=ws.root, env=env, input="Hello there\n")
    assert "Hello there" in chat.stdout
    bad = tutor("generate", "--weights", "gpt3", cwd=ws.root, env=env, check=False)
    assert bad.returncode != 0 and "gpt2" in bad.stderr


def test_classify_from_gpt2_and_lesson_17_reads_it(with_gpt2, runner):
    ws, env = with_gpt2
    run = tutor("train", "classify", "--from", "gpt2", "--data", "sms-demo", "--epochs", "1", "--json", cwd=ws.root, env=env)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    start = next(e for e in events if e["event"] == "start")
    assert start["settings"]["lr"] == 5e-5 and start["settings"]["batch_size"] == 8
    assert start["settings"]["weight_decay"] == 0.1 and start["settings"]["epochs"] == 1
    done = events[-1]
    assert done["event"] == "done" and 0 <= done["test"]["accuracy"] <= 1
    result = runner.check(ws, LESSON_17)
    assert result.checks[0].status == "passed", result.checks[0].message
    assert "test messages right" in result.checks[1].message
    chat = tutor("chat", cwd=ws.root, env=env, input="WINNER!! Claim your prize now\n")
    assert any(line.startswith("> ") and line.split()[1] in ("spam", "ham") for line in chat.stdout.splitlines())


def test_instruct_from_gpt2_then_chat_and_lesson_23_read_it(with_gpt2, runner):
    """Instruction tuning can start from GPT-2 as the book's chapter 7 does: its tokenizer and
    shape go into the checkpoint, so chat and lesson 23's recount rebuild them unaided."""
    from pathlib import Path

    from tutor.core import checkpoint as ckpt

    ws, env = with_gpt2
    run = tutor("train", "instruct", "--from", "gpt2", "--data", "instruct-demo", "--epochs", "1", "--batch-size", "32",
                "--max-new-tokens", "6", "--json", cwd=ws.root, env=env)
    done = json.loads(run.stdout.splitlines()[-1])
    tuned = ckpt.load(Path(done["checkpoint"]))
    assert tuned.header["model_cfg"]["vocab_size"] == 50257 and tuned.header["instruct"]["pretrained"].startswith("gpt2-")
    assert tuned.special_tokens == {"<|endoftext|>": 50256}
    chat = tutor("chat", "--instruct", cwd=ws.root, env=env, input="What is 2 + 3?\n")
    assert "Type an instruction" in chat.stdout, chat.stderr
    result = runner.check(ws, LESSON_23)
    assert result.checks[0].status == "passed", result.checks[0].message
    overall = done["exact_match"]["overall"]
    assert f"{overall['right']} of {overall['total']}" in result.checks[1].message


def test_without_weights_the_message_names_download_and_import(make_workspace, tutor_home):
    ws = make_workspace()
    env = {**os.environ, "TUTOR_HOME": str(tutor_home)}
    for args in (("generate", "--weights", "gpt2"), ("train", "classify", "--from", "gpt2"),
                 ("train", "instruct", "--from", "gpt2")):
        out = tutor(*args, cwd=ws.root, env=env, check=False)
        said = " ".join(out.stderr.split())
        assert out.returncode == 1 and "tutor data download gpt2" in said and "tutor data import" in said
