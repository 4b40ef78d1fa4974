"""The packages' layers (docs/architecture.md): every import runs downwards, and no two modules import each other.

Read from the source with ``ast`` (imports inside functions included), so an import added in
the wrong direction fails here in a second, before anyone has to untangle it.
"""
from __future__ import annotations

import ast
from pathlib import Path

from _project_tree import LAYERS, ROOT, project_modules


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from a import b`` counts a.b when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def test_the_layers_are_the_ones_the_architecture_note_names():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in LAYERS:
        assert f"{package}/" in text, f"docs/architecture.md does not place {package}/ in its layers"


def test_every_import_runs_downwards():
    wrong = []
    for name, targets in graph().items():
        package = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other == package:
                continue
            if LAYERS[other] >= LAYERS[package]:
                wrong.append(f"{name} imports {target} ({other} is not below {package})")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_engine_imports_nothing_of_the_course_commands():
    wrong = [f"{name} imports {target}" for name, targets in graph().items()
             if name.startswith("autograder.engine")
             for target in targets
             if target.startswith("autograder") and not target.startswith("autograder.engine")]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_two_modules_import_each_other():
    edges = graph()
    # every cycle shows up as a strongly connected component of more than one module (Tarjan)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not cycles, f"modules that import each other: {cycles}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The reader itself: a relative and a lazy import are both seen (else the tests above prove nothing)."""
    pkg = tmp_path / "coursebase"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("def f():\n    from autograder.engine import wire\n    from .y import z\n")
    known = {"coursebase", "coursebase.x", "coursebase.y", "autograder", "autograder.engine", "autograder.engine.wire"}
    found = imports_of("coursebase.x", pkg / "x.py", known)
    assert found == {"autograder.engine.wire", "coursebase.y"}
