"""What hostile code looks like: a scan of the student's cells, run on the trusted side.

This does not protect anything (the sandbox and the judge do); it tells the
instructor what a submission tried, for the ``attack`` flag. Each rule is a
regular expression and the plain words shown in the flag. Honest course code
(training loops, seeding, plotting, DataLoader workers) must not match.
"""
from __future__ import annotations

import re

from coursebase.layout import SECRET_DIRS, SECRET_FILES


def _course_files() -> str:
    """A parent folder, the gradebook, a secret file by name, or a secret folder as a path part."""
    files = [re.escape(name) for name in sorted(SECRET_FILES)]
    folders = [rf"(?<![\w.-]){re.escape(name)}/" for name in sorted(SECRET_DIRS - {"private", "source"})]
    return "|".join([r"\.\./", "/source/", "gradebook", *files, *folders])

RULES: list[tuple[re.Pattern, str]] = [(re.compile(p, re.MULTILINE), words) for p, words in [
    (r"input_transformers|ast_transformers|input_splitter", "rewrites cells before they run (IPython transformers)"),
    (r"\bshowtraceback\b|_showtraceback|set_custom_exc|sys\.excepthook", "replaces error reporting"),
    (r"sys\.settrace|sys\.setprofile|threading\.settrace", "installs a tracer"),
    (r"\b(?:torch|np|numpy|math|builtins|unittest|pytest)\s*\.\s*(?:testing\s*\.\s*)?"
     r"(?:allclose|isclose|equal|array_equal|all|any|eq|isfinite|assert\w*)\s*=(?!=)",
     "replaces a function tests use"),
    (r"__builtins__|\bimport\s+builtins|from\s+builtins\s+import", "reaches into builtins"),
    (r"def\s+__(?:eq|ne|bool|float|int|index|hash|len)__\s*\(", "defines an object that can lie in comparisons"),
    (_course_files(), "looks for course files"),
    (r"\bimport\s+socket\b|socket\.socket|urllib\.request|\brequests\.(?:get|post)|http\.client",
     "tries the network"),
    (r"subprocess|os\.system|os\.popen|os\.spawn|os\.exec\w*\(|\bnohup\b|os\.setsid|daemon\s*=\s*True",
     "starts other programs"),
    (r"os\._exit|os\.kill|signal\.SIGKILL|ctypes\.string_at|faulthandler\._sigsegv", "kills or crashes its kernel"),
    (r"gc\.get_objects|gc\.get_referrers|sys\._getframe|inspect\.stack", "searches the interpreter's memory"),
    (r"os\.fork\b", "forks its kernel"),
    (r"os\.symlink|os\.link\b|\.symlink_to\(|\.hardlink_to\(|os\.mkfifo|os\.mknod",
     "plants links or special files for the grader to open"),
    (r"(?:\*\*\s*9|\*\s*1024\s*\*\s*1024\s*\*\s*1024|os\.urandom\(\s*\d{7,}|fallocate|\.truncate\(\s*\d{8,})",
     "writes or allocates huge amounts"),
    (r"get_ipython\(\)\s*\.\s*(?:events|run_cell|user_ns_hidden|kernel|displayhook|display_pub)",
     "hooks the notebook runner"),
]]


def scan_source(source: str) -> list[str]:
    """Plain-words findings for one cell's code; empty for ordinary course work."""
    found = []
    for pattern, words in RULES:
        match = pattern.search(source)
        if match and words not in found:
            found.append(f"{words} (`{match.group(0).strip()[:60]}`)")
    return found
