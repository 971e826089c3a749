"""A run milestone gets a milestone's time, and a time-out says whether the machine was busy,
the code waited, or the code computed all along."""

from __future__ import annotations

import multiprocessing
import os
import textwrap

import pytest

from tutor.engine import worker
from tutor.engine.course import Course
from tutor.engine.settings import RUN_TIMEOUT, CourseSettings


class Recording:
    def __init__(self):
        self.timeouts = {}

    def check(self, workspace, lesson, *, seed=None, timeout=None):
        from tutor.engine.results import LessonResult

        self.timeouts[lesson.number] = timeout
        return LessonResult(lesson.number, lesson.id, lesson.title, "passed")


def test_run_milestones_get_their_own_limit(make_workspace):
    ws = make_workspace()
    recording = Recording()
    course = Course(ws, settings=CourseSettings(check_timeout=5))
    course.check(recording, [course.lesson(n) for n in (5, 14, 17, 23)], record=False)
    assert recording.timeouts[5] == 5
    assert recording.timeouts[14] == recording.timeouts[17] == RUN_TIMEOUT >= 60
    course = Course(ws, settings=CourseSettings(run_timeout=300))
    course.check(recording, [course.lesson(14)], record=False)
    assert recording.timeouts[14] == 300
    course.check(recording, [course.lesson(14)], timeout=7, record=False)  # what the learner asks for wins
    assert recording.timeouts[14] == 7


def test_run_timeout_is_a_course_setting(tmp_path):
    from tutor.engine.settings import SettingsError, parse_settings

    settings = parse_settings({"run_timeout": 240}, range(1, 27), "tutor.toml")
    assert settings.run_timeout == 240 and "240 s per run milestone" in settings.describe()
    assert "run_timeout = 240" in settings.to_toml(range(1, 27))
    with pytest.raises(SettingsError, match="run_timeout"):
        parse_settings({"run_timeout": "long"}, range(1, 27), "tutor.toml")


def run_one(tmp_path, body: str, timeout: float) -> dict:
    worker.warm_up()  # as the worker does before any check: torch is imported once, not in the child
    # The learner's code does the waiting or the spinning; the check only calls it.
    checks = tmp_path / "checks.py"
    checks.write_text("from tutor.checks import check, learner\n\n\n@check('works')\ndef works():\n    learner('slow').run()\n")
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "__init__.py").write_text("")
    (tmp_path / "model" / "slow.py").write_text("def run():\n" + textwrap.indent(body, "    "))
    request = {"number": 14, "workspace": str(tmp_path), "files": ["slow.py"], "checks_path": str(checks), "timeout": timeout,
               "memory_mb": None, "seed": 1, "id": "t", "threads": 1, "data_home": str(tmp_path / "home")}
    return worker.run_in_child(request)


def _hog() -> None:
    os.sched_setaffinity(0, {0})
    while True:
        pass


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/self/schedstat"),
                    reason="needs Linux's scheduler statistics")
def test_a_time_out_on_a_busy_machine_names_the_machine(tmp_path):
    before = os.sched_getaffinity(0)
    hogs = [multiprocessing.get_context("fork").Process(target=_hog, daemon=True) for _ in range(3)]
    os.sched_setaffinity(0, {0})  # the check's child shares one processor with three busy processes
    try:
        for hog in hogs:
            hog.start()
        result = run_one(tmp_path, "while True:\n    pass\n", timeout=2)
    finally:
        os.sched_setaffinity(0, before)
        for hog in hogs:
            hog.kill()
            hog.join()
    assert result["status"] == "error"
    assert "slowed by a busy machine" in result["message"] and "--timeout" in result["message"], result["message"]
    assert "waited" in result["message"] and "load average" in result["message"]


@pytest.mark.skipif(not os.path.exists("/proc/self/schedstat"), reason="needs Linux's scheduler statistics")
def test_a_time_out_of_code_that_waits_or_spins_says_so(tmp_path):
    waiting = run_one(tmp_path, "import time\ntime.sleep(60)\n", timeout=1.5)
    assert "your code did not finish within 1.5 s" in waiting["message"] and "waiting" in waiting["message"]
    spinning = run_one(tmp_path, "while True:\n    pass\n", timeout=1.5)
    assert "endless loop" in spinning["message"] or "busy machine" in spinning["message"]
