"""The audit hook and what is observed from outside the sandbox, without a whole grading batch.

(The end-to-end cases, silenced hooks graded in a batch, are in test_wire.py.)
"""
from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import sys

import pytest

from autograder.engine import kernel_client, sandbox

HOOKED = r"""
import json, os, socket, sys
from autograder.engine import kernel
r, w = os.pipe()
kernel._install_audit(w)
# what used to switch the hook off, or blind it, no longer exists to be switched; rebinding the
# module's names, os.write, json.dumps or a builtin after the hook is installed changes nothing
kernel._quiet = True
kernel._INSTALLED = ("/",)
kernel.AUDIT_EVENTS.clear()
kernel._looks_for_course_files = lambda *a, **k: False
kernel._SECRET_DIRS = kernel._SECRET_FILES = frozenset()
kernel.AUDIT_CHECK = "something else"
real_write, real_read = os.write, os.read
os.write = lambda *a: 0
json.dumps = lambda *a, **k: "{}"
import builtins
real_isinstance = builtins.isinstance
builtins.isinstance = lambda *a: False
try:
    socket.socket().connect(("127.0.0.1", 9))
except OSError:
    pass
try:
    open("../source/ps1/ps1.ipynb")
except OSError:
    pass
sys.audit("autograder.audit_check", "nonce-123")  # what the kernel raises: its own name, bound at start
builtins.isinstance = real_isinstance
os.close(w)
print(json.JSONEncoder().encode([json.loads(line) for line in real_read(r, 1 << 16).decode().splitlines()]))
"""


def test_the_hook_has_no_module_global_to_switch_off():
    out = subprocess.run([sys.executable, "-c", HOOKED], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout.splitlines()[-1])
    names = [e["event"] for e in events]
    assert "socket.connect" in names
    assert {"event": "open", "detail": "../source/ps1/ps1.ipynb"} in events
    assert {"event": "check", "detail": "nonce-123"} in events
    assert all(set(e) == {"event", "detail"} for e in events)  # names only: the words are the executor's


def _unshare_net() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(sandbox.CLONE_NEWNET) == 0


@pytest.mark.parametrize("tries", [0, 3])
def test_network_attempts_are_counted_from_outside_the_namespace(tries):
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace without a user namespace")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ok = _unshare_net()
            os.write(ready_w, b"1" if ok else b"0")
            os.read(go_r, 1)
            for _ in range(tries):
                try:
                    socket.create_connection(("10.1.2.3", 80), timeout=1)
                except OSError:
                    pass
            os.write(ready_w, b"2")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    try:
        if os.read(ready_r, 1) != b"1":
            pytest.skip("network namespaces are not available here")
        before = kernel_client._network_attempts(pid)
        os.write(go_w, b"x")
        assert os.read(ready_r, 1) == b"2"
        after = kernel_client._network_attempts(pid)
        assert before == 0
        assert after >= tries and (after > 0) == (tries > 0)
    finally:
        os.write(go_w, b"x")
        os.waitpid(pid, 0)


def test_network_counters_of_a_gone_process_read_as_zero():
    assert kernel_client._network_attempts(2 ** 22 + 12345) == 0
