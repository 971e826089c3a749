"""The CLI as a learner, an instructor and a grader use it."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import cli, run  # noqa: F401 - run is used below
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files


@pytest.fixture
def ws(tmp_path):
    result = run("init", tmp_path / "ws")
    assert result.exit_code == 0, result.output
    return tmp_path / "ws"


def test_init_makes_stubs_and_refuses_to_overwrite(ws):
    assert (ws / "tutor.toml").is_file() and (ws / "model" / "tokenizer.py").is_file()
    (ws / "model" / "warmup.py").write_text("# my work\n")
    again = run("init", ws)
    assert again.exit_code == 2 and "already holds a workspace" in again.text
    assert (ws / "model" / "warmup.py").read_text() == "# my work\n"


def test_check_stub_says_not_implemented(ws):
    result = run("check", 2, "--workspace", ws)
    assert result.exit_code == 1
    assert "Not implemented yet: build_vocab is not written yet (lesson 2: Words to ids)" in result.text


def test_check_finds_the_workspace_from_a_subfolder(ws):
    result = run("check", 1, cwd=ws / "model")
    assert result.exit_code == 1 and "softmax is not written yet" in result.text


@pytest.mark.parametrize(
    "body, expected",
    [
        ("def softmax(scores):\n    return [\n", "syntax error on line 2"),
        ("def softmax(scores):\n    while True:\n        pass\n", "did not finish within 1 s"),
        ("import os\n\ndef softmax(scores):\n    os._exit(1)\n", "exited with code 1"),
    ],
    ids=["syntax-error", "endless-loop", "os-exit"],
)
def test_broken_learner_code_gives_a_clear_message(ws, body, expected):
    (ws / "model" / "warmup.py").write_text(body)
    result = run("check", 1, "--workspace", ws, "--timeout", 1)
    assert result.exit_code == 1
    assert expected in result.text.replace("\n", " ")


def test_usage_errors_exit_2(ws):
    assert run("check", 99, "--workspace", ws).exit_code == 2
    assert run("check", "--format", "yaml", "--workspace", ws).exit_code == 2
    assert run("check", "--workspace", ws / "nope").exit_code == 2


@pytest.mark.slow  # every lesson's checks on the reference
def test_solutions_json(ws):
    result = run("check", "--solutions", "--all", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"workspace", "lessons", "passed", "failed"}
    code_lessons = [l for l in data["lessons"] if l["status"] != "not-run"]
    assert data["failed"] == 0 and data["passed"] == len(code_lessons) >= 13
    for lesson in data["lessons"]:
        assert set(lesson) >= {"number", "id", "title", "status", "checks"}
        # Run milestones (lessons 14, 17) measure a learner's own training run, which the reference has not made.
        kind = load_registry().get(lesson["number"]).kind
        assert lesson["status"] == ("passed" if kind == "code" else "not-run")
        for c in lesson["checks"]:
            assert set(c) == {"name", "status", "message"}


@pytest.mark.slow  # every code lesson's checks
def test_no_runs_checks_every_code_lesson(ws):
    data = json.loads(run("check", "--no-runs", "--format", "json", "--workspace", ws).output)
    assert [l["number"] for l in data["lessons"]] == load_registry().numbers()
    assert {l["status"] for l in data["lessons"] if l["number"] in (14, 17)} == {"not-run"}


def test_junit_is_valid_xml(ws):
    result = run("check", 4, "--format", "junit", "--workspace", ws)
    assert result.exit_code == 1
    root = ET.fromstring(result.output)
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and suite.get("name") == "lesson-04-sliding-windows"
    assert int(suite.get("failures")) == len(suite.findall("testcase")) >= 4


def test_progress_mode_unlocks_in_order(ws):
    (ws / "model" / "warmup.py").write_text(solution_files()["warmup.py"])
    result = run("check", "--workspace", ws, "--format", "json")
    statuses = [l["status"] for l in json.loads(result.output)["lessons"]]
    assert statuses[:3] == ["passed", "failed", "locked"]
    listing = run("list", "--workspace", ws).text
    assert "✓ passed" in listing and "○ open" in listing and "· locked" in listing


def test_hints_come_one_at_a_time(ws):
    first = run("hint", 2, "--workspace", ws).text
    second = run("hint", 2, "--workspace", ws).text
    assert "Hint 1 of 3" in first and "Hint 2 of 3" in second
    assert "last" not in first + second


def test_the_last_hint_says_it_is_the_last(ws):
    for _ in range(2):
        run("hint", 2, "--workspace", ws)
    third = run("hint", 2, "--workspace", ws).text
    assert "Hint 3 of 3" in third and "That was the last hint." in third and "tutor solution 2" in third
    fourth = run("hint", 2, "--workspace", ws).text
    assert "Hint 3 of 3" in fourth and "You have seen all 3 hints; this was the last one again." in fourth


def test_solution_needs_a_confirmation(ws):
    result = run("solution", 2, "--workspace", ws)
    assert result.exit_code == 2 and "--yes" in result.text
    shown = run("solution", 2, "--yes", "--workspace", ws)
    assert "def build_vocab" in shown.text and "BEGIN SOLUTION" not in shown.text


def test_solution_apply_and_reset_keep_backups_and_other_work(ws):
    tok = ws / "model" / "tokenizer.py"
    mine = tok.read_text() + "\n\ndef my_helper():\n    return 'kept'\n"
    tok.write_text(mine)
    assert run("solution", 2, "--apply", "--yes", "--workspace", ws).exit_code == 0
    assert "my_helper" in tok.read_text()
    assert run("check", 2, "--workspace", ws).exit_code == 0
    backups = list((ws / ".tutor" / "backups").iterdir())
    assert len(backups) == 1 and backups[0].read_text() == mine
    assert run("reset", 2, "--yes", "--workspace", ws).exit_code == 0
    assert "build_vocab is not written yet" in tok.read_text() and "my_helper" in tok.read_text()
    assert len(list((ws / ".tutor" / "backups").iterdir())) == 2


def test_reset_of_an_unparseable_file_replaces_it_whole_with_a_backup(ws):
    warm = ws / "model" / "warmup.py"
    warm.write_text("def softmax(:\n")
    result = run("reset", 1, "--yes", "--workspace", ws)
    assert "replaced whole" in result.text
    assert "softmax is not written yet" in warm.read_text()
    assert [p.read_text() for p in (ws / ".tutor" / "backups").iterdir()] == ["def softmax(:\n"]


def test_show_prints_the_lesson(ws):
    result = run("show", 3, "--workspace", ws)
    assert result.exit_code == 0 and "Byte-pair encoding" in result.text


def test_console_script_runs_without_torch_in_the_parent(ws):
    """`tutor list` must not import torch: it is only imported by the check worker."""
    code = "import sys; from tutor.cli import main; sys.argv=['tutor','list','-w',sys.argv[1]]; \ntry: main()\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code, str(ws)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def test_max_steps_given_twice_must_agree(ws):
    result = run("train", "pretrain", "--max-steps", "5", "--set", "max_steps=6", "--skip-checks", "-w", ws)
    assert result.exit_code == 2 and "--max-steps 5 and --set max_steps=6 disagree" in result.text


def test_the_hint_after_a_run_written_elsewhere_names_its_checkpoint(tmp_path):
    from tutor.cli.train import checkpoint_option

    written = tmp_path / "my runs" / "checkpoint.safetensors"
    assert checkpoint_option(None, str(written)) == ""  # the default run: the commands find it
    assert checkpoint_option(tmp_path / "my runs", str(written)) == f" --checkpoint '{written}'"


@pytest.mark.parametrize("args", [["list"], ["show", "3"]])
def test_list_and_show_answer_without_loading_typer_and_say_the_same(ws, args):
    """The quick path prints what the full command line prints, without loading Typer."""
    code = ("import sys; from tutor.cli import main; sys.argv = ['tutor', *sys.argv[2:], '-w', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('typer' in sys.modules)")
    quick = subprocess.run([sys.executable, "-c", code, str(ws), *args], capture_output=True, text=True, check=True)
    assert quick.stdout.strip().endswith("False"), quick.stdout
    full = run(*args, "--workspace", ws)
    assert " ".join(quick.stdout.rsplit("\n", 2)[0].split()) == full.text.strip()
