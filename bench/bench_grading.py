"""Throughput of `autograder grade` against `nbgrader autograde` on the same submissions.

    python bench/bench_grading.py [--n 40] [--workers 2] [--assignment 01_tensors] [--skip-nbgrader]

Builds a fresh course from this repository's source/, releases it, makes N
submissions of the assignment (every other one with a wrong answer), grades
them with nbgrader's own autograde and with ours in the same run, and prints
a table: submissions per minute for both, the ratio, the per-submission
overhead beyond the students' own code, the CPU a submission costs (user and
system, as the OS accounts the finished executors and kernels), and the memory
a submission adds on top of the shared warm parent. A second invocation with
``--assignment 04_mlp_fashion_mnist`` gives the MLP homework's line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
BIN = os.path.dirname(sys.executable)
ALLOW_AUTOGRADE = "--Autograde.exporter_class=nbconvert.exporters.NotebookExporter"
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")


def make_course(tmp: Path, assignment: str, n: int) -> Path:
    from conftest import solved, submit

    from autograder.release import release
    from coursebase.layout import Course

    course = tmp / "course"
    (course / "source").mkdir(parents=True)
    shutil.copytree(ROOT / "source" / assignment, course / "source" / assignment)
    shutil.copy(ROOT / "course.toml", course / "course.toml")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    release(Course.at(course), [assignment])
    source = json.loads(next((course / "source" / assignment).glob("*.ipynb")).read_text())
    blank = json.loads(next((course / "release" / assignment).glob("*.ipynb")).read_text())
    good = solved(blank, source)
    for i in range(n):
        submit(course, f"s{i:03d}", assignment, good if i % 2 == 0 else blank)
    return course


def own_code_seconds(course: Path, assignment: str) -> float:
    """The students' own code: every code cell of a solved notebook, run in this warm interpreter."""
    import contextlib
    import io

    nb = json.loads(next((course / "submitted" / "s000" / assignment).glob("*.ipynb")).read_text())
    from autograder.kits import build_kit
    from coursebase.layout import Course

    kit = build_kit(Course.at(course), assignment).by_id()
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        src = kit[gid].source if gid in kit and kit[gid].is_test else "".join(cell["source"])
        cells.append(src)
    best = float("inf")
    # as both graders run them: NBGRADER_EXECUTION set (the MLP homework then trains on a small slice only)
    saved = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        for _ in range(3):
            ns: dict = {}
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                for src in cells:
                    try:
                        exec(compile(src, "<cell>", "exec"), ns)
                    except Exception:  # noqa: BLE001 - a wrong answer is part of the cost
                        pass
            best = min(best, time.perf_counter() - start)
    finally:
        if saved is None:
            del os.environ["NBGRADER_EXECUTION"]
        else:
            os.environ["NBGRADER_EXECUTION"] = saved
    return best


def private_bytes(root_pid: int) -> int:
    """Private memory of every descendant of ``root_pid`` (the forked executors and sandboxes)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ppid = int(open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    total, stack = 0, list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run_ours(course: Path, assignment: str, workers: int) -> dict:
    from autograder.engine.forkserver import ForkServer
    from autograder.grade import find_submissions, make_job
    from autograder.kits import build_kit, kit_path
    from coursebase.layout import Course
    from coursebase.policy import load_policy

    c = Course.at(course)
    policy = load_policy(course)
    kit = build_kit(c, assignment)
    kit_file = kit.save(kit_path(c, assignment))
    spool = c.state / "spool" / assignment
    spool.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    server = ForkServer(list(policy.sandbox.preimport), policy.grading_seed)
    startup = time.perf_counter() - start
    jobs = [make_job(c, policy, kit, kit_file, sub, spool, True, None) for sub in find_submissions(c, assignment)]
    before, faults_before = _accounting(server.proc.pid)
    results, steady = _grade_all(server, jobs, workers, None)
    after, faults_after = _accounting(server.proc.pid)
    cpu = [(b - a) / len(jobs) for a, b in zip(before, after)]
    faults = [(b - a) / len(jobs) for a, b in zip(faults_before, faults_after)]
    # memory is sampled in a second, untimed pass: the sampler reads /proc (smaps_rollup of every
    # executor and kernel) a hundred times a second, CPU the timed pass must not lose to it
    samples: list[int] = []
    memory_jobs = [make_job(c, policy, kit, kit_file, sub, spool, True, None)
                   for sub in find_submissions(c, assignment)[:10]]
    _grade_all(server, memory_jobs, workers, lambda running: samples.append(
        private_bytes(server.proc.pid) // max(running, 1)))
    server.close()
    assert all(r.status.value == "graded" for r in results), [r.message for r in results if r.message]
    return {"startup": startup, "steady": steady, "n": len(jobs), "scores": sorted(r.score for r in results),
            "memory": sorted(samples)[len(samples) // 2] if samples else 0,
            "memory_max": max(samples) if samples else 0,
            "per_sub": sum(r.duration for r in results) / len(results), "split": timing_split(results),
            "cpu": cpu, "faults": faults}


def _accounting(pid: int) -> tuple[list[float], list[int]]:
    """What the OS accounts to the warm parent ``pid`` and its reaped children (every finished executor
    with the kernel it reaped): CPU seconds (own user, own system, children's user, children's system)
    and minor page faults (own, children's). The faults are mostly the pages a fork copies on first
    write (copy-on-write) and the pages of shared libraries a child touches first."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return [int(x) / os.sysconf("SC_CLK_TCK") for x in fields[11:15]], [int(fields[7]), int(fields[8])]


def _grade_all(server, jobs, workers: int, sample) -> tuple[list, float]:
    """Grade ``jobs`` on ``workers`` threads; returns the results and the wall-clock seconds.
    ``sample(running)``, if given, is called every 10 ms from a thread of its own."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder.engine.forkserver import collect_result

    running = {"n": 0}
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            if running["n"]:
                sample(running["n"])
            time.sleep(0.01)

    def one(job):
        running["n"] += 1
        try:
            return collect_result(job, server.run(job))
        finally:
            running["n"] -= 1

    if sample is not None:
        threading.Thread(target=sampler, daemon=True).start()
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, jobs))
    steady = time.perf_counter() - start
    stop.set()
    return results, steady


def timing_split(results) -> dict[str, float]:
    """Median milliseconds of each part of one submission's run (the records' ``audit.timing_ms``), plus the
    rest of its recorded duration (fork, waiting for the kernel, cleanup)."""
    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if values else 0.0

    parts = {key: median([r.audit.get("timing_ms", {}).get(key, 0.0) for r in results])
             for key in ("sandbox", "plan", "cells")}
    parts["total (recorded duration)"] = median([r.duration * 1000 for r in results])
    return parts


def run_nbgrader(course: Path, assignment: str) -> float:
    start = time.perf_counter()
    # the course's nbgrader_config.py refuses nbgrader's autograde; the comparison re-enables it explicitly
    run = subprocess.run([os.path.join(BIN, "nbgrader"), "autograde", assignment, "--force", ALLOW_AUTOGRADE],
                         cwd=course,
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr[-3000:])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--assignment", default="01_tensors")
    parser.add_argument("--skip-nbgrader", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course = make_course(Path(tmp), args.assignment, args.n)
        own = own_code_seconds(course, args.assignment)
        ours = run_ours(course, args.assignment, args.workers)
        theirs = None if args.skip_nbgrader else run_nbgrader(course, args.assignment)
    per_min_ours = ours["n"] / ours["steady"] * 60
    per_min_with_start = ours["n"] / (ours["steady"] + ours["startup"]) * 60
    # wall-clock cost of one submission on one core, minus what its own cells cost
    overhead = ours["steady"] * args.workers / ours["n"] - own
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}")
    print(f"assignment {args.assignment}, {ours['n']} submissions, {args.workers} workers")
    print(f"{'':38s}{'subs/min':>10s}")
    if theirs is not None:
        print(f"{'nbgrader autograde':38s}{ours['n'] / theirs * 60:10.1f}")
    print(f"{'autograder grade, steady state':38s}{per_min_ours:10.1f}")
    print(f"{'autograder grade, incl. warm-up':38s}{per_min_with_start:10.1f}")
    if theirs is not None:
        print(f"ratio (steady state): {per_min_ours / (ours['n'] / theirs * 60):.1f}x")
    print(f"warm-up of the fork server (imports, once per run): {ours['startup']:.2f} s")
    print(f"students' own code per submission (cells + tests, in-process): {own * 1000:.0f} ms")
    print(f"per-submission overhead beyond that: {overhead * 1000:.0f} ms")
    print("one submission's run, median ms: " + ", ".join(f"{k} {v:.0f}" for k, v in ours["split"].items()))
    user, system, child_user, child_system = (x * 1000 for x in ours["cpu"])
    print(f"CPU per submission: executor and kernel {child_user:.0f} ms user + {child_system:.0f} ms system, "
          f"warm parent (forking them) {user + system:.0f} ms")
    parent_faults, child_faults = ours["faults"]
    print(f"page faults per submission: executor and kernel {child_faults:.0f}, warm parent {parent_faults:.0f}")
    print(f"memory per running submission beyond the warm parent: median {ours['memory'] / 2**20:.0f} MB, "
          f"max {ours['memory_max'] / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
