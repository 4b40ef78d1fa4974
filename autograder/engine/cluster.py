"""Grading on a Dask distributed cluster (``autograder grade --scheduler ADDRESS``).

Workers are trusted machines with the package installed. Each task carries a
whole job (its public part, the kit and the student's files), so workers need
no shared disk except for the competition's public data, which is read from
the same path as on the coordinator when it exists there. On a worker, the
task runs through that worker's own warm fork server, exactly as locally: the
kit never enters a sandbox. Results come back as JSON; the gradebook and the
records are written only by the coordinator, so a worker that dies costs
nothing but a retry of its tasks elsewhere. A task's files are spooled inside
the worker's fork server's own folder, which the server removes when it ends
(also when the worker was killed and the server only saw its input close).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from autograder.engine.executor import Job
from autograder.engine.results import RunResult
from coursebase import submission

_server = None
_server_lock = threading.Lock()


def pack(job: Job) -> dict:
    """Everything a worker needs for one job, as plain data."""
    files = submission.transport_files(Path(job.submission_dir))
    return {"job": job.to_dict(), "kit": Path(job.kit_path).read_text(encoding="utf-8"), "files": files}


def _fork_server(preimport: list[str], seed: int):
    """One warm parent per worker process, started on first use and restarted if it died."""
    global _server
    from autograder.engine.forkserver import ForkServer

    with _server_lock:
        if _server is None or _server.proc.poll() is not None:
            _server = ForkServer(preimport, seed)
        return _server


def grade_remote(payload: dict, preimport: list[str]) -> str:
    """Runs on a worker: unpack the job into a private spool folder, grade it, return the RunResult JSON."""
    from autograder.engine.forkserver import collect_result

    server = _fork_server(preimport, int(payload["job"]["seed"]))
    # inside the server's own folder: removed with it even if this worker is killed mid-task
    spool = Path(tempfile.mkdtemp(prefix="spool-", dir=server.scratch))
    (spool / "submission").mkdir()
    try:
        for name, content in payload["files"].items():
            (spool / "submission" / Path(name).name).write_bytes(content)
        (spool / "kit.json").write_text(payload["kit"], encoding="utf-8")
        fields = dict(payload["job"])
        data_dir = fields.get("data_dir")
        fields.update(submission_dir=str(spool / "submission"), kit_path=str(spool / "kit.json"),
                      result_path=str(spool / "result.json"),
                      data_dir=data_dir if data_dir and Path(data_dir).is_dir() else None,
                      hide=[*fields.get("hide", []), str(spool)])
        job = Job.from_dict(fields)
        code = server.run(job)
        return collect_result(job, code).dumps()
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def run_on_cluster(address: str, jobs: list[Job], on_result, preimport: list[str]) -> None:
    """Send every job to the cluster; call ``on_result`` (on this thread) as results arrive."""
    from dask.distributed import Client, as_completed

    with Client(address, timeout="30s") as client:
        futures = [client.submit(grade_remote, pack(job), preimport, key=f"autograde-{job.job_id}-{uuid.uuid4().hex[:8]}",
                                 pure=False, retries=2) for job in jobs]
        for future in as_completed(futures):
            on_result(RunResult.from_json(json.loads(future.result())))
