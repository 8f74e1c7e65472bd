"""admin_tui talks to the database only through gateway's service layer: of gateway it imports
only the composition root (gateway.app), configuration (gateway.config*) and the services
(gateway.services.*); never SQLAlchemy, aiosmtpd, the ORM (gateway.crm) or the CLI. Checked on
the source, so an import inside a function is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "admin_tui").rglob("*.py"))
FORBIDDEN = ("sqlalchemy", "aiosmtpd", "gateway.crm")
ALLOWED_GATEWAY = ("gateway.app", "gateway.config", "gateway.services")


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0:
                found.add(node.module)
                # ``from gateway import crm`` imports gateway.crm too
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)  # importlib.import_module("sqlalchemy")
    return found


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def forbidden(modules: set[str]) -> set[str]:
    """Modules admin_tui may not import. ``from gateway.services import x`` lists both
    ``gateway.services`` and ``gateway.services.x``; plain ``gateway`` is the package only."""
    found = {m for m in modules if _under(m, FORBIDDEN)}
    found |= {
        m
        for m in modules
        if m.startswith("gateway.")
        and not _under(m, ALLOWED_GATEWAY)
        and not m.startswith("gateway.config_")
    }
    return found


def test_there_are_sources_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"admin_tui/app.py", "admin_tui/screens/review.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_admin_tui_module_has_no_forbidden_imports(path: Path) -> None:
    assert forbidden(imported_modules(path.read_text(encoding="utf-8"))) == set()


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy",
        "import sqlalchemy.orm as orm",
        "from sqlalchemy.orm import Session",
        "import aiosmtpd.smtp",
        "from gateway.crm import ReviewItem",
        "from gateway.crm.questions import ask",
        "from gateway import crm",
        "def f():\n    from sqlalchemy import select\n",
        "import importlib\nimportlib.import_module('sqlalchemy')",
        "from gateway.cli.common import open_app",
        "from gateway.pipeline import Pipeline",
        "import gateway.spool",
    ],
)
def test_the_check_catches_forbidden_imports(source: str) -> None:
    """Guard against a checker that silently finds nothing."""
    assert forbidden(imported_modules(source)) != set()


@pytest.mark.parametrize(
    "source",
    [
        "from gateway.services.review import ReviewService",
        "import gateway.config",
        "from gateway.app import App",
        "import sqlalchemy_utils_like_name_is_not_it",
        "from gateway.services.contacts import ContactDirectory",
        "from gateway.config_privacy import LEGAL_BASES",
        "from gateway.app import login_actor, open_app",
    ],
)
def test_the_check_allows_the_service_layer(source: str) -> None:
    assert forbidden(imported_modules(source)) == set()
