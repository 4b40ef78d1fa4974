"""leaderboard/integrity.py: copy (>= 99.5 % agreement) and implausible flags."""
from __future__ import annotations

import datetime as dt
from itertools import combinations

import numpy as np

from leaderboard.integrity import COPY, IMPLAUSIBLE, find_copies, integrity_flags
from leaderboard.records import Accuracy, CsvStatus, Submission

UTC = dt.timezone.utc


def _sub(i, student, predictions, private=0.85, status=CsvStatus.SCORED):
    n = 1000
    return Submission(i, student, "a", dt.datetime(2026, 12, 1, tzinfo=UTC), f"h{i}", status,
                      public=Accuracy(int(private * n), n, 0, 1), private=Accuracy(int(private * n), n, 0, 1),
                      predictions=predictions)


def _near(base, disagree, seed):
    out = base.copy()
    rows = np.random.default_rng(seed).choice(base.size, disagree, replace=False)
    out[rows] = (out[rows] + 1) % 10
    return out


def test_copy_threshold_is_inclusive_and_both_students_are_flagged():
    base = np.random.default_rng(0).integers(0, 10, 2000).astype(np.int8)
    subs = [_sub(1, "ann", base), _sub(2, "ben", _near(base, 10, 1)),      # 99.5 % agree: copy
            _sub(3, "cid", _near(base, 12, 2)),                              # 99.4 % with ann: not
            _sub(4, "ann", base.copy())]                                     # ann's own resubmission
    flags = integrity_flags(subs, copy_agreement=0.995, plausibility_max=0.97)
    assert flags[1][0] == (COPY,) and flags[2][0] == (COPY,) and flags[4][0] == (COPY,)
    assert 3 not in flags
    assert "copy: predictions agree with ben's submission #2 (99.50%)" in flags[1][1]
    assert "ann" in flags[2][1]


def test_identical_predictions_from_one_student_are_not_a_copy():
    base = np.random.default_rng(1).integers(0, 10, 500).astype(np.int8)
    assert integrity_flags([_sub(1, "ann", base), _sub(2, "ann", base.copy())], 0.995, 0.97) == {}


def test_implausible_is_above_the_bound_not_at_it():
    rng = np.random.default_rng(2)
    subs = [_sub(1, "a", rng.integers(0, 10, 100).astype(np.int8), private=0.971),
            _sub(2, "b", rng.integers(0, 10, 100).astype(np.int8), private=0.970)]
    flags = integrity_flags(subs, 0.995, 0.97)
    assert flags == {1: ((IMPLAUSIBLE,), flags[1][1])}
    assert "above the plausibility bound 0.9700" in flags[1][1]


def test_unscored_submissions_are_ignored():
    base = np.zeros(100, dtype=np.int8)
    subs = [_sub(1, "a", base), _sub(2, "b", None, status=CsvStatus.INVALID)]
    assert integrity_flags(subs, 0.995, 0.97) == {}


def test_find_copies_equals_brute_force_on_a_crowd():
    """The sampled prefilter misses nothing: same pairs as comparing every pair on every row."""
    rng = np.random.default_rng(3)
    rows, people = 3000, 120
    truth = rng.integers(0, 10, rows)
    crowd = np.where(rng.random((people, rows)) < 0.88, truth, rng.integers(0, 10, (people, rows)))
    for a, b, k in [(5, 6, 0), (10, 11, 15), (20, 21, 14), (30, 31, 16), (40, 41, 40)]:
        crowd[b] = _near(crowd[a], k, a)        # 0, 15 (99.5 %), 14, 16 (99.47 %) and 40 disagreements
    owners = [f"s{i}" for i in range(people)]
    found = {(p.first, p.second) for p in find_copies(crowd, owners, 0.995)}
    brute = {(i, j) for i, j in combinations(range(people), 2)
             if np.count_nonzero(crowd[i] == crowd[j]) / rows >= 0.995}
    assert found == brute
    assert {(5, 6), (10, 11), (20, 21)} <= found and (30, 31) not in found and (40, 41) not in found


def test_many_partners_are_summarised():
    same = np.zeros(50, dtype=np.int8)               # e.g. six students handing in sample_submission.csv
    subs = [_sub(i, f"s{i}", same.copy()) for i in range(1, 7)]
    flags = integrity_flags(subs, 0.995, 0.97)
    assert set(flags) == {1, 2, 3, 4, 5, 6}
    assert flags[1][1] == ("copy: predictions agree with s2's submission #2 (100.00%), s3's submission #3 "
                           "(100.00%), s4's submission #4 (100.00%) and 2 more")
