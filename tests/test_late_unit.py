"""coursebase/late.py: properties of ``price_lateness`` over many times and scores, and the flag's words.

Fast tier (tests/test_late.py has the worked examples; these are the invariants).
"""
from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from coursebase.late import Lateness, describe, price_lateness
from coursebase.policy import LatePolicy

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 12, 7, 23, 59, tzinfo=UTC)

seconds = st.integers(-600_000, 3_600_000)   # whole seconds: timedelta keeps them exactly
scores = st.floats(0, 100, allow_nan=False).flatmap(lambda m: st.tuples(st.just(m), st.floats(0, m)))
policies = st.builds(LatePolicy, kind=st.sampled_from(["none", "per_day", "reject"]),
                     per_day=st.floats(0, 1), max_penalty=st.floats(0, 1), grace_minutes=st.integers(0, 120).map(float))


@given(after=seconds, score=scores, policy=policies)
def test_the_penalty_never_exceeds_the_raw_score_nor_the_cap(after, score, policy):
    max_score, raw = score
    result = price_lateness(DUE + dt.timedelta(seconds=after), DUE, policy, max_score, raw)
    assert 0.0 <= result.penalty <= round(raw, 6)
    if policy.kind == "per_day":
        assert result.penalty <= round(policy.max_penalty * max_score, 6) + 1e-9
    late = after > policy.grace_minutes * 60
    assert result.late == late
    if late:
        # started days after due + grace: never 0, one more for each full day
        assert result.days_late >= 1
        assert (result.days_late - 1) * 86400 < after - policy.grace_minutes * 60 <= result.days_late * 86400
    else:
        assert result == Lateness.on_time()


@given(first=seconds, second=seconds, score=scores)
def test_later_never_costs_less(first, second, score):
    early, late = sorted((first, second))
    policy = LatePolicy(kind="per_day", per_day=0.1, max_penalty=0.5, grace_minutes=15)
    a = price_lateness(DUE + dt.timedelta(seconds=early), DUE, policy, *score)
    b = price_lateness(DUE + dt.timedelta(seconds=late), DUE, policy, *score)
    assert a.days_late <= b.days_late and a.penalty <= b.penalty


def test_the_late_flag_words():
    assert describe(Lateness(True, 1, 1.0), DUE) == "1 day late (due 2026-12-07T23:59:00+00:00), penalty 1"
    assert describe(Lateness(True, 3, 2.5), DUE) == "3 days late (due 2026-12-07T23:59:00+00:00), penalty 2.5"
