"""leaderboard/gather.py: the submitted/ tree (archives included) and flat folders."""
from __future__ import annotations

import datetime as dt

import pytest
from leaderboard_corpus.build import ASSIGNMENT, at, set_mtime

from leaderboard.gather import FLAT, TREE, gather, parse_timestamp
from leaderboard.records import LeaderboardError

PATTERN = r"^(?P<student_id>[A-Za-z0-9.\-]+)_"
UTC = dt.timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2026-12-01T12:00:00+00:00", dt.datetime(2026, 12, 1, 12, tzinfo=UTC)),
    ("2026-12-01T15:00:00+03:00\n", dt.datetime(2026, 12, 1, 12, tzinfo=UTC)),
    ("2026-12-01T12:00:00Z", dt.datetime(2026, 12, 1, 12, tzinfo=UTC)),
    ("2026-12-01 12:00:00.000000 UTC", dt.datetime(2026, 12, 1, 12, tzinfo=UTC)),   # nbgrader's format
    ("2026-12-01 12:00:00", dt.datetime(2026, 12, 1, 12, tzinfo=UTC)),               # no zone: UTC
])
def test_timestamps(text, expected):
    assert parse_timestamp(text) == expected


def test_a_bad_timestamp_says_what_it_expected():
    with pytest.raises(ValueError, match="is not a date and time; write it like 2026-12-01T12:00:00"):
        parse_timestamp("yesterday")


def _put(folder, csv=b"Id,Category\n", stamp=None):
    folder.mkdir(parents=True)
    (folder / "submission.csv").write_bytes(csv)
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp)


def test_submitted_tree_with_archives(tmp_path):
    root = tmp_path / "submitted"
    _put(root / "s1" / ASSIGNMENT, stamp="2026-12-03T10:00:00+00:00")
    _put(root / "s1" / ".archive" / ASSIGNMENT / "20261201T100000", stamp="2026-12-01 10:00:00.000000 UTC")
    _put(root / "s2" / ASSIGNMENT, stamp="not a time")
    (root / "s3" / ASSIGNMENT).mkdir(parents=True)
    (root / "s3" / ASSIGNMENT / "preds.csv").write_text("Id,Category\n")
    (root / "s4" / "01_tensors").mkdir(parents=True)          # another assignment only: not ours
    found = gather(root, ASSIGNMENT, PATTERN)
    assert found.layout == TREE
    assert [(f.student_id, f.submitted_at.day, f.time_source) for f in found.files if f.student_id == "s1"] == [
        ("s1", 1, "timestamp.txt"), ("s1", 3, "timestamp.txt")]
    s2 = [f for f in found.files if f.student_id == "s2"][0]
    assert s2.time_source == "file time" and "timestamp.txt unreadable" in s2.note
    assert any("s3" in str(p) and "no submission.csv (found preds.csv)" in why for p, why in found.skipped)
    assert any("timestamp.txt unreadable" in n for n in found.notes)


def test_flat_folder_uses_the_collect_pattern_and_says_times_are_file_times(tmp_path):
    flat = tmp_path / "downloads"
    flat.mkdir()
    for name, day in (("s1_try1.csv", 2), ("s1_try2.csv", 1), ("s2_final.CSV", 3)):
        (flat / name).write_text("Id,Category\n")
        set_mtime(flat / name, at(day))
    (flat / "nobody.csv").write_text("Id,Category\n")
    (flat / "s5_notes.txt").write_text("hello")
    found = gather(flat, ASSIGNMENT, PATTERN)
    assert found.layout == FLAT
    assert [(f.student_id, f.path.name) for f in found.files] == [
        ("s1", "s1_try2.csv"), ("s1", "s1_try1.csv"), ("s2", "s2_final.CSV")]
    assert all(f.time_source == "file time" for f in found.files)
    assert found.files[0].submitted_at == at(1)
    reasons = {p.name: why for p, why in found.skipped}
    assert "does not match collect.pattern" in reasons["nobody.csv"]
    assert reasons["s5_notes.txt"] == "not a .csv file"
    assert any("modification times" in n for n in found.notes)


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(LeaderboardError, match="is not a folder"):
        gather(tmp_path / "nope", ASSIGNMENT, PATTERN)
