"""The course as the faces see it: lesson states, checking, hints, solutions, resets.

The CLI and the TUI both go through this class, so a rule (what unlocks what,
what a reset keeps) lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tutor.core.atomic import write_text_atomic
from tutor.engine.lessons import Lesson, Registry, load_registry
from tutor.engine.progress import ProgressStore
from tutor.engine.results import LessonResult
from tutor.engine.runner import CheckRunner
from tutor.engine.settings import RUN_TIMEOUT, CourseSettings, load_settings
from tutor.engine.status import Status
from tutor.engine.workspace import (
    MARKER,
    Workspace,
    extract_components,
    replace_components,
)


@dataclass
class Rewrite:
    """What a solution or reset did to one file: where the learner's version went."""

    file: Path
    backup: Path | None
    whole_file: bool


class NotInCourse(KeyError):
    """A lesson that does not exist, or that the instructor's lesson subset leaves out."""

    def __str__(self) -> str:
        return self.args[0]


class SolutionsOff(Exception):
    """The instructor's settings keep the reference solutions hidden."""


def starting_files(settings: CourseSettings, registry: Registry | None = None) -> dict[str, str]:
    """The model/ files of a new workspace: stubs for the course's code lessons, and the
    reference for the lessons a subset leaves out, so that later lessons can build on them."""
    from tutor.engine.stubs import generate_stubs, solution_files

    registry = registry or load_registry()
    stubs = generate_stubs(registry)
    if settings.lessons is None:
        return {"__init__.py": "", **stubs}
    files = solution_files()
    for lesson in registry.lessons:
        if settings.includes(lesson.number) and lesson.kind == "code":
            for name in lesson.files:
                files[name] = replace_components(files[name], stubs[name], lesson.components)
    return {"__init__.py": "", **files}


class Course:
    def __init__(self, workspace: Workspace, registry: Registry | None = None, store: ProgressStore | None = None,
                 settings: CourseSettings | None = None) -> None:
        self.workspace = workspace
        self.registry = registry or load_registry()
        self.store = store or ProgressStore(workspace.root)
        self.settings = settings if settings is not None else load_settings(workspace.root / MARKER, self.registry.numbers())

    @property
    def lessons(self) -> tuple[Lesson, ...]:
        """The lessons of this course: the whole registry, or the instructor's subset."""
        return tuple(l for l in self.registry.lessons if self.settings.includes(l.number))

    def lesson(self, number: int) -> Lesson:
        if not self.settings.includes(number) and number in self.registry.numbers():
            chosen = ", ".join(str(l.number) for l in self.lessons)
            raise NotInCourse(f"lesson {number} is not part of this course; its lessons are {chosen}")
        try:
            return self.registry.get(number)
        except KeyError:
            numbers = self.registry.numbers()
            raise NotInCourse(f"there is no lesson {number}; lessons run from {numbers[0]} to {numbers[-1]}") from None

    def ready_for(self, run: str, arch: str = "gpt") -> bool:
        """Whether every lesson whose code a run calls can be relied on (see `ready`)."""
        return all(self.ready(n) for n in self.registry.run_lessons(run, arch))

    def ready(self, number: int) -> bool:
        """Whether the code of lesson `number` can be relied on: passed now or before, or
        filled in with the reference because the course leaves that lesson out."""
        if not self.settings.includes(number):
            return True
        return self.state(self.lesson(number)) in (Status.PASSED, Status.CHANGED)

    # -- states --
    def passes_now(self, lesson: Lesson, digests: dict[str, str] | None = None) -> bool:
        """Whether the lesson's last check passed on exactly what it used, as it is now: its
        files, the other files of model/ it imported, its checks and this tutor."""
        rec = self.store.lessons.get(lesson.number)
        if not rec or rec.last_status != Status.PASSED:
            return False
        return self.store.passed_now(lesson.number, self.workspace.fingerprint(lesson, rec.last_files, digests))

    def state(self, lesson: Lesson, digests: dict[str, str] | None = None) -> str:
        """passed: the checks passed on what they used, as it is now; changed: passed
        before, edited since; open: unlocked; locked: the lesson before never passed."""
        rec = self.store.lessons.get(lesson.number)
        if self.passes_now(lesson, digests):
            return Status.PASSED
        if rec and rec.first_passed is not None:
            return Status.CHANGED
        lessons = self.lessons
        index = next((i for i, l in enumerate(lessons) if l.number == lesson.number), None)
        if index is None:
            return Status.OPEN  # left out of the course: its code is the reference
        if index == 0 or lesson.number in self.settings.open:
            return Status.OPEN
        before_number = lesson.after if lesson.after is not None else lessons[index - 1].number
        if not self.settings.includes(before_number):
            return Status.OPEN  # what it builds on is filled in with the reference
        before = self.store.lessons.get(before_number)
        return Status.OPEN if before and before.first_passed is not None else Status.LOCKED

    def states(self) -> dict[int, str]:
        digests = self.workspace.file_digests()  # read once for every lesson
        return {lesson.number: self.state(lesson, digests) for lesson in self.lessons}

    def current(self) -> Lesson:
        """The lesson to work on next: the first one not passed now."""
        states = self.states()
        return next((l for l in self.lessons if states[l.number] != Status.PASSED), self.lessons[-1])

    # -- checking --
    def check(
        self,
        runner: CheckRunner,
        lessons: Iterable[Lesson],
        *,
        seed: int | None = None,
        timeout: float | None = None,
        record: bool = True,
        include_runs: bool = True,
        on_result: Callable[[LessonResult], None] | None = None,
    ) -> list[LessonResult]:
        """Check each lesson; with include_runs=False a run milestone is reported as not run
        (it measures a training run made on the learner's own machine)."""
        results = []
        for lesson in lessons:
            if lesson.kind == "run" and not include_runs:
                results.append(
                    LessonResult(lesson.number, lesson.id, lesson.title, Status.NOT_RUN, message="a run milestone: it measures your own training run")
                )
                continue
            digests = self.workspace.file_digests()  # as the checks will find them
            result = runner.check(self.workspace, lesson, seed=seed, timeout=self.timeout_for(lesson, timeout))
            if record:
                fingerprint = self.workspace.fingerprint(lesson, result.used_files, digests)
                self.store.update(lambda store: store.record_result(result, fingerprint, result.used_files))
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def timeout_for(self, lesson: Lesson, timeout: float | None = None) -> float | None:
        """The time limit of a lesson's checks: `timeout` when given; a run milestone's own
        (it recomputes a loss or an accuracy from a checkpoint, which a busy machine slows);
        else the course's check_timeout (None: the runner's default)."""
        if timeout is not None:
            return timeout
        if lesson.kind == "run":
            return self.settings.run_timeout or RUN_TIMEOUT
        return self.settings.check_timeout

    def check_in_order(
        self, runner: CheckRunner, *, seed: int | None = None, timeout: float | None = None, on_result: Callable[[LessonResult], None] | None = None
    ) -> list[LessonResult]:
        """From the first lesson on: a lesson that passed on exactly what it uses now is not run
        again (its result says unchanged); the others are checked; the first that does not
        pass ends the round, as it is the one to work on."""
        results: list[LessonResult] = []
        digests = self.workspace.file_digests()
        stopped = False
        for lesson in self.lessons:
            if stopped:  # listed, not checked: locked, or open but after the lesson to work on
                state = self.state(lesson, digests)
                status = Status.LOCKED if state == Status.LOCKED else Status.NOT_RUN
                results.append(LessonResult(lesson.number, lesson.id, lesson.title, status,
                                            message="not checked: the round stopped at the first lesson that does not pass"))
                continue
            if self.passes_now(lesson, digests):
                rec = self.store.lessons[lesson.number]
                result = LessonResult(lesson.number, lesson.id, lesson.title, Status.PASSED, unchanged=True,
                                      message="passed before on exactly these files; not run again",
                                      used_files=rec.last_files)
                results.append(result)
                if on_result:
                    on_result(result)
                continue
            checked = self.check(runner, [lesson], seed=seed, timeout=timeout, on_result=on_result)
            results.extend(checked)
            stopped = not checked[-1].passed
        return results

    # -- help --
    def next_hint(self, number: int) -> tuple[int, int, str]:
        """The next unseen hint (1-based index, total, text); repeats the last once all are seen."""
        hints = self.lesson(number).hints()
        if not hints:
            return 0, 0, "This lesson has no hints."
        seen: list[int] = []
        before: list[int] = []

        def see(store: ProgressStore) -> None:
            rec = store.record(number)
            before.append(rec.hints_seen)
            seen.append(min(rec.hints_seen, len(hints) - 1))
            rec.hints_seen = max(rec.hints_seen, seen[0] + 1)

        self.store.update(see)
        index, total, text = seen[0] + 1, len(hints), hints[seen[0]]
        if index == total:  # the last one says so, and says so again when it is asked for once more
            note = (f"You have seen all {total} hints; this was the last one again." if before[0] >= total
                    else "That was the last hint.")
            if self.settings.solutions:
                note += f" Still stuck? The reference solution comes next (`tutor solution {number}`, f7 in the app)."
            text = f"{text.rstrip()}\n\n*{note}*"
        return index, total, text

    def require_solutions(self) -> None:
        """Raises SolutionsOff when the instructor's settings hide the reference."""
        if not self.settings.solutions:
            raise SolutionsOff(
                "the reference solutions are turned off for this course (its tutor.toml says solutions = false); the hints are still there"
            )

    def solution_text(self, number: int) -> dict[str, str]:
        from tutor.engine.stubs import solution_files

        self.require_solutions()
        lesson = self.lesson(number)
        solutions = solution_files()
        self.store.update(lambda store: setattr(store.record(number), "solution_seen", True))
        return {name: extract_components(solutions[name], lesson.components) for name in lesson.files}

    def apply_solution(self, number: int) -> list[Rewrite]:
        from tutor.engine.stubs import solution_files

        self.require_solutions()
        return self._rewrite(number, solution_files())

    def reset(self, number: int) -> list[Rewrite]:
        from tutor.engine.stubs import generate_stubs

        return self._rewrite(number, generate_stubs(self.registry))

    def _rewrite(self, number: int, donors: dict[str, str]) -> list[Rewrite]:
        """Swap this lesson's definitions for the donor's, keeping the learner's other work.

        A file that does not parse cannot be edited piecewise: it is replaced whole,
        and the backup keeps every line of it.
        """
        lesson = self.lesson(number)
        rewrites = []
        for name in lesson.files:
            path = self.workspace.file(name)
            backup = self.workspace.backup(name)
            whole = False
            try:
                current = path.read_text(encoding="utf-8")
                text = replace_components(current, donors[name], lesson.components)
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                text, whole = donors[name], True
            write_text_atomic(path, text)
            rewrites.append(Rewrite(path, backup, whole))
        return rewrites
