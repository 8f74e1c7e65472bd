"""gateway/ is headless: it never imports textual, admin_tui or plugins (it loads plugins by
entry point). Checked on the source, so an import inside a function is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("textual", "admin_tui", "plugins")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "path", sorted((ROOT / "gateway").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_gateway_module_has_no_forbidden_imports(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN}
    assert bad == set()


def test_the_check_sees_imports() -> None:
    """Guard against a checker that silently finds nothing."""
    assert "gateway.spool" in imported_modules(ROOT / "gateway" / "worker.py")
