"""Snapshots of each screen at 80x24 (pytest-textual-snapshot); update with --snapshot-update."""

from __future__ import annotations

import pytest

from tests.helpers import install_tiny_gpt2
from tutor.app.app import TutorApp
from tutor.engine.stubs import generate_stubs
from tutor.engine.workspace import write_workspace

pytestmark = pytest.mark.slow  # every screen rendered and compared, pixel for pixel

SIZE = (80, 24)


@pytest.fixture
def app(tmp_path, monkeypatch):
    # A fixed folder name: the map shows it.
    ws = write_workspace(tmp_path / "workspace", {"__init__.py": "", **generate_stubs()})
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    return TutorApp(ws.root)


async def settled(pilot):
    """The map paints its lessons first, then the progress bar and the footer's keys."""
    from textual.widgets import Footer

    for _ in range(100):
        footers = pilot.app.screen.query(Footer)
        if footers and footers.first().children:
            break
        await pilot.pause(0.02)
    await pilot.pause()


def test_lesson_map(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, run_before=settled)


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


def test_hint_page_fits_its_hint(snap_compare, app):
    assert snap_compare(app, terminal_size=(100, 30), press=["enter", "ctrl+g"])


def test_train_screen(snap_compare, app):
    app.open_all = True
    assert snap_compare(app, terminal_size=SIZE, press=["t"])


def test_train_screen_plots_a_run(snap_compare, app):
    """The loss plot has axes, scales and values: a run's events, as the trainer sends them."""
    import math

    from tutor.app.screens.train import TrainEvent

    app.open_all = True

    async def feed(pilot):
        await pilot.press("t")
        screen = app.screen
        screen.post_message(TrainEvent({"event": "start", "step": 0, "max_steps": 300, "params": 1.9e6, "device": "cpu",
                                        "precision": "fp32", "train_tokens": 400_000}))
        for step in range(1, 301):
            loss = 2.5 + 5.8 * math.exp(-step / 40)
            screen.post_message(TrainEvent({"event": "step", "step": step, "loss": loss, "tokens_per_s": 10_000}))
            if step % 100 == 0:
                screen.post_message(TrainEvent({"event": "eval", "step": step, "val_loss": loss + 0.2,
                                                "val_perplexity": math.exp(loss + 0.2), "sample": "The cat"}))
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=(100, 36), run_before=feed)


def test_chat_screen(snap_compare, app):
    assert snap_compare(app, terminal_size=SIZE, press=["c"])


def test_train_screen_fine_tuning_gpt2(snap_compare, app, tmp_path):
    """With GPT-2's weights here the screen offers its two fine-tunings; a classifier run, as its events arrive."""
    from tutor.app.screens.train import TrainEvent

    install_tiny_gpt2(tmp_path / "stick")
    app.open_all = True

    async def feed(pilot):
        await pilot.press("t")
        screen = app.screen
        screen.kind = "classify"  # what pressing "Spam classifier" sets before the run's events arrive
        screen.post_message(TrainEvent({"event": "start", "data": "sms-spam", "train": 1045, "val": 149, "test": 300,
                                        "max_length": 120, "steps": 650, "adapt_steps": 0}))
        for step in range(1, 131):
            screen.post_message(TrainEvent({"event": "step", "step": step, "epoch": 1, "loss": 0.7 * 0.99 ** step}))
        screen.post_message(TrainEvent({"event": "epoch", "epoch": 1, "step": 130, "train_accuracy": 0.905,
                                        "val_accuracy": 0.933}))
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=(100, 36), run_before=feed)


def test_chat_screen_completing_with_gpt2(snap_compare, app, tmp_path):
    install_tiny_gpt2(tmp_path / "stick")
    assert snap_compare(app, terminal_size=SIZE, press=["c", "ctrl+t"])
