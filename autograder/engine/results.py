"""What one sandboxed run of one submission produced: the engine's typed results.

A :class:`RunResult` is one line of ``.autograder/records.jsonl`` (``to_json`` /
``from_json`` round-trip it); its ``cells`` are the graded cells' scores and its
``outputs`` what each notebook cell showed, for feedback pages.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from coursebase.vocabulary import Flag, Status


@dataclass
class CellResult:
    """The outcome of one graded cell (grade_id) of one submission."""
    grade_id: str
    max_score: float
    score: float | None          # None: needs a manual grade (an answered manual cell)
    ran: bool = True             # False: the kernel was gone before this cell
    error: str = ""              # one line for the student, empty when it passed
    kind: str = "test"           # test | manual

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """What one sandboxed run of one submission produced."""
    student_id: str
    assignment: str
    status: Status
    cells: list[CellResult] = field(default_factory=list)
    flags: dict[Flag, str] = field(default_factory=dict)   # flag -> what was seen
    message: str = ""
    duration: float = 0.0
    outputs: list[dict[str, Any]] = field(default_factory=list)  # per notebook cell, for feedback
    sandbox: str = "namespaces"
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(sum(c.score or 0.0 for c in self.cells))

    @property
    def max_score(self) -> float:
        return float(sum(c.max_score for c in self.cells))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["score"] = self.score
        data["max_score"] = self.max_score
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunResult":
        data = dict(data)
        data.pop("score", None)
        data.pop("max_score", None)
        data["status"] = Status(data["status"])
        data["cells"] = [CellResult(**c) for c in data.get("cells", [])]
        data["flags"] = {Flag(name): detail for name, detail in data.get("flags", {}).items()}
        return cls(**data)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


# One entry of RunResult.outputs, per notebook cell, for feedback pages:
#   {"index": int, "cell_type": "code" | "markdown", "grade_id": str | None,
#    "source": str            (what the student sees: hidden tests never appear),
#    "stdout": str, "stderr": str, "error": str (traceback text, no ANSI codes),
#    "results": [{"text/plain": str} | {"image/png": base64 str} | {"text/html": str}],
#    "truncated": bool, "score": float | None, "max_score": float | None}
