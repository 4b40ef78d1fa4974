"""autograder/collect.py: LMS downloads (folders and zips) into submitted/."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import struct
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autograder.collect import collect
from autograder.gradebook import open_gradebook
from autograder.intake import CollectError
from classroom.cli import main
from coursebase.layout import Course
from coursebase.timestamp import parse_timestamp

UTC = dt.timezone.utc
A = "01_demo"


def notebook_bytes(answer: str) -> bytes:
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
                     "outputs": [], "source": answer}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb).encode()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash and mtime: 'unchanged' means both."""
    return {p.relative_to(folder).as_posix(): f"{hashlib.sha256(p.read_bytes()).hexdigest()}@{p.stat().st_mtime_ns}"
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write(path: Path, data: bytes | str, mtime: dt.datetime | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory) -> Path:
    """One real gradebook with a one-student roster; creating one runs `alembic` (seconds)."""
    course = Course.at(tmp_path_factory.mktemp("template"))
    with open_gradebook(course.db_url) as gb:
        gb.add_student("s001", first_name="Ivan", last_name="Ivanov")
    return course.gradebook_path


@pytest.fixture
def course(tmp_path, empty_gradebook) -> Course:
    root = tmp_path / "course"
    write(root / "source" / A / "demo.ipynb", notebook_bytes("answer = 42"))
    write(root / "source" / A / "data.csv", "x\n1\n")
    write(root / "release" / A / "demo.ipynb", notebook_bytes("answer = None"))
    write(root / "release" / A / "data.csv", "x\n1\n")
    shutil.copy(empty_gradebook, root / "gradebook.db")
    return Course.at(root)


def roster(course: Course) -> set[str]:
    with open_gradebook(course.db_url) as gb:
        return {s.id for s in gb.students}


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_folders_and_flat_files_are_collected_under_the_released_name(course, tmp_path):
    lms = tmp_path / "lms"
    write(lms / "s001_Ivanov" / "my homework.ipynb", notebook_bytes("answer = 42"),
          dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC))
    write(lms / "s001_Ivanov" / "submission.csv", "Id,Category\n0,1\n")
    mtime = dt.datetime(2026, 12, 2, 9, 30, 5, tzinfo=UTC)
    write(lms / "s002_Petrov_01_demo.ipynb", notebook_bytes("answer = 41"), mtime)
    write(lms / "s002_submission.csv", "Id,Category\n0,2\n")
    before = tree(lms)

    summary = collect(course, A, lms)

    s001 = course.submission_dir("s001", A)
    s002 = course.submission_dir("s002", A)
    assert sorted(p.name for p in s001.iterdir()) == ["demo.ipynb", "submission.csv", "timestamp.txt"]
    assert sorted(p.name for p in s002.iterdir()) == ["demo.ipynb", "submission.csv", "timestamp.txt"]
    assert (s001 / "demo.ipynb").read_bytes() == notebook_bytes("answer = 42")
    assert (s002 / "submission.csv").read_text() == "Id,Category\n0,2\n"
    assert (s001 / "timestamp.txt").read_text().strip() == "2026-12-01T12:00:00+00:00"
    assert (s002 / "timestamp.txt").read_text().strip() == "2026-12-02T09:30:05+00:00"
    by_id = {c.student_id: c for c in summary.collected}
    assert by_id["s001"].timestamp_source == "file mtime"
    assert by_id["s002"].timestamp_source == "file mtime"
    assert by_id["s002"].extra_files == ["submission.csv"]
    # s002 is not on the roster: reported and added to the gradebook
    assert summary.unknown_added == ["s002"]
    assert roster(course) == {"s001", "s002"}
    assert summary.skipped == [] and summary.replaced == []
    assert tree(lms) == before


def zip_entry(zf: zipfile.ZipFile, name: str, data: bytes, when: tuple, utc_extra: int | None = None):
    info = zipfile.ZipInfo(name, date_time=when)
    if utc_extra is not None:
        # Info-ZIP "extended timestamp" field: flags=1 (mtime), 32-bit Unix time
        info.extra = struct.pack("<HHBi", 0x5455, 5, 1, utc_extra)
    zf.writestr(info, data)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_zip_uses_entry_times_and_steps_into_a_wrapping_folder(course, tmp_path):
    archive = tmp_path / "download.zip"
    utc_time = int(dt.datetime(2026, 12, 5, 8, 0, tzinfo=UTC).timestamp())
    with zipfile.ZipFile(archive, "w") as zf:
        zip_entry(zf, "Submissions/s001_Ivanov/hw.ipynb", notebook_bytes("a"), (2026, 12, 3, 10, 11, 12))
        zip_entry(zf, "Submissions/s002_Petrov_hw.ipynb", notebook_bytes("b"), (2030, 1, 1, 0, 0, 0), utc_time)
    before = archive.read_bytes(), archive.stat().st_mtime_ns

    summary = collect(course, A, archive)

    assert {c.student_id: c.timestamp_source for c in summary.collected} == {
        "s001": "zip entry time", "s002": "zip entry time"}
    # DOS time has no zone: read in course.timezone (UTC by default)
    assert course.submission_dir("s001", A).joinpath("timestamp.txt").read_text().strip() == "2026-12-03T10:11:12+00:00"
    # the UTC extra field wins over the DOS time
    assert course.submission_dir("s002", A).joinpath("timestamp.txt").read_text().strip() == "2026-12-05T08:00:00+00:00"
    assert course.submission_dir("s002", A).joinpath("demo.ipynb").read_bytes() == notebook_bytes("b")
    assert (archive.read_bytes(), archive.stat().st_mtime_ns) == before


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_a_replaced_submission_is_archived_never_overwritten(course, tmp_path):
    def submit(text: str, stamp: str) -> Path:
        lms = tmp_path / f"lms-{text}"
        write(lms / "s001_x" / "hw.ipynb", notebook_bytes(text), parse_timestamp(stamp))
        return lms

    collect(course, A, submit("v1", "2026-12-01T12:00:00+00:00"))
    again = collect(course, A, submit("v1", "2026-12-01T12:00:00+00:00"))
    assert again.unchanged == ["s001"] and again.collected == []
    assert not (course.submitted / "s001" / ".archive").exists()

    second = collect(course, A, submit("v2", "2026-12-01T12:00:00+00:00"))
    third = collect(course, A, submit("v3", "2026-12-02T12:00:00+00:00"))
    archive = course.submitted / "s001" / ".archive" / A
    assert second.replaced == ["s001"] and third.replaced == ["s001"]
    assert second.collected[0].archived == archive / "20261201T120000Z"
    # v2 had the same timestamp as v1: a suffix, not an overwrite
    assert third.collected[0].archived == archive / "20261201T120000Z-1"
    assert (archive / "20261201T120000Z" / "demo.ipynb").read_bytes() == notebook_bytes("v1")
    assert (archive / "20261201T120000Z-1" / "demo.ipynb").read_bytes() == notebook_bytes("v2")
    assert course.submission_dir("s001", A).joinpath("demo.ipynb").read_bytes() == notebook_bytes("v3")
    # nothing half-written is left beside the submissions
    assert sorted(p.name for p in (course.submitted / "s001").iterdir()) == [".archive", A]


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_released_data_files_win_over_the_students_copies(course, tmp_path):
    lms = tmp_path / "lms"
    write(lms / "s001_x" / "hw.ipynb", notebook_bytes("a"))
    write(lms / "s001_x" / "data.csv", "x\n999\n")          # same name as release/01_demo/data.csv
    write(lms / "s001_x" / "notes" / "plan.txt", "mine")     # sub-folders are kept
    summary = collect(course, A, lms)
    done = summary.collected[0]
    assert done.kept_released == ["data.csv"]
    assert any("kept the released data.csv" in n for n in done.notes)
    assert not course.submission_dir("s001", A).joinpath("data.csv").exists()
    assert course.submission_dir("s001", A).joinpath("notes", "plan.txt").read_text() == "mine"


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_unparseable_names_and_two_notebooks_are_reported_and_the_rest_collected(course, tmp_path, capsys,
                                                                                  monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")   # rich wraps to the terminal; keep each reason on one line
    lms = tmp_path / "lms"
    write(lms / "README.txt", "instructions")
    write(lms / "Ivanov homework.ipynb", notebook_bytes("a"))
    write(lms / "s003_first.ipynb", notebook_bytes("a"))
    write(lms / "s003_second.ipynb", notebook_bytes("b"))
    write(lms / "s004_only_a_csv.csv", "Id,Category\n")
    write(lms / "s001_good.ipynb", notebook_bytes("ok"))
    before = tree(lms)

    summary = collect(course, A, lms)

    reasons = {s.name: s.reason for s in summary.skipped}
    assert "does not match collect.pattern" in reasons["README.txt"]
    assert "does not match collect.pattern" in reasons["Ivanov homework.ipynb"]
    two = next(s for s in summary.skipped if s.student_id == "s003")
    assert "2 notebooks (s003_first.ipynb, s003_second.ipynb)" in two.reason
    assert "no notebook" in next(s for s in summary.skipped if s.student_id == "s004").reason
    assert [c.student_id for c in summary.collected] == ["s001"]
    assert not (course.submitted / "s003").exists()
    assert "s003" not in roster(course)          # nothing collected, nothing added
    printed = capsys.readouterr().out
    assert "README.txt" in printed and "2 notebooks" in printed
    assert tree(lms) == before


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
@pytest.mark.parametrize("evil, message", [
    ("../outside.py", "climbs out of the archive with '..'"),
    ("s001_x/../../outside.py", "climbs out of the archive with '..'"),
    ("/etc/cron.d/evil", "is an absolute path"),
    ("C:/Windows/evil.bat", "is an absolute path"),
])
def test_zip_with_unsafe_entries_is_refused_whole(course, tmp_path, capsys, evil, message):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zip_entry(zf, "s001_x/hw.ipynb", notebook_bytes("a"), (2026, 12, 1, 0, 0, 0))
        zip_entry(zf, evil, b"boom", (2026, 12, 1, 0, 0, 0))
    before = archive.read_bytes()

    code = main(["--course", str(course.root), "collect", A, str(archive)])

    err = capsys.readouterr().err
    assert code == 2
    assert str(archive) in err and message in err and "Nothing was collected" in err
    assert not course.submitted.exists()
    assert not (tmp_path / "outside.py").exists() and not (course.root / "outside.py").exists()
    assert archive.read_bytes() == before


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_symbolic_links_are_never_followed(course, tmp_path):
    secret = write(tmp_path / "secret.txt", "instructor only")
    lms = tmp_path / "lms"
    write(lms / "s001_x" / "hw.ipynb", notebook_bytes("a"))
    (lms / "s001_x" / "answers.txt").symlink_to(secret)
    (lms / "s002_hw.ipynb").symlink_to(secret)
    write(lms / ".._evil.ipynb", notebook_bytes("a"))        # would be submitted/../
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zip_entry(zf, "s003_hw.ipynb", notebook_bytes("c"), (2026, 12, 1, 0, 0, 0))
        link = zipfile.ZipInfo("s003_data.csv", date_time=(2026, 12, 1, 0, 0, 0))
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, str(secret))

    summary = collect(course, A, lms)
    assert [c.student_id for c in summary.collected] == ["s001"]
    assert any("answers.txt (symbolic link, not followed)" in n for n in summary.collected[0].notes)
    assert not course.submission_dir("s001", A).joinpath("answers.txt").exists()
    reasons = {s.name: s.reason for s in summary.skipped}
    assert reasons["s002_hw.ipynb"] == "symbolic link; not followed"
    assert "cannot be a folder name" in reasons[".._evil.ipynb"]
    assert not (course.root / "evil.ipynb").exists()

    summary = collect(course, A, archive)
    assert [s.reason for s in summary.skipped] == ["symbolic link inside the zip; not followed"]
    assert sorted(p.name for p in course.submission_dir("s003", A).iterdir()) == ["demo.ipynb", "timestamp.txt"]


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_a_timestamp_in_the_upload_is_kept_but_never_the_time(course, tmp_path):
    """The student wrote timestamp.txt: it is their file (kept under another name), not the submission time."""
    lms = tmp_path / "lms"
    late = dt.datetime(2026, 12, 13, 9, 0, tzinfo=UTC)
    write(lms / "s001_x" / "hw.ipynb", notebook_bytes("a"), late)
    write(lms / "s001_x" / "timestamp.txt", "2026-11-01T00:00:00+00:00")      # forged, early
    write(lms / "s002_hw.ipynb", notebook_bytes("b"), late)
    write(lms / "s002_timestamp.txt", "yesterday-ish")                        # flat file, unreadable
    summary = collect(course, A, lms)
    assert summary.skipped == []
    for student, text in (("s001", "2026-11-01T00:00:00+00:00"), ("s002", "yesterday-ish")):
        folder = course.submission_dir(student, A)
        assert (folder / "timestamp.txt").read_text().strip() == "2026-12-13T09:00:00+00:00"
        assert (folder / "uploaded-timestamp.txt").read_text() == text
    by_id = {c.student_id: c for c in summary.collected}
    assert by_id["s001"].uploaded_timestamp and by_id["s002"].uploaded_timestamp
    assert by_id["s001"].timestamp_source == "file mtime"
    assert any("kept as uploaded-timestamp.txt, not used as the time" in n for n in by_id["s001"].notes)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_pattern_comes_from_course_toml(course, tmp_path):
    (course.root / "course.toml").write_text("[collect]\npattern = '^(?P<student_id>\\d+)-'\n")
    lms = tmp_path / "lms"
    write(lms / "12345-Ivanov.ipynb", notebook_bytes("a"))
    write(lms / "s001_Ivanov.ipynb", notebook_bytes("a"))
    summary = collect(course, A, lms)
    assert [c.student_id for c in summary.collected] == ["12345"]
    assert [s.name for s in summary.skipped] == ["s001_Ivanov.ipynb"]


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_bad_inputs_are_named(course, tmp_path):
    with pytest.raises(CollectError, match="does not exist"):
        collect(course, A, tmp_path / "nope")
    not_zip = write(tmp_path / "grades.zip", "not a zip at all")
    with pytest.raises(CollectError, match="not a readable zip archive"):
        collect(course, A, not_zip)
    os.mkfifo(tmp_path / "download.zip")          # would block a reader forever
    with pytest.raises(CollectError, match="neither a folder nor a .zip archive"):
        collect(course, A, tmp_path / "download.zip")
    with pytest.raises(Exception, match="no notebook in .*source/99_nope"):
        collect(course, "99_nope", tmp_path)


def test_parse_timestamp_formats():
    assert parse_timestamp("2026-12-01T12:00:00Z") == dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2026-12-01T15:00:00+03:00") == dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_timestamp("2026-12-01 12:00:00.000000 UTC") == dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    # " UTC" wins over the course's zone
    assert parse_timestamp("2026-12-01 12:00:00 UTC", ZoneInfo("Europe/Moscow")) == \
        dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    # an LMS time without offset is in the course's time zone (course.timezone)
    assert parse_timestamp("2026-12-01 15:00:00", ZoneInfo("Europe/Moscow")) == \
        dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    # Moodle's grading worksheet writes times like this
    assert parse_timestamp("Tuesday, 1 December 2026, 3:00 PM", ZoneInfo("Europe/Moscow")) == \
        dt.datetime(2026, 12, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="is not a date and time"):
        parse_timestamp("soon")
    with pytest.raises(ValueError, match="is not a date and time"):
        parse_timestamp("9" * 10_000)


# ---------------------------------------------------------------- bounded intake (issue 10 item 6)

def set_collect(course: Course, **keys) -> None:
    lines = "".join(f"{k} = {v}\n" for k, v in keys.items())
    (course.root / "course.toml").write_text("[collect]\n" + lines)


def zeros_entry(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """A deflated entry of ``size`` zero bytes, written by streaming (never ``size`` bytes in memory)."""
    info = zipfile.ZipInfo(name, date_time=(2026, 12, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = bytes(1 << 20)
    with zf.open(info, "w", force_zip64=True) as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_a_zip_bomb_and_an_oversize_entry_are_skipped_and_the_rest_is_collected(course, tmp_path, capsys,
                                                                                 monkeypatch):
    import tracemalloc

    monkeypatch.setenv("COLUMNS", "400")
    set_collect(course, max_file_mb=1, max_ratio=10)
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zip_entry(zf, "s001_x/hw.ipynb", notebook_bytes("a"), (2026, 12, 1, 0, 0, 0))
        zeros_entry(zf, "s001_x/bomb.bin", 1 << 30)                     # 1 GiB of zeros
        zip_entry(zf, "s002_x/hw.ipynb", notebook_bytes("b"), (2026, 12, 1, 0, 0, 0))
        zeros_entry(zf, "s002_x/padding.bin", 20 << 20)                 # 20 MB in about 20 KB
        zip_entry(zf, "s003_x/hw.ipynb", notebook_bytes("c"), (2026, 12, 1, 0, 0, 0))
        zip_entry(zf, "s003_x/weights.bin", os.urandom(2 << 20), (2026, 12, 1, 0, 0, 0))   # 2 MB, incompressible
        zip_entry(zf, "s003_x/submission.csv", "Id,Category\n0,1\n", (2026, 12, 1, 0, 0, 0))
    assert archive.stat().st_size < 4 << 20
    before = archive.read_bytes()

    tracemalloc.start()
    try:
        summary = collect(course, A, archive)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 64 << 20                     # streamed: nothing like the 1 GiB the bomb unpacks to
    reasons = {s.name: s.reason for s in summary.skipped}
    assert set(reasons) == {"s001_x/bomb.bin", "s002_x/padding.bin", "s003_x/weights.bin"}
    assert "larger than collect.max_file_mb = 1 MB" in reasons["s001_x/bomb.bin"]
    assert "whatever size the zip declares" in reasons["s001_x/bomb.bin"]
    assert "collect.max_ratio = 10" in reasons["s002_x/padding.bin"]
    assert "larger than collect.max_file_mb = 1 MB" in reasons["s003_x/weights.bin"]
    assert all("If this upload is genuine, raise collect." in r and "course.toml" in r for r in reasons.values())
    # every student is collected with the rest of their files
    assert sorted(c.student_id for c in summary.collected) == ["s001", "s002", "s003"]
    assert sorted(p.name for p in course.submission_dir("s003", A).iterdir()) == \
        ["demo.ipynb", "submission.csv", "timestamp.txt"]
    assert not any(course.submission_dir(s, A).joinpath(n).exists()
                   for s, n in (("s001", "bomb.bin"), ("s002", "padding.bin"), ("s003", "weights.bin")))
    printed = capsys.readouterr().out
    assert "s001_x/bomb.bin" in printed and "max_file_mb" in printed
    assert archive.read_bytes() == before


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_too_many_entries_are_reported_and_the_first_ones_collected(course, tmp_path):
    set_collect(course, max_entries=3)
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(1, 6):
            zip_entry(zf, f"s00{n}_hw.ipynb", notebook_bytes(str(n)), (2026, 12, 1, 0, 0, 0))
    summary = collect(course, A, archive)
    assert [c.student_id for c in summary.collected] == ["s001", "s002", "s003"]
    (skip,) = summary.skipped
    assert skip.name == "s004_hw.ipynb and the 1 entries after it"
    assert "holds 5 files, more than collect.max_entries = 3" in skip.reason and "raise collect.max_entries" in skip.reason

    lms = tmp_path / "lms"
    for n in range(1, 6):
        write(lms / f"s01{n}_hw.ipynb", notebook_bytes(str(n)))
    summary = collect(course, A, lms)
    assert [c.student_id for c in summary.collected] == ["s011", "s012", "s013"]
    assert [s.name for s in summary.skipped] == ["s014_hw.ipynb", "s015_hw.ipynb"]
    assert all("collect.max_entries = 3" in s.reason for s in summary.skipped)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_per_submission_caps_keep_the_notebook_and_report_the_extra_files(course, tmp_path):
    set_collect(course, max_file_mb=1, max_submission_mb=1, max_submission_files=4)
    lms = tmp_path / "lms"
    write(lms / "s001_x" / "hw.ipynb", notebook_bytes("a"))
    for name in ("a.bin", "b.bin", "c.bin"):
        write(lms / "s001_x" / name, os.urandom(400 << 10))
    write(lms / "s002_x" / "hw.ipynb", notebook_bytes("b"))
    for name in ("1.txt", "2.txt", "3.txt", "4.txt", "5.txt"):
        write(lms / "s002_x" / name, name)
    summary = collect(course, A, lms)

    assert sorted(c.student_id for c in summary.collected) == ["s001", "s002"]
    assert sorted(p.name for p in course.submission_dir("s001", A).iterdir()) == \
        ["a.bin", "b.bin", "demo.ipynb", "timestamp.txt"]
    assert sorted(p.name for p in course.submission_dir("s002", A).iterdir()) == \
        ["1.txt", "2.txt", "3.txt", "demo.ipynb", "timestamp.txt"]
    reasons = {s.name: s.reason for s in summary.skipped}
    assert set(reasons) == {"s001_x/c.bin", "s002_x/4.txt", "s002_x/5.txt"}
    assert "over collect.max_submission_mb = 1 MB" in reasons["s001_x/c.bin"]
    assert "more than collect.max_submission_files = 4" in reasons["s002_x/4.txt"]
    assert {s.student_id for s in summary.skipped} == {"s001", "s002"}


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_fifos_devices_and_links_in_a_folder_are_never_opened(course, tmp_path):
    import signal

    lms = tmp_path / "lms"
    write(lms / "s001_x" / "hw.ipynb", notebook_bytes("a"))
    os.mkfifo(lms / "s001_x" / "submission.csv")                 # reading it would block forever
    (lms / "s001_x" / "zero.bin").symlink_to("/dev/zero")        # reading it would never end
    os.mkfifo(lms / "s002_hw.ipynb")
    write(lms / "s003_hw.ipynb", notebook_bytes("c"))
    device = lms / "s003_x" / "null.bin"
    device.parent.mkdir()
    try:
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        device = None

    def hung(*_):
        raise AssertionError("collect waited on a FIFO or read a device")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        summary = collect(course, A, lms)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)

    assert sorted(c.student_id for c in summary.collected) == ["s001", "s003"]
    by_id = {c.student_id: c for c in summary.collected}
    assert any("submission.csv (FIFO (named pipe), not opened)" in n for n in by_id["s001"].notes)
    assert any("zero.bin (symbolic link, not followed)" in n for n in by_id["s001"].notes)
    assert sorted(p.name for p in course.submission_dir("s001", A).iterdir()) == ["demo.ipynb", "timestamp.txt"]
    assert {s.name: s.reason for s in summary.skipped}["s002_hw.ipynb"] == "FIFO (named pipe); not opened"
    if device is not None:
        assert any("null.bin (device, not opened)" in n for n in by_id["s003"].notes)


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_times_from_the_lms_win_and_a_bad_times_file_collects_nothing(course, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    lms = tmp_path / "lms"
    write(lms / "s001_x" / "hw.ipynb", notebook_bytes("a"), dt.datetime(2026, 12, 9, tzinfo=UTC))
    write(lms / "s002_hw.ipynb", notebook_bytes("b"), dt.datetime(2026, 12, 9, tzinfo=UTC))
    write(lms / "s003_hw.ipynb", notebook_bytes("c"), dt.datetime(2026, 12, 9, 8, tzinfo=UTC))
    bad = write(tmp_path / "bad.csv", "student_id,time\ns001,2026-12-01T10:00:00Z\ns002,next tuesday-ish\n")

    code = main(["--course", str(course.root), "collect", A, str(lms), "--times", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "bad.csv, line 3" in err and "next tuesday-ish" in err and "nothing was collected" in err
    assert not course.submitted.exists()

    (course.root / "course.toml").write_text("[course]\ntimezone = 'Europe/Moscow'\n")
    times = write(tmp_path / "times.csv", "student_id,time,grader\n"
                                          "s001,2026-12-01T10:00:00Z,x\n"
                                          "s002_hw.ipynb,\"Tuesday, 1 December 2026, 3:00 PM\",y\n")
    assert main(["--course", str(course.root), "collect", A, str(lms), "--times", str(times)]) == 0
    stamps = {s: course.submission_dir(s, A).joinpath("timestamp.txt").read_text().strip()
              for s in ("s001", "s002", "s003")}
    assert stamps == {"s001": "2026-12-01T10:00:00+00:00",     # by student id
                      "s002": "2026-12-01T12:00:00+00:00",     # by file name; Moscow time without offset
                      "s003": "2026-12-09T08:00:00+00:00"}     # not in the list: the file time, and said so
    printed = capsys.readouterr().out
    assert "--times times.csv" in printed and "not in the --times times.csv list" in printed


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
@pytest.mark.parametrize("toml, message", [
    ("max_ratio = 1", "collect.max_ratio = 1 is out of range: it must be between 10 and"),
    ("max_file_mb = 0", "collect.max_file_mb = 0 is out of range"),
    ("max_file_mb = 200\nmax_submission_mb = 100", "collect.max_file_mb = 200 is larger than collect.max_submission_mb"),
    ("max_entries = 'many'", "'collect.max_entries' must be a number"),
    ("max_size = 5", "unknown key 'collect.max_size'"),
])
def test_collect_limits_are_range_checked_with_clear_errors(course, tmp_path, capsys, toml, message):
    (course.root / "course.toml").write_text("[collect]\n" + toml + "\n")
    lms = tmp_path / "lms"
    write(lms / "s001_hw.ipynb", notebook_bytes("a"))
    assert main(["--course", str(course.root), "collect", A, str(lms)]) == 2
    err = capsys.readouterr().err
    assert "course.toml" in err and message in err
    assert not course.submitted.exists()


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_an_entry_that_cannot_be_unpacked_is_skipped_not_fatal(course, tmp_path):
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zip_entry(zf, "s001_x/hw.ipynb", notebook_bytes("a"), (2026, 12, 1, 0, 0, 0))
        zip_entry(zf, "s001_x/notes", "a file", (2026, 12, 1, 0, 0, 0))
        zip_entry(zf, "s001_x/notes/plan.txt", "under a file", (2026, 12, 1, 0, 0, 0))
        zip_entry(zf, "s002_hw.ipynb", notebook_bytes("b"), (2026, 12, 1, 0, 0, 0))
    summary = collect(course, A, archive)
    assert sorted(c.student_id for c in summary.collected) == ["s001", "s002"]
    (skip,) = summary.skipped
    assert skip.name == "s001_x/notes/plan.txt" and "cannot be unpacked" in skip.reason
    assert course.submission_dir("s001", A).joinpath("notes").read_text() == "a file"


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_the_size_a_zip_declares_is_not_trusted(course, tmp_path):
    """An entry whose headers claim 1000 bytes but hold 5 MB is never unpacked whole, and the rest goes on."""
    set_collect(course, max_file_mb=1)
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zip_entry(zf, "s001_x/hw.ipynb", notebook_bytes("a"), (2026, 12, 1, 0, 0, 0))
        zf.writestr(zipfile.ZipInfo("s001_x/big.bin", date_time=(2026, 12, 1, 0, 0, 0)), bytes(5 << 20),
                    compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(archive.read_bytes())
    name = b"s001_x/big.bin"
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_at:start + name_at + len(name)] == name:
                data[start + size_at:start + size_at + 4] = struct.pack("<I", 1000)
            start += 4
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("s001_x/big.bin").file_size == 1000

    summary = collect(course, A, archive)
    (skip,) = summary.skipped
    assert skip.name == "s001_x/big.bin" and ("cannot be unpacked" in skip.reason or "max_file_mb" in skip.reason)
    assert [c.student_id for c in summary.collected] == ["s001"]
    assert not course.submission_dir("s001", A).joinpath("big.bin").exists()
