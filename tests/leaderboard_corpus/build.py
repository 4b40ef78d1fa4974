"""Builders for the leaderboard tests: small real courses, competitions and submissions.

Everything is written to real files in a temporary folder; nothing is mocked.
"""
from __future__ import annotations

import datetime as dt
import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaderboard.prepare import prepare_competition

UTC = dt.timezone.utc
ASSIGNMENT = "04_mlp_fashion_mnist"

COURSE_TOML = """\
[course]
id = "lb-test"
grading_seed = 7
timezone = "UTC"

[leaderboard]
url = "sqlite:///leaderboard.db"
assignment = "04_mlp_fashion_mnist"
public_fraction = 0.3
split_seed = 99
daily_limit = {daily_limit}
pseudonyms = {pseudonyms}
plausibility_max = {plausibility_max}
copy_agreement = 0.995
max_points = 10
floor_points = 2
thresholds = [[0.82, 4], [0.86, 7], [0.88, 9], [0.90, 10]]
rank_bonus = {rank_bonus}
"""


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """An IDX (ubyte) file as torchvision and the original Fashion-MNIST distribute them."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.tobytes()
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n)


def write_raw_dataset(root: Path, n_train: int = 40, n_test: int = 30, gz: bool = True,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torchvision's raw layout under ``root/FashionMNIST/raw``; returns the arrays written."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images_train, labels_train = synthetic_images(n_train, seed)
    images_test, labels_test = synthetic_images(n_test, seed + 1)
    suffix = ".gz" if gz else ""
    write_idx(raw / f"train-images-idx3-ubyte{suffix}", images_train, gz)
    write_idx(raw / f"train-labels-idx1-ubyte{suffix}", labels_train, gz)
    write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", images_test, gz)
    write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", labels_test, gz)
    return images_train, labels_train, images_test, labels_test


@dataclass
class MiniCourse:
    root: Path
    truth: np.ndarray          # solution labels by Id
    public: np.ndarray         # public mask by Id

    @property
    def n(self) -> int:
        return int(self.truth.size)

    def predictions_with_accuracy(self, private_correct: int, public_correct: int | None = None,
                                  seed: int = 0) -> np.ndarray:
        """Predictions with exactly this many right answers on each split."""
        rng = np.random.default_rng(seed)
        pred = (self.truth + 1) % 10                     # all wrong
        priv_idx = np.flatnonzero(~self.public)
        pub_idx = np.flatnonzero(self.public)
        if public_correct is None:
            public_correct = int(round(private_correct / priv_idx.size * pub_idx.size))
        right = np.concatenate([rng.choice(priv_idx, private_correct, replace=False),
                                rng.choice(pub_idx, public_correct, replace=False)])
        pred[right] = self.truth[right]
        return pred

    def submit(self, student: str, predictions: np.ndarray | bytes, when: dt.datetime,
               archived: bool = False) -> Path:
        """Put a submission in submitted/ the way `autograder collect` does."""
        if archived:
            folder = self.root / "submitted" / student / ".archive" / ASSIGNMENT / when.strftime("%Y%m%dT%H%M%S")
        else:
            folder = self.root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        data = predictions if isinstance(predictions, bytes) else csv_bytes(predictions)
        (folder / "submission.csv").write_bytes(data)
        (folder / "timestamp.txt").write_text(when.isoformat(), encoding="utf-8")
        return folder / "submission.csv"


def csv_bytes(predictions: np.ndarray, ids: np.ndarray | None = None) -> bytes:
    ids = np.arange(len(predictions)) if ids is None else ids
    return ("Id,Category\n" + "".join(f"{i},{int(p)}\n" for i, p in zip(ids, predictions))).encode()


def make_course(root: Path, n_test: int = 200, daily_limit: int = 5, pseudonyms: bool = True,
                plausibility_max: float = 0.97, rank_bonus: str = "[]", seed: int = 3) -> MiniCourse:
    """A course folder with course.toml and a prepared competition of ``n_test`` rows."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "course.toml").write_text(COURSE_TOML.format(
        daily_limit=daily_limit, pseudonyms=str(pseudonyms).lower(), plausibility_max=plausibility_max,
        rank_bonus=rank_bonus), encoding="utf-8")
    images_train, labels_train = synthetic_images(20, seed)
    images_test, labels_test = synthetic_images(n_test, seed + 1)
    competition = prepare_competition(root / "competition", images_train, labels_train, images_test,
                                      labels_test, public_fraction=0.3, seed=99)
    import pandas as pd
    solution = pd.read_csv(competition.paths.solution)
    return MiniCourse(root, solution["Category"].to_numpy(), (solution["Usage"] == "Public").to_numpy())


def at(day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder``: to prove a command changed nothing the user gave."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def set_mtime(path: Path, when: dt.datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))
