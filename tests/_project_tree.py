"""The project's own modules, as the structure tests (test_layers, test_code_map) read them."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# lower number = lower layer; a package may import its own modules and those of lower layers only
LAYERS = {"coursebase": 0, "autograder": 1, "leaderboard": 1, "finalgrades": 2, "portal": 3, "classroom": 4}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Dotted name -> file of every module in a package folder (migrations and the demo's links to the
    course files, which sit in no package, left out)."""
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts and (path.parent / "__init__.py").exists():
                found[module_name(path)] = path
    return found
