"""What one sandboxed run of one submission produced: the engine's typed results.

A :class:`RunResult` is one line of ``.autograder/records.jsonl`` (``to_json`` /
``from_json`` round-trip it); its ``cells`` are the graded cells' scores
(:class:`CellResult`) and its ``outputs`` what each notebook cell showed, for
feedback pages and the autograded notebook (:class:`RecordedOutput`). Flags, the
status and cell kinds are enum members in memory and their words on disk; a
record written before these types existed loads the same (missing fields take
their defaults).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from coursebase.notebook import cell_text
from coursebase.vocabulary import Flag, Status, Word


class CellKind(Word):
    """What a cell is to the grader. A run plan holds all four; a graded cell (CellResult) is a test or manual."""
    CODE = "code"          # the student's code, or the instructor's given code: runs, earns nothing
    TEXT = "text"          # markdown or raw: shown, never run
    TEST = "test"          # a test cell: judged outside the student's process
    MANUAL = "manual"      # an answer a person grades (nbgrader's manual cell)


@dataclass
class CellResult:
    """The outcome of one graded cell (grade_id) of one submission."""
    grade_id: str
    max_score: float
    score: float | None          # None: needs a manual grade (an answered manual cell)
    ran: bool = True             # False: the kernel was gone before this cell
    error: str = ""              # one line for the student, empty when it passed
    kind: CellKind = CellKind.TEST   # TEST or MANUAL

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CellResult":
        data = dict(data)
        data["kind"] = CellKind(data.get("kind", CellKind.TEST))
        return cls(**data)


@dataclass
class RecordedOutput:
    """What one notebook cell showed in the sandboxed run, in notebook order.

    ``source`` is what the student sees (a test cell's visible part: hidden tests never
    appear). ``results`` are rich outputs, one MIME type each: ``{"text/plain": str}``,
    ``{"image/png": base64 str}`` or ``{"text/html": str}``; all of it is student output,
    to be escaped wherever it is shown.
    """
    index: int
    cell_type: str                       # code | markdown | raw
    grade_id: str | None = None
    source: str = ""
    stdout: str = ""
    stderr: str = ""
    error: str = ""                      # traceback text, no ANSI codes
    results: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False              # the kernel's output was cut at the output limit
    score: float | None = None           # graded cells: the score given
    max_score: float | None = None

    @property
    def ran(self) -> bool:
        """The cell showed something (an output or an error)."""
        return bool(self.stdout or self.stderr or self.error or self.results)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], position: int = 0) -> "RecordedOutput":
        """One entry of a record's ``outputs``; ``position`` is its place, for an entry without an index."""
        if not isinstance(data, dict):
            raise ValueError(f"an output entry is {type(data).__name__}, not an object")
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        grade_id = data.get("grade_id")
        score, max_score = data.get("score"), data.get("max_score")
        return cls(
            index=int(data.get("index", position)), cell_type=str(data.get("cell_type") or "code"),
            grade_id=grade_id if isinstance(grade_id, str) else None, source=cell_text(data.get("source")),
            stdout=cell_text(data.get("stdout")), stderr=cell_text(data.get("stderr")), error=cell_text(data.get("error")),
            results=[r for r in data.get("results") or [] if isinstance(r, dict)],
            truncated=bool(data.get("truncated")),
            score=None if score is None else float(score), max_score=None if max_score is None else float(max_score))


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
    outputs: list[RecordedOutput] = field(default_factory=list)  # per notebook cell, for feedback
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
        data["cells"] = [CellResult.from_json(c) for c in data.get("cells", [])]
        data["flags"] = {Flag(name): detail for name, detail in data.get("flags", {}).items()}
        data["outputs"] = [RecordedOutput.from_json(o, i) for i, o in enumerate(data.get("outputs", []))]
        return cls(**data)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)
