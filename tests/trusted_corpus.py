"""Hostile submissions against the *trusted side* of grading (issue 10), built from a released notebook.

tests/attack_corpus.py attacks the sandbox and the judge's verdict. This corpus
attacks what runs around them, as root, on the host: the judge reading a file a
student function wrote, the executor decoding replies, the tests' trust in the
instructor's given data, the audit hook, and intake (``collect``) trusting what
is inside a student's upload. Each :class:`Hostile` is one student's entry in an
LMS-style zip, with the exact outcome the contract of issue 10 promises:

* ``statuses``: the statuses it may end with (one unless two ends are equally
  correct);
* ``solves``: the graded cells it answers honestly; every other cell scores 0;
* ``flags``: flags it must carry, each with words of which one must appear in
  the flag's text (empty: the flag must be present, any wording);
* ``late_penalty``: the late penalty ``export`` must show (None: on time);
* ``skipped``: names of its upload that ``collect`` must report and not store.

The notebook is tests/fixtures/trusted_course/tr.ipynb: a locked "given" cell
(``A``, ``B``), ``prod = A * B`` (2 points), ``answer = 50`` (1) and
``write_rows(rows, path)``, a "write this file" question whose test makes a
folder with ``tempfile.mkdtemp()``, has the student's function write a file
there and reads it back (3). The visible part of that test quotes the file's
first 1500 characters in its assertion message, as a helpful test would: the
path a host file (or the kit's hidden tests) would take into the student's
feedback.

Wrong answers pass every visible test and fail the hidden ones, so any point a
hostile submission gets beyond ``solves`` was forged. Every hostile notebook
starts with an ungraded cell naming its kernel ``trk<tag>`` so that survivors
can be found in ``/proc``.

Nothing here is a test; tests/test_attacks_trusted_side.py runs all of it in
one ``autograder collect`` + one ``autograder grade``.
"""
from __future__ import annotations

import datetime as dt
import secrets
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _notebooks import code_cell, with_prelude
from conftest import with_answers

ASSIGNMENT = "tr"
NOTEBOOK = "tr.ipynb"
SOURCE = Path(__file__).parent / "fixtures" / "trusted_course" / NOTEBOOK
POINTS = {"test_prod": 2.0, "test_answer": 1.0, "test_write": 3.0}
MAX_SCORE = sum(POINTS.values())

DUE = dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.timezone.utc)
ON_TIME = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)      # zip entry time of on-time work
TWELVE_DAYS_LATE = DUE + dt.timedelta(days=12)
PER_DAY, MAX_PENALTY = 0.1, 0.5                                       # course.toml [late_policy] of the test
DISK_MB = 32                                                          # course.toml [limits] disk_mb of the test
FILL_CAP_MB = 4 * DISK_MB   # the most a disk-fill attack tries per mount: bounded even where a mount is not
BOMB_BYTES = 1 << 30        # the zip bomb's one entry, unpacked: 1 GiB of zeros (about 1 MB zipped)

# Text that exists only in the source notebook's hidden tests and solutions (and so in the kit).
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "torch.allclose(prod, A * B)",
                  "одна строка из одного числа", "write_rows возвращает path")
SECRET_ENV = "AUTOGRADER_ATTACK_SECRET"   # planted in the grader's environment by the test

HONEST_FULL = {
    "q_prod": "prod = A * B",
    "q_answer": "answer = 50",
    "q_write": "def write_rows(rows, path):\n"
               "    with open(path, 'w', encoding='utf-8') as fh:\n"
               "        for row in rows:\n"
               "            fh.write(','.join(str(v) for v in row) + '\\n')\n"
               "    return str(path)",
}
# right product and answer, a write_rows that writes only the first row: 2 + 1 + 0 of 6
HONEST_PARTIAL = {
    "q_prod": "prod = A * B",
    "q_answer": "answer = 50",
    "q_write": "def write_rows(rows, path):\n"
               "    with open(path, 'w', encoding='utf-8') as fh:\n"
               "        fh.write(','.join(str(v) for v in rows[0]) + '\\n')\n"
               "    return str(path)",
}
HONEST_PARTIAL_SCORE = POINTS["test_prod"] + POINTS["test_answer"]

# wrong answers that pass every visible test
WRONG = {
    "q_prod": "prod = A @ B",
    "q_answer": "answer = 49",
    "q_write": HONEST_PARTIAL["q_write"],
}


@dataclass(frozen=True)
class HostTarget:
    """What the attackers are assumed to know: paths on the host, never the secrets in them."""
    course: Path        # the course directory (absolute)
    canary_dir: Path    # a root-only folder on the host, outside the course and the grader's temp folder
    tag: str            # digits naming this run's kernels
    secret: str         # value of SECRET_ENV in the grader's environment
    canary_text: str    # what the canary file holds: must never show up in anything grading wrote

    CANARY_NAME = "rows.csv"   # the same name the test asks write_rows for (see the folder swap)

    @property
    def canary(self) -> Path:
        return self.canary_dir / self.CANARY_NAME

    @classmethod
    def new(cls, course: Path, canary_dir: Path) -> HostTarget:
        return cls(course=course, canary_dir=canary_dir, tag=str(secrets.randbelow(9 * 10**8) + 10**8),
                   secret="s3cr3t-" + secrets.token_hex(12), canary_text="CANARY-" + secrets.token_hex(16))


@dataclass(frozen=True)
class Hostile:
    student: str                                     # student id (collect's pattern: no underscore)
    attacks: str                                     # what it attacks, in plain words
    answers: dict[str, str]                          # answer cell grade_id -> source
    solves: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset({"graded"})
    flags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    late_penalty: float | None = None
    entry_time: dt.datetime = ON_TIME                # the zip entry time the LMS gives its files
    extra: dict[str, bytes] = field(default_factory=dict)   # more files in its upload
    bomb: str = ""                                   # name of a BOMB_BYTES entry of zeros in its upload
    skipped: tuple[str, ...] = ()                    # upload names collect must report and not store
    edit: Callable[[dict], dict] | None = None       # notebook-level changes after the answers
    tail: str = ""                                   # an ungraded cell added at the end (reports)

    def notebook(self, released: dict, target: HostTarget) -> dict:
        nb = with_prelude(with_answers(released, self.answers), prelude(target))
        if self.tail:
            nb["cells"].append(code_cell(self.tail))
        return self.edit(nb) if self.edit else nb

    def expected_score(self) -> float:
        return sum(p for gid, p in POINTS.items() if gid in self.solves)


def prelude(target: HostTarget) -> str:
    """The ungraded first cell of every hostile notebook: name the process so survivors can be found."""
    return textwrap.dedent(f"""\
        import ctypes as _ctypes
        _ctypes.CDLL(None).prctl(15, b"trk{target.tag}", 0, 0, 0)   # PR_SET_NAME
        """)


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _write_rows(body: str) -> str:
    """A write_rows whose body is ``body`` (indented by 4), for the "write this file" test."""
    return "def write_rows(rows, path):\n" + textwrap.indent(_code(body), "    ")


def _wrong_but(**answers: str) -> dict[str, str]:
    return {**WRONG, **answers}


def _without_given(nb: dict) -> dict:
    nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "given"]
    return nb


def _zero_given(nb: dict) -> dict:
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "given":
            cell["source"] = "import os\n\nimport numpy as np\nimport torch\n\nA = torch.zeros(2, 2)\nB = torch.zeros(2, 2)"
    return nb


# the report the disk-fill attack prints in its last cell; the test reads the MB back
FILL_REPORT = "FILL-TOTAL"


def build_corpus(target: HostTarget) -> list[Hostile]:
    """Every hostile submission, for one course. Student ids sort before the honest ones."""
    C = str(target.course)
    kit = C + "/.autograder/kits/" + ASSIGNMENT + ".json"

    def link_to(where: str) -> str:
        return _write_rows(f"""
            import os
            os.symlink({where!r}, path)
            return str(path)
        """)

    fill_loop = _code(f"""
        import os as _os
        def _fill(folder, tag, cap_mb={FILL_CAP_MB}):
            # write 1 MB at a time until the disk says no (or cap_mb); count only what was written
            chunk, done = bytes(1 << 20), 0
            for i in range(cap_mb // 8 + 1):
                try:
                    fd = _os.open('%s/fill-%s-%03d.bin' % (folder, tag, i), _os.O_WRONLY | _os.O_CREAT, 0o600)
                except OSError:
                    return done
                try:
                    for _ in range(8):
                        if done >= cap_mb << 20:
                            return done
                        done += _os.write(fd, chunk)
                except OSError:
                    return done
                finally:
                    _os.close(fd)
            return done
    """)
    return [
        Hostile(
            "t01-link-canary",
            "write_rows makes the test's file a symbolic link to a root-only host file, which the test "
            "reads and quotes in its assertion message",
            _wrong_but(q_write=link_to(str(target.canary))),
            flags={"attack": ()},
        ),
        Hostile(
            "t02-link-kit",
            "write_rows links the test's file to the assignment's kit (hidden tests) in the course",
            _wrong_but(q_write=link_to(kit)),
            flags={"attack": ()},
        ),
        Hostile(
            "t03-link-proc-environ",
            "write_rows links the test's file to /proc/self/environ, so the reader reads its own "
            "environment (the grader's secrets)",
            _wrong_but(q_write=link_to("/proc/self/environ")),
            flags={"attack": ()},
        ),
        Hostile(
            "t04-fifo",
            "write_rows makes the test's file a FIFO, so a reader blocks until the hard kill",
            _wrong_but(q_write=_write_rows("""
                import os
                os.mkfifo(path)
                return str(path)
            """)),
            flags={"attack": ()},
            # the visible copy of the test also runs in the student's own kernel, where the same read
            # may stall until the cell limit: that costs only the student's time, and says `timeout`
            statuses=frozenset({"graded", "timeout"}),
        ),
        Hostile(
            "t05-dev-zero",
            "write_rows links the test's file to /dev/zero, so a reader reads without end",
            _wrong_but(q_write=link_to("/dev/zero")),
            flags={"attack": ()},
            # the visible copy of the test also runs in the student's own kernel, where the same read
            # may stall until the cell limit: that costs only the student's time, and says `timeout`
            statuses=frozenset({"graded", "timeout"}),
        ),
        Hostile(
            "t06-dev-urandom",
            "write_rows links the test's file to /dev/urandom, so a reader reads without end",
            _wrong_but(q_write=link_to("/dev/urandom")),
            flags={"attack": ()},
            # the visible copy of the test also runs in the student's own kernel, where the same read
            # may stall until the cell limit: that costs only the student's time, and says `timeout`
            statuses=frozenset({"graded", "timeout"}),
        ),
        Hostile(
            "t07-folder-swap",
            "write_rows replaces the test's temporary folder by a symbolic link to a host folder holding a "
            "file of the same name (defeats an O_NOFOLLOW on the last component only)",
            _wrong_but(q_write=_write_rows(f"""
                import os
                folder = os.path.dirname(path)
                os.rename(folder, folder + '.moved')
                os.symlink({str(target.canary_dir)!r}, folder)
                return str(path)
            """)),
            flags={"attack": ()},
        ),
        Hostile(
            "t08-disk-fill-everywhere",
            f"fills every writable place it can reach: the working folder, /tmp and /dev/shm from a cell, "
            f"the exchange folder from inside write_rows (at most {FILL_CAP_MB} MB each), then reports how "
            f"much it wrote in all",
            {"q_prod": WRONG["q_prod"],
             "q_answer": WRONG["q_answer"] + "\n" + fill_loop + "\n" + _code("""
                _FILLED = {d: _fill(d, 'cell') for d in ('/home/student', '/tmp', '/dev/shm')}
             """),
             "q_write": _write_rows("""
                import os
                folder = os.path.dirname(os.path.dirname(path))   # the exchange folder itself
                _FILLED['exchange'] = _FILLED.get('exchange', 0) + _fill(folder, 'exch%d' % len(_FILLED))
                with open(path, 'w') as fh:
                    fh.write('1,2\\n')
                return str(path)
             """)},
            flags={"attack": ("disk",)},
            tail=_code(f"""
                print({FILL_REPORT!r}, sum(_FILLED.values()) >> 20, {{k: v >> 20 for k, v in _FILLED.items()}})
            """),
        ),
        Hostile(
            "t09-reply-bomb",
            "after a right product, writes its own reply frame in the grading protocol's format: a JSON list of "
            "40 million empty objects (114 MB that a decoder expands about 25 times)",
            {"q_prod": "prod = A * B",
             "q_answer": WRONG["q_answer"] + "\n" + _code("""
                import os as _o, stat as _st, struct as _struct
                _head, _tail, _chunk = b'{"op": "done", "results": [', b'{}]}', b'{},' * (1 << 20)
                _n = 38
                _frame = [_struct.pack('>I', len(_head) + _n * len(_chunk) + len(_tail)) + _head] + \\
                         [_chunk] * _n + [_tail]
                def _send(fd, data):
                    view = memoryview(data)
                    while view:
                        view = view[_o.write(fd, view):]
                for _fd in range(3, 256):
                    try:
                        if _st.S_ISSOCK(_o.fstat(_fd).st_mode):
                            for _part in _frame:
                                _send(_fd, _part)
                            break
                    except OSError:
                        pass
             """),
             "q_write": WRONG["q_write"]},
            solves=frozenset({"test_prod"}),
            statuses=frozenset({"crashed"}),
            flags={"attack": ("protocol", "reply", "frame")},
        ),
        Hostile(
            "t10-rebind-given",
            "rebinds the given matrices A and B to zeros, so a test reading them from the student's namespace "
            "accepts prod = zeros",
            _wrong_but(q_prod="A = torch.zeros(2, 2)\nB = torch.zeros(2, 2)\nprod = torch.zeros(2, 2)"),
        ),
        Hostile(
            "t11-delete-given",
            "deletes the locked given cell and defines A and B as zeros itself, with prod = zeros",
            _wrong_but(q_prod="import os\nimport numpy as np\nimport torch\n"
                              "A = torch.zeros(2, 2)\nB = torch.zeros(2, 2)\nprod = torch.zeros(2, 2)"),
            flags={"tampered": ("given",)},
            edit=_without_given,
        ),
        Hostile(
            "t12-edit-given",
            "edits the locked given cell so that A and B are zeros, with prod = zeros",
            _wrong_but(q_prod="prod = torch.zeros(2, 2)"),
            flags={"tampered": ("given",)},
            edit=_zero_given,
        ),
        Hostile(
            "t13-forged-timestamp",
            "hands in complete work 12 days late with its own timestamp.txt dated before the deadline",
            dict(HONEST_FULL),
            solves=frozenset(POINTS),
            flags={"late": (), "attack": ("timestamp",)},
            late_penalty=MAX_PENALTY * MAX_SCORE,   # 12 started days * 10 %, capped at 50 %
            entry_time=TWELVE_DAYS_LATE,
            extra={"timestamp.txt": b"2026-11-20T09:00:00+00:00\n"},
        ),
        Hostile(
            "t14-zip-bomb",
            "complete work plus weights.bin: 1 GiB of zeros in about 1 MB of zip",
            dict(HONEST_FULL),
            solves=frozenset(POINTS),
            bomb="weights.bin",
            skipped=("weights.bin",),
        ),
        Hostile(
            "t15-silence-audit",
            "switches the kernel's audit hook off from inside (its state is reachable from student code), then "
            "runs a shell command and opens a gradebook path, with every name assembled at run time",
            _wrong_but(q_answer=WRONG["q_answer"] + "\n" + _code("""
                import sys as _sys
                _k = _sys.modules.get('autograder.ker' + 'nel')
                if _k is not None:
                    setattr(_k, '_qu' + 'iet', True)
                for _name in [n for n in dir(_k) if 'audit' in n.lower()] if _k is not None else []:
                    if isinstance(getattr(_k, _name), (set, list, dict)):
                        getattr(_k, _name).clear()
                _o = __import__('o' + 's')
                getattr(_o, 'sys' + 'tem')('true')
                try:
                    open('/srv/' + 'grade' + 'book.db', 'rb')
                except OSError:
                    pass
            """)),
            flags={"attack": ("shell", "program", "course file")},
        ),
        Hostile(
            "t16-module-import",
            "makes `answer` a module object named numpy.f2py.__main__, so a judge that imports whatever module "
            "a value names runs f2py's command line (SystemExit) inside the trusted process",
            _wrong_but(q_answer="import types\nanswer = types.ModuleType('numpy.f2py.__main__')"),
            statuses=frozenset({"graded", "crashed"}),   # a refused value may also end the kernel as a protocol breach
        ),
    ]
