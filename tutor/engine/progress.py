"""The progress store: the learner's history, kept per workspace.

It records attempts, hints seen, when a lesson was first passed and the best
result, so the app can show a journey. It never decides that a lesson passed on
its own: a result counts only while the fingerprint of the learner's files and
the lesson's checks still matches the one the checks ran on.

Writes are atomic, and each change is made under a lock on a fresh read of the
file, so two `tutor check` at once both count. A file that cannot be read
(corrupt, of the wrong shape, or written by a newer tutor) is moved aside with a
message, never silently reset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tutor.core.atomic import write_text_atomic
from tutor.core.locations import progress_dir, workspace_key
from tutor.core.safe_read import loads_json, read_regular_text
from tutor.engine.results import LessonResult
from tutor.engine.status import Status

VERSION = 1
MAX_BYTES = 16 * 2**20  # a progress file is a few KB: one record per lesson


@dataclass
class LessonRecord:
    attempts: int = 0
    hints_seen: int = 0
    solution_seen: bool = False
    first_attempt: float | None = None
    first_passed: float | None = None
    best_passed_checks: int = 0
    total_checks: int = 0
    last_status: str = ""
    last_fingerprint: str = ""
    last_checked: float | None = None
    last_files: list | None = None  # the files of model/ the last check imported (None: not known)


_TYPES = {"int": (int,), "bool": (bool,), "str": (str,), "float | None": (int, float, type(None)), "list | None": (list, type(None))}


def _record_from(number: str, raw: Any) -> tuple[int, LessonRecord]:
    """One lesson's record, or ValueError naming what is wrong with its shape."""
    if not str(number).isdigit() or not isinstance(raw, dict):
        raise ValueError(f"lesson {str(number)[:20]!r} is not a lesson number with a record")
    known = {f.name: _TYPES[str(f.type)] for f in fields(LessonRecord)}
    for key, value in raw.items():
        if key not in known:
            raise ValueError(f"lesson {number}: unknown field {str(key)[:40]!r}")
        if not isinstance(value, known[key]) or (isinstance(value, bool) and bool not in known[key]):
            raise ValueError(f"lesson {number}: {key} is {str(value)[:20]!r}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ValueError(f"lesson {number}: {key} holds something other than file names")
    return int(number), LessonRecord(**raw)


class ProgressStore:
    def __init__(self, workspace_root: Path, home: Path | None = None) -> None:
        self.workspace_root = Path(workspace_root).resolve()
        self.path = (home / "progress" if home else progress_dir()) / f"{workspace_key(self.workspace_root)}.json"
        self.warning: str | None = None
        self.lessons: dict[int, LessonRecord] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = loads_json(read_regular_text(self.path, MAX_BYTES))  # a regular file only, and bounded
            if not isinstance(data, dict):
                raise ValueError("it is not a JSON object")
            version = data.get("version")
            if version != VERSION:
                raise ValueError(f"it was written by another version of the tutor (format {str(version)[:20]!r}, this one reads {VERSION})")
            lessons = data.get("lessons", {})
            if not isinstance(lessons, dict):
                raise ValueError("its lessons are not a table")
            self.lessons = dict(_record_from(n, rec) for n, rec in lessons.items())
        except (ValueError, TypeError, AttributeError, OSError, RecursionError) as exc:
            aside = self.path.with_name(f"{self.path.stem}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}.json")
            self.path.replace(aside)
            self.lessons = {}
            self.warning = f"Your progress file could not be read ({exc}); it was kept as {aside} and a new one started. Your code is untouched."

    def save(self) -> None:
        data: dict[str, Any] = {
            "version": VERSION,
            "workspace": str(self.workspace_root),
            "lessons": {str(n): vars(rec) for n, rec in sorted(self.lessons.items())},
        }
        write_text_atomic(self.path, json.dumps(data, indent=2))

    def update(self, change: Callable[[ProgressStore], None]) -> None:
        """Apply `change` to the file as it is now, under a lock, and save: another tutor
        process writing the same progress at the same time loses nothing."""
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            self.lessons = {}
            self._load()
            change(self)
            self.save()

    def record(self, number: int) -> LessonRecord:
        return self.lessons.setdefault(number, LessonRecord())

    def record_result(self, result: LessonResult, fingerprint: str, files: list[str] | None = None) -> None:
        rec = self.record(result.number)
        now = time.time()
        rec.attempts += 1
        rec.first_attempt = rec.first_attempt or now
        passed, total = result.counts
        rec.best_passed_checks = max(rec.best_passed_checks, passed)
        rec.total_checks = total
        rec.last_status = result.status
        rec.last_fingerprint = fingerprint
        rec.last_files = files
        rec.last_checked = now
        if result.passed and rec.first_passed is None:
            rec.first_passed = now

    def passed_now(self, number: int, fingerprint: str) -> bool:
        """True only if the checks passed on exactly the files as they are now."""
        rec = self.lessons.get(number)
        return bool(rec and rec.last_status == Status.PASSED and rec.last_fingerprint == fingerprint)
