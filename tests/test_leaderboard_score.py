"""leaderboard/score.py: accuracy against scikit-learn, and the binomial bootstrap interval."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from leaderboard.score import accuracy, interval, score_split


def _data(n=1000, subs=6, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 10, n)
    public = np.zeros(n, dtype=bool)
    public[rng.permutation(n)[: n * 3 // 10]] = True
    predictions = np.where(rng.random((subs, n)) < np.linspace(0.5, 0.95, subs)[:, None], truth,
                           (truth + 1 + rng.integers(0, 9, (subs, n))) % 10)
    return predictions, truth, public


def test_split_accuracy_matches_sklearn():
    predictions, truth, public = _data()
    pub, priv = score_split(predictions, truth, public, seed=1)
    for row, p, q in zip(predictions, pub, priv):
        assert p.value == pytest.approx(accuracy_score(truth[public], row[public]), abs=1e-15)
        assert q.value == pytest.approx(accuracy_score(truth[~public], row[~public]), abs=1e-15)
        assert (p.total, q.total) == (300, 700)
        assert accuracy(row, truth) == pytest.approx(accuracy_score(truth, row), abs=1e-15)


def test_binomial_interval_matches_a_row_resampling_bootstrap():
    """The binomial shortcut is the bootstrap: same interval as resampling the rows themselves."""
    predictions, truth, _ = _data(n=800, subs=3, seed=5)
    rng = np.random.default_rng(9)
    for row in predictions:
        draws = rng.integers(0, truth.size, size=(4000, truth.size))
        right = row == truth
        assert right.mean() == accuracy_score(truth, row)
        resampled = right[draws].mean(axis=1)          # 4000 bootstrap samples of the rows
        ref_low, ref_high = np.quantile(resampled, [0.025, 0.975])
        correct = int((row == truth).sum())
        low, high = interval(correct, truth.size, seed=3)
        assert low == pytest.approx(ref_low, abs=0.006)
        assert high == pytest.approx(ref_high, abs=0.006)
        assert low < correct / truth.size < high


def test_interval_is_fixed_by_the_seed_and_independent_of_the_batch():
    predictions, truth, public = _data()
    alone = score_split(predictions[2], truth, public, seed=11)
    batch = score_split(predictions, truth, public, seed=11)
    assert alone[0][0] == batch[0][2] and alone[1][0] == batch[1][2]
    interval.cache_clear()                       # a fresh computation, not the cached one
    assert score_split(predictions, truth, public, seed=11) == batch
    other = score_split(predictions, truth, public, seed=12)
    assert [a.low for a in other[1]] != [a.low for a in batch[1]]


def test_interval_edges():
    assert interval(0, 50, seed=0) == (0.0, 0.0)
    assert interval(50, 50, seed=0) == (1.0, 1.0)
    low, high = interval(2500, 10_000, seed=0)
    half = 1.96 * np.sqrt(0.25 * 0.75 / 10_000)       # the normal approximation's half-width
    assert high - low == pytest.approx(2 * half, rel=0.08)


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="truth is empty"):
        accuracy(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="correct must be between 0 and total"):
        interval(11, 10, seed=0)
    with pytest.raises(ValueError, match="total must be positive"):
        interval(0, 0, seed=0)
    with pytest.raises(ValueError, match="public and the private split"):
        score_split(np.zeros((1, 4)), np.zeros(4), np.ones(4, dtype=bool), seed=0)
    with pytest.raises(ValueError, match="share the number of rows"):
        score_split(np.zeros((1, 5)), np.zeros(4), np.ones(4, dtype=bool), seed=0)
