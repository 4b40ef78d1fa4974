"""The grading records file (``.autograder/records.jsonl``): reading the newest record per submission.

Each line is one :class:`autograder.engine.results.RunResult`; the grade command appends
them (see docs/contracts.md), everything else reads them through here.
"""
from __future__ import annotations

import json

from autograder.engine.results import RunResult


def load_latest_records(path) -> dict[tuple[str, str], RunResult]:
    """The newest record per (student_id, assignment) from a records JSON Lines file.

    Lines that do not parse (a run killed mid-write) are skipped: the submission
    they belong to has no complete record and is graded again.
    """
    from pathlib import Path

    latest: dict[tuple[str, str], RunResult] = {}
    path = Path(path)
    if not path.exists():
        return latest
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = RunResult.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue
            latest[(record.student_id, record.assignment)] = record
    return latest
