"""The suite's own rules, checked so a whole run cannot break on what a single file's run
hides."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_imports_a_conftest_at_run_time() -> None:
    """Several folders have a ``conftest``; which one ``import conftest`` finds depends on
    what the run collected first, so a module that imports one passes alone and fails in
    the whole suite. Imports for type checking only are fine."""
    offenders = []
    for path in TESTS.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:  # module level, outside `if TYPE_CHECKING:`
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name.split(".")[0] == "conftest" for name in names):
                offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert offenders == []
