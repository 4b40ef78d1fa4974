"""``autograder demo``: one whole course cycle on simulated students.

One module per step: :mod:`.course` (the course the demo copies: found in a checkout or in the
installed package, limits shortened), :mod:`.cohort` (who the simulated students are and what
they answer), :mod:`.dataset` (the competition's data: Fashion-MNIST or a labelled stand-in),
:mod:`.students` (their notebooks written and run on the student side), :mod:`.lms` (what the
LMS download holds: zips and the roster), :mod:`.runner` (the orchestrator: stages, timings, the
result, the CLI's entry).
"""
from coursebase.layout import CourseError


class DemoError(CourseError):
    """The demo cannot go on; the message says what to do."""
