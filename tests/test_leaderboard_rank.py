"""leaderboard/rank.py, selection.py and pseudonym.py: order, ties, baselines, Kaggle's final-choice rule."""
from __future__ import annotations

import datetime as dt

from leaderboard.pseudonym import pseudonym, pseudonyms
from leaderboard.rank import Entry, rank_entries
from leaderboard.records import Accuracy, CsvStatus, Submission
from leaderboard.selection import BEST_PUBLIC, SELECTED, best_public, final_submission

UTC = dt.timezone.utc


def t(hour: int) -> dt.datetime:
    return dt.datetime(2026, 12, 1, hour, tzinfo=UTC)


def test_higher_accuracy_ranks_first_and_ties_go_to_the_earlier_submission():
    ranked = rank_entries([Entry("late", 0.88, t(15)), Entry("best", 0.91, t(16)), Entry("early", 0.88, t(9))])
    assert [(r.entry.key, r.rank) for r in ranked] == [("best", 1), ("early", 2), ("late", 3)]


def test_baselines_are_shown_but_take_no_rank():
    ranked = rank_entries([Entry("a", 0.90, t(9)), Entry("MLP 2x128", 0.87, t(1), baseline=True),
                           Entry("b", 0.87, t(10)), Entry("c", 0.80, t(11)),
                           Entry("linear", 0.84, t(1), baseline=True)])
    assert [(r.entry.key, r.rank) for r in ranked] == [
        ("a", 1), ("b", 2), ("MLP 2x128", None), ("linear", None), ("c", 3)]


def test_order_does_not_depend_on_input_order():
    entries = [Entry(k, 0.85, t(9)) for k in "dcba"]
    assert [r.entry.key for r in rank_entries(entries)] == ["a", "b", "c", "d"]


def sub(i, hour, public, private, status=CsvStatus.SCORED, selected=False):
    acc = (lambda v: Accuracy(v, 100, 0, 1)) if status == CsvStatus.SCORED else (lambda v: None)
    return Submission(i, "s", "a", t(hour), f"h{i}", status, public=acc(public), private=acc(private),
                      selected=selected)


def test_without_a_choice_the_best_public_score_counts_earliest_on_ties():
    subs = [sub(1, 9, 80, 90), sub(2, 10, 85, 70), sub(3, 11, 85, 99), sub(4, 12, 0, 0, CsvStatus.INVALID)]
    chosen, why = final_submission(subs)
    assert chosen.id == 2 and why == BEST_PUBLIC      # not the best private (3), not the latest
    assert best_public(subs).id == 2


def test_with_a_choice_the_best_private_among_the_selected_counts():
    subs = [sub(1, 9, 80, 90, selected=True), sub(2, 10, 95, 70), sub(3, 11, 60, 95, selected=True)]
    chosen, why = final_submission(subs)
    assert chosen.id == 3 and why == SELECTED


def test_nothing_scored_means_nothing_counts():
    assert final_submission([sub(1, 9, 0, 0, CsvStatus.INVALID), sub(2, 9, 0, 0, CsvStatus.OVER_LIMIT)]) == (None, "")
    assert final_submission([]) == (None, "")


def test_pseudonyms_are_stable_distinct_and_keyed():
    ids = [f"student{i:03d}" for i in range(400)]
    names = pseudonyms(ids, "course:1")
    assert len(set(names.values())) == 400
    assert names["student007"] == pseudonyms(["student007", "x"], "course:1")["student007"]
    assert pseudonym("student007", "course:1") != pseudonym("student007", "course:2")
    assert all("student" not in n for n in names.values())
