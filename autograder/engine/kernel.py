"""The student's side: a tiny notebook kernel that runs inside the sandbox.

It receives one cell at a time from the trusted executor and never sees the
notebook, the tests or other students' work. A released cell (a test's visible
part, a given cell) may come with its code compiled when the kit was built
(:mod:`autograder.engine.kernel_code`); the kernel runs that code only where its
shell would have compiled the same. It also answers the judge's
questions about the student's namespace (a variable's value, a call to a
student function) with plain data through :mod:`autograder.engine.wire`.

Nothing this process reports is trusted for scoring: outputs and errors only
feed the student's feedback; verdicts are computed by the judge. Its audit hook
reports event names for the ``attack`` flag, best effort: code in this process
can reach the hook, so the executor checks that it still answers and observes
what it can from outside (see :func:`_install_audit`, :mod:`autograder.engine.kernel_client`).
Replies stay within :data:`wire.LIMITS`; what would not fit goes as a handle.
"""
from __future__ import annotations

import ast
import base64
import functools
import io
import json
import marshal
import os
import random
import signal
import sys
import traceback
import warnings
from typing import Any

from autograder.engine import wire
from autograder.engine.wire import Op
from coursebase.layout import SECRET_DIRS, SECRET_FILES

TEXT_LIMIT = 20_000
IMAGE_LIMIT = 2_000_000
MAX_RESULTS = 8

# audit events worth telling the instructor about; open() is filtered by path below. The
# executor maps event names to these words itself: a line on the audit pipe names an event, no more
AUDIT_EVENTS = {
    "socket.connect": "opened a network connection",
    "socket.bind": "opened a listening socket",
    "subprocess.Popen": "started a program",
    "os.system": "ran a shell command",
    "os.posix_spawn": "started a program",
    "os.kill": "sent a signal",
    "os.killpg": "sent a signal",
    "sys.settrace": "installed a tracer (sys.settrace)",
    "sys.setprofile": "installed a profiler hook (sys.setprofile)",
    "open": "tried to open a course file",
}
AUDIT_CHECK = "autograder.audit_check"  # raised by the kernel when the executor asks: proves the hook still reports
_SECRET_DIRS = SECRET_DIRS
_SECRET_FILES = SECRET_FILES


def _looks_for_course_files(path: str, installed: tuple[str, ...],
                            dirs: frozenset = _SECRET_DIRS, files: frozenset = _SECRET_FILES) -> bool:
    parts = path.split("/")
    if path.startswith(installed):
        return False  # imports from the interpreter and site-packages
    return ".." in parts or bool(dirs.intersection(parts[:-1])) or parts[-1] in files


class _Handles:
    """Student objects the judge holds by number."""

    def __init__(self) -> None:
        self.objects: list[Any] = []

    def add(self, obj: Any) -> int:
        self.objects.append(obj)
        return len(self.objects) - 1

    def get(self, ident: Any) -> Any:
        if type(ident) is not int or not 0 <= ident < len(self.objects):
            raise KeyError(f"no handle {ident!r}")
        return self.objects[ident]


def _install_audit(fd: int) -> None:
    """Report audit events on ``fd``. Best effort, and known to be so.

    Nothing here is a module global a student could switch (the hook's state
    lives in its closure, the event list is immutable, CPython never removes
    an audit hook), but code in this process can still reach the closure or
    close the pipe. So the executor does not trust the hook's silence: it
    asks for :data:`AUDIT_CHECK` with a fresh nonce after the last cell and
    flags a hook that does not answer, and it observes the network from
    outside the sandbox (see :mod:`autograder.engine.kernel_client`).
    """
    installed = tuple(sorted({os.path.realpath(p) + "/" for p in (sys.prefix, sys.base_prefix, *sys.path) if p}))
    events = frozenset(AUDIT_EVENTS)
    seen: set[tuple[str, str]] = set()
    kernel_pid = os.getpid()
    # everything the hook calls is bound here, once: rebinding a module attribute or a builtin later
    # (os.write, json.dumps, isinstance, this module's own names) changes nothing the hook does
    write, getpid, looks, check = os.write, os.getpid, _looks_for_course_files, AUDIT_CHECK
    quote = json.encoder.encode_basestring_ascii  # C function: a JSON string literal, ASCII only
    _str, _repr, _len, _isinstance, _Exception = str, repr, len, isinstance, Exception

    def line(event: str, detail: str) -> bytes:
        return ('{"event": ' + quote(event) + ', "detail": ' + quote(detail) + "}\n").encode()

    def hook(event: str, args: tuple) -> None:
        if event == check:
            try:
                write(fd, line("check", _str(args[0])[:64]))
            except _Exception:  # noqa: BLE001 - the executor notices the missing answer
                pass
            return
        if event not in events:
            return
        detail = ""
        if event == "open":
            if not (args and _isinstance(args[0], _str) and looks(args[0], installed)):
                return
            detail = args[0][:300]
        elif event == "os.kill" and args[:2] == (-1, 9) and getpid() == 1 == kernel_pid:
            return  # the kernel ending a cell's stray processes (_end_strays)
        else:
            try:
                detail = _repr(args[0])[:120] if args else ""
            except _Exception:  # noqa: BLE001
                detail = ""
        if (event, detail) in seen or _len(seen) > 50:
            return
        seen.add((event, detail))
        try:
            write(fd, line(event, detail))
        except _Exception:  # noqa: BLE001
            pass

    sys.addaudithook(hook)


def _seed(seed: int) -> None:
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        seed_torch(torch, seed)


def seed_torch(torch, seed: int) -> None:
    """``torch.manual_seed(seed)``, the same generator state, without its cost where no accelerator exists.

    With no CUDA, XPU, MTIA, MPS or custom device available (the sandbox has none), ``manual_seed`` seeds the
    CPU generator and queues lazy seedings for devices that can never start, each with a
    formatted stack (about 1 ms in a fresh process, paid per given cell and per test). The
    judge seeds through this too (:func:`autograder.judge.seed_all`).
    """
    if _has_accelerator(torch):
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(int(seed))


class _NoStacks:
    """``traceback`` as torch's CUDA, XPU and MTIA modules see it where no device can ever start.

    ``torch.manual_seed`` queues a seeding for each device that is not started yet, with the
    formatted stack of the call (read from the source files: about 3 ms a call), to be shown if
    that device later fails to start. In the sandbox and the confined judge no device exists and
    none can appear, so those queued calls never run and their stacks are never shown: they are
    queued with an empty stack. Everything else is the real module.
    """

    def __getattr__(self, name: str):
        return getattr(traceback, name)

    @staticmethod
    def format_stack(*args, **kwargs) -> list[str]:
        return []


def quiet_device_queues(torch) -> bool:
    """Without any accelerator, torch's lazy device calls queue no stack traces (see :class:`_NoStacks`).

    Asked by the kernel and the judge, each in its own process; returns whether it changed anything."""
    if _has_accelerator(torch):
        return False
    changed = False
    for name in ("cuda", "xpu", "mtia"):
        module = getattr(torch, name, None)
        if module is not None and getattr(module, "traceback", None) is traceback:
            module.traceback = _NoStacks()
            changed = True
    return changed


@functools.cache
def _has_accelerator(torch) -> bool:
    """Asked once per process, by that process: the sandbox and the confined judge have no device
    files, so none appears there later. The warm parent never asks (asking may start a GPU driver,
    whose state its forks would inherit); a device that is there makes the seeding take the general path."""
    accelerators = (getattr(torch, "cuda", None), getattr(torch, "xpu", None), getattr(torch, "mtia", None),
                    getattr(getattr(torch, "backends", None), "mps", None))
    try:
        custom = hasattr(torch, torch._C._get_privateuse1_backend_name())  # a registered custom device
    except Exception:  # noqa: BLE001 - a torch without this hook: take the general path
        custom = True
    return custom or any(device is None or device.is_available() for device in accelerators)


def _make_shell() -> tuple[Any, dict[str, list]]:
    """The singleton IPython shell (display() needs the singleton), quietened for capture."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    # results and errors of the cell running now; "released": its entry compiled with the kit, if any
    sink: dict[str, list] = {"results": [], "error": [], "released": []}

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            sink["results"].append(format_dict)

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            sink["results"].append(data)

        def clear_output(self, wait=False):
            sink["results"].clear()

    manager = shell.input_transformer_manager
    parsed: dict[str, Any] = {}
    fresh_flags = type(shell.compile)().flags
    released_compiler = _released_compiler(type(shell.compile))
    shell.compile.__class__ = released_compiler

    def usable() -> bool:
        """Would this shell compile the released cell now as kernel_code did? (else it compiles it)"""
        return (type(shell.compile) is released_compiler and shell.compile.flags == fresh_flags
                and shell.ast_node_interactivity == "last_expr" and bool(shell.autoawait)
                and not shell.ast_transformers)

    manager.do_token_transforms = _skip_when_plain(manager.do_token_transforms, parsed, sink["released"])
    shell.compile.ast_parse = _parse_once(shell.compile, parsed, usable)
    shell.should_run_async = _sync_unless_await(shell.should_run_async)  # type: ignore[method-assign]
    shell.displayhook = Hook(shell=shell)
    # run_cell installs display_trap's hook as sys.displayhook, the one the shell was built with: without
    # this, a cell's last value would be printed to stdout as 'Out[1]: 3' instead of being its result
    shell.display_trap.hook = shell.displayhook
    shell.display_pub = Publisher(shell=shell)

    kernel_pid = os.getpid()

    def show(etype, evalue, stb):
        sink["error"].append(shell.InteractiveTB.stb2text(stb))

    real_showtraceback = shell.showtraceback

    def showtraceback(*args, **kwargs):
        if os.getpid() != kernel_pid:
            os._exit(1)  # a forked copy of the kernel failed: it has nobody to report to
        return real_showtraceback(*args, **kwargs)

    shell._showtraceback = show  # type: ignore[method-assign]
    shell.showtraceback = showtraceback  # type: ignore[method-assign]
    try:
        shell.colors = "nocolor"
    except Exception:  # noqa: BLE001 - older IPython spells it NoColor
        shell.colors = "NoColor"
    # Python's own traceback layout: as readable, and ten times cheaper than IPython's context view
    shell.InteractiveTB.set_mode("Plain")
    return shell, sink


def _skip_when_plain(do_token_transforms, parsed: dict | None = None, released: list | None = None):
    """IPython's token transforms (``a = %magic``, ``a = !cmd``, ``%cmd``/``!cmd``/``,f``/``;f``/``/f``
    at the start of a line, ``obj?``), skipped for a cell that is plain Python.

    Each of them is found by a ``%``, ``!`` or ``?`` token where Python allows none (after
    ``=``, at the start of a logical line, at its end) or by a ``,`` ``;`` ``/`` that starts a
    logical line: none of these parses as Python, so a cell that Python's own parser accepts
    holds none of them, and IPython's tokenizer (pure Python, half a millisecond to several a
    cell) would change nothing. Such a cell is returned as it is; any other cell goes through
    IPython's transforms, so a magic works and a broken cell fails with IPython's own error.
    The tree of a cell that parsed without a warning is left in ``parsed`` for :func:`_parse_once`.
    A released cell whose text is that of its entry compiled with the kit (``released``, see
    :mod:`autograder.engine.kernel_code`) was parsed there without a warning: its entry is left instead.
    """
    def transforms(lines):
        text = "".join(lines)
        if released and parsed is not None and text == released[0][0]:
            parsed.clear()
            parsed[text] = released[0]
            return lines
        try:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")   # recorded, not shown: IPython parses again if there were any
                tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return do_token_transforms(lines)
        if parsed is not None:
            parsed.clear()
            if not seen:
                parsed[text] = tree
        return lines

    return transforms


def _parse_once(compiler, parsed: dict, usable=None):
    """IPython's ``ast_parse`` for the cell just transformed: the tree :func:`_skip_when_plain` built.

    Only for that same text, parsed with no warning (IPython's parse would show it), in exec
    mode and with no compiler flag that changes parsing (``barry_as_FLUFL``); once. Anything
    else is parsed by IPython as before.

    For a released cell's entry compiled with the kit, and only while ``usable()`` says the shell
    would compile it the same way now, the tree is a stand-in: one placeholder statement per
    statement of the cell, of the same kind where IPython looks (an expression or not), each
    mapped to its compiled code for the compiler (:func:`_released_compiler`).
    """
    import __future__

    real = compiler.ast_parse
    changes_parsing = __future__.barry_as_FLUFL.compiler_flag

    def ast_parse(source, filename="<unknown>", symbol="exec"):
        tree = parsed.pop(source, None)
        parsed.clear()
        if tree is None or symbol != "exec" or compiler.flags & changes_parsing:
            return real(source, filename, symbol)
        if isinstance(tree, tuple):   # a released cell's entry
            if usable is None or not usable():
                return real(source, filename, symbol)
            stand_ins = [ast.Expr(ast.Constant(None)) if is_expr else ast.Pass() for is_expr, _, _ in tree[1]]
            compiler.released = {node: (mode, code) for node, (_, mode, code) in zip(stand_ins, tree[1])}
            return ast.Module(body=stand_ins, type_ignores=[])
        return tree

    return ast_parse


def _released_compiler(base: type) -> type[Any]:
    """IPython's compiler, which returns a released cell's compiled statement for its stand-in.

    The code gets IPython's name for the cell (tracebacks, ``linecache``), and a ``__future__``
    import in it changes the flags of later cells, as compiling it would (``codeop``).
    """
    import __future__

    from autograder.engine.kernel_code import renamed

    features = [getattr(__future__, name) for name in __future__.all_feature_names]

    class ReleasedCompiler(base):  # type: ignore[valid-type, misc]
        released: dict = {}

        def __call__(self, source, filename, symbol, **kwargs):
            body = getattr(source, "body", None)
            hit = self.released.pop(body[0], None) if isinstance(body, list) and len(body) == 1 else None
            if hit is None:
                return super().__call__(source, filename, symbol, **kwargs)
            mode, code = hit
            if mode != symbol:
                raise SyntaxError("the released cell was compiled for another mode")  # never with IPython's rule
            code = renamed(code, filename)
            for feature in features:
                if code.co_flags & feature.compiler_flag:
                    self.flags |= feature.compiler_flag
            return code

    return ReleasedCompiler


def _sync_unless_await(should_run_async):
    """IPython's autoawait check, skipped for a cell that cannot hold top-level asynchronous code.

    IPython compiles every cell a second time to see whether it is a coroutine; only ``await``,
    ``async for`` and ``async with`` make it one, and a cell without the letters ``await`` or
    ``async`` (before or after IPython's transforms) holds none of them: it runs synchronously,
    as IPython would decide.
    """
    def check(raw_cell, *args, **kwargs):
        texts = (raw_cell, kwargs.get("transformed_cell") or "")
        if not any("await" in text or "async" in text for text in texts):
            return False
        return should_run_async(raw_cell, *args, **kwargs)

    return check


def _figures() -> list[dict]:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    out = []
    for num in plt.get_fignums()[:MAX_RESULTS]:
        buf = io.BytesIO()
        try:
            plt.figure(num).savefig(buf, format="png", dpi=72, bbox_inches="tight")
            out.append({"image/png": base64.b64encode(buf.getvalue()[:IMAGE_LIMIT]).decode()})
        except Exception:  # noqa: BLE001 - a broken figure is the student's business
            pass
    plt.close("all")
    return out


def _results(raw: list[dict]) -> list[dict]:
    results = []
    for data in raw[:MAX_RESULTS]:
        item = {}
        if isinstance(data.get("image/png"), (str, bytes)):
            png = data["image/png"]
            item["image/png"] = png if isinstance(png, str) else base64.b64encode(png).decode()
        elif isinstance(data.get("text/plain"), str):
            item["text/plain"] = data["text/plain"][:TEXT_LIMIT]
        if item:
            results.append(item)
    return results


def _end_strays() -> None:
    """Nothing a cell started outlives it: as PID 1 of the sandbox, end every other process and reap it."""
    if os.getpid() != 1:
        return
    try:
        os.kill(-1, 9)
    except OSError:
        pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def serve(sock, seed: int, audit_fd: int | None) -> None:
    """Answer requests until told to stop. Never returns."""
    # the executor interrupts a cell over its time limit with SIGINT, as Jupyter does; between
    # cells a late interrupt is ignored so that it can never hit the kernel's own loop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if audit_fd is not None:
        _install_audit(audit_fd)
    shell, sink = _make_shell()
    handles = _Handles()
    kernel_pid = os.getpid()
    if "torch" in sys.modules:
        quiet_device_queues(sys.modules["torch"])
    _seed(seed)
    wire.write_frame(sock, {"op": Op.READY, "pid": os.getpid()})
    while True:
        try:
            request = wire.read_pickle(sock, persistent_load=lambda pid: handles.get(pid[1]))
        except EOFError:
            os._exit(0)
        op = request[0]
        if op == Op.BYE:
            sys.stdout.flush()
            os._exit(0)
        if op == Op.AUDIT:
            try:
                sys.audit(AUDIT_CHECK, str(request[1]))
            except Exception:  # noqa: BLE001 - a replaced sys.audit: the executor sees no answer
                pass
            wire.write_frame(sock, {"op": Op.AUDITED})
            continue
        if op == Op.EXEC:
            _, code, token, seed, released = request   # as Channel.run_cell sends it (wire.Op.EXEC)
            if type(seed) is int:
                _seed(seed)  # a given cell: the judge runs it after the same seeding
            sink["results"].clear()
            sink["error"].clear()
            sink["released"].clear()
            if type(released) is bytes:
                sink["released"].append(marshal.loads(released))  # compiled with the kit (kernel_code)
            try:
                try:
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    shell.run_cell(code, store_history=True)
                finally:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    sink["released"].clear()
                    getattr(shell.compile, "released", {}).clear()
            except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt escaping IPython
                if os.getpid() != kernel_pid:
                    os._exit(1)
                sink["error"].append(f"{type(exc).__name__}: {exc}")
            if os.getpid() != kernel_pid:
                os._exit(0)  # a process the student forked finished the cell: it must not answer for the kernel
            _end_strays()
            results = _results(sink["results"]) + _figures()
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001
                    pass
            for fd in (1, 2):
                try:
                    os.write(fd, token)
                except OSError:
                    pass
            wire.write_frame(sock, {"op": Op.DONE, "results": results,
                                     "error": "\n".join(sink["error"])[:TEXT_LIMIT]})
            continue
        try:
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _answer(sock, request, shell, handles)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt:
            pass  # arrived after the answer was sent


def _answer(sock, request, shell, handles: _Handles) -> None:
    """One judge question: evaluate it on student objects, reply with plain data."""
    op = request[0]
    buffers: list[bytes] = []
    try:
        if op == Op.GET:
            name = request[1]
            if name not in shell.user_ns:
                raise NameError(f"name '{name}' is not defined")
            value = shell.user_ns[name]
        else:
            target = handles.get(request[1])
            if op == Op.CALL:
                value = target(*request[2], **request[3])
            elif op == Op.GETATTR:
                value = getattr(target, request[2])
            elif op == Op.ITER:
                value = []
                for i, item in enumerate(target):
                    if i >= wire.MAX_ITEMS:
                        raise OverflowError("iteration produced too many items")
                    value.append(item)
            elif op == Op.LEN:
                value = int(len(target))
            elif op == Op.GETITEM:
                value = target[request[2]]
            elif op == Op.STR:
                value = str(str(target))
            elif op == Op.REPR:
                value = str(repr(target))
            else:
                raise ValueError(f"unknown request {op!r}")
        tree = wire.encode(value, handles.add, buffers)
        if op == Op.ITER and tree.get("$") == "handle":
            # the items do not fit in one reply: an error, never an iteration that silently yields nothing
            raise OverflowError("iterating this object gives more data than one reply may carry")
        wire.write_frame(sock, {"op": Op.VALUE, "value": tree}, buffers)
    except BaseException as exc:  # noqa: BLE001 - the judge decides what an error means
        try:
            message = str(exc)[:2000]
        except Exception:  # noqa: BLE001
            message = "<unprintable>"
        wire.write_frame(sock, {"op": Op.RAISE, "type": type(exc).__name__[:100], "message": message})
