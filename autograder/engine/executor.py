"""Grade one submission: the trusted executor that drives a sandboxed kernel and the judge.

Order matters for secrecy: the sandboxed kernel is forked *before* this
process reads the kit (hidden tests) or the notebook, so neither was ever in
memory the student's process could inherit. They are read while the kernel
builds its sandbox (the fork has happened; nothing waits for the kernel's
ready message until they are planned). Cells then go to the kernel one at a
time; test cells are judged here.

Instructor data comes from the instructor: the plan restores every locked
cell (flag ``tampered``), the kernel reseeds right before each given cell, and
the judge runs the kit's given cells itself, after the same seeding, so tests
see the instructor's values of the names they bind (see judge.py).

Each cell's result is appended to ``<result>.cells`` as soon as it is known,
so a kill at any moment keeps the scores of the cells that ran.

Privilege (as root, sandboxed): the executor is given an empty folder
``scratch`` by the process that started it. It mounts the submission's private
disk there in a mount namespace of its own (:func:`sandbox.private_disk`), so
nothing it or the kernel writes is ever on the host; it opens the cells log,
forks the kernel, reads the kit and the notebook, and then confines itself
(:func:`sandbox.confine_judge`): from the first cell on, the judge runs as its
own unprivileged uid in a root without the course or the host's secrets. The
caller writes the returned result through a file it opened beforehand.
Without root (user namespaces) or with ``--unsandboxed`` the judge keeps the
invoking user's rights, as before.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.engine import kernel_code, sandbox
from autograder.engine.code_scan import scan_source
from autograder.engine.grading_kit import Kit
from autograder.engine.judge import Judge, given_imports
from autograder.engine.judge_code import Compiled, judged_name
from autograder.engine.kernel_client import Channel, KernelGone, open_network_counters
from autograder.engine.results import CellKind, CellResult, RecordedOutput, RunResult
from autograder.engine.run_plan import plan
from autograder.engine.scoring import manual_cell_score
from coursebase import submission
from coursebase.notebook import strip_ansi
from coursebase.policy import Limits
from coursebase.vocabulary import Flag, Status

ENGINE_VERSION = "1"
ENV_PATH = "/usr/local/bin:/usr/bin:/bin"
NOTEBOOK_CAP = 256 << 20       # the notebook itself


@dataclass
class Job:
    """Everything public about one run. It never holds test text: the kit is a path, read after the fork."""
    job_id: str
    student_id: str
    assignment: str
    submission_dir: str
    notebook: str                 # released notebook name inside submission_dir
    kit_path: str
    result_path: str
    seed: int
    limits: Limits                # course.toml [limits], whole (notebook_timeout may be the command's --timeout)
    sandboxed: bool = True
    data_dir: str | None = None
    hide: list[str] = field(default_factory=list)
    uid: int = sandbox.SANDBOX_UID_BASE
    skip_files: list[str] = field(default_factory=list)   # released data file names: released wins

    def to_dict(self) -> dict:
        """Plain data (the limits as a nested object), for JSON or a Dask task."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        data = dict(data)
        data["limits"] = Limits(**data["limits"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Job":
        return cls.from_dict(json.loads(text))


@functools.cache
def grading_versions() -> dict[str, str]:
    """What graded: computed once in the warm parent (where these are imported already), inherited by forks."""
    out = {"python": platform.python_version(), "engine": ENGINE_VERSION}
    for name in ("torch", "numpy", "nbgrader", "IPython"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    return out


def _extra_files(job: Job) -> dict[str, bytes]:
    """The student's own extra files (e.g. submission.csv), copied into the sandbox's working dir."""
    return submission.extras(Path(job.submission_dir), skip=job.skip_files)


def _env(job: Job) -> dict[str, str]:
    return {
        "PATH": ENV_PATH + os.pathsep + os.path.dirname(os.path.realpath(sys.executable)),
        "HOME": sandbox.WORKDIR if job.sandboxed else os.getcwd(),
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
        "NBGRADER_EXECUTION": "autograde",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": str(job.seed),
    }


def run_job(job: Job, scratch: str | None = None) -> RunResult:
    """Run one submission start to finish. Never raises for anything the student did.

    ``scratch`` is an empty folder owned by the caller, who removes it afterwards
    (also after killing this process); without one, a temporary folder is made
    and removed here.
    """
    started = time.monotonic()
    limits = job.limits
    deadline = started + limits.notebook_timeout
    spec = sandbox.SandboxSpec(uid=job.uid, limits=limits, data_dir=job.data_dir, extra_files=_extra_files(job),
                               hide=job.hide)
    result = RunResult(student_id=job.student_id, assignment=job.assignment, status=Status.GRADED,
                       sandbox="namespaces" if job.sandboxed else "none", audit={"versions": grading_versions()})
    channel = None
    with ExitStack() as cleanup:
        if scratch is None:
            scratch = tempfile.mkdtemp(prefix="autograder-")
            cleanup.callback(shutil.rmtree, scratch, True)
        cells_log = cleanup.enter_context(open(job.result_path + ".cells", "a", encoding="utf-8"))
        private = job.sandboxed and os.geteuid() == 0
        workdir = None
        try:
            if private:
                spec.disk_dir = sandbox.private_disk(scratch, limits.disk_bytes)
                spec.exchange_source = os.path.join(scratch, "exchange")
                spec.exchange_dir = sandbox.EXCHANGE
            else:
                spec.exchange_dir = os.path.join(scratch, "exchange")
                os.mkdir(spec.exchange_dir)
                os.chmod(spec.exchange_dir, 0o1777)
            spec.root_dir = os.path.join(scratch, "root")
            os.makedirs(spec.root_dir, exist_ok=True)
            if not job.sandboxed:
                workdir = os.path.join(scratch, "work")
                os.mkdir(workdir)
                if job.data_dir:
                    os.symlink(job.data_dir, os.path.join(workdir, "data"))
            # forked now; it builds its sandbox while this process reads and plans below
            channel = Channel(spec, sandboxed=job.sandboxed, seed=job.seed, output_limit=limits.output_bytes,
                              env=_env(job), workdir=workdir, wait=False)
        except sandbox.SandboxUnavailable as exc:
            result.status = Status.FAILED
            result.message = f"the sandbox could not be set up: {exc}"
            return _finish(result, channel, started)
        # only now, with the student's process already separate, read the secrets
        plan_started = time.monotonic()
        kit = Kit.load(job.kit_path)
        result.audit["tests_hash"] = kit.tests_hash
        try:
            notebook = _read_notebook(Path(job.submission_dir) / job.notebook)
            planned, findings = plan(notebook, kit)
            unreadable = None
        except ValueError as exc:
            unreadable = str(exc)
        planning = time.monotonic() - plan_started
        try:
            channel.wait_ready()
        except sandbox.SandboxUnavailable as exc:
            result.status = Status.FAILED
            result.message = f"the sandbox could not be set up: {exc}"
            return _finish(result, channel, started)
        sandbox_ready = time.monotonic()
        if unreadable is not None:
            result.status = Status.FAILED
            result.message = unreadable
            return _finish(result, channel, started)  # every graded cell gets 0, "not run", from grade.finish_result
        if findings:
            result.flags[Flag.TAMPERED] = "; ".join(findings)
        # module names bound by the instructor's given (locked) code always mean those modules in tests
        compiled = Compiled.loads(kit.compiled)   # the tests and given cells, compiled when the kit was built
        released = kernel_code.load(kit.kernel_compiled)   # the released cells, compiled for the kernel
        given = given_imports(kit.locked_code(), compiled)
        if private:
            # everything secret is read: from here on the judge holds no privilege and sees no course
            # (and no /proc: the kernel's network counters are opened now, read at the end)
            channel.net_counter_fds = open_network_counters(channel.student_pid)
            try:
                sandbox.confine_judge(scratch, job.uid, limits, job.hide)
            except sandbox.SandboxUnavailable as exc:
                result.status = Status.FAILED
                result.message = f"the judge could not be confined: {exc}"
                return _finish(result, channel, started)
        given_cells = [(c.grade_id, c.source, kit.given_seed(c.grade_id, job.seed)) for c in kit.given_cells()]
        if private:
            given_dir = sandbox.JUDGE_GIVEN   # the confined judge's own empty tmpfs
        else:
            given_dir = os.path.join(scratch, "given")
            os.makedirs(given_dir, mode=0o700, exist_ok=True)
        cells_start = time.monotonic()
        # the fullest the private disk got (a test may remove what student code wrote before it ends)
        peak = [0]

        def sample() -> None:
            used = _disk_usage(sandbox.EXCHANGE) if private else channel.usage_bytes()
            peak[0] = max(peak[0], used or 0)

        _run_cells(job, channel, planned, deadline, result, cells_log, given, given_cells, given_dir, sample, compiled,
                   released)
        channel.observe(time.monotonic() + 10)  # what the audit hook may not say: asked, and seen from outside
        # reading the kit and planning overlap the kernel's start: counted in "plan", not twice
        result.audit["timing_ms"] = {"sandbox": round((sandbox_ready - started - planning) * 1000, 1),
                                     "plan": round((cells_start - sandbox_ready + planning) * 1000, 1),
                                     "cells": round((time.monotonic() - cells_start) * 1000, 1)}
        if channel.protocol_broken:
            result.flags[Flag.ATTACK] = _join(result.flags.get(Flag.ATTACK),
                                           f"broke the grading protocol ({channel.protocol_broken})")
        if channel.audit:
            seen = "; ".join(sorted({f"{a['what']}" + (f" ({a['detail']})" if a["detail"] else "")
                                     for a in channel.audit}))
            result.flags[Flag.ATTACK] = _join(result.flags.get(Flag.ATTACK), f"seen in the sandbox: {seen}")
        sample()
        used = peak[0]
        if used >= 0.9 * limits.disk_bytes:
            result.flags[Flag.ATTACK] = _join(result.flags.get(Flag.ATTACK),
                                              f"filled its private disk ({used >> 20} MB of {limits.disk_mb} MB)")
        return _finish(result, channel, started)


def _finish(result: RunResult, channel: Channel | None, started: float) -> RunResult:
    if channel is not None:
        channel.close()
    result.duration = round(time.monotonic() - started, 3)
    return result


def _disk_usage(path: str) -> int | None:
    """How full the submission's private tmpfs is (the exchange folder is on it)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _join(old: str | None, new: str) -> str:
    return f"{old}; {new}" if old else new


def _read_notebook(path: Path) -> dict:
    if path.is_symlink():
        raise ValueError(f"{path.name} is a symbolic link, not a notebook; hand in the notebook file itself")
    if not path.exists():
        raise ValueError(f"{path.name} is missing from the submission")
    try:
        data = json.loads(submission.read_bounded(path, NOTEBOOK_CAP))
    except submission.NotRegular:
        raise ValueError(f"{path.name} is not a regular file; hand in the file itself") from None
    except submission.TooLarge:
        raise ValueError(f"{path.name} is larger than the {NOTEBOOK_CAP >> 20} MB the grader reads") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable notebook (not valid JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError(f"{path.name} is not a notebook (no list of cells)")
    return data


def _run_cells(job: Job, channel: Channel, planned, deadline: float, result: RunResult, log,
               given: dict[str, str], given_cells: list[tuple[str, str, int]], given_dir: str, sample_disk,
               compiled: Compiled, released: dict[str, bytes]) -> None:
    judge = Judge(channel, job.seed, exchange_dir=channel.exchange_dir, file_cap=job.limits.file_size_bytes,
                  compiled=compiled)
    judge.module_names.update(given)
    # the instructor's data for the tests, from the kit's given cells (never from the student)
    judge.run_given(given_cells, _env(job), given_dir, timeout=job.limits.cell_timeout)
    if judge.given_errors:
        result.audit["given_errors"] = dict(judge.given_errors)
    seeds = {grade_id: seed for grade_id, _, seed in given_cells}
    judge.after_ask = sample_disk
    for cell in planned:
        out = RecordedOutput(index=cell.index, cell_type=cell.cell_type, grade_id=cell.grade_id,
                             source=cell.shown_source, max_score=cell.points)
        result.outputs.append(out)
        if cell.kind == CellKind.TEXT:
            continue
        if cell.kind in (CellKind.CODE, CellKind.MANUAL) and cell.cell_type == "code":
            for finding in scan_source(cell.source):
                result.flags[Flag.ATTACK] = _join(result.flags.get(Flag.ATTACK), f"cell {cell.index}: {finding}")
        cell_deadline = min(time.monotonic() + job.limits.cell_timeout, deadline)
        verdict = None
        if cell.kind == CellKind.TEST and channel.dead is None:
            verdict = judge.run_test(cell.judge_source, cell.points or 0.0, cell_deadline,
                                     name=judged_name(cell.grade_id))
        if verdict is not None and verdict.timed_out:
            # the student's code already ran out of time in this test: running it again would too
            out.error = verdict.error
        elif channel.dead is None and cell.cell_type == "code" and time.monotonic() < deadline:
            try:
                got = channel.run_cell(cell.source, cell_deadline,
                                       seed=seeds.get(cell.grade_id) if cell.given else None,
                                       released=released.get(cell.source))
                out.stdout, out.stderr, out.error = _clean(got.stdout), _clean(got.stderr), _clean(got.error)
                out.results, out.truncated = got.results, got.truncated
                if got.interrupted:
                    out.error = (out.error + "\n" if out.error else "") + \
                        f"Interrupted: the cell ran past its {job.limits.cell_timeout:g} s limit."
            except KernelGone as exc:
                out.error = f"The kernel stopped here: {exc.reason}."
            sample_disk()
        elif channel.dead is None and time.monotonic() >= deadline:
            channel.kill("stopped at the notebook time limit", timed_out=True)
        if cell.kind == CellKind.TEST:
            if verdict is None:
                cr = CellResult(cell.grade_id, cell.points or 0.0, 0.0, ran=False,
                                error="not run: " + (channel.dead.reason if channel.dead else "no time left"))
            else:
                cr = CellResult(cell.grade_id, cell.points or 0.0, verdict.score, error=verdict.error)
                if verdict.error and not out.error:
                    out.error = verdict.error
        elif cell.kind == CellKind.MANUAL:
            cr = CellResult(cell.grade_id, cell.points or 0.0, manual_cell_score(cell.unchanged_answer),
                            kind=CellKind.MANUAL)
        else:
            continue
        out.score = cr.score
        result.cells.append(cr)
        log.write(json.dumps(cr.to_json()) + "\n")
        log.flush()
    # the status follows from how the kernel ended; a cell interrupted at its limit is a timeout
    if channel.dead is not None and not (channel.dead.timed_out or channel.timed_out):
        result.status = Status.CRASHED
        result.message = _join(result.message or None, f"crashed: {channel.dead.reason}")
    elif channel.dead is not None:
        result.status = Status.TIMEOUT
        result.message = _join(result.message or None, f"timeout: {channel.dead.reason}")
    elif channel.timed_out:
        result.status = Status.TIMEOUT
        result.message = _join(result.message or None, f"timeout: a cell ran past its {job.limits.cell_timeout:g} s limit")
    if judge.suspicions:
        result.flags[Flag.ATTACK] = _join(result.flags.get(Flag.ATTACK), "; ".join(sorted(judge.suspicions)))


def _clean(text: str) -> str:
    return strip_ansi(text or "")
