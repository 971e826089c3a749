"""A pass stays true until what its checks used changes: the files of model/ they imported,
their checks and the tutor; an edit to another lesson's file re-opens nothing else."""

from __future__ import annotations

from tutor.engine.course import Course
from tutor.engine.status import Status


class Counting:
    """A runner that remembers which lessons it was asked to check."""

    def __init__(self, runner):
        self.runner, self.asked = runner, []

    def check(self, workspace, lesson, **kw):
        self.asked.append(lesson.number)
        return self.runner.check(workspace, lesson, **kw)


def test_an_edit_reopens_only_the_lessons_whose_checks_imported_the_file(runner, make_workspace):
    ws = make_workspace()
    course = Course(ws)
    first_six = [course.lesson(n) for n in range(1, 7)]
    assert all(r.passed for r in course.check(runner, first_six))
    assert [course.state(l) for l in first_six] == [Status.PASSED] * 6
    used = {n: course.store.lessons[n].last_files for n in range(1, 7)}
    assert all("__init__.py" in files for files in used.values())
    assert "attention.py" not in used[1] and "attention.py" in used[5] and "attention.py" in used[6]

    attention = ws.model_dir / "attention.py"
    attention.write_text(attention.read_text() + "\n# a note of the learner's\n")
    states = Course(ws).states()
    assert [states[n] for n in range(1, 5)] == [Status.PASSED] * 4
    reopened = {n for n in range(1, 7) if states[n] == Status.CHANGED}
    assert reopened == {n for n in range(1, 7) if "attention.py" in used[n]} and {5, 6} <= reopened

    # A bare check runs again only what changed, then goes on from where the learner is.
    counting = Counting(runner)
    results = Course(ws).check_in_order(counting)
    assert counting.asked[: len(reopened)] == sorted(reopened)
    assert all(r.unchanged for r in results if r.number in (1, 2, 3, 4))
    assert Course(ws).states()[5] == Status.PASSED

    (ws.model_dir / "__init__.py").write_text("# the package's own code runs before every check\n")
    states = Course(ws).states()
    assert all(states[n] == Status.CHANGED for n in range(1, 7))


def test_a_file_no_check_imported_reopens_nothing(runner, make_workspace):
    ws = make_workspace()
    course = Course(ws)
    assert course.check(runner, [course.lesson(1)])[0].passed
    (ws.model_dir / "notes.py").write_text("x = 1\n")
    (ws.model_dir / "tokenizer.py").write_text((ws.model_dir / "tokenizer.py").read_text() + "\n# later\n")
    assert Course(ws).state(course.lesson(1)) == Status.PASSED
    (ws.model_dir / "warmup.py").write_text((ws.model_dir / "warmup.py").read_text() + "\n# edited\n")
    assert Course(ws).state(course.lesson(1)) == Status.CHANGED


def test_a_bare_check_stops_at_the_first_lesson_that_does_not_pass(runner, make_workspace):
    from tutor.engine.stubs import generate_stubs

    ws = make_workspace(overrides={"attention.py": generate_stubs()["attention.py"]})
    course = Course(ws)
    results = course.check_in_order(runner)
    checked = [r for r in results if r.status not in (Status.LOCKED, Status.NOT_RUN)]
    assert [r.number for r in checked] == [1, 2, 3, 4, 5] and checked[-1].status == Status.FAILED
    assert all(r.status in (Status.LOCKED, Status.NOT_RUN) for r in results[5:])
