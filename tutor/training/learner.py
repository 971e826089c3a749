"""The learner's own code, imported from their workspace for training and chat."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from tutor.engine.workspace import Workspace


class LearnerCodeError(Exception):
    """The learner's code cannot be used yet; the message names the lesson to finish."""


def import_learner(workspace: Workspace, module: str) -> ModuleType:
    root = str(workspace.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(f"model.{module}")
    except SyntaxError as exc:
        raise LearnerCodeError(f"model/{module}.py has a syntax error on line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # noqa: BLE001 - learner code may raise anything on import
        raise LearnerCodeError(f"importing model/{module}.py failed: {type(exc).__name__}: {exc}") from None


def explain(exc: BaseException) -> str:
    """A learner-facing sentence for an exception raised inside their code."""
    if isinstance(exc, NotImplementedError):
        return f"{exc}. Finish that lesson first (`tutor check`)."
    return f"your code raised {type(exc).__name__}: {exc}"
