"""Accuracy on the public and private split, with 95 % Wilson score intervals: pure.

The interval of an accuracy ``k / n`` is Wilson's score interval (Wilson 1927;
Newcombe 1998, method 3), with ``z`` the standard normal quantile of
``1 - (1 - level) / 2`` (1.95996 for 95 %)::

    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
    [centre - half, centre + half]

It is closed-form and deterministic (the same counts give the same interval in
any batch, with no seed), lies inside [0, 1], has non-zero width at 0 % and
100 % (0 of 10 gives 0 to 0.2775), and both ends grow with ``k`` for a fixed
``n``. It replaced a percentile bootstrap, which gave 1.0000-1.0000 for a perfect
score and ends that were not monotone in the number correct.
"""
from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from leaderboard.records import Accuracy

LEVEL = 0.95


def accuracy(predictions: np.ndarray, truth: np.ndarray) -> float:
    """Share of rows where ``predictions`` equals ``truth`` (same length, 1-D)."""
    predictions, truth = np.asarray(predictions), np.asarray(truth)
    if predictions.shape != truth.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {predictions.shape} and truth {truth.shape} must be 1-D of one length")
    if truth.size == 0:
        raise ValueError("truth is empty: there is nothing to score")
    return float(np.count_nonzero(predictions == truth)) / truth.size


def _z(level: float) -> float:
    """The two-sided standard normal quantile for ``level`` (1.959964 for 0.95)."""
    return float(NormalDist().inv_cdf(1 - (1 - level) / 2))


@lru_cache(maxsize=65536)
def interval(correct: int, total: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of ``correct / total`` at ``level`` (see the module docstring)."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and total={total}, got {correct}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    z = _z(level)
    p, n, z2 = correct / total, total, z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def score_split(predictions: np.ndarray, truth: np.ndarray, public: np.ndarray
                ) -> tuple[list[Accuracy], list[Accuracy]]:
    """Public and private :class:`Accuracy` of many submissions at once.

    ``predictions`` is (submissions, rows) or (rows,); ``truth`` (rows,);
    ``public`` a boolean mask (rows,) of the public split. Returns two lists,
    one entry per submission.
    """
    predictions = np.atleast_2d(np.asarray(predictions))
    truth, public = np.asarray(truth), np.asarray(public, dtype=bool)
    if predictions.shape[1:] != truth.shape or public.shape != truth.shape:
        raise ValueError(f"predictions {predictions.shape}, truth {truth.shape} and public mask "
                         f"{public.shape} must share the number of rows")
    n_public = int(public.sum())
    n_private = truth.size - n_public
    if n_public == 0 or n_private == 0:
        raise ValueError("both the public and the private split need at least one row")
    right = predictions == truth
    public_correct = np.count_nonzero(right[:, public], axis=1)
    private_correct = np.count_nonzero(right, axis=1) - public_correct

    def pack(correct: int, total: int) -> Accuracy:
        low, high = interval(int(correct), total)
        return Accuracy(int(correct), total, low, high)

    return ([pack(c, n_public) for c in public_correct.tolist()],
            [pack(c, n_private) for c in private_correct.tolist()])
