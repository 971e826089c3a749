"""Mutants of the reference solutions: one per common mistake.

Each mutant is a small text edit of a reference file (markers stripped). The
test suite proves that the reference passes every check of its lesson and that
every mutant fails a check whose message names the mistake (`expect`, matched
case-insensitively).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    lesson: int
    name: str
    file: str
    edits: tuple[tuple[str, str], ...]
    expect: str

    @property
    def id(self) -> str:
        return f"L{self.lesson:02d}-{self.name}"


def mutant(lesson: int, name: str, file: str, *edits: tuple[str, str], expect: str) -> Mutant:
    return Mutant(lesson, name, file, tuple(edits), expect)


def all_mutants() -> list[Mutant]:
    from tests.mutants import lessons_01_04, lessons_05_13, lessons_15_16, lessons_22

    return [m for module in (lessons_01_04, lessons_05_13, lessons_15_16, lessons_22) for m in module.MUTANTS]
