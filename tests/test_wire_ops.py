"""The kernel protocol's operations are one closed list (autograder/engine/wire.py ``Op``), fast tier."""
from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

from autograder.engine.wire import Op

ENGINE = Path(__file__).resolve().parents[1] / "autograder" / "engine"


def test_a_frame_carries_the_word_itself():
    assert json.dumps({"op": Op.DONE}) == '{"op": "done"}'
    assert json.loads(json.dumps({"op": Op.VALUE}))["op"] == Op.VALUE
    assert pickle.loads(pickle.dumps((Op.EXEC, "x = 1")))[0] is Op.EXEC


def test_every_operation_is_a_distinct_word():
    assert len({op.value for op in Op}) == len(Op)


def _bare_ops(tree: ast.AST) -> list[str]:
    """String constants used as an operation: the value of an "op" key, or compared with a frame's op."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "op" and isinstance(value, ast.Constant):
                    found.append(f"line {node.lineno}: {{'op': {value.value!r}}}")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            names = [s for s in sides if isinstance(s, ast.Name) and s.id == "op"]
            calls = [s for s in sides if isinstance(s, ast.Call) and any(
                isinstance(a, ast.Constant) and a.value == "op" for a in s.args)]
            words = [s for s in sides if isinstance(s, ast.Constant) and s.value in {o.value for o in Op}]
            if (names or calls) and words:
                found.append(f"line {node.lineno}: compares an op with {words[0].value!r}")
    return found


def test_the_engine_spells_no_operation_as_a_bare_string():
    found = {path.name: _bare_ops(ast.parse(path.read_text(encoding="utf-8"))) for path in ENGINE.glob("*.py")}
    assert not {k: v for k, v in found.items() if v}


def test_the_checker_sees_a_bare_operation():
    source = 'write({"op": "done"})\nif op == "exec":\n    pass\nif frame.get("op") != "value":\n    pass\n'
    assert len(_bare_ops(ast.parse(source))) == 3
