"""Every lesson check proven both ways: the reference passes, each mutant fails by name."""

from __future__ import annotations

import pytest

from tests.conftest import apply_edits
from tests.mutants import all_mutants
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import solution_files

pytestmark = pytest.mark.slow  # every lesson's checks on the reference and on each mutant

REGISTRY = load_registry()
CODE_LESSONS = [l for l in REGISTRY.lessons if l.kind == "code"]
MUTANTS = all_mutants()


@pytest.mark.parametrize("lesson", CODE_LESSONS, ids=lambda l: f"L{l.number:02d}")
def test_reference_passes(lesson, runner, make_workspace):
    result = runner.check(make_workspace(), lesson)
    failures = [(c.name, c.message) for c in result.checks if c.status != "passed"]
    assert result.status == "passed", (result.message, failures)
    assert len(result.checks) >= 4


@pytest.mark.parametrize("lesson", CODE_LESSONS, ids=lambda l: f"L{l.number:02d}")
def test_stub_fails_as_not_implemented(lesson, runner, make_workspace):
    result = runner.check(make_workspace(solutions=False), lesson)
    assert result.status == "failed"
    assert all(c.status == "failed" for c in result.checks)
    assert "not implemented yet" in result.checks[0].message.lower()
    assert f"lesson {lesson.number}" in result.checks[0].message


@pytest.mark.parametrize("lesson", CODE_LESSONS, ids=lambda l: f"L{l.number:02d}")
def test_each_code_lesson_has_four_mutants(lesson):
    assert len([m for m in MUTANTS if m.lesson == lesson.number]) >= 4


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_mutant_fails_naming_the_mistake(mutant, runner, make_workspace):
    source = solution_files()[mutant.file]
    ws = make_workspace(overrides={mutant.file: apply_edits(source, mutant.edits, mutant.id)})
    result = runner.check(ws, REGISTRY.get(mutant.lesson))
    assert result.status != "passed", f"{mutant.id} passed every check"
    messages = [c.message for c in result.checks if c.status != "passed"] + [result.message]
    assert any(mutant.expect.lower() in m.lower() for m in messages), (
        f"{mutant.id}: no failure message mentions {mutant.expect!r}:\n" + "\n---\n".join(messages)
    )
