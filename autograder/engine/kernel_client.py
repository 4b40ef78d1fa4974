"""The trusted side of one sandboxed kernel: start it, send cells, ask it questions, stop it.

Output is captured at the file-descriptor level (C-level prints and
``os.system`` included) through pipes that this side drains while it waits,
so a student who prints forever neither blocks nor floods: past the per-cell
limit, output is dropped as it arrives.

Replies are read and decoded within :data:`wire.LIMITS`; a reply past a bound,
malformed or out of turn ends the kernel and sets :attr:`Channel.protocol_broken`
(the executor flags ``attack``, the status is ``crashed``).

What the instructor is told about the kernel (:attr:`Channel.audit`, for the
``attack`` flag) comes from two places. From inside, the kernel's audit hook
writes event *names* on a pipe; this side keeps only names it knows and words
them itself, so a forged line can add at most a known entry to the student's own
flag (a flag changes no score). Because code in the kernel can reach that hook,
:meth:`Channel.observe` does not trust its silence: it asks the hook for a
fresh nonce (a hook that was switched off or lost its pipe does not answer), and
it reads the network counters of the sandbox's own network namespace from
``/proc/<kernel>/net`` outside the sandbox, which nothing in the sandbox can
reset.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from autograder.engine import kernel, sandbox, wire
from autograder.engine.wire import Op

INTERRUPT_GRACE = 3.0      # seconds a cell gets to stop after SIGINT before it is killed
TOKEN_GRACE = 0.5          # seconds to wait for the end-of-cell marker on the output pipes


class KernelGone(Exception):
    """The student's process is dead; ``reason`` says why in plain words."""

    def __init__(self, reason: str, timed_out: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class StudentError(Exception):
    """An exception raised by student code while the judge called it."""


@dataclass
class CellOutput:
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    results: list = field(default_factory=list)
    truncated: bool = False
    interrupted: bool = False


class _Sink:
    def __init__(self, limit: int, token: bytes = b""):
        self.limit = limit
        self.token = token
        self.data = {1: bytearray(), 2: bytearray()}
        self.tail = {1: b"", 2: b""}
        self.seen = {1: not token, 2: not token}
        self.truncated = False

    def feed(self, fd: int, chunk: bytes) -> None:
        if self.token and not self.seen[fd]:
            window = self.tail[fd] + chunk
            at = window.find(self.token)
            if at >= 0:
                self.seen[fd] = True
                before = window[:at][len(self.tail[fd]):] if at >= len(self.tail[fd]) else b""
                self._keep(fd, before if at >= len(self.tail[fd]) else b"")
                if at < len(self.tail[fd]):
                    # the marker started in the tail we already kept: remove that part
                    cut = len(self.tail[fd]) - at
                    del self.data[fd][max(0, len(self.data[fd]) - cut):]
                return
            self.tail[fd] = window[-len(self.token):]
        self._keep(fd, chunk)

    def _keep(self, fd: int, chunk: bytes) -> None:
        room = self.limit - len(self.data[fd])
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[:max(room, 0)]
        self.data[fd] += chunk

    def text(self, fd: int) -> str:
        return self.data[fd].decode("utf-8", errors="replace")


def _student_side(spec: sandbox.SandboxSpec, child_sock: socket.socket, out_w: int, err_w: int, aud_w: int,
                  close: tuple[int, ...], *, sandboxed: bool, seed: int, env: dict[str, str],
                  workdir: str | None, pid_ns_ready: bool) -> NoReturn:
    """The forked child: closes the trusted side's ends (``close``), points stdin/stdout/stderr at the
    pipes, enters the sandbox (or, unsandboxed, only its limits) and serves as the student's kernel.
    Never returns: a setup failure is reported on ``child_sock`` as SETUP_FAILED, then it exits."""
    started_as = os.getpid()
    ready = False
    try:
        os.setpgid(0, 0)
        sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with this executor
        for fd in close:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        keep = {0, 1, 2, child_sock.fileno(), aud_w}
        for fd in _open_fds():
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        report = lambda p: wire.write_frame(child_sock, {"op": Op.PID, "pid": p})  # noqa: E731
        if sandboxed:
            sandbox.enter(spec, as_root=os.geteuid() == 0, on_child=report, pid_ns_ready=pid_ns_ready)
        else:
            report(os.getpid())
            os.chdir(workdir or "/")
            for name, content in spec.extra_files.items():
                with open(os.path.join(workdir or ".", name), "wb") as fh:
                    fh.write(content)
            sandbox.set_limits(spec)  # what is left with --unsandboxed: limits only
        os.environ.clear()
        os.environ.update(env)
        import tempfile
        tempfile.tempdir = None  # the warm parent's cached temp folder is not the sandbox's /tmp
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                      errors="replace", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="replace", write_through=True)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        ready = True
        kernel.serve(child_sock, seed, aud_w)
    except BaseException as exc:  # noqa: BLE001 - any setup failure is reported, then we die
        if os.getpid() != started_as and os.getpid() != 1:
            os._exit(1)  # a process the student forked: it must never speak for the kernel
        if ready:
            os._exit(71)  # student code broke the kernel's own loop (e.g. replaced a builtin it uses)
        try:
            wire.write_frame(child_sock, {"op": Op.SETUP_FAILED, "message": f"{exc}"[:2000]})
        finally:
            os._exit(70)
    os._exit(0)


class Channel:
    """One student kernel in a sandbox (or, with ``sandboxed=False``, under limits only)."""

    def __init__(self, spec: sandbox.SandboxSpec, *, sandboxed: bool, seed: int, output_limit: int,
                 env: dict[str, str], workdir: str | None = None, setup_timeout: float = 60.0,
                 wait: bool = True):
        """Fork the kernel. With ``wait`` (the default) return once it is ready; without, return
        at once, so the caller can work while the kernel builds its sandbox, and call
        :meth:`wait_ready` (any request waits for it too)."""
        self.output_limit = output_limit
        self.exchange_dir = spec.exchange_dir or None
        self.audit: list[dict] = []
        self.dead: KernelGone | None = None
        self.net_counter_fds: list[int] | None = None   # set by the executor before the judge loses /proc
        self.timed_out = False
        self.protocol_broken = ""
        self._netns: str | None = None
        self.network_packets = 0   # outgoing attempts counted by the sandbox's network namespace
        self._audit_answers: set[str] = set()
        parent_sock, child_sock = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        aud_r, aud_w = os.pipe()
        # as root, this (throw-away, per-submission) executor enters the new PID namespace's parent
        # role itself, so the student's kernel is PID 1 without an intermediate process and fork
        pid_ns_ready = False
        if sandboxed and os.geteuid() == 0:
            try:
                sandbox.unshare(sandbox.CLONE_NEWPID, "a PID namespace")
                pid_ns_ready = True
            except sandbox.SandboxUnavailable:
                pid_ns_ready = False
        pid = os.fork()
        if pid == 0:   # the student's side: never returns
            _student_side(spec, child_sock, out_w, err_w, aud_w, (parent_sock.fileno(), out_r, err_r, aud_r),
                          sandboxed=sandboxed, seed=seed, env=env, workdir=workdir, pid_ns_ready=pid_ns_ready)
        # ---------------------------------------------------------------- the trusted side
        child_sock.close()
        for fd in (out_w, err_w, aud_w):
            os.close(fd)
        self.pid = pid              # process group leader (the intermediate when sandboxed)
        self.student_pid = pid      # the student's kernel, as seen from here
        self.sock = parent_sock
        self.sock.setblocking(True)
        self.fds = {out_r: 1, err_r: 2, aud_r: 3}
        self._audit_buf = b""
        self._sink = _Sink(output_limit)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ, "ctrl")
        for fd in self.fds:
            os.set_blocking(fd, False)
            self._sel.register(fd, selectors.EVENT_READ, "pipe")
        self._sandboxed = sandboxed
        self._setup_deadline = time.monotonic() + setup_timeout
        self._ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the kernel says it is ready; :class:`sandbox.SandboxUnavailable` if its sandbox
        could not be set up, :class:`KernelGone` if it did not start. Once ready, returns at once."""
        if self._ready:
            return
        self._ready = True   # whatever happens below, the first frames are never waited for twice
        deadline, sandboxed = self._setup_deadline, self._sandboxed
        first = self._wait_frame(deadline, interruptible=False)
        if first.get("op") == Op.PID and type(first.get("pid")) is int:
            self.student_pid = first["pid"]
            first = self._wait_frame(deadline, interruptible=False)
        if first.get("op") == Op.SETUP_FAILED:
            self.close()
            raise sandbox.SandboxUnavailable(str(first.get("message", "setup failed")))
        if first.get("op") != Op.READY:
            self.close()
            raise KernelGone("the kernel did not start")
        # which network namespace is the sandbox's: counters are read only while the kernel's pid still
        # names it (a reused pid of another process is never taken for the student's)
        own = _netns("self")
        self._netns = _netns(self.student_pid) if sandboxed else None
        if self._netns == own:
            self._netns = None

    # ------------------------------------------------------------------ waiting
    def _drain(self, fd: int) -> bool:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self._sel.unregister(fd)
            os.close(fd)
            del self.fds[fd]
            return False
        stream = self.fds[fd]
        if stream == 3:
            self._audit_buf += chunk
            *lines, self._audit_buf = self._audit_buf.split(b"\n")
            if len(self._audit_buf) > 4096:
                self._audit_buf = b""  # no event line is this long: whatever it is, it is not kept
            for line in lines[:100]:
                try:
                    event = json.loads(line[:1000])
                except (ValueError, RecursionError):
                    continue
                if not isinstance(event, dict) or type(event.get("event")) is not str:
                    continue
                name, detail = event["event"], str(event.get("detail", ""))[:300]
                if name == "check" and len(self._audit_answers) < 100:
                    self._audit_answers.add(detail)
                elif name in kernel.AUDIT_EVENTS and len(self.audit) < 100:
                    self.audit.append({"event": name, "what": kernel.AUDIT_EVENTS[name], "detail": detail})
        else:
            self._sink.feed(stream, chunk)
        return True

    def _wait_frame(self, deadline: float, interruptible: bool = True) -> dict[str, Any]:
        """Wait for the next control frame, draining output; interrupt then kill at the deadline."""
        interrupted_at = None
        while True:
            now = time.monotonic()
            limit = deadline if interrupted_at is None else interrupted_at + INTERRUPT_GRACE
            if now >= limit:
                if interruptible and interrupted_at is None:
                    self.timed_out = True
                    self._signal(signal.SIGINT)
                    interrupted_at = now
                    continue
                self.kill("stopped at the time limit", timed_out=True)
                raise self._dead()
            for key, _ in self._sel.select(timeout=min(limit - now, 0.5)):
                if key.data == "pipe":
                    self._drain(key.fd)
                    continue
                try:
                    # a frame that starts must arrive whole before the deadline (plus the grace)
                    self.sock.settimeout(max(0.5, limit - time.monotonic() + INTERRUPT_GRACE))
                    header, buffers = wire.read_frame(self.sock, wire.LIMITS)
                except EOFError as exc:
                    self._gone(str(exc))
                    raise self._dead() from exc
                except (OSError, wire.CodecError, RecursionError, MemoryError) as exc:
                    self._broke_protocol(f"{type(exc).__name__}: {exc}")
                finally:
                    if self.sock.fileno() >= 0:
                        self.sock.settimeout(None)
                header["_buffers"] = buffers
                if interrupted_at is not None:
                    header["_interrupted"] = True
                return header

    def _signal(self, sig: int) -> None:
        for target in {self.student_pid, self.pid}:
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass

    def _finish_output(self, grace: float) -> CellOutput:
        end = time.monotonic() + grace
        while not all(self._sink.seen.values()) and self.fds and time.monotonic() < end:
            for key, _ in self._sel.select(timeout=max(0.0, end - time.monotonic())):
                if key.data == "pipe":
                    self._drain(key.fd)
        sink = self._sink
        self._sink = _Sink(self.output_limit)
        return CellOutput(stdout=sink.text(1), stderr=sink.text(2), truncated=sink.truncated)

    # ------------------------------------------------------------------ requests
    def run_cell(self, code: str, deadline: float, seed: int | None = None, released: bytes | None = None) -> CellOutput:
        """Run one cell (after seeding random, NumPy and torch with ``seed`` if given; with ``released``,
        the cell's entry compiled with the kit, see kernel_code); raises :class:`KernelGone` if the
        kernel dies or is killed."""
        self._ensure_alive()
        token = b"\x1e" + os.urandom(8).hex().encode() + b"\x1e"
        self._sink = _Sink(self.output_limit, token)
        try:
            wire.write_pickle(self.sock, (Op.EXEC, code, token, seed, released))
            header = self._wait_frame(deadline)
        except KernelGone:
            raise
        except OSError as exc:
            self._gone(str(exc))
            raise self._dead() from exc
        out = self._finish_output(TOKEN_GRACE)
        if not self.net_counter_fds:
            # by pid, while it still names the sandbox; with descriptors (they keep the namespace, and its
            # counters only grow) the reads in observe() and kill() see every attempt of every cell
            self._count_network()
        if header.get("op") != Op.DONE:
            self._broke_protocol(f"answered {str(header.get('op'))[:40]!r} out of turn")
        out.interrupted = bool(header.get("_interrupted"))
        out.error = str(header.get("error", ""))[:kernel.TEXT_LIMIT]
        results = header.get("results")
        out.results = [r for r in results if isinstance(r, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in r.items())][:kernel.MAX_RESULTS] \
            if isinstance(results, list) else []
        return out

    def request(self, req: tuple, deadline: float, make_handle, resolve_module) -> Any:
        """Ask the kernel one question on behalf of the judge; return plain data or raise.

        A reply that is not plain data or is past :data:`wire.LIMITS` ends the kernel
        (:attr:`protocol_broken` says which bound) and raises :class:`KernelGone`.
        """
        self._ensure_alive()

        def persistent_id(obj):
            ident = getattr(type(obj), "_handle_id_of", None)
            return ("h", ident(obj)) if ident is not None else None

        try:
            wire.write_pickle(self.sock, req, persistent_id=persistent_id)
            header = self._wait_frame(deadline)
        except OSError as exc:
            self._gone(str(exc))
            raise self._dead() from exc
        finally:
            self._sink = _Sink(self.output_limit)  # what the student prints during a hidden test is not shown
        if header.get("op") == Op.RAISE:
            name = str(header.get("type", "Exception"))
            message = str(header.get("message", ""))
            if header.get("_interrupted"):
                raise TimeoutError("the student's code ran past the cell time limit")
            raise _rebuild_exception(name, message)
        if header.get("op") != Op.VALUE:
            self._broke_protocol(f"answered {str(header.get('op'))[:40]!r} out of turn")
        try:
            return wire.decode(header.get("value"), header["_buffers"], make_handle, resolve_module)
        except wire.CodecError as exc:
            self._broke_protocol(f"{type(exc).__name__}: {exc}")

    def _dead(self) -> KernelGone:
        """Why the kernel is gone (only called once it is)."""
        assert self.dead is not None
        return self.dead

    def _broke_protocol(self, detail: str) -> None:
        """The kernel sent something that is not a well-formed answer in turn: end it, say so, raise."""
        self.protocol_broken = detail[:200]
        self.kill("the kernel broke the grading protocol (its reply was not plain data, or out of turn)")
        raise self._dead() from None

    def _ensure_alive(self) -> None:
        if not self._ready:
            self.wait_ready()
        if self.dead is not None:
            raise self.dead

    # ------------------------------------------------------------------ ending
    def _gone(self, detail: str) -> None:
        if self.dead is not None:
            return
        status = self._reap(wait=2.0)
        self.dead = KernelGone(_death_reason(status, detail))

    def kill(self, reason: str, timed_out: bool = False) -> None:
        """End the kernel and everything in its sandbox now; ``reason`` is what the record will say."""
        if self.dead is None:
            self._count_network()  # last look while its network namespace exists
        self._signal(signal.SIGKILL)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.dead is None:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.dead = KernelGone(reason, timed_out=timed_out)

    def _reap(self, wait: float):
        end = time.monotonic() + wait
        while True:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                return status
            if time.monotonic() > end:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                return status
            time.sleep(0.01)

    # ------------------------------------------------------------------ observing
    def observe(self, deadline: float) -> None:
        """Add to :attr:`audit` what is seen of the kernel beyond its own hook's reports; call after the last cell."""
        if self.dead is None and not self.audit_answers(deadline):
            self.audit.append({"event": "audit.silent", "what": "switched off or cut the grader's audit hook",
                               "detail": ""})
        self._count_network()
        if self.network_packets:
            self.audit.append({"event": "net.outside", "what": "tried to use the network (seen from outside)",
                               "detail": f"{self.network_packets} attempts"})

    def audit_answers(self, deadline: float) -> bool:
        """Does the kernel's audit hook still report? It must echo a nonce it could not know in advance."""
        if 3 not in self.fds.values():
            return False  # the kernel closed its end of the audit pipe
        nonce = os.urandom(8).hex()
        try:
            self._ensure_alive()
            wire.write_pickle(self.sock, (Op.AUDIT, nonce))
            header = self._wait_frame(deadline, interruptible=False)
        except (KernelGone, OSError):
            return False
        finally:
            self._sink = _Sink(self.output_limit)
        if header.get("op") != Op.AUDITED:
            return False
        end = time.monotonic() + TOKEN_GRACE  # the hook wrote before the kernel answered: it is in the pipe
        while nonce not in self._audit_answers and time.monotonic() < end:
            fds = [fd for fd, s in self.fds.items() if s == 3]
            if not fds:
                break
            for key, _ in self._sel.select(timeout=max(0.0, end - time.monotonic())):
                if key.data == "pipe":
                    self._drain(key.fd)
        return nonce in self._audit_answers

    def _count_network(self) -> None:
        """Outgoing attempts in the sandbox's own network namespace, read from outside (only it can count them)."""
        if self._netns is None:
            return  # no network namespace of its own: the host's counters say nothing about the student
        fds = self.net_counter_fds
        if fds:
            # opened while the kernel was surely alive: a /proc/<pid>/net file keeps the namespace it was opened in
            self.network_packets = max(self.network_packets, _network_attempts(self.student_pid, fds))
            return
        counted = _network_attempts(self.student_pid)
        if _netns(self.student_pid) == self._netns:  # still the sandbox's after reading
            self.network_packets = max(self.network_packets, counted)

    def usage_bytes(self) -> int | None:
        """How full the sandbox's private disk is, read from outside (trusted)."""
        try:
            st = os.statvfs(f"/proc/{self.student_pid}/root{sandbox.WORKDIR}")
        except OSError:
            return None
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def close(self) -> None:
        """End the kernel and everything in its sandbox at once; nothing it holds is needed any more."""
        self.kill("closed")
        for fd in list(self.fds):
            try:
                self._sel.unregister(fd)
                os.close(fd)
            except (OSError, KeyError, ValueError):
                pass
        self.fds.clear()
        self.sock.close()
        self._sel.close()


# counters of /proc/<pid>/net/snmp{,6} that any attempt to send or connect moves, even with no route
_NET_COUNTERS = {("Ip", "OutRequests"), ("Ip", "OutNoRoutes"), ("Tcp", "ActiveOpens"), ("Tcp", "AttemptFails"),
                 ("Udp", "OutDatagrams"), ("Udp", "NoPorts"), ("Icmp", "OutMsgs"), ("Ip6", "OutRequests"),
                 ("Ip6", "OutNoRoutes"), ("Udp6", "OutDatagrams"), ("Icmp6", "OutMsgs")}


def open_network_counters(pid: int) -> list[int]:
    """File descriptors on ``pid``'s network counters, opened while /proc is still visible.

    The confined judge has no /proc; it re-reads these descriptors (a procfs file is
    generated afresh at every read from offset 0) to count from outside at the end.
    """
    fds = []
    for name in ("snmp", "snmp6"):
        try:
            fds.append(os.open(f"/proc/{pid}/net/{name}", os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            fds.append(-1)
    return fds


def _read_counter_file(pid: int, name: str, fds: list[int] | None) -> str:
    fd = fds[("snmp", "snmp6").index(name)] if fds else -1
    if fd >= 0:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 1 << 16).decode("ascii")
    with open(f"/proc/{pid}/net/{name}", encoding="ascii") as fh:
        return fh.read(1 << 16)


def _netns(pid) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _network_attempts(pid: int, fds: list[int] | None = None) -> int:
    """Sum of the outgoing-attempt counters of ``pid``'s network namespace (0 if it cannot be read)."""
    total = 0
    try:
        lines = _read_counter_file(pid, "snmp", fds).splitlines()
        for names, values in zip(lines[::2], lines[1::2]):
            proto = names.split(":")[0]
            for name, value in zip(names.split()[1:], values.split()[1:]):
                if (proto, name) in _NET_COUNTERS:
                    total += max(0, int(value))
        for line in _read_counter_file(pid, "snmp6", fds).splitlines():
            parts = line.split()
            if len(parts) == 2:
                for proto in ("Ip6", "Udp6", "Icmp6"):
                    if parts[0].startswith(proto) and (proto, parts[0][len(proto):]) in _NET_COUNTERS:
                        total += max(0, int(parts[1]))
    except (OSError, ValueError):
        pass
    return total


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))


_REBUILDABLE = {name: getattr(builtins, name) for name in (
    "ValueError", "TypeError", "KeyError", "IndexError", "AttributeError", "NameError", "ZeroDivisionError",
    "RuntimeError", "AssertionError", "NotImplementedError", "OverflowError", "ArithmeticError",
    "LookupError", "MemoryError", "RecursionError", "FileNotFoundError", "OSError")}


def _rebuild_exception(name: str, message: str) -> BaseException:
    """The judge sees the student's exception as a fresh builtin of the same name, or StudentError."""
    if name == "KeyboardInterrupt":
        return TimeoutError("the student's code ran past the cell time limit")
    cls = _REBUILDABLE.get(name)
    if cls is not None:
        return cls(message)
    return StudentError(f"{name}: {message}")


def _death_reason(status, detail: str) -> str:
    if status is None:
        return f"the kernel is gone ({detail})" if detail else "the kernel is gone"
    code: int | None
    if os.WIFSIGNALED(status):
        sig: int | None = os.WTERMSIG(status)
        code = None
    else:
        code = os.WEXITSTATUS(status)
        sig = code - 128 if code > 128 else None
    if sig is not None:
        if sig == signal.SIGXCPU:
            return "the CPU time limit was reached"
        if sig == signal.SIGKILL:
            return "the kernel was killed (most likely it ran out of memory)"
        if sig == signal.SIGSEGV:
            return "the kernel crashed (segmentation fault)"
        return f"the kernel died of signal {signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig}"
    if code == 70:
        return "the sandbox could not be set up"
    if code == 71:
        return "student code broke the kernel itself (for example by replacing a builtin or module it relies on)"
    return f"the kernel exited (exit code {code}), e.g. os._exit() or a fatal error"
