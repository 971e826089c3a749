"""Time to the app's first paint, side by side with importing Textual alone.

Each figure is the median of several fresh processes: `python -c "import textual"`
(the floor); a Textual app with no tutor code that paints the map's own widgets
(a header, a label, a progress bar, a list of 27 lines, a footer), started the
same way (what Textual itself costs for such a screen); then the app started
headless until the lesson map has painted, and whether torch was imported on the
way (it must not be).

Run: python bench/startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PAINT = """
import sys, time, asyncio
started = float(sys.argv[2])
from tutor.app.app import TutorApp
from tutor.app.screens.lesson_map import LessonMapScreen
async def main():
    app = TutorApp(sys.argv[1])
    async with app.run_test(size=(80, 24)) as pilot:
        while not isinstance(app.screen, LessonMapScreen):
            await pilot.pause(0.01)
        await pilot.pause(0)
        print(time.time() - started, 'torch' in sys.modules)
        app.exit()
asyncio.run(main())
"""

SAME_WIDGETS = """
import sys, time, asyncio
started = float(sys.argv[1])
from textual.app import App
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, OptionList, ProgressBar
class Map(Screen):
    def compose(self):
        yield Header()
        yield Label("0 of 27 lessons passed")
        yield ProgressBar(total=27, show_eta=False)
        yield OptionList(*[f" o {n:>2}  a lesson" for n in range(1, 28)])
        yield Footer()
class Bare(App):
    def get_default_screen(self):
        return Map()
async def main():
    app = Bare()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0)
        print(time.time() - started)
        app.exit()
asyncio.run(main())
"""


def timed(args: list[str]) -> float:
    started = time.time()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tutor.engine.stubs import generate_stubs
    from tutor.engine.workspace import write_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **generate_stubs()})
        env = {"TUTOR_HOME": str(Path(tmp) / "home"), "PATH": ""}
        floors, widgets, paints, torch_seen = [], [], [], []
        # In turns (floor, widgets, app; again...), so that a machine growing busier or
        # quieter moves the three columns alike; the ratio is taken within each turn.
        for _ in range(args.repeat):
            floors.append(timed([sys.executable, "-c", "import textual.app"]))
            widgets.append(float(subprocess.run([sys.executable, "-c", SAME_WIDGETS, str(time.time())], check=True,
                                                capture_output=True, text=True, cwd=ROOT).stdout))
            out = subprocess.run([sys.executable, "-c", FIRST_PAINT, str(ws.root), str(time.time())], check=True,
                                 capture_output=True, text=True, cwd=ROOT, env=env)
            seconds, torch = out.stdout.split()
            paints.append(float(seconds))
            torch_seen.append(torch == "True")
    rows = [("python -c 'import textual.app' (the floor)", floors),
            ("Textual alone painting the map's widgets", widgets),
            ("tutor app: process start to first paint", paints)]
    print(f"{'what':<46} {'seconds':>8} {'/ floor':>8}   (medians of {args.repeat} turns)")
    for label, times in rows:
        ratio = statistics.median(t / f for t, f in zip(times, floors))
        print(f"{label:<46} {statistics.median(times):8.2f} {ratio:7.2f}x")
    paint, widget = statistics.median(paints), statistics.median(widgets)
    print(f"the tutor's own share of the first paint: {paint - widget:.2f} s")
    print(f"torch imported before first paint: {'yes' if any(torch_seen) else 'no'}")


if __name__ == "__main__":
    main()
