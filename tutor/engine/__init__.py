"""The engine: lessons, workspaces, the check runner and the progress store.

Nothing here imports Textual or torch at module level, so that the faces (CLI,
TUI) start fast; torch is only ever imported inside the check worker.
"""
