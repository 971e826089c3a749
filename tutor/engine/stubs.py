"""One source for solutions and stubs.

The reference solutions in lessons/reference/ mark the learner's part of each
function with `# BEGIN SOLUTION` / `# END SOLUTION` lines. The stub keeps
everything else (imports, signatures, docstrings, the given constants) and puts a
`NotImplementedError` naming the lesson in place of each region.

Regenerate the stubs in model/ with `python -m tutor.engine.stubs`; the test suite
fails when they drift (`--check` does the same from the shell).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from tutor.core.locations import reference_dir
from tutor.engine.lessons import Registry, load_registry

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"


def _enclosing_function(tree: ast.Module, lineno: int) -> str | None:
    """The dotted name (Class.method) of the innermost function holding `lineno`."""
    best: str | None = None

    def visit(node: ast.AST, prefix: str) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if child.lineno <= lineno <= (child.end_lineno or child.lineno):
                    if not isinstance(child, ast.ClassDef):
                        best = name
                    visit(child, name + ".")

    visit(tree, "")
    return best


def _regions(lines: list[str], filename: str) -> list[tuple[int, int]]:
    """(begin, end) line indexes of each solution region, checked for pairing."""
    regions, start = [], None
    for i, line in enumerate(lines):
        marker = line.strip()
        if marker == BEGIN:
            if start is not None:
                raise ValueError(f"{filename}:{i + 1}: nested {BEGIN}")
            start = i
        elif marker == END:
            if start is None:
                raise ValueError(f"{filename}:{i + 1}: {END} without {BEGIN}")
            regions.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"{filename}:{start + 1}: {BEGIN} is never closed")
    return regions


def make_stub(source: str, filename: str, registry: Registry) -> str:
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source, filename=filename)
    out: list[str] = []
    cursor = 0
    for begin, end in _regions(lines, filename):
        out.extend(lines[cursor:begin])
        qualname = _enclosing_function(tree, begin + 1)
        if qualname is None:
            raise ValueError(f"{filename}:{begin + 1}: a solution region must sit inside a function")
        lesson = registry.lesson_for_component(qualname.split(".")[0], filename)
        if lesson is None:
            raise ValueError(f"{filename}: {qualname} belongs to no lesson in lessons.toml")
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        out.append(f"{indent}# Lesson {lesson.number}: your code here (`tutor hint {lesson.number}` helps).\n")
        out.append(
            f'{indent}raise NotImplementedError("{qualname} is not written yet '
            f'(lesson {lesson.number}: {lesson.title})")\n'
        )
        cursor = end + 1
    out.extend(lines[cursor:])
    return "".join(out)


def strip_markers(source: str) -> str:
    """The reference solution as a learner would write it: markers removed."""
    return "".join(
        line for line in source.splitlines(keepends=True) if line.strip() not in (BEGIN, END)
    )


def reference_files() -> dict[str, str]:
    """{filename: source} of the reference package, markers included."""
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(reference_dir().glob("*.py"))
    }


def generate_stubs(registry: Registry | None = None) -> dict[str, str]:
    registry = registry or load_registry()
    return {name: make_stub(src, name, registry) for name, src in reference_files().items()}


def solution_files() -> dict[str, str]:
    return {name: strip_markers(src) for name, src in reference_files().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "model")
    args = parser.parse_args(argv)
    drift = []
    for name, stub in generate_stubs().items():
        target = args.out / name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != stub:
            drift.append(name)
            if not args.check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(stub, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    print(f"{len(drift)} stub file(s) {verb}: {', '.join(drift) or '-'}")
    return 1 if (args.check and drift) else 0


if __name__ == "__main__":
    sys.exit(main())
