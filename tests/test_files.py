"""coursebase/files.py: an atomic write replaces the file whole, never writes through a link, cleans up (fast tier)."""
from __future__ import annotations

import os

import pytest

from coursebase.files import write_atomic


def test_it_creates_the_folder_and_replaces_the_file(tmp_path):
    target = tmp_path / "a" / "b" / "grades.csv"
    write_atomic(target, "first")
    write_atomic(target, "второй")
    assert target.read_text(encoding="utf-8") == "второй"
    assert sorted(p.name for p in target.parent.iterdir()) == ["grades.csv"]


def test_a_link_planted_as_the_partial_file_is_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out.txt"
    os.symlink(victim, tmp_path / ".out.txt.partial")
    write_atomic(target, "new")
    assert victim.read_text() == "keep me"
    assert target.read_text() == "new" and not target.is_symlink()


def test_the_mode_is_applied_and_bytes_are_written_as_given(tmp_path):
    target = write_atomic(tmp_path / "secret.txt", b"\x00\xffkey", mode=0o600)
    assert target.read_bytes() == b"\x00\xffkey"
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "records.json"
    write_atomic(target, "old")

    def broken(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["records.json"]
