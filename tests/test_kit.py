"""autograder/engine/grading_kit.py (build_kit: autograder/kits.py): cell roles, given cells and their seeds,
the kit's JSON form and its hash.

Fast tier: hand-built kits, no gradebook (``build_kit`` against a real
gradebook is covered by the slow story tests).
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from autograder.engine import grading_kit as kit_module
from autograder.engine.grading_kit import KIT_VERSION, Kit, KitCell


def kc(grade_id, cell_type="code", *, locked=False, grade=False, solution=False, points=None, source="x = 1"):
    return KitCell(grade_id=grade_id, cell_type=cell_type, locked=locked, grade=grade, solution=solution,
                   points=points, checksum="abc", source=source, visible_source=source)


# (cell, is_test, is_manual, is_given): nbgrader's metadata combinations
ROLES = [
    (kc("autograded_test", locked=True, grade=True, points=1.0), True, False, False),
    (kc("unlocked_test", grade=True, points=1.0), True, False, False),   # still a test: grade, no solution
    (kc("autograded_answer", solution=True), False, False, False),
    (kc("manual_code", grade=True, solution=True, points=2.0), False, True, False),
    (kc("manual_text", "markdown", grade=True, solution=True, points=2.0), False, True, False),
    (kc("given_code", locked=True), False, False, True),
    (kc("readonly_text", "markdown", locked=True), False, False, False),  # read-only text is not "given"
    (kc("graded_markdown_task", "markdown", locked=True, grade=True, points=1.0), False, False, False),
]


@pytest.mark.parametrize("cell, is_test, is_manual, is_given", ROLES, ids=[r[0].grade_id for r in ROLES])
def test_cell_roles_follow_nbgrader_metadata(cell, is_test, is_manual, is_given):
    assert (cell.is_test, cell.is_manual, cell.is_given) == (is_test, is_manual, is_given)


def kit() -> Kit:
    return Kit(assignment="a1", notebook="a1.ipynb", cells=[
        kc("intro", "markdown", locked=True),
        kc("data1", locked=True, source="X = 1"),
        kc("answer", solution=True),
        kc("t1", locked=True, grade=True, points=1.5),
        kc("data2", locked=True, source="Y = 2"),
        kc("essay", "markdown", grade=True, solution=True, points=3.0),
        kc("t2", locked=True, grade=True, points=0.5),
    ], data_files=["train.csv"])


def test_given_cells_are_the_locked_code_cells_without_points_in_release_order():
    assert [c.grade_id for c in kit().given_cells()] == ["data1", "data2"]


def test_each_given_cell_is_seeded_with_the_grading_seed_plus_its_position():
    k = kit()
    assert k.given_seed("data1", 1000) == 1000
    assert k.given_seed("data2", 1000) == 1001
    with pytest.raises(ValueError):
        k.given_seed("t1", 1000)   # not a given cell: no seed


def test_max_score_adds_every_graded_cells_points():
    assert kit().max_score == 1.5 + 3.0 + 0.5
    assert Kit(assignment="a", notebook="a.ipynb", cells=[]).max_score == 0.0


def test_by_id_maps_every_cell():
    k = kit()
    assert set(k.by_id()) == {c.grade_id for c in k.cells} and k.by_id()["t1"] is k.cells[3]


def test_json_round_trip_keeps_everything(tmp_path):
    k = kit()
    k.tests_hash = kit_module.tests_hash(k.cells)
    data = k.to_json()
    assert data["version"] == KIT_VERSION
    assert json.loads(json.dumps(data)) == data   # plain JSON
    assert Kit.from_json(data) == k
    path = k.save(tmp_path / "kits" / "a1.json")
    assert Kit.load(path) == k
    assert not list((tmp_path / "kits").glob("*.tmp"))   # the atomic write left no temporary file


@pytest.mark.parametrize("change", [
    {"points": 2.0}, {"source": "assert False"}, {"locked": False}, {"grade": False},
    {"visible_source": "assert True"}, {"checksum": "other"}, {"grade_id": "t9"},
])
def test_the_tests_hash_changes_with_anything_that_decides_a_score(change):
    cells = kit().cells
    changed = list(cells)
    changed[3] = replace(cells[3], **change)
    assert kit_module.tests_hash(changed) != kit_module.tests_hash(cells)


def test_the_tests_hash_is_stable_and_order_sensitive():
    cells = kit().cells
    assert kit_module.tests_hash(cells) == kit_module.tests_hash(kit().cells)
    assert len(kit_module.tests_hash(cells)) == 16
    assert kit_module.tests_hash(list(reversed(cells))) != kit_module.tests_hash(cells)
