"""coursebase/late.py: pricing lateness from times, the late policy and the score."""
from __future__ import annotations

import datetime as dt

import pytest

from coursebase.late import Lateness, price_lateness
from coursebase.policy import LatePolicy, parse_policy

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 7, 23, 59, tzinfo=UTC)
PER_DAY = LatePolicy(kind="per_day", per_day=0.10, max_penalty=0.5, grace_minutes=15)


def at(minutes_after_due: float) -> dt.datetime:
    return DUE + dt.timedelta(minutes=minutes_after_due)


def test_on_time_and_inside_grace_cost_nothing():
    assert price_lateness(at(-60), DUE, PER_DAY, 10, 8) == Lateness(False, 0, 0.0)
    assert price_lateness(at(15), DUE, PER_DAY, 10, 8) == Lateness(False, 0, 0.0)


def test_each_started_day_after_grace_costs_per_day_of_max():
    # one minute past due+grace: one started day
    assert price_lateness(at(16), DUE, PER_DAY, 10, 8) == Lateness(True, 1, 1.0)
    # exactly one day past the line is still day 1; one more second starts day 2
    assert price_lateness(at(15 + 24 * 60), DUE, PER_DAY, 10, 8) == Lateness(True, 1, 1.0)
    second_day = at(15 + 24 * 60) + dt.timedelta(seconds=1)
    assert price_lateness(second_day, DUE, PER_DAY, 10, 8) == Lateness(True, 2, 2.0)
    # 0.1 * 3 is not 0.30000000000000004 in a grades file
    assert price_lateness(at(15 + 2 * 24 * 60 + 1), DUE, PER_DAY, 1, 1).penalty == 0.3


def test_penalty_is_capped_at_max_penalty_and_at_the_raw_score():
    ten_days = at(15 + 10 * 24 * 60)
    assert price_lateness(ten_days, DUE, PER_DAY, 10, 8) == Lateness(True, 10, 5.0)
    # a low score cannot go below zero
    assert price_lateness(ten_days, DUE, PER_DAY, 10, 2) == Lateness(True, 10, 2.0)
    assert price_lateness(ten_days, DUE, PER_DAY, 10, 0) == Lateness(True, 10, 0.0)


def test_none_flags_but_does_not_charge_and_reject_takes_everything():
    none = LatePolicy(kind="none", grace_minutes=0)
    reject = LatePolicy(kind="reject", grace_minutes=0)
    assert price_lateness(at(1), DUE, none, 10, 7) == Lateness(True, 1, 0.0)
    assert price_lateness(at(1), DUE, reject, 10, 7) == Lateness(True, 1, 7.0)
    assert price_lateness(at(-1), DUE, reject, 10, 7) == Lateness(False, 0, 0.0)


def test_no_due_date_is_never_late():
    assert price_lateness(at(10**6), None, PER_DAY, 10, 8) == Lateness.on_time()


def test_other_timezones_are_compared_as_instants():
    moscow = dt.timezone(dt.timedelta(hours=3))
    # 02:10 in Moscow on the 8th is 23:10 UTC on the 7th: before the deadline
    assert not price_lateness(dt.datetime(2026, 12, 8, 2, 10, tzinfo=moscow), DUE, PER_DAY, 10, 8).late
    assert price_lateness(dt.datetime(2026, 12, 8, 3, 30, tzinfo=moscow), DUE, PER_DAY, 10, 8).late


def test_extension_from_course_toml_wins_over_due_date():
    policy = parse_policy({
        "assignments": {"a1": {"due": "2026-12-07T23:59:00+00:00"}},
        "extensions": {"s002": {"a1": "2026-12-10T23:59:00+00:00"}},
    })
    when = dt.datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    assert price_lateness(when, policy.due_for("s001", "a1"), policy.late, 10, 10).late
    assert not price_lateness(when, policy.due_for("s002", "a1"), policy.late, 10, 10).late


@pytest.mark.parametrize("kwargs, message", [
    (dict(submitted_at=dt.datetime(2026, 12, 8)), "submitted_at must carry a timezone"),
    (dict(due=dt.datetime(2026, 12, 8)), "due must carry a timezone"),
    (dict(max_score=float("nan")), "max_score must be a finite number"),
    (dict(raw_score=-1.0), "raw_score must not be negative"),
    (dict(policy=LatePolicy(kind="halve")), "policy.kind must be none, per_day or reject"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = dict(submitted_at=at(100), due=DUE, policy=PER_DAY, max_score=10.0, raw_score=5.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        price_lateness(**args)
