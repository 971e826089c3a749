"""The lesson texts and hints as a learner reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files
from tutor.engine.workspace import extract_components

REGISTRY = load_registry()
CODE_LESSONS = [lesson for lesson in REGISTRY.lessons if lesson.kind == "code"]


@pytest.mark.parametrize("lesson", CODE_LESSONS, ids=lambda lesson: f"L{lesson.number:02d}")
def test_no_hint_is_the_solution(lesson):
    """Hints go from a nudge to nearly the answer; the last one still leaves the learner work."""
    solutions = solution_files()
    source = "\n".join(extract_components(solutions[name], lesson.components) for name in lesson.files)
    lines = {line.strip() for line in source.splitlines()
             if len(line.strip()) > 12 and not line.strip().startswith(("#", '"""', "def ", "class ", "@"))}
    for index, hint in enumerate(lesson.hints(), 1):
        shared = lines & {line.strip() for line in hint.splitlines()}
        assert len(shared) <= 0.3 * len(lines), f"hint {index} gives away {len(shared)} of {len(lines)} solution lines: {sorted(shared)}"


def _cells(row: str) -> int:
    """Cells of a Markdown table row: unescaped pipes split it, inside backticks too (GFM)."""
    pipes = sum(1 for i, c in enumerate(row) if c == "|" and (i == 0 or row[i - 1] != "\\"))
    return pipes - 1


@pytest.mark.parametrize("lesson", REGISTRY.lessons, ids=lambda lesson: f"L{lesson.number:02d}")
def test_no_table_cell_is_cut(lesson):
    """A literal | inside a cell starts a new cell, and Markdown drops the cells past the
    header's count: the text after it vanishes, in `tutor show` and in the app alike."""
    texts = {"lesson.md": lesson.text()}
    for index, hint in enumerate(lesson.hints(), 1):
        texts[f"hint {index}"] = hint
    for where, text in texts.items():
        header = None
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped.startswith("|"):
                header = None
                continue
            if header is None:
                header = _cells(stripped)
                continue
            assert _cells(stripped) == header, f"{where}, line {number}: {_cells(stripped)} cells under a header of {header}: {stripped}"


def test_every_lesson_renders_as_markdown():
    from markdown_it import MarkdownIt

    parser = MarkdownIt("gfm-like")
    for lesson in REGISTRY.lessons:
        tokens = parser.parse(lesson.text())
        assert any(t.type == "heading_open" for t in tokens), f"lesson {lesson.number} has no heading"


@pytest.mark.parametrize("lesson", REGISTRY.lessons, ids=lambda lesson: f"L{lesson.number:02d}")
def test_diagrams_fit_an_80_column_terminal(lesson):
    """A code block is never wrapped by `tutor show` at 80 columns (Rich indents it a little).
    A block fenced as ```ids holds whole rows of token ids, which are kept whole."""
    inside, ids = False, False
    for number, line in enumerate(lesson.text().splitlines(), 1):
        if line.strip().startswith("```"):
            inside, ids = not inside, line.strip() == "```ids"
            continue
        assert not inside or ids or len(line) <= 76, f"line {number} is {len(line)} characters: {line}"


@pytest.mark.parametrize("change, words", [
    (lambda t: t.replace('title = "Words to ids"', 'titel = "Words to ids"', 1), "lesson 2: unknown key 'titel'"),
    (lambda t: t.replace('kind = "code"\nfiles = ["warmup.py"]', 'files = ["warmup.py"]', 1), "lesson 1: kind is missing"),
    (lambda t: t.replace("number = 3\n", "number = 2\n", 1), "two lessons share the number 2"),
    (lambda t: t.replace('components = ["softmax"]', 'components = ["softmx"]', 1), "the component 'softmx' is not defined"),
    (lambda t: t.replace('dir = "04_sliding_windows"', 'dir = "04_sliding_window"', 1), "04_sliding_window/lesson.md does not exist"),
    (lambda t: t.replace("format_version = 1", "format_version = 2", 1), "format_version 2"),
    (lambda t: t.replace("instruct = [11, 12, 13, 22]", "instruct = [11, 12, 13, 99]", 1), "runs.instruct: no lesson 99"),
    (lambda t: t.replace("llama = [18, 19, 20, 21]", 'llama = ["18"]', 1), "architectures.llama must be a list of lesson numbers"),
    (lambda t: t.replace("[architectures]\n", "", 1).replace("gpt = [10]\nllama = [18, 19, 20, 21]\n", "", 1),
     "architectures is missing"),
])
def test_a_mistake_in_the_course_file_is_named(tmp_path, change, words):
    import shutil

    from tutor.engine.lessons import CourseFileError, load_registry

    root = tmp_path / "lessons"
    shutil.copytree(REGISTRY.root, root)
    path = root / "lessons.toml"
    changed = change(path.read_text())
    assert changed != path.read_text()
    path.write_text(changed)
    with pytest.raises(CourseFileError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_registry(root)


@pytest.mark.parametrize("lesson", [l for l in load_registry().lessons if l.kind == "code"], ids=lambda l: f"lesson{l.number}")
def test_code_lessons_link_to_the_components_they_ask_for(lesson):
    """The learner-facing API has one home: each code lesson points there, and every name it
    unlocks is described there under its file."""
    components = (Path(__file__).resolve().parents[1] / "docs" / "components.md").read_text(encoding="utf-8")
    assert "docs/components.md" in lesson.text()
    for file in lesson.files:
        assert f"`model/{file}`" in components, f"docs/components.md has no section for model/{file}"
    for name in lesson.components:
        assert f"`{name}" in components, f"docs/components.md does not describe {name} (lesson {lesson.number})"
