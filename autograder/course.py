"""Where things live in a course directory (see docs/contracts.md, section 1).

A course is any folder with this layout; the repository itself is one.
Only paths here: no reading or writing. What is inside one submission folder
(``timestamp.txt``, the ``.archive`` of earlier submissions, which files count)
is :mod:`autograder.submission`'s, the one owner of a submission on disk.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ASSIGNMENTS = ("01_tensors", "02_dot_product", "03_parameter_count", "04_mlp_fashion_mnist", "05_concept_check",
               "06_one_neuron")


class CourseError(RuntimeError):
    """The course directory is not usable as given."""


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike | None = None) -> "Course":
        root = Path(path or ".").resolve()
        if not root.is_dir():
            raise CourseError(f"course directory {root} does not exist")
        return cls(root)

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def gradebook_path(self) -> Path:
        """nbgrader_config.py's ``db_url`` (relative to the course), else ``gradebook.db``: see gradebook.py."""
        from .gradebook import GradebookConfigError, configured_gradebook
        try:
            return configured_gradebook(self.root)
        except GradebookConfigError as exc:
            raise CourseError(str(exc)) from None

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook_path}"

    @property
    def competition(self) -> Path:
        return self.root / "competition"

    @property
    def competition_public(self) -> Path:
        return self.competition / "public"

    @property
    def competition_private(self) -> Path:
        return self.competition / "private"

    @property
    def state(self) -> Path:
        """The autograder's private working area (records, kits, spool)."""
        return self.root / ".autograder"

    @property
    def records(self) -> Path:
        """JSON Lines, one record per graded submission per run."""
        return self.state / "records.jsonl"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def assignments(self) -> list[str]:
        if not self.source.is_dir():
            return []
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and not p.name.startswith("."))

    def source_notebook(self, assignment: str) -> Path:
        notebooks = sorted((self.source / assignment).glob("*.ipynb"))
        if not notebooks:
            raise CourseError(f"no notebook in {self.source / assignment}; is '{assignment}' spelled right? "
                              f"Known assignments: {', '.join(self.assignments()) or 'none'}")
        if len(notebooks) > 1:
            raise CourseError(f"{self.source / assignment} has {len(notebooks)} notebooks; "
                              f"this course expects one per assignment")
        return notebooks[0]

    def release_notebook(self, assignment: str) -> Path:
        return self.release / assignment / self.source_notebook(assignment).name

    def submission_dir(self, student: str, assignment: str) -> Path:
        return self.submitted / student / assignment
