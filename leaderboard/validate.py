"""Validate a submission CSV against the competition's Ids: pure, every problem at once.

The contract (Kaggle's): a UTF-8 text file, comma-separated, header line
``Id,Category``, then one line per row of ``test.csv``: the row's Id and the
predicted class, a whole number from 0 to 9. Line numbers in messages are
1-based file lines; the header is line 1.

:func:`validate` never raises on bad input: every problem it finds becomes a
:class:`Problem` in the returned :class:`Validation`. Valid files take a fast
vectorised path (a strict grammar match, then one NumPy parse); anything that
fails it goes through the line-by-line path, which is the authority on what is
wrong and where. The fast path only accepts files the slow path also accepts.

Bounded and total: the line-by-line path streams through the bytes once and
checks a cap *before* looking further at anything (file size ``max_bytes``,
``MAX_LINE`` bytes per line, ``MAX_FIELD`` characters per value, ``MAX_DIGITS``
digits per number, at most ``rows + MAX_EXTRA_LINES`` data lines, after which it
stops reading). So time and memory are linear in the file and bounded by the
caps whatever the bytes are (NUL bytes, bad UTF-8, a 5,000-digit Id, a 1 MB
line). Every message is cut to ``MAX_MESSAGE`` characters and quotes at most
``MAX_QUOTE`` characters of the file; the line number is kept apart from the text.
"""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

HEADER = ("Id", "Category")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MAX_BYTES = 10 * 1024 * 1024         # 10 MB; a correct file of 10,000 rows is about 70 KB
MAX_LINE = 256                        # bytes in one line ("12345,3" is 7)
MAX_FIELD = 40                        # characters in one value
MAX_DIGITS = 18                       # digits in an Id (int64 holds 18)
MAX_EXTRA_LINES = 1000                # data lines beyond the expected count before reading stops
MAX_MESSAGE = 300                     # characters in one problem's message
MAX_QUOTE = 40                        # characters of the file quoted in a message
MAX_LISTED = 10                       # lines listed per kind of problem, then "and N more"
HOW_TO_WRITE = ("write it with pandas: pd.DataFrame({'Id': ids, 'Category': predicted}).to_csv("
                "'submission.csv', index=False)")

_UTF8_BOM = b"\xef\xbb\xbf"
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NAN = {"nan", "na", "n/a", "null", "none", "-nan", "inf", "-inf"}
# Fast path alphabet: after the header only digits, commas and newlines.
_CANONICAL_BYTES = np.zeros(256, dtype=bool)
_CANONICAL_BYTES[list(b"0123456789,\n")] = True
_MAGIC = (
    (b"PK\x03\x04", "a zip archive or an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x80", "a Python pickle"),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file. ``line`` is the 1-based file line, when there is one."""
    kind: str
    message: str
    line: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", cut(self.message, MAX_MESSAGE))

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class Contract:
    """What a valid file must contain: exactly these Ids, classes 0..n_classes-1.

    ``ids`` is in the solution's row order; predictions come back in that order.
    """
    ids: np.ndarray
    n_classes: int = 10
    max_bytes: int = MAX_BYTES
    _sorted: np.ndarray = field(init=False, repr=False, compare=False)
    _order: np.ndarray = field(init=False, repr=False, compare=False)
    _dense: bool = field(init=False, repr=False, compare=False)
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=np.int64)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError("Contract.ids must be a non-empty 1-D array of Ids")
        order = np.argsort(ids, kind="stable")
        srt = ids[order]
        if np.any(srt[1:] == srt[:-1]):
            raise ValueError("Contract.ids has duplicate Ids; the solution file is broken")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "_sorted", srt)
        object.__setattr__(self, "_order", order)
        # The usual case, Ids 0..N-1 in order, needs no search at all.
        object.__setattr__(self, "_dense", bool(np.array_equal(ids, np.arange(ids.size))))
        # One Id at a time (the line-by-line path) is a dict lookup, not an array search.
        object.__setattr__(self, "_index", {int(i): p for p, i in enumerate(ids.tolist())})

    @property
    def rows(self) -> int:
        return int(self.ids.size)

    def position(self, id_value: int) -> int:
        """Row position of one Id in the solution order; -1 for an unknown Id."""
        return self._index.get(id_value, -1)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Row position of each Id in the solution order; -1 for an unknown Id."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._dense:
            return np.where((ids >= 0) & (ids < self.rows), ids, -1)
        at = np.clip(np.searchsorted(self._sorted, ids), 0, self.rows - 1)
        found = self._sorted[at] == ids
        return np.where(found, self._order[at], -1)


@dataclass(frozen=True)
class Validation:
    """The verdict on one file. ``predictions`` (int8, solution order) only when valid."""
    problems: tuple[Problem, ...]
    rows: int = 0
    predictions: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def valid_predictions(self) -> np.ndarray:
        """The predictions of a valid file (a valid verdict always carries them)."""
        if self.predictions is None:
            raise ValueError("this verdict has no predictions: the file is not valid")
        return self.predictions

    def message(self, name: str = "the file") -> str:
        """Plain words for a person: every problem, then what to do."""
        if self.ok:
            return f"{name} is valid: {self.rows} rows."
        lines = [f"{name} is not a valid submission "
                 f"({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"- {p}" for p in self.problems]
        lines.append("What to do: fix these, check with `leaderboard validate submission.csv`, "
                     f"then submit again. A valid file has the header Id,Category and one line per "
                     f"row of test.csv; {HOW_TO_WRITE}.")
        return "\n".join(lines)


def cut(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    tail = f"... ({len(text) - limit} more characters)"
    return text[:max(limit - len(tail), 0)] + tail


def quote(text: str) -> str:
    """A piece of the file as it may appear in a message: repr, at most MAX_QUOTE characters."""
    if len(text) <= MAX_QUOTE:
        return repr(text)
    return repr(text[:MAX_QUOTE]) + f" (cut; {len(text)} characters)"


def validate(data: bytes, contract: Contract) -> Validation:
    """Check ``data`` (the file's bytes) against ``contract``. Never raises on bad data."""
    if len(data) > contract.max_bytes:
        return Validation((too_large(len(data), contract.max_bytes),))
    fast = None if len(data) > 40 * contract.rows + 16 else _fast_path(data, contract)
    if fast is not None:
        return fast
    return _slow_path(data, contract)


def too_large(size: int, limit: int = MAX_BYTES) -> Problem:
    return Problem("too_large",
                   f"the file is {size:,} bytes; the limit is {limit / 1024 / 1024:g} MB "
                   f"(a correct submission of 10,000 rows is about 70 KB). Write only Id and Category.")


def _fast_path(data: bytes, contract: Contract) -> Validation | None:
    """The whole check, vectorised, for a file in the exact canonical form; else None."""
    if data.startswith(b"Id,Category\n"):
        body = data[12:]
    elif data.startswith(b"Id,Category\r\n"):
        body = data[13:]
    else:
        return None
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")   # a lone \r left over fails the grammar
    if not body.endswith(b"\n"):
        body += b"\n"
    if not _canonical_rows(body):
        return None
    values = np.fromstring(body.replace(b"\n", b","), dtype=np.int64, sep=",")
    if values.size != 2 * contract.rows:
        return None
    ids, labels = values[0::2], values[1::2]
    if labels.max() >= contract.n_classes:
        return None
    pos = contract.positions(ids)
    if pos.min() < 0 or not np.all(np.bincount(pos, minlength=contract.rows) == 1):
        return None
    predictions = np.empty(contract.rows, dtype=np.int8)
    predictions[pos] = labels
    return Validation((), rows=contract.rows, predictions=predictions)


def _canonical_rows(body: bytes) -> bool:
    return _canonical_seps(body) is not None


def _canonical_seps(body: bytes) -> np.ndarray | None:
    """The separator positions when ``body`` is exactly ``(D{1,18},D{1,18}\\n)+`` (D a digit), else None.

    Equivalent to that regular expression, at a third of its cost: only the three
    allowed bytes; separators alternate comma, newline; no empty field; no number
    longer than 18 digits (int64 holds it).
    """
    chars = np.frombuffer(body, dtype=np.uint8)
    if chars.size < 4 or not _CANONICAL_BYTES[chars].all():
        return None
    seps = np.flatnonzero((chars == 44) | (chars == 10))
    kinds = chars[seps]
    if seps.size == 0 or seps.size % 2 or not (kinds[0::2] == 44).all() or not (kinds[1::2] == 10).all():
        return None
    widths = np.diff(seps)            # each field's length + 1
    ok = seps[-1] == chars.size - 1 and 1 <= seps[0] <= 18 and (widths.size == 0 or
                                                                (widths.min() >= 2 and widths.max() <= 19))
    return seps if ok else None


class _Collector:
    """Problems in reading order: file-level first, then per-line problems grouped by kind
    (at most MAX_LISTED lines each, so a 10,000-line mistake reads as one paragraph), then
    whole-file counts. Keeps at most MAX_LISTED problems per kind, whatever the file."""

    _HEAD = ("bom", "delimiter", "header")

    def __init__(self) -> None:
        self.head: list[Problem] = []
        self.by_kind: dict[str, list[Problem]] = {}
        self.more: dict[str, int] = defaultdict(int)
        self.tail: list[Problem] = []

    def add(self, problem: Problem) -> None:
        if problem.kind in self._HEAD:
            self.head.append(problem)
        elif problem.line is not None:
            items = self.by_kind.setdefault(problem.kind, [])
            if len(items) < MAX_LISTED:
                items.append(problem)
            else:
                self.more[problem.kind] += 1
        else:
            self.tail.append(problem)

    def __bool__(self) -> bool:
        return bool(self.head or self.by_kind or self.tail)

    def problems(self) -> tuple[Problem, ...]:
        out = list(self.head)
        for kind, items in self.by_kind.items():      # dicts keep first-seen order
            out += items
            more = self.more.get(kind, 0)
            if more:
                out.append(Problem(kind, f"... and {more} more line{'s' if more != 1 else ''} "
                                         f"with the same kind of problem ({kind.replace('_', ' ')})."))
        return tuple(out + self.tail)


def _sniff_binary(data: bytes) -> Problem | None:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return Problem("not_text", f"this is not a text file: it looks like {what}. "
                                       f"Save the predictions as a plain CSV text file.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem("not_text", "the file is saved as UTF-16 text; save it as UTF-8 "
                                   "(pandas' to_csv does this by default).")
    head = data[:8192]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) * 0.05:
        return Problem("not_text", "this is not a text file (it contains binary bytes). "
                                   "Save the predictions as a plain CSV text file.")
    return None


def _is_int(text: str) -> bool:
    return _INT.fullmatch(text) is not None


def _label_problem(raw: str, n_classes: int) -> str | None:
    """Why a label cell is not a class index, or None when it is one."""
    value = raw.strip()
    top = n_classes - 1
    if value == "":
        return f"the Category is empty; every row needs a predicted class from 0 to {top}."
    if value.lower() in _NAN:
        return f"the Category is {value!r}, not a class; predict a class from 0 to {top} for every row."
    if _is_int(value):
        number = int(value)
        if 0 <= number <= top:
            return None
        return f"the Category {value} is outside the classes 0 to {top}."
    if _FLOAT.fullmatch(value):
        real = float(value)
        if real.is_integer():
            return (f"the Category {value!r} is not a whole number: write {int(real)}, not {value} "
                    f"(convert the predictions with .astype(int)).")
        return (f"the Category {value!r} is not a whole number; a class is a whole number from 0 to {top} "
                f"(take the argmax of the model's outputs).")
    names = {n.lower(): i for i, n in enumerate(CLASS_NAMES)} if n_classes == len(CLASS_NAMES) else {}
    if value.lower() in names:
        return (f"the Category {value!r} is a class name; write its number instead "
                f"({value} is {names[value.lower()]}).")
    return f"the Category {value!r} is not a number; write the class index from 0 to {top}."


def _delimiter_hint(line: str) -> str:
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
        if sep in line:
            return f" It uses {name} between values; separate them with a comma."
    return ""


def _lines(data: bytes):
    """(line number, bytes without the line ending) of each line, lazily: no copy of the file."""
    start, size, number = 0, len(data), 0
    while start < size:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        number += 1
        raw = data[start:end]
        yield number, raw[:-1] if raw.endswith(b"\r") else raw
        start = end + 1


def _decode(raw: bytes, line_no: int) -> str | Problem:
    """The line as text, or the Problem saying why it cannot be read (too long, not UTF-8, a NUL byte)."""
    if len(raw) > MAX_LINE:
        return Problem("long_line", f"the line is {len(raw)} bytes long; a line holds one Id and one "
                                          f"class, like 17,3 (at most {MAX_LINE} bytes). Starts with "
                                          f"{quote(raw[:MAX_QUOTE].decode('utf-8', 'replace'))}.", line_no)
    if b"\x00" in raw:
        return Problem("not_text", "the line contains a NUL byte (binary data); save the predictions "
                                         "as a plain CSV text file.", line_no)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem("encoding", f"the line is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                                         f"{exc.start + 1}); save the file as UTF-8 (pandas' to_csv does "
                                         f"this by default).", line_no)


def _cells(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], skipinitialspace=True), [])
    except csv.Error:
        return None


def _slow_path(data: bytes, contract: Contract) -> Validation:
    found = _Collector()
    if not data.strip(b" \t\r\n" + _UTF8_BOM):
        what = "empty (0 bytes)" if not data else "empty (only blank lines)"
        return Validation((Problem("empty", f"the file is {what}. It must start with the header "
                                            f"Id,Category and have one line per row of test.csv."),))
    binary = _sniff_binary(data)
    if binary:
        return Validation((binary,))
    if data.startswith(_UTF8_BOM):
        found.add(Problem("bom", "the file starts with a byte-order mark (BOM, as Excel's \"CSV UTF-8\" "
                                 "writes); save it without one, e.g. with pandas' to_csv and no "
                                 "encoding='utf-8-sig'."))
        data = data[len(_UTF8_BOM):]
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")      # old Mac line endings
    lines = _lines(data)
    header_no, header_bytes = next(lines, (1, b""))
    header_raw = _decode(header_bytes, header_no)
    if isinstance(header_raw, Problem):
        found.add(Problem("header", f"the first line cannot be read: {header_raw.message} The header must be "
                                    f"exactly Id,Category.", 1))
        return Validation(found.problems())
    header = [c.strip() for c in (_cells(header_raw) or [])] if header_raw.strip() else []
    shown = quote(header_raw.strip())
    id_col, cat_col, width, first_is_data = 0, 1, 2, False
    if len(header) <= 1 and _delimiter_hint(header_raw):
        found.add(Problem("delimiter", f"the header is {shown}.{_delimiter_hint(header_raw)} "
                                       f"The header must be exactly Id,Category.", 1))
        return Validation(found.problems())
    if header and all(_is_int(c) for c in header if c != "") and _is_int(header[0]):
        found.add(Problem("header", f"the first line is {shown}, which is data; the first "
                                    f"line must be the header Id,Category. Add it as the first line.", 1))
        first_is_data = True              # checked as data: Id,Category, two values
    elif tuple(header) != HEADER:
        lowered = [c.lower() for c in header]
        if "id" in lowered and "category" in lowered:
            id_col, cat_col = lowered.index("id"), lowered.index("category")
            width = len(header)
        elif len(header) != 2:
            found.add(Problem("header", f"the header is {shown}; it must be exactly Id,Category "
                                        f"(two columns). Nothing else in the file can be checked until it is.", 1))
            return Validation(found.problems())
        unnamed = [c for c in header if c == "" or c.lower().startswith("unnamed")]
        hint = (" The extra unnamed column is the DataFrame index: save with index=False."
                if unnamed else "")
        found.add(Problem("header", f"the header is {shown}; it must be exactly Id,Category "
                                    f"(these names, this order, nothing else).{hint}", 1))

    seen: dict[int, int] = {}            # Id -> line of its first appearance
    present = np.zeros(contract.rows, dtype=bool)
    positions: list[int] = []
    labels: list[int] = []
    data_rows = 0
    stopped_at = 0
    rows = chain([(header_no, header_bytes)], lines) if first_is_data else lines
    for line_no, raw_bytes in rows:
        if not raw_bytes.strip():
            continue                      # blank lines are harmless; pandas skips them too
        data_rows += 1
        if data_rows > contract.rows + MAX_EXTRA_LINES:
            stopped_at = line_no
            data_rows -= 1
            break
        raw = _decode(raw_bytes, line_no)
        if isinstance(raw, Problem):
            found.add(raw)
            continue
        cells = _cells(raw)
        if cells is None or len(cells) != width:
            count = "an unreadable number of" if cells is None else str(len(cells))
            found.add(Problem("fields", f"expected {width} comma-separated values (Id,Category), found "
                                        f"{count}: {quote(raw.strip())}.{_delimiter_hint(raw)}", line_no))
            continue
        id_text, label_text = cells[id_col].strip(), cells[cat_col].strip()
        long_value = next((c for c in (id_text, label_text) if len(c) > MAX_FIELD), None)
        if long_value is not None:
            found.add(Problem("long_field", f"a value is {len(long_value)} characters long: "
                                            f"{quote(long_value)}; an Id and a class are short whole numbers.",
                              line_no))
            continue
        id_value: int | None = None
        if id_text == "":
            found.add(Problem("id", "the Id is empty; copy the Id of each row from test.csv.", line_no))
        elif not _is_int(id_text):
            found.add(Problem("id", f"the Id {quote(id_text)} is not a whole number; copy the Ids from test.csv.",
                              line_no))
        elif len(id_text.lstrip("-")) > MAX_DIGITS:
            found.add(Problem("unknown_id", f"the Id has {len(id_text.lstrip('-'))} digits, more than any Id in "
                                            f"test.csv; use only the Ids from test.csv.", line_no))
        else:
            id_value = int(id_text)
        label_issue = _label_problem(label_text, contract.n_classes)
        if label_issue:
            found.add(Problem("category", label_issue, line_no))
        if id_value is None:
            continue
        if id_value in seen:
            found.add(Problem("duplicate_id", f"the Id {id_value} appears again (first on line "
                                              f"{seen[id_value]}); keep one line per Id.", line_no))
            continue
        seen[id_value] = line_no
        pos = contract.position(id_value)
        if pos < 0:
            found.add(Problem("unknown_id", f"the Id {id_value} is not in test.csv; use only the Ids "
                                            f"from test.csv.", line_no))
            continue
        present[pos] = True
        if not label_issue:
            positions.append(pos)
            labels.append(int(label_text))

    if stopped_at:
        found.add(Problem("row_count", f"the file has more than {data_rows} data rows; it must have "
                                       f"{contract.rows}, one per row of test.csv. Reading stopped at line "
                                       f"{stopped_at}."))
    elif data_rows != contract.rows:
        found.add(Problem("row_count", f"the file has {data_rows} data rows; it must have {contract.rows}, "
                                       f"one per row of test.csv."))
    missing = contract.ids[~present]
    if missing.size and not stopped_at:
        first = ", ".join(str(i) for i in missing[:5])
        more = ", ..." if missing.size > 5 else ""
        found.add(Problem("missing_ids", f"{missing.size} Id{'s are' if missing.size != 1 else ' is'} missing "
                                         f"(first: {first}{more}); predict every row of test.csv."))
    if found:
        return Validation(found.problems(), rows=data_rows)
    predictions = np.empty(contract.rows, dtype=np.int8)
    predictions[np.array(positions, dtype=np.int64)] = np.array(labels, dtype=np.int8)
    return Validation((), rows=data_rows, predictions=predictions)
