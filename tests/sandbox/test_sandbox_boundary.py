"""The FIWARE sandbox is test and demo equipment: the product layers never import it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
PRODUCT_LAYERS = ("chronos_core", "tasks", "flows", "deployments")


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_product_layer_imports_the_sandbox() -> None:
    offenders = sorted(
        str(path.relative_to(ROOT))
        for layer in PRODUCT_LAYERS
        for path in (ROOT / layer).rglob("*.py")
        if any(m.split(".")[0] == "fiware_sandbox" for m in imported_modules(path))
    )
    assert offenders == []


def test_the_sandbox_is_not_inside_the_core() -> None:
    assert not (ROOT / "chronos_core" / "sandbox").exists()
