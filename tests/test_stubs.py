"""One source for solutions and stubs: model/ must equal what the reference generates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tutor.engine.lessons import load_registry
from tutor.engine.stubs import generate_stubs, make_stub, reference_files, strip_markers

ROOT = Path(__file__).resolve().parents[1]


def test_model_stubs_are_in_sync_with_the_reference():
    for name, stub in generate_stubs().items():
        current = (ROOT / "model" / name).read_text(encoding="utf-8")
        assert current == stub, f"model/{name} drifted: run `python -m tutor.engine.stubs`"


def _api(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """Module-level functions and class methods: their arguments and docstrings."""
    found = {}
    for node in tree.body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
        for n in members:
            if isinstance(n, ast.FunctionDef):
                found[prefix + n.name] = (ast.dump(n.args), ast.get_docstring(n))
    return found


def test_stubs_keep_signatures_and_docstrings_and_name_the_lesson():
    registry = load_registry()
    for name, source in reference_files().items():
        stub = generate_stubs()[name]
        ref_tree, stub_tree = ast.parse(strip_markers(source)), ast.parse(stub)
        assert _api(ref_tree) == _api(stub_tree)
        assert "BEGIN SOLUTION" not in stub
        for lesson in registry.lessons:
            if name in lesson.files:
                assert f"(lesson {lesson.number}: {lesson.title})" in stub


def test_every_component_of_a_lesson_exists_in_its_files():
    files = reference_files()
    for lesson in load_registry().lessons:
        defined = set()
        for name in lesson.files:
            defined |= {n.name for n in ast.parse(files[name]).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert set(lesson.components) <= defined, lesson.number


def test_unbalanced_markers_are_refused():
    registry = load_registry()
    with pytest.raises(ValueError, match="never closed"):
        make_stub("def softmax(x):\n    # BEGIN SOLUTION\n    return x\n", "warmup.py", registry)
    with pytest.raises(ValueError, match="inside a function"):
        make_stub("# BEGIN SOLUTION\nX = 1\n# END SOLUTION\n", "warmup.py", registry)


def test_stub_check_command_reports_drift(tmp_path, capsys):
    from tutor.engine.stubs import main

    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0


def test_a_name_in_two_files_names_the_lesson_of_its_own_file():
    """FeedForward and TransformerBlock exist in layers.py (lessons 8-9) and in llama.py (18, 21)."""
    registry = load_registry()
    stubs = generate_stubs(registry)
    assert registry.lesson_for_component("FeedForward", "layers.py").number == 8
    assert registry.lesson_for_component("FeedForward", "llama.py").number == 18
    assert registry.lesson_for_component("TransformerBlock", "llama.py").number == 21
    assert "FeedForward.__init__ is not written yet (lesson 18:" in stubs["llama.py"]
    assert "FeedForward.__init__ is not written yet (lesson 8:" in stubs["layers.py"]
    assert "TransformerBlock.forward is not written yet (lesson 21:" in stubs["llama.py"]
    assert "TransformerBlock.forward is not written yet (lesson 9:" in stubs["layers.py"]
