"""End to end in a real terminal: start `tutor` in tmux, type keys, read the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tutor.engine.lessons import load_registry

pytestmark = [pytest.mark.slow,  # the app in a real terminal
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


class Tmux:
    def __init__(self, command: str, cwd, env) -> None:
        self.name = f"tutor-e2e-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "100", "-y", "30", "-c", str(cwd), command],
                       check=True, env=env)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_tutor_in_tmux_from_map_to_a_check(make_workspace, tutor_home):
    ws = make_workspace(solutions=False)
    env = {**os.environ, "TUTOR_HOME": str(tutor_home), "TERM": "xterm-256color"}
    term = Tmux(f"{sys.executable} -m tutor", ws.root, env)
    try:
        screen = term.wait_for("lessons passed")
        assert "The edit-check loop" in screen and "Words to ids" in screen
        term.keys("Enter")
        term.wait_for("Lesson 1 · The edit-check loop")
        term.keys("C-r")
        screen = term.wait_for("checks pass")
        assert "0 of 5 checks pass" in screen and "Not implemented yet" in screen
        ws.file("warmup.py").write_text(ws.file("warmup.py").read_text().replace(
            '    # Lesson 1: your code here (`tutor hint 1` helps).\n    raise NotImplementedError("softmax is not written yet (lesson 1: The edit-check loop)")',
            "    if not scores:\n        return []\n    top = max(scores)\n    e = [math.exp(s - top) for s in scores]\n    return [x / sum(e) for x in e]"))
        term.keys("C-r")
        term.wait_for("All 5 checks pass")
        term.keys("Escape")
        screen = term.wait_for(f"1 of {len(load_registry().lessons)} lessons passed")
        term.keys("C-q")
        time.sleep(0.5)
    finally:
        term.close()


def test_the_whole_loop_by_keyboard_in_tmux(make_workspace, tutor_home, tmp_path):
    """Lesson 1 without a mouse: open it, scroll the text with PageDown, f3 into the editor,
    type an indented body with Enter, check, read the result; ctrl+e with no editor on
    the machine leaves the app where it was."""
    ws = make_workspace(solutions=False, overrides={"warmup.py": "import math\n\n\n"})
    bare_path = tmp_path / "bin"  # python only: no nano, no vi
    bare_path.mkdir()
    (bare_path / "python").symlink_to(sys.executable)
    env = {**os.environ, "TUTOR_HOME": str(tutor_home), "TERM": "xterm-256color"}
    command = f"/usr/bin/env -u EDITOR -u VISUAL PATH={bare_path} TUTOR_HOME={tutor_home} {sys.executable} -m tutor"
    term = Tmux(command, ws.root, env)
    try:
        term.wait_for("lessons passed")
        term.keys("Enter")
        first = term.wait_for("Lesson 1 · The edit-check loop")
        assert "Where this sits" in first
        term.keys("PageDown", "PageDown", "PageDown")
        deadline = time.monotonic() + 10
        while "Where this sits" in term.screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Where this sits" not in term.screen(), "PageDown did not scroll the lesson text"
        term.keys("F3")
        term.wait_for("import math")
        # The learner types the function under the import, with Enter doing the indentation.
        time.sleep(0.5)

        def press(*keys: str) -> None:  # at a person's pace, not a script's
            term.keys(*keys)
            time.sleep(0.3)

        press("Down", "Down", "Down")
        for line in ["def softmax(scores):", "if not scores:", "return []"]:
            press("-l", line)
            press("Enter")
        press("BSpace", "BSpace", "BSpace", "BSpace")  # back out of the if block
        for line in ["top = max(scores)", "exps = [math.exp(s - top) for s in scores]", "total = sum(exps)",
                     "return [e / total for e in exps]"]:
            press("-l", line)
            press("Enter")
        term.keys("C-r")
        screen = term.wait_for("checks pass", timeout=90)
        assert "All 5 checks pass" in screen, screen
        assert "    return []" in ws.file("warmup.py").read_text()  # Enter kept the indentation
        term.keys("C-e")
        screen = term.wait_for("No outside editor found")
        assert "Lesson 1 · The edit-check loop" in screen  # still in the app
        term.keys("C-q")
        time.sleep(0.5)
    finally:
        term.close()
