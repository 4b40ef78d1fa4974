"""Isolation of one student process, applied inside an already forked child.

The warm parent has imported torch once; exec'ing a sandbox program
(bubblewrap) would import it again, so the isolation is made with the same
system calls bubblewrap uses, from inside the forked child:

1. ``unshare`` new mount, network, IPC, UTS and PID namespaces (plus a user
   namespace when not started as root), then fork so the student is PID 1 of
   its own PID namespace: nothing it starts outlives it.
2. A fresh tmpfs becomes the root. Only the system directories, the Python
   installation and the site-packages are bind-mounted into it, read-only.
   The course directory (``source/``, ``submitted/``, the gradebook, the
   answer key) is simply not there. The old root is detached (``pivot_root``).
3. ``/home/student`` (the working directory), ``/tmp`` and ``/dev/shm`` live on one
   size-limited tmpfs; ``<WORKDIR>/data`` is the assignment's public data, read-only.
4. Resource limits (address space, CPU seconds, processes, file size, no core
   dumps), then an unprivileged uid/gid with no capabilities and
   ``no_new_privs``.

As root, the executor first calls :func:`private_disk`: it enters its own mount
namespace and mounts the submission's one size-limited tmpfs there (the
kernel's working folder, ``/tmp``, ``/dev/shm`` and the exchange folder, all
counted in ``disk_mb``). The kernel's namespace is a copy of it, so that tmpfs
is seen by the kernel and the executor only, never by the host, and it is
freed by the kernel when the last of them exits, even after a ``SIGKILL``.
After reading the kit and the notebook, the executor calls
:func:`confine_judge`: a root of its own holding only the system directories,
the Python installation (read-only) and the exchange folder, then its own
unprivileged uid (:data:`JUDGE_UID_OFFSET` above the kernel's), no
capabilities, ``no_new_privs`` and its own memory and CPU limits.

Every step that the OS refuses raises :class:`SandboxUnavailable` with the
reason, so ``grade`` can refuse to run (or run with ``--unsandboxed``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from coursebase.layout import COURSE_FOLDERS
from coursebase.policy import Limits

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}

SANDBOX_UID_BASE = 200_000   # uids nobody on the host uses; one per concurrent sandbox
JUDGE_UID_OFFSET = 100_000   # the judge of the kernel with uid U runs as U + this: never a kernel's uid
WORKDIR = "/home/student"    # the student's working directory inside the sandbox
EXCHANGE = "/exchange"       # the exchange folder, at the same path for the kernel and the confined judge
JUDGE_GIVEN = "/given"       # the confined judge's own empty folder, where it runs the instructor's given cells
PR_SET_DUMPABLE = 4


class SandboxUnavailable(RuntimeError):
    """The operating system refused an isolation layer."""


@dataclass
class SandboxSpec:
    """What one sandbox gets. Everything here is public: no test text, no paths into source/."""
    uid: int
    limits: Limits                         # course.toml [limits], whole: the kernel's rlimits and disk size
    root_dir: str = ""                     # an empty host directory to mount the new root on
    exchange_dir: str = ""                 # where kernel and judge both see the exchange folder (test temp files)
    exchange_source: str = ""              # what is bound there (default: exchange_dir itself)
    disk_dir: str = ""                     # a private tmpfs from private_disk(): work/, tmp/, shm/, exchange/
    hostname: str = "sandbox"
    data_dir: str | None = None            # bound read-only at <WORKDIR>/data
    extra_files: dict[str, bytes] = field(default_factory=dict)  # written into /work
    readable: list[str] = field(default_factory=list)            # extra read-only binds
    hide: list[str] = field(default_factory=list)                # never bind anything inside these


_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxUnavailable(f"{what} was refused by the OS: {os.strerror(err)} (errno {err})")


def unshare(flags: int, what: str) -> None:
    _check(_lib().unshare(flags), f"unshare({what})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_lib().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or fstype} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_lib().umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    nr = _SYS_PIVOT_ROOT.get(platform.machine())
    if nr is None:
        raise SandboxUnavailable(f"pivot_root is not known for {platform.machine()}")
    _check(_lib().syscall(nr, new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, arg: int) -> None:
    _check(_lib().prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def drop_capabilities() -> None:
    """Clear every capability set (used inside a user namespace, where setuid alone cannot)."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)
    data = (Data * 2)()
    _check(_lib().capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _system_binds(spec: SandboxSpec) -> list[str]:
    """Host paths the student may read: system dirs, the interpreter, site-packages."""
    return list(system_binds(tuple(spec.readable), tuple(spec.hide)))


@functools.lru_cache(maxsize=16)
def system_binds(readable: tuple[str, ...], hide: tuple[str, ...]) -> tuple[str, ...]:
    """The read-only binds of every sandbox and judge root with these ``readable`` and ``hide`` paths.

    Worked out once per warm parent (the fork server calls it before it forks an executor, so every
    kernel and judge inherits the answer instead of walking sys.path and site-packages again): the
    host's system folders and this interpreter's paths do not change while a server runs, and the
    course to hide is part of the key."""
    candidates = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc"]
    candidates += [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]
    candidates += [p for p in sys.path if p and os.path.isdir(p)]
    candidates += list(readable)
    hidden = [os.path.realpath(h) for h in hide]
    chosen: list[str] = []
    for path in candidates:
        if os.path.islink(path):
            continue  # e.g. /bin -> usr/bin on merged-/usr systems; recreated as a link below
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            continue
        if any(_inside(h, real) for h in hidden) or _holds_a_course(real):
            continue  # binding it would expose a whole course (e.g. a checkout on sys.path)
        if any(_inside(real, h) and not _allowed_inside(real, h) for h in hidden):
            continue  # a secret part of the course
        if any(_inside(real, c) for c in chosen):
            continue
        chosen = [c for c in chosen if not _inside(c, real)] + [real]
    return tuple(sorted(chosen))


def _holds_a_course(path: str) -> bool:
    """A folder that is, or directly contains, a course directory (source/ + nbgrader_config.py)."""
    if os.path.exists(os.path.join(path, "nbgrader_config.py")):
        return True
    try:
        return any(os.path.exists(os.path.join(path, entry, "nbgrader_config.py")) for entry in os.listdir(path))
    except OSError:
        return False


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _allowed_inside(path: str, course_root: str) -> bool:
    """A path inside the course dir is readable only when it is an installed environment (a venv)."""
    rel = os.path.relpath(path, course_root).split(os.sep)
    return rel[0] not in ("", ".") and rel[0] not in COURSE_FOLDERS and \
        os.path.exists(os.path.join(course_root, rel[0], "pyvenv.cfg"))


def enter(spec: SandboxSpec, as_root: bool, on_child=None, pid_ns_ready: bool = False) -> None:
    """Isolate the calling (forked, single-threaded) process. Call before the student's first cell.

    After this returns the caller is PID 1 of a new PID namespace, inside the new
    root, in /home/student, as an unprivileged user. Its parent (the intermediate
    process) only waits and exits with the child's status.
    """
    outer_uid, outer_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | (0 if pid_ns_ready else CLONE_NEWPID)
    if not as_root:
        flags |= CLONE_NEWUSER
    unshare(flags, "mount, network, IPC, UTS and PID namespaces" + ("" if as_root else " with a user namespace"))
    if not as_root:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {outer_uid} 1")
        _write("/proc/self/gid_map", f"0 {outer_gid} 1")

    if not pid_ns_ready:
        _become_pid_one(on_child)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _build_root(spec, as_root)


def _become_pid_one(on_child) -> None:
    """After unshare(CLONE_NEWPID) only children enter the new namespace: fork, and let the parent wait."""
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid:
        # intermediate: tell the executor the student's host pid, then mirror its fate
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.close(go_r)
        if on_child is not None:
            on_child(pid)
        os.close(go_w)  # only now may the child speak: its first word must come after ours
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)

    os.close(go_w)
    os.read(go_r, 1)  # returns at EOF, once the intermediate has reported our pid
    os.close(go_r)


def _build_root(spec: SandboxSpec, as_root: bool) -> None:
    binds = _system_binds(spec)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = spec.root_dir
    # the new root is a small tmpfs on an empty directory: seen only in this mount namespace
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    if spec.disk_dir:
        scratch = spec.disk_dir  # the executor's private tmpfs, shared with the judge's exchange folder
    else:
        scratch = root + "/.scratch"
        os.mkdir(scratch)
        mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec.limits.disk_bytes},mode=0777")
        _disk_folders(scratch)
    for d in (WORKDIR, "/tmp", "/dev/shm", "/proc", "/.old"):
        os.makedirs(root + d, exist_ok=True)
    # the writable places first, so that a read-only bind inside them (a venv under /tmp) stays on top
    mount(f"{scratch}/work", root + WORKDIR, None, MS_BIND)
    mount(f"{scratch}/tmp", f"{root}/tmp", None, MS_BIND)
    mount(f"{scratch}/shm", f"{root}/dev/shm", None, MS_BIND)
    for host in binds:
        target = root + host
        os.makedirs(target, exist_ok=True)
        mount(host, target, None, MS_BIND | MS_REC)
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if spec.exchange_dir:
        # where the judge's tempfile.mkdtemp() points: a test may hand a student function a path to write
        os.makedirs(root + spec.exchange_dir, exist_ok=True)
        mount(spec.exchange_source or spec.exchange_dir, root + spec.exchange_dir, None, MS_BIND)
        mount(None, root + spec.exchange_dir, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV)
    for link in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(link) and not os.path.exists(root + link):
            os.symlink(os.readlink(link), root + link)
    for dev in ("null", "zero", "random", "urandom"):
        open(f"{root}/dev/{dev}", "w").close()
        mount(f"/dev/{dev}", f"{root}/dev/{dev}", None, MS_BIND)
    if spec.data_dir:
        os.makedirs(f"{root}{WORKDIR}/data", exist_ok=True)
        mount(spec.data_dir, f"{root}{WORKDIR}/data", None, MS_BIND | MS_REC)
        mount(None, f"{root}{WORKDIR}/data", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name, content in spec.extra_files.items():
        path = Path(root + WORKDIR, name)
        path.write_bytes(content)
        if as_root:
            os.chown(path, spec.uid, spec.uid)
    sethostname(spec.hostname)

    _switch_root(root, WORKDIR)

    set_limits(spec)
    if as_root:
        try:
            os.setgroups([])
            os.setresgid(spec.uid, spec.uid, spec.uid)
            os.setresuid(spec.uid, spec.uid, spec.uid)
        except OSError as exc:
            raise SandboxUnavailable(
                f"switching to the unprivileged user {spec.uid} was refused by the OS ({exc.strerror}); "
                "this happens in containers that map a single user id") from None
    else:
        # inside our user namespace we are "root" over our own mounts: give that up
        unshare(CLONE_NEWUSER, "a nested user namespace")
        drop_capabilities()
    # a change of uid clears the parent-death signal: set it again, so a hard-killed executor takes
    # the kernel (PID 1 of its namespace, hence everything in it) along
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def _disk_folders(scratch: str) -> None:
    for sub in ("work", "tmp", "shm", "exchange"):
        os.mkdir(f"{scratch}/{sub}", 0o777)
        os.chmod(f"{scratch}/{sub}", 0o777 if sub == "work" else 0o1777)


def private_disk(mountpoint: str, disk_bytes: int) -> str:
    """Enter a mount namespace of our own and mount the submission's disk on ``mountpoint``.

    Only root can do this (otherwise :class:`SandboxUnavailable`). The host keeps
    seeing an empty ``mountpoint``: whatever is written there lives in this
    namespace and the kernel's copy of it and is freed with the last of them.
    Returns ``mountpoint``, holding ``work/``, ``tmp/``, ``shm/`` and ``exchange/``.
    """
    unshare(CLONE_NEWNS, "a mount namespace for the executor")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", mountpoint, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_bytes},mode=0755")
    _disk_folders(mountpoint)
    os.mkdir(f"{mountpoint}/root", 0o700)
    os.mkdir(f"{mountpoint}/judge", 0o700)
    return mountpoint


def _switch_root(root: str, cwd: str) -> None:
    """Make ``root`` (with an empty ``.old`` inside) this process's read-only root; the old one is gone."""
    os.chdir(root)
    pivot_root(".", ".old")
    os.chroot(".")
    umount("/.old", MNT_DETACH)
    os.rmdir("/.old")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(cwd)


def confine_judge(disk_dir: str, kernel_uid: int, limits: Limits, hide: list[str]) -> None:
    """Take the executor's privileges away once it has read the kit and the notebook.

    Call after :func:`private_disk` and after the kernel was forked. The calling
    process gets a root holding only the system directories, the interpreter and
    site-packages (read-only, as the kernel has them), ``/dev/null``-like devices
    and the exchange folder at :data:`EXCHANGE`; the course, ``/root``,
    ``/home`` and the host's ``/tmp`` are not there. It then runs as
    ``kernel_uid + JUDGE_UID_OFFSET`` (its real uid stays the kernel's, so that it
    can still interrupt and end the kernel: the kernel, in its own PID namespace,
    cannot see it), with no capabilities, ``no_new_privs``, not dumpable, and its
    own address-space, CPU-time and file-size limits (the kernel's, from ``limits``). Files already open (the
    result file, the cells log, the kernel's pipes) stay usable.
    """
    spec = SandboxSpec(uid=kernel_uid, limits=limits, hide=hide)
    mapped = _mapped_bytes()  # read now: the new root has no /proc (an address-space limit of 0 + memory
    #                           would be below what the warm interpreter already maps: any growth would fail)
    binds = _system_binds(spec)
    root = f"{disk_dir}/judge"
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for host in binds:
        target = root + host
        os.makedirs(target, exist_ok=True)
        mount(host, target, None, MS_BIND | MS_REC)
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for link in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(link) and not os.path.exists(root + link):
            os.symlink(os.readlink(link), root + link)
    os.makedirs(root + "/dev", exist_ok=True)
    for dev in ("null", "zero", "random", "urandom"):
        open(f"{root}/dev/{dev}", "w").close()
        mount(f"/dev/{dev}", f"{root}/dev/{dev}", None, MS_BIND)
    # no /proc in the judge; torch's CPU detection reads /proc/cpuinfo, so it gets a plain copy of that one file
    os.makedirs(root + "/proc")
    try:
        with open("/proc/cpuinfo", "rb") as src, open(root + "/proc/cpuinfo", "wb") as dst:
            dst.write(src.read(256 << 10))
    except OSError:
        pass
    judge_uid = kernel_uid + JUDGE_UID_OFFSET
    os.makedirs(root + JUDGE_GIVEN)
    mount("tmpfs", root + JUDGE_GIVEN, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size=16m,mode=0700,uid={judge_uid},gid={judge_uid}")
    os.makedirs(root + EXCHANGE)
    mount(f"{disk_dir}/exchange", root + EXCHANGE, None, MS_BIND)
    mount(None, root + EXCHANGE, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.mkdir(root + "/.old")
    _switch_root(root, "/")
    used_cpu = int(sum(os.times()[:2])) + 1
    rlimits = [
        (resource.RLIMIT_AS, mapped + limits.memory_bytes),
        (resource.RLIMIT_CPU, used_cpu + max(1, limits.cpu_seconds)),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in rlimits:
        resource.setrlimit(which, (value, value))
    try:
        os.setgroups([])
        os.setresgid(judge_uid, judge_uid, judge_uid)
        os.setresuid(kernel_uid, judge_uid, judge_uid)  # leaving uid 0 clears every capability
    except OSError as exc:
        raise SandboxUnavailable(f"switching the judge to the unprivileged user {judge_uid} was refused by the OS "
                                 f"({exc.strerror})") from None
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def sethostname(name: str) -> None:
    data = name.encode()
    _check(_lib().sethostname(data, len(data)), "sethostname")


def set_limits(spec: SandboxSpec) -> None:
    """Kernel-enforced limits. Memory is counted on top of what the warm interpreter already maps."""
    current = _mapped_bytes()
    limits = [
        (resource.RLIMIT_AS, current + spec.limits.memory_bytes),
        (resource.RLIMIT_CPU, max(1, spec.limits.cpu_seconds)),
        (resource.RLIMIT_NPROC, spec.limits.processes),
        (resource.RLIMIT_FSIZE, spec.limits.file_size_bytes),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    # a file over the limit is an error the student sees, not a silent kill
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
        return pages * resource.getpagesize()
    except OSError:
        return 0


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError as exc:
        raise SandboxUnavailable(f"writing {path} was refused by the OS: {exc.strerror}") from None


def probe(as_root: bool | None = None) -> str | None:
    """Try the whole isolation once in a throw-away child. None when it works, else the reason."""
    if as_root is None:
        as_root = os.geteuid() == 0
    import shutil
    import tempfile

    root_dir = tempfile.mkdtemp(prefix="autograder-probe-")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            spec = SandboxSpec(uid=SANDBOX_UID_BASE + 99_999, root_dir=root_dir,
                               limits=Limits(memory_mb=1024, cpu_time=5, processes=16, file_size_mb=1, disk_mb=1))
            enter(spec, as_root)
            os.write(w, b"ok")
        except BaseException as exc:  # noqa: BLE001 - report anything as the reason
            os.write(w, str(exc).encode()[:1000] or type(exc).__name__.encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    shutil.rmtree(root_dir, ignore_errors=True)
    message = b"".join(chunks).decode(errors="replace")
    return None if message == "ok" else (message or "the sandbox probe died without a word")
