"""Engine, sessions and schema migrations.

SQLite is the embedded default and is opened for durability and concurrency: WAL (readers do
not block the writer), ``synchronous=FULL`` (a commit survives power loss), a busy timeout (the
worker and the admin tools share the file) and foreign keys on. Engines hide bound parameters
in error messages so addresses and bodies never reach a log through an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import DatabaseConfig

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this version of bccrm needs."""


def make_engine(config: DatabaseConfig) -> Engine:
    """An engine for ``config.url`` with the per-backend settings bccrm relies on."""
    kwargs: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if config.url.startswith("sqlite"):
        path = config.url.partition(":///")[2]
        if path and not path.startswith(":memory:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": config.sqlite_busy_timeout}
        engine = create_engine(config.url, **kwargs)
        _configure_sqlite(engine, config.sqlite_busy_timeout)
        return engine
    return create_engine(config.url, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is disabled so that BEGIN is ours (below);
        # see the SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers wait on busy_timeout instead of
        # failing with "database is locked" when a read transaction tries to upgrade.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the head revision."""
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaOutOfDate(
            f"the database is {state}, this bccrm needs {head}: run 'bccrm db upgrade'"
        )
