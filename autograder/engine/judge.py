"""The trusted judge: runs a test cell outside the student's process.

The test's code runs here with this process's own builtins and modules, which
student code never touched. A name the test does not define is looked up in
the student's namespace through the sandbox and arrives as plain data (a
copy) or as a :class:`Remote` handle that can only be called, read, iterated,
indexed or printed, each through the sandbox. Nothing the student sends is
unpickled here, so nothing the student wrote runs here.

The judge chooses its own imports: a module it receives from the student's
namespace arrives as a name, and the judge resolves that name only against a
table fixed before the first test runs (:data:`IMPORTABLE_MODULES`, the
module names the instructor's given cells import, and the modules of
:data:`IMPORTABLE` packages already loaded when the judge was made). Any
other name stays an opaque handle to the student's module, in the sandbox:
the judge never imports a name the student chose, so no import side effect of
the student's choosing runs here.

Instructor data comes from the instructor: before the first test, the judge
runs the kit's given cells (locked code cells without points) itself, each
after the same seeding the kernel got before it, in an empty working folder
with the kernel's environment variables. In a test, every name a given cell
binds (``bound_names``) means the judge's value, a fresh copy per test, even if
the student deleted, edited or later rebound it; a given name the judge's run
did not produce is a NameError, never the student's value. Every other name
is looked up in the student's namespace as above.

The verdict follows nbgrader's rule for a test cell: an exception means 0; a
last expression whose value reads as a number is partial credit; anything
else is full marks.

Files: a test's temporary folders are made in the exchange folder, which the
student's code sees at the same path; while a test runs, every open of a path
in it goes through :mod:`autograder.engine.handover` (no links, no FIFOs or devices,
a size cap). A refused file fails the test with a plain message and is
reported in :attr:`Judge.suspicions` (the ``attack`` flag), even if the test
caught the error. Every test also has a wall-clock deadline here, a few
seconds after the cell's own, so nothing planted can block the judge.
"""
from __future__ import annotations

import builtins
import contextlib
import copy
import importlib
import io
import os
import random
import signal
import sys
import tempfile
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from autograder.engine.handover import Guard, JudgeDeadline, wall_clock
from autograder.engine.judge_code import Compiled
from autograder.engine.kernel import quiet_device_queues, seed_torch
from autograder.engine.kernel_client import INTERRUPT_GRACE, Channel, KernelGone
from autograder.engine.scoring import partial_credit
from autograder.engine.wire import Op
from coursebase.notebook import hidden_line_numbers

# packages whose already loaded modules a test may receive by name from the student's namespace
IMPORTABLE = {
    "numpy", "torch", "torchvision", "pandas", "math", "random", "collections", "itertools", "functools",
    "statistics", "string", "re", "json", "csv", "os", "sys", "tempfile", "pathlib", "sklearn", "matplotlib",
    "scipy", "time", "datetime", "typing", "dataclasses", "operator", "copy", "io",
}
# names that always mean these modules in a test, whatever the student bound to them
STANDARD_ALIASES = {
    "torch": "torch", "np": "numpy", "numpy": "numpy", "nn": "torch.nn", "F": "torch.nn.functional",
    "pd": "pandas", "pandas": "pandas", "plt": "matplotlib.pyplot", "math": "math", "random": "random",
    "os": "os", "sys": "sys", "tempfile": "tempfile", "torchvision": "torchvision",
}
# modules the judge imports itself (here, not in the sandbox) when a test needs one by name
IMPORTABLE_MODULES = frozenset({*IMPORTABLE, *STANDARD_ALIASES.values()})
# nbgrader's own rule (ClearHiddenTests): a line that contains the marker, whatever comments it with
JUDGE_GRACE = INTERRUPT_GRACE + 2.0   # the judge's own deadline comes after the channel's interrupt-then-kill
DEFAULT_FILE_CAP = 256 << 20          # largest file a test reads from the exchange folder (file_size_mb)


class Remote:
    """A student object, held in the sandbox. The judge can only ask the sandbox about it."""

    __slots__ = ("_judge", "_id", "_type", "_callable")

    def __init__(self, judge: "Judge", meta: dict):
        object.__setattr__(self, "_judge", judge)
        object.__setattr__(self, "_id", meta["id"])
        object.__setattr__(self, "_type", meta["type"])
        object.__setattr__(self, "_callable", meta["callable"])

    @staticmethod
    def _handle_id_of(obj: "Remote") -> int:
        return object.__getattribute__(obj, "_id")

    def _ask(self, *req):
        return object.__getattribute__(self, "_judge").ask((req[0], object.__getattribute__(self, "_id")) + req[1:])

    def __call__(self, *args, **kwargs):
        return self._ask(Op.CALL, args, kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask(Op.GETATTR, name)

    def __setattr__(self, name, value):
        raise TypeError("tests may not change student objects")

    def __iter__(self):
        value = self._ask(Op.ITER)
        return iter(value if isinstance(value, list) else [])

    def __len__(self):
        value = self._ask(Op.LEN)
        if type(value) is not int:
            raise TypeError("len() of a student object did not give an int")
        return value

    def __getitem__(self, key):
        return self._ask(Op.GETITEM, key)

    def __str__(self):
        value = self._ask(Op.STR)
        return value if type(value) is str else "<student object>"

    def __repr__(self):
        return f"<student {object.__getattribute__(self, '_type')} object>"


class _Namespace(dict):
    """Globals of one test cell: its own names, then the judge's builtins, then the student's names."""

    def __init__(self, judge: "Judge"):
        super().__init__()
        self._judge = judge
        self["__builtins__"] = builtins
        self["__name__"] = "__main__"

    def __missing__(self, name: str):
        judge = self._judge
        if name in judge.given_names:
            # instructor data: the judge's own value, never the student's
            if name not in judge.given:
                cell = judge.given_names[name]
                why = judge.given_errors.get(cell, "it did not bind this name")
                raise NameError(f"name {name!r} belongs to the given cell '{cell}', which did not define it "
                                f"when the judge ran it ({why})")
            value = _fresh(judge.given[name])
            self[name] = value
            return value
        if hasattr(builtins, name):
            raise KeyError(name)
        try:
            value = self._judge.ask((Op.GET, name))
        except NameError:
            raise KeyError(name) from None
        module = self._judge.module_names.get(name)
        if module is not None and not isinstance(value, types.ModuleType):
            # the student rebound a module name (e.g. torch = something lenient): tests get the real one
            self._judge.suspicions.add(f"rebinds the module name '{name}'")
            value = self._judge._import(module)
        self[name] = value
        return value


@dataclass
class Verdict:
    score: float
    error: str = ""          # for the student: never quotes hidden test lines
    timed_out: bool = False  # the student's code ran past the cell's time limit during the test


class Judge:
    """Judges the test cells of one submission against one live sandboxed kernel."""

    def __init__(self, channel: Channel, seed: int, exchange_dir: str | None = None,
                 file_cap: int = DEFAULT_FILE_CAP, compiled: Compiled | None = None):
        self.channel = channel
        self.compiled = compiled or Compiled()   # the kit's compiled cells (judge_code); else compiled here
        self.seed = seed
        self.deadline = 0.0
        self.exchange_dir = exchange_dir
        self.guard = Guard(exchange_dir, file_cap) if exchange_dir else None
        self.after_ask = None
        self.module_names = dict(STANDARD_ALIASES)  # execute.py adds what the given cells import
        self.suspicions: set[str] = set()
        # fixed now, before any student value arrives: the loaded modules of the allowed packages
        self._loaded = loaded_importable()
        self.given: dict = {}                     # name -> the instructor's value (from run_given)
        self.given_names: dict[str, str] = {}     # every name a given cell binds -> that cell's grade_id
        self.given_errors: dict[str, str] = {}    # grade_id -> why the given cell failed in the judge
        if "torch" in sys.modules:
            quiet_device_queues(sys.modules["torch"])  # tests seed often; asked here, in the judge's own process

    def run_given(self, cells: list[tuple[str, str, int]], env: dict[str, str], workdir: str,
                  timeout: float = 60.0) -> None:
        """Run the instructor's given cells, (grade_id, source, seed) in release order, in one namespace.

        Nothing of the student is reachable from here: the namespace starts empty (a
        student's name used by a given cell is a NameError), the working folder is
        ``workdir`` (empty, the judge's own) and the environment is ``env`` (the kernel's)
        while they run. A cell that raises keeps the names it bound before the error,
        as in a notebook; the error is kept in ``given_errors``. Each cell has ``timeout``
        seconds (a TimeoutError in it after that).
        """
        namespace: dict = {"__builtins__": builtins, "__name__": "__main__"}
        saved_env, saved_cwd = dict(os.environ), os.getcwd()

        armed = [False]  # the alarm raises only inside the try below, never after it

        def too_long(signum, frame):
            if armed[0]:
                raise TimeoutError(f"the given cell ran past {timeout:g} s")

        try:
            os.chdir(workdir)
        except OSError as exc:
            # never run them elsewhere (another folder's files would make the data differ): tests then
            # get a NameError for every given name, with this reason
            for grade_id, source, _ in cells:
                self.given_errors[grade_id] = f"not run: the judge cannot enter its empty folder ({exc})"
                for name in self.compiled.names(source):
                    self.given_names.setdefault(name, grade_id)
            return
        saved_alarm = None
        try:
            saved_alarm = signal.signal(signal.SIGALRM, too_long)
            os.environ.update(env)
            for grade_id, source, seed in cells:
                for name in self.compiled.names(source):
                    self.given_names.setdefault(name, grade_id)
                seed_all(seed)
                try:
                    try:
                        armed[0] = True
                        signal.setitimer(signal.ITIMER_REAL, timeout)
                        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                            exec(self.compiled.given(source, grade_id), namespace)
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                        armed[0] = False
                except BaseException as exc:  # noqa: BLE001 - the instructor's cell failed here, not the student
                    self.given_errors[grade_id] = f"{type(exc).__name__}: {exc}"[:500]
                for name in namespace:
                    if not name.startswith("__"):
                        self.given_names.setdefault(name, grade_id)
        finally:
            if saved_alarm is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, saved_alarm)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        self.given = {k: v for k, v in namespace.items() if not k.startswith("__")}

    def ask(self, req: tuple):
        if time.monotonic() > self.deadline:
            raise TimeoutError("the test ran past the cell time limit")
        try:
            return self.channel.request(req, self.deadline, lambda meta: Remote(self, meta), self._resolve)
        finally:
            if self.after_ask is not None:
                self.after_ask()  # e.g. how full the private disk got while student code ran

    def _resolve(self, name: str) -> types.ModuleType | None:
        """The judge's own module for a name a student value gave, or None (it stays a handle). Never imports it."""
        module = self._loaded.get(name)
        if module is None and (name in IMPORTABLE_MODULES or name in self.module_names.values()):
            module = self._import(name)
        return module

    def _import(self, name: str) -> types.ModuleType:
        """Import a module of the judge's fixed table (a standard alias or one the given cells import)."""
        if name not in IMPORTABLE_MODULES and name not in self.module_names.values():
            raise ImportError(f"the judge does not import {name!r}: it is not in its fixed list")
        return importlib.import_module(name)

    def run_test(self, source: str, max_points: float, deadline: float, name: str = "test") -> Verdict:
        """Run one test cell; an exception (or a dead kernel) is 0 points."""
        self.deadline = deadline
        self._seed()
        hidden = hidden_line_numbers(source)
        try:
            code, last = self.compiled.test(source, name)
        except SyntaxError as exc:
            return Verdict(0.0, f"the test cell could not be parsed ({type(exc).__name__})")
        namespace = _Namespace(self)
        sink = io.StringIO()
        saved = tempfile.tempdir, tempfile.mkdtemp, tempfile.mkstemp
        if self.exchange_dir:
            # temporary files and folders the test makes are visible to the student's code at the
            # same path and belong to the sandbox's user, so a student function may write into them
            tempfile.tempdir = self.exchange_dir
            tempfile.mkdtemp = self._shared(saved[1], lambda r: r, 0o777)
            tempfile.mkstemp = self._shared(saved[2], lambda r: r[1], 0o666)
        refused_before = len(self.guard.refused) if self.guard else 0
        try:
            with wall_clock(deadline - time.monotonic() + JUDGE_GRACE), \
                    (self.guard.active() if self.guard else contextlib.nullcontext()), \
                    contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                exec(code, namespace)
                value = eval(last, namespace) if last is not None else None
        except KernelGone as exc:
            return Verdict(0.0, f"the kernel died during the test: {exc.reason}", timed_out=exc.timed_out)
        except JudgeDeadline as exc:
            # whatever blocked the judge (a file swapped for a pipe, a reply that never came) ends with the kernel
            self.channel.kill("the test ran past its time limit inside the grader", timed_out=True)
            return Verdict(0.0, str(exc), timed_out=True)
        except BaseException as exc:  # noqa: BLE001 - any failure of the test is a failed test
            refused = self._refused(refused_before, name)
            if refused:
                return refused
            line = _failing_line(exc, name)
            text = f"{type(exc).__name__}: {exc}"
            shown = text if line is not None and line not in hidden else f"{type(exc).__name__} in a hidden test"
            return Verdict(0.0, shown[:2000], timed_out=isinstance(exc, TimeoutError))
        finally:
            tempfile.tempdir, tempfile.mkdtemp, tempfile.mkstemp = saved
        refused = self._refused(refused_before, name)
        if refused:
            return refused  # the test caught the refusal: it still fails
        if value is None:
            return Verdict(max_points)
        return Verdict(partial_credit(_plain_text(value), max_points))

    def _refused(self, before: int, name: str) -> Verdict | None:
        """A file the guard refused during this test: the test fails with that message, flagged ``attack``."""
        if not self.guard or len(self.guard.refused) <= before:
            return None
        message = self.guard.refused[before]
        self.suspicions.add(f"{name.removeprefix('test:')}: {message}")
        return Verdict(0.0, message[:2000])

    @staticmethod
    def _shared(make, path_of, mode: int):
        """tempfile.mkdtemp/mkstemp whose result the student's code (another uid) may write into."""

        def wrapper(*args, **kwargs):
            result = make(*args, **kwargs)
            os.chmod(path_of(result), mode)
            return result

        return wrapper

    def _seed(self) -> None:
        seed_all(self.seed)


_LOADED: tuple[tuple[int, int, int], dict[str, types.ModuleType]] | None = None


def loaded_importable() -> Mapping[str, types.ModuleType]:
    """The loaded modules of :data:`IMPORTABLE` packages now, read-only.

    Walking ``sys.modules`` (some 2,000 modules with torch) in every forked executor touches
    every module's reference count, i.e. copies those pages: the warm parent calls this once
    and the forks reuse its answer while ``sys.modules`` is unchanged (the same number of
    modules and the same last one) and so is :data:`IMPORTABLE`, else it is worked out again.
    """
    global _LOADED
    modules = sys.modules
    key = (len(modules), id(next(reversed(modules.keys()), None)), id(IMPORTABLE))
    if _LOADED is None or _LOADED[0] != key:
        _LOADED = key, {name: module for name, module in list(modules.items())
                        if name.split(".")[0] in IMPORTABLE and isinstance(module, types.ModuleType)}
    return MappingProxyType(_LOADED[1])


def seed_all(seed: int) -> None:
    """Seed random, NumPy and torch as the kernel does (kernel._seed)."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    if "torch" in sys.modules:
        seed_torch(sys.modules["torch"], seed)


def _fresh(value):
    """A test's own copy of an instructor value, so a test that changes it in place changes no other test."""
    if isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - not copyable (a generator, a file): the value itself
        return value


def given_imports(sources: list[str], compiled: Compiled | None = None) -> dict[str, str]:
    """Names the instructor's given (locked) cells bind to modules: name -> module."""
    compiled = compiled or Compiled()
    names: dict[str, str] = {}
    for source in sources:
        for module, name, alias in compiled.imports(source):
            if module.split(".")[0] not in IMPORTABLE:
                continue
            if name is None:
                if alias:
                    names[alias] = module
                else:
                    top = module.split(".")[0]
                    names[top] = top
                continue
            full = f"{module}.{name}"
            try:
                importlib.import_module(full)
            except ImportError:
                continue  # a function or class, not a module
            names[alias or name] = full
    return names


def _failing_line(exc: BaseException, name: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == f"<{name}>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _plain_text(value) -> str:
    """What IPython's text/plain would show for the cell's value (numbers are what matter)."""
    if isinstance(value, Remote):
        return str(value)
    try:
        return repr(value)
    except Exception:  # noqa: BLE001
        return ""
