"""Notebook builders the tests share (nothing here is a test).

* :func:`nbgrader_meta` and :func:`tiny_source_notebook`: the tiny nbgrader
  assignment of test_export.py (and the tests built on it) and
  test_nbgrader_dropin.py: two answers, each with a test cell holding hidden
  tests, optionally a written answer for the formgrader.
* :func:`with_prelude`: a hostile notebook's ungraded first cell, put before the
  first answer cell (the attack corpora).

Filling answer cells is ``conftest.with_answers``.
"""
from __future__ import annotations

import json

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PYTHON3 = {"name": "python3", "display_name": "Python 3", "language": "python"}


def nbgrader_meta(**nbgrader) -> dict:
    """A cell's metadata in nbgrader's schema 3, every flag false unless given."""
    base = {"schema_version": 3, "solution": False, "grade": False, "locked": False}
    base.update(nbgrader)
    return {"nbgrader": base}


def tiny_source_notebook(intro: str = "# Demo\nWrite `answer()`.", *, written_answer: bool = False) -> NotebookNode:
    """A tiny nbgrader source notebook: ``answer`` and ``double`` with test cells t1 (2 points) and
    t2 (3 points), each holding a hidden line marked ``HIDDEN-MARKER-t1``/``-t2``; with
    ``written_answer``, a Markdown answer ``why`` (1 point) for the formgrader."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = dict(PYTHON3)
    nb.cells = [
        new_markdown_cell(intro, metadata=nbgrader_meta(grade_id="intro", locked=True)),
        new_code_cell("def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION",
                      metadata=nbgrader_meta(grade_id="answer", solution=True)),
        new_code_cell("assert answer() is not None\n### BEGIN HIDDEN TESTS\n"
                      "assert answer() == 42  # HIDDEN-MARKER-t1\n### END HIDDEN TESTS",
                      metadata=nbgrader_meta(grade_id="t1", grade=True, locked=True, points=2)),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=nbgrader_meta(grade_id="double", solution=True)),
        new_code_cell("print('visible check of double')\nassert double(1) == 2\n### BEGIN HIDDEN TESTS\n"
                      "assert double(21) == 42  # HIDDEN-MARKER-t2\n### END HIDDEN TESTS",
                      metadata=nbgrader_meta(grade_id="t2", grade=True, locked=True, points=3)),
    ]
    if written_answer:
        nb.cells.append(new_markdown_cell("Why is 42 the answer?\n\nYOUR ANSWER HERE",
                                          metadata=nbgrader_meta(grade_id="why", solution=True, grade=True, points=1)))
    return nb


def code_cell(source: str) -> dict:
    """An ungraded code cell, as plain JSON."""
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def with_prelude(nb: dict, source: str) -> dict:
    """A copy of ``nb`` with an ungraded code cell of ``source`` just before its first answer cell."""
    nb = json.loads(json.dumps(nb))
    first_answer = next(i for i, c in enumerate(nb["cells"])
                        if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    nb["cells"].insert(first_answer, code_cell(source))
    return nb
