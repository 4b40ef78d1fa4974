"""leaderboard/store.py on a real SQLite file through SQLAlchemy."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from coursebase.vocabulary import Flag
from leaderboard.records import Accuracy, CsvStatus, LeaderboardError, Submission
from leaderboard.store import Store, resolve_url

UTC = dt.timezone.utc


def _sub(student, sha, status=CsvStatus.SCORED, hour=12, predictions=None):
    acc = Accuracy(80, 100, 0.7, 0.9) if status == CsvStatus.SCORED else None
    return Submission(None, student, "hw", dt.datetime(2026, 12, 1, hour, tzinfo=dt.timezone(dt.timedelta(hours=3))),
                      sha, status, "msg", "/x/submission.csv", "timestamp.txt", acc, acc, predictions=predictions)


def test_relative_sqlite_paths_live_in_the_course(tmp_path):
    assert resolve_url("sqlite:///leaderboard.db", tmp_path) == f"sqlite:///{tmp_path.resolve()}/leaderboard.db"
    assert resolve_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert resolve_url("postgresql://u:p@h/db", tmp_path) == "postgresql://u:p@h/db"


def test_round_trip_keeps_utc_scores_and_predictions(tmp_path):
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    predictions = np.arange(20, dtype=np.int8) % 10
    (new_id,) = store.add([_sub("s1", "a" * 64, predictions=predictions)])
    (back,) = store.submissions("hw", with_predictions=True)
    assert back.id == new_id and back.submitted_at == dt.datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert back.submitted_at.tzinfo is not None
    assert back.public == Accuracy(80, 100, 0.7, 0.9) and back.status == CsvStatus.SCORED
    np.testing.assert_array_equal(back.predictions, predictions)
    assert store.submissions("hw")[0].predictions is None          # not loaded unless asked
    assert store.known_files("hw") == {("s1", "a" * 64)}
    store.close()
    assert (tmp_path / "lb.db").is_file()


def test_one_row_per_student_and_file(tmp_path):
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    store.add([_sub("s1", "a" * 64), _sub("s2", "a" * 64)])        # two students, same file: both kept
    with pytest.raises(LeaderboardError, match="run the command again"):   # never a raw IntegrityError
        store.add([_sub("s1", "a" * 64)])
    assert len(store.submissions("hw")) == 2
    store.close()


def test_read_only_never_creates_or_changes_the_file(tmp_path):
    assert Store.for_course(tmp_path, "sqlite:///lb.db", read_only=True) is None
    assert not (tmp_path / "lb.db").exists()
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    store.add([_sub("s1", "a" * 64)])
    store.close()
    before = (tmp_path / "lb.db").read_bytes()
    reader = Store.for_course(tmp_path, "sqlite:///lb.db", read_only=True)
    assert [s.student_id for s in reader.submissions("hw")] == ["s1"]
    with pytest.raises(Exception, match="readonly"):
        reader.add([_sub("s2", "b" * 64)])
    reader.close()
    assert (tmp_path / "lb.db").read_bytes() == before


def test_a_different_answer_key_is_refused(tmp_path):
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    store.check_answer_key("k1", 3, 7)
    store.check_answer_key("k1", 3, 7)
    with pytest.raises(LeaderboardError, match="different solution.csv"):
        store.check_answer_key("k2", 3, 7)
    assert store.answer_key() == (3, 7)
    store.close()


def test_selection_only_of_own_scored_submissions(tmp_path):
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    ids = store.add([_sub("s1", "a" * 64), _sub("s1", "b" * 64, hour=13),
                     _sub("s1", "c" * 64, CsvStatus.INVALID, hour=14), _sub("s2", "d" * 64)])
    chosen = store.select("s1", "hw", [ids[1]])
    assert [s.selected for s in chosen] == [False, True, False]
    with pytest.raises(LeaderboardError, match="is invalid, not scored"):
        store.select("s1", "hw", [ids[2]])
    with pytest.raises(LeaderboardError, match="not one of s1's"):
        store.select("s1", "hw", [ids[3]])
    with pytest.raises(LeaderboardError, match="no submissions recorded for student 'zz'"):
        store.select("zz", "hw", [1])
    assert [s.selected for s in store.submissions("hw", student_id="s1")] == [False, True, False]
    store.close()


def test_flags_are_replaced_not_accumulated(tmp_path):
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    a, b = store.add([_sub("s1", "a" * 64), _sub("s2", "b" * 64)])
    assert store.set_flags("hw", {a: (("copy",), "copy: x")}) == 1
    assert store.set_flags("hw", {a: (("copy",), "copy: x")}) == 0
    assert store.set_flags("hw", {b: (("implausible",), "why")}) == 2
    flags = {s.id: s.flags for s in store.submissions("hw")}
    assert flags == {a: (), b: ("implausible",)}
    assert flags[b][0] is Flag.IMPLAUSIBLE          # read back as a member of the closed list
    store.close()


def test_baselines(tmp_path):
    store = Store.for_course(tmp_path, "sqlite:///lb.db")
    acc = Accuracy(84, 100, 0.8, 0.9)
    store.put_baseline("linear model", acc, acc)
    store.put_baseline("linear model", Accuracy(85, 100, 0.8, 0.9), acc)     # replaced, not doubled
    assert [(b.name, b.public.correct) for b in store.baselines()] == [("linear model", 85)]
    assert store.remove_baseline("linear model") and not store.remove_baseline("linear model")
    store.close()
