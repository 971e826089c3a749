"""A lesson's status: the one vocabulary of the CLI, the app, JSON reports, grades and
the progress file."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A check run's outcome for a lesson, or (OPEN, CHANGED) where it stands on the map.

    Members are strings, so they compare equal to, and serialise as, the words that
    JSON reports, CSV grades and progress files hold.
    """

    PASSED = "passed"
    FAILED = "failed"  # a check found a mistake
    ERROR = "error"  # the code could not finish: an exception, a time limit, a crash, NaNs
    TAMPERED = "tampered"  # the checks ran, but learner code changed what they rely on; never a pass
    LOCKED = "locked"  # an earlier lesson has not passed yet
    NOT_RUN = "not-run"  # skipped: a run milestone, or left out of this check
    OPEN = "open"  # on the map: unlocked, not passed yet
    CHANGED = "changed"  # on the map: passed, then its file changed since

    __str__ = str.__str__
    __format__ = str.__format__


# What a lesson's check run can end as (a report's, a grade's or a worker's status).
RESULTS = (Status.PASSED, Status.FAILED, Status.ERROR, Status.TAMPERED, Status.LOCKED, Status.NOT_RUN)
# Statuses that mean the learner's code has something to fix.
PROBLEMS = (Status.FAILED, Status.ERROR, Status.TAMPERED)
# Statuses of lessons that were not checked.
UNCHECKED = (Status.LOCKED, Status.NOT_RUN)
