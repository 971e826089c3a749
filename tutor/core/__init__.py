"""The ground floor: where files live, how they are written, and the checkpoint format.

Everything else in the tutor builds on these; they import nothing of it.
"""
