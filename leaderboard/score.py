"""Accuracy on the public and private split, with 95 % bootstrap intervals: pure.

A bootstrap of accuracy resamples the n rows with replacement and counts the
correct ones; that count is exactly a Binomial(n, accuracy) draw. So instead of
B x n resampled rows we draw B binomial counts in one vectorised call, which is
the same distribution at a fraction of the cost.

Each interval comes from its own generator seeded by (seed, correct, total), so
an interval depends only on that submission's numbers: re-scoring a file, or
scoring it in a different batch, gives the same interval.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .records import Accuracy

REPLICATES = 2000
LEVEL = 0.95


def accuracy(predictions: np.ndarray, truth: np.ndarray) -> float:
    """Share of rows where ``predictions`` equals ``truth`` (same length, 1-D)."""
    predictions, truth = np.asarray(predictions), np.asarray(truth)
    if predictions.shape != truth.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {predictions.shape} and truth {truth.shape} must be 1-D of one length")
    if truth.size == 0:
        raise ValueError("truth is empty: there is nothing to score")
    return float(np.count_nonzero(predictions == truth)) / truth.size


@lru_cache(maxsize=65536)
def interval(correct: int, total: int, seed: int, replicates: int = REPLICATES,
             level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of ``correct / total`` (binomial draws, fixed seed)."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be between 0 and total={total}, got {correct}")
    rng = np.random.default_rng([seed, correct, total])
    draws = rng.binomial(total, correct / total, size=replicates) / total
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def score_split(predictions: np.ndarray, truth: np.ndarray, public: np.ndarray,
                seed: int) -> tuple[list[Accuracy], list[Accuracy]]:
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
        low, high = interval(int(correct), total, seed)
        return Accuracy(int(correct), total, low, high)

    return ([pack(c, n_public) for c in public_correct.tolist()],
            [pack(c, n_private) for c in private_correct.tolist()])
