"""coursebase/atomic.py: an output file is replaced whole or not at all."""
from __future__ import annotations

import pytest

from coursebase.atomic import write_text


def test_writes_creates_the_folder_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "exports" / "deep" / "grades.csv"
    assert write_text(target, "a,b\n1,Имя\n") == target
    assert target.read_text(encoding="utf-8") == "a,b\n1,Имя\n"
    write_text(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["grades.csv"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path):
    target = tmp_path / "grades.csv"
    target.write_text("old\n", encoding="utf-8")
    (tmp_path / ".grades.csv.partial").mkdir()        # the partial file cannot be written
    with pytest.raises(IsADirectoryError):
        write_text(target, "new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
