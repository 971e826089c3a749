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


SCALED = """
import math

try:
    from model.fast import SCALE
except ImportError:
    SCALE = 1.0
{extra}

def softmax(scores):
    top = max(scores) if scores else 0.0
    exps = [math.exp((s - top) * SCALE * FACTOR) for s in scores]
    return [e / sum(exps) for e in exps]
"""


def _passes_then(runner, ws, change) -> str:
    course = Course(ws)
    assert course.check(runner, [course.lesson(1)])[0].passed
    assert Course(ws).state(course.lesson(1)) == Status.PASSED
    change()
    return Course(ws).state(course.lesson(1))


def test_what_a_pass_depends_on_beyond_its_imports(runner, make_workspace, tmp_path):
    """A module looked for and missing, a data file read at import, a helper that links
    elsewhere, and a model/ folder that is itself a link: a change to any re-opens the lesson."""
    import json
    import shutil

    # a module that was missing when the lesson passed, then added
    ws = make_workspace(overrides={"warmup.py": SCALED.format(extra="FACTOR = 1.0")})
    assert _passes_then(runner, ws, lambda: (ws.model_dir / "fast.py").write_text("SCALE = 2.0\n")) == Status.CHANGED

    # a data file read by the code
    extra = "import json, os\nFACTOR = json.load(open(os.path.join(os.path.dirname(__file__), 'cfg.json')))['factor']"
    ws = make_workspace(overrides={"warmup.py": SCALED.format(extra=extra), "cfg.json": json.dumps({"factor": 1.0})})
    assert _passes_then(runner, ws, lambda: (ws.model_dir / "cfg.json").write_text('{"factor": 2.0}')) == Status.CHANGED

    # a helper module that is a link to a file outside model/
    outside = tmp_path / "helper_outside.py"
    outside.write_text("FACTOR = 1.0\n")
    ws = make_workspace(overrides={"warmup.py": SCALED.format(extra="from model.helper import FACTOR")})
    (ws.model_dir / "helper.py").symlink_to(outside)
    assert _passes_then(runner, ws, lambda: outside.write_text("FACTOR = 2.0\n")) == Status.CHANGED

    # model/ itself a link to a folder elsewhere
    ws = make_workspace(overrides={"warmup.py": SCALED.format(extra="from model.helper import FACTOR"),
                                   "helper.py": "FACTOR = 1.0\n"})
    real = tmp_path / "model_elsewhere"
    shutil.move(str(ws.model_dir), real)
    ws.model_dir.symlink_to(real)
    course = Course(ws)
    assert course.check(runner, [course.lesson(1)])[0].passed
    assert "helper.py" in course.store.lessons[1].last_files
    (real / "helper.py").write_text("FACTOR = 2.0\n")
    assert Course(ws).state(course.lesson(1)) == Status.CHANGED
