"""The thin `autograder` command: arguments in, one call, a readable error out."""
from __future__ import annotations

from autograder.cli import main


def test_course_is_accepted_before_or_after_the_command(tmp_path, capsys):
    missing = tmp_path / "no-such-course"
    for argv in (["--course", str(missing), "export"], ["export", "--course", str(missing)]):
        assert main(argv) == 2
        assert f"course directory {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()  # nothing was created on the way


def test_unknown_assignment_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "source" / "01_tensors").mkdir(parents=True)
    assert main(["grade", "99_nope", "--course", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no assignment '99_nope'" in err and "01_tensors" in err
