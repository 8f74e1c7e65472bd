"""Alembic environment: bccrm passes its engine in ``config.attributes['engine']``."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from gateway.crm import Base
from gateway.crm.base import UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render bccrm's column types as plain SQLAlchemy ones so migrations never import models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _sqlite_foreign_keys(connection: Any, on: bool) -> None:
    """SQLite batch mode rebuilds a table by copying it and dropping the original; with foreign
    keys on, dropping ``contacts`` would cascade into ``contact_emails``. The pragma only
    works outside a transaction, so it goes straight to the driver's connection."""
    if connection.dialect.name == "sqlite":
        connection.connection.driver_connection.execute(
            f"PRAGMA foreign_keys={'ON' if on else 'OFF'}"
        )


engine = context.config.attributes["engine"]

with engine.connect() as connection:
    _sqlite_foreign_keys(connection, on=False)
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left {len(broken)} dangling references")
        connection.commit()
    finally:
        _sqlite_foreign_keys(connection, on=True)
