"""validate() is total and bounded: any bytes give a verdict (never an exception), in time and
memory linear in the file and capped; a submission that is not a regular file is refused, never read."""
from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard.readfile import read_submission
from leaderboard.validate import MAX_BYTES, MAX_DIGITS, MAX_EXTRA_LINES, MAX_LISTED, MAX_MESSAGE, Contract, validate

CONTRACT = Contract(np.arange(20))
VALID = ("Id,Category\n" + "".join(f"{i},{(3 * i) % 10}\n" for i in range(20))).encode()
MESSAGE_BOUND = 60 * MAX_MESSAGE        # a few kinds of problem, MAX_LISTED lines each, cut messages


def validate_measured(data: bytes, contract: Contract):
    """(the verdict, the peak memory validate() allocated for it, in bytes)."""
    tracemalloc.start()
    try:
        verdict = validate(data, contract)      # must not raise
        return verdict, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _assert_clean_verdict(data: bytes, contract: Contract = CONTRACT):
    verdict, peak = validate_measured(data, contract)
    assert peak <= 8 * len(data) + (1 << 20), f"peak {peak} bytes for {len(data)} bytes of input"
    message = verdict.message("submission.csv")
    if verdict.ok:
        assert verdict.predictions is not None and verdict.predictions.shape == (contract.rows,)
    else:
        assert verdict.predictions is None and verdict.problems
        assert all(len(p.message) <= MAX_MESSAGE for p in verdict.problems)
        assert len(message) <= MESSAGE_BOUND
    return verdict


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_always_get_a_verdict(data):
    _assert_clean_verdict(data)


_PIECES = [b"", b"0", b"9" * 5000, b"-", b"\x00", b"\xff\xfe", b"\xc3", b"\"", b"\"\"", b",", b";", b"\t",
           b"\r", b"\n", b"\r\n", b"x" * 300, b"nan", b"1e999", b"=HYPERLINK(\"x\")", b"\xef\xbb\xbf", b"3.0"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 3), st.sampled_from(_PIECES)),
                min_size=1, max_size=6))
def test_mutated_valid_files_always_get_a_verdict(edits):
    data = bytearray(VALID)
    for at, action, piece in edits:
        at = min(at, len(data))
        if action == 0:
            data[at:at] = piece                         # insert
        elif action == 1:
            data[at:at + len(piece) or at + 1] = piece  # overwrite
        elif action == 2:
            del data[at:at + 3]                         # delete
        else:
            data[at:at] = piece * 50                    # a long run
    _assert_clean_verdict(bytes(data))


def _lines(n_rows: int, value) -> bytes:
    return ("Id,Category\n" + "".join(f"{value(i)}\n" for i in range(n_rows))).encode()


@pytest.mark.parametrize("name, data, kind, fragment", [
    ("5,000-digit Id", b"Id,Category\n" + b"1" * 5000 + b",3\n", "long_line", "line 2:"),
    ("5,000-digit label", b"Id,Category\n0," + b"7" * 5000 + b"\n", "long_line", "5002 bytes long"),
    ("40-digit Id", b"Id,Category\n" + b"1" * 30 + b",3\n", "unknown_id", "more than any Id"),
    ("131k field", b"Id,Category\n0,\"" + b"a" * 140_000 + b"\"\n", "long_line", "line 2:"),
    ("quoted long value", b"Id,Category\n0,\"" + b"a" * 100 + b"\"\n", "long_field", "100 characters"),
    ("NUL mid-file", VALID[:40] + b"\x00" + VALID[40:], "not_text", "binary"),
    ("bad UTF-8", VALID[:30] + b"\xff\xfe\xfd" + VALID[30:], "encoding", "not UTF-8"),
    ("249 KB line", b"Id,Category\n" + b"0," + b"9" * 249_000 + b"\n", "long_line", "249002 bytes"),
    ("unclosed quote", b"Id,Category\n\"0,3\n1,3\n", "fields", "line 2:"),
])
def test_hostile_lines_give_a_short_message_with_the_line(name, data, kind, fragment):
    verdict = _assert_clean_verdict(data)
    assert not verdict.ok
    assert kind in {p.kind for p in verdict.problems}, verdict.message()
    assert fragment in verdict.message(), verdict.message()


def test_ten_million_short_rows_stop_at_the_row_cap_in_bounded_memory():
    """The issue's 69 MB file of 10**7 rows took 222 s and 3.7 GB; the cap stops reading."""
    contract = Contract(np.arange(10_000))
    data = b"Id,Category\n" + b"1,1\n" * (MAX_BYTES // 4 - 4)       # just under the size cap
    assert len(data) <= MAX_BYTES
    verdict, peak = validate_measured(data, contract)
    assert not verdict.ok
    assert any("Reading stopped at line" in p.message for p in verdict.problems)
    assert verdict.rows == contract.rows + MAX_EXTRA_LINES
    assert peak < 20 * 1024 * 1024, f"peak {peak} bytes"    # the file is 10 MB; no per-row objects kept


def test_one_huge_line_is_not_held_twice():
    data = b"Id,Category\n0," + b"1" * (MAX_BYTES - 20) + b"\n"
    verdict, peak = validate_measured(data, CONTRACT)
    assert [p.kind for p in verdict.problems][:1] == ["long_line"]
    assert peak < 3 * MAX_BYTES


def test_a_mistake_on_every_line_keeps_only_the_listed_problems():
    contract = Contract(np.arange(10_000))
    verdict = validate(_lines(10_000, lambda i: f"{i},x"), contract)
    assert len([p for p in verdict.problems if p.kind == "category"]) == MAX_LISTED + 1
    assert "9990 more lines" in verdict.message()


def test_digits_cap_matches_int64():
    assert len(str(np.iinfo(np.int64).max)) - 1 == MAX_DIGITS


# -- files that are not regular files --------------------------------------------------------------
@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path


def test_a_symlink_to_a_system_file_is_refused_and_never_read(folder):
    link = folder / "submission.csv"
    link.symlink_to("/etc/passwd")
    read = read_submission(link, MAX_BYTES)
    assert read.data is None and read.problem.kind == "not_a_file"
    assert "a symbolic link" in read.problem.message and "/etc/passwd" in read.problem.message
    assert "root:" not in read.problem.message


def test_a_dangling_symlink_is_refused(folder):
    link = folder / "submission.csv"
    link.symlink_to(folder / "nowhere")
    assert "a symbolic link" in read_submission(link, MAX_BYTES).problem.message


@pytest.mark.parametrize("make, found", [
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: os.mkfifo(p), "a named pipe (FIFO)"),
])
@pytest.mark.timeout(30)
def test_a_folder_or_fifo_named_submission_csv_is_refused_without_waiting(folder, make, found):
    path = folder / "submission.csv"
    make(path)
    read = read_submission(path, MAX_BYTES)    # a FIFO with no writer: never waited on
    assert read.data is None and found in read.problem.message


@pytest.mark.timeout(30)
def test_a_device_is_refused_without_being_read():
    read = read_submission(Path("/dev/zero"), MAX_BYTES)      # endless: reading it at all would show
    assert read.data is None and read.size == 0 and read.problem.kind == "not_a_file"
    assert read.problem.message == "zero is a character device, not a regular file; upload the CSV file itself."
    # the store deduplicates uploads by this hash: a refused upload's hash is of what was found, and stays so
    assert read.sha256 == hashlib.sha256(b"a character device\0").hexdigest()


@pytest.mark.timeout(120)
def test_a_file_swapped_for_a_link_while_being_read_never_gives_the_target(folder):
    """A student process swapping submission.csv for a link to a secret while the scorer reads it:
    every read is the file's own bytes or a refusal; the secret never comes through."""
    secret = folder / "secret.txt"
    secret.write_text("Id,Category\n0,SECRET\n")
    own = VALID
    stop = threading.Event()

    def swap() -> None:
        path, staged_file, staged_link = folder / "submission.csv", folder / ".f", folder / ".l"
        while not stop.is_set():
            staged_file.write_bytes(own)
            os.replace(staged_file, path)
            staged_link.unlink(missing_ok=True)
            staged_link.symlink_to(secret)
            os.replace(staged_link, path)

    (folder / "submission.csv").write_bytes(own)
    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    outcomes = set()
    try:
        for _ in range(2000):
            read = read_submission(folder / "submission.csv", MAX_BYTES)
            if read.data is not None:
                assert read.data == own and read.problem is None
                outcomes.add("own bytes")
            else:
                assert b"SECRET" not in read.problem.message.encode()
                assert read.problem.kind == "not_a_file", read.problem.message
                outcomes.add("refused")
    finally:
        stop.set()
        thread.join(30)
    assert "refused" in outcomes      # the link was met; whether a clean read also happened is up to the scheduler


def test_a_regular_file_over_the_cap_is_read_only_to_the_cap(folder):
    path = folder / "submission.csv"
    with path.open("wb") as fh:
        fh.truncate(50 * MAX_BYTES)           # sparse: 500 MB of nothing
    read = read_submission(path, MAX_BYTES)
    assert read.data is None and read.problem.kind == "too_large" and read.size == 50 * MAX_BYTES
    assert read_submission(path, MAX_BYTES).sha256 == read.sha256



def test_validate_command_on_hostile_files_prints_a_message_not_a_traceback(tmp_path, capsys):
    from leaderboard.cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_submission.csv").write_text("Id,Category\n" + "".join(f"{i},0\n" for i in range(20)))
    digits = tmp_path / "digits.csv"
    digits.write_bytes(b"Id,Category\n" + b"9" * 5000 + b",1\n")
    link = tmp_path / "submission.csv"
    link.symlink_to("/etc/passwd")
    assert main(["validate", str(digits), "--competition", str(data)]) == 1
    out = capsys.readouterr().out
    assert "line 2: the line is 5002 bytes long" in out and len(out) < 2000
    assert main(["validate", str(link), "--competition", str(data)]) == 1
    out = capsys.readouterr().out
    assert "is a symbolic link (to '/etc/passwd')" in out and "root:" not in out
