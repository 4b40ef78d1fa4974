"""The four assignments in source/: their shape, that they run, and that nbgrader grades them right.

Story: an instructor's notebook must run top to bottom with every test passing; the student
version, unanswered, must score 0 under nbgrader's own `nbgrader autograde`, and the
instructor's solutions, submitted as a student, must score full marks; every hidden test must
catch a plausible wrong answer that the visible tests let through.
"""
from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from _assignment_helpers import (ASSIGNMENTS, MLP_ASSIGNMENT, REPO, copy_course, hidden_blocks, is_answer_cell,
                                 is_test_cell, nbgrader_cells, notebook_path, run_nbgrader, run_notebook,
                                 solution_blocks, venv_env, write_competition_data)


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
    from autograder.course import Course
    from autograder.release import release

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
    assert "Нет данных соревнования" in message and "data/" in message and "leaderboard prepare" in message
    assert "обучение на настоящих данных пропущено" in "".join(out.get("text", "") for out in outputs["train_final"])
    assert not (autograded_course / "autograded" / "solved" / MLP_ASSIGNMENT / "submission.csv").exists()


# --------------------------------------------------------------------------- hidden tests bite

@dataclass(frozen=True)
class WrongAnswer:
    """A plausible mistake in one answer cell that the visible tests let through and the hidden ones catch."""
    answer: str   # grade_id of the answer cell it replaces
    test: str     # grade_id of the test cell that must lose its points
    code: str


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "01_tensors": [
        WrongAnswer("q1_from_list", "test_q1_from_list",
                    "a = torch.Tensor([[1, 2, 3], [4, 5, 6]])\nb = torch.tensor([0.5, 1.5, 2.5])"),
        WrongAnswer("q2_constant_tensors", "test_q2_constant_tensors",
                    "zeros = torch.zeros(3, 4)\nones = torch.ones(2, 5)\nidentity = torch.eye(4)"),
        WrongAnswer("q3_arange", "test_q3_arange", "evens = torch.arange(0, 20, 2)\ncountdown = torch.arange(10, 0, -1)"),
        WrongAnswer("q4_random", "test_q4_random", "r = torch.rand(3, 3)\nn = torch.randn(2, 4)"),
        WrongAnswer("q5_shape_dtype", "test_q5_shape_dtype",
                    "x_shape = tuple(x.shape)\nx_numel = len(x)\nx_float = x.to(torch.float32)"),
        WrongAnswer("q6_reshape", "test_q6_reshape",
                    "x_2d = x.reshape(6, 4)\nx_flat = x.view(-1)\nx_col = x.reshape(1, -1)\n"
                    "def to_column(t):\n    return t.reshape(-1, 1)"),
        WrongAnswer("q7_indexing", "test_q7_indexing",
                    "last_col = g[:, -1]\ncenter = g[1:4, 1:4]\nboard = torch.zeros(5, 5)\nboard[:, 2] = 1\n"
                    "def set_row(t, i, value):\n    t = t.clone()\n    t[i, :] = value\n    return t"),
        WrongAnswer("q8_multiplication", "test_q8_multiplication", "elementwise = A @ B\nmatmul = A * B"),
        WrongAnswer("q9_cat_stack", "test_q9_cat_stack",
                    "cat_rows = torch.cat([p, q])\ncat_cols = torch.cat([p, q], dim=1)\nstacked = torch.cat([p, q])"),
        WrongAnswer("q10_numpy", "test_q10_numpy",
                    "from_np = torch.tensor(arr, dtype=torch.float32)\ndoubled_np = (from_np * 2).numpy()"),
        WrongAnswer("q11_autograd", "test_q11_autograd",
                    "w = torch.tensor(3.0, requires_grad=True)\ny = w ** 2 + 2 * w\ny.backward()\nw_grad = w.grad\n"
                    "def cube_sum_grad(values):\n    x = torch.tensor(values, requires_grad=True)\n"
                    "    (x ** 2).sum().backward()\n    return x.grad"),
    ],
    "02_dot_product": [
        WrongAnswer("step1_elementwise", "test_step1_elementwise", "prod = A @ B\ndiff = A - B"),
        WrongAnswer("step2_concatenate", "test_step2_concatenate", "combined = torch.cat([prod, diff], dim=1)"),
        WrongAnswer("step3_dot_product", "test_step3_dot_product", "result = combined[0].sum() + combined[-1].sum()"),
        WrongAnswer("step4_function", "test_step4_function",
                    "def first_last_dot(x, y):\n    c = torch.cat([x * y, x - y], dim=1)\n    return torch.dot(c[0], c[-1])"),
    ],
    "03_parameter_count": [
        WrongAnswer("q1_count_parameters", "test_q1_count_parameters",
                    "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters())"),
        WrongAnswer("q2_mlp_128", "test_q2_mlp_128",
                    "model_128 = nn.Sequential(nn.Linear(784, 128), nn.Linear(128, 128), nn.Linear(128, 10))\n"
                    "n_params = count_parameters(model_128)"),
        WrongAnswer("q3_linear", "test_q3_linear",
                    "model_linear = nn.Linear(784, 10, bias=False)\nn_params_linear = count_parameters(model_linear)"),
        WrongAnswer("q4_make_mlp", "test_q4_make_mlp",
                    "def make_mlp(in_features, hidden_sizes, out_features):\n    layers, previous = [], in_features\n"
                    "    for size in list(hidden_sizes) + [out_features]:\n"
                    "        layers += [nn.Linear(previous, size), nn.ReLU()]\n        previous = size\n"
                    "    return nn.Sequential(*layers)\n"
                    "model_deep = make_mlp(784, [512, 256, 128, 32], 10)\nn_params_deep = count_parameters(model_deep)"),
        WrongAnswer("q5a_by_hand", "test_q5a_by_hand", "n_params_by_hand = 784 * 64 + 64 * 10"),
        WrongAnswer("q5b_formula", "test_q5b_formula",
                    "def mlp_param_formula(sizes):\n    return sizes[0] * sizes[1] + sizes[1]"),
    ],
    "04_mlp_fashion_mnist": [
        WrongAnswer("mlp_model", "test_mlp_logits",
                    "class MLP(nn.Module):\n"
                    "    def __init__(self, in_features=784, hidden_sizes=(256, 128), out_features=10):\n"
                    "        super().__init__()\n        layers, previous = [], in_features\n"
                    "        for size in hidden_sizes:\n            layers += [nn.Linear(previous, size), nn.ReLU()]\n"
                    "            previous = size\n"
                    "        self.layers = nn.Sequential(*layers, nn.Linear(previous, out_features), nn.Softmax(dim=1))\n"
                    "    def forward(self, x):\n        return self.layers(x.flatten(1))"),
        WrongAnswer("mlp_model", "test_mlp_architecture",
                    "class MLP(nn.Module):\n"
                    "    def __init__(self, in_features=784, hidden_sizes=(256, 128), out_features=10):\n"
                    "        super().__init__()\n"
                    "        self.fc1 = nn.Linear(in_features, hidden_sizes[0])\n"
                    "        self.fc2 = nn.Linear(hidden_sizes[0], hidden_sizes[1])\n"
                    "        self.fc3 = nn.Linear(hidden_sizes[1], out_features)\n"
                    "    def forward(self, x):\n"
                    "        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))"),
        WrongAnswer("make_loader", "test_make_loader",
                    "def make_loader(X, y, batch_size, shuffle=False):\n"
                    "    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)"),
        WrongAnswer("train_one_epoch", "test_training",
                    "def train_one_epoch(model, loader, optimizer, loss_fn):\n    model.train()\n"
                    "    for xb, yb in loader:\n        optimizer.zero_grad()\n        loss = loss_fn(model(xb), yb)\n"
                    "        loss.backward()\n        optimizer.step()\n    return loss.item()"),
        WrongAnswer("train_one_epoch", "test_training",
                    "def train_one_epoch(model, loader, optimizer, loss_fn):\n    model.train()\n    total = 0.0\n"
                    "    for xb, yb in loader:\n        loss = loss_fn(model(xb), yb)\n"
                    "        loss.backward()\n        optimizer.step()\n        total += loss.item() * len(yb)\n"
                    "    return total / len(loader.dataset)"),
        WrongAnswer("accuracy", "test_accuracy",
                    "def accuracy(logits, labels):\n    return float((logits.argmax(dim=0) == labels).float().mean())"),
        WrongAnswer("evaluate", "test_evaluate",
                    "def evaluate(model, loader, loss_fn):\n    model.eval()\n    losses, accuracies = [], []\n"
                    "    with torch.no_grad():\n        for xb, yb in loader:\n            logits = model(xb)\n"
                    "            losses.append(loss_fn(logits, yb).item())\n"
                    "            accuracies.append((logits.argmax(1) == yb).float().mean().item())\n"
                    "    return sum(losses) / len(losses), sum(accuracies) / len(accuracies)"),
        WrongAnswer("predict", "test_predict",
                    "def predict(model, X, batch_size=1024):\n    with torch.no_grad():\n"
                    "        return model(X).max(dim=1).values.to(torch.int64)"),
        WrongAnswer("write_submission", "test_write_submission",
                    "def write_submission(ids, predictions, path):\n"
                    "    pd.DataFrame({'Id': list(ids), 'Category': list(predictions)}).to_csv(path, index=False)"),
    ],
}


def _probe_notebook(assignment: str):
    """The source notebook where each test cell runs as released (visible only) and in full, first with the
    reference answers, then once per wrong answer: the mistake is defined just before the test and the
    reference answer cell is run again right after, so mistakes never pile up."""
    source, released = source_nb(assignment), nbgrader_cells(release_nb(assignment))
    answers = nbgrader_cells(source)
    by_test: dict[str, list[WrongAnswer]] = {}
    for item in WRONG_ANSWERS[assignment]:
        by_test.setdefault(item.test, []).append(item)
    cells = []
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        if not is_test_cell(cell):
            cells.append(nbformat.v4.new_code_cell(cell.source, id=cell.id))
            continue
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        for suffix, code in [("", None)] + [(f"-{k}", item.code) for k, item in enumerate(by_test.pop(grade_id, []))]:
            if code is not None:
                cells.append(nbformat.v4.new_code_cell(code, id=f"{grade_id}--wrong{suffix}"))
            cells.append(nbformat.v4.new_code_cell(released[grade_id].source, id=f"{grade_id}--visible{suffix}"))
            cells.append(nbformat.v4.new_code_cell(cell.source, id=f"{grade_id}--full{suffix}"))
            if code is not None:
                answer = WRONG_ANSWERS_BY_CODE[code].answer
                cells.append(nbformat.v4.new_code_cell(answers[answer].source, id=f"{grade_id}--restore{suffix}"))
    assert not by_test, f"wrong answers for tests that do not exist: {list(by_test)}"
    return nbformat.v4.new_notebook(cells=cells, metadata=source.metadata)


WRONG_ANSWERS_BY_CODE = {item.code: item for items in WRONG_ANSWERS.values() for item in items}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_catch_plausible_wrong_answers_the_visible_tests_miss(assignment, tmp_path):
    if assignment == MLP_ASSIGNMENT:
        # With data present, the same run also shows the autograder cap on the final training.
        write_competition_data(tmp_path / "data", n_train=2500, n_test=30)
    runs = run_notebook(_probe_notebook(assignment), tmp_path, env=venv_env(NBGRADER_EXECUTION="autograde"))
    tests = [cid for cid, cell in nbgrader_cells(source_nb(assignment)).items() if is_test_cell(cell)]
    for test in tests:
        assert not runs[f"{test}--full"].failed, (test, runs[f"{test}--full"].errors, runs[f"{test}--full"].stderr)
    counts = {test: 0 for test in tests}
    for item in WRONG_ANSWERS[assignment]:
        k = counts[item.test]
        counts[item.test] += 1
        visible, full = runs[f"{item.test}--visible-{k}"], runs[f"{item.test}--full-{k}"]
        assert not visible.failed, f"{item.answer}: the visible test should let this mistake through: {visible.errors}"
        assert full.failed, f"{item.answer}: the hidden tests of {item.test} did not catch the mistake"
    # Every test cell has at least one mistake that only its hidden block catches.
    assert all(counts.values()), [test for test, n in counts.items() if not n]
    if assignment == MLP_ASSIGNMENT:
        assert "train: (2000, 784)" in runs["load_data"].stdout  # a capped slice of the 2500 rows
        assert runs["train_final"].stdout.count("эпоха") == 1
        assert not runs["write_final_submission"].failed and (tmp_path / "submission.csv").exists()
