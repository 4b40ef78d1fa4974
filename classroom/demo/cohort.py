"""The simulated students (pure data): who they are, what each hands in, how each trains.

:func:`cohort` gives at least :data:`MIN_STUDENTS` students, each with a one-line story.
7-11 students make a compact cohort in which every kind of submission still appears (perfect,
partial, empty, crash, endless loop, memory hog, three cheating attempts, a copied or sample
leaderboard file, late, missing); 12 or more give one story each, the rest honest. Every
honest student gets distinct :class:`Training` settings, so no two hand in the same
predictions (the leaderboard would flag them as a copy).

:func:`answer_sources` turns a student's :class:`Work` for one assignment into the sources of
the answer cells they change: the reference answers of the source notebook
(:func:`coursebase.answers.reference_answers`) for ``perfect``, nothing for ``empty``, and
otherwise the edits listed in ``data/answers.toml`` (:data:`ANSWERS`). A spec that no longer
fits the source notebook raises :class:`~classroom.demo.DemoError` naming the table and cell.
No I/O: the caller reads answers.toml and passes it in parsed.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from classroom.demo import DemoError
from coursebase.answers import reference_answers
from coursebase.layout import ASSIGNMENTS

ANSWERS = Path(__file__).parent / "data" / "answers.toml"
MLP = "04_mlp_fashion_mnist"
MIN_STUDENTS = 7


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


