"""Integrity flags for review: ``copy`` and ``implausible`` (pure).

* ``copy``: two different students' scored submissions agree on at least
  ``copy_agreement`` of the rows (identical predictions are the extreme case).
  Both are flagged: the numbers cannot tell who copied whom.
* ``implausible``: private accuracy above ``plausibility_max``. Fashion-MNIST's
  test labels are public, so a near-perfect score is more likely a leaked answer
  key than a model; a person decides.

Flags never change points; they put a submission in front of a human.

The pairwise check is all pairs of submissions. It would be S^2 x rows
comparisons, so it runs in two steps: a matrix product over a fixed random
sample of rows finds candidate pairs (one-hot predictions, X @ X.T counts
agreements), then every candidate is compared on all rows. The candidate bar
sits six standard deviations of the sampling error below the threshold, so a
pair at or above it is missed with negligible probability; the final decision
is always exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coursebase.vocabulary import Flag
from leaderboard.records import CsvStatus, Submission

COPY = Flag.COPY
IMPLAUSIBLE = Flag.IMPLAUSIBLE
SAMPLE_ROWS = 1024
BLOCK = 1024           # submissions per block of the matrix product, to bound memory
ONEHOT_CELLS = 2_000_000   # submissions x sampled rows kept one-hot at once (x10 classes x 4 bytes)
NOTES_PER_SUBMISSION = 3


@dataclass(frozen=True)
class CopyPair:
    first: int            # index into the list given to find_copies
    second: int
    agreement: float


def find_copies(predictions: np.ndarray, owners: list[str], threshold: float,
                n_classes: int = 10, seed: int = 0) -> list[CopyPair]:
    """Pairs of rows of ``predictions`` (S, rows) from different owners agreeing on >= ``threshold``."""
    predictions = np.asarray(predictions)
    count, rows = predictions.shape if predictions.ndim == 2 else (0, 0)
    if count < 2:
        return []
    if len(owners) != count:
        raise ValueError(f"owners has {len(owners)} entries for {count} prediction rows")
    owner_ids = np.unique(np.asarray(owners), return_inverse=True)[1]
    # Fewer sampled rows for very many submissions keeps the one-hot matrix under ~80 MB;
    # the candidate bar widens with it, and the exact check stays the judge.
    m = min(rows, SAMPLE_ROWS, max(256, ONEHOT_CELLS // count))
    sample = np.sort(np.random.default_rng(seed).choice(rows, size=m, replace=False)) if m < rows \
        else np.arange(rows)
    onehot = np.zeros((count, m * n_classes), dtype=np.float32)
    cols = np.arange(m) * n_classes
    np.put_along_axis(onehot, cols[None, :] + predictions[:, sample].astype(np.int64), 1.0, axis=1)
    spread = math.sqrt(max(1 - threshold, 0.005) * max(threshold, 0.5) / m)
    bar = (threshold - 6 * spread - 1 / m) * m          # agreeing sampled rows needed to be a candidate
    pairs: list[CopyPair] = []
    for start in range(0, count, BLOCK):
        block = onehot[start:start + BLOCK]
        agree = block @ onehot[start:].T                # only pairs (i, j) with j >= i
        hits = np.argwhere(agree >= bar)
        for i_local, j_local in hits:
            i, j = start + int(i_local), start + int(j_local)
            if j <= i or owner_ids[i] == owner_ids[j]:
                continue
            exact = float(np.count_nonzero(predictions[i] == predictions[j])) / rows
            if exact >= threshold:
                pairs.append(CopyPair(i, j, exact))
    return pairs


def integrity_flags(submissions: list[Submission], copy_agreement: float, plausibility_max: float,
                    n_classes: int = 10) -> dict[int, tuple[tuple[Flag, ...], str]]:
    """Flags and a human-readable detail per submission id, for every scored submission flagged.

    Submissions without predictions (or not scored) are ignored.
    """
    # (id, predictions, submission): the id and predictions narrowed to present once, here
    scored = [(s.id, s.predictions, s) for s in submissions
              if s.status == CsvStatus.SCORED and s.predictions is not None and s.id is not None]
    notes: dict[int, list[str]] = {}
    names: dict[int, set[Flag]] = {}
    for sub_id, _, sub in scored:
        if sub.private is not None and sub.private.value > plausibility_max:
            names.setdefault(sub_id, set()).add(IMPLAUSIBLE)
            notes.setdefault(sub_id, []).append(
                f"implausible: private accuracy {sub.private.value:.4f} is above the plausibility bound "
                f"{plausibility_max:.4f}; check for a leaked answer key")
    partners: dict[int, list[tuple[float, Submission]]] = {}
    if len(scored) >= 2:
        matrix = np.stack([predictions for _, predictions, _ in scored])
        for pair in find_copies(matrix, [s.student_id for _, _, s in scored], copy_agreement, n_classes):
            (a_id, _, a), (b_id, _, b) = scored[pair.first], scored[pair.second]
            partners.setdefault(a_id, []).append((pair.agreement, b))
            partners.setdefault(b_id, []).append((pair.agreement, a))
    for sub_id, found in partners.items():
        names.setdefault(sub_id, set()).add(COPY)
        found.sort(key=lambda item: (-item[0], item[1].id))
        shown = ", ".join(f"{other.student_id}'s submission #{other.id} ({agree:.2%})"
                          for agree, other in found[:NOTES_PER_SUBMISSION])
        more = f" and {len(found) - NOTES_PER_SUBMISSION} more" if len(found) > NOTES_PER_SUBMISSION else ""
        notes.setdefault(sub_id, []).append(f"copy: predictions agree with {shown}{more}")
    return {sid: (tuple(sorted(names[sid])), "; ".join(notes[sid])) for sid in names}
