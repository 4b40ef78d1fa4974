"""autograder/roster.py: `autograder students import` into a real nbgrader gradebook."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from pathlib import Path

import pytest

from autograder.gradebook import open_gradebook
from autograder.roster import RosterError, import_roster, parse_roster
from classroom.cli import main
from coursebase.layout import Course


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory) -> Path:
    """One real, empty gradebook per module: creating one runs `alembic` (seconds)."""
    course = Course.at(tmp_path_factory.mktemp("template"))
    with open_gradebook(course.db_url):
        pass
    return course.gradebook_path


@pytest.fixture
def bare_course(tmp_path) -> Course:
    """A course folder with no gradebook yet."""
    root = tmp_path / "course"
    root.mkdir()
    return Course.at(root)


@pytest.fixture
def course(bare_course, empty_gradebook) -> Course:
    shutil.copy(empty_gradebook, bare_course.gradebook_path)
    return bare_course


def students(course: Course) -> dict[str, tuple]:
    with open_gradebook(course.db_url) as gb:
        return {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_import_reads_columns_case_insensitively_and_ignores_extras(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffID,First_Name,LAST_NAME,Email,Group\n"
                      "s001,Иван,Иванов,ivanov@example.org,A\n"
                      "\n"
                      "s002,Мария,Петрова,,B\n", encoding="utf-8")
    result = import_roster(course, roster)
    assert result.added == ["s001", "s002"]
    assert students(course) == {"s001": ("Иван", "Иванов", "ivanov@example.org"),
                                "s002": ("Мария", "Петрова", None)}


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_semicolon_roster_from_a_spreadsheet(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id;first_name;last_name;email\ns001;A;B;a@b.ru\n", encoding="utf-8")
    import_roster(course, roster)
    assert students(course) == {"s001": ("A", "B", "a@b.ru")}


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_reimport_updates_names_and_keeps_grades(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,first_name,last_name,email\n"
                      "s001,Ivan,Ivanov,i@example.org\ns002,Olga,Orlova,o@example.org\n")
    import_roster(course, roster)
    with open_gradebook(course.db_url) as gb:
        # a graded submission as the grade step leaves it
        gb.add_assignment("a1")
        gb.add_notebook("nb", "a1")
        gb.add_grade_cell("t1", "nb", "a1", max_score=2.0, cell_type="code")
        gb.add_submission("a1", "s001", timestamp=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
        gb.find_grade("t1", "nb", "a1", "s001").auto_score = 2.0
        gb.db.commit()

    roster.write_text("student_id,first_name,last_name,email\n"
                      "s001,Ivan,Ivanov-Petrov,i@example.org\ns002,Olga,Orlova,o@example.org\n")
    result = import_roster(course, roster)
    assert result.updated == ["s001"] and result.unchanged == ["s002"] and result.added == []
    assert students(course)["s001"] == ("Ivan", "Ivanov-Petrov", "i@example.org")
    with open_gradebook(course.db_url) as gb:
        assert gb.find_grade("t1", "nb", "a1", "s001").score == 2.0


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_students_left_out_of_a_new_roster_are_kept_and_reported(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id\ns001\ns002\n")
    import_roster(course, roster)
    roster.write_text("id\ns002\n")
    assert import_roster(course, roster).not_in_file == ["s001"]
    assert set(students(course)) == {"s001", "s002"}


def test_bad_rows_are_all_reported_with_lines_and_nothing_is_imported(bare_course, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,first_name,last_name,email\n"
                      "s001,Ivan,Ivanov,ivanov@example.org\n"
                      ",Nobody,Noid,n@example.org\n"
                      "s001,Ivan,Again,again@example.org\n"
                      "s003,Bad,Mail,not-an-email\n"
                      "../s004,Path,Trick,\n")
    before = digest(roster)
    course = bare_course
    code = main(["--course", str(course.root), "students", "import", str(roster)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(roster) in err and "nothing was imported" in err
    assert "line 3: no student id" in err
    assert "line 4: duplicate student id 's001' (first on line 2)" in err
    assert "line 5: email 'not-an-email'" in err
    assert "line 6: student id '../s004'" in err
    assert digest(roster) == before
    # not even the good line s001: the gradebook was never opened
    assert not course.gradebook_path.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"name,email\nIvan,i@example.org\n", "line 1 (header) has no student_id or id column; found columns: name, email"),
    (b"student_id,email\n", "no student lines follow"),
    ("student_id\ns001\n".encode("cp1251") + b"\xff\xfe\n", "not UTF-8 text"),
])
def test_unusable_files_are_refused(bare_course, tmp_path, content, message):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(content)
    with pytest.raises(RosterError, match=re.escape(message)):
        import_roster(bare_course, roster)
    assert roster.read_bytes() == content
    assert not bare_course.gradebook_path.exists()


@pytest.mark.slow  # runs nbgrader (a generated assignment or a new gradebook)
def test_missing_file_is_named(course, tmp_path):
    with pytest.raises(RosterError, match="roster file .*nope.csv does not exist"):
        import_roster(course, tmp_path / "nope.csv")


def test_parse_roster_is_pure_and_keeps_line_numbers():
    entries = parse_roster("id,email\n\ns9,x@y.org\n")
    assert [(e.student_id, e.email, e.line) for e in entries] == [("s9", "x@y.org", 3)]
