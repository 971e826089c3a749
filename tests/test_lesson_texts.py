"""Every lesson's page and hints are there and well formed; hints stop short of the solution."""

from __future__ import annotations

import re

import pytest

from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files
from tutor.engine.workspace import extract_components

LESSONS = load_registry().lessons


def _table_rows(text: str) -> list[list[str]]:
    """Each Markdown table as its rows of cells (code fences skipped)."""
    tables, current, fenced = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


MODERN = [l for l in LESSONS if l.part == "modern"]


@pytest.mark.parametrize("lesson", MODERN, ids=lambda l: f"L{l.number:02d}")
def test_tables_have_as_many_cells_in_every_row_as_in_their_header(lesson):
    """A literal | inside a cell cuts it in two; the row then has one cell too many."""
    for table in _table_rows(lesson.text()):
        widths = {row.count("|") for row in table}
        assert len(widths) == 1, (lesson.number, table)


@pytest.mark.parametrize("lesson", MODERN, ids=lambda l: f"L{l.number:02d}")
def test_modern_lessons_follow_the_lesson_anatomy(lesson):
    text = lesson.text()
    for heading in ("## Shapes", "## Your task", "## Pitfalls", "## See it work", "## Read more"):
        assert heading in text, (lesson.number, heading)
    assert (lesson.dir / "see.py").is_file()
    hints = lesson.hints()
    assert len(hints) == 3 and len(set(hints)) == 3


@pytest.mark.parametrize("lesson", MODERN, ids=lambda l: f"L{l.number:02d}")
def test_no_hint_holds_a_whole_solution(lesson):
    """The last hint comes near the answer, but leaves at least part of every component to write."""
    solution = extract_components(solution_files()[lesson.files[0]], lesson.components)
    body = [line.strip() for line in solution.splitlines()]
    body = [line for line in body if line and not line.startswith(("#", '"""', "def ", "class ", "super()"))]
    for hint in lesson.hints():
        shown = {line.strip() for line in re.findall(r"^.*$", hint, re.M)}
        assert not set(body) <= shown, lesson.number


def test_the_kv_cache_figures_of_lesson_20_are_the_arithmetic():
    from tutor.checks.llama_refs import kv_cache_bytes_per_token

    text = load_registry().get(20).text()
    full, grouped = kv_cache_bytes_per_token(32, 32, 128), kv_cache_bytes_per_token(32, 8, 128)
    assert (full, grouped) == (524_288, 131_072)
    assert f"{full:,}" in text and f"{grouped:,}" in text
    assert "2 GiB" in text and "512 MiB" in text and full * 4096 == 2 * 2**30 and grouped * 4096 == 512 * 2**20
