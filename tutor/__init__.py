"""tutor: learn how a GPT works by building one, one checked component at a time."""

__version__ = "0.1.0"
