"""Instructor settings: the `[course]` table of a workspace's tutor.toml.

A workshop leader writes them once (`tutor init --from workshop.toml` stamps
them into every new workspace): which lessons are open from the start, a lesson
subset for a short session, the time limit of one lesson's checks, and whether
the reference solutions may be revealed. A workspace without the table gets
the whole course, in order, with solutions available.

They shape what a learner sees; they are not a lock. `tutor grade` checks
with the grader's own lesson list and limits and ignores them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.engine.workspace import WorkspaceError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

EXAMPLE = """\
[course]
# Lessons open from the start; the others unlock when the lesson before passes.
# A list of numbers and ranges ("5-8"), or "all".
open = [1]
# Only these lessons, for a short workshop. The code of the lessons left out is
# filled in with the reference solution, so that later lessons can build on it.
lessons = "1-17"
# Seconds allowed for one lesson's checks.
check_timeout = 10
# Seconds allowed for a run milestone's check (14, 17, 23): it recomputes a loss or an
# accuracy from the run's checkpoint.
run_timeout = 120
# Whether learners may see or apply the reference solutions.
solutions = true
"""

KEYS = ("open", "lessons", "check_timeout", "run_timeout", "solutions")
RUN_TIMEOUT = 120.0  # seconds for a run milestone's check, unless the course says otherwise


class SettingsError(WorkspaceError):
    """A mistake in the settings; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class CourseSettings:
    open: frozenset[int] = frozenset()  # beyond the first lesson, which is always open
    lessons: tuple[int, ...] | None = None  # None: the whole course
    check_timeout: float | None = None  # None: the runner's default
    solutions: bool = True
    run_timeout: float | None = None  # None: RUN_TIMEOUT

    @property
    def is_default(self) -> bool:
        return self == CourseSettings()

    def includes(self, number: int) -> bool:
        return self.lessons is None or number in self.lessons

    def describe(self) -> str:
        """One line for the lesson map and `tutor list`; empty for the whole course."""
        parts = []
        if self.lessons is not None:
            parts.append(f"lessons {ranges(self.lessons)}")
        if self.open:
            parts.append(f"open: {ranges(self.open)}")
        if self.check_timeout is not None:
            parts.append(f"{self.check_timeout:g} s per check")
        if self.run_timeout is not None:
            parts.append(f"{self.run_timeout:g} s per run milestone")
        if not self.solutions:
            parts.append("solutions hidden")
        return " · ".join(parts)

    def to_toml(self, known: Iterable[int]) -> str:
        """The `[course]` table, with a comment on each key, for tutor.toml."""
        known = sorted(known)
        lines = ["[course]"]
        if self.open:
            value = '"all"' if set(known) <= self.open else _numbers_toml(self.open)
            lines += ["# Lessons open from the start; the others unlock when the lesson before passes.", f"open = {value}"]
        if self.lessons is not None:
            lines += ["# Only these lessons; the code of the others is filled in with the reference.",
                      f"lessons = {_numbers_toml(self.lessons)}"]
        if self.check_timeout is not None:
            lines += ["# Seconds allowed for one lesson's checks.", f"check_timeout = {self.check_timeout:g}"]
        if self.run_timeout is not None:
            lines += ["# Seconds allowed for a run milestone's check.", f"run_timeout = {self.run_timeout:g}"]
        if not self.solutions:
            lines += ["# The reference solutions cannot be revealed.", "solutions = false"]
        return "\n".join(lines) + "\n"


def ranges(numbers: Iterable[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def _numbers_toml(numbers: Iterable[int]) -> str:
    return "[" + ", ".join(str(n) for n in sorted(numbers)) + "]"


def parse_numbers(value: Any, known: Iterable[int], where: str, every: Iterable[int] | None = None) -> tuple[int, ...]:
    """Lesson numbers from a TOML value: 3, "2-5", "all", or a list of those.

    "all" means `every` (the course's lessons) when given, else every known lesson.
    """
    known = sorted(known)
    items = value if isinstance(value, list) else [value]
    numbers: list[int] = []
    for item in items:
        if isinstance(item, bool):
            item = None  # True/False is not a lesson number
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, int):
            numbers.append(item)
        elif isinstance(item, str) and item.strip().lower() == "all":
            numbers.extend(known if every is None else every)
        elif isinstance(item, str) and "-" in item:
            first, _, last = item.partition("-")
            try:
                a, b = int(first), int(last)
            except ValueError:
                raise SettingsError(f"{where}: {item!r} is not a range like \"5-8\"") from None
            if a > b:
                raise SettingsError(f"{where}: the range {item!r} runs backwards")
            if a < known[0] or b > known[-1]:  # checked before anything is expanded
                raise SettingsError(f"{where}: the range {item!r} goes past the course's lessons "
                                    f"(lessons run from {known[0]} to {known[-1]})")
            numbers.extend(n for n in known if a <= n <= b)
        else:
            raise SettingsError(f"{where}: {item!r} is not a lesson number, a range like \"5-8\" or \"all\"")
    unknown = sorted(set(numbers) - set(known))
    if unknown:
        shown = ", ".join(map(str, unknown)) if len(unknown) <= 3 else f"{unknown[0]}, {unknown[1]}, … {unknown[-1]}"
        raise SettingsError(f"{where}: there is no lesson {shown} "
                            f"(lessons run from {known[0]} to {known[-1]})")
    return tuple(sorted(set(numbers)))


def parse_settings(table: dict[str, Any], known: Iterable[int], source: str) -> CourseSettings:
    """Settings from a `[course]` table; any mistake raises SettingsError naming the key."""
    known = tuple(known)
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SettingsError(f"{source}: unknown setting {', '.join(map(repr, unknown))} in [course]; "
                            f"the settings are {', '.join(KEYS)}")
    lessons = None
    if "lessons" in table:
        lessons = parse_numbers(table["lessons"], known, f"{source}: course.lessons")
        if not lessons:
            raise SettingsError(f"{source}: course.lessons is empty; name at least one lesson")
    opened = frozenset(parse_numbers(table.get("open", []), known, f"{source}: course.open", every=lessons))
    if lessons is not None and opened - set(lessons):
        outside = ", ".join(map(str, sorted(opened - set(lessons))))
        raise SettingsError(f"{source}: course.open names lesson {outside}, which course.lessons leaves out")
    timeout = _seconds(table, "check_timeout", source)
    run_timeout = _seconds(table, "run_timeout", source)
    solutions = table.get("solutions", True)
    if not isinstance(solutions, bool):
        raise SettingsError(f"{source}: course.solutions must be true or false, not {solutions!r}")
    return CourseSettings(open=opened, lessons=lessons, check_timeout=timeout, solutions=solutions, run_timeout=run_timeout)


def _seconds(table: dict[str, Any], key: str, source: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= 3600:
        raise SettingsError(f"{source}: course.{key} must be a number of seconds from 0.1 to 3600, not {value!r}")
    return float(value)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None


def load_settings(path: Path, known: Iterable[int], *, required: bool = False) -> CourseSettings:
    """The `[course]` table of a TOML file: a workspace's tutor.toml (no table: the whole
    course), or a workshop's settings file (required: a file without one is a mistake)."""
    data = read_toml(path)
    table = data.get("course")
    if table is None and required:
        raise SettingsError(f"{path} has no [course] table; write the settings under [course], for example:\n\n"
                            f"{EXAMPLE}\n(docs/workshop.md explains each one)")
    if not isinstance(table or {}, dict):
        raise SettingsError(f"{path}: `course` must be a table ([course])")
    return parse_settings(table or {}, known, str(path))
