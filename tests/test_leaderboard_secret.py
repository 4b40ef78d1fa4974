"""The course secret: random, made by prepare, kept with the private solution; it keys the pseudonyms
and the split; public files are refused as a secret; rotating changes pseudonyms only."""
from __future__ import annotations

import os
import stat
import subprocess

import numpy as np
import pytest
from leaderboard_corpus.build import at, make_course, snapshot, synthetic_images

from leaderboard import api
from leaderboard.cli import main
from leaderboard.competition import load_solution
from leaderboard.prepare import prepare_competition
from leaderboard.records import LeaderboardError
from leaderboard.secret import SECRET_NAME, load_secret, read_private_secret


def _args():
    return synthetic_images(10, 1) + synthetic_images(40, 2)


def test_prepare_makes_a_private_random_secret_outside_course_toml(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    prepare_competition(a, *_args(), public_fraction=0.3)
    prepare_competition(b, *_args(), public_fraction=0.3)
    secret_a = load_secret(a / "private")
    assert stat.S_IMODE(os.stat(a / "private" / SECRET_NAME).st_mode) == 0o600
    assert secret_a != load_secret(b / "private")
    assert not list((a / "public").glob("*secret*"))
    # Same data, same course.toml: the splits differ, because only the secret keys them.
    assert not np.array_equal(load_solution(a / "private" / "solution.csv").public,
                              load_solution(b / "private" / "solution.csv").public)
    # Preparing again reuses the secret: the same competition, nothing to --force.
    before = snapshot(a)
    prepare_competition(a, *_args(), public_fraction=0.3)
    assert snapshot(a) == before


def test_pseudonyms_come_from_the_secret_not_course_toml(tmp_path):
    course = make_course(tmp_path / "c", n_test=30)
    course.submit("s1", course.predictions_with_accuracy(15), at(1))
    first = api.score(course.root).standings.students[0].pseudonym
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace("split_seed = 99", "split_seed = 100"))   # public knob: no effect
    assert api.score(course.root).standings.students[0].pseudonym == first
    assert main(["secret", "--rotate", "--course", str(course.root)]) == 0
    assert api.score(course.root).standings.students[0].pseudonym != first


def test_a_course_without_a_secret_gets_a_clear_message(tmp_path, capsys):
    course = make_course(tmp_path / "c", n_test=30)
    course.submit("s1", course.predictions_with_accuracy(15), at(1))
    api.score(course.root)
    (course.root / "competition" / "private" / SECRET_NAME).unlink()      # a course from before secrets
    assert main(["show", "--course", str(course.root)]) == 2
    err = capsys.readouterr().err
    assert "no course secret" in err and "leaderboard secret --rotate" in err and "Traceback" not in err
    assert api.final_results(course.root)["s1"].status == "scored"          # grades need no pseudonyms


@pytest.mark.parametrize("where, why", [
    ("world", "others can read it"),
    ("public", "which students get"),
    ("course.toml", "it is course.toml"),
    ("git", "tracked by git"),
])
def test_prepare_refuses_a_secret_from_a_public_file(tmp_path, where, why):
    good = "ab" * 32
    folder = tmp_path / "repo"
    (folder / "competition" / "public").mkdir(parents=True)
    path = {"world": folder / "key.txt", "public": folder / "competition" / "public" / "key.txt",
            "course.toml": folder / "course.toml", "git": folder / "key.txt"}[where]
    path.write_text(good)
    os.chmod(path, 0o644 if where == "world" else 0o600)
    if where == "git":
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
        subprocess.run(["git", "-C", str(folder), "add", "key.txt"], check=True)
    with pytest.raises(LeaderboardError, match=why):
        read_private_secret(path, folder / "competition" / "public")


def test_a_private_secret_file_reproduces_the_split(tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("cd" * 32)
    os.chmod(key, 0o600)
    secret = read_private_secret(key, tmp_path / "competition" / "public")
    one = prepare_competition(tmp_path / "one", *_args(), public_fraction=0.3, secret=secret)
    two = prepare_competition(tmp_path / "two", *_args(), public_fraction=0.3, secret=secret)
    assert one.paths.solution.read_bytes() == two.paths.solution.read_bytes()


@pytest.mark.parametrize("kind", ["link", "fifo", "folder", "too long"])
@pytest.mark.timeout(30)
def test_a_secret_that_is_not_a_small_regular_file_is_refused_unread(tmp_path, kind):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("ef" * 32)
    private = tmp_path / "private"
    private.mkdir()
    path = private / SECRET_NAME
    {"link": lambda: path.symlink_to(elsewhere), "fifo": lambda: os.mkfifo(path), "folder": path.mkdir,
     "too long": lambda: path.write_text("ef" * 32 + " " * 500)}[kind]()
    with pytest.raises(LeaderboardError) as info:
        load_secret(private)                       # a FIFO with no writer: never waited on
    said = str(info.value)
    expected = {"link": "is a symbolic link", "fifo": "is a FIFO", "folder": "is a folder",
                "too long": "larger than 200 bytes"}[kind]
    assert expected in said and "leaderboard secret --rotate" in said and "ef" * 32 not in said
    assert elsewhere.read_text() == "ef" * 32     # nothing the instructor gave is changed
