"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured), real spools,
configs written to disk and read back the way users' configs are."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gateway.app import App, build_app
from gateway.config import Config, load_config
from gateway.crm.db import upgrade

# Tests never load whatever plugins happen to be installed (entry points): each test registers
# the plugins it tests. Set here, before any test runs, so bccrm processes tests start inherit it.
os.environ["BCCRM_ENTRY_POINTS"] = "off"

PG_ENV = "BCCRM_TEST_DATABASE_URL"
PG_URL = os.environ.get(PG_ENV, "")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"bccrm: PostgreSQL tests against {PG_URL.rpartition('@')[2]}"
    return f"bccrm: PostgreSQL tests skipped ({PG_ENV} is not set)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    skip = pytest.mark.skip(reason=f"{PG_ENV} is not set (CI sets it)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file in ``directory``, or a private PostgreSQL
    schema dropped on exit."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'bccrm.db'}"
        return
    schema = f"bccrm_test_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private PostgreSQL schema."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: plugin = { webhook = { url = "…" } }
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def write_config(path: Path, sections: dict[str, Any]) -> Path:
    """Write TOML; a list of tables becomes ``[[section]]`` entries."""
    lines = []
    for section, values in sections.items():
        tables = values if isinstance(values, list) else [values]
        for table in tables:
            lines.append(f"[[{section}]]" if isinstance(values, list) else f"[{section}]")
            lines.extend(f"{key} = {toml_value(value)}" for key, value in table.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path, database_url: str) -> ConfigFactory:
    """Write a bccrm.toml into tmp_path (overrides per section) and load it."""

    def make(**overrides: Any) -> Config:
        sections: dict[str, Any] = {
            "gateway": {"host": "127.0.0.1", "port": 0, "hostname": "bccrm.test"},
            "spool": {"path": "spool"},
            "worker": {"retry_delay": 0, "poll_interval": 0.05},
            "database": {"url": database_url},
            "organization": {"domains": ["example.com"], "default_region": "PL"},
            "logging": {"addresses": ["log@crm.example.com"]},
        }
        for section, values in overrides.items():
            if isinstance(values, list):
                sections[section] = values
            else:
                sections.setdefault(section, {}).update(values)
        return load_config(write_config(tmp_path / "bccrm.toml", sections))

    return make


@pytest.fixture
def config(make_config: ConfigFactory) -> Config:
    return make_config()


@pytest.fixture
def app(config: Config) -> Iterator[App]:
    """A bccrm app on a migrated, empty database with an empty spool."""
    instance = build_app(config)
    upgrade(instance.engine)
    instance.spool.ensure()
    yield instance
    instance.close()


@pytest.fixture(autouse=True)
def _restore_bccrm_logging() -> Iterator[None]:
    """``bccrm`` CLI calls point the logger at the current stderr; put it back afterwards so a
    later test never writes to a closed capture stream."""
    logger = logging.getLogger("bccrm")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
