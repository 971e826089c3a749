"""Each lesson's demo (`tutor see N`) runs on the reference solution and shows something."""

from __future__ import annotations

import pytest

from tutor.engine.demo import demo_path, run_demo
from tutor.engine.lessons import load_registry

pytestmark = pytest.mark.slow  # every lesson's demo

WITH_DEMO = [l for l in load_registry().lessons if demo_path(l)]


@pytest.mark.parametrize("lesson", WITH_DEMO, ids=lambda l: f"L{l.number:02d}")
def test_demo_runs_on_the_reference(lesson, make_workspace, capfd):
    code, message = run_demo(make_workspace(), lesson, timeout=120)
    out = capfd.readouterr().out
    assert (code, message) == (0, "")
    assert len(out.strip().splitlines()) >= 3


def test_demo_on_a_stub_fails_clearly(make_workspace, capfd):
    lesson = load_registry().get(13)
    code, message = run_demo(make_workspace(solutions=False), lesson, timeout=120)
    assert code == 1 and "stopped with an error" in message
    assert "lr_at is not written yet" in capfd.readouterr().err


def test_demo_time_limit(make_workspace):
    lesson = load_registry().get(13)
    ws = make_workspace(overrides={"train.py": "def lr_at(step, **kw):\n    while True:\n        pass\n"})
    code, message = run_demo(ws, lesson, timeout=3)
    assert code == 1 and "did not finish within 3 s" in message


def test_lesson_10_demo_gives_the_tiny_presets_size(make_workspace, capfd):
    """The sizes it prints are those the training presets build, not a shape of its own."""
    from tutor.training.presets import PRESETS, gpt_parameters

    code, _ = run_demo(make_workspace(), load_registry().get(10), timeout=120)
    out = capfd.readouterr().out
    assert code == 0
    tiny = next(line for line in out.splitlines() if line.strip().startswith("tiny"))
    assert f"{gpt_parameters(PRESETS['tiny'].model_cfg()) / 1e6:.2f} M parameters" in tiny  # 1.86 M
