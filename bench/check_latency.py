"""How long a re-check of one lesson takes: warm worker vs a cold start, side by side.

The warm worker keeps torch imported and forks a child per lesson; the baseline
starts a fresh worker (a new interpreter that imports torch) for every check, as
a naive runner would. Run: python bench/check_latency.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.engine.lessons import load_registry  # noqa: E402
from tutor.engine.runner import CheckRunner  # noqa: E402
from tutor.engine.stubs import solution_files  # noqa: E402
from tutor.engine.workspace import write_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm re-checks per lesson (median reported)")
    args = parser.parse_args()
    registry = load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp), {"__init__.py": "", **solution_files()})
        print(f"{'lesson':<46} {'cold (s)':>9} {'warm (s)':>9} {'speed-up':>9}")
        cold_all, warm_all = [], []
        with CheckRunner(timeout=60) as warm:
            warm.start()
            # The code lessons: a run milestone measures a training run, which this workspace has not made.
            for lesson in [lesson for lesson in registry.lessons if lesson.kind == "code"]:
                started = time.perf_counter()
                with CheckRunner(timeout=60) as cold:
                    result = cold.check(ws, lesson, seed=1)
                cold_s = time.perf_counter() - started
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    result = warm.check(ws, lesson)
                    times.append(time.perf_counter() - started)
                    assert result.passed, (lesson.number, result.message)
                warm_s = statistics.median(times)
                cold_all.append(cold_s)
                warm_all.append(warm_s)
                print(f"{lesson.label:<46} {cold_s:9.2f} {warm_s:9.2f} {cold_s / warm_s:8.1f}x")
        print(f"{'median':<46} {statistics.median(cold_all):9.2f} {statistics.median(warm_all):9.2f}")
        print(f"{'slowest':<46} {max(cold_all):9.2f} {max(warm_all):9.2f}")


if __name__ == "__main__":
    main()
