"""A run's events: appended to metrics.jsonl (for the app and for later) and passed to a callback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutor.core.atomic import write_text_atomic

Event = dict[str, Any]


class RunLog:
    def __init__(self, path: Path, on_event: Callable[[Event], None]) -> None:
        self.path = path
        self.on_event = on_event
        self.started = time.monotonic()

    def emit(self, event: Event) -> None:
        event = {"time": round(time.monotonic() - self.started, 3), **event}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
        self.on_event(event)

    def truncate(self, step: int) -> None:
        """On resume, forget the events after the checkpoint: they will happen again."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if event.get("step", 0) <= step and event.get("event") not in ("done", "interrupted", "error"):
                kept.append(line)
        write_text_atomic(self.path, "".join(k + "\n" for k in kept))
