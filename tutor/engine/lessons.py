"""The lesson registry: one metadata file (lessons/lessons.toml) drives the course."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tutor.core.locations import lessons_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Part:
    id: str
    title: str


@dataclass(frozen=True)
class Lesson:
    number: int
    id: str
    title: str
    part: str
    kind: str  # "code": the learner writes components; "run": a training milestone
    dir: Path
    files: tuple[str, ...]  # files of the workspace's model/ package
    components: tuple[str, ...]  # top-level names of the contract this lesson unlocks
    summary: str = ""
    # The lesson whose pass opens this one; None: the lesson before it in the course.
    # A part beyond the core names the lesson it builds on (e.g. 13), so it opens early.
    after: int | None = None
    # Seconds its checks need at least, whatever the course's default: a run milestone that
    # regenerates a model's answers takes longer than a code lesson's checks.
    min_timeout: float = 0.0

    @property
    def text_path(self) -> Path:
        return self.dir / "lesson.md"

    @property
    def checks_path(self) -> Path:
        return self.dir / "checks.py"

    def text(self) -> str:
        return self.text_path.read_text(encoding="utf-8")

    def hints(self) -> list[str]:
        """Hints from nudge to near-answer: hints.md, one hint per `## ` section."""
        path = self.dir / "hints.md"
        if not path.is_file():
            return []
        hints: list[str] = []
        for block in path.read_text(encoding="utf-8").split("\n## ")[1:]:
            _title, _, body = block.partition("\n")
            hints.append(body.strip())
        return hints

    @property
    def label(self) -> str:
        return f"Lesson {self.number} · {self.title}"


@dataclass(frozen=True)
class Registry:
    parts: tuple[Part, ...]
    lessons: tuple[Lesson, ...]
    root: Path = field(default_factory=lessons_dir)
    # The lessons whose code each kind of run calls, and each architecture's model lessons.
    runs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    architectures: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def get(self, number: int) -> Lesson:
        for lesson in self.lessons:
            if lesson.number == number:
                return lesson
        raise KeyError(number)

    def numbers(self) -> list[int]:
        return [lesson.number for lesson in self.lessons]

    def lesson_for_component(self, name: str, file: str | None = None) -> Lesson | None:
        """The lesson that unlocks `name`; with `file`, the one whose files hold it there.

        A name may exist in two files (layers.py and llama.py both have a FeedForward
        and a TransformerBlock), so a caller that knows the file should pass it.
        """
        for lesson in self.lessons:
            if name in lesson.components and (file is None or file in lesson.files):
                return lesson
        return None

    def run_lessons(self, run: str, arch: str = "gpt") -> tuple[int, ...]:
        """The lessons whose code a run of this kind calls with this architecture's model,
        in order: the ones `tutor train` checks first."""
        if run not in self.runs:
            raise KeyError(f"the course file has no run {run!r} (its runs are {', '.join(self.runs)})")
        if arch not in self.architectures:
            raise KeyError(f"the course file has no architecture {arch!r} ({', '.join(self.architectures)})")
        return tuple(sorted({*self.runs[run], *self.architectures[arch]}))

    def part_title(self, part_id: str) -> str:
        return next((p.title for p in self.parts if p.id == part_id), part_id)


def load_registry(root: Path | None = None) -> Registry:
    root = root or lessons_dir()
    return _load(root)


FORMAT_VERSION = 1
KINDS = ("code", "run")
# Each key of a course file: its type, and whether an entry must have it.
_TOP: dict[str, tuple] = {"format_version": (int, True), "parts": (list, True), "lessons": (list, True),
                          "runs": (dict, True), "architectures": (dict, True)}
_PART = {"id": (str, True), "title": (str, True)}
_LESSON = {"number": (int, True), "id": (str, True), "dir": (str, True), "title": (str, True), "part": (str, True),
           "kind": (str, True), "files": (list, True), "components": (list, True), "summary": (str, False),
           "after": (int, False), "min_timeout": ((int, float), False)}


class CourseFileError(ValueError):
    """A course file (lessons.toml) with a mistake; the message names the entry and the key."""


def _check_keys(entry: object, schema: dict[str, tuple[type, bool]], where: str) -> dict:
    if not isinstance(entry, dict):
        raise CourseFileError(f"{where} is not a table")
    for key in entry:
        if key not in schema:
            raise CourseFileError(f"{where}: unknown key {key!r} (the keys are {', '.join(schema)})")
    for key, (kind, required) in schema.items():
        if key not in entry:
            if required:
                raise CourseFileError(f"{where}: {key} is missing")
            continue
        value = entry[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            name = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
            raise CourseFileError(f"{where}: {key} must be a {name}, not {value!r}")
    return entry


_TOP_LEVEL = re.compile(r"^(?:(?:async\s+)?def|class)\s+(\w+)|^(\w+)\s*(?::[^=\n]*)?=(?!=)", re.M)


@lru_cache(maxsize=64)
def _defined_names(path: Path) -> frozenset[str]:
    """The names a reference file defines at its top level (functions, classes, assignments),
    read by a pattern on lines that start in column 0: the course loads on every start of
    the app, and parsing each reference file into a tree cost most of that."""
    text = path.read_text(encoding="utf-8")
    return frozenset(a or b for a, b in _TOP_LEVEL.findall(text))


@lru_cache(maxsize=4)
def _load(root: Path) -> Registry:
    """The course, validated: an unknown or misspelt key, a missing field, a duplicate,
    or a folder, file or component that does not exist is an error naming the entry."""
    path = root / "lessons.toml"
    try:
        meta = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseFileError(f"{path} is not valid TOML: {exc}") from None
    _check_keys(meta, _TOP, str(path))
    if meta["format_version"] != FORMAT_VERSION:
        raise CourseFileError(f"{path}: format_version {meta['format_version']} is not one this tutor reads "
                              f"({FORMAT_VERSION})")
    parts = []
    for index, raw in enumerate(meta["parts"]):
        entry = _check_keys(raw, _PART, f"{path}: part {index + 1}")
        parts.append(Part(id=entry["id"], title=entry["title"]))
    part_ids = [p.id for p in parts]
    if len(set(part_ids)) != len(part_ids):
        raise CourseFileError(f"{path}: two parts share an id ({', '.join(sorted({i for i in part_ids if part_ids.count(i) > 1}))})")
    references = root / "reference"
    lessons = []
    for index, raw in enumerate(meta["lessons"]):
        where = f"{path}: lesson {raw.get('number', index + 1) if isinstance(raw, dict) else index + 1}"
        entry = _check_keys(raw, _LESSON, where)
        if entry["part"] not in part_ids:
            raise CourseFileError(f"{where}: unknown part {entry['part']!r} (the parts are {', '.join(part_ids)})")
        if entry["kind"] not in KINDS:
            raise CourseFileError(f"{where}: kind must be one of {', '.join(KINDS)}, not {entry['kind']!r}")
        folder = root / entry["dir"]
        needed = ["lesson.md", "checks.py"]
        for name in needed:
            if not (folder / name).is_file():
                raise CourseFileError(f"{where}: {entry['dir']}/{name} does not exist")
        if entry["kind"] == "code" and (not entry["files"] or not entry["components"]):
            raise CourseFileError(f"{where}: a code lesson names its files and components")
        if not all(isinstance(name, str) for name in [*entry["files"], *entry["components"]]):
            raise CourseFileError(f"{where}: files and components are lists of names")
        # A grader's copy of the lessons leaves the reference solutions out: check them where they are.
        if references.is_dir():
            for name in entry["files"]:
                if not (references / name).is_file():
                    raise CourseFileError(f"{where}: the file {name!r} has no reference in {references}")
            defined = set().union(*(_defined_names(references / name) for name in entry["files"]))
            for component in entry["components"]:
                if component not in defined:
                    raise CourseFileError(f"{where}: the component {component!r} is not defined in "
                                          f"{', '.join(entry['files'])}")
        lessons.append(
            Lesson(
                number=entry["number"],
                id=entry["id"],
                title=entry["title"],
                part=entry["part"],
                kind=entry["kind"],
                dir=folder,
                files=tuple(entry["files"]),
                components=tuple(entry["components"]),
                summary=entry.get("summary", ""),
                after=entry.get("after"),
                min_timeout=float(entry.get("min_timeout", 0.0)),
            )
        )
    for key in ("number", "id", "dir"):
        values = [getattr(lesson, key) if key != "dir" else lesson.dir.name for lesson in lessons]
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:
            raise CourseFileError(f"{path}: two lessons share the {key} {', '.join(twice)}")
    lessons.sort(key=lambda lesson: lesson.number)
    numbers = [lesson.number for lesson in lessons]
    if numbers and numbers[0] != 1:
        raise CourseFileError(f"{path}: the first lesson must be number 1, not {numbers[0]}")
    for lesson in lessons:
        if lesson.after is not None and (lesson.after not in numbers or lesson.after >= lesson.number):
            raise CourseFileError(f"{path}: lesson {lesson.number}: after = {lesson.after} must name an earlier lesson")
    runs = {name: _lesson_list(value, numbers, f"{path}: runs.{name}") for name, value in meta["runs"].items()}
    architectures = {name: _lesson_list(value, numbers, f"{path}: architectures.{name}")
                     for name, value in meta["architectures"].items()}
    return Registry(parts=tuple(parts), lessons=tuple(lessons), root=root, runs=runs, architectures=architectures)


def _lesson_list(value: object, numbers: list[int], where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        raise CourseFileError(f"{where} must be a list of lesson numbers, not {value!r}")
    unknown = [n for n in value if n not in numbers]
    if unknown:
        raise CourseFileError(f"{where}: no lesson {', '.join(map(str, unknown))} in the course")
    return tuple(value)
