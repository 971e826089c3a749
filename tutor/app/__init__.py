"""The Textual app: the lesson map, the lesson screen, and the dialogs between them.

Nothing here imports torch: checks run in the warm worker process, started in a
background thread after the first paint.
"""
