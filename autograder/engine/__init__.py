"""The grading engine: everything that runs or judges student code.

The data flow of one submission (docs/architecture.md draws it):
:mod:`.forkserver` (the warm parent) forks one :mod:`.executor` per submission;
the executor reads the assignment's :mod:`.grading_kit`, plans the run
(:mod:`.run_plan`: locked and test cells restored), isolates a child with
:mod:`.sandbox` in which :mod:`.kernel` runs the student's cells, and talks to it
through :mod:`.kernel_client` over the bounded :mod:`.wire` protocol. Tests run in
the confined :mod:`.judge`, which reads files the student wrote only through
:mod:`.handover`; :mod:`.scoring` turns each outcome into points and
:mod:`.code_scan` flags hostile code. :mod:`.results` is what a run produced;
:mod:`.cluster` runs the same executor on Dask workers.

The engine stands on :mod:`coursebase` only; the course commands in
:mod:`autograder` use it, never the other way round.
"""
