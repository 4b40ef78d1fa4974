"""The instructor's cells as the judge runs them: parsed and compiled once, when the kit is built.

The judge runs two kinds of instructor cells, a test cell (hidden tests included) and a given
cell (the instructor's data). From a cell's text this module derives everything the judge needs:
its code objects (:func:`compile_test`, :func:`compile_given`), the names it binds at top level
(:func:`bound_names`) and its imports (:func:`import_statements`). Every function is pure.

:class:`Compiled` holds all of it for one assignment. ``autograder grade`` builds it with the
kit (:mod:`autograder.kits`), which carries it, marshalled, to every executor: an executor then
parses and compiles none of the instructor's cells, which it otherwise did once per submission
(5-12 ms of a 100-200 ms submission, in a freshly forked process).

Exactness: what an executor takes from :class:`Compiled` is what it would build itself, by the
same functions, with the same file names and compiler flags. An entry is found by the cell's
whole text (its SHA-256) and its name, so a cell that is not in it, or differs by one character,
is compiled afresh, as is everything when the blob was written by another Python (marshal's
format belongs to one version: the blob starts with ``importlib.util.MAGIC_NUMBER``) or cannot
be read. The kit is the instructor's private file, written by ``grade`` itself: nothing marshalled
here ever came from a student.
"""
from __future__ import annotations
import __future__

import ast
import base64
import binascii
import functools
import hashlib
import importlib.util
import marshal
import types
from collections.abc import Iterable

# tests and given cells have always been compiled with the judge module's own future import
# (``annotations``: an annotation in a test is never evaluated); said here, not inherited
FLAGS = __future__.annotations.compiler_flag
MAGIC = importlib.util.MAGIC_NUMBER.hex()

ImportStatement = tuple[str, "str | None", "str | None"]


def judged_name(grade_id: str) -> str:
    """The name a test cell runs under in the judge (its code's file name is ``<test:grade_id>``)."""
    return f"test:{grade_id}"


def compile_test(source: str, name: str) -> tuple[types.CodeType, types.CodeType | None]:
    """A test cell as the judge runs it: its statements, then (as nbgrader reads a cell's value) its
    last expression on its own, or None when the cell does not end in one (or ends with ``;``).
    The file name is ``<name>``. SyntaxError if the cell is not Python even after IPython's transforms."""
    text, parsed = parsed_cell(source)
    body = list(parsed.body)   # the parsed tree is shared (cached): never changed
    last = None
    final = body[-1] if body else None
    if isinstance(final, ast.Expr) and not text.rstrip().endswith(";"):
        body.pop()
        last = compile(ast.Expression(final.value), f"<{name}>", "eval", FLAGS, dont_inherit=True)
    return compile(ast.Module(body=body, type_ignores=[]), f"<{name}>", "exec", FLAGS, dont_inherit=True), last


def compile_given(source: str, grade_id: str) -> types.CodeType:
    """A given cell as the judge runs it (file name ``<given:grade_id>``); SyntaxError as above."""
    return compile(parsed_cell(source)[1], f"<given:{grade_id}>", "exec", FLAGS, dont_inherit=True)


def bound_names(source: str) -> set[str]:
    """Names a cell binds at its top level: assignments, imports, def, class, for/with/except targets.

    Bindings inside functions, classes, lambdas and comprehensions are their own and not counted.
    """
    try:
        tree = parsed_cell(source)[1]
    except SyntaxError:
        return set()
    names: set[str] = set()
    scoped = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, scoped):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    names.discard("*")
    return names


def import_statements(source: str) -> tuple[ImportStatement, ...]:
    """Every absolute import anywhere in the cell, in the order of ``ast.walk``, as (module, name, alias):
    ``import a.b as c`` is ("a.b", None, "c"), ``from a import b as c`` is ("a", "b", "c"). Empty
    for a cell that is not Python."""
    try:
        tree = parsed_cell(source)[1]
    except SyntaxError:
        return ()
    found: list[ImportStatement] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None, alias.asname) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend((node.module, alias.name, alias.asname) for alias in node.names)
    return tuple(found)


@functools.lru_cache(maxsize=512)
def parsed_cell(source: str) -> tuple[str, ast.Module]:
    """A cell as Python: (its text, its tree), IPython syntax (magics) turned into Python as the
    notebook kernel would; SyntaxError if even that does not parse.

    Parsed once per source in this process; callers never change the tree.
    """
    try:
        return source, ast.parse(source)   # plain Python: nothing to transform
    except SyntaxError:
        pass
    code = source
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        code = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        pass
    return code, ast.parse(code)


def _key(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


class Compiled:
    """The judge's view of one assignment's instructor cells, found by text and name (see the module)."""

    def __init__(self, entries: dict | None = None):
        self._entries: dict = entries or {}
        self.hits = 0   # how many answers came from the kit, not from compiling here

    @classmethod
    def build(cls, tests: Iterable[tuple[str, str]], given: Iterable[tuple[str, str]],
              locked: Iterable[str]) -> "Compiled":
        """``tests``: (source, name) with the name the judge runs it under; ``given``: (source, grade_id);
        ``locked``: the sources whose names and imports the judge reads. A cell that is not Python is
        left out (the judge reports it as it runs)."""
        entries: dict = {}
        for source, name in tests:
            try:
                entries[("test", name, _key(source))] = compile_test(source, name)
            except SyntaxError:
                pass
        for source, grade_id in given:
            try:
                entries[("given", grade_id, _key(source))] = compile_given(source, grade_id)
            except SyntaxError:
                pass
        for source in locked:
            entries[("names", _key(source))] = tuple(sorted(bound_names(source)))
            entries[("imports", _key(source))] = import_statements(source)
        return cls(entries)

    def dumps(self) -> str:
        """Text for the kit's JSON: this Python's magic number, then the marshalled entries."""
        return f"{MAGIC}:{base64.b64encode(marshal.dumps(self._entries)).decode('ascii')}"

    @classmethod
    def loads(cls, text: str) -> "Compiled":
        """The entries of :meth:`dumps`; empty (everything compiled afresh) when written by another Python
        or unreadable."""
        magic, _, blob = (text or "").partition(":")
        if magic != MAGIC or not blob:
            return cls()
        try:
            entries = marshal.loads(base64.b64decode(blob, validate=True))
        except (ValueError, EOFError, TypeError, binascii.Error):
            return cls()
        return cls(entries if isinstance(entries, dict) else None)

    def _get(self, key: tuple, make):
        hit = self._entries.get(key)
        if hit is None:
            return make()
        self.hits += 1
        return hit

    def test(self, source: str, name: str) -> tuple[types.CodeType, types.CodeType | None]:
        return self._get(("test", name, _key(source)), lambda: compile_test(source, name))

    def given(self, source: str, grade_id: str) -> types.CodeType:
        return self._get(("given", grade_id, _key(source)), lambda: compile_given(source, grade_id))

    def names(self, source: str) -> set[str]:
        return set(self._get(("names", _key(source)), lambda: bound_names(source)))

    def imports(self, source: str) -> tuple[ImportStatement, ...]:
        return self._get(("imports", _key(source)), lambda: import_statements(source))
