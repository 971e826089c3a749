"""How long `tutor check N` takes from a shell, cold and through the check server, beside the
app's warm worker and the floor of any cold call (`python -c 'import torch'`).

For every code lesson, on a workspace holding the reference solutions:
  cold      `tutor check N` with no server (TUTOR_CHECK_SERVER=0): an interpreter, a torch import, the checks
  first     `tutor check N` when no server is running: it starts one (what the first call of a session costs)
  server    `tutor check N` again, through the server that call started (the median of --repeat calls)
  warm      the app's warm worker, in this process (CheckRunner.check; the median of --repeat)
Each column is a whole process's wall time but the last. Run milestones (14, 17, 23) measure
training runs that this workspace has not made, so they are left out.

With --baseline REV, the server and warm columns of this tree and of the tutor at git
revision REV are measured side by side in the same run, taking turns lesson by lesson
(each tree with its own workspace, server and warm worker), and their ratio printed.

    python bench/check_latency.py [--repeat N] [--lessons 1,5,26] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The tutor measured: this tree's, or (--tree, for a baseline's warm worker) another one.
_TREE = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv else str(Path(__file__).resolve().parents[1])
sys.path.insert(0, _TREE)

from tutor.engine import check_client  # noqa: E402
from tutor.engine.lessons import load_registry  # noqa: E402
from tutor.engine.runner import CheckRunner  # noqa: E402
from tutor.engine.stubs import solution_files  # noqa: E402
from tutor.engine.workspace import write_workspace  # noqa: E402


def timed(command: list[str], env: dict, cwd: str | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, done.returncode


def stop_server(root: Path, env: dict) -> None:
    """End the workspace's check server, if one runs, and wait until its socket is gone."""
    old = os.environ.get("TUTOR_RUNTIME_DIR")
    os.environ["TUTOR_RUNTIME_DIR"] = env["TUTOR_RUNTIME_DIR"]
    try:
        path = check_client.socket_path(root)
    finally:
        if old is None:
            del os.environ["TUTOR_RUNTIME_DIR"]
        else:
            os.environ["TUTOR_RUNTIME_DIR"] = old
    found = subprocess.run(["pgrep", "-f", f"tutor.engine.check_server.*{path}"], capture_output=True, text=True)
    for pid in found.stdout.split():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    deadline = time.monotonic() + 10
    while subprocess.run(["pgrep", "-f", f"tutor.engine.check_server.*{path}"], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)


def warm_helper(repeat: int) -> None:
    """One line of JSON per request on stdin ("N"): the median warm check of lesson N, in
    this tree's warm worker, kept between requests."""
    registry = load_registry()
    with tempfile.TemporaryDirectory() as tmp, CheckRunner(timeout=60) as warm:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **solution_files()})
        warm.start()
        print("ready", flush=True)
        for line in sys.stdin:
            lesson = registry.get(int(line))
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                assert warm.check(ws, lesson).passed, lesson.number
                times.append(time.perf_counter() - started)
            print(json.dumps(statistics.median(times)), flush=True)


def side_by_side(lessons: list, repeat: int, revision: str) -> None:
    """The server and warm columns of this tree and of `revision`, taking turns per lesson."""
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(here), "archive", revision], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        trees = {"this tree": here, revision: base}
        # Lessons the baseline does not have yet are measured in this tree's own table only.
        theirs = subprocess.run([sys.executable, "-c", "from tutor.engine.lessons import load_registry; "
                                 "print(*[l.number for l in load_registry().lessons])"],
                                cwd=str(base), env={**os.environ, "PYTHONPATH": str(base)},
                                capture_output=True, text=True, check=True).stdout.split()
        missing = [lesson.number for lesson in lessons if str(lesson.number) not in theirs]
        lessons = [lesson for lesson in lessons if str(lesson.number) in theirs]
        if missing:
            print(f"(lessons {', '.join(map(str, missing))} are not in {revision}: left out)")
        helpers, workspaces, envs = {}, {}, {}
        for name, tree in trees.items():
            workspaces[name] = write_workspace(Path(tmp) / f"ws-{len(workspaces)}", {"__init__.py": "", **solution_files()})
            envs[name] = {**os.environ, "PYTHONPATH": str(tree), "TUTOR_HOME": str(Path(tmp) / "home"),
                          "TUTOR_RUNTIME_DIR": str(Path(tmp) / "run"), "TUTOR_CHECK_SERVER": "1"}
            helpers[name] = subprocess.Popen(  # this script, measuring the tree it is pointed at
                [sys.executable, str(here / "bench" / "check_latency.py"), "--warm-helper", "--tree", str(tree),
                 "--repeat", str(repeat)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=envs[name], cwd=str(tree))
            assert helpers[name].stdout.readline().strip() == "ready"
        print(f"{'lesson':<44} {'server':>7} {'base':>6} {'ratio':>6}   {'warm':>6} {'base':>6} {'ratio':>6}")
        rows = []
        for lesson in lessons:
            got = {}
            for name, tree in trees.items():
                command = [sys.executable, "-m", "tutor", "check", str(lesson.number), "-w", str(workspaces[name].root),
                           "--timeout", "60"]
                # Run from the tree measured: `python -m tutor` finds the current folder's tutor first.
                assert timed(command, envs[name], str(tree))[1] == 0, f"lesson {lesson.number} did not pass ({name})"
                server = statistics.median(timed(command, envs[name], str(tree))[0] for _ in range(repeat))
                helpers[name].stdin.write(f"{lesson.number}\n")
                helpers[name].stdin.flush()
                got[name] = (server, json.loads(helpers[name].stdout.readline()))
            (s_new, w_new), (s_old, w_old) = got["this tree"], got[revision]
            rows.append((s_new, s_old, w_new, w_old))
            print(f"{lesson.label[:44]:<44} {s_new:7.2f} {s_old:6.2f} {s_new / s_old:5.2f}x   "
                  f"{w_new:6.3f} {w_old:6.3f} {w_new / w_old:5.2f}x", flush=True)
        for name in trees:
            helpers[name].stdin.close()
            helpers[name].wait(timeout=30)
            stop_server(workspaces[name].root, envs[name])
        columns = list(zip(*rows))
        med = [statistics.median(c) for c in columns]
        print(f"{'median':<44} {med[0]:7.2f} {med[1]:6.2f} {med[0] / med[1]:5.2f}x   "
              f"{med[2]:6.3f} {med[3]:6.3f} {med[2] / med[3]:5.2f}x")
        print(f"{'sum':<44} {sum(columns[0]):7.2f} {sum(columns[1]):6.2f} {sum(columns[0]) / sum(columns[1]):5.2f}x   "
              f"{sum(columns[2]):6.3f} {sum(columns[3]):6.3f} {sum(columns[2]) / sum(columns[3]):5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="calls through the server and warm checks per lesson (median)")
    parser.add_argument("--lessons", default="", help="comma-separated lesson numbers (default: every code lesson)")
    parser.add_argument("--baseline", default="", help="a git revision to measure beside this tree (server and warm)")
    parser.add_argument("--warm-helper", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    registry = load_registry()
    lessons = [lesson for lesson in registry.lessons if lesson.kind == "code"]
    if args.lessons:
        wanted = {int(n) for n in args.lessons.split(",")}
        lessons = [lesson for lesson in lessons if lesson.number in wanted]
    if args.warm_helper:
        warm_helper(args.repeat)
        return
    if args.baseline:
        side_by_side(lessons, args.repeat, args.baseline)
        return
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **solution_files()})
        env = {**os.environ, "TUTOR_HOME": str(Path(tmp) / "home"), "TUTOR_RUNTIME_DIR": str(Path(tmp) / "run"),
               "TUTOR_CHECK_SERVER": "1"}
        cold_env = {**env, "TUTOR_CHECK_SERVER": "0"}
        floor = statistics.median(timed([sys.executable, "-c", "import torch"], env)[0] for _ in range(args.repeat))
        print(f"floor: python -c 'import torch' {floor:.2f} s (median of {args.repeat})\n")
        print(f"{'lesson':<50} {'cold':>6} {'first':>6} {'server':>7} {'warm':>6} {'cold/floor':>10} {'first/cold':>10}")
        rows = []
        with CheckRunner(timeout=60) as warm:
            warm.start()
            for lesson in lessons:
                command = [sys.executable, "-m", "tutor", "check", str(lesson.number), "-w", str(ws.root), "--timeout", "60"]
                cold, code = timed(command, cold_env)
                assert code == 0, f"lesson {lesson.number} did not pass cold"
                stop_server(ws.root, env)
                first, code = timed(command, env)
                assert code == 0, f"lesson {lesson.number} did not pass through a new server"
                server = statistics.median(timed(command, env)[0] for _ in range(args.repeat))
                warm_times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    assert warm.check(ws, lesson).passed, lesson.number
                    warm_times.append(time.perf_counter() - started)
                row = (cold, first, server, statistics.median(warm_times))
                rows.append(row)
                print(f"{lesson.label[:50]:<50} {row[0]:6.2f} {row[1]:6.2f} {row[2]:7.2f} {row[3]:6.2f} "
                      f"{row[0] / floor:9.1f}x {row[1] / row[0]:9.2f}x", flush=True)
        stop_server(ws.root, env)
        columns = list(zip(*rows))
        print(f"{'median':<50} " + " ".join(f"{statistics.median(c):{w}.2f}" for c, w in zip(columns, (6, 6, 7, 6))))
        print(f"{'slowest':<50} " + " ".join(f"{max(c):{w}.2f}" for c, w in zip(columns, (6, 6, 7, 6))))
        over = [lesson.number for lesson, row in zip(lessons, rows) if row[2] >= 0.5]
        print(f"\nthrough the server under 0.5 s: {len(rows) - len(over)} of {len(rows)} lessons"
              + (f" (not: {', '.join(map(str, over))})" if over else ""))


if __name__ == "__main__":
    main()
