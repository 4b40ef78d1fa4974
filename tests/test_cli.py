"""The thin `autograder` command: arguments in, one call, a readable error out."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from classroom.cli import COMMANDS, main
from coursebase.policy import PolicyError, load_policy, parse_policy, render_policy

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

try:
    from test_export import A, graded_cohort, make_course
except ImportError:  # pragma: no cover
    from tests.test_export import A, graded_cohort, make_course


def test_course_is_accepted_before_or_after_the_command(tmp_path, capsys):
    missing = tmp_path / "no-such-course"
    for argv in (["--course", str(missing), "export"], ["export", "--course", str(missing)]):
        assert main(argv) == 2
        assert f"course directory {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()  # nothing was created on the way


def test_unknown_assignment_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "source" / "01_tensors").mkdir(parents=True)
    assert main(["grade", "99_nope", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no assignment '99_nope'" in err and "01_tensors" in err


# ------------------------------------------------------------------ conventions



def test_version_and_help_with_a_description_and_an_example_per_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("autograder 0.")
    for name, (_, description, example) in COMMANDS.items():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = capsys.readouterr().out
        assert description.split(".")[0][:40] in " ".join(out.split()), name
        assert "example:" in out and example in out, name
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    assert "wall-clock seconds per notebook, above 0" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv, words", [
    (["grade", "01_tensors", "--timeout", "-5"], "must be a number of seconds above 0, got -5"),
    (["grade", "01_tensors", "--timeout", "nan"], "above 0, got nan"),
    (["grade", "01_tensors", "--workers", "0"], "must be 1 or more, got 0"),
    (["override", "s1", "a", "c", "inf", "--reason", "r"], "must be a finite number"),
    (["-v", "-q", "export"], "not allowed with argument"),
])
def test_bad_numeric_options_are_usage_errors_and_change_nothing(tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as done:
        main(argv + ["--course", str(tmp_path)])
    assert done.value.code == 2
    assert words in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("table, words", [
    ("[late_policy]\nper_day = 10\n", "late_policy.per_day is a share of the maximum score, between 0 and 1"),
    ("[late_policy]\nmax_penalty = 1.5\n", "late_policy.max_penalty is a share"),
    ("[weights]\na = 50\nleaderboard = 30\n", "must add up to 100, got 80 (a = 50, leaderboard = 30)"),
    ("[assignments.a]\ndue = 2026-12-01T00:00:00Z\n[extensions]\ns1 = { b = 2026-12-03T00:00:00Z }\n",
     "extensions.s1 names b, which has no [assignments.<name>] due date (known: a)"),
    ("[course]\nlanguage = \"fr\"\n", "course.language must be one of en, ru"),
])
def test_policy_values_are_range_checked_with_clear_errors(tmp_path, capsys, table, words):
    (tmp_path / "course.toml").write_text(table)
    before = (tmp_path / "course.toml").read_bytes()
    with pytest.raises(PolicyError, match=r".*"):
        load_policy(tmp_path)
    assert main(["policy", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "course.toml" in err
    assert (tmp_path / "course.toml").read_bytes() == before


def test_policy_prints_the_effective_policy_with_defaults(tmp_path, capsys):
    (tmp_path / "course.toml").write_text("[late_policy]\nper_day = 0.2\n")
    assert main(["policy", "--course", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "per_day = 0.2" in text and "cell_timeout = 60.0" in text and "language = \"en\"" in text
    assert parse_policy(tomllib.loads(text)).late == load_policy(tmp_path).late   # it reads back the same
    assert main(["policy", "--json", "--course", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["late"]["per_day"] == 0.2 and data["limits"]["memory_mb"] == 2048
    # the repository's own course.toml reads back unchanged
    repo = pathlib.Path(__file__).resolve().parents[1]
    again = parse_policy(tomllib.loads(render_policy(load_policy(repo))))
    assert (again.limits, again.late, again.due, again.weights, again.leaderboard, again.language) == (
        load_policy(repo).limits, load_policy(repo).late, load_policy(repo).due, load_policy(repo).weights,
        load_policy(repo).leaderboard, load_policy(repo).language)


def test_review_and_export_json_and_exit_codes(tmp_path, tmp_path_factory, capsys):
    course = make_course(tmp_path, tmp_path_factory)
    graded_cohort(course)
    capsys.readouterr()
    assert main(["--course", str(course.root), "review", "--json"]) == 1     # something needs a person
    listed = json.loads(capsys.readouterr().out)
    assert {r["student_id"] for r in listed} == {"s002", "s003", "s004", "s006"}
    assert {r["student_id"]: r["status"] for r in listed}["s003"] == "timeout"
    assert main(["--course", str(course.root), "export", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6 and {r["student_id"]: r["score"] for r in rows if r["assignment"] == A}["s001"] == 5.0
    assert main(["-q", "--course", str(course.root), "review"]) == 1
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_piped_tables_are_not_cut_at_80_columns(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    graded_cohort(course)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    run = subprocess.run([sys.executable, "-m", "classroom.cli", "--course", str(course.root), "review"],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode == 1, run.stderr
    assert "collected but not graded yet: run `autograder grade 01_demo`" in run.stdout   # one line, whole
    assert max(len(line) for line in run.stdout.splitlines()) > 80


@pytest.mark.slow
def test_grade_exits_1_when_a_submission_needs_review_and_0_when_all_are_graded(tmp_path, tmp_path_factory):
    course = make_course(tmp_path, tmp_path_factory)
    released = json.loads(course.release_notebook(A).read_text())

    def hand_in(student: str, answer: str) -> None:
        nb = json.loads(json.dumps(released))
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "answer":
                cell["source"] = answer
        folder = course.submission_dir(student, A)
        folder.mkdir(parents=True)
        (folder / "demo.ipynb").write_text(json.dumps(nb))
        (folder / "timestamp.txt").write_text("2026-12-01T12:00:00+00:00")

    hand_in("s001", "def answer():\n    return 42")
    assert main(["-q", "--course", str(course.root), "grade", A]) == 0
    hand_in("s002", "import os\nos._exit(3)")
    assert main(["-q", "--course", str(course.root), "grade", A]) == 1      # crashed: needs a person
    from autograder.records import load_latest_records
    assert load_latest_records(course.records)[("s002", A)].status.value == "crashed"
