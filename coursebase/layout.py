"""Where things live in a course directory (see docs/contracts.md, section 1).

A course is any folder with this layout; the repository itself is one.
Only paths here: no writing. The one file read is ``nbgrader_config.py``, for
where the gradebook is (:func:`configured_gradebook`). What is inside one submission folder
(``timestamp.txt``, the ``.archive`` of earlier submissions, which files count)
is :mod:`coursebase.submission`'s, the one owner of a submission on disk.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ASSIGNMENTS = ("01_tensors", "02_dot_product", "03_parameter_count", "04_mlp_fashion_mnist", "05_concept_check",
               "06_one_neuron")


# What a course holds that student code must never read: the folders (anywhere in a path) and
# the files (by name). The kernel's audit hook flags an open of these, the code scan flags their
# names in a cell, and the sandbox never binds a folder holding them.
SECRET_DIRS = frozenset({"source", "submitted", "autograded", "feedback", ".autograder", "private"})
SECRET_FILES = frozenset({"gradebook.db", "solution.csv", "nbgrader_config.py", "course.toml", "records.jsonl"})
# Every folder a course keeps at its top level (the sandbox binds none of them, not even release/)
COURSE_FOLDERS = SECRET_DIRS | {"release", "competition", "exports", "reports"}


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
        """nbgrader_config.py's ``db_url`` (relative to the course), else ``gradebook.db``."""
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


class GradebookConfigError(RuntimeError):
    """nbgrader_config.py names a gradebook the autograder cannot use."""


_CONFIG_CACHE: dict[Path, tuple[float, Path]] = {}


def configured_gradebook(root: Path) -> Path:
    """The SQLite file of the course at ``root``, as its nbgrader_config.py sets it.

    Raises GradebookConfigError (a CourseError's message) for a config that cannot be
    loaded or a URL that is not a SQLite file.
    """
    root = Path(root)
    config_file = root / "nbgrader_config.py"
    try:
        stamp = config_file.stat().st_mtime_ns
    except OSError:
        return root / "gradebook.db"
    cached = _CONFIG_CACHE.get(root)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader(config_file.name, path=str(root)).load_config()
    except Exception as exc:  # noqa: BLE001 - the instructor's Python file: any error is theirs to fix
        raise GradebookConfigError(f"{config_file} cannot be loaded ({type(exc).__name__}: {exc}); "
                                   f"fix it so nbgrader and the autograder can find the gradebook") from None
    url = config.get("CourseDirectory", {}).get("db_url") or ""
    path = gradebook_file(url, root, config_file)
    _CONFIG_CACHE[root] = (stamp, path)
    return path


def gradebook_file(url: str, root: Path, where: Path | str = "nbgrader_config.py") -> Path:
    """The file a ``sqlite:///`` URL names; a relative one is relative to the course folder (pure)."""
    if not url:
        return root / "gradebook.db"
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise GradebookConfigError(f"{where}: db_url = {url!r} is not a SQLite file (sqlite:///gradebook.db); "
                                   f"the autograder keeps the gradebook in the course folder")
    name = Path(url[len(prefix):])
    return name if name.is_absolute() else root / name
