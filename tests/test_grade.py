"""`tutor grade` over a class of generated workspaces: each in its own process, within its limits."""

from __future__ import annotations

import csv
import json
import time

import pytest
from typer.testing import CliRunner

from tutor.cli import app
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import generate_stubs, solution_files
from tutor.engine.workspace import write_workspace

pytestmark = pytest.mark.slow  # grading a class

CODE_LESSONS = sum(lesson.kind == "code" for lesson in load_registry().lessons)  # run milestones are not run in grading


def test_grading_twelve_workspaces(tmp_path):
    solutions, stubs = solution_files(), generate_stubs()
    klass = tmp_path / "class"
    for i in range(4):  # complete
        write_workspace(klass / f"complete-{i}", {"__init__.py": "", **solutions})
    for i in range(4):  # stubs only
        write_workspace(klass / f"stubbed-{i}", {"__init__.py": "", **stubs})
    write_workspace(klass / "partial", {"__init__.py": "", **stubs, "warmup.py": solutions["warmup.py"], "tokenizer.py": solutions["tokenizer.py"]})
    write_workspace(klass / "endless", {"__init__.py": "", **solutions, "warmup.py": "def softmax(scores):\n    while True:\n        pass\n"})
    write_workspace(klass / "syntax", {"__init__.py": "", **solutions, "tokenizer.py": "def build_vocab(text:\n"})
    (klass / "missing").mkdir()  # a student who handed in nothing
    started = time.monotonic()
    result = CliRunner().invoke(app, ["grade", str(klass), "--jobs", "2", "--timeout", "3", "--csv", str(tmp_path / "g.csv"),
                                      "--json", str(tmp_path / "g.json")])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 400
    grades = {g["student"]: g for g in json.loads((tmp_path / "g.json").read_text())}
    assert len(grades) == 12
    for i in range(4):
        assert grades[f"complete-{i}"]["passed"] == CODE_LESSONS  # the run milestones are not run here
        assert grades[f"stubbed-{i}"]["lessons"]["1"] == "error" or grades[f"stubbed-{i}"]["lessons"]["1"] == "failed"
        assert grades[f"stubbed-{i}"]["passed"] == 0
    assert grades["partial"]["passed"] == 3 and grades["partial"]["lessons"]["4"] == "failed"
    assert grades["endless"]["lessons"]["1"] == "error" and grades["endless"]["passed"] == CODE_LESSONS - 1
    assert grades["syntax"]["lessons"]["2"] == "error" and grades["syntax"]["lessons"]["3"] == "error"
    assert grades["missing"]["status"] == "missing"
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert {k: int(v["passed"]) for k, v in rows.items()} == {k: g["passed"] for k, g in grades.items()}
    assert rows["endless"]["lesson_1"] == "error" and rows["missing"]["status"] == "missing"
    table = " ".join(result.output.split())
    assert "complete-0" in table and f"{CODE_LESSONS}/{CODE_LESSONS}" in table and "missing" in table
    assert grades["complete-0"]["lessons"]["14"] == "not-run"


def test_the_graders_lessons_not_the_students_settings(tmp_path):
    """A student's tutor.toml cannot hide failing lessons: the grader's list is what counts."""
    from tutor.engine.workspace import MARKER_TEXT

    solutions, stubs = solution_files(), generate_stubs()
    klass = tmp_path / "class"
    files = {"__init__.py": "", **stubs, "warmup.py": solutions["warmup.py"], "tokenizer.py": solutions["tokenizer.py"]}
    write_workspace(klass / "honest", files)
    write_workspace(klass / "tampered", files, MARKER_TEXT + '\n[course]\nlessons = [1, 2]\n')  # lesson 4 hidden
    write_workspace(klass / "broken", files, MARKER_TEXT + "\n[course\n")  # a tutor.toml that does not parse
    (tmp_path / "workshop.toml").write_text('[course]\nlessons = "1-4"\n')
    for how in (["--lessons", "1-4"], ["--settings", str(tmp_path / "workshop.toml")], ["--lessons", "1,2,3,4"]):
        result = CliRunner().invoke(app, ["grade", str(klass), *how, "--timeout", "10", "--json", str(tmp_path / "g.json"),
                                          "--csv", str(tmp_path / "g.csv")])
        assert result.exit_code == 0, result.output
        grades = {g["student"]: g for g in json.loads((tmp_path / "g.json").read_text())}
        for student in ("honest", "tampered", "broken"):
            assert grades[student]["lessons"] == {"1": "passed", "2": "passed", "3": "passed", "4": "failed"}
        header = next(csv.reader((tmp_path / "g.csv").open()))
        assert header == ["student", "path", "status", "lesson_1", "lesson_2", "lesson_3", "lesson_4", "passed", "review", "message"]
        assert "3/4" in " ".join(result.output.split())
    bad = CliRunner().invoke(app, ["grade", str(klass), "--lessons", "2-99"])
    assert bad.exit_code == 2 and "goes past the course's lessons" in " ".join(bad.output.split())
