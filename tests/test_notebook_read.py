"""The executor's read of a submitted notebook (autograder/engine/executor.py ``_read_notebook``): a FIFO,
a device, a link or an oversized file is refused in plain words, never waited on or read whole (fast tier)."""
from __future__ import annotations

import json
import os
import stat

import pytest

from autograder.engine.executor import NOTEBOOK_CAP, _read_notebook


def test_an_honest_notebook_is_read(tmp_path):
    path = tmp_path / "hw.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}}), encoding="utf-8")
    assert _read_notebook(path) == {"cells": [], "metadata": {}}


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    path = tmp_path / "hw.ipynb"
    os.mkfifo(path)
    with pytest.raises(ValueError, match="hw.ipynb is not a regular file; hand in the file itself"):
        _read_notebook(path)   # a blocking open would hang here: no writer ever comes
    assert stat.S_ISFIFO(os.lstat(path).st_mode)   # left as it was


def test_a_device_is_refused_unread(tmp_path):
    path = tmp_path / "hw.ipynb"
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))   # /dev/zero: endless if read
    except PermissionError:
        pytest.skip("making a device node needs root")
    with pytest.raises(ValueError, match="not a regular file"):
        _read_notebook(path)


def test_a_link_is_refused(tmp_path):
    target = tmp_path / "elsewhere.ipynb"
    target.write_text("{}")
    path = tmp_path / "hw.ipynb"
    path.symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link"):
        _read_notebook(path)


def test_a_notebook_over_the_cap_is_refused_after_reading_at_most_the_cap(tmp_path):
    path = tmp_path / "hw.ipynb"
    with path.open("wb") as fh:
        fh.truncate(NOTEBOOK_CAP + 1)   # sparse: no disk used
    with pytest.raises(ValueError, match=f"larger than the {NOTEBOOK_CAP >> 20} MB the grader reads"):
        _read_notebook(path)
