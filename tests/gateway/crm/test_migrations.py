"""Models and migrations agree: an empty database upgraded to head has no drift."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gateway.config import Config
from gateway.crm import Base
from gateway.crm.db import current_revision, head_revision, make_engine, upgrade
from gateway.matching.names import blocking_keys


def test_upgrade_head_matches_models(config: Config) -> None:
    engine = make_engine(config.database)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(config: Config) -> None:
    engine = make_engine(config.database)
    try:
        upgrade(engine)
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_sqlite_is_opened_for_durability(config: Config) -> None:
    if not config.database.url.startswith("sqlite"):
        return
    engine = make_engine(config.database)
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }


def test_upgrading_a_populated_database_keeps_its_rows(config: Config) -> None:
    """0003 adds NOT NULL columns to emails: existing rows get the server defaults."""
    engine = make_engine(config.database)
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO emails (dedup_key, message_id, subject, direction, received_at,"
                " from_email, from_name, body_text, body_sha256, size, privacy_level, auth,"
                " defects, created_at) VALUES ('k', '<m@x>', 's', 'inbound',"
                " '2026-11-02 09:30:00+00:00', 'jan@acme.pl', '', 'b', 'h', 1, 'full', '{}',"
                " '[]', '2026-11-02 09:30:00+00:00')"
            )
            conn.exec_driver_sql(
                "INSERT INTO email_participants (email_id, role, email, name)"
                " SELECT id, 'from', 'jan@acme.pl', 'Jan' FROM emails"
            )
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT message_id, reply_text, forwarded_by_email FROM emails"
            ).one()
            # SQLite batch mode drops and re-creates tables: rows that reference them must
            # not be cascaded away on the way.
            people = conn.exec_driver_sql("SELECT email, outcome FROM email_participants").all()
        assert tuple(row) == ("<m@x>", "", None)
        assert [tuple(p) for p in people] == [("jan@acme.pl", "")]
    finally:
        engine.dispose()


def test_0004_indexes_the_contacts_that_exist(config: Config) -> None:
    """0004 backfills address domains and name keys, so existing contacts can be found by
    fuzzy matching and participants keep their rows."""
    engine = make_engine(config.database)
    try:
        upgrade(engine, "0003")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO contacts (id, first_name, last_name, title, status, origin,"
                " created_at, updated_at) VALUES (7, 'Anna', 'Kowalska', '', 'active', 'import',"
                " '2026-11-02 09:30:00+00:00', '2026-11-02 09:30:00+00:00')"
            )
            conn.exec_driver_sql(
                "INSERT INTO contact_emails (contact_id, email, is_primary)"
                " VALUES (7, 'anna@acme.pl', true)"
            )
        upgrade(engine)
        with engine.connect() as conn:
            domain = conn.exec_driver_sql("SELECT domain FROM contact_emails").scalar_one()
            keys = {row[0] for row in conn.exec_driver_sql("SELECT key FROM contact_name_keys")}
        assert domain == "acme.pl"
        assert keys == set(blocking_keys("Anna", "Kowalska")) == {"kowalska|a", "kowa~a"}
    finally:
        engine.dispose()
