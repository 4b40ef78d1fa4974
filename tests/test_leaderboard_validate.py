"""leaderboard/validate.py: every error class, with line numbers, all at once; the fast path is exact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomllib

from leaderboard.api import validate_file
from leaderboard.cli import main
from leaderboard.validate import MAX_BYTES, MAX_LISTED, Contract, _slow_path, validate

CORPUS = Path(__file__).parent / "leaderboard_corpus"
CASES = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
REFERENCE = np.array([(3 * i) % 10 for i in range(10)], dtype=np.int8)
CONTRACT = Contract(np.arange(10))


def test_corpus_is_big_enough():
    malformed = [name for name, case in CASES.items() if case["kinds"]]
    assert len(malformed) >= 15
    files = {p.name for p in (CORPUS / "cases").iterdir()}
    assert {case["file"] for case in CASES.values()} == files, "every corpus file has an expectation"


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_case(name):
    case = CASES[name]
    path = CORPUS / "cases" / case["file"]
    before = path.read_bytes()
    verdict = validate(before, CONTRACT)
    assert sorted({p.kind for p in verdict.problems}) == sorted(case["kinds"]), verdict.message()
    message = verdict.message(case["file"])
    for fragment in case.get("fragments", []):
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    if case["kinds"]:
        assert not verdict.ok and verdict.predictions is None
        assert message.startswith(f"{case['file']} is not a valid submission")
        assert "What to do:" in message and "index=False" in message
    else:
        assert verdict.ok, message
        np.testing.assert_array_equal(verdict.predictions, REFERENCE)
    assert path.read_bytes() == before, "validation never modifies the file"


def test_every_problem_is_reported_at_once_with_its_line():
    verdict = validate((CORPUS / "cases" / "several_problems.csv").read_bytes(), CONTRACT)
    lines = [p.line for p in verdict.problems if p.line]
    assert lines == [3, 5, 7]


def test_a_mistake_on_every_line_is_summarised_not_listed_ten_thousand_times():
    contract = Contract(np.arange(10_000))
    data = ("Id,Category\n" + "".join(f"{i},{i % 10}.0\n" for i in range(10_000))).encode()
    verdict = validate(data, contract)
    assert len(verdict.problems) == MAX_LISTED + 1
    assert verdict.problems[-1].message.startswith("... and 9990 more lines")
    assert verdict.problems[0].line == 2


def test_ids_need_not_be_0_to_n():
    contract = Contract(np.array([30, 10, 20]))
    verdict = validate(b"Id,Category\n20,2\n30,3\n10,1\n", contract)
    assert verdict.ok
    np.testing.assert_array_equal(verdict.predictions, [3, 1, 2])      # solution order: 30, 10, 20
    verdict = validate(b"Id,Category\n20,2\n31,3\n10,1\n", contract)
    assert {p.kind for p in verdict.problems} == {"unknown_id", "missing_ids"}
    assert "1 Id is missing (first: 30)" in verdict.message()


def _canonical(n: int, seed: int) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids, labels = rng.permutation(n), rng.integers(0, 10, n)
    data = ("Id,Category\n" + "".join(f"{i},{c}\n" for i, c in zip(ids, labels))).encode()
    expected = np.empty(n, dtype=np.int8)
    expected[ids] = labels
    return data, expected


def test_fast_path_gives_the_same_predictions_as_the_line_by_line_path():
    data, expected = _canonical(500, 1)
    fast, slow = validate(data, Contract(np.arange(500))), _slow_path(data, Contract(np.arange(500)))
    assert fast.ok and slow.ok
    np.testing.assert_array_equal(fast.predictions, expected)
    np.testing.assert_array_equal(slow.predictions, expected)


def test_fast_path_never_accepts_what_the_line_by_line_path_rejects():
    """Random one-byte edits of a valid file: both paths agree on every verdict."""
    data, _ = _canonical(40, 2)
    contract = Contract(np.arange(40))
    rng = np.random.default_rng(3)
    alphabet = b"0123456789,;\n\r -.aN\t\"\x00"
    disagreements, rejected = [], 0
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.integers(1, 3)):
            at = int(rng.integers(0, len(mutated)))
            action = rng.integers(0, 3)
            if action == 0:
                mutated[at] = alphabet[rng.integers(0, len(alphabet))]
            elif action == 1:
                del mutated[at]
            else:
                mutated.insert(at, alphabet[rng.integers(0, len(alphabet))])
        full, slow = validate(bytes(mutated), contract), _slow_path(bytes(mutated), contract)
        rejected += not slow.ok
        if full.ok != slow.ok or (full.ok and not np.array_equal(full.predictions, slow.predictions)):
            disagreements.append(bytes(mutated))
    assert not disagreements
    assert rejected > 100, "the mutations must actually produce invalid files"


def test_over_10_mb_file_is_refused_without_being_read(tmp_path):
    competition = tmp_path / "data"
    competition.mkdir()
    (competition / "sample_submission.csv").write_text("Id,Category\n0,0\n1,0\n")
    huge = tmp_path / "submission.csv"
    with huge.open("wb") as fh:          # sparse: 10 MB + 1 byte of nothing, instantly
        fh.truncate(MAX_BYTES + 1)
    verdict = validate_file(huge, competition)
    assert [p.kind for p in verdict.problems] == ["too_large"]
    assert "the limit is 10 MB" in verdict.message()
    assert huge.stat().st_size == MAX_BYTES + 1
    # The pure function applies the same limit to bytes it is given.
    assert [p.kind for p in validate(b"x" * 11, Contract(np.arange(2), max_bytes=10)).problems] == ["too_large"]


def test_validate_command_for_students(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "sample_submission.csv").write_text("Id,Category\n" + "".join(f"{i},0\n" for i in range(10)))
    good = tmp_path / "submission.csv"
    good.write_bytes((CORPUS / "cases" / "valid_canonical.csv").read_bytes())
    # A student runs it from the notebook's folder: data/ beside the file is found by itself.
    assert main(["validate", str(good), "--course", str(tmp_path)]) == 0
    assert "OK: submission.csv is valid: 10 rows" in capsys.readouterr().out
    bad = tmp_path / "mine.csv"
    bad.write_bytes((CORPUS / "cases" / "several_problems.csv").read_bytes())
    assert main(["validate", str(bad), "--competition", str(data)]) == 1
    out = capsys.readouterr().out
    assert "line 5: the Id 2 appears again (first on line 4)" in out
    assert "What to do:" in out
    assert main(["validate", str(tmp_path / "nope.csv"), "--competition", str(data)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_contract_rejects_a_broken_answer_key():
    with pytest.raises(ValueError, match="duplicate Ids"):
        Contract(np.array([1, 1, 2]))
    with pytest.raises(ValueError, match="non-empty"):
        Contract(np.array([], dtype=int))


def test_canonical_file_takes_the_vectorised_path():
    data, expected = _canonical(10_000, 4)
    from leaderboard.validate import _fast_path
    fast = _fast_path(data, Contract(np.arange(10_000)))
    assert fast is not None and fast.ok
    np.testing.assert_array_equal(fast.predictions, expected)


def test_vectorised_row_check_equals_its_regular_expression():
    """_canonical_rows is specified by a regular expression; they agree on random inputs."""
    import re

    from leaderboard.validate import _canonical_rows

    spec = re.compile(rb"(?:[0-9]{1,18},[0-9]{1,18}\n)+")
    rng = np.random.default_rng(5)
    numbers = [b"0", b"7", b"12", b"9" * 18, b"1" * 19, b"", b"a", b" 3", b"-1"]
    weights = np.array([8, 8, 8, 2, 1, 1, 1, 1, 1], dtype=float)
    checked = matched = 0
    for _ in range(3000):
        body = b""
        for _ in range(rng.integers(1, 5)):          # rows, mostly well formed
            first, second = rng.choice(len(numbers), 2, p=weights / weights.sum())
            comma = b"," if rng.random() < 0.9 else rng.choice([b"", b";", b",,", b"\n"])
            newline = b"\n" if rng.random() < 0.9 else rng.choice([b"", b",", b"\n\n", b"\r\n"])
            body += numbers[first] + comma + numbers[second] + newline
        expected = spec.fullmatch(body) is not None
        assert _canonical_rows(body) == expected, body
        checked += 1
        matched += expected
    for body in (b"1,2\n", b"1,2\n3,4\n", b"12345,9\n", b"1,2", b"1,,2\n", b",1\n", b"1,2\n\n", b"1\n2,3\n"):
        assert _canonical_rows(body) == (spec.fullmatch(body) is not None), body
    assert matched > 20 and checked == 3000
