"""Messages the app's pieces send one another instead of reaching into each other."""

from __future__ import annotations

from textual.message import Message

from tutor.engine.results import LessonResult


class CheckFinished(Message):
    """A lesson's checks came back from the worker."""

    def __init__(self, result: LessonResult, unlocked: int | None) -> None:
        super().__init__()
        self.result = result
        self.unlocked = unlocked  # the lesson this pass opened, if any
