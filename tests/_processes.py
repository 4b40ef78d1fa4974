"""Processes a test run left behind: found by the tag its hostile code puts in names and command lines."""
from __future__ import annotations

import os
from pathlib import Path


def survivors(tag: str, comm_prefix: str) -> list[tuple[int, str]]:
    """Processes whose name is ``comm_prefix + tag`` or whose command line carries ``tag``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{comm_prefix}{tag}" in comm or tag in cmdline:
            found.append((int(entry), f"pid {entry} {comm!r}: {cmdline.strip()[:120]}"))
    return found
