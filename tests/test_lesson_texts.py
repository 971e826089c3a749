"""The modern part's pages follow the lesson anatomy, and their figures are the arithmetic.

Tables, hints and diagrams of every lesson are tested in test_lessons_text.py."""

from __future__ import annotations

import pytest

from tutor.engine.lessons import load_registry

LESSONS = load_registry().lessons


MODERN = [l for l in LESSONS if l.part == "modern"]


@pytest.mark.parametrize("lesson", MODERN, ids=lambda l: f"L{l.number:02d}")
def test_modern_lessons_follow_the_lesson_anatomy(lesson):
    text = lesson.text()
    for heading in ("## Shapes", "## Your task", "## Pitfalls", "## See it work", "## Read more"):
        assert heading in text, (lesson.number, heading)
    assert (lesson.dir / "see.py").is_file()
    hints = lesson.hints()
    assert len(hints) == 3 and len(set(hints)) == 3


def test_the_kv_cache_figures_of_lesson_20_are_the_arithmetic():
    from tutor.checks.llama_refs import kv_cache_bytes_per_token

    text = load_registry().get(20).text()
    full, grouped = kv_cache_bytes_per_token(32, 32, 128), kv_cache_bytes_per_token(32, 8, 128)
    assert (full, grouped) == (524_288, 131_072)
    assert f"{full:,}" in text and f"{grouped:,}" in text
    assert "2 GiB" in text and "512 MiB" in text and full * 4096 == 2 * 2**30 and grouped * 4096 == 512 * 2**20
