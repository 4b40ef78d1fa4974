"""Benchmark: score 1,000 submissions of 10,000 rows (not a test; prints a table).

    python bench/bench_leaderboard.py [--submissions 1000] [--rows 10000]

Builds a throw-away course in a temp folder (answer key of ``--rows`` rows, a flat
folder of ``--submissions`` CSV files from half as many students, a few of them
copies), then times:

* the whole command: ``leaderboard score`` as a fresh process on a fresh SQLite
  database (imports, gathering, validation, scoring, copy check, reports), against
  a fresh ``python -c`` process that imports pandas and parses the same files;
  both ``--repeat`` times, alternating, medians and their ratio (target <= 2);
* the reference in process: just parsing every CSV with pandas;
* the scoring core as ``leaderboard score`` does it (read + hash, validation, both
  accuracies with their Wilson intervals, daily limit, one database write),
  on a fresh SQLite database: target < 5 s on 2 cores;
* the same steps one by one;
* the pairwise copy check (+ plausibility flags), as its own figure;
* standings + the five report files.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from coursebase.layout import Course
from coursebase.policy import load_policy
from leaderboard import api
from leaderboard.competition import load_solution
from leaderboard.gather import gather
from leaderboard.report import write_reports
from leaderboard.score import interval, score_split
from leaderboard.secret import new_secret, write_secret
from leaderboard.store import Store
from leaderboard.validate import validate

COURSE_TOML = """\
[course]
id = "bench"
grading_seed = 1
[leaderboard]
daily_limit = 5
"""


def build(root: Path, submissions: int, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """A course with a ``rows``-row answer key and a flat folder of ``submissions`` CSVs."""
    rng = np.random.default_rng(seed)
    (root / "course.toml").write_text(COURSE_TOML)
    truth = rng.integers(0, 10, rows)
    usage = np.where(rng.permutation(rows) < int(rows * 0.3), "Public", "Private")
    private = root / "competition" / "private"
    private.mkdir(parents=True)
    pd.DataFrame({"Id": np.arange(rows), "Category": truth, "Usage": usage}).to_csv(private / "solution.csv",
                                                                                     index=False)
    write_secret(private, new_secret())
    flat = root / "downloads"
    flat.mkdir()
    ids = np.arange(rows).astype(str).astype(object)
    students = max(submissions // 2, 1)
    previous = None
    for k in range(submissions):
        skill = rng.uniform(0.75, 0.92)
        pred = np.where(rng.random(rows) < skill, truth, rng.integers(0, 10, rows))
        if k % 100 == 99 and previous is not None:
            pred = previous.copy()                     # a copy of the previous student's file
            pred[:20] = (pred[:20] + 1) % 10
        previous = pred
        text = "Id,Category\n" + "\n".join(ids + "," + pred.astype(str).astype(object)) + "\n"
        path = flat / f"s{k % students:04d}_try{k // students}.csv"
        path.write_text(text)
        stamp = 1_796_000_000 + k * 60                 # all on a few days; daily limit not hit
        os.utime(path, (stamp, stamp))
    return flat, private / "solution.csv"


_PARSE = ("import sys\nfrom pathlib import Path\nimport pandas as pd\n"
          "frames = [pd.read_csv(p) for p in sorted(Path(sys.argv[1]).glob('*.csv'))]\n")


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall, cpu) seconds of one whole child process."""
    cpu, start = _child_cpu(), time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start, _child_cpu() - cpu


def whole_commands(root: Path, flat: Path, solution: Path, repeat: int) -> dict[str, float]:
    """Medians of wall and CPU seconds of a whole ``leaderboard score`` process (fresh database each
    run) and of a whole pandas process parsing the same files, run in turn so both see the same
    machine load; with the pairwise ratios' medians."""
    command = Path(sys.executable).with_name("leaderboard")
    env = {**os.environ, "PATH": f"{command.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    runs = []
    for k in range(max(repeat, 1)):
        score = _run([str(command), "score", str(flat), "--course", str(root), "--solution", str(solution),
                      "--out", str(root / f"whole{k}"), "--db", f"sqlite:///{root / f'whole{k}.db'}"], env)
        parse = _run([sys.executable, "-c", _PARSE, str(flat)], env)
        runs.append((*score, *parse))
    table = np.array(runs)
    return {"score_wall": float(np.median(table[:, 0])), "score_cpu": float(np.median(table[:, 1])),
            "parse_wall": float(np.median(table[:, 2])), "parse_cpu": float(np.median(table[:, 3])),
            "ratio_wall": float(np.median(table[:, 0] / table[:, 2])),
            "ratio_cpu": float(np.median(table[:, 1] / table[:, 3]))}


def timed(label: str, results: list, func, *args, **kwargs):
    start = time.perf_counter()
    value = func(*args, **kwargs)
    results.append((label, time.perf_counter() - start))
    return value


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Model name")), cpu)
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, NumPy {np.__version__}, pandas {pd.__version__}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp course")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each whole command (medians reported)")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bench-leaderboard-"))
    try:
        print(f"building {args.submissions} submissions of {args.rows} rows in {root} ...", flush=True)
        flat, solution_path = build(root, args.submissions, args.rows)
        policy = load_policy(root)
        files = gather(flat, policy.leaderboard.assignment, policy.collect_pattern).files
        assert len(files) == args.submissions, len(files)
        # Warm the page cache so every figure below measures work, not the first disk read.
        for f in files:
            f.path.read_bytes()

        rows: list[tuple[str, float]] = []
        whole = whole_commands(root, flat, solution_path, args.repeat)
        rows.append(("whole `leaderboard score` process, wall (median)", whole["score_wall"]))
        rows.append(("whole `leaderboard score` process, CPU (median)", whole["score_cpu"]))
        rows.append(("whole pandas process parsing every file, wall (median)", whole["parse_wall"]))
        rows.append(("whole pandas process parsing every file, CPU (median)", whole["parse_cpu"]))
        timed("reference: pandas.read_csv of every file", rows,
              lambda: [pd.read_csv(f.path) for f in files])

        # The headline: what `leaderboard score` does per file, on a fresh database.
        solution = load_solution(solution_path)
        contract = solution.contract()
        store = Store.for_course(root, "sqlite:///bench.db")
        store.check_answer_key(solution.sha256, solution.n_public, solution.n_private)
        interval.cache_clear()
        new, _ = timed("score run: read + hash + validate + accuracies + intervals + DB write", rows,
                       api.record_new, files, solution, contract, policy, store)
        scored = sum(1 for s in new if s.status == "scored")
        assert scored == args.submissions, [s.message for s in new if s.status != "scored"][:3]
        headline = rows[-1][1]

        # The same steps one at a time.
        blobs = timed("  step: read files", rows, lambda: [(f.path.read_bytes()) for f in files])
        timed("  step: sha256 only", rows, lambda: [hashlib.sha256(b).hexdigest() for b in blobs])
        verdicts = timed("  step: validate (parse + every check)", rows, lambda: [validate(b, contract) for b in blobs])
        matrix = np.stack([v.predictions for v in verdicts])
        interval.cache_clear()
        timed("  step: both accuracies + 95 % Wilson intervals", rows,
              score_split, matrix, solution.labels, solution.public)
        scratch = Store.for_course(root, "sqlite:///scratch.db")
        timed("  step: database write (one transaction)", rows, scratch.add, new)
        scratch.close()

        changed = timed("copy check (all pairs) + plausibility flags", rows, api.refresh_flags, store, policy)
        copies = sum(1 for s in store.submissions(policy.leaderboard.assignment) if "copy" in s.flags)
        standings = timed("standings (selection, ranks, grades)", rows, api.standings_from_store,
                          Course.at(root), policy, store)
        timed("reports (CSV, Markdown, 2 HTML pages with histograms)", rows, write_reports, standings,
              root / "out", policy.leaderboard, solution.n_public, solution.n_private)
        store.close()

        width = max(len(label) for label, _ in rows)
        print()
        print(f"Leaderboard benchmark: {args.submissions} submissions x {args.rows} rows")
        print(f"machine: {machine()}")
        print()
        print(f"| {'step'.ljust(width)} | seconds |")
        print(f"|{'-' * (width + 2)}|--------:|")
        for label, seconds in rows:
            print(f"| {label.ljust(width)} | {seconds:7.3f} |")
        print()
        print(f"score core: {headline:.2f} s ({headline / args.submissions * 1000:.2f} ms per file), "
              f"target < 5 s: {'met' if headline < 5 else 'MISSED'}; {changed} rows flagged, "
              f"{copies} submissions marked copy")
        ratio = whole["ratio_wall"]
        print(f"whole command: {whole['score_wall']:.2f} s wall / {whole['score_cpu']:.2f} s CPU against "
              f"{whole['parse_wall']:.2f} s / {whole['parse_cpu']:.2f} s for a pandas process parsing the same "
              f"files: ratio {ratio:.2f} wall, {whole['ratio_cpu']:.2f} CPU (medians of pairs), "
              f"target <= 2: {'met' if ratio <= 2 else 'MISSED'}")
        return 0 if headline < 5 and ratio <= 2 else 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
