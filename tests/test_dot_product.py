"""The "answer is 50" exercise: its given tensors make every common mistake give another number.

The tensors are read from the source notebook's locked `given_tensors` cell (never copied here),
so changing them in the notebook is checked by these tests.
"""
from __future__ import annotations

import itertools

import nbformat
import pytest
import torch
from _assignment_helpers import REPO, nbgrader_cells, notebook_path, solution_blocks

ANSWER = 50.0


@pytest.fixture(scope="module")
def notebook_cells():
    nb = nbformat.read(notebook_path(REPO, "source", "02_dot_product"), as_version=4)
    return nbgrader_cells(nb)


@pytest.fixture(scope="module")
def given(notebook_cells):
    """A and B exactly as the locked cell defines them."""
    cell = notebook_cells["given_tensors"]
    assert cell.metadata["nbgrader"]["locked"] and not cell.metadata["nbgrader"]["solution"]
    namespace: dict = {}
    exec(cell.source, namespace)  # the instructor's own notebook: trusted code
    return namespace["A"], namespace["B"]


def reference(A, B):
    combined = torch.cat([A * B, A - B], dim=0)
    return float(torch.dot(combined[0], combined[-1]))


def test_given_tensors_are_4x4(given):
    A, B = given
    assert tuple(A.shape) == (4, 4) and tuple(B.shape) == (4, 4)


def test_the_reference_steps_give_50(given):
    assert reference(*given) == ANSWER


def test_the_notebook_solution_cells_give_50(notebook_cells):
    """Run the given cell and the solution blocks of steps 1-4 in order, as the notebook does."""
    namespace: dict = {}
    exec(notebook_cells["given_tensors"].source, namespace)
    for answer in ("step1_elementwise", "step2_concatenate", "step3_dot_product", "step4_function"):
        exec(notebook_cells[answer].source, namespace)
    assert float(namespace["result"]) == ANSWER
    assert float(namespace["first_last_dot"](namespace["A"], namespace["B"])) == ANSWER
    # The solution blocks alone are what nbgrader strips: they hold the whole computation.
    assert all(solution_blocks(notebook_cells[answer].source)
               for answer in ("step1_elementwise", "step2_concatenate", "step3_dot_product"))


# Each named mistake is a function of (A, B) returning the number a student would get.
def _rows(combined, i, j):
    return float(torch.dot(combined[i], combined[j]))


NAMED_MISTAKES = {
    "matrix product A @ B instead of A * B":
        lambda A, B: _rows(torch.cat([A @ B, A - B]), 0, -1),
    "matrix product B @ A instead of A * B":
        lambda A, B: _rows(torch.cat([B @ A, A - B]), 0, -1),
    "concatenate along columns (dim=1)":
        lambda A, B: _rows(torch.cat([A * B, A - B], dim=1), 0, -1),
    "stack instead of cat, then sum the product of the two blocks":
        lambda A, B: float((torch.stack([A * B, A - B])[0] * torch.stack([A * B, A - B])[-1]).sum()),
    "sum of both rows instead of the dot product":
        lambda A, B: float(torch.cat([A * B, A - B])[0].sum() + torch.cat([A * B, A - B])[-1].sum()),
    "sum of the element-wise sum of the rows":
        lambda A, B: float((torch.cat([A * B, A - B])[0] + torch.cat([A * B, A - B])[-1]).sum()),
    "product of the row sums":
        lambda A, B: float(torch.cat([A * B, A - B])[0].sum() * torch.cat([A * B, A - B])[-1].sum()),
    "first and second rows":
        lambda A, B: _rows(torch.cat([A * B, A - B]), 0, 1),
    "first row with the last row of the first block (row 3)":
        lambda A, B: _rows(torch.cat([A * B, A - B]), 0, 3),
    "first row with the first row of the second block (row 4)":
        lambda A, B: _rows(torch.cat([A * B, A - B]), 0, 4),
    "second-to-last and last rows":
        lambda A, B: _rows(torch.cat([A * B, A - B]), -2, -1),
    "first column with last column instead of rows":
        lambda A, B: float(torch.dot(torch.cat([A * B, A - B])[:, 0], torch.cat([A * B, A - B])[:, -1])),
    "blocks in the other order (diff on top)":
        lambda A, B: _rows(torch.cat([A - B, A * B]), 0, -1),
    "B - A instead of A - B":
        lambda A, B: _rows(torch.cat([A * B, B - A]), 0, -1),
    "A + B instead of A - B":
        lambda A, B: _rows(torch.cat([A * B, A + B]), 0, -1),
}


@pytest.mark.parametrize("mistake", sorted(NAMED_MISTAKES))
def test_each_common_mistake_gives_a_number_other_than_50(given, mistake):
    value = NAMED_MISTAKES[mistake](*given)
    assert value != ANSWER, f"{mistake} also gives {ANSWER}: pick other tensors in given_tensors"


def _all_variants(A, B):
    """Every combination of the mistakes: product x second term x block order x concat dim x vectors x reduction.

    Yields (description, value). Pairs of vectors that are literally the reference pair
    (A*B)[0] and (A-B)[-1], reached by another route, are skipped: that is the right answer.
    """
    first, last = (A * B)[0], (A - B)[-1]
    products = {"A*B": A * B, "A@B": A @ B, "B@A": B @ A}
    seconds = {"A-B": A - B, "B-A": B - A, "A+B": A + B}
    reductions = {
        "dot": lambda x, y: float(torch.dot(x, y)),
        "sum of both": lambda x, y: float(x.sum() + y.sum()),
        "product of sums": lambda x, y: float(x.sum() * y.sum()),
    }
    for (pn, P), (sn, S), swapped, dim in itertools.product(products.items(), seconds.items(), (False, True), (0, 1)):
        combined = torch.cat([S, P] if swapped else [P, S], dim=dim)
        vectors = {f"row {i}": combined[i] for i in range(combined.shape[0])}
        vectors.update({f"column {j}": combined[:, j] for j in range(combined.shape[1])})
        for (an, x), (bn, y) in itertools.product(vectors.items(), vectors.items()):
            if x.shape != y.shape:
                continue
            is_reference_pair = x.shape == first.shape and (
                (torch.equal(x, first) and torch.equal(y, last)) or (torch.equal(x, last) and torch.equal(y, first)))
            for rn, reduce in reductions.items():
                if rn == "dot" and is_reference_pair:
                    continue
                yield f"{pn}, {sn}, {'swapped' if swapped else 'in order'}, dim={dim}, {an} . {bn}, {rn}", reduce(x, y)


def test_no_combination_of_mistakes_gives_50(given):
    variants = list(_all_variants(*given))
    assert len(variants) > 1000  # the sweep really covers the combinations
    hits = [name for name, value in variants if value == ANSWER]
    assert not hits, f"these wrong routes also give {ANSWER}: {hits[:5]}"


def test_the_sweep_does_find_50_when_the_tensors_allow_it():
    """The sweep is not vacuous: with these tensors A @ B and A * B share their first row, so it finds 50 twice."""
    A = torch.tensor([[5.0, 5.0, 0.0, 0.0], [0.0] * 4, [0.0] * 4, [6.0, 0.0, 0.0, 0.0]])
    B = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0] * 4, [0.0] * 4, [1.0, 0.0, 0.0, 0.0]])
    assert reference(A, B) == ANSWER
    assert any(value == ANSWER for _, value in _all_variants(A, B))
