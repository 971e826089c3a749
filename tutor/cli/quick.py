"""`tutor check`, `tutor list` and `tutor show` in their everyday forms, without loading
the command-line framework.

A learner checks a hundred times a day, and through the check server the checks
themselves take a few hundredths of a second: loading Typer (and what it loads)
would cost more than the check. This path reads the few options of those calls
by hand, runs the same code as the full commands (`tutor.cli.checking`, and the
two printers below, which the full commands call too) and prints the same text.
Anything else, or anything it cannot take, it hands back (None) before a single
check has run, and the full command line answers as always, errors included.
"""

from __future__ import annotations

from pathlib import Path

FLAGS = {"-v": ("verbose", True), "--verbose": ("verbose", True), "--no-runs": ("runs", False),
         "--runs": ("runs", True), "--server": ("server", True)}
VALUES = {"-w": ("workspace", Path), "--workspace": ("workspace", Path), "--timeout": ("timeout", float),
          "--seed": ("seed", int)}


def parse(argv: list[str]) -> dict | None:
    """The options of `check`, `list` or `show` when they are all among the few this path
    knows; else None."""
    if not argv or argv[0] not in ("check", "list", "show"):
        return None
    options: dict = {"numbers": [], "workspace": None, "timeout": None, "seed": None, "verbose": False, "runs": True}
    args = iter(argv[1:])
    for arg in args:
        name, sep, inline = arg.partition("=")
        if sep and not name.startswith("--"):
            return None  # -w=DIR: the full command line reads it its own way
        try:
            if arg.isascii() and arg.isdigit():
                options["numbers"].append(int(arg))
            elif arg in FLAGS and argv[0] == "check":
                key, value = FLAGS[arg]
                options[key] = value
            elif name in VALUES:
                key, kind = VALUES[name]
                options[key] = kind(inline if sep else next(args))
            else:
                return None
        except (StopIteration, ValueError):
            return None
    if options["timeout"] is not None and not 0.1 <= options["timeout"] <= 3600:
        return None
    if argv[0] != "check" and (len(options["numbers"]) != (argv[0] == "show") or any(
            options[k] != v for k, v in (("timeout", None), ("seed", None), ("verbose", False), ("runs", True)))):
        return None
    options["command"] = argv[0]
    return options


def quick(argv: list[str]) -> int | None:
    """The exit code of a `tutor check` answered here, or None to let the full command line answer."""
    try:
        return _answer(argv)
    except KeyboardInterrupt:
        return 130  # Ctrl-C: the check ends with this command (the server kills it), without a traceback


def _answer(argv: list[str]) -> int | None:
    options = parse(argv)
    if options is None:
        return None
    from tutor.engine import check_client

    if options["command"] == "check" and not check_client.enabled():
        return None  # without the server the checks take seconds: the quick path saves nothing
    from tutor.engine.course import Course, NotInCourse
    from tutor.engine.workspace import WorkspaceError, find_workspace

    try:
        course = Course(find_workspace(options["workspace"]))
        chosen = [course.lesson(n) for n in options["numbers"]]
    except (WorkspaceError, NotInCourse):
        return None  # the full command line says what is wrong, as it always has
    from tutor.cli.checking import print_summary, run_checks, start
    from tutor.cli.output import err
    from tutor.engine.results import Report

    if course.store.warning:
        err.print(f"[yellow]warning:[/yellow] {course.store.warning}")
    if options["command"] == "list":
        print_lessons(course)
        return 0
    if options["command"] == "show":
        print_lesson(chosen[0])
        return 0
    if not options["runs"] and not chosen:
        chosen = list(course.lessons)
    with check_client.ServerRunner(course.workspace.root) as runner:
        start(runner, text=True)
        results = run_checks(course, runner, chosen, seed=options["seed"], timeout=options["timeout"], record=True,
                             include_runs=options["runs"], verbose=options["verbose"])
    report = Report(str(course.workspace.root), results)
    print_summary(report, every_lesson=not chosen and len(course.lessons))
    return report.exit_code


def print_lessons(course) -> None:
    """`tutor list`: the lessons, with what is locked, open and passed."""
    from tutor.cli.output import console
    from tutor.render import lesson_table

    states = course.states()
    console.print(lesson_table(course, states))
    done = sum(s == "passed" for s in states.values())
    console.print(f"\n{done}/{len(states)} passed · workspace {course.workspace.root}", style="dim")
    if course.settings.describe():
        console.print(f"course: {course.settings.describe()}", style="dim")


def print_lesson(lesson) -> None:
    """`tutor show N`: the lesson's text, then where to write and how to check."""
    from rich.markdown import Markdown

    from tutor.cli.output import console

    console.print(Markdown(lesson.text()))
    files = ", ".join(f"model/{f}" for f in lesson.files)
    console.print(f"\nYour file: {files} · check it with `tutor check {lesson.number}` · stuck? `tutor hint {lesson.number}`",
                  style="dim")
