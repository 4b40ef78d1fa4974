"""The assignments in source/: their shape, that they run, and that nbgrader grades them right.

Story: an instructor's notebook must run top to bottom with every test passing; the student
version, unanswered, must score 0 under nbgrader's own `nbgrader autograde`, and the
instructor's solutions, submitted as a student, must score full marks. Which answers students
write get which marks (right variants full, wrong ones lose exactly their test, seen by the visible
or the hidden part) is tests/test_answer_variants.py, graded by our own grader.
"""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from _assignment_helpers import (
    ASSIGNMENTS,
    MLP_ASSIGNMENT,
    REPO,
    copy_course,
    hidden_blocks,
    is_answer_cell,
    is_test_cell,
    notebook_path,
    run_nbgrader,
    run_notebook,
    solution_blocks,
    venv_env,
    write_competition_data,
)


def source_nb(assignment: str):
    return nbformat.read(notebook_path(REPO, "source", assignment), as_version=4)


def release_nb(assignment: str):
    return nbformat.read(notebook_path(REPO, "release", assignment), as_version=4)


# --------------------------------------------------------------------------- shape (fast, no kernel)

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_follows_the_nbgrader_contract(assignment):
    nb = source_nb(assignment)
    tests = [cell for cell in nb.cells if is_test_cell(cell)]
    answers = [cell for cell in nb.cells if is_answer_cell(cell)]
    assert tests and answers
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is not None:
            assert meta["schema_version"] == 3, cell.id
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and meta["points"] > 0, f"{meta['grade_id']}: test cells are locked and worth points"
        assert len(hidden_blocks(cell.source)) == 1, f"{meta['grade_id']}: one BEGIN/END HIDDEN TESTS block"
        visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
        assert "assert" in visible, f"{meta['grade_id']}: students see at least one visible check"
    for cell in answers:
        assert solution_blocks(cell.source), f"{cell.metadata['nbgrader']['grade_id']}: answer without a solution block"


def test_the_tensor_assignment_has_at_least_eight_graded_questions():
    assert sum(is_test_cell(cell) for cell in source_nb("01_tensors").cells) >= 8


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_question_is_taught_in_russian_before_it_is_asked(assignment):
    """Teach, then ask: every answer cell has Russian markdown since the previous graded cell."""
    cyrillic = re.compile("[а-яА-ЯёЁ]{4,}")
    explained = False
    for cell in source_nb(assignment).cells:
        if cell.cell_type == "markdown":
            explained = explained or bool(cyrillic.search(cell.source))
        elif is_answer_cell(cell):
            assert explained, f"{assignment}: {cell.metadata['nbgrader']['grade_id']} has no explanation before it"
        elif is_test_cell(cell):
            explained = False


# Names a test cell may use without importing them: the student's answers and the given data.
MODULES = {"torch", "np", "pd", "os", "tempfile", "shutil", "copy", "math", "nn"}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_import_every_module_they_use(assignment):
    """A test cell is judged on its own (outside the student's process): it imports what it uses."""
    for cell in source_nb(assignment).cells:
        if not is_test_cell(cell):
            continue
        tree = ast.parse(cell.source)
        imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        used = {node.value.id for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
        missing = (used & MODULES) - imported
        assert not missing, f"{cell.metadata['nbgrader']['grade_id']} uses {missing} without importing it"


def _module_level_bindings(tree: ast.AST) -> set[str]:
    """Names a cell binds in the notebook's namespace (comprehension variables stay inside the comprehension)."""
    names: set[str] = set()
    scoped = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda, ast.FunctionDef, ast.ClassDef)
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                continue  # imported modules are the judge's own, never student state
            if not isinstance(child, scoped):
                stack.append(child)
    return names


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_define_only_private_names(assignment):
    """Test cells must not leave names later cells could use: everything they bind starts with `_`."""
    for cell in source_nb(assignment).cells:
        if not is_test_cell(cell):
            continue
        public = {name for name in _module_level_bindings(ast.parse(cell.source)) if not name.startswith("_")}
        assert not public, f"{cell.metadata['nbgrader']['grade_id']} binds {public}"


def test_the_homework_states_the_rules_as_course_toml_sets_them():
    """The 04 notebook is the students' rulebook: its numbers are the ones the graders use."""
    import tomllib

    policy = tomllib.loads((REPO / "course.toml").read_text(encoding="utf-8"))
    board = policy["leaderboard"]
    rules = source_nb(MLP_ASSIGNMENT).cells[0].source
    for threshold, points in board["thresholds"]:
        assert f"≥ {threshold:.2f}" in rules and f"| {points} |" in rules, (threshold, points)
    assert f"| {board['floor_points']} |" in rules
    public_share, private_share = round(board['public_fraction'] * 100), round((1 - board['public_fraction']) * 100)
    assert f"({public_share} %)" in rules and f"({private_share} %)" in rules
    assert f"Не больше {board['daily_limit']} засчитанных посылок в день" in rules
    assert "21 декабря 2026 года, 23:59 UTC" in rules
    assert policy["assignments"][MLP_ASSIGNMENT]["due"].startswith("2026-12-21T23:59")
    assert f"| {policy['weights'][MLP_ASSIGNMENT]} % |" in rules and f"| {policy['weights']['leaderboard']} % |" in rules
    points = sum(cell.metadata["nbgrader"]["points"] for cell in source_nb(MLP_ASSIGNMENT).cells if is_test_cell(cell))
    assert f"{points} баллов" in rules
    for words in ("не меньше 0.82", "не меньше 0.86", "больше 0.90", "Google Colab", "Нельзя", "до двух финальных посылок"):
        assert words in rules, words
    released_rules = nbformat.read(notebook_path(REPO, "release", MLP_ASSIGNMENT), as_version=4).cells[0].source
    assert "leaderboard prepare" not in released_rules


# --------------------------------------------------------------------------- the notebooks run

@pytest.mark.slow
@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a != MLP_ASSIGNMENT])
def test_source_notebook_runs_top_to_bottom_with_every_test_passing(assignment, tmp_path):
    runs = run_notebook(source_nb(assignment), tmp_path)
    failed = {cell_id: run.errors or run.stderr for cell_id, run in runs.items() if run.failed}
    assert not failed, failed
    if assignment == "02_dot_product":
        assert "tensor(50.)" in runs["step3_dot_product"].stdout


@pytest.mark.slow
def test_mlp_notebook_with_data_trains_and_writes_a_submission_for_every_test_row(tmp_path):
    data = write_competition_data(tmp_path / "data", n_train=400, n_test=60)
    runs = run_notebook(source_nb(MLP_ASSIGNMENT), tmp_path)
    failed = {cell_id: run.errors or run.stderr for cell_id, run in runs.items() if run.failed}
    assert not failed, failed
    import pandas as pd

    submission = pd.read_csv(tmp_path / "submission.csv")
    expected_ids = pd.read_csv(data / "test.csv")["Id"].tolist()
    assert list(submission.columns) == ["Id", "Category"]
    assert submission["Id"].tolist() == expected_ids
    assert submission["Category"].between(0, 9).all()
    # Default settings train every epoch (10) when not under the autograder.
    assert runs["train_final"].stdout.count("эпоха") == 10
    final_accuracy = float(runs["train_final"].stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1])
    assert final_accuracy >= 0.82, runs["train_final"].stdout


# --------------------------------------------------------------------------- nbgrader's own grading

@pytest.fixture(scope="module")
def autograded_course(tmp_path_factory):
    """A released temp course where student `blank` submits the release and `solved` the source."""
    from autograder.release import release
    from coursebase.layout import Course

    course = copy_course(tmp_path_factory.mktemp("course"))
    release(Course.at(course))
    for assignment in ASSIGNMENTS:
        for student, step in (("blank", "release"), ("solved", "source")):
            target = course / "submitted" / student / assignment
            target.mkdir(parents=True)
            shutil.copy(notebook_path(course, step, assignment), target)
    # One nbgrader process grades every assignment (its assignment id is a glob).
    # the course's nbgrader_config.py refuses nbgrader's autograde (autograder/nbgrader_guard.py); this
    # comparison with nbgrader itself re-enables it on the command line, which wins over the config file
    run = run_nbgrader(["autograde", "*", "--Autograde.exporter_class=nbconvert.exporters.NotebookExporter"], course)
    assert run.returncode == 0, run.stdout + run.stderr
    return course


def _scores(course: Path, assignment: str, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        cells = {grade.name: (grade.score, grade.max_score) for notebook in submission.notebooks
                 for grade in notebook.grades}
        return submission.score, submission.max_score, cells


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_unanswered_release_scores_zero_under_nbgrader_autograde(autograded_course, assignment):
    score, max_score, cells = _scores(autograded_course, assignment, "blank")
    assert max_score > 0 and cells
    assert score == 0, {name: s for name, (s, _) in cells.items() if s}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_solution_scores_full_marks_under_nbgrader_autograde(autograded_course, assignment):
    score, max_score, cells = _scores(autograded_course, assignment, "solved")
    expected = sum(cell.metadata["nbgrader"]["points"] for cell in source_nb(assignment).cells if is_test_cell(cell))
    assert max_score == expected
    assert score == max_score, {name: s for name, s in cells.items() if s[0] != s[1]}


@pytest.mark.slow
def test_mlp_notebook_under_nbgrader_without_data_explains_what_to_do_and_skips_training(autograded_course):
    """nbgrader ran the solved MLP notebook with NBGRADER_EXECUTION=autograde and no data/ beside it."""
    graded = nbformat.read(notebook_path(autograded_course / "autograded", "solved", MLP_ASSIGNMENT), as_version=4)
    outputs = {cell.id: cell.get("outputs", []) for cell in graded.cells if cell.cell_type == "code"}
    errors = {cid: out for cid, outs in outputs.items() for out in outs if out.output_type == "error"}
    assert not errors, errors
    message = "".join(out.get("text", "") for out in outputs["load_data"])
    assert "Нет данных соревнования" in message and "data/" in message and "Colab" in message
    assert "leaderboard prepare" not in message  # an instructor's command means nothing to a student
    assert "обучение на настоящих данных пропущено" in "".join(out.get("text", "") for out in outputs["train_final"])
    assert not (autograded_course / "autograded" / "solved" / MLP_ASSIGNMENT / "submission.csv").exists()


@pytest.mark.slow
def test_mlp_notebook_under_the_autograder_trains_one_epoch_on_a_capped_slice(tmp_path):
    write_competition_data(tmp_path / "data", n_train=2500, n_test=30)
    runs = run_notebook(source_nb(MLP_ASSIGNMENT), tmp_path, env=venv_env(NBGRADER_EXECUTION="autograde"))
    failed = {cell_id: run.errors or run.stderr for cell_id, run in runs.items() if run.failed}
    assert not failed, failed
    assert "train: (2000, 784)" in runs["load_data"].stdout  # a capped slice of the 2500 rows
    assert runs["train_final"].stdout.count("эпоха") == 1
    assert (tmp_path / "submission.csv").exists()
