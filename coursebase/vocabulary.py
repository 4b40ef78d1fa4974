"""The closed vocabularies every part of the course shares: status words and flags.

These are the closed lists of docs/contracts.md; every export, record, feedback page,
leaderboard and report uses these words and no others. ``Word`` is the base of every
closed list, the leaderboard's CSV statuses included, so a member compares equal to,
and prints as, the word itself.
"""
from __future__ import annotations

import enum


class Word(str, enum.Enum):
    """A word from one of the closed lists of docs/contracts.md: compares equal to, and prints as, the word itself."""

    def __str__(self) -> str:
        return self.value


class Status(Word):
    """A notebook submission's status. When several apply, the first of failed, crashed, timeout, graded wins."""
    GRADED = "graded"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    FAILED = "failed"
    MISSING = "missing"


class Flag(Word):
    """A flag: any set of them on a record, each with a detail for people. Only ``late`` changes a score.

    The first five are a notebook submission's; ``copy`` and ``implausible`` are set by the
    leaderboard on a CSV submission. One list, because the final grades and the portal show both.
    """
    LATE = "late"
    TAMPERED = "tampered"
    ATTACK = "attack"
    OVERRIDE = "override"
    UNSANDBOXED = "unsandboxed"
    COPY = "copy"
    IMPLAUSIBLE = "implausible"


# The flags that ask a person to look before a grade is final. ``late`` and ``override`` are
# settled already (the penalty is priced, the override has a reason); ``unsandboxed`` is the
# instructor's own choice.
REVIEW_FLAGS: tuple[Flag, ...] = (Flag.ATTACK, Flag.TAMPERED, Flag.COPY, Flag.IMPLAUSIBLE)
