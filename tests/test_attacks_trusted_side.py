"""The trusted side is no confused deputy (issue 10): one real batch of hostile uploads and honest ones.

One LMS-style zip holding every submission of tests/trusted_corpus.py plus an
honest full-marks and an honest partial student goes through one real
``autograder collect`` and one real ``autograder grade`` (CLI processes, real
nbgrader gradebook, real sandbox and judge), both inside a cgroup-v1 memory
cgroup when the machine has one. Every command of the batch runs in its own
mount namespace whose ``/tmp`` is a private, empty folder, so that ``/tmp`` can
be listed before and after without seeing other programs of a shared machine;
the course and the canary live under ``/var/tmp``. Then ``feedback`` and
``export`` run as an instructor would. The tests read what that one run left:

* each hostile submission: its status, the score of each cell (0 for every cell
  it did not honestly solve), the flags its case promises, the late penalty
  ``export`` shows, and what ``collect`` reported and stored;
* nothing was read outside the sandbox: a root-only canary file (and the folder
  holding it) whose access time was set older than its modification time, so
  that ``relatime`` updates it on any read, still has that access time; its
  text, the grader's secret environment variable and the hidden tests appear in
  no record, feedback page, export or gradebook row;
* nothing was left on the host: ``/tmp`` (as the batch saw it) is as empty as
  before, no entry of the real ``/tmp`` carries this run's tag, the course has
  nothing new but what grading writes, and no kernel of this run is alive;
* bounded time and memory: the batch finishes within a generous wall-clock
  limit, no executor had to be killed from outside (hard kill, OOM), and the
  memory cgroup killed nothing;
* the honest students keep exactly their marks and no flag.

Memory: the cgroup's limit is MEMORY_LIMIT, 3 GiB, five times what the same
collect + grade needs for 18 honest submissions (peak 617 MiB measured in such
a cgroup on the project's machine: coordinator, warm parent, two executors and
their kernels); page cache written by collect is charged to it too, and
reclaimed at the limit, so only an OOM kill counts as going over. On a machine without a writable cgroup-v1
memory controller the batch runs without it and the memory test is skipped with
the reason. Collect and grade run as root (the sandbox needs it; so do the
private ``/tmp`` and the cgroup); without root the whole module is skipped.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trusted_corpus as corpus
from _processes import survivors as find_survivors
from conftest import TEST_POLICY, build_course, released, with_answers
from trusted_corpus import Hostile, HostTarget

pytestmark = pytest.mark.slow  # real collect, grade, feedback and export runs in a cgroup

HONEST_FULL = "zz-honest-full"
HONEST_PARTIAL = "zz-honest-partial"
CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 4, 20
MEMORY_LIMIT = 3 << 30          # the whole collect + grade, all processes; an honest batch peaks near 0.6 GiB
BATCH_LIMIT = 900.0             # seconds for collect, and again for grade: a stalled batch fails, never hangs
BIN = Path(sys.executable).parent


def _policy() -> str:
    text = TEST_POLICY
    for key, value in (("cell_timeout", CELL_TIMEOUT), ("notebook_timeout", NOTEBOOK_TIMEOUT),
                       ("disk_mb", corpus.DISK_MB)):
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        assert n == 1, f"TEST_POLICY has no single '{key}' line"
    return text + (f'\n[late_policy]\nkind = "per_day"\nper_day = {corpus.PER_DAY}\n'
                   f'max_penalty = {corpus.MAX_PENALTY}\ngrace_minutes = 15\n\n'
                   f'[assignments.{corpus.ASSIGNMENT}]\ndue = "{corpus.DUE.isoformat()}"\n')


# ---------------------------------------------------------------------------- the memory cgroup

class MemoryCgroup:
    """A cgroup-v1 memory cgroup below this process's own, for the batch's processes only."""

    def __init__(self, path: Path, limit: int):
        self.path = path
        path.mkdir()
        (path / "memory.limit_in_bytes").write_text(str(limit))
        swap = path / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(limit))   # no swapping around the limit either

    @classmethod
    def make(cls, name: str, limit: int) -> tuple[MemoryCgroup | None, str]:
        """The cgroup, or None and the reason it cannot be made here."""
        if os.geteuid() != 0:
            return None, "not root: cannot make a memory cgroup"
        mount = Path("/sys/fs/cgroup/memory")
        if not (mount / "memory.limit_in_bytes").exists():
            return None, "no cgroup-v1 memory controller at /sys/fs/cgroup/memory"
        own = ""
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, where = line.split(":", 2)
            if "memory" in controllers.split(","):
                own = where.lstrip("/")
        try:
            return cls(mount / own / name, limit), ""
        except OSError as exc:
            return None, f"cannot make a memory cgroup under {mount / own}: {exc.strerror}"

    def wrap(self, command: list[str]) -> list[str]:
        """``command``, moved into this cgroup before it runs anything (its children follow it)."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *command]

    def read(self, name: str) -> str:
        return (self.path / name).read_text()

    def oom_kills(self) -> int:
        fields = dict(line.split() for line in self.read("memory.oom_control").splitlines())
        return int(fields.get("oom_kill", 0))

    def remove(self) -> None:
        for _ in range(50):
            pids = [int(p) for p in self.read("cgroup.procs").split()]
            for pid in pids:   # only processes this batch started can be in it
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


# ---------------------------------------------------------------------------- the batch

@dataclass
class Run:
    returncode: int | None     # None: killed at BATCH_LIMIT
    output: str
    seconds: float


@dataclass(repr=False)   # failures print the facts they are about, not the whole batch
class Batch:
    course: Path
    target: HostTarget
    cases: list[Hostile]
    collect: Run
    grade: Run
    after_runs: dict[str, Run]  # feedback and export, run after grading as an instructor would
    records: dict              # student_id -> list of records.jsonl entries
    exports: dict              # student_id -> grades.csv row
    before: dict[str, str]     # course files before grading (after collect)
    after: dict[str, str]
    tmp_before: set[str]       # /tmp as the batch saw it (a private folder)
    tmp_after: set[str]
    host_tmp_new: list[str]    # new entries of the real /tmp carrying this run's tag
    canary_atimes: dict[str, tuple[int, int]]   # path -> (atime set before, atime after)
    probe_atime_moved: bool    # the check works here: reading the probe moved its atime
    survivors: list[str]
    memory: dict = field(default_factory=dict)  # limit, max_usage, failcnt, oom_kill, or skip reason


def course_files(root: Path) -> dict[str, str]:
    """Every file of the course but the grader's own state, by content hash (links by their target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith((".autograder", "gradebook.db", "autograded/")):
            continue   # the grader's own output (autograded/ notebooks: checked for leaks with the outputs)
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            out[rel] = digest.hexdigest()
        elif not path.is_dir():
            out[rel] = "special:" + stat.filemode(path.lstat().st_mode)
    return out


def survivors(tag: str) -> list[tuple[int, str]]:
    """Processes whose name or command line carries the run's tag."""
    return find_survivors(tag, 'trk')


def _plant_canary(path: Path, text: str) -> int:
    """A root-only file whose access time is older than its modification time; returns that atime (ns)."""
    path.write_text(text + "\n")
    path.chmod(0o600)
    st = path.stat()
    atime = st.st_mtime_ns - 2 * 86400 * 10**9
    os.utime(path, ns=(atime, st.st_mtime_ns))
    return atime


def _lms_zip(zip_path: Path, entries: list[tuple[str, dict, Hostile | None]]) -> None:
    """One folder per student, as an LMS download: `<id>_<name>/<files>`, entry times from the LMS."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for student, notebook, case in entries:
            when = (case.entry_time if case else corpus.ON_TIME).timetuple()[:6]
            folder = f"{student}_Student/"
            files = {f"{corpus.ASSIGNMENT}-{student}.ipynb": json.dumps(notebook).encode()}
            files.update(case.extra if case else {})
            for name, data in files.items():
                zf.writestr(zipfile.ZipInfo(folder + name, date_time=when), data)
            if case and case.bomb:
                info = zipfile.ZipInfo(folder + case.bomb, date_time=when)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as fh:
                    block = bytes(1 << 20)
                    for _ in range(corpus.BOMB_BYTES >> 20):
                        fh.write(block)


def _run(args: list[str], env: dict, cgroup: MemoryCgroup | None, private_tmp: Path) -> Run:
    """One autograder command in its own mount namespace whose /tmp is ``private_tmp``."""
    start = time.monotonic()
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" /tmp && exec "$@"', str(private_tmp), str(BIN / "autograder"), *args]
    proc = subprocess.Popen(cgroup.wrap(command) if cgroup else command, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BATCH_LIMIT)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the group this test started
        out, _ = proc.communicate()
        code = None
    return Run(code, out[-20000:], time.monotonic() - start)


@pytest.fixture(scope="module")
def batch() -> Batch:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1): the sandbox, the private /tmp and the memory cgroup need them")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], check=False,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace for the batch's private /tmp: {probe.stderr.strip()}")
    base = Path(tempfile.mkdtemp(prefix="autograder-trusted-", dir="/var/tmp"))
    try:
        yield from _batch(base)
    finally:
        if os.environ.get("KEEP_TRUSTED_BATCH"):   # to look at what a failing run left
            print(f"\nthe batch's course, zip and /tmp are kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def _batch(base: Path):
    root = build_course(base / "course", {corpus.ASSIGNMENT: corpus.SOURCE}, _policy())
    release = released(root, corpus.ASSIGNMENT)
    host = base / "host-secrets"
    host.mkdir(mode=0o700)
    target = HostTarget.new(root, host)
    canary_atime = _plant_canary(target.canary, target.canary_text)
    probe = base / "probe.txt"
    probe_atime = _plant_canary(probe, "probe")
    probe.read_text()
    probe_moved = probe.stat().st_atime_ns != probe_atime
    folder_atime = host.stat().st_mtime_ns - 2 * 86400 * 10**9
    os.utime(host, ns=(folder_atime, host.stat().st_mtime_ns))
    canary_set = {str(target.canary): canary_atime, str(host): folder_atime}

    cases = corpus.build_corpus(target)
    entries = [(c.student, c.notebook(release, target), c) for c in cases]
    entries += [(HONEST_FULL, with_answers(release, corpus.HONEST_FULL), None),
                (HONEST_PARTIAL, with_answers(release, corpus.HONEST_PARTIAL), None)]
    zip_path = base / "lms-download.zip"
    _lms_zip(zip_path, entries)

    tmp = base / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(base),
           "LANG": "C.UTF-8", "COLUMNS": "250", corpus.SECRET_ENV: target.secret}   # wide: tables keep names whole
    cgroup, why_not = MemoryCgroup.make(f"autograder-trusted-{target.tag}", MEMORY_LIMIT)
    host_tmp_before = set(os.listdir("/tmp"))
    tmp_before = set(os.listdir(tmp))
    try:
        collect = _run(["--course", str(root), "collect", corpus.ASSIGNMENT, str(zip_path)], env, cgroup, tmp)
        before = course_files(root)
        grade = _run(["--course", str(root), "grade", corpus.ASSIGNMENT], env, cgroup, tmp)
        alive = survivors(target.tag)
        memory = {"skipped": why_not}
        if cgroup:
            memory = {"limit": MEMORY_LIMIT, "max_usage": int(cgroup.read("memory.max_usage_in_bytes")),
                      "oom_kill": cgroup.oom_kills()}
            print(f"\nbatch memory peak {memory['max_usage'] >> 20} MiB of a {MEMORY_LIMIT >> 20} MiB cgroup")
    finally:
        if cgroup:
            cgroup.remove()
    print(f"collect {collect.seconds:.0f} s, grade {grade.seconds:.0f} s")
    after = course_files(root)
    host_tmp_new = sorted(n for n in set(os.listdir("/tmp")) - host_tmp_before if target.tag in n)
    atimes = {p: (a, os.stat(p).st_atime_ns) for p, a in canary_set.items()}
    after_runs = {name: _run(["--course", str(root), *args], env, None, tmp)
                  for name, args in (("feedback", ["feedback", corpus.ASSIGNMENT]), ("export", ["export"]))}
    tmp_after = set(os.listdir(tmp))   # collect, grade, feedback and export all ran with this /tmp
    records: dict[str, list] = {}
    records_file = root / ".autograder" / "records.jsonl"
    for line in records_file.read_text(encoding="utf-8").splitlines() if records_file.exists() else []:
        rec = json.loads(line)
        records.setdefault(rec["student_id"], []).append(rec)
    exports = {}
    grades_csv = root / "exports" / "grades.csv"
    with grades_csv.open(encoding="utf-8") if grades_csv.exists() else open(os.devnull) as fh:
        for row in csv.DictReader(fh):
            if row["assignment"] == corpus.ASSIGNMENT:
                exports[row["student_id"]] = row
    yield Batch(course=root, target=target, cases=cases, collect=collect, grade=grade, after_runs=after_runs,
                records=records,
                exports=exports, before=before, after=after, tmp_before=tmp_before,
                tmp_after=tmp_after, host_tmp_new=host_tmp_new, canary_atimes=atimes,
                probe_atime_moved=probe_moved, survivors=[text for _, text in alive], memory=memory)
    for pid, _ in alive:   # kernels this test started (through the grader) must not outlive it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _ids() -> list[str]:
    return [c.student for c in corpus.build_corpus(HostTarget.new(Path("/nonexistent"), Path("/nonexistent")))]


CASES = _ids()
ALL = [*CASES, HONEST_FULL, HONEST_PARTIAL]


def _case(batch: Batch, student: str) -> Hostile:
    return next(c for c in batch.cases if c.student == student)


def _record(batch: Batch, student: str) -> dict:
    recs = batch.records.get(student)
    assert recs, f"{student}: no record (the batch did not grade it). grade said:\n{batch.grade.output[-3000:]}"
    assert len(recs) == 1, f"{student}: {len(recs)} records for one grade run"
    return recs[0]


def _export(batch: Batch, student: str) -> dict:
    row = batch.exports.get(student)
    assert row, f"{student}: no row in exports/grades.csv. export said:\n{batch.after_runs['export'].output[-3000:]}"
    return row


def _outputs_of_grading(root: Path) -> dict[str, str]:
    """Everything grading produced for people to read: records, feedback, exports, the gradebook."""
    out = {}
    for where in (root / ".autograder" / "records.jsonl", root / "gradebook.db", root / "feedback", root / "exports",
                  root / "autograded"):
        files = [where] if where.is_file() else sorted(p for p in where.rglob("*") if p.is_file()) \
            if where.is_dir() else []
        for path in files:
            with path.open("rb") as fh:
                out[path.relative_to(root).as_posix()] = fh.read(64 << 20).decode("utf-8", errors="replace")
    return out


# ---------------------------------------------------------------------------- the batch as a whole

def test_corpus_has_at_least_15_cases_of_every_class():
    assert len(CASES) >= 15 and len(set(CASES)) == len(CASES)
    for word in ("link-canary", "link-kit", "fifo", "dev-zero", "dev-urandom", "disk-fill", "reply-bomb",
                 "rebind-given", "delete-given", "forged-timestamp", "zip-bomb", "silence-audit", "module-import"):
        assert any(word in c for c in CASES), word


def test_collect_and_grade_finish_in_bounded_time(batch):
    assert batch.collect.returncode is not None, f"collect still ran after {BATCH_LIMIT:g} s"
    assert batch.grade.returncode is not None, f"grade still ran after {BATCH_LIMIT:g} s:\n{batch.grade.output[-3000:]}"
    assert batch.collect.returncode == 0, batch.collect.output[-3000:]
    assert batch.grade.returncode >= 0, f"grade was killed by signal {-batch.grade.returncode}:\n" \
                                        f"{batch.grade.output[-3000:]}"
    assert "Traceback" not in batch.collect.output + batch.grade.output, batch.grade.output[-3000:]


def test_feedback_and_export_run_after_the_batch(batch):
    for name, run in batch.after_runs.items():
        assert run.returncode == 0, f"{name}:\n{run.output[-3000:]}"
    assert set(batch.exports) == set(ALL)


def test_every_student_is_graded_once(batch):
    assert {s: len(r) for s, r in batch.records.items()} == {s: 1 for s in ALL}, batch.grade.output[-3000:]


def test_no_executor_is_killed_from_outside(batch):
    # a FIFO the judge waits on holds its worker until the hard kill (notebook limit + 60 s); a device it
    # reads, or a reply it expands, grows it until the memory cap kills it: either way its grading process
    # ends with a signal instead of a verdict
    killed = {s: r[0]["message"] for s, r in batch.records.items() if "grading stopped early" in r[0]["message"]}
    assert killed == {}, killed


def test_batch_memory_stays_under_the_cgroup_limit(batch):
    if "skipped" in batch.memory:
        pytest.skip(f"no memory cgroup here: {batch.memory['skipped']}")
    assert batch.memory["oom_kill"] == 0, f"the memory cgroup OOM-killed a process of the batch: {batch.memory}"


def test_canary_on_the_host_is_never_read(batch):
    assert batch.probe_atime_moved, "this file system does not update access times on read (noatime?)"
    read = {p: times for p, times in batch.canary_atimes.items() if times[0] != times[1]}
    assert read == {}, f"a host file or folder outside the sandbox was read during grading: {sorted(read)}"


def test_secrets_appear_in_nothing_grading_wrote(batch):
    texts = _outputs_of_grading(batch.course)
    assert any(k.startswith("feedback/") for k in texts) and "exports/grades.csv" in texts
    leaked = sorted({(name, what) for name, text in texts.items() for what, n in _secrets(batch).items()
                     if n in text and not (_instructors_only(name) and what.startswith("hidden"))})
    assert leaked == [], leaked


def _instructors_only(name: str) -> bool:
    """The gradebook and nbgrader's autograded/ notebooks hold the hidden tests by design (as under
    nbgrader); students see feedback pages, which must not."""
    return name == "gradebook.db" or name.startswith("autograded/")


def _secrets(batch: Batch) -> dict[str, str]:
    """What must never reach a student, by what it is."""
    return {"the host canary's text": batch.target.canary_text, "the grader's secret variable": batch.target.secret,
            # in the trusted processes' environment (forkserver.THREAD_ENV), never in a kernel's (execute._env)
            "the trusted side's own environment": "NUMEXPR_NUM_THREADS=",
            **{f"hidden test text {m!r}": m for m in corpus.HIDDEN_MARKERS}}


def test_nothing_left_in_temporary_folders(batch):
    left = sorted(batch.tmp_after - batch.tmp_before)
    assert left == [], f"left in /tmp by collect, grade, feedback and export: {left}"
    assert batch.host_tmp_new == [], batch.host_tmp_new


def test_course_has_nothing_new_but_what_grading_writes(batch):
    changed = sorted(k for k in set(batch.before) | set(batch.after) if batch.before.get(k) != batch.after.get(k))
    assert changed == [], changed


def test_no_kernel_survives_the_batch(batch):
    assert batch.survivors == []


@pytest.mark.parametrize("student,score", [(HONEST_FULL, corpus.MAX_SCORE),
                                           (HONEST_PARTIAL, corpus.HONEST_PARTIAL_SCORE)])
def test_honest_students_keep_their_marks(batch, student, score):
    rec = _record(batch, student)
    assert (rec["status"], rec["score"], rec["max_score"]) == ("graded", score, corpus.MAX_SCORE), rec["message"]
    assert rec["flags"] == {}
    row = _export(batch, student)
    assert (row["status"], row["flags"], float(row["score"]), float(row["late_submission_penalty"] or 0)) == \
        ("graded", "", score, 0.0)


# ---------------------------------------------------------------------------- each hostile submission

@pytest.mark.parametrize("student", CASES)
def test_attack_earns_nothing_it_did_not_deserve(batch, student):
    case = _case(batch, student)
    rec = _record(batch, student)
    scores = {c["grade_id"]: c["score"] for c in rec["cells"]}
    expected = {gid: (pts if gid in case.solves else 0.0) for gid, pts in corpus.POINTS.items()}
    assert scores == expected, f"{case.attacks}: {rec['message']} {[c['error'] for c in rec['cells']]}"
    assert rec["max_score"] == corpus.MAX_SCORE
    assert rec["status"] in case.statuses, f"{case.attacks}: {rec['message']}"
    assert not re.search(r"\b(?:Traceback|SystemExit)\b", json.dumps(rec["cells"])), rec["cells"]


@pytest.mark.parametrize("student", CASES)
def test_attack_sees_nothing_secret(batch, student):
    # its record (its own cell sources left out: they are its own) and its feedback page
    rec = json.loads(json.dumps(_record(batch, student)))
    for out in rec.get("outputs", []):
        out.pop("source", None)
    page = batch.course / "feedback" / student / corpus.ASSIGNMENT / f"{corpus.ASSIGNMENT}.html"
    shown = {"record": json.dumps(rec, ensure_ascii=False),
             "feedback": page.read_text(encoding="utf-8", errors="replace") if page.is_file() else ""}
    leaked = sorted((where, what) for where, text in shown.items() for what, n in _secrets(batch).items() if n in text)
    assert leaked == [], f"{_case(batch, student).attacks}: {leaked}"


@pytest.mark.parametrize("student", CASES)
def test_attack_carries_the_flags_its_case_promises(batch, student):
    case = _case(batch, student)
    flags = _record(batch, student)["flags"]
    for flag, words in case.flags.items():
        assert flag in flags, f"{case.attacks}: no `{flag}` flag in {flags}"
        assert not words or any(w in flags[flag] for w in words), f"{case.attacks}: `{flag}` says {flags[flag]!r}"


@pytest.mark.parametrize("student", CASES)
def test_export_prices_lateness_from_the_lms_time(batch, student):
    case = _case(batch, student)
    row = _export(batch, student)
    penalty = float(row["late_submission_penalty"] or 0)
    assert penalty == (case.late_penalty or 0.0), f"{case.attacks}: export row {row}"
    assert ("late" in row["flags"]) == (case.late_penalty is not None), row["flags"]
    if row["score"]:
        assert float(row["score"]) == max(case.expected_score() - penalty, 0.0)


def test_zip_bomb_is_reported_and_skipped_and_the_rest_collected(batch):
    for case in batch.cases:
        folder = batch.course / "submitted" / case.student / corpus.ASSIGNMENT
        assert (folder / corpus.NOTEBOOK).is_file(), f"{case.student}: its notebook was not collected"
        for name in case.skipped:
            assert not (folder / name).exists(), f"{case.student}: {name} was unpacked into submitted/"
            assert name in batch.collect.output, f"collect did not report {name}:\n{batch.collect.output[-3000:]}"
    biggest = max((p.stat().st_size for p in (batch.course / "submitted").rglob("*") if p.is_file()), default=0)
    assert biggest < 64 << 20


def test_forged_timestamp_is_not_the_submission_time(batch):
    for case in batch.cases:
        if "timestamp.txt" in case.extra:
            stored = (batch.course / "submitted" / case.student / corpus.ASSIGNMENT / "timestamp.txt").read_text()
            when = dt.datetime.fromisoformat(stored.strip())
            assert when == case.entry_time, f"collect took the student's own timestamp: {stored!r}"


def test_disk_fill_is_bounded_by_disk_mb_on_every_mount(batch):
    rec = _record(batch, "t08-disk-fill-everywhere")
    lines = [line for out in rec["outputs"] for line in (out.get("stdout") or "").splitlines()
             if corpus.FILL_REPORT in line]
    assert lines, f"the disk-fill attack printed no report: {[o.get('error') for o in rec['outputs']]}"
    total = int(lines[-1].split()[1])
    assert total <= corpus.DISK_MB, f"wrote {lines[-1]} with disk_mb = {corpus.DISK_MB}"
