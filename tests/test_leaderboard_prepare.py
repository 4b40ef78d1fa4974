"""leaderboard/prepare.py: a competition from torchvision's raw IDX layout (or plain arrays)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from leaderboard_corpus.build import snapshot, synthetic_images, write_raw_dataset

from leaderboard.cli import main
from leaderboard.competition import load_contract, load_solution
from leaderboard.prepare import download_fashion_mnist, prepare_competition, shuffle_and_split
from leaderboard.records import LeaderboardError
from leaderboard.validate import validate


@pytest.mark.parametrize("gz", [True, False])
def test_prepare_from_idx_files(tmp_path, gz, capsys):
    data = tmp_path / "fmnist"
    images_train, labels_train, images_test, labels_test = write_raw_dataset(data, 40, 30, gz=gz)
    before = snapshot(data)
    course = tmp_path / "course"
    course.mkdir()
    assert main(["prepare", "--course", str(course), "--data", str(data)]) == 0
    assert "9 public, 21 private rows" in capsys.readouterr().out
    assert snapshot(data) == before, "the user's data folder is read, never written"

    public = course / "competition" / "public"
    train = pd.read_csv(public / "train.csv")
    assert list(train.columns) == ["label"] + [f"pixel{i}" for i in range(1, 785)]
    np.testing.assert_array_equal(train["label"], labels_train)
    np.testing.assert_array_equal(train.iloc[:, 1:].to_numpy().reshape(-1, 28, 28), images_train)

    test = pd.read_csv(public / "test.csv")
    assert list(test.columns) == ["Id"] + [f"pixel{i}" for i in range(1, 785)]
    np.testing.assert_array_equal(test["Id"], np.arange(30))            # Ids after the shuffle
    pixels = test.iloc[:, 1:].to_numpy().reshape(-1, 28, 28)
    originals = [int(np.flatnonzero((images_test == img).all(axis=(1, 2)))[0]) for img in pixels]
    assert sorted(originals) == list(range(30)) and originals != list(range(30))   # shuffled, nothing lost

    solution = load_solution(course / "competition" / "private" / "solution.csv")
    np.testing.assert_array_equal(solution.labels, labels_test[originals])         # labels follow their image
    assert solution.n_public == 9 and solution.n_private == 21
    sample = (public / "sample_submission.csv").read_bytes()
    assert sample.startswith(b"Id,Category\n0,0\n1,0\n")
    assert validate(sample, load_contract(course / "competition")).ok
    assert not (public / "solution.csv").exists()


def test_the_split_and_shuffle_come_from_the_seed():
    order, public = shuffle_and_split(1000, 0.3, seed=5)
    again = shuffle_and_split(1000, 0.3, seed=5)
    other = shuffle_and_split(1000, 0.3, seed=6)
    assert public.sum() == 300 and sorted(order) == list(range(1000))
    np.testing.assert_array_equal(order, again[0])
    np.testing.assert_array_equal(public, again[1])
    assert not np.array_equal(order, other[0]) and not np.array_equal(public, other[1])
    with pytest.raises(ValueError, match="between 0 and 1"):
        shuffle_and_split(10, 1.0, seed=1)


def test_an_existing_competition_is_not_replaced_silently(tmp_path):
    args = synthetic_images(10, 1) + synthetic_images(12, 2)
    out = tmp_path / "competition"
    prepare_competition(out, *args, public_fraction=0.5, seed=1)
    prepare_competition(out, *args, public_fraction=0.5, seed=1)        # the same one again: fine
    before = snapshot(out)
    with pytest.raises(LeaderboardError, match="already holds a different competition.*--force"):
        prepare_competition(out, *args, public_fraction=0.5, seed=2)
    assert snapshot(out) == before
    prepare_competition(out, *args, public_fraction=0.5, seed=2, force=True)
    assert snapshot(out) != before


def test_bad_arrays_name_the_argument(tmp_path):
    good_images, good_labels = synthetic_images(5, 1)
    with pytest.raises(ValueError, match=r"images_train must be a uint8 array of shape \(N, 28, 28\)"):
        prepare_competition(tmp_path, good_images.astype(np.float32), good_labels, good_images, good_labels, 0.3, 1)
    with pytest.raises(ValueError, match="labels_test must be a 1-D array with one label per image"):
        prepare_competition(tmp_path, good_images, good_labels, good_images, good_labels[:3], 0.3, 1)
    with pytest.raises(ValueError, match="labels_test must be classes 0..9"):
        prepare_competition(tmp_path, good_images, good_labels, good_images, good_labels + 10, 0.3, 1)
    assert not (tmp_path / "public").exists()


def test_missing_idx_files_are_named(tmp_path, capsys):
    data = tmp_path / "fmnist"
    write_raw_dataset(data, 5, 5)
    (data / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert main(["prepare", "--course", str(tmp_path), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "lacks t10k-labels-idx1-ubyte[.gz]" in err
    assert not (tmp_path / "competition").exists()


def test_no_data_and_no_network_fails_fast_saying_to_pass_data(tmp_path):
    # A closed local port: a real connection attempt that is refused at once.
    with pytest.raises(LeaderboardError, match=r"(could not download Fashion-MNIST|looks offline).*Pass --data ROOT"):
        download_fashion_mnist(tmp_path / "dl", timeout=2, mirrors=["http://127.0.0.1:9/"])


REAL_LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"


@pytest.mark.skipif(not REAL_LABELS.is_file(), reason="the real Fashion-MNIST test labels are not on this machine")
def test_real_shaped_answer_key(tmp_path):
    """The real 10,000 test labels (stand-in images): the split sizes and scores at full size."""
    import gzip

    from leaderboard_corpus.build import COURSE_TOML, at, csv_bytes

    from leaderboard import api

    raw = gzip.decompress(REAL_LABELS.read_bytes())
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    assert labels.size == 10_000 and np.bincount(labels).tolist() == [1000] * 10
    course = tmp_path / "course"
    course.mkdir()
    (course / "course.toml").write_text(COURSE_TOML.format(daily_limit=5, pseudonyms="true",
                                                           plausibility_max=0.97, rank_bonus="[]"))
    images = np.random.default_rng(0).integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
    competition = prepare_competition(course / "competition", images[:50], labels[:50], images, labels,
                                      public_fraction=0.3, seed=99)
    assert (competition.n_public, competition.n_private) == (3000, 7000)
    truth = load_solution(competition.paths.solution).labels
    assert np.bincount(truth).tolist() == [1000] * 10
    good = truth.copy()
    wrong = np.random.default_rng(1).choice(10_000, 1300, replace=False)    # 87 % right overall
    good[wrong] = (truth[wrong] + 1) % 10
    folder = course / "submitted"
    for student, prediction in (("leaker", truth), ("honest", good)):
        target = folder / student / "04_mlp_fashion_mnist"
        target.mkdir(parents=True)
        (target / "submission.csv").write_bytes(csv_bytes(prediction))
        (target / "timestamp.txt").write_text(at(1).isoformat())
    results = {r.student_id: r for r in api.score_course(course)}
    assert results["leaker"].private_accuracy == 1.0 and results["leaker"].flags == ["implausible"]
    assert 0.85 < results["honest"].private_accuracy < 0.89 and results["honest"].flags == []


def test_offline_download_gives_up_in_the_time_it_states(tmp_path, monkeypatch):
    """A mirror whose name lookup never answers (as on a machine without a network) must not hold the
    command for files x mirrors x timeout: one bounded probe, then a message naming --data and --stand-in."""
    import time

    from leaderboard import standin

    def lookup_that_hangs(*args, **kwargs):
        time.sleep(60)
        raise OSError("no answer")
    monkeypatch.setattr(standin.socket, "create_connection", lookup_that_hangs)
    started = time.monotonic()
    with pytest.raises(LeaderboardError) as err:
        download_fashion_mnist(tmp_path / "dl", timeout=1.0, mirrors=["http://mirror.invalid/a/", "http://b.invalid/"])
    assert time.monotonic() - started < 15          # stated: about the timeout; it was files x mirrors x timeout
    assert "--data" in str(err.value) and "--stand-in" in str(err.value)
    assert not (tmp_path / "dl").exists() or not any((tmp_path / "dl").rglob("*-ubyte*"))


def test_prepare_stand_in_builds_a_labelled_competition_offline(tmp_path):
    import pandas as pd

    from leaderboard.cli import main
    (tmp_path / "course.toml").write_text('[course]\nid = "c"\n')
    assert main(["prepare", "--stand-in", "--stand-in-train", "300", "--stand-in-test", "200",
                 "--course", str(tmp_path)]) == 0
    public = tmp_path / "competition" / "public"
    train, test = pd.read_csv(public / "train.csv"), pd.read_csv(public / "test.csv")
    assert (len(train), len(test)) == (300, 200) and train.shape[1] == 785 and test.shape[1] == 785
    solution = pd.read_csv(tmp_path / "competition" / "private" / "solution.csv")
    assert set(solution["Usage"]) == {"Public", "Private"} and solution["Category"].between(0, 9).all()
    # the same course builds the same stand-in (pure, seeded by the course)
    first = (public / "train.csv").read_bytes()
    assert main(["prepare", "--stand-in", "--stand-in-train", "300", "--stand-in-test", "200",
                 "--course", str(tmp_path), "--force"]) == 0
    assert (public / "train.csv").read_bytes() == first
    # --data and --stand-in together is a usage error, nothing replaced
    assert main(["prepare", "--stand-in", "--data", str(tmp_path), "--course", str(tmp_path), "--force"]) != 0
    assert (public / "train.csv").read_bytes() == first
