"""The released cells as the kernel runs them: compiled once, with the kit, as IPython compiles them.

The kernel runs two kinds of cells every student has the same text for: a test's visible part
and a given (locked) cell. IPython parses each such cell and compiles it statement by statement
in every kernel, once per submission (7 of a 01_tensors kernel's 45 ms of CPU, most of it for
these cells). :func:`compile_cell` does that work once, when ``grade`` builds the kit, with
IPython's own pieces: its transforms (``TransformerManager``) give the text the kernel would
parse, its compiler (``CachingCompiler``, with the flags a fresh shell compiles with: top-level
``await`` allowed) gives one code object per top-level statement, in the mode IPython's
``run_ast_nodes`` picks for it (``single`` for a last expression, so its value is shown).

Only public text is compiled here, never a hidden test: the executor sends the kernel the entry
of the cell it is about to run. The kernel uses it only where it would have compiled the same
thing (:mod:`autograder.engine.kernel` checks the cell's transformed text, the compiler's flags,
``ast_node_interactivity``, ``autoawait`` and the AST transformers; a student cell can change
any of them) and otherwise compiles as before. A cell is left out when it is not plain Python,
warns while compiling (IPython would show the warning), or holds ``await``/``async``.

The kit keeps the entries marshalled, each on its own, with this Python's magic number and
IPython's version: entries written by another Python or IPython are not used.
"""
from __future__ import annotations

import ast
import base64
import binascii
import importlib.util
import marshal
import types
import warnings
from collections.abc import Iterable
from typing import Any

# (the cell's text after IPython's transforms, one (is it an expression, mode, code) per statement)
Entry = tuple[str, tuple[tuple[bool, str, types.CodeType], ...]]
PLACEHOLDER = "<released cell>"   # the kernel renames the code to IPython's name for the cell


def stamp() -> str:
    """Whose format an entry is in: this Python's magic number and this IPython."""
    import IPython

    return f"{importlib.util.MAGIC_NUMBER.hex()}/{IPython.__version__}"


def compile_cell(source: str) -> Entry | None:
    """The cell as a fresh IPython shell would compile it, or None where that is not known in advance."""
    from IPython.core.compilerop import CachingCompiler
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # a warning IPython would show: leave the cell to the kernel
            text = TransformerManager().transform_cell(source)
            if any(word in cell for word in ("await", "async") for cell in (source, text)):
                return None   # the kernel may run it asynchronously (kernel._sync_unless_await)
            nodes = ast.parse(text).body
            if not nodes:
                return None
            compiler = CachingCompiler()
            last = isinstance(nodes[-1], ast.Expr)
            codes = []
            for i, node in enumerate(nodes):
                single = last and i == len(nodes) - 1
                mod: Any = ast.Interactive([node]) if single else ast.Module([node], [])
                with compiler.extra_flags(ast.PyCF_ALLOW_TOP_LEVEL_AWAIT):
                    code = compiler(mod, PLACEHOLDER, "single" if single else "exec")
                codes.append((isinstance(node, ast.Expr), "single" if single else "exec", code))
    except (SyntaxError, ValueError, Warning):
        return None
    return text, tuple(codes)


def build(sources: Iterable[str]) -> str:
    """Text for the kit: the stamp, then each compiled cell by its source, marshalled on its own."""
    entries = {}
    for source in sources:
        entry = compile_cell(source)
        if entry is not None:
            entries[source] = marshal.dumps(entry)
    return f"{stamp()}:{base64.b64encode(marshal.dumps(entries)).decode('ascii')}"


def load(text: str) -> dict[str, bytes]:
    """Source -> the marshalled entry the executor forwards to the kernel; empty when the kit was
    written by another Python or IPython, or cannot be read."""
    head, _, blob = (text or "").rpartition(":")
    if not head or head != stamp():
        return {}
    try:
        entries = marshal.loads(base64.b64decode(blob, validate=True))
    except (ValueError, EOFError, TypeError, binascii.Error):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, bytes)}


def renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """``code`` and every code object inside it (functions, classes, comprehensions) under ``filename``."""
    consts = tuple(renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)
