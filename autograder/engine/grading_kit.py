"""The grading kit of one assignment: what the judge needs (built from nbgrader's gradebook by :mod:`autograder.kits`).

nbgrader stays the source of truth for cell ids, points, locked cells and the
hidden tests (its ``generate_assignment`` stores them in the gradebook). The
kit is a JSON file in the course's private state folder; it travels to the
trusted executor (or a Dask worker) and never into a sandbox. It also carries
its tests and given cells compiled for the judge (``compiled``, see
:mod:`autograder.engine.judge_code`) and its released cells compiled for the
kernel (``kernel_compiled``, :mod:`autograder.engine.kernel_code`; the executor
forwards one cell's entry at a time), so no executor or kernel parses them
again; both are derived from the cells and are not part of ``tests_hash``.

Given cells (``KitCell.is_given``: locked code cells without points or answer)
hold the instructor's data. Each runs right after random, NumPy and torch are
seeded with ``grading_seed + k``, k its position among the given cells: in the
student's kernel and, for the tests, in the judge, so both get the same data.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coursebase.files import write_atomic

KIT_VERSION = 1


@dataclass
class KitCell:
    grade_id: str
    cell_type: str
    locked: bool
    grade: bool
    solution: bool
    points: float | None
    checksum: str | None
    source: str             # the gradebook's version: hidden tests included
    visible_source: str     # the released version: what students see

    @property
    def is_test(self) -> bool:
        return self.grade and not self.solution and self.cell_type == "code"

    @property
    def is_manual(self) -> bool:
        return self.grade and self.solution

    @property
    def is_given(self) -> bool:
        """A locked code cell without points and without an answer: the instructor's given code and data."""
        return self.locked and not self.grade and not self.solution and self.cell_type == "code"


@dataclass
class Kit:
    assignment: str
    notebook: str                     # released notebook file name
    cells: list[KitCell]              # in released order
    data_files: list[str] = field(default_factory=list)   # released files beside the notebook
    tests_hash: str = ""
    compiled: str = ""    # the judge's compiled tests and given cells (judge_code.Compiled.dumps); not hashed
    kernel_compiled: str = ""   # the released cells the kernel runs, compiled (kernel_code.build); not hashed

    def compile_for_judge(self) -> str:
        """Its tests and given cells compiled for the judge, as :attr:`compiled` keeps them."""
        from autograder.engine.judge_code import Compiled, judged_name

        return Compiled.build(tests=[(c.source, judged_name(c.grade_id)) for c in self.cells if c.is_test],
                              given=[(c.source, c.grade_id) for c in self.given_cells()],
                              locked=self.locked_code()).dumps()

    def compile_for_kernel(self) -> str:
        """Its released cells compiled as the kernel's IPython compiles them, as :attr:`kernel_compiled` keeps them."""
        from autograder.engine import kernel_code

        return kernel_code.build(self.released_code())

    def released_code(self) -> list[str]:
        """What the kernel runs of the kit's own cells, all of it released text: each test's visible
        part and each locked code cell that students see as it is (never a hidden test)."""
        return [c.visible_source for c in self.cells if c.is_test] + \
            [c.source for c in self._locked_code_cells() if c.source == c.visible_source]

    def locked_code(self) -> list[str]:
        """Sources of the locked code cells that are not tests: the module names they import mean those
        modules in every test (judge.given_imports)."""
        return [c.source for c in self._locked_code_cells()]

    def _locked_code_cells(self) -> list[KitCell]:
        return [c for c in self.cells if c.locked and not c.is_test and c.cell_type == "code"]

    def by_id(self) -> dict[str, KitCell]:
        return {c.grade_id: c for c in self.cells}

    def given_cells(self) -> list[KitCell]:
        """The given cells in released order; a cell's position here picks its seed (see given_seed)."""
        return [c for c in self.cells if c.is_given]

    def given_seed(self, grade_id: str, seed: int) -> int:
        """The seed random, NumPy and torch get right before a given cell runs, in the kernel and in the judge."""
        return seed + [c.grade_id for c in self.given_cells()].index(grade_id)

    @property
    def max_score(self) -> float:
        return float(sum(c.points or 0 for c in self.cells if c.grade))

    def to_json(self) -> dict:
        return {"version": KIT_VERSION, "assignment": self.assignment, "notebook": self.notebook,
                "cells": [asdict(c) for c in self.cells], "data_files": self.data_files,
                "tests_hash": self.tests_hash, "compiled": self.compiled, "kernel_compiled": self.kernel_compiled}

    @classmethod
    def from_json(cls, data: dict) -> "Kit":
        return cls(assignment=data["assignment"], notebook=data["notebook"],
                   cells=[KitCell(**c) for c in data["cells"]], data_files=list(data.get("data_files", [])),
                   tests_hash=data.get("tests_hash", ""), compiled=str(data.get("compiled") or ""),
                   kernel_compiled=str(data.get("kernel_compiled") or ""))

    def save(self, path: Path) -> Path:
        return write_atomic(path, json.dumps(self.to_json(), sort_keys=True))

    @classmethod
    def load(cls, path: Path | str) -> "Kit":
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def tests_hash(cells: list[KitCell]) -> str:
    """Changes whenever anything that decides a score changes."""
    payload = json.dumps([asdict(c) for c in cells], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]
