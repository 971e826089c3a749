"""The progress store: atomic, honest about bad files, never the judge of 'passed'."""

from __future__ import annotations

import json

from tutor.engine.progress import ProgressStore
from tutor.engine.results import CheckResult, LessonResult


def passed(n=1):
    return LessonResult(n, "x", "X", "passed", [CheckResult("a", "passed")])


def test_round_trip(tmp_path):
    store = ProgressStore(tmp_path / "ws", home=tmp_path)
    store.record_result(passed(), "abc")
    store.save()
    again = ProgressStore(tmp_path / "ws", home=tmp_path)
    rec = again.lessons[1]
    assert rec.attempts == 1 and rec.first_passed and rec.best_passed_checks == 1
    assert again.passed_now(1, "abc") and not again.passed_now(1, "changed")


def test_corrupt_file_is_kept_aside_with_a_message(tmp_path):
    store = ProgressStore(tmp_path / "ws", home=tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    again = ProgressStore(tmp_path / "ws", home=tmp_path)
    assert again.warning and "could not be read" in again.warning
    kept = list(store.path.parent.glob("*.unreadable-*.json"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"


def test_future_version_is_kept_aside(tmp_path):
    store = ProgressStore(tmp_path / "ws", home=tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"version": 99, "lessons": {}}))
    again = ProgressStore(tmp_path / "ws", home=tmp_path)
    assert "another version" in again.warning
    assert list(store.path.parent.glob("*.unreadable-*.json"))


def test_save_leaves_no_temporary_files(tmp_path):
    store = ProgressStore(tmp_path / "ws", home=tmp_path)
    for _ in range(3):
        store.record_result(passed(), "f")
        store.save()
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]


def test_a_progress_file_of_the_wrong_shape_is_set_aside(tmp_path):
    import json

    from tutor.engine.progress import ProgressStore

    store = ProgressStore(tmp_path / "ws", home=tmp_path)
    for bad in ({"version": 1, "lessons": {"1": {"attempts": "many"}}},
                {"version": 1, "lessons": {"1": {"attempts": True}}},
                {"version": 1, "lessons": []},
                "[" * 100_000):
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
        again = ProgressStore(tmp_path / "ws", home=tmp_path)
        assert again.lessons == {} and "could not be read" in (again.warning or "")
        assert not store.path.exists()  # moved aside, kept for the learner
