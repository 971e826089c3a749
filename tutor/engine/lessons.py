"""The lesson registry: one metadata file (lessons/lessons.toml) drives the course."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tutor.engine.paths import lessons_dir

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

    def get(self, number: int) -> Lesson:
        for lesson in self.lessons:
            if lesson.number == number:
                return lesson
        raise KeyError(number)

    def numbers(self) -> list[int]:
        return [lesson.number for lesson in self.lessons]

    def lesson_for_component(self, name: str) -> Lesson | None:
        for lesson in self.lessons:
            if name in lesson.components:
                return lesson
        return None

    def part_title(self, part_id: str) -> str:
        return next((p.title for p in self.parts if p.id == part_id), part_id)


def load_registry(root: Path | None = None) -> Registry:
    root = root or lessons_dir()
    return _load(root)


@lru_cache(maxsize=4)
def _load(root: Path) -> Registry:
    meta = tomllib.loads((root / "lessons.toml").read_text(encoding="utf-8"))
    parts = tuple(Part(id=p["id"], title=p["title"]) for p in meta.get("parts", []))
    part_ids = {p.id for p in parts}
    lessons = []
    for entry in meta["lessons"]:
        if entry["part"] not in part_ids:
            raise ValueError(f"lesson {entry['number']}: unknown part {entry['part']!r}")
        lessons.append(
            Lesson(
                number=int(entry["number"]),
                id=entry["id"],
                title=entry["title"],
                part=entry["part"],
                kind=entry.get("kind", "code"),
                dir=root / entry["dir"],
                files=tuple(entry.get("files", [])),
                components=tuple(entry.get("components", [])),
                summary=entry.get("summary", ""),
                after=int(entry["after"]) if "after" in entry else None,
                min_timeout=float(entry.get("min_timeout", 0.0)),
            )
        )
    lessons.sort(key=lambda lesson: lesson.number)
    numbers = [lesson.number for lesson in lessons]
    if len(set(numbers)) != len(numbers) or (numbers and numbers[0] != 1):
        raise ValueError(f"lesson numbers must start at 1 and be unique, got {numbers}")
    for lesson in lessons:
        if lesson.after is not None and (lesson.after not in numbers or lesson.after >= lesson.number):
            raise ValueError(f"lesson {lesson.number}: after = {lesson.after} must name an earlier lesson")
    return Registry(parts=parts, lessons=tuple(lessons), root=root)
