"""A small real course for the portal tests: one graded assignment that is also the competition.

Built with nbgrader (real gradebook), a competition prepared from synthetic 28x28 images, a roster
of three students and tokens issued through the portal's own code.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import FIXTURES, TEST_POLICY, build_course, released, with_answers

ASSIGNMENT = "ps2"
STUDENTS = ["s1", "s2", "s3"]
GOOD = {
    "double_answer": "def double(x):\n    return 2 * x",
    "value_answer": "value = 50",
    "count_answer": "def count_parameters(model):\n"
                    "    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
}
FULL_SCORE = 8.0


def policy_text(due: dt.datetime, daily_limit: int = 2) -> str:
    return TEST_POLICY + f"""
[assignments.{ASSIGNMENT}]
due = "{due.isoformat()}"

[leaderboard]
url = "sqlite:///leaderboard.db"
assignment = "{ASSIGNMENT}"
public_fraction = 0.3
split_seed = 99
daily_limit = {daily_limit}
pseudonyms = true

[weights]
{ASSIGNMENT} = 70
leaderboard = 30
"""


@dataclass
class PortalCourse:
    root: Path
    tokens: dict[str, str]          # owner -> token (students and "__instructor__")
    truth: np.ndarray
    public: np.ndarray

    def notebook(self, answers: dict | None = None) -> bytes:
        nb = released(self.root, ASSIGNMENT)
        return json.dumps(with_answers(nb, GOOD if answers is None else answers)).encode()

    def csv(self, n_right_private: int | None = None, seed: int = 0) -> bytes:
        rng = np.random.default_rng(seed)
        pred = (self.truth + 1) % 10
        if n_right_private is None:
            pred = self.truth.copy()
        else:
            priv = np.flatnonzero(~self.public)
            pub = np.flatnonzero(self.public)
            right = np.concatenate([rng.choice(priv, n_right_private, replace=False),
                                    rng.choice(pub, int(round(n_right_private / priv.size * pub.size)),
                                               replace=False)])
            pred[right] = self.truth[right]
        return ("Id,Category\n" + "".join(f"{i},{int(p)}\n" for i, p in enumerate(pred))).encode()


def make_portal_course(root: Path, due: dt.datetime | None = None, daily_limit: int = 2) -> PortalCourse:
    from autograder.gradebook import open_gradebook
    from coursebase.layout import Course
    from leaderboard.prepare import prepare_competition
    from portal.app import portal_url
    from portal.auth import issue_tokens
    from portal.store import ADMIN, open_store

    due = due or dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)
    build_course(root, {ASSIGNMENT: FIXTURES / "engine" / "ps2.ipynb"}, policy=policy_text(due, daily_limit))
    with open_gradebook(Course.at(root).db_url) as gb:
        for sid in STUDENTS:
            gb.update_or_create_student(sid, first_name=sid.upper(), last_name="Student")
    rng = np.random.default_rng(5)
    images = lambda n: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)  # noqa: E731
    competition = prepare_competition(root / "competition", images(20), rng.integers(0, 10, 20),
                                      images(100), rng.integers(0, 10, 100), public_fraction=0.3, seed=99)
    solution = pd.read_csv(competition.paths.solution)
    db = open_store(portal_url(Course.at(root)))
    tokens = issue_tokens(db, STUDENTS + [ADMIN])
    return PortalCourse(root, tokens, solution["Category"].to_numpy(),
                        (solution["Usage"] == "Public").to_numpy())
