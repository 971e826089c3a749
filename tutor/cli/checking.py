"""`tutor check`'s work, shared by its two front doors: the full command line (Typer) and
the quick path (`tutor.cli.quick`) that answers the everyday forms without loading it.

Nothing here imports Typer: the quick path's budget is a fraction of a second.
"""

from __future__ import annotations

from tutor.cli.output import console, err
from tutor.engine.status import UNCHECKED


def make_runner(course, *, server: bool):
    """The check server's runner when `server` (falling back to a worker of this process
    when no server can be had), else a worker of this process's own."""
    from tutor.engine import check_client
    from tutor.engine.runner import CheckRunner

    if server and check_client.enabled():
        return check_client.ServerRunner(course.workspace.root)
    return CheckRunner()


def start(runner, text: bool) -> None:
    """Reach the worker before the first check, saying so when it takes a torch import. A
    server already listening is not greeted twice: the first check reaches it."""
    from tutor.engine import check_client

    server = isinstance(runner, check_client.ServerRunner)
    try:
        listening = server and check_client.socket_path(runner.workspace_root).exists()
    except (check_client.ServerUnavailable, OSError):
        listening = False
    if listening:
        return
    if text:
        with console.status(f"Starting {'the check server' if server else 'the check worker'} (importing torch)…"):
            runner.start()
    else:
        runner.start()
    say_fallback(runner, text)


def say_fallback(runner, text: bool) -> None:
    """Once, on stderr: why the checks ran without the check server."""
    reason = getattr(runner, "fallback_reason", "")
    if text and reason and not getattr(runner, "fallback_said", False):
        err.print(f"[dim]Checking without the check server: {reason}.[/dim]", soft_wrap=True)
        runner.fallback_said = True


def run_checks(course, runner, chosen, *, seed, timeout, record, include_runs, verbose: bool | None) -> list:
    """Each lesson's result, printed as it arrives when `verbose` is not None (text output).
    Lessons a bare check found unchanged since they passed are summed up in one line."""
    unchanged: list = []

    def flush() -> None:
        if unchanged:
            numbers = ", ".join(str(r.number) for r in unchanged)
            console.print(f"[green]✓[/green] [dim]Lesson{'s' if len(unchanged) > 1 else ''} {numbers}: passed before on "
                          "exactly these files; not run again[/dim]")
            unchanged.clear()

    def progress(result) -> None:
        if verbose is None:
            return
        if result.unchanged:
            unchanged.append(result)
            return
        flush()
        from tutor.render import lesson_result

        console.print(lesson_result(result, verbose=verbose))

    if chosen:
        # The reference solution has no training runs, so its run milestones are not run.
        results = course.check(runner, chosen, seed=seed, timeout=timeout, record=record, include_runs=include_runs,
                               on_result=progress)
    else:
        results = course.check_in_order(runner, seed=seed, timeout=timeout, on_result=progress)
    if verbose is not None:
        flush()
        say_fallback(runner, True)
        skipped = [r.number for r in results if r.message.startswith("not checked:")]
        if skipped:
            from tutor.engine.settings import ranges

            console.print(f"[dim]Not checked: lesson{'s' if len(skipped) > 1 else ''} {ranges(skipped)} (a round stops at "
                          "the first lesson that does not pass; `tutor check N` checks any lesson).[/dim]")
    return results


def print_summary(report, every_lesson: int) -> None:
    """The closing line of a text report; `every_lesson` is the course's size when the whole
    course was checked in order."""
    checked = [r for r in report.lessons if r.status not in UNCHECKED]
    style = "bold green" if report.exit_code == 0 else "bold red"
    console.print(f"{report.passed} of {len(checked)} lesson(s) passed", style=style)
    if every_lesson and report.exit_code == 0 and len(checked) == every_lesson:
        console.print("Every lesson passes. Well done!", style="green")
