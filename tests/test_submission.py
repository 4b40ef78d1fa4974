"""coursebase/submission.py: what a submission folder holds and how the trusted side reads it (no kernels)."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from coursebase import submission as sub

UTC = dt.timezone.utc


def make(folder: Path, files: dict[str, bytes | str]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return folder


def no_hang(fn, *args, seconds: float = 30):
    """Run fn in a thread; fail (instead of hanging the suite) if it blocks, e.g. on a FIFO."""
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:   # noqa: BLE001 - handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} blocked"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture
def folder(tmp_path) -> Path:
    f = make(tmp_path / "submitted" / "s001" / "ps1", {
        "ps1.ipynb": "{}", "submission.csv": "Id,Category\n", "timestamp.txt": "2026-12-01T12:00:00+00:00\n",
        "notes/plan.txt": "mine", ".hidden": "x", "uploaded-timestamp.txt": "2000-01-01"})
    (f / "link.csv").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("instructor only")
    os.mkfifo(f / "pipe.csv")
    return f


def test_scan_lists_regular_files_and_refuses_everything_else(folder, tmp_path):
    (folder / "linked_dir").symlink_to(tmp_path)
    files, refused = sub.scan(folder)
    assert [f.rel for f in files] == [".hidden", "notes/plan.txt", "ps1.ipynb", "submission.csv",
                                      "timestamp.txt", "uploaded-timestamp.txt"]
    assert {(r.rel, r.kind) for r in refused} == {("link.csv", "symbolic link"), ("linked_dir", "symbolic link"),
                                                   ("pipe.csv", "FIFO (named pipe)")}
    top, _ = sub.scan(folder, top_only=True)
    assert "notes/plan.txt" not in [f.rel for f in top]
    assert sub.scan(folder / "missing") == ([], [])


def test_opening_never_follows_a_link_nor_waits_on_a_fifo(folder):
    with pytest.raises(sub.NotRegular, match="is a symbolic link"):
        no_hang(sub.read_bounded, folder / "link.csv", 100)
    with pytest.raises(sub.NotRegular, match="is a FIFO"):
        no_hang(sub.read_bounded, folder / "pipe.csv", 100)
    with pytest.raises(sub.TooLarge, match="larger than 3 bytes"):
        sub.read_bounded(folder / "submission.csv", 3)
    assert sub.read_bounded(folder / "submission.csv", 100) == b"Id,Category\n"


@pytest.mark.slow  # hashes 1 GiB
def test_hashing_streams_a_large_file_in_bounded_memory(tmp_path):
    big = tmp_path / "s" / "big.bin"
    big.parent.mkdir()
    with big.open("wb") as fh:          # sparse: 1 GiB of zeros that takes no disk
        fh.truncate(1 << 30)
    tracemalloc.start()
    try:
        digest = sub.file_digest(big)
        value = sub.content_hash(big.parent)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20             # one 1 MiB chunk at a time, not 1 GiB
    h = hashlib.sha256()
    chunk = bytes(1 << 24)
    for _ in range(64):
        h.update(chunk)
    assert digest == h.digest() and len(value) == 16


def test_content_hash_is_the_one_records_already_hold(folder):
    """Same value as the hash grade.py computed before this module existed: no regrade of everything."""
    old = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith("."):
            continue
        old.update(rel.encode() + b"\0")
        old.update(hashlib.sha256(path.read_bytes()).digest())
    assert sub.content_hash(folder) == old.hexdigest()[:16]
    before = sub.content_hash(folder)
    sub.write_time(folder, dt.datetime(2026, 12, 2, tzinfo=UTC))
    assert sub.content_hash(folder) != before          # a new time means grade again


def test_time_is_the_trusted_file_only(folder):
    assert sub.read_time(folder) == dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert sub.has_uploaded_timestamp(folder)
    (folder / "timestamp.txt").unlink()
    assert sub.read_time(folder) is None and sub.time_of(folder) is None
    os.mkfifo(folder / "timestamp.txt")
    with pytest.raises(ValueError, match="FIFO"):
        no_hang(sub.read_time, folder)
    assert no_hang(sub.time_of, folder) is None
    (folder / "timestamp.txt").unlink()
    (folder / "timestamp.txt").write_text("9" * 10_000)
    with pytest.raises(ValueError, match="larger than 4096 bytes"):
        sub.read_time(folder)
    (folder / "uploaded-timestamp.txt").unlink()
    assert not sub.has_uploaded_timestamp(folder)
    assert sub.stored_name("timestamp.txt") == "uploaded-timestamp.txt" and sub.stored_name("a.csv") == "a.csv"


def test_extras_and_transport_hand_over_regular_top_level_files_only(folder):
    (folder / "big.bin").write_bytes(b"x" * 2000)
    assert no_hang(sub.extras, folder, ["submission.csv"], 1000) == {"uploaded-timestamp.txt": b"2000-01-01"}
    assert set(no_hang(sub.extras, folder)) == {"submission.csv", "uploaded-timestamp.txt", "big.bin"}
    moved = no_hang(sub.transport_files, folder)
    assert set(moved) == {".hidden", "big.bin", "ps1.ipynb", "submission.csv", "timestamp.txt",
                          "uploaded-timestamp.txt"}
    assert moved["timestamp.txt"] == b"2026-12-01T12:00:00+00:00\n"


def test_archive_names_and_listing(folder, tmp_path):
    assert sub.archive_root(folder) == folder.parent / ".archive" / "ps1"
    first = sub.archive_slot(folder)
    assert first == folder.parent / ".archive" / "ps1" / "20261201T120000Z"
    first.mkdir(parents=True)
    assert sub.archive_slot(folder) == first.with_name("20261201T120000Z-1")
    (first.parent / "elsewhere").symlink_to(tmp_path)
    assert sub.archived(folder) == [first]
    assert sub.is_submission_tree(folder.parents[1], "ps1") and not sub.is_submission_tree(folder.parents[1], "ps9")
