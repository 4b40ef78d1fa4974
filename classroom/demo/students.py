"""The students' side of the demo: their notebooks written, their MLP notebooks run, their CSVs chosen.

- :func:`prepare_students` writes every student's notebook for every assignment into
  ``workspace/<id>/<assignment>/``: the released notebook with the answer cells
  :func:`~classroom.demo.cohort.answer_sources` gives (from ``data/answers.toml``), and for the
  MLP notebook their :class:`~classroom.demo.cohort.Training` written into its own settings cell
  (:func:`set_training`), dated by :func:`timestamp_for` (before the due date, or
  ``days_late`` after it).
- :func:`run_mlp_notebooks` runs each honest student's MLP notebook the way a student's Jupyter
  would (nbclient, ``data/`` = the competition's public files, outside the grading switch, one
  thread per kernel), ``workers`` at a time, each worker one :class:`StudentKernel` that starts
  every notebook afresh but imports torch only once; each run writes ``submission.csv`` beside
  the notebook.
  A notebook that fails is a result, not an error: it comes back as ``student id -> one line``
  and the student simply has no CSV of their own.
- :func:`attach_csvs` decides each MLP upload's ``submission.csv``: their own, the sample, a
  classmate's, or none.

Everything written stays under the given workspace (the demo's ``<course>/demo/students``).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import shutil
import subprocess
import threading
from pathlib import Path

from classroom.demo import DemoError
from classroom.demo.cohort import ANSWERS, MLP, Csv, SimStudent, Training, Work, answer_sources
from classroom.demo.lms import Upload
from coursebase.answers import student_notebook
from coursebase.layout import ASSIGNMENTS, Course
from coursebase.notebook import cell_text, strip_ansi
from coursebase.policy import load_policy

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SUBMITTED_BEFORE_DUE = dt.timedelta(days=2)


def set_training(nb: dict, training: Training) -> None:
    """Edit the MLP notebook's settings cell (``EPOCHS = ...``) in place, as a student would."""
    values = {"EPOCHS": str(training.epochs), "LEARNING_RATE": repr(training.learning_rate),
              "HIDDEN_SIZES": repr(list(training.hidden_sizes))}
    for cell in nb["cells"]:
        text = cell_text(cell["source"])
        if cell["cell_type"] == "code" and re.search(r"^EPOCHS\s*=", text, re.MULTILINE):
            for key, value in values.items():
                text, count = re.subn(rf"^({key}\s*=\s*)[^#\n]*?(\s*(#.*)?)$", rf"\g<1>{value}\g<2>", text,
                                      count=1, flags=re.MULTILINE)
                if count != 1:
                    raise DemoError(f"the MLP notebook's settings cell has no `{key} = ...` line to edit")
            cell["source"] = text
            return
    raise DemoError("the MLP notebook has no settings cell starting with `EPOCHS = ...`")


def timestamp_for(policy, student: SimStudent, assignment: str, index: int) -> dt.datetime:
    """When a student uploads: two days before the due date (minutes apart), or ``days_late`` after it."""
    due = policy.due_for(student.student_id, assignment)
    if due is None:
        due = dt.datetime(2026, 12, 21, 23, 59, tzinfo=dt.timezone.utc)
    if assignment in student.days_late:
        return due + dt.timedelta(days=student.days_late[assignment])
    return due - SUBMITTED_BEFORE_DUE + dt.timedelta(minutes=7 * index)


STUDENT_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
# Between two students a kernel forgets the last one: names, history, open figures; the next one starts in its folder.
FRESH_START = ("%reset -f\nimport os as _os\nimport sys as _sys\n_os.chdir({folder!r})\n"
               "if 'matplotlib.pyplot' in _sys.modules:\n    _sys.modules['matplotlib.pyplot'].close('all')\n"
               "del _os, _sys\n")


class StudentKernel:
    """One student-side Jupyter kernel that runs notebooks one after another, each as if freshly started.

    The kernel gets a student's environment: no NBGRADER_EXECUTION (so training is not capped by
    the grading switch) and one thread (two kernels share the machine). Before each notebook the
    kernel's namespace and history are reset, open figures closed and its working directory moved to
    the notebook's folder, so a notebook sees what a new kernel would show it, except that the
    modules an earlier notebook imported (torch, pandas, matplotlib) are already loaded: the demo pays
    that start-up once per kernel instead of once per student. A notebook that fails takes its kernel
    with it: the next notebook gets a new one. Use as a context manager, in one thread.
    """

    def __init__(self, timeout: float = 300.0):
        self.timeout = timeout
        self.km = None

    def __enter__(self) -> StudentKernel:
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _client(self, nb, folder: Path):
        from nbclient import NotebookClient

        return NotebookClient(nb, km=self.km, timeout=self.timeout, kernel_name="python3",
                              resources={"metadata": {"path": str(folder)}})

    def _start(self, folder: Path) -> None:
        import nbformat

        env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
        client = self._client(nbformat.v4.new_notebook(), folder)
        self.km = client.create_kernel_manager()
        # The kernel's own stderr is start-up chatter (transport warnings), not the student's output.
        client.start_new_kernel(env={**env, **STUDENT_ENV}, stderr=subprocess.DEVNULL)

    def _stop(self) -> None:
        if self.km is not None:
            from jupyter_core.utils import run_sync

            km, self.km = self.km, None
            # Best effort, never a traceback: shutdown(now=True) kills the kernel's process; a kernel that
            # already died (the failure that brought us here) leaves only its files to clean up.
            for step, kwargs in ((km.shutdown_kernel, {"now": True}), (km.cleanup_resources, {})):
                try:
                    run_sync(step)(**kwargs)
                except Exception:   # nothing more to do for a kernel that is gone
                    pass

    def _execute(self, nb, folder: Path) -> None:
        client = self._client(nb, folder)
        try:
            client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()

    def run(self, path: Path) -> None:
        """Execute the notebook at ``path`` in place, in its own folder, outputs saved (also when it fails)."""
        import nbformat

        nb = nbformat.read(path, as_version=4)
        try:
            if self.km is None:
                self._start(path.parent)
            self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                FRESH_START.format(folder=str(path.parent)))]), path.parent)
            self._execute(nb, path.parent)
        except BaseException:
            self._stop()
            raise
        finally:
            nbformat.write(nb, path)


def prepare_students(course: Course, students: list[SimStudent], workspace: Path) -> dict[str, list[Upload]]:
    """Write every student's notebooks into ``workspace/<id>/<assignment>/`` (pure file writing).

    Returns assignment -> uploads (students with ``Work.NOTHING`` have none).
    """
    spec = tomllib.loads(ANSWERS.read_text(encoding="utf-8"))
    policy = load_policy(course.root)
    uploads: dict[str, list[Upload]] = {a: [] for a in ASSIGNMENTS}
    for assignment in ASSIGNMENTS:
        source_nb = json.loads(course.source_notebook(assignment).read_text(encoding="utf-8"))
        released_path = course.release_notebook(assignment)
        released_nb = json.loads(released_path.read_text(encoding="utf-8"))
        for index, student in enumerate(students):
            work = student.work[assignment]
            if work == Work.NOTHING:
                continue
            nb = student_notebook(released_nb, answer_sources(assignment, work, source_nb, spec))
            if assignment == MLP and student.training is not None:
                set_training(nb, student.training)
            folder = workspace / student.student_id / assignment
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / released_path.name
            path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            uploads[assignment].append(Upload(student, assignment, path,
                                              timestamp_for(policy, student, assignment, index)))
    return uploads


def run_mlp_notebooks(course: Course, uploads: list[Upload], progress, workers: int = 2) -> dict[str, str]:
    """Run each honest student's MLP notebook with data/ = the competition's public files, ``workers`` at a time.

    Each worker is one :class:`StudentKernel`. Each run writes ``submission.csv`` beside the
    notebook. Returns student id -> error for runs that failed (their students then have no CSV
    of their own).
    """
    runs = [u for u in uploads if u.student.csv == Csv.OWN]
    errors: dict[str, str] = {}
    task = progress.add_task("students run their MLP notebooks", total=len(runs))
    for upload in runs:
        data = upload.notebook.parent / "data"
        if not data.exists():
            data.symlink_to(course.competition_public, target_is_directory=True)
    todo: queue.SimpleQueue[Upload] = queue.SimpleQueue()
    for upload in runs:
        todo.put(upload)

    def worker() -> None:
        with StudentKernel() as kernel:
            while True:
                try:
                    upload = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    kernel.run(upload.notebook)
                    if not (upload.notebook.parent / "submission.csv").is_file():
                        errors[upload.student.student_id] = "the notebook ran but wrote no submission.csv"
                except Exception as exc:   # a student's notebook may fail; the demo reports it and goes on
                    text = strip_ansi(str(exc)).strip()
                    errors[upload.student.student_id] = text.splitlines()[-1][:200] if text else type(exc).__name__
                progress.advance(task)

    threads = [threading.Thread(target=worker, name=f"student-kernel-{i}") for i in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def attach_csvs(course: Course, uploads: list[Upload]) -> None:
    """Decide each MLP upload's submission.csv: their own, the sample, a classmate's, or none."""
    own = {u.student.student_id: u.notebook.parent / "submission.csv" for u in uploads}
    for upload in uploads:
        kind = upload.student.csv
        if kind == Csv.OWN:
            path = own[upload.student.student_id]
            upload.csv = path if path.is_file() else None
        elif kind == Csv.SAMPLE:
            target = upload.notebook.parent / "submission.csv"
            shutil.copy(course.competition_public / "sample_submission.csv", target)
            upload.csv = target
        elif kind == Csv.COPY:
            source = own.get(upload.student.copy_from or "")
            if source is None or not source.is_file():
                raise DemoError(f"{upload.student.student_id} copies {upload.student.copy_from}'s submission.csv, "
                                f"which does not exist")
            target = upload.notebook.parent / "submission.csv"
            shutil.copy(source, target)
            upload.csv = target


