"""Shared helpers for the assignment and release tests: course copies, notebook runs, small data.

Nothing here is a test. Everything is real: real notebooks run in real Jupyter kernels
(nbclient), real nbgrader, real gradebooks in temporary course directories.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("01_tensors", "02_dot_product", "03_parameter_count", "04_mlp_fashion_mnist", "05_concept_check",
               "06_one_neuron")
MLP_ASSIGNMENT = "04_mlp_fashion_mnist"


def venv_env(**extra: str) -> dict[str, str]:
    """The environment for nbgrader and kernels: this interpreter's bin first on PATH (nbgrader calls `alembic`)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("NBGRADER_EXECUTION", None)
    env.update(extra)
    return env


def copy_course(dest: Path) -> Path:
    """A fresh course directory at `dest` with this repository's source/, nbgrader_config.py and course.toml."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "source", dest / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "data", "submission.csv"))
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy2(REPO / name, dest / name)
    return dest


def notebook_path(root: Path, step: str, assignment: str) -> Path:
    return root / step / assignment / f"{assignment}.ipynb"


def nbgrader_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """grade_id -> cell, for every cell with nbgrader metadata."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if "nbgrader" in cell.metadata and "grade_id" in cell.metadata["nbgrader"]}


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_answer_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("solution")) and cell.cell_type == "code"


def hidden_blocks(source: str) -> list[str]:
    """The text between every `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS` of a cell."""
    blocks, current = [], None
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            current = []
        elif "END HIDDEN TESTS" in line:
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def solution_blocks(source: str) -> list[str]:
    blocks, current = [], None
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            current = []
        elif "END SOLUTION" in line:
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


@dataclass(frozen=True)
class CellRun:
    """What one executed code cell produced."""
    cell_id: str
    errors: list[str]          # "Ename: message" for every error output
    stderr: str
    stdout: str

    @property
    def failed(self) -> bool:
        # nbgrader gives 0 to a test cell with an error *or* any stderr output.
        return bool(self.errors or self.stderr)


def run_notebook(nb, workdir: Path, env: dict[str, str] | None = None, timeout: int = 600) -> dict[str, CellRun]:
    """Execute `nb` in a fresh python3 kernel with cwd `workdir`; cell id -> CellRun. Errors do not stop the run."""
    from nbclient import NotebookClient

    nb = nbformat.from_dict(nb)  # a copy: the caller's notebook keeps no outputs
    # `env` reaches jupyter_client's start_kernel: the kernel sees exactly this environment.
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute(env=env or venv_env())
    runs = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors, stderr, stdout = [], [], []
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                errors.append(f"{out.ename}: {out.evalue}")
            elif out.output_type == "stream":
                (stderr if out.name == "stderr" else stdout).append(out.text)
        runs[cell.get("id") or f"cell-{index}"] = CellRun(cell.get("id", ""), errors, "".join(stderr), "".join(stdout))
    return runs


def write_competition_data(folder: Path, n_train: int = 400, n_test: int = 60, seed: int = 0) -> Path:
    """Small Fashion-MNIST-format competition files an MLP can learn: class-dependent blobs plus noise.

    Writes train.csv (label, pixel1..pixel784), test.csv (Id, pixel1..pixel784) and
    sample_submission.csv (Id, Category) into `folder`, as `leaderboard prepare` lays them out.
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(10, 784))

    def images(labels):
        noise = rng.normal(0, 40, size=(len(labels), 784))
        return np.clip(prototypes[labels] + noise, 0, 255).astype(np.int64)

    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    pixels = [f"pixel{i}" for i in range(1, 785)]
    train_labels = rng.integers(0, 10, size=n_train)
    train = pd.DataFrame(images(train_labels), columns=pixels)
    train.insert(0, "label", train_labels)
    train.to_csv(folder / "train.csv", index=False)
    test_labels = rng.integers(0, 10, size=n_test)
    ids = np.arange(1, n_test + 1) * 7  # ids that are not just row numbers
    test = pd.DataFrame(images(test_labels), columns=pixels)
    test.insert(0, "Id", ids)
    test.to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"Id": ids, "Category": 0}).to_csv(folder / "sample_submission.csv", index=False)
    return folder


def run_nbgrader(args: list[str], course: Path) -> subprocess.CompletedProcess:
    """Run nbgrader's own command line in `course` (it reads nbgrader_config.py from there)."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=venv_env(),
                          capture_output=True, text=True, timeout=900)
