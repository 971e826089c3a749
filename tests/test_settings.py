"""Instructor settings in tutor.toml: each one takes effect, in the CLI and the app."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import run
from tutor.app.app import TutorApp
from tutor.app.screens.dialogs import ConfirmScreen
from tutor.app.screens.lesson import LessonScreen
from tutor.app.screens.lesson_map import LessonMapScreen
from tutor.engine.course import (
    Course,
    NotInCourse,
    SolutionsOff,
    starting_files,
)
from tutor.engine.lessons import load_registry
from tutor.engine.settings import (
    CourseSettings,
    SettingsError,
    load_settings,
    parse_settings,
)
from tutor.engine.status import Status
from tutor.engine.stubs import generate_stubs, solution_files
from tutor.engine.workspace import MARKER_TEXT, extract_components, write_workspace

REGISTRY = load_registry()
NUMBERS = REGISTRY.numbers()


def course_with(tmp_path: Path, table: str, files: dict[str, str] | None = None) -> Course:
    marker = MARKER_TEXT + "\n[course]\n" + table
    ws = write_workspace(tmp_path / "ws", files or {"__init__.py": "", **generate_stubs()}, marker)
    return Course(ws)


# -- reading the settings --

def test_lesson_numbers_ranges_and_all():
    s = parse_settings({"lessons": [1, "5-7", 12], "open": "all"}, NUMBERS, "t.toml")
    assert s.lessons == (1, 5, 6, 7, 12)
    assert s.open == frozenset({1, 5, 6, 7, 12})  # "all": every lesson of the course
    with pytest.raises(SettingsError, match="course.open names lesson 2"):
        parse_settings({"lessons": [1], "open": [2]}, NUMBERS, "t.toml")


@pytest.mark.parametrize("table, message", [
    ({"solution": False}, "unknown setting 'solution'"),
    ({"lessons": "1-99"}, "the range '1-99' goes past the course's lessons"),
    ({"lessons": "1-300000000"}, "goes past the course's lessons"),  # refused before it is expanded
    ({"lessons": [99]}, "there is no lesson 99"),
    ({"lessons": "8-5"}, "runs backwards"),
    ({"lessons": []}, "course.lessons is empty"),
    ({"lessons": [True]}, "not a lesson number"),
    ({"check_timeout": "ten"}, "number of seconds"),
    ({"check_timeout": 0}, "number of seconds"),
    ({"solutions": "no"}, "true or false"),
])
def test_mistakes_name_the_key(table, message):
    with pytest.raises(SettingsError, match=message):
        parse_settings(table, NUMBERS, "t.toml")


def test_a_broken_tutor_toml_is_a_clear_error(tmp_path):
    ws = write_workspace(tmp_path / "ws", {"__init__.py": ""}, "[course\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Course(ws)
    result = run("list", "--workspace", ws.root)
    assert result.exit_code == 2 and "not valid TOML" in result.text


def test_settings_round_trip_through_tutor_toml(tmp_path):
    settings = CourseSettings(open=frozenset({7}), lessons=(5, 6, 7, 8), check_timeout=20.0, solutions=False)
    path = tmp_path / "tutor.toml"
    path.write_text(MARKER_TEXT + "\n" + settings.to_toml(NUMBERS))
    assert load_settings(path, NUMBERS) == settings


def test_no_course_table_means_the_whole_course(tmp_path, make_workspace):
    course = Course(make_workspace(solutions=False))
    assert course.settings.is_default and len(course.lessons) == len(NUMBERS)


# -- each setting takes effect --

def test_open_lessons_are_open_from_the_start(tmp_path):
    course = course_with(tmp_path, "open = [7, 9]\n")
    states = course.states()
    assert states[1] == Status.OPEN and states[7] == Status.OPEN and states[9] == Status.OPEN
    assert states[2] == Status.LOCKED and states[8] == Status.LOCKED


def test_a_lesson_subset_is_all_the_course_shows(tmp_path):
    course = course_with(tmp_path, 'lessons = "5-8"\n')
    assert [l.number for l in course.lessons] == [5, 6, 7, 8]
    assert course.states() == {5: Status.OPEN, 6: Status.LOCKED, 7: Status.LOCKED, 8: Status.LOCKED}  # the subset's first lesson is open
    assert course.current().number == 5
    with pytest.raises(NotInCourse, match="lesson 3 is not part of this course; its lessons are 5, 6, 7, 8"):
        course.lesson(3)
    result = run("check", "3", "--workspace", course.workspace.root)
    assert result.exit_code == 2 and "lesson 3 is not part of this course" in result.text
    listing = run("list", "--workspace", course.workspace.root).output
    assert "Self-attention" in listing and "Words to ids" not in listing and "0/4 passed" in listing
    assert "course: lessons 5-8" in listing


def test_a_subset_fills_in_the_lessons_it_leaves_out(runner, tmp_path):
    settings = CourseSettings(lessons=(5, 6, 7, 8))
    files = starting_files(settings)
    ws = write_workspace(tmp_path / "ws", files, MARKER_TEXT + "\n" + settings.to_toml(NUMBERS))
    course = Course(ws)
    reference, stubs = solution_files(), generate_stubs()
    # Left out (lesson 3: the tokenizer): the reference. In the course (lesson 5): the stub.
    l3, l5 = REGISTRY.get(3), REGISTRY.get(5)
    assert extract_components(files[l3.files[0]], l3.components) == extract_components(reference[l3.files[0]], l3.components)
    assert extract_components(files[l5.files[0]], l5.components) == extract_components(stubs[l5.files[0]], l5.components)
    assert course.ready(3) and not course.ready(5)
    # The filled-in code passes its own lesson's checks; the course's first lesson is still to do.
    assert runner.check(ws, l3).passed
    results = course.check_in_order(runner)
    assert [(r.number, r.status) for r in results] == [(5, "failed"), (6, "locked"), (7, "locked"), (8, "locked")]


def test_check_timeout_is_the_time_limit(runner, tmp_path):
    endless = "import math\n\n\ndef softmax(scores):\n    while True:\n        pass\n"
    course = course_with(tmp_path, "check_timeout = 1.5\n", {"__init__.py": "", **generate_stubs(), "warmup.py": endless})
    started = time.monotonic()
    [result] = course.check(runner, [course.lesson(1)])  # the session's runner allows 60 s
    assert time.monotonic() - started < 15
    assert result.status == "error" and "did not finish within 1.5 s" in result.message
    # An explicit --timeout still wins over the course's.
    [result] = course.check(runner, [course.lesson(1)], timeout=2.5)
    assert "did not finish within 2.5 s" in result.message


def test_check_timeout_reaches_the_cli(tmp_path):
    endless = "import math\n\n\ndef softmax(scores):\n    while True:\n        pass\n"
    course = course_with(tmp_path, "check_timeout = 1\n", {"__init__.py": "", **generate_stubs(), "warmup.py": endless})
    result = run("check", "1", "--workspace", course.workspace.root)
    assert result.exit_code == 1 and "did not finish within 1 s" in result.text


def test_solutions_off(tmp_path):
    course = course_with(tmp_path, "solutions = false\n")
    with pytest.raises(SolutionsOff):
        course.solution_text(2)
    with pytest.raises(SolutionsOff):
        course.apply_solution(2)
    before = course.workspace.file("tokenizer.py").read_text()
    for args in (("solution", "2", "--yes"), ("solution", "2", "--apply", "--yes")):
        result = run(*args, "--workspace", course.workspace.root)
        assert result.exit_code == 1 and "solutions are turned off" in result.text
    assert course.workspace.file("tokenizer.py").read_text() == before
    assert "Hint 1 of" in run("hint", "2", "--workspace", course.workspace.root).text  # hints stay


async def test_the_app_follows_the_settings(runner, tmp_path):
    course = course_with(tmp_path, 'lessons = [5, 6, 7]\nopen = [7]\nsolutions = false\n')
    app = TutorApp(course.workspace.root, runner=runner)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, LessonMapScreen)
        options = app.screen.query_one("#lessons")
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert [i for i in ids if i and i.startswith("lesson-")] == ["lesson-5", "lesson-6", "lesson-7"]
        assert options.get_option("lesson-6").disabled and not options.get_option("lesson-7").disabled
        summary = str(app.screen.query_one("#map-summary").render())
        assert "course: lessons 5-7 · open: 7 · solutions hidden" in summary
        await pilot.press("enter")
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.number == 5
        await pilot.press("f7")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("turned off" in n.message for n in app._notifications)


# -- tutor init --from --

def test_init_from_stamps_the_settings(tmp_path):
    source = tmp_path / "workshop.toml"
    source.write_text('[course]\nlessons = "5-8"\nopen = [7]\ncheck_timeout = 20\nsolutions = false\n')
    result = run("init", tmp_path / "ws", "--from", source)
    assert result.exit_code == 0, result.output
    assert "tutor show 5" in result.text
    settings = load_settings(tmp_path / "ws" / "tutor.toml", NUMBERS)
    assert settings == CourseSettings(open=frozenset({7}), lessons=(5, 6, 7, 8), check_timeout=20.0, solutions=False)
    assert "NotImplementedError" not in (tmp_path / "ws" / "model" / "tokenizer.py").read_text()


@pytest.mark.parametrize("text, message", [
    ("lessons = [1]\n", "has no [course] table"),
    ("[course]\nsolution = false\n", "unknown setting 'solution' in [course]"),
    ("[course\n", "not valid TOML"),
])
def test_init_from_a_bad_file_changes_nothing(tmp_path, text, message):
    source = tmp_path / "workshop.toml"
    source.write_text(text)
    result = run("init", tmp_path / "ws", "--from", source)
    assert result.exit_code == 2 and message in result.text
    assert not (tmp_path / "ws").exists()
    missing = run("init", tmp_path / "ws", "--from", tmp_path / "nope.toml")
    assert missing.exit_code == 2 and "does not exist" in missing.text


def test_the_workshop_runbook_settings_are_valid():
    """The example in docs/workshop.md is what an instructor copies: it must parse."""
    import re

    from tutor.engine.settings import tomllib

    path = Path(__file__).resolve().parents[1] / "docs" / "workshop.md"
    [block] = re.findall(r"```toml\n(.*?)```", path.read_text(), re.S)
    settings = parse_settings(tomllib.loads(block)["course"], NUMBERS, str(path))
    assert settings.lessons == (5, 6, 7, 8, 9, 10, 11) and settings.open == {9} and not settings.solutions


def test_the_example_in_the_error_message_is_valid():
    from tutor.engine.settings import EXAMPLE, tomllib

    settings = parse_settings(tomllib.loads(EXAMPLE)["course"], NUMBERS, "example")
    assert settings.lessons == tuple(n for n in NUMBERS if n <= 17)  # the example's "1-17": the core course
    assert settings.check_timeout == 10 and settings.solutions


def test_ranges_read_like_a_person_writes_them():
    from tutor.engine.settings import ranges

    assert ranges([5, 6, 7, 8, 10, 12, 13]) == "5-8, 10, 12, 13"
    assert CourseSettings().describe() == ""
