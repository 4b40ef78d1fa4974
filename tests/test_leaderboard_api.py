"""leaderboard/api.py: scoring a course's submissions end to end, on real files and real SQLite."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leaderboard_corpus.build import at, csv_bytes, make_course, snapshot

from leaderboard import api
from leaderboard.records import CsvStatus, LeaderboardError, LeaderboardResult
from leaderboard.validate import MAX_BYTES

CORPUS = Path(__file__).parent / "leaderboard_corpus"


def _db_rows(course_root: Path):
    import sqlite3
    with sqlite3.connect(course_root / "leaderboard.db") as db:
        return db.execute("select * from submissions order by id").fetchall()


def test_daily_limit_marks_extra_files_over_limit_and_invalid_files_do_not_count(tmp_path):
    course = make_course(tmp_path / "c", daily_limit=3)
    n_priv = int((~course.public).sum())
    for k, hour in enumerate((9, 10, 11, 12, 13)):               # five valid files on 1 December
        course.submit("s1", course.predictions_with_accuracy(n_priv - 20 + k, seed=k), at(1, hour), archived=True)
    course.submit("s1", b"Id;Category\n", at(1, 8), archived=True)                 # invalid, earliest
    course.submit("s1", course.predictions_with_accuracy(n_priv - 1, seed=9), at(2, 9))   # the next day
    run = api.score(course.root)
    by_hour = {(s.submitted_at.day, s.submitted_at.hour): s for s in run.new}
    assert by_hour[(1, 8)].status == CsvStatus.INVALID
    assert [by_hour[(1, h)].status for h in (9, 10, 11)] == [CsvStatus.SCORED] * 3
    for h in (12, 13):
        over = by_hour[(1, h)]
        assert over.status == CsvStatus.OVER_LIMIT and over.public is None and over.private is None
        assert "over the daily limit: 3 submissions were already scored on 2026-12-01 (UTC)" in over.message
    assert by_hour[(2, 9)].status == CsvStatus.SCORED
    # The over-limit files would have scored better than the first three; they do not count.
    result = api.final_results(course.root)["s1"]
    assert result.status == "scored" and result.submission_id == by_hour[(2, 9)].id


def test_scoring_the_same_files_again_changes_nothing(tmp_path):
    course = make_course(tmp_path / "c")
    course.submit("s1", course.predictions_with_accuracy(120, seed=1), at(1))
    course.submit("s2", b"not,a\nsubmission\n", at(1))
    first = api.score(course.root)
    rows, csv_text = _db_rows(course.root), first.reports.csv.read_text()
    again = api.score(course.root)
    assert again.new == [] and again.unchanged == 2 and again.flags_changed == 0
    assert _db_rows(course.root) == rows
    assert again.reports.csv.read_text() == csv_text


def test_a_malformed_file_never_stops_the_run(tmp_path):
    """The whole corpus as one flat folder: each file gets its status and message, the run finishes."""
    course = make_course(tmp_path / "c", n_test=10)
    # The corpus expects Id i -> class (3 i) % 10; make that the truth so valid files score 100 %.
    solution = course.root / "competition" / "private" / "solution.csv"
    frame = pd.read_csv(solution)
    frame["Category"] = (frame["Id"] * 3) % 10
    frame.to_csv(solution, index=False)
    flat = tmp_path / "downloads"
    flat.mkdir()
    names = sorted(p.name for p in (CORPUS / "cases").iterdir())
    for k, name in enumerate(names):
        shutil.copy(CORPUS / "cases" / name, flat / f"s{k:02d}_{name}")
    with (flat / "s99_huge.csv").open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    before = snapshot(flat)
    run = api.score(course.root, submissions=flat, out_dir=tmp_path / "out")
    assert snapshot(flat) == before
    status = {s.source.split("/")[-1].split("_", 1)[1]: s for s in run.new}
    assert len(status) == len(names) + 1
    for name, sub in status.items():
        expected = CsvStatus.SCORED if name.startswith("valid_") else CsvStatus.INVALID
        assert sub.status == expected, (name, sub.message)
        if expected == CsvStatus.SCORED:
            assert sub.public.value == 1.0 and sub.private.value == 1.0
    assert "the limit is 10 MB" in status["huge.csv"].message
    assert "line 5: the Id 2 appears again" in status["several_problems.csv"].message
    table = pd.read_csv(run.reports.csv, keep_default_na=False)
    assert set(table["status"]) == {"scored", "invalid"}
    assert any("modification times" in note for note in run.notes)


def _two_submission_student(course):
    """s1: A has the better public score, B the better private score."""
    n_pub, n_priv = int(course.public.sum()), int((~course.public).sum())
    course.submit("s1", course.predictions_with_accuracy(int(0.80 * n_priv), int(0.95 * n_pub), 1), at(1), archived=True)
    course.submit("s1", course.predictions_with_accuracy(int(0.90 * n_priv), int(0.85 * n_pub), 2), at(2))


def test_best_public_counts_until_the_student_selects(tmp_path):
    course = make_course(tmp_path / "c")
    _two_submission_student(course)
    run = api.score(course.root)
    first, second = sorted(run.new, key=lambda s: s.submitted_at)
    result = api.final_results(course.root)["s1"]
    assert result.submission_id == first.id and result.points == 2.0       # 0.80 private
    assert "best public score (nothing selected)" in result.message
    api.select(course.root, "s1", [second.id])
    result = api.final_results(course.root)["s1"]
    assert result.submission_id == second.id and result.points == 10.0     # 0.90 private
    assert "selected by the student" in result.message
    with pytest.raises(LeaderboardError, match="at most 2 submissions"):
        api.select(course.root, "s1", [1, 2, 3])


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_final_results_reads_without_changing_and_covers_the_roster(tmp_path):
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "c")
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course_id="lb-test") as gb:
        for student in ("r1", "r2", "r3"):
            gb.add_student(student)
    gradebook_before = (course.root / "gradebook.db").read_bytes()
    never = api.final_results(course.root)                   # nothing scored yet
    assert {s: r.status for s, r in never.items()} == {"r1": "missing", "r2": "missing", "r3": "missing"}
    assert not (course.root / "leaderboard.db").exists()

    n_priv = int((~course.public).sum())
    course.submit("r2", b"Id,Category\n0,1\n", at(1))                                    # invalid only
    course.submit("r3", course.predictions_with_accuracy(int(0.5 * n_priv)), at(1))      # valid, weak
    course.submit("guest", course.predictions_with_accuracy(int(0.87 * n_priv)), at(1))  # not on the roster
    api.score(course.root)
    db_before = (course.root / "leaderboard.db").read_bytes()
    results = api.final_results(course.root)
    assert (course.root / "leaderboard.db").read_bytes() == db_before
    assert (course.root / "gradebook.db").read_bytes() == gradebook_before
    assert all(isinstance(r, LeaderboardResult) for r in results.values())
    summary = {s: (r.status, r.points, r.private_accuracy is None) for s, r in results.items()}
    assert summary == {"r1": ("missing", 0.0, True), "r2": ("invalid", 0.0, True),
                       "r3": ("scored", 2.0, False), "guest": ("scored", 7.0, False)}
    assert "no submission.csv for 04_mlp_fashion_mnist" in results["r1"].message
    assert "is invalid" in results["r2"].message and "line" in results["r2"].message
    assert results["guest"].max_points == 10.0 and results["guest"].rank == 1


def test_copies_and_implausible_scores_are_flagged_but_keep_their_points(tmp_path):
    course = make_course(tmp_path / "c", n_test=1000)
    n_priv = int((~course.public).sum())
    shared = course.predictions_with_accuracy(int(0.87 * n_priv), seed=4)
    course.submit("honest", course.predictions_with_accuracy(int(0.87 * n_priv), seed=5), at(1))
    course.submit("copier1", shared, at(1, 10))
    near = shared.copy()
    near[:3] = (near[:3] + 1) % 10                          # 99.7 % the same
    course.submit("copier2", near, at(1, 11))
    course.submit("leaker", course.truth.copy(), at(1, 12))
    results = {r.student_id: r for r in api.score_course(course.root)}
    assert results["copier1"].flags == ["copy"] and results["copier2"].flags == ["copy"]
    assert "copier2" in results["copier1"].message and "flagged for review" in results["copier1"].message.lower()
    assert results["leaker"].flags == ["implausible"] and results["leaker"].points == 10.0
    assert results["honest"].flags == [] and results["copier1"].points == results["honest"].points == 7.0
    page = (course.root / "reports" / "leaderboard" / "leaderboard-instructor.html").read_text()
    assert 'class="flag">copy<' in page and 'class="flag">implausible<' in page


def test_public_view_never_shows_private_scores_or_their_order(tmp_path):
    course = make_course(tmp_path / "c", n_test=1000)
    n_pub, n_priv = int(course.public.sum()), int((~course.public).sum())
    # Public order a > b > c; private order c > b > a.
    assert (n_pub, n_priv) == (300, 700)
    # Ids with '-' so they cannot turn up inside the base64 PNG by chance.
    # Correct counts (public of 300, private of 700): no private figure equals a public one.
    plan = {"s-a": (285, 560), "s-b": (270, 589), "s-c": (255, 625)}
    for k, (student, (pub, priv)) in enumerate(plan.items()):
        course.submit(student, course.predictions_with_accuracy(priv, pub, k), at(1, 9 + k))
    run = api.score(course.root)
    names = {s.student_id: s.pseudonym for s in run.standings.students}
    public_html = run.reports.public_html.read_text()
    public_md = run.reports.public_markdown.read_text()
    for page in (public_html, public_md):
        for student in plan:
            assert student not in page                                  # pseudonyms only
        for s in run.standings.students:
            for figure in (s.final.private.value, s.final.private.low, s.final.private.high):
                assert f"{figure:.4f}" not in page                      # no private number
        positions = [page.index(names[s]) for s in ("s-a", "s-b", "s-c")]
        assert positions == sorted(positions)                           # public order
    instructor = run.reports.instructor_html.read_text()
    positions = [instructor.index(f"<td>{s}</td>") for s in ("s-c", "s-b", "s-a")]
    assert positions == sorted(positions)                               # private order
    assert [r.rank for r in run.standings.instructor] == [1, 2, 3]
    assert re.search(r"data:image/svg\+xml;base64,[A-Za-z0-9+/]{1000,}", public_html)
    assert re.search(r"data:image/svg\+xml;base64,[A-Za-z0-9+/]{1000,}", instructor)


def test_without_pseudonyms_the_public_view_shows_ids(tmp_path):
    course = make_course(tmp_path / "c", pseudonyms=False)
    course.submit("s-17", course.predictions_with_accuracy(100), at(1))
    run = api.score(course.root)
    assert "s-17" in run.reports.public_html.read_text()
    assert run.standings.public[0].name == "s-17"


def test_ties_go_to_the_earlier_submission_in_both_views(tmp_path):
    course = make_course(tmp_path / "c")
    same = course.predictions_with_accuracy(120, seed=3)
    other = course.predictions_with_accuracy(120, seed=8)     # same counts, different rows: not a copy
    course.submit("late", same, at(2))
    course.submit("early", other, at(1))
    run = api.score(course.root)
    assert [r.standing.student_id for r in run.standings.instructor] == ["early", "late"]
    assert [r.rank for r in run.standings.public] == [1, 2]
    assert run.standings.public[0].name == run.standings.students[0].pseudonym


def test_baselines_show_without_taking_a_rank(tmp_path):
    course = make_course(tmp_path / "c", n_test=1000)
    n_priv = int((~course.public).sum())
    course.submit("top", course.predictions_with_accuracy(int(0.9 * n_priv), seed=1), at(1))
    course.submit("low", course.predictions_with_accuracy(int(0.8 * n_priv), seed=2), at(1))
    baseline_csv = tmp_path / "mlp.csv"
    baseline_csv.write_bytes(csv_bytes(course.predictions_with_accuracy(int(0.86 * n_priv), seed=3)))
    b = api.add_baseline(course.root, "MLP 2x128", csv_path=baseline_csv)
    assert b.private.value == pytest.approx(0.86, abs=1 / n_priv)
    run = api.score(course.root)
    order = [(r.name if r.baseline else r.standing.student_id, r.rank) for r in run.standings.instructor]
    assert order == [("top", 1), ("MLP 2x128", None), ("low", 2)]
    assert "MLP 2x128" in run.reports.public_html.read_text()
    assert "MLP 2x128" not in run.reports.csv.read_text()             # the CSV lists students only
    with pytest.raises(LeaderboardError, match="either --csv FILE or both"):
        api.add_baseline(course.root, "x", public=0.5)


def test_a_different_answer_key_is_refused(tmp_path):
    course = make_course(tmp_path / "c")
    course.submit("s1", course.predictions_with_accuracy(100), at(1))
    api.score(course.root)
    solution = course.root / "competition" / "private" / "solution.csv"
    solution.write_text(solution.read_text().replace(",Public", ",Private", 1))
    with pytest.raises(LeaderboardError, match="different solution.csv"):
        api.score(course.root)


def test_score_course_returns_results_and_writes_every_output(tmp_path):
    course = make_course(tmp_path / "c")
    n_priv = int((~course.public).sum())
    course.submit("s1", course.predictions_with_accuracy(int(0.9 * n_priv)), at(1))
    results = api.score_course(course.root, out_dir=tmp_path / "out")
    assert [(r.student_id, r.status, r.points) for r in results] == [("s1", "scored", 10.0)]
    for name in ("leaderboard.csv", "leaderboard.md", "leaderboard-public.md", "leaderboard-public.html",
                 "leaderboard-instructor.html"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    for column in ("rank", "student_id", "status", "public_accuracy", "private_accuracy", "grade", "message"):
        assert column in table.columns
    assert np.isclose(table.loc[0, "private_accuracy"], int(0.9 * n_priv) / n_priv, atol=1e-4)


@pytest.mark.parametrize("zone, second_status", [("UTC", CsvStatus.OVER_LIMIT), ("Europe/Moscow", CsvStatus.SCORED)])
def test_the_daily_limit_counts_days_in_the_course_time_zone(tmp_path, zone, second_status):
    course = make_course(tmp_path / "c", daily_limit=1)
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace('timezone = "UTC"', f'timezone = "{zone}"'))
    course.submit("s1", course.predictions_with_accuracy(100, seed=1), at(1, 20, 30), archived=True)  # 23:30 MSK
    course.submit("s1", course.predictions_with_accuracy(101, seed=2), at(1, 21, 30))                 # 00:30 MSK
    run = api.score(course.root)
    assert [s.status for s in sorted(run.new, key=lambda s: s.submitted_at)] == [CsvStatus.SCORED, second_status]


def test_a_course_with_nothing_collected_yet(tmp_path):
    course = make_course(tmp_path / "c")
    assert api.score_course(course.root) == []
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace('timezone = "UTC"', 'timezone = "Mars/Olympus"'))
    (course.root / "submitted").mkdir()
    with pytest.raises(LeaderboardError, match="not a known time zone"):
        api.score_course(course.root)
