"""leaderboard/points.py: private accuracy -> points, inclusive thresholds, floor, bonuses."""
from __future__ import annotations

import pytest

from coursebase.policy import LeaderboardPolicy, parse_policy
from leaderboard.points import bonus_for, grade, points_for

DEFAULT = LeaderboardPolicy()


@pytest.mark.parametrize("accuracy, points", [
    (None, 0.0),            # no valid submission
    (0.0, 2.0),             # valid but useless still gets the floor
    (0.8199, 2.0),
    (0.82, 4.0),            # inclusive: exactly the threshold
    (0.8599, 4.0),
    (0.86, 7.0),
    (0.8799, 7.0),
    (0.88, 9.0),
    (0.8999, 9.0),
    (0.90, 10.0),
    (1.0, 10.0),
])
def test_default_mapping_matches_the_course(accuracy, points):
    assert grade(accuracy, None, DEFAULT) == points


@pytest.mark.parametrize("correct, total, points", [
    (574, 700, 4.0),        # 574/700 = 0.82 exactly
    (573, 700, 2.0),
    (602, 700, 7.0),        # 0.86
    (616, 700, 9.0),        # 0.88
    (630, 700, 10.0),       # 0.90
    (6020, 7000, 7.0),
    (8200, 10000, 4.0),
])
def test_thresholds_are_inclusive_for_accuracies_computed_as_counts(correct, total, points):
    assert grade(correct / total, None, DEFAULT) == points


def test_the_policy_file_changes_the_mapping():
    policy = parse_policy({"leaderboard": {"thresholds": [[0.5, 5], [0.7, 8]], "floor_points": 1,
                                           "max_points": 8, "rank_bonus": [[1, 2.0], [3, 0.5]]}}).leaderboard
    assert points_for(0.49, policy.thresholds, policy.floor_points) == 1.0
    assert points_for(0.5, policy.thresholds, policy.floor_points) == 5.0
    assert grade(0.6, 2, policy) == 5.5          # rank 2: the top-3 bonus
    assert grade(0.6, 1, policy) == 7.0          # rank 1: the larger bonus, not both
    assert grade(0.75, 1, policy) == 8.0         # never above max_points
    assert grade(0.6, 4, policy) == 5.0
    assert grade(None, 1, policy) == 0.0         # no valid submission: no bonus either


def test_rank_bonus_is_off_by_default():
    assert DEFAULT.rank_bonus == ()
    assert bonus_for(1, DEFAULT.rank_bonus) == 0.0
    assert bonus_for(None, ((1, 1.0),)) == 0.0
