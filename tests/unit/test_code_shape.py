"""The size rule of docs/code.md: a module within 400 lines and a function within 60,
unless the doc's table names it with a reason; and the table names nothing that keeps
the rule (so it cannot go stale)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_LINES = 400
FUNCTION_LINES = 60
EXEMPT = ("tests/", "bench/")  # procedures, read top to bottom (docs/code.md)


def _modules() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(
        path for path in listed if not path.startswith(EXEMPT) and (REPO_ROOT / path).exists()
    )


def over_the_limits(root: Path, paths: list[str]) -> set[str]:
    found = set()
    for path in paths:
        source = (root / path).read_text()
        if len(source.splitlines()) > MODULE_LINES:
            found.add(path)
        for node in ast.walk(ast.parse(source)):
            function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if function and node.end_lineno - node.lineno + 1 > FUNCTION_LINES:
                found.add(f"{path}: {node.name}")
    return found


def documented() -> set[str]:
    text = (REPO_ROOT / "docs" / "code.md").read_text()
    table = text.split("## The size rule", 1)[1]
    return set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))


def test_every_module_and_function_over_the_limit_is_documented_and_no_more():
    found, listed = over_the_limits(REPO_ROOT, _modules()), documented()
    assert found - listed == set(), "over the limit, not in docs/code.md's table"
    assert listed - found == set(), "in docs/code.md's table, but within the limit now"


def test_the_measure_sees_a_long_module_and_a_long_function(tmp_path):
    fits = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES - 1))
    too_long = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (tmp_path / "short.py").write_text(f"def fits():\n{fits}\n")
    (tmp_path / "long.py").write_text(
        f"def too_long():\n{too_long}\n" + "\n" * (MODULE_LINES - FUNCTION_LINES)
    )
    assert over_the_limits(tmp_path, ["short.py", "long.py"]) == {"long.py: too_long", "long.py"}
