"""Private accuracy -> points, by the course policy's inclusive thresholds (pure).

Defaults (course.toml ``[leaderboard]``), out of 10: a valid submission below the
first threshold gets ``floor_points`` (2); accuracy >= 0.82 -> 4, >= 0.86 -> 7,
>= 0.88 -> 9, >= 0.90 -> 10. No valid submission -> 0. Optional rank bonuses
(``rank_bonus = [[1, 1.0], [3, 0.5]]``: rank <= 1 gets +1, rank <= 3 gets +0.5;
the largest that applies) never lift the total above ``max_points``.
"""
from __future__ import annotations

# Accuracies are correct/total, exact to one rounding; this keeps 0.86 at 0.86.
_EPSILON = 1e-12


def points_for(accuracy: float | None, thresholds, floor_points: float) -> float:
    """Points for one private accuracy; ``None`` (no valid submission) gives 0."""
    if accuracy is None:
        return 0.0
    points = float(floor_points)
    for threshold, value in thresholds:
        if accuracy >= threshold - _EPSILON:
            points = float(value)
    return points


def bonus_for(rank: int | None, rank_bonus) -> float:
    """The largest bonus whose rank bar ``rank`` meets; 0 without a rank or bonuses."""
    if rank is None:
        return 0.0
    return max((float(b) for bar, b in rank_bonus if rank <= bar), default=0.0)


def grade(accuracy: float | None, rank: int | None, policy) -> float:
    """Points out of ``policy.max_points`` (a LeaderboardPolicy) for one student."""
    if accuracy is None:
        return 0.0
    base = points_for(accuracy, policy.thresholds, policy.floor_points)
    return min(base + bonus_for(rank, policy.rank_bonus), float(policy.max_points))
