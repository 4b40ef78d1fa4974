"""`autograder demo [--course DIR] [--students N]`: one whole course cycle on simulated students.

What it does, in order (each stage prints its progress and how long it took):

1. **Course.** A fresh course directory (a temp folder, or ``--course DIR``, which must be
   new or empty) gets the repository's ``source/``, its ``nbgrader_config.py`` (unchanged: the
   gradebook path in it is relative to the course folder) and its ``course.toml`` with the limits shortened
   for the demo (:data:`DEMO_LIMITS`: the endless loop and the memory hog end in
   seconds). All six assignments are released.
2. **Competition.** From Fashion-MNIST when its IDX files are on disk (``$FASHION_MNIST_DIR``,
   ``./data``, ``~/.cache``) or downloadable within seconds, else from a built-in synthetic
   stand-in with the same shapes (:func:`synthetic_fashion`). Either way a subset
   (default 6,000 train / 2,000 test images) keeps the demo fast. The output says which.
3. **Students.** A cohort (:func:`cohort`) of at least 7 simulated students, each with a
   story: perfect, partial, empty, crash, endless loop, memory hog, cheating attempts,
   late, missing. Their notebooks are the released ones with answer cells filled in
   from ``source/`` (perfect answers) or ``data/answers.toml`` (everything else).
   Every honest student runs their MLP notebook the way a student would (nbclient,
   ``data/`` = the competition's public files, training capped by editing the notebook's
   own ``EPOCHS``/``HIDDEN_SIZES`` cell) and uploads the ``submission.csv`` it wrote;
   lazy and dishonest ones upload the sample submission or a classmate's file. The
   uploads are packed into one zip per assignment, laid out like an LMS download.
4. **Pipeline.** roster import -> collect -> grade (sandboxed, parallel) -> feedback ->
   export -> leaderboard score -> final grades, with the project's own functions.
5. **Results.** The final grade table and where the HTML course report, the feedback
   pages and the leaderboard pages are.

Everything the simulation writes outside the course's own layout lives in
``<course>/demo/`` (the students' working folders, the roster, the LMS zips).
"""
from __future__ import annotations

import datetime as dt
import enum
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coursebase.layout import ASSIGNMENTS, Course, CourseError
from coursebase.policy import load_policy
from leaderboard.standin import reachable, synthetic_fashion

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]
ANSWERS = Path(__file__).parent / "data" / "answers.toml"
MLP = "04_mlp_fashion_mnist"
# Short limits so the endless loop and the memory hog cost seconds, not minutes.
DEMO_LIMITS = {"cell_timeout": 10, "notebook_timeout": 60, "memory_mb": 1024}
MIN_STUDENTS = 7
SUBMITTED_BEFORE_DUE = dt.timedelta(days=2)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class DemoError(CourseError):
    """The demo cannot go on; the message says what to do."""


# ================================================================== the cohort (pure data)

class Work(str, enum.Enum):
    """What a simulated student hands in for one assignment (keys of answers.toml)."""
    PERFECT = "perfect"
    PARTIAL = "partial"
    EMPTY = "empty"                                 # the released notebook, unchanged
    CRASH = "crash"                                 # os._exit in the middle
    LOOP = "loop"                                   # an endless loop
    HOG = "hog"                                     # allocates far past the memory limit
    ATTACK_TRANSFORMER = "attack_transformer"       # IPython input transformer
    ATTACK_SOURCE = "attack_source"                 # reads ../source for the solutions
    ATTACK_PATCH = "attack_patch"                   # torch.allclose patch, lying int subclass
    NOTHING = "nothing"                             # submits nothing for this assignment


class Csv(str, enum.Enum):
    """Where a student's leaderboard ``submission.csv`` comes from."""
    OWN = "own"          # written by running their own notebook
    SAMPLE = "sample"    # the competition's sample_submission.csv
    COPY = "copy"        # a classmate's submission.csv
    NONE = "none"        # nothing attached


@dataclass(frozen=True)
class Training:
    """The hyperparameters a student sets in the MLP notebook's settings cell."""
    hidden_sizes: tuple[int, ...]
    epochs: int
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class SimStudent:
    student_id: str
    first_name: str
    last_name: str
    folder_name: str                       # Latin name the LMS uses in file names
    story: str                             # one line for the cohort table
    work: dict[str, Work]
    csv: Csv = Csv.OWN
    copy_from: str | None = None           # whose submission.csv a copier uploads
    training: Training | None = None
    days_late: dict[str, float] = field(default_factory=dict)   # assignment -> days after the due date


NAMES = [("Анна", "Иванова", "Ivanova"), ("Борис", "Петров", "Petrov"), ("Вера", "Смирнова", "Smirnova"),
         ("Глеб", "Кузнецов", "Kuznetsov"), ("Дарья", "Попова", "Popova"), ("Егор", "Соколов", "Sokolov"),
         ("Жанна", "Лебедева", "Lebedeva"), ("Захар", "Козлов", "Kozlov"), ("Ирина", "Новикова", "Novikova"),
         ("Кирилл", "Морозов", "Morozov"), ("Лидия", "Волкова", "Volkova"), ("Максим", "Соловьёв", "Solovyov"),
         ("Нина", "Васильева", "Vasilyeva"), ("Олег", "Зайцев", "Zaitsev"), ("Полина", "Павлова", "Pavlova"),
         ("Роман", "Семёнов", "Semyonov"), ("Софья", "Голубева", "Golubeva"), ("Тимур", "Виноградов", "Vinogradov")]

# Distinct settings, so honest students land in different grade bands and no two of them
# hand in the same predictions (which the leaderboard would flag as a copy).
TRAININGS = [Training((512, 256), 8), Training((), 3), Training((128,), 5), Training((256, 128), 5),
             Training((64,), 6), Training((128, 64), 4), Training((192,), 6), Training((96,), 4),
             Training((256,), 7), Training((64,), 3), Training((128, 128), 6), Training((512,), 5)]

ALL = dict.fromkeys(ASSIGNMENTS, Work.PERFECT)


def _work(**changes: Work) -> dict[str, Work]:
    """All assignments perfect except the ones named (keyword = assignment short name)."""
    short = {a.split("_", 1)[0]: a for a in ASSIGNMENTS}   # "01" -> "01_tensors"
    work = dict(ALL)
    for key, value in changes.items():
        work[short[key.lstrip("a")]] = value
    return work


def _stories(n: int) -> list[tuple[str, dict, dict]]:
    """(story, work, extra SimStudent fields) per student; compact when n < 12."""
    partial = dict.fromkeys(ASSIGNMENTS, Work.PARTIAL)
    empty = dict.fromkeys(ASSIGNMENTS, Work.EMPTY)
    if n < 12:
        # Every kind still appears, several stories per student.
        return [
            ("perfect", dict(ALL), {}),
            ("partial answers", partial, {}),
            ("empty (unchanged release), uploads the sample submission", empty, {"csv": Csv.SAMPLE}),
            ("crash in 01, endless loop in 02, memory hog in 03",
             _work(a01=Work.CRASH, a02=Work.LOOP, a03=Work.HOG), {}),
            ("cheats: input transformer (01), reads ../source (02), patches torch / lying int (03), "
             "copies a classmate's submission.csv",
             {"01_tensors": Work.ATTACK_TRANSFORMER, "02_dot_product": Work.ATTACK_SOURCE,
              "03_parameter_count": Work.ATTACK_PATCH, MLP: Work.EMPTY, "05_concept_check": Work.EMPTY,
              "06_one_neuron": Work.EMPTY}, {"csv": Csv.COPY, "copy_from": 3}),
            ("perfect but late: 01 two days, 04 one day", dict(ALL),
             {"days_late": {"01_tensors": 1.5, MLP: 0.5}}),
            ("submits nothing for 03, forgets to attach submission.csv", _work(a03=Work.NOTHING),
             {"csv": Csv.NONE}),
        ]
    return [
        ("perfect", dict(ALL), {}),
        ("partial answers", partial, {}),
        ("empty (unchanged release), uploads the sample submission", empty, {"csv": Csv.SAMPLE}),
        ("kernel crash (os._exit) in 01", _work(a01=Work.CRASH), {}),
        ("endless loop in 02", _work(a02=Work.LOOP), {}),
        ("memory hog in 03", _work(a03=Work.HOG), {}),
        ("cheats in 01: IPython input transformer", {**partial, "01_tensors": Work.ATTACK_TRANSFORMER}, {}),
        ("cheats in 02: reads ../source for the solutions", {**partial, "02_dot_product": Work.ATTACK_SOURCE}, {}),
        ("cheats in 03: patches torch.allclose, lying int", {**partial, "03_parameter_count": Work.ATTACK_PATCH},
         {}),
        ("empty MLP notebook, uploads a classmate's submission.csv", _work(a04=Work.EMPTY),
         {"csv": Csv.COPY, "copy_from": 5}),
        ("perfect but late: 01 two days, 04 one day", dict(ALL), {"days_late": {"01_tensors": 1.5, MLP: 0.5}}),
        ("submits nothing for 03, forgets to attach submission.csv", _work(a03=Work.NOTHING), {"csv": Csv.NONE}),
    ]


def cohort(n: int = 12) -> list[SimStudent]:
    """The simulated students (pure): 7-11 gives a compact cohort with every kind, 12+ one story each.

    Students beyond the stories are honest (alternately perfect and partial) with their own
    training settings. Raises ValueError below :data:`MIN_STUDENTS`.
    """
    if n < MIN_STUDENTS:
        raise ValueError(f"the demo needs at least {MIN_STUDENTS} students to show every kind of "
                         f"submission, got {n}")
    stories = _stories(n)
    while len(stories) < n:
        k = len(stories)
        work = dict(ALL) if k % 2 == 0 else dict.fromkeys(ASSIGNMENTS, Work.PARTIAL)
        stories.append(("honest, perfect" if k % 2 == 0 else "honest, partial answers", work, {}))
    students: list[SimStudent] = []
    width = max(2, len(str(n)))
    honest = 0
    for i, (story, work, extra) in enumerate(stories):
        first, last, latin = NAMES[i] if i < len(NAMES) else ("Студент", f"№{i + 1}", f"Student{i + 1}")
        extra = dict(extra)
        if "copy_from" in extra:
            extra["copy_from"] = f"s{extra['copy_from'] + 1:0{width}d}"
        training = None
        if extra.get("csv", Csv.OWN) == Csv.OWN:
            training = TRAININGS[honest % len(TRAININGS)]
            if honest >= len(TRAININGS):   # keep every honest run distinct
                training = Training(training.hidden_sizes, training.epochs + honest // len(TRAININGS))
            honest += 1
        students.append(SimStudent(f"s{i + 1:0{width}d}", first, last, latin, story, work,
                                   training=training, **extra))
    return students


# ================================================================== notebooks (pure)

def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def reference_answers(source_nb: dict) -> dict[str, str]:
    """grade_id -> the instructor's answer cell with the solution markers removed."""
    answers = {}
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            lines = _text(cell["source"]).splitlines()
            answers[meta["grade_id"]] = "\n".join(
                line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    return answers


def answer_sources(assignment: str, work: Work, source_nb: dict, spec: dict) -> dict[str, str]:
    """grade_id -> new source for each answer cell a student with ``work`` changes.

    ``spec`` is answers.toml parsed. Raises DemoError when the spec does not fit the
    notebook (unknown cell, a replacement that no longer matches).
    """
    reference = reference_answers(source_nb)
    if work == Work.PERFECT:
        return dict(reference)
    if work == Work.EMPTY:
        return {}
    table = spec.get(assignment, {}).get(work.value)
    if table is None:
        raise DemoError(f"{ANSWERS}: no [{assignment}.{work.value}] table")
    base = table.get("base", "reference")
    answers = dict(reference) if base == "reference" else {}
    for grade_id, edit in table.items():
        if grade_id == "base":
            continue
        if grade_id not in reference:
            raise DemoError(f"{ANSWERS}: [{assignment}.{work.value}] names {grade_id!r}, which is not an answer "
                            f"cell of the source notebook (answer cells: {', '.join(reference)})")
        if "source" in edit:
            answers[grade_id] = edit["source"].strip("\n")
        elif "prepend" in edit:
            answers[grade_id] = edit["prepend"].strip("\n") + "\n" + reference[grade_id]
        elif "replace" in edit:
            text = reference[grade_id]
            for old, new in edit["replace"]:
                if old not in text:
                    raise DemoError(f"{ANSWERS}: [{assignment}.{work.value}] {grade_id}: {old!r} is not in the "
                                    f"reference answer any more; update the replacement")
                text = text.replace(old, new)
            answers[grade_id] = text
        else:
            raise DemoError(f"{ANSWERS}: [{assignment}.{work.value}] {grade_id} needs source, prepend or replace")
    return answers


SETTINGS_KEYS = ("EPOCHS", "LEARNING_RATE", "HIDDEN_SIZES")


def set_training(nb: dict, training: Training) -> None:
    """Edit the MLP notebook's settings cell (``EPOCHS = ...``) in place, as a student would."""
    values = {"EPOCHS": str(training.epochs), "LEARNING_RATE": repr(training.learning_rate),
              "HIDDEN_SIZES": repr(list(training.hidden_sizes))}
    for cell in nb["cells"]:
        text = _text(cell["source"])
        if cell["cell_type"] == "code" and re.search(r"^EPOCHS\s*=", text, re.MULTILINE):
            for key, value in values.items():
                text, count = re.subn(rf"^({key}\s*=\s*)[^#\n]*?(\s*(#.*)?)$", rf"\g<1>{value}\g<2>", text,
                                      count=1, flags=re.MULTILINE)
                if count != 1:
                    raise DemoError(f"the MLP notebook's settings cell has no `{key} = ...` line to edit")
            cell["source"] = text
            return
    raise DemoError("the MLP notebook has no settings cell starting with `EPOCHS = ...`")


def student_notebook(released_nb: dict, answers: dict[str, str]) -> dict:
    """A copy of the released notebook with these answer cells' sources replaced (outputs cleared)."""
    nb = json.loads(json.dumps(released_nb))
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return nb


# ================================================================== the competition's data

@dataclass(frozen=True)
class Dataset:
    label: str                   # printed: which data the competition was built from
    real: bool
    images_train: np.ndarray
    labels_train: np.ndarray
    images_test: np.ndarray
    labels_test: np.ndarray


def _subset(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n >= len(labels):
        return images, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:n])
    return images[keep], labels[keep]


def fashion_roots(cwd: Path) -> list[Path]:
    """Folders that may hold ``FashionMNIST/raw/`` (torchvision's layout), most specific first."""
    roots = []
    if os.environ.get("FASHION_MNIST_DIR"):
        given = Path(os.environ["FASHION_MNIST_DIR"]).expanduser()
        roots += [given, given.parent, given.parent.parent]
    home = Path.home()
    roots += [cwd / "data", home / ".cache" / "fashion-mnist", home / ".cache" / "torchvision", home / ".cache"]
    return roots


def _has_raw(root: Path) -> bool:
    from leaderboard.prepare import RAW_FILES

    raw = root / "FashionMNIST" / "raw"
    return all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in RAW_FILES)


def find_dataset(course: Course, n_train: int, n_test: int, seed: int, say, probe_timeout: float = 3.0,
                 mirror: str | None = None, download: bool = True) -> Dataset:
    """Fashion-MNIST from disk, else downloaded (if the host answers within seconds), else synthetic.

    ``mirror`` overrides torchvision's first download address (tests point it at a closed port);
    ``download=False`` never tries the network.
    """
    from leaderboard.prepare import download_fashion_mnist, load_fashion_mnist
    from leaderboard.records import LeaderboardError

    size = f"{n_train:,} train / {n_test:,} test images"
    for root in fashion_roots(Path.cwd()):
        if _has_raw(root):
            try:
                arrays = load_fashion_mnist(root)
            except LeaderboardError as exc:
                say(f"[yellow]skipped[/yellow] {root}: {exc}")
                continue
            return _real(arrays, f"Fashion-MNIST from {root} (a random subset: {size})", n_train, n_test, seed)
    mirrors = [mirror] if mirror else None
    if mirror is None:
        from torchvision.datasets import FashionMNIST

        mirror = FashionMNIST.mirrors[0]
    if not download:
        say("Fashion-MNIST is not on disk; no download attempted (download=False)")
    elif reachable(mirror, probe_timeout):
        say(f"downloading Fashion-MNIST from {mirror} ...")
        try:
            root = download_fashion_mnist(course.root / "data", timeout=10.0, mirrors=mirrors)
            return _real(load_fashion_mnist(root), f"Fashion-MNIST, downloaded (a random subset: {size})",
                         n_train, n_test, seed)
        except LeaderboardError as exc:
            say(f"[yellow]download failed[/yellow]: {exc}")
    else:
        say(f"Fashion-MNIST is not on disk and {mirror} did not answer within {probe_timeout:g} s (offline?)")
    return Dataset(f"SYNTHETIC stand-in for Fashion-MNIST (built-in, seed {seed}: blurred class shapes "
                   f"plus noise, 28x28 grey, 10 classes; {size}) — not real Fashion-MNIST", False,
                   *synthetic_fashion(n_train, n_test, seed))


def _real(arrays, label: str, n_train: int, n_test: int, seed: int) -> Dataset:
    images_train, labels_train, images_test, labels_test = arrays
    return Dataset(label, True, *_subset(images_train, labels_train, n_train, seed),
                   *_subset(images_test, labels_test, n_test, seed + 1))


# ================================================================== the course

def _rewrite_limits(text: str, limits: dict[str, int]) -> str:
    """course.toml text with these [limits] keys set (added if absent), everything else kept."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "[limits]"), None)
    if start is None:
        return text.rstrip("\n") + "\n\n[limits]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    todo = dict(limits)
    for i in range(start + 1, end):
        match = re.match(r"^(\s*)(\w+)(\s*=\s*)[^#]*?(\s*#.*)?$", lines[i])
        if match and match.group(2) in todo:
            comment = (match.group(4) or "").strip()
            lines[i] = (f"{match.group(1)}{match.group(2)}{match.group(3)}{todo.pop(match.group(2))}"
                        + (f"   {comment} (shortened for the demo)" if comment else ""))
    lines[end:end] = [f"{k} = {v}" for k, v in todo.items()]
    return "\n".join(lines) + "\n"


def make_course(root: Path, repo: Path = REPO) -> Course:
    """Copy source/, nbgrader_config.py and course.toml (demo limits) from ``repo`` into ``root``."""
    for needed in ("source", "course.toml", "nbgrader_config.py"):
        if not (repo / needed).exists():
            raise DemoError(f"{repo / needed} is missing: the demo copies the course from the repository it "
                            f"is installed from (pip install -e .)")
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise DemoError(f"{root} is not empty; the demo builds a fresh course there. Give a new or empty folder "
                        f"with --course, or leave it out to use a temporary folder.")
    shutil.copytree(repo / "source", root / "source",
                    ignore=shutil.ignore_patterns("data", "submission.csv", ".ipynb_checkpoints", "__pycache__"))
    # copied as is: its gradebook path is relative to its own folder, so the copy uses its own gradebook
    shutil.copy(repo / "nbgrader_config.py", root / "nbgrader_config.py")
    policy_text = _rewrite_limits((repo / "course.toml").read_text(encoding="utf-8"), DEMO_LIMITS)
    (root / "course.toml").write_text(policy_text, encoding="utf-8")
    limits = load_policy(root).limits
    for key, value in DEMO_LIMITS.items():
        if getattr(limits, key) != value:   # the rewrite must have taken effect
            raise DemoError(f"{root / 'course.toml'}: could not set limits.{key} = {value}")
    return Course.at(root)


# ================================================================== the students' side

def timestamp_for(policy, student: SimStudent, assignment: str, index: int) -> dt.datetime:
    """When a student uploads: two days before the due date (minutes apart), or ``days_late`` after it."""
    due = policy.due_for(student.student_id, assignment)
    if due is None:
        due = dt.datetime(2026, 12, 21, 23, 59, tzinfo=dt.timezone.utc)
    if assignment in student.days_late:
        return due + dt.timedelta(days=student.days_late[assignment])
    return due - SUBMITTED_BEFORE_DUE + dt.timedelta(minutes=7 * index)


def run_notebook(path: Path, timeout: float = 300.0) -> None:
    """Execute a notebook in place in its own folder, as a student's Jupyter would (outputs saved).

    The kernel gets a student's environment: no NBGRADER_EXECUTION (so training is not
    capped by the grading switch) and one thread (two kernels share the machine).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        # The kernel's own stderr is start-up chatter (transport warnings), not the student's output.
        client.execute(env=env, stderr=subprocess.DEVNULL)
    finally:
        nbformat.write(nb, path)


@dataclass
class Upload:
    """One student's files for one assignment, as the LMS holds them."""
    student: SimStudent
    assignment: str
    notebook: Path
    submitted_at: dt.datetime
    csv: Path | None = None


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
    """Run each honest student's MLP notebook with data/ = the competition's public files.

    Each run writes ``submission.csv`` beside the notebook. Returns student id -> error
    for runs that failed (their students then have no CSV of their own).
    """
    runs = [u for u in uploads if u.student.csv == Csv.OWN]
    errors: dict[str, str] = {}
    task = progress.add_task("students run their MLP notebooks", total=len(runs))
    for upload in runs:
        data = upload.notebook.parent / "data"
        if not data.exists():
            data.symlink_to(course.competition_public, target_is_directory=True)

    def one(upload: Upload) -> None:
        run_notebook(upload.notebook)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(one, u): u for u in runs}
        for future in as_completed(futures):
            upload = futures[future]
            try:
                future.result()
                csv_path = upload.notebook.parent / "submission.csv"
                if not csv_path.is_file():
                    errors[upload.student.student_id] = "the notebook ran but wrote no submission.csv"
            except Exception as exc:   # a student's notebook may fail; the demo reports it and goes on
                text = ANSI.sub("", str(exc)).strip()
                errors[upload.student.student_id] = text.splitlines()[-1][:200] if text else type(exc).__name__
            progress.advance(task)
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


def lms_zip(path: Path, uploads: list[Upload]) -> Path:
    """One zip the way an LMS exports an assignment: ``<id>_<Name>/`` with the notebook and any
    attachment, each entry dated with the upload time (Info-ZIP UTC field, as Moodle's download does)."""
    import struct

    def entry(folder: str, name: str, when: dt.datetime) -> zipfile.ZipInfo:
        utc = when.astimezone(dt.timezone.utc)
        info = zipfile.ZipInfo(f"{folder}/{name}", date_time=utc.timetuple()[:6])
        info.extra = struct.pack("<HHBi", 0x5455, 5, 1, int(utc.timestamp()))
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for upload in uploads:
            folder = f"{upload.student.student_id}_{upload.student.folder_name}"
            zf.writestr(entry(folder, upload.notebook.name, upload.submitted_at), upload.notebook.read_bytes())
            if upload.csv is not None:
                zf.writestr(entry(folder, "submission.csv", upload.submitted_at), upload.csv.read_bytes())
    return path


def write_roster(path: Path, students: list[SimStudent]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "first_name", "last_name", "email"])
        for s in students:
            writer.writerow([s.student_id, s.first_name, s.last_name, f"{s.student_id}@students.example.org"])
    return path


# ================================================================== the run

@dataclass
class DemoResult:
    course: Course
    students: list[SimStudent]
    dataset: str
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.timings.values())


def demo(course_dir: Path | None = None, students: int = 12, *, n_train: int = 6000, n_test: int = 2000,
         download: bool = True, console=None) -> DemoResult:
    """Run the whole cycle (see the module docstring); raises DemoError/CourseError when a stage cannot run.

    ``download=False`` keeps the demo off the network (tests): Fashion-MNIST only from disk, else the stand-in.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = console or Console()
    cohort_ = cohort(students)
    root = Path(course_dir).resolve() if course_dir else Path(tempfile.mkdtemp(prefix="autograder-demo-"))
    result = DemoResult(Course(root), cohort_, "")
    stages = ["course", "competition", "students", "collect", "grade", "feedback", "leaderboard", "final grades"]
    clock = {"start": time.monotonic()}

    def stage(name: str) -> None:
        number = stages.index(name) + 1
        console.rule(f"[bold]{number}/{len(stages)} {name}")
        clock["start"] = time.monotonic()

    def done(name: str) -> None:
        result.timings[name] = time.monotonic() - clock["start"]
        console.print(f"[dim]{name}: {result.timings[name]:.1f} s[/dim]")

    def bar() -> Progress:
        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)

    # 1. course ------------------------------------------------------------------------------
    stage("course")
    course = make_course(root)
    result.course = course
    console.print(f"course directory: {root}  (limits for the demo: "
                  + ", ".join(f"{k} = {v}" for k, v in DEMO_LIMITS.items()) + ")")
    from autograder.release import release

    release(course, None, console=console)
    done("course")

    # 2. competition -------------------------------------------------------------------------
    stage("competition")
    from leaderboard.prepare import prepare_competition

    policy = load_policy(root)
    dataset = find_dataset(course, n_train, n_test, policy.leaderboard.split_seed, console.print,
                           download=download)
    result.dataset = dataset.label
    competition = prepare_competition(course.competition, dataset.images_train, dataset.labels_train,
                                      dataset.images_test, dataset.labels_test,
                                      public_fraction=policy.leaderboard.public_fraction,
                                      seed=policy.leaderboard.split_seed)
    style = "green" if dataset.real else "bold yellow"
    console.print(f"data: [{style}]{dataset.label}[/{style}]")
    console.print(f"competition: {competition.n_train:,} training rows, {competition.n_test:,} test rows "
                  f"({competition.n_public:,} public / {competition.n_private:,} private) in {course.competition}")
    done("competition")

    # 3. students ----------------------------------------------------------------------------
    stage("students")
    table = Table(title=f"{len(cohort_)} simulated students")
    for column in ("student", "name", "what they hand in", "MLP settings", "submission.csv"):
        table.add_column(column)
    for s in cohort_:
        settings = (f"hidden {list(s.training.hidden_sizes)}, {s.training.epochs} epochs" if s.training else "—")
        csv_words = {Csv.OWN: "from their own run", Csv.SAMPLE: "the sample submission",
                     Csv.COPY: f"copy of {s.copy_from}'s", Csv.NONE: "none"}[s.csv]
        table.add_row(s.student_id, f"{s.first_name} {s.last_name}", s.story, settings, csv_words)
    console.print(table)
    demo_dir = root / "demo"
    uploads = prepare_students(course, cohort_, demo_dir / "students")
    with bar() as progress:
        errors = run_mlp_notebooks(course, uploads[MLP], progress)
    for student_id, error in sorted(errors.items()):
        result.notes.append(f"{student_id}'s MLP notebook failed on the student side: {error}")
        console.print(f"[yellow]note:[/yellow] {result.notes[-1]}")
    attach_csvs(course, uploads[MLP])
    zips = {a: lms_zip(demo_dir / "lms" / f"{a}.zip", uploads[a]) for a in ASSIGNMENTS}
    roster = write_roster(demo_dir / "roster.csv", cohort_)
    console.print(f"LMS downloads: {demo_dir / 'lms'} ({', '.join(p.name for p in zips.values())}); "
                  f"roster: {roster}")
    done("students")

    # 4. collect -----------------------------------------------------------------------------
    stage("collect")
    from autograder.collect import collect
    from autograder.roster import import_roster

    import_roster(course, roster)
    for assignment in ASSIGNMENTS:
        summary = collect(course, assignment, zips[assignment], show=False)
        skipped = "; ".join(f"{s.name}: {s.reason}" for s in summary.skipped)
        console.print(f"collected {assignment}: {len(summary.collected)} submission(s)"
                      + (f", skipped {skipped}" if skipped else ""))
    done("collect")

    # 5. grade -------------------------------------------------------------------------------
    stage("grade")
    from autograder.grade import grade_many

    batches = grade_many(course, list(ASSIGNMENTS), quiet=False)  # one warm start for every assignment
    if batches is None:
        raise DemoError("the grading sandbox is not available on this machine (see the error above); the demo "
                        "needs root or unprivileged user namespaces")
    for assignment, batch in batches.items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(batch.counts().items()))
        console.print(f"graded {assignment}: {counts} (sandbox: {batch.sandbox})")
    done("grade")

    # 6. feedback ----------------------------------------------------------------------------
    stage("feedback")
    from autograder.export import export
    from autograder.feedback import write_feedback

    for assignment in ASSIGNMENTS:
        pages = write_feedback(course, assignment, show=False)
        console.print(f"feedback {assignment}: {len(pages.written)} page(s)"
                      + (f", none for {', '.join(sorted(pages.skipped))} (nothing submitted)" if pages.skipped else ""))
    exported = export(course, show=False)
    console.print(f"per-assignment grades: {exported.path}")
    done("feedback")

    # 7. leaderboard -------------------------------------------------------------------------
    stage("leaderboard")
    from leaderboard.api import score_course

    board = score_course(root)
    for item in board:
        accuracy = f"{item.private_accuracy:.4f}" if item.private_accuracy is not None else "—"
        console.print(f"  {item.student_id}: {item.status}, private accuracy {accuracy}, "
                      f"{item.points:g}/{item.max_points:g} points" + (f", flags {', '.join(item.flags)}"
                                                                      if item.flags else ""))
    done("leaderboard")

    # 8. final grades ------------------------------------------------------------------------
    stage("final grades")
    from finalgrades.command import final_grades

    final = final_grades(course, None, console=console)
    done("final grades")

    board_dir = course.reports / "leaderboard"
    paths = Table(title="Where to look", show_header=False)
    paths.add_column("what")
    paths.add_column("path")
    paths.add_row("course report (HTML)", str(final.report))
    paths.add_row("final grades (CSV for the LMS)", str(final.csv))
    paths.add_row("per-assignment grades (CSV)", str(exported.path))
    paths.add_row("feedback pages", f"{course.feedback}/<student>/<assignment>/<notebook>.html")
    paths.add_row("leaderboard (instructor)", str(board_dir / "leaderboard-instructor.html"))
    paths.add_row("leaderboard (public)", str(board_dir / "leaderboard-public.html"))
    paths.add_row("simulated students' work", str(demo_dir))
    console.print(paths)
    console.print(f"data used: {dataset.label}")
    console.print("time per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
                  + f"; total {result.total:.1f} s")
    return result


def run_demo(course_dir: Path | None = None, students: int = 12, **options) -> int:
    """The CLI's entry: run :func:`demo` (``options`` go to it); 0 when the whole cycle ran, 2 with a message
    otherwise."""
    from rich.console import Console
    from rich.markup import escape

    try:
        demo(course_dir, students, **options)
    except (CourseError, ValueError) as exc:
        Console(stderr=True).print(f"[red]demo stopped:[/red] {escape(str(exc))}", soft_wrap=True)
        return 2
    return 0
