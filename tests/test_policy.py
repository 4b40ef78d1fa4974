"""coursebase/policy.py: course.toml's one typed reader, its defaults and its errors.

Fast tier: parse_policy on dicts and load_policy on small files in tmp_path.
Every error names the file and the key and says what is wrong.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coursebase.policy import (
    COLLECT_RANGES,
    DEFAULT_WEIGHTS,
    CollectPolicy,
    LatePolicy,
    LeaderboardPolicy,
    Limits,
    Policy,
    PolicyError,
    SandboxPolicy,
    load_policy,
    parse_policy,
)

FILE = Path("/course/course.toml")
UTC = dt.timezone.utc


def error(raw: dict) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(raw, FILE)
    message = str(info.value)
    assert message.startswith(f"{FILE}: "), message  # every error names the file first
    return message


def test_an_empty_file_gives_every_sections_defaults():
    policy = parse_policy({}, FILE)
    assert policy.limits == Limits()
    assert policy.sandbox == SandboxPolicy()
    assert policy.collect == CollectPolicy()
    assert policy.late == LatePolicy()
    assert policy.leaderboard == LeaderboardPolicy()
    assert policy.weights == DEFAULT_WEIGHTS
    assert policy.due == {} and policy.extensions == {}
    assert policy.course_id == "pytorch-mlp" and policy.grading_seed == 2026 and policy.timezone == "UTC"
    assert policy.collect_pattern == CollectPolicy.pattern
    assert policy.source == FILE


def test_the_documented_default_values():
    # the README and docs quote these; a changed default must change them too
    assert (Limits().cell_timeout, Limits().notebook_timeout, Limits().memory_mb) == (60.0, 600.0, 2048)
    assert Limits().workers == 0 and Limits().effective_workers >= 1
    assert Limits(workers=3).effective_workers == 3
    assert LatePolicy() == LatePolicy(kind="per_day", per_day=0.10, max_penalty=0.5, grace_minutes=15.0)
    assert CollectPolicy().max_file_bytes == 50 << 20 and CollectPolicy().max_submission_bytes == 100 << 20
    assert "torch" in SandboxPolicy().preimport
    assert LeaderboardPolicy().thresholds == ((0.82, 4.0), (0.86, 7.0), (0.88, 9.0), (0.90, 10.0))
    assert sum(DEFAULT_WEIGHTS.values()) == 100.0


def test_a_missing_course_toml_means_all_defaults(tmp_path):
    policy = load_policy(tmp_path)
    assert policy == Policy(source=None)


def test_values_are_read_and_typed(tmp_path):
    (tmp_path / "course.toml").write_text(
        '[course]\nid = "c1"\ngrading_seed = 7\n'
        '[limits]\ncell_timeout = 5\nmemory_mb = 512.0\n'
        '[late_policy]\nkind = "reject"\ngrace_minutes = 0\n'
        '[assignments.a1]\ndue = "2026-12-07T23:59:00+01:00"\n'
        '[extensions.s1]\na1 = 2026-12-09T12:00:00Z\n'
        '[weights]\na1 = 70\nleaderboard = 30\n'
        '[leaderboard]\npseudonyms = false\nthresholds = [[0.5, 1], [0.9, 2]]\n', encoding="utf-8")
    policy = load_policy(tmp_path)
    assert policy.course_id == "c1" and policy.grading_seed == 7
    assert policy.limits.cell_timeout == 5.0 and isinstance(policy.limits.cell_timeout, float)
    assert policy.limits.memory_mb == 512 and isinstance(policy.limits.memory_mb, int)
    assert policy.limits.notebook_timeout == Limits().notebook_timeout  # untouched keys keep their default
    assert policy.late.kind == "reject" and policy.late.grace_minutes == 0.0
    assert policy.due["a1"] == dt.datetime(2026, 12, 7, 22, 59, tzinfo=UTC)  # normalised to UTC
    assert policy.due["a1"].utcoffset() == dt.timedelta(0)
    assert policy.weights == {"a1": 70.0, "leaderboard": 30.0}  # a [weights] table replaces the defaults
    assert policy.leaderboard.pseudonyms is False
    assert policy.leaderboard.thresholds == ((0.5, 1.0), (0.9, 2.0))
    assert policy.source == tmp_path / "course.toml"


def test_an_extension_wins_over_the_due_date_for_that_student_only():
    policy = parse_policy({"assignments": {"a1": {"due": "2026-12-07T23:59:00+00:00"}},
                           "extensions": {"s1": {"a1": "2026-12-10T12:00:00+00:00"}}}, FILE)
    assert policy.due_for("s1", "a1") == dt.datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
    assert policy.due_for("s2", "a1") == dt.datetime(2026, 12, 7, 23, 59, tzinfo=UTC)
    assert policy.due_for("s1", "other") is None


def test_a_naive_due_date_is_read_as_utc():
    policy = parse_policy({"assignments": {"a1": {"due": "2026-12-07T23:59:00"}}}, FILE)
    assert policy.due["a1"] == dt.datetime(2026, 12, 7, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("raw, words", [
    ({"limts": {}}, ["unknown section [limts]", "Known sections:", "limits"]),
    ({"limits": {"cell_timout": 3}}, ["unknown key 'limits.cell_timout'", "Known keys:", "cell_timeout"]),
    ({"limits": {"cell_timeout": "fast"}}, ["'limits.cell_timeout' must be a number", "'fast'"]),
    ({"limits": {"cell_timeout": True}}, ["'limits.cell_timeout' must be a number"]),
    ({"limits": {"memory_mb": -1}}, ["'limits.memory_mb' must not be negative", "-1"]),
    ({"limits": {"memory_mb": 1.5}}, ["'limits.memory_mb' must be a whole number", "1.5"]),
    ({"limits": {"cell_timeout": 0}}, ["limits.cell_timeout", "must be above 0"]),
    ({"limits": []}, ["[limits] must be a table"]),
    ({"late_policy": {"kind": "sometimes"}}, ["late_policy.kind must be none, per_day or reject", "'sometimes'"]),
    ({"leaderboard": {"pseudonyms": "yes"}}, ["'leaderboard.pseudonyms' must be true or false"]),
    ({"leaderboard": {"public_fraction": 1.0}}, ["leaderboard.public_fraction must be between 0 and 1"]),
    ({"leaderboard": {"public_fraction": 0}}, ["leaderboard.public_fraction must be between 0 and 1"]),
    ({"leaderboard": {"thresholds": [[0.9, 1], [0.8, 2]]}}, ["leaderboard.thresholds", "increasing order"]),
    ({"leaderboard": {"thresholds": [[0.9]]}}, ["leaderboard.thresholds must be [[accuracy, points], ...]"]),
    ({"leaderboard": {"thresholds": 0.9}}, ["'leaderboard.thresholds' must be a list"]),
    ({"collect": {"pattern": "(?P<student>x)"}}, ["collect.pattern needs a named group (?P<student_id>...)"]),
    ({"collect": {"pattern": "(?P<student_id>"}}, ["collect.pattern is not a valid regular expression"]),
    ({"collect": {"max_file_mb": 60, "max_submission_mb": 50}},
     ["collect.max_file_mb = 60 is larger than collect.max_submission_mb = 50",
      "Raise max_submission_mb or lower max_file_mb"]),
    ({"assignments": {"a1": {"due": "next monday"}}},
     ["'assignments.a1.due' = 'next monday' is not a date and time", "2026-12-07T23:59:00+00:00"]),
    ({"assignments": {"a1": {"due": 5}}}, ["'assignments.a1.due' must be a date and time"]),
    ({"extensions": {"s1": "2026-12-07"}}, ["extensions.s1 must be a table of assignment = date"]),
    ({"extensions": {"s1": {"a1": "soon"}}}, ["'extensions.s1.a1' = 'soon' is not a date and time"]),
    ({"weights": {"a1": 0, "a2": 0}}, ["must add up to 100", "got 0"]),
    ({"weights": {"a1": 60, "a2": 30}}, ["must add up to 100", "got 90"]),
    ({"weights": {"a1": "ten"}}, ["'weights.a1' must be a number"]),
    ({"course": {"grading_seed": -1}}, ["course.grading_seed must be an integer between 0 and 2**32-1"]),
    ({"course": {"grading_seed": 2**32}}, ["course.grading_seed must be an integer"]),
    ({"course": {"grading_seed": "1"}}, ["course.grading_seed must be an integer"]),
    ({"course": {"grading_seed": True}}, ["course.grading_seed must be an integer"]),
])
def test_a_bad_value_names_the_file_the_key_and_the_fix(raw, words):
    message = error(raw)
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("key, low, high, why", COLLECT_RANGES)
def test_collect_ranges_name_the_key_both_bounds_and_why(key, low, high, why):
    # keep max_file_mb <= max_submission_mb so only the range check can fire
    for bad in (low - 1, high + 1):
        raw = {key: bad}
        if key == "max_file_mb":
            raw["max_submission_mb"] = max(bad, 1)
        message = error({"collect": raw})
        assert f"collect.{key} = {bad} is out of range" in message
        assert f"between {low} and {high}" in message and why in message
    ok = {key: low, **({"max_file_mb": 1} if key == "max_submission_mb" else {})}
    assert getattr(parse_policy({"collect": ok}, FILE).collect, key) == low


def test_invalid_toml_names_the_file_and_says_to_fix_the_line(tmp_path):
    (tmp_path / "course.toml").write_text("[limits]\ncell_timeout = = 3\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "course.toml") in message and "not valid TOML" in message and "line" in message
    # nothing the user gave is modified
    assert (tmp_path / "course.toml").read_text(encoding="utf-8") == "[limits]\ncell_timeout = = 3\n"


def test_policy_error_is_a_value_error():
    # callers that catch ValueError for bad input also catch a bad course.toml
    assert issubclass(PolicyError, ValueError)
