"""`autograder check NOTEBOOK` (or `autograder-check NOTEBOOK`): a student's own check before handing in.

Runs the notebook top to bottom in a fresh Jupyter kernel on the student's
machine, as "Restart & Run All" would (the notebook's own checks included),
then reports every visible test cell (nbgrader metadata ``grade: true``,
not a solution) as passed or failed with its points and the first line of
its error, like ``otter check``. Hidden tests are not in the student's copy:
the grader runs them; this says so.

Light on purpose: this module needs only nbformat, nbclient and a Python
kernel (ipykernel), never torch, nbgrader or Dask, and reads nothing of a
course. ``autograder-check`` is its own entry point, so a student can install
the package without its dependencies (``pip install --no-deps``) plus
``nbformat nbclient ipykernel``. The notebook file is only read, never written.

Exit codes: 0 every visible test passed, 1 some failed (or a cell raised),
2 the file is not a readable notebook.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TestOutcome:
    grade_id: str
    points: float
    passed: bool
    error: str          # the error's last line, "" when it passed


@dataclass
class CheckResult:
    tests: list[TestOutcome]
    other_errors: list[str]     # cells that are not tests and raised: "cell N: Error: ..."

    @property
    def ok(self) -> bool:
        return all(t.passed for t in self.tests) and not self.other_errors


class CheckError(ValueError):
    """The file cannot be checked; the message says why."""


def _error_line(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
    return None


def summarize(nb) -> CheckResult:
    """Per visible test cell, passed or not, from an executed notebook (pure)."""
    tests, others = [], []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        error = _error_line(cell)
        if meta.get("grade") and not meta.get("solution"):
            tests.append(TestOutcome(str(meta.get("grade_id", f"cell {index}")), float(meta.get("points") or 0),
                                     error is None, error or ""))
        elif error is not None:
            others.append(f"cell {index + 1}: {error}")
    return CheckResult(tests, others)


def read_notebook(path: Path):
    import nbformat

    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise CheckError(f"{path} is not a notebook file (missing, a folder or a link)")
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise CheckError(f"{path} is not a readable notebook ({type(exc).__name__}: {exc}); open it in Jupyter "
                         f"and save it again") from None


def run_check(path: Path, timeout: float = 600.0) -> CheckResult:
    """Execute a copy of the notebook in its own folder and summarize its visible tests."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = read_notebook(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(path).resolve().parent)}})
    try:
        client.execute()
    except CellTimeoutError:
        result = summarize(nb)
        result.other_errors.append(f"a cell ran longer than {timeout:g} s; the grader would stop it too")
        return result
    except DeadKernelError as exc:
        result = summarize(nb)
        result.other_errors.append(f"the kernel died ({exc}); the grader would record `crashed`")
        return result
    return summarize(nb)


def report(result: CheckResult) -> str:
    lines = []
    for t in result.tests:
        mark = "passed" if t.passed else "FAILED"
        lines.append(f"{mark:7} {t.grade_id} ({t.points:g} point{'s' if t.points != 1 else ''})"
                     + (f": {t.error}" if t.error else ""))
    lines += [f"error   {e}" for e in result.other_errors]
    passed = sum(t.passed for t in result.tests)
    got = sum(t.points for t in result.tests if t.passed)
    total = sum(t.points for t in result.tests)
    lines.append(f"{passed} of {len(result.tests)} visible tests passed ({got:g} of {total:g} points). "
                 "The grader also runs hidden tests on other inputs.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="autograder-check", description=__doc__.split("\n\n")[1],
        epilog="example:\n  autograder-check 01_tensors.ipynb", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", help="your notebook (.ipynb)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be above 0, got {args.timeout:g}")
    try:
        result = run_check(Path(args.notebook), args.timeout)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
