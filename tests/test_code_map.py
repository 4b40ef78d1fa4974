"""The README's code map names every module of the project, and no module that is gone (fast tier)."""
from __future__ import annotations

import re

from _project_tree import LAYERS, ROOT, project_modules

PACKAGES = tuple(LAYERS)


def code_map() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Code map", 1)[1]
    return section.split("```", 2)[1]


def named_in_map(block: str) -> set[str]:
    """``folder/`` at a line's start sets the folder; each ``name.py`` after it is a module there."""
    named, folder = set(), None
    for line in block.splitlines():
        first = line.split()[0] if line.split() else ""
        if first.endswith("/"):
            folder = first
        if folder is None:
            continue
        for name in re.findall(r"(?<![\w/.])(\w+\.py)\b", line):
            named.add(folder + name)
    return named


def modules_in_tree() -> set[str]:
    return {path.relative_to(ROOT).as_posix() for path in project_modules().values() if path.name != "__init__.py"}


def test_the_code_map_matches_the_tree():
    named = {n for n in named_in_map(code_map()) if n.split("/")[0] in PACKAGES}
    tree = modules_in_tree()
    assert not tree - named, f"modules the README's code map does not name: {sorted(tree - named)}"
    assert not named - tree, f"the README's code map names modules that do not exist: {sorted(named - tree)}"


def test_the_map_reader_sees_folders_and_modules():
    block = "coursebase/  layout.py (where)  policy.py\n             late.py\nautograder/engine/ wire.py\n"
    assert named_in_map(block) == {"coursebase/layout.py", "coursebase/policy.py", "coursebase/late.py",
                                   "autograder/engine/wire.py"}
