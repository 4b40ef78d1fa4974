"""The competition's files on disk (docs/contracts.md): where they are and how to read them.

```
<course>/competition/public/train.csv               label,pixel1..pixel784
<course>/competition/public/test.csv                Id,pixel1..pixel784 (shuffled rows, Ids 0..N-1)
<course>/competition/public/sample_submission.csv   Id,Category
<course>/competition/private/solution.csv           Id,Category,Usage (Public | Private)
```
Students have only the public files, in a ``data/`` folder beside the notebook.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leaderboard.records import LeaderboardError
from leaderboard.validate import Contract

PUBLIC = "public"
PRIVATE = "private"
TRAIN, TEST, SAMPLE, SOLUTION = "train.csv", "test.csv", "sample_submission.csv", "solution.csv"


@dataclass(frozen=True)
class CompetitionPaths:
    root: Path

    @property
    def public(self) -> Path:
        return self.root / PUBLIC

    @property
    def private(self) -> Path:
        return self.root / PRIVATE

    @property
    def train(self) -> Path:
        return self.public / TRAIN

    @property
    def test(self) -> Path:
        return self.public / TEST

    @property
    def sample(self) -> Path:
        return self.public / SAMPLE

    @property
    def solution(self) -> Path:
        return self.private / SOLUTION


@dataclass(frozen=True)
class Solution:
    """The answer key: Ids in file order, true classes, and which rows are public."""
    ids: np.ndarray
    labels: np.ndarray
    public: np.ndarray
    sha256: str

    @property
    def n_public(self) -> int:
        return int(self.public.sum())

    @property
    def n_private(self) -> int:
        return int(self.public.size - self.public.sum())

    def contract(self, n_classes: int = 10) -> Contract:
        return Contract(self.ids, n_classes=n_classes)


def parse_solution(data: bytes, name: str = "solution.csv") -> Solution:
    """Read ``Id,Category,Usage`` bytes; raise :class:`LeaderboardError` naming the line."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={"Id": "Int64", "Category": "Int64", "Usage": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise LeaderboardError(f"{name} cannot be read as CSV ({exc}); rebuild it with "
                               f"`leaderboard prepare`.") from None
    if list(frame.columns) != ["Id", "Category", "Usage"]:
        raise LeaderboardError(f"{name}: the header is {','.join(map(str, frame.columns))}; it must be "
                               f"Id,Category,Usage. Rebuild it with `leaderboard prepare`.")
    for column in ("Id", "Category", "Usage"):
        empty = frame[column].isna().to_numpy()
        if empty.any():
            raise LeaderboardError(f"{name} line {int(np.argmax(empty)) + 2}: {column} is empty.")
    usage = frame["Usage"].to_numpy(dtype=str)
    bad = ~np.isin(usage, ["Public", "Private"])
    if bad.any():
        raise LeaderboardError(f"{name} line {int(np.argmax(bad)) + 2}: Usage is {usage[bad][0]!r}; "
                               f"it must be Public or Private.")
    ids = frame["Id"].to_numpy(dtype=np.int64)
    labels = frame["Category"].to_numpy(dtype=np.int64)
    if len(np.unique(ids)) != ids.size:
        raise LeaderboardError(f"{name} has duplicate Ids; rebuild it with `leaderboard prepare`.")
    if labels.min() < 0 or labels.max() > 9:
        raise LeaderboardError(f"{name} has a Category outside 0..9; rebuild it with `leaderboard prepare`.")
    public = usage == "Public"
    if public.all() or not public.any():
        raise LeaderboardError(f"{name} needs both Public and Private rows.")
    return Solution(ids, labels.astype(np.int8), public, hashlib.sha256(data).hexdigest())


def load_solution(path: str | Path) -> Solution:
    path = Path(path)
    if not path.is_file():
        raise LeaderboardError(f"no answer key at {path}. Build the competition with `leaderboard prepare "
                               f"--data ROOT`, or pass --solution PATH/solution.csv.")
    return parse_solution(path.read_bytes(), str(path))


def load_contract(where: str | Path) -> Contract:
    """The Ids a submission must have, from the public files only (what a student has).

    ``where`` is a competition folder (with public/), a student's data/ folder, or a
    sample_submission.csv / test.csv file.
    """
    where = Path(where)
    candidates = ([where] if where.is_file() else
                  [where / PUBLIC / SAMPLE, where / SAMPLE, where / PUBLIC / TEST, where / TEST])
    for path in candidates:
        if path.is_file():
            try:
                ids = pd.read_csv(path, usecols=["Id"], dtype={"Id": np.int64})["Id"].to_numpy()
            except (ValueError, pd.errors.ParserError) as exc:
                raise LeaderboardError(f"{path} has no readable Id column ({exc}); download the "
                                       f"competition files again.") from None
            return Contract(ids)
    raise LeaderboardError(f"cannot find sample_submission.csv or test.csv in {where}. Pass --competition "
                           f"with the folder that holds the competition files (e.g. data/).")
