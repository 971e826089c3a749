"""Shared fixtures: an isolated data home, one warm check runner, workspaces on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.engine.runner import CheckRunner
from tutor.engine.stubs import generate_stubs, solution_files
from tutor.engine.workspace import Workspace, write_workspace


@pytest.fixture(autouse=True)
def tutor_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TUTOR_HOME", str(home))
    # A check server outlives the command that started it: tests check without one, except
    # the server's own tests (tests/test_check_server.py), which start and stop theirs.
    monkeypatch.setenv("TUTOR_CHECK_SERVER", "0")
    monkeypatch.setenv("TUTOR_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
    return home


@pytest.fixture(scope="session")
def runner():
    # Generous limits: CI machines are slow and share two cores.
    with CheckRunner(timeout=60) as r:
        r.start()
        yield r


def apply_edits(text: str, edits, label: str = "") -> str:
    for old, new in edits:
        count = text.count(old)
        assert count == 1, f"{label}: expected the text to edit exactly once, found it {count} times: {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def make_workspace(tmp_path):
    """make_workspace(solutions=True, overrides={file: text}) -> Workspace."""
    counter = iter(range(1000))

    def make(solutions: bool = True, overrides: dict[str, str] | None = None) -> Workspace:
        files = {"__init__.py": "", **(solution_files() if solutions else generate_stubs())}
        files.update(overrides or {})
        return write_workspace(tmp_path / f"ws{next(counter)}", files)

    return make
