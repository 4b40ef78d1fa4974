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
    pub, priv = score_split(predictions, truth, public)
    for row, p, q in zip(predictions, pub, priv):
        assert p.value == pytest.approx(accuracy_score(truth[public], row[public]), abs=1e-15)
        assert q.value == pytest.approx(accuracy_score(truth[~public], row[~public]), abs=1e-15)
        assert (p.total, q.total) == (300, 700)
        assert accuracy(row, truth) == pytest.approx(accuracy_score(truth, row), abs=1e-15)


def _wilson_reference(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's interval as Newcombe (1998) writes it, with scipy's normal quantile: an independent
    statement of the formula (the roots of |p - k/n| = z sqrt(p (1 - p) / n))."""
    from scipy.stats import norm

    z = norm.ppf(1 - (1 - level) / 2)
    a, b, c = n + z * z, -(2 * k + z * z), k * k / n      # (n + z^2) p^2 - (2k + z^2) p + k^2/n = 0
    root = np.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize("k, n, low, high", [
    (81, 263, 0.2553, 0.3662),      # Newcombe (1998), Table I, example (a)
    (15, 148, 0.0624, 0.1605),      # example (b)
    (0, 20, 0.0, 0.1611),           # example (c)
    (1, 29, 0.0061, 0.1718),        # example (d)
])
def test_wilson_matches_published_values(k, n, low, high):
    got = interval(k, n)
    assert got[0] == pytest.approx(low, abs=6e-5) and got[1] == pytest.approx(high, abs=6e-5)


def test_wilson_matches_an_independent_reference_everywhere():
    for n in (1, 2, 7, 50, 3000, 7000):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n} & set(range(n + 1))):
            ref = _wilson_reference(k, n)
            assert interval(k, n) == pytest.approx(ref, abs=1e-12), (k, n)


def test_wilson_is_monotone_and_never_zero_width():
    n = 3000
    bounds = np.array([interval(k, n) for k in range(n + 1)])
    assert np.all(np.diff(bounds[:, 0]) > 0) and np.all(np.diff(bounds[:, 1]) > 0)
    assert np.all(bounds[:, 1] - bounds[:, 0] > 0)
    assert bounds[0, 0] == 0.0 and bounds[-1, 1] == 1.0
    assert bounds[-1, 0] < 1.0 and bounds[0, 1] > 0.0                    # 100 % is not 1.0000-1.0000
    # The case: 0.8599 never gets a higher upper end than 0.86.
    assert interval(8599, 10_000)[1] < interval(8600, 10_000)[1]


def test_interval_is_the_same_in_any_batch():
    predictions, truth, public = _data()
    alone = score_split(predictions[2], truth, public)
    batch = score_split(predictions, truth, public)
    assert alone[0][0] == batch[0][2] and alone[1][0] == batch[1][2]
    interval.cache_clear()
    assert score_split(predictions, truth, public) == batch


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="truth is empty"):
        accuracy(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="correct must be between 0 and total"):
        interval(11, 10)
    with pytest.raises(ValueError, match="total must be positive"):
        interval(0, 0)
    with pytest.raises(ValueError, match="public and the private split"):
        score_split(np.zeros((1, 4)), np.zeros(4), np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="share the number of rows"):
        score_split(np.zeros((1, 5)), np.zeros(4), np.ones(4, dtype=bool))
