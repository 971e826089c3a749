"""Snapshots of each screen at 80x24 (pytest-textual-snapshot); update with --snapshot-update."""

from __future__ import annotations


import pytest

from tutor.app.app import TutorApp
from tutor.engine.stubs import generate_stubs
from tutor.engine.workspace import write_workspace

SIZE = (80, 24)


@pytest.fixture
def app(tmp_path, monkeypatch):
    # A fixed folder name: the map shows it.
    ws = write_workspace(tmp_path / "workspace", {"__init__.py": "", **generate_stubs()})
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    return TutorApp(ws.root)


def test_lesson_map(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE)


def test_lesson_map_light_theme(snap_compare, app):
    async def light(pilot):
        await pilot.press("ctrl+d")

    assert snap_compare(app, terminal_size=SIZE, run_before=light)


def test_lesson_text(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, press=["enter"])


def test_lesson_code_pane(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, press=["enter", "f3"])


def test_solution_confirm_dialog(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, press=["enter", "f7"])


def test_train_screen(snap_compare, app):
    app.open_all = True
    assert snap_compare(app, terminal_size=SIZE, press=["t"])


def test_chat_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, press=["c"])
