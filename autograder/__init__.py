"""Sandboxed, parallel autograder for nbgrader assignments.

:mod:`autograder.engine` runs and judges student code; the modules beside it are the
course commands (release, students import, collect, grade, feedback, export,
override/review) and their I/O with nbgrader's gradebook. Stands on
:mod:`coursebase`; knows nothing of the leaderboard, the final grades or the portal.
"""
