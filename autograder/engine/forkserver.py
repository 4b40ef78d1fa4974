"""The warm parent: imports torch once, then forks one trusted executor per submission.

Run as ``python -m autograder.engine.forkserver`` by :class:`ForkServer`. Protocol on
stdin/stdout, one JSON object per line:

* in:  ``{"job": <Job>}``   (paths and limits only, never test text)
* out: ``{"ready": true}`` once warm; ``{"done": job_id, "exit": code}`` per job.

Files: the client makes one private folder per server (``scratch``) and removes
it when the server ends, however it ends; the server removes it too when its
input closes, and a client removes those of earlier clients that were killed
together with their server. The server keeps matplotlib's and
IPython's settings there, and gives each executor an empty folder of its own
in it (``jobs/<n>``), which it removes when the executor has exited, also after
killing it. As root, an executor mounts its private disk on that folder in a
mount namespace of its own, so the host only ever sees it empty. An executor
writes its result through a file the server opened for it
(``<result>.tmp``); the server moves it to ``<result>`` (exit 0) or
``<result>.error`` (exit 1), so a confined executor needs no write access to
the spool.

Fork safety: thread pools are pinned to one thread *before* numpy/torch are
imported and nothing parallel runs here, so a forked child never inherits a
lock held by a thread that does not exist in it. The parent stays
single-threaded: no progress bars, no database, no Dask here.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_FILESYSTEM": "1", "TORCH_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}
SCRATCH_PREFIX = "autograder-server-"
HARD_MARGIN = 60.0   # seconds past a job's notebook limit after which its executor is killed outright


# what a kernel would otherwise import from disk again, once per submission, where its package is
# loaded already (found by diffing sys.modules around a forked kernel's run of 01_tensors and of the
# MLP homework, solved and blank): run_cell's logger and debugger, the colours of a traceback,
# torch's tensor printing and the unpickling of a tensor the judge sends, pandas' to_csv
LAZY_IMPORTS = ("bdb", "IPython.core.logger", "pygments.formatters.terminal256",
                "torch._subclasses.schema_check_mode", "torch.utils.serialization", "pandas.io.formats.csvs")


def warm_up(preimport: list[str], scratch: str) -> None:
    """Everything a submission may need that is costly: imported once, here."""
    import importlib

    for key, sub in (("MPLCONFIGDIR", "mpl"), ("IPYTHONDIR", "ipython")):
        os.makedirs(os.path.join(scratch, sub), exist_ok=True)
        os.environ[key] = os.path.join(scratch, sub)
    for name in preimport:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            print(json.dumps({"warning": f"could not pre-import {name}: {exc}"}), flush=True)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        exercise_torch(torch)
    if "pandas" in sys.modules:
        exercise_pandas(sys.modules["pandas"])
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        fig = plt.figure()
        fig.savefig(os.devnull, format="png")  # builds the font cache now, not in every sandbox
        plt.close(fig)
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    # printing: a notebook shows tensors, arrays and tables (print, a cell's last value through
    # IPython's formatters: text, HTML ...), and a child's first repr of each kind set up again
    # what this one showing does once (a tensor's first repr in a child cost 8 ms, a table's 11)
    formatter = shell.display_formatter
    for value in [1.5, [1, 2], "text", *(sample for name in ("torch", "numpy", "pandas") if name in sys.modules
                                         for sample in _samples(sys.modules[name]))]:
        try:
            if formatter is not None:
                formatter.format(value)
        except Exception:  # noqa: BLE001 - only a speed-up
            pass
    for name in LAZY_IMPORTS:
        if name.split(".")[0] in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    # the trusted side's modules, so the forked children need no imports from disk
    import nbformat  # noqa: F401
    import nbgrader.utils  # noqa: F401
    from IPython.core import inputtransformer2  # noqa: F401

    from autograder.engine import (  # noqa: F401
        code_scan,
        executor,
        grading_kit,
        judge,
        judge_code,
        kernel,
        kernel_client,
        kernel_code,
        run_plan,
        sandbox,
        scoring,
        wire,
    )


def _samples(module) -> list:
    """Small values of the module's main type, of the kinds printed most, to be shown once (see warm_up)."""
    if module.__name__ == "torch":
        grid = module.arange(6).reshape(2, 3)
        return [grid, grid * 1.5, grid > 2, module.tensor(2.5), module.nn.Parameter(grid * 0.5)]
    if module.__name__ == "numpy":
        return [module.arange(6).reshape(2, 3) / 3]
    return [module.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})]


def exercise_torch(torch) -> None:
    """One tiny training run here, so that no kernel or judge pays torch's first-call set-up again.

    The first forward, backward, optimizer step and DataLoader pass of a process initialise
    dispatch tables, autograd and the optimizers' helpers: about 5 ms of every forked child that
    trains, once per submission. Done here on one thread, with the global generator's state put
    back afterwards (kernels and tests seed themselves anyway); it starts no thread.
    """
    state = torch.get_rng_state()
    try:
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset

        data = TensorDataset(torch.randn(10, 6), torch.arange(10) % 3)
        model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
        loss_fn = nn.CrossEntropyLoss()
        for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.Adam(model.parameters())):
            for xb, yb in DataLoader(data, batch_size=4, shuffle=True):
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                optimizer.step()
                loss.item()
        model.eval()
        with torch.no_grad():
            (model(data.tensors[0]).argmax(dim=1) == data.tensors[1]).float().mean().item()
            torch.softmax(model(data.tensors[0]), dim=1).sum(dim=1).allclose(torch.ones(10))
        grid = torch.arange(6).reshape(2, 3)
        # between judge and kernel: arguments are pickled one way, values encoded the other
        # (wire.py), and the judge copies given data and models for every test
        import copy
        import pickle

        from autograder.engine import wire

        pickle.loads(wire.dumps((grid * 1.5, model)))
        buffers: list[bytes] = []
        tree = wire.encode({"t": grid, "m": model.state_dict(), "a": grid.numpy()}, id, buffers)
        wire.decode(tree, buffers, lambda meta: None, lambda name: None)
        copy.deepcopy(model)
    except Exception:  # noqa: BLE001 - only a speed-up: a torch without one of these still grades
        pass
    finally:
        torch.set_rng_state(state)


def exercise_pandas(pd) -> None:
    """A CSV written and read back here, not first in every kernel (the MLP homework's submission.csv)."""
    import io

    try:
        text = pd.DataFrame({"Id": [1, 2], "Category": [3, 4]}).to_csv(index=False)
        pd.read_csv(io.StringIO(text))["Id"].tolist()
    except Exception:  # noqa: BLE001 - only a speed-up
        pass


def serve(preimport: list[str], scratch: str) -> None:
    from autograder.engine.executor import Job, grading_versions, run_job

    warm_up(preimport, scratch)
    jobs_dir = os.path.join(scratch, "jobs")
    os.makedirs(jobs_dir, mode=0o700, exist_ok=True)
    grading_versions()  # once, here: every executor inherits the answer
    _settle()
    try:
        _loop(run_job, Job, jobs_dir, sys.stdout)
    finally:
        # the client removes it too; this covers a client that was killed (e.g. a Dask worker)
        shutil.rmtree(scratch, ignore_errors=True)


def _settle() -> None:
    """Work out once, here, what every executor and kernel would otherwise redo, then freeze the heap.

    * libc for the sandbox's system calls (ctypes' lookup runs ``ldconfig -p``, a program, per process);
    * the judge's table of loaded modules (a walk of ``sys.modules``, see judge.loaded_importable);
    * ``gc.freeze()``: the warm parent's objects move to the collector's permanent generation, so
      the collections in a fork never walk (and so never copy, page by page) the inherited heap.
      Only objects made after the fork are collected, as before;
    * the heap on 2 MB pages (:func:`huge_pages`), so forking and ending each executor and kernel
      copies and frees a few hundred page-table entries, not a hundred thousand.
    """
    import gc

    from . import judge, sandbox

    sandbox._lib()
    gc.collect()
    gc.freeze()
    huge_pages()
    judge.loaded_importable()   # last: valid while no module is imported after it


MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE = 2 << 20


def huge_pages(maps: str = "/proc/self/maps") -> int:
    """Move this process's private memory onto 2 MB pages now; the bytes moved (0 where not offered).

    A fork copies one page-table entry per 4 KB page this process has written (some 120,000 for
    torch, pandas and matplotlib) and the child's exit frees them again: twice per submission.
    On 2 MB pages that is 512 times fewer entries. ``MADV_COLLAPSE`` (Linux 6.1) does it at once,
    whatever the system's transparent-huge-page default, unless huge pages are switched off.
    Nothing changes for the children: a page either side writes after the fork is still copied
    4 KB at a time. Only anonymous private writable memory is touched (the heap and mmap'd
    arenas), never a file mapping or the stack; a kernel that refuses leaves the pages as they were.
    """
    from . import sandbox

    try:
        with open(maps, "rb") as fh:   # bytes: no text codec imported here
            ranges = collapsible(fh.read())
    except OSError:
        return 0
    libc = sandbox._lib()
    moved = 0
    for start, end in ranges:
        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_HUGEPAGE)
        if libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_COLLAPSE) == 0:
            moved += end - start
    return moved


def collapsible(maps: bytes) -> list[tuple[int, int]]:
    """The whole 2 MB pages inside this process's anonymous private writable mappings (pure).

    ``maps`` is the text of ``/proc/<pid>/maps``; a line that is not a mapping is skipped."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1][1:2] != b"w" or fields[1][3:4] != b"p":
            continue
        if (fields[5] if len(fields) > 5 else b"") not in (b"", b"[heap]"):
            continue
        try:
            low, high = (int(x, 16) for x in fields[0].split(b"-"))
        except ValueError:
            continue
        start, end = -(-low // HUGE) * HUGE, high // HUGE * HUGE
        if end > start:
            ranges.append((start, end))
    return ranges


def _say(out, message: dict) -> None:
    """Tell the client; a client that died is no reason to stop reaping executors and removing their files."""
    try:
        out.write(json.dumps(message) + "\n")
        out.flush()
    except (OSError, ValueError):
        pass


def _loop(run_job, Job, jobs_dir: str, out) -> None:
    """Fork one executor per job line until the input ends and every executor has been reaped."""
    from autograder.engine.sandbox import system_binds

    running: dict[int, tuple[str, float]] = {}
    free_slots = list(range(200))
    slot_of: dict[int, int] = {}
    dir_of: dict[int, str] = {}
    result_of: dict[int, str] = {}
    started = 0
    _say(out, {"ready": True, "pid": os.getpid()})
    buf = b""
    stdin = sys.stdin.fileno()
    eof = False
    # a finished executor wakes the loop at once (SIGCHLD through a pipe), no polling delay
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while not eof or running:
        ready, _, _ = select.select([wake_r] if eof else [stdin, wake_r], [], [], 1.0)
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        if stdin in ready:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                eof = True
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                job = Job.from_json(json.loads(line)["job"])
                slot = free_slots.pop(0)
                job.uid = job.uid + (os.getpid() % 400) * 200 + slot
                started += 1
                job_dir = os.path.join(jobs_dir, str(started))
                os.mkdir(job_dir, 0o700)
                system_binds((), tuple(job.hide))  # once per course, here: every kernel and judge inherits it
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        signal.set_wakeup_fd(-1)
                        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                        os.close(wake_r)
                        os.close(wake_w)
                        signal.signal(signal.SIGINT, signal.SIG_DFL)
                        result_fd = os.open(job.result_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                            | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                        try:
                            text = run_job(job, scratch=job_dir).dumps()
                        except BaseException as exc:  # noqa: BLE001 - reported through the exit code + file
                            text, code = f"{type(exc).__name__}: {exc}", 1
                        _write_all(result_fd, text.encode("utf-8"))
                    except BaseException:  # noqa: BLE001 - nothing to report through
                        code = 2
                    finally:
                        try:
                            sys.stdout.flush()
                        finally:
                            os._exit(code)
                running[pid] = (job.job_id, time.monotonic() + job.limits.notebook_timeout + HARD_MARGIN)
                slot_of[pid] = slot
                dir_of[pid] = job_dir
                result_of[pid] = job.result_path
        for pid, (job_id, hard) in list(running.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if not done and time.monotonic() > hard:
                os.kill(pid, signal.SIGKILL)
                continue
            if done:
                del running[pid]
                free_slots.append(slot_of.pop(pid))
                free_slots.sort()
                code = os.waitstatus_to_exitcode(status)
                _publish(result_of.pop(pid), code)
                shutil.rmtree(dir_of.pop(pid), ignore_errors=True)  # empty unless the executor had no root
                _say(out, {"done": job_id, "exit": code})


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.close(fd)


def _publish(result_path: str, code: int) -> None:
    """Move what the executor wrote to where the client looks: the result, the error, or nowhere."""
    tmp = result_path + ".tmp"
    try:
        if code in (0, 1):
            os.replace(tmp, result_path if code == 0 else result_path + ".error")
        else:
            os.unlink(tmp)  # killed mid-way: the client rebuilds the result from the cells log
    except OSError:
        pass  # nothing was written (the executor died first): the client reports that


def _remove_stale(tmp: str) -> None:
    """Folders of runs whose client was killed together with its server (e.g. ``kill -9`` of the group)."""
    try:
        entries = [e for e in os.scandir(tmp) if e.name.startswith(SCRATCH_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != os.getuid():
                continue
            owner = int(Path(entry.path, "owner").read_text()[:20])
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours to judge, or its owner is alive


class ForkServer:
    """Client of one warm parent. Thread-safe: any number of threads may call :meth:`run`."""

    def __init__(self, preimport: list[str], seed: int, start_timeout: float = 300.0):
        # a minimal environment: whatever the instructor's shell holds (tokens, database URLs) must not
        # be in the memory of processes that student code is forked from
        env = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TZ") if k in os.environ}
        env["HOME"] = "/"
        env.update(THREAD_ENV)
        env["PYTHONHASHSEED"] = str(seed)
        bindir = os.path.dirname(sys.executable)
        env["PATH"] = bindir + os.pathsep + "/usr/local/bin:/usr/bin:/bin"
        # everything the server and its executors put on disk is in here; close() removes it
        _remove_stale(tempfile.gettempdir())
        self.scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
        Path(self.scratch, "owner").write_text(str(os.getpid()))
        env["TMPDIR"] = self.scratch  # whatever a library of the server puts in "the" temp folder goes here too
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.engine.forkserver",
             json.dumps({"preimport": preimport, "scratch": self.scratch})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/", text=True, bufsize=1,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None   # both were asked for as pipes
        self._to_server: IO[str] = self.proc.stdin
        self._from_server: IO[str] = self.proc.stdout
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Event] = {}
        self._exit: dict[str, int] = {}
        self.warnings: list[str] = []
        deadline = time.monotonic() + start_timeout
        while True:
            line = self._from_server.readline()
            if not line:
                self.close()
                raise RuntimeError("the grading server exited while starting; run with --workers 1 to see why")
            msg = json.loads(line)
            if "warning" in msg:
                self.warnings.append(msg["warning"])
            if msg.get("ready"):
                break
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the grading server did not start in time")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._from_server:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "done" in msg:
                with self._lock:
                    self._exit[msg["done"]] = msg.get("exit", 0)
                    event = self._waiting.get(msg["done"])
                if event:
                    event.set()
        with self._lock:  # the server died: wake everybody
            for event in self._waiting.values():
                event.set()

    def run(self, job) -> int | None:
        """Submit one job and wait for its executor to finish; returns its exit code (None: server died)."""
        event = threading.Event()
        with self._lock:
            self._waiting[job.job_id] = event
            self._to_server.write(json.dumps({"job": job.to_json()}) + "\n")
            self._to_server.flush()
        event.wait()
        with self._lock:
            self._waiting.pop(job.job_id, None)
            return self._exit.pop(job.job_id, None)

    def close(self) -> None:
        """End the server (killing it if it does not stop) and remove every file it or its executors made."""
        try:
            self._to_server.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


def collect_result(job, exit_code: int | None):
    """The executor's RunResult, or one rebuilt from the per-cell log if it died mid-way."""
    from autograder.engine.results import CellResult, RunResult
    from coursebase.vocabulary import Status

    path = Path(job.result_path)
    if path.exists():
        return RunResult.from_json(json.loads(path.read_text(encoding="utf-8")))
    cells = []
    log = Path(job.result_path + ".cells")
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                cells.append(CellResult.from_json(json.loads(line)))
            except (ValueError, TypeError):
                pass
    error = Path(job.result_path + ".error")
    why = error.read_text(encoding="utf-8") if error.exists() else f"the grading process ended with {exit_code}"
    return RunResult(student_id=job.student_id, assignment=job.assignment, status=Status.TIMEOUT
                     if exit_code in (-9, 137) else Status.FAILED, cells=cells,
                     message=f"grading stopped early: {why}", sandbox="namespaces" if job.sandboxed else "none")


if __name__ == "__main__":
    cfg = json.loads(sys.argv[1])
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)
    serve(cfg["preimport"], cfg["scratch"])
