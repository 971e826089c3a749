"""The command line: thin faces over the engine, the trainers and the data (see `tutor --help`).

`main` first offers the arguments to the quick path (`tutor check` in its everyday
forms, answered through the check server without loading Typer); anything else
goes to the full command tree in `tutor.cli.commands`.
"""

from __future__ import annotations

import sys


def main() -> None:
    from tutor.cli.quick import quick

    code = quick(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from tutor.cli.commands import app

    app()


def __getattr__(name: str):
    if name == "app":  # the Typer app, loaded when first asked for (tests, `python -m tutor`)
        from tutor.cli.commands import app

        return app
    raise AttributeError(name)
