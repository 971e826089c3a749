"""The engine: the course file, workspaces, course settings, statuses, the check runner and its
warm worker, the progress store, grading.

Nothing here imports Textual or torch at module level, so that the faces (CLI,
TUI) start fast; torch is only ever imported inside the check worker.
"""
