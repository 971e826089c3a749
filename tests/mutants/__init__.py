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
    """Every module of this package with a MUTANTS list: a new lesson's module needs no registration."""
    import importlib
    import pkgutil

    found: list[Mutant] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "MUTANTS", []))
    return found
