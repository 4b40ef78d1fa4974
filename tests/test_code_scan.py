"""autograder/engine/code_scan.py: hostile code is named in plain words, course work is not (fast tier)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.engine.code_scan import scan_source
from coursebase.layout import SECRET_DIRS, SECRET_FILES

ROOT = Path(__file__).resolve().parents[1]


def test_every_reference_answer_of_the_course_scans_clean():
    cells = 0
    for path in sorted((ROOT / "source").glob("*/*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                cells += 1
                source = "".join(cell["source"])
                assert scan_source(source) == [], f"{path.name}: {source[:80]!r}"
    assert cells > 40


@pytest.mark.parametrize("name", sorted(SECRET_FILES))
def test_each_secret_file_of_the_course_is_flagged(name):
    findings = scan_source(f"open('/home/course/{name}')")
    assert len(findings) == 1 and findings[0].startswith("looks for course files (`"), findings


@pytest.mark.parametrize("name", sorted(SECRET_DIRS - {"private"}))
def test_each_secret_folder_of_the_course_is_flagged(name):
    findings = scan_source(f"os.listdir('/srv/course/{name}/')")
    assert len(findings) == 1 and findings[0].startswith("looks for course files"), findings


@pytest.mark.parametrize("source, finding", [
    ("open('../../gradebook.db')", "looks for course files"),
    ("import socket\nsocket.socket()", "tries the network"),
    ("import subprocess", "starts other programs"),
    ("os.symlink('/etc/passwd', 'submission.csv')", "plants links or special files for the grader to open"),
    ("torch.allclose = lambda *a, **k: True", "replaces a function tests use"),
])
def test_hostile_code_is_named(source, finding):
    assert any(f.startswith(finding) for f in scan_source(source)), scan_source(source)


@pytest.mark.parametrize("source", [
    "submitted_answer = 3\nprint(my_submitted/2)",
    "df.to_csv('submission.csv', index=False)",
    "feedback_text = 'ok'",
])
def test_ordinary_names_that_contain_a_folder_word_are_not_flagged(source):
    assert scan_source(source) == []
