"""Reads kept and write-only rows gathered for one pipeline transaction (gateway.crm.txcache)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.app import App
from gateway.crm import AuditEntry, PluginEvent, repo, txcache
from gateway.hooks import ReviewDecided, event_payload
from gateway.outbox import emit, emit_at_write
from tests.support import add_user


def audit_count(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_a_cached_read_is_made_once_per_transaction_and_again_in_the_next(app: App) -> None:
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    with app.sessions() as session:
        txcache.enable(session)
        with session.begin():
            assert [txcache.cached(session, "k", load) for _ in range(3)] == [1, 1, 1]
        with session.begin():
            assert txcache.cached(session, "k", load) == 2
    with app.sessions() as plain, plain.begin():  # not enabled: read every time
        assert [txcache.cached(plain, "k", load) for _ in range(2)] == [3, 4]


def test_deferred_rows_are_written_at_the_commit_and_dropped_by_a_rollback(app: App) -> None:
    with app.sessions() as session:
        txcache.enable(session)
        with session.begin():
            repo.audit(session, "worker", "test.one")
            emit(
                session,
                ReviewDecided(item_id=1, item_kind="merge", status="rejected", decided_by="x"),
            )
            # Not written yet: nothing in this transaction reads them back.
            assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        session.begin()
        repo.audit(session, "worker", "test.rolled_back")
        session.rollback()
        with session.begin():
            pass  # a new transaction does not write the rolled-back one's rows
    with app.sessions() as session:
        assert session.scalars(select(AuditEntry.action)).all() == ["test.one"]
        assert session.scalars(select(PluginEvent.kind)).all() == ["review_decided"]


def test_rows_inside_a_savepoint_or_in_a_plain_session_are_written_at_once(app: App) -> None:
    with app.sessions() as session:
        txcache.enable(session)
        with session.begin():
            with session.begin_nested():
                repo.audit(session, "worker", "in.savepoint")
            session.flush()
            assert session.scalars(select(AuditEntry.action)).all() == ["in.savepoint"]
            try:
                with session.begin_nested():
                    repo.audit(session, "worker", "savepoint.rolled_back")
                    raise LookupError
            except LookupError:
                pass
    with app.sessions() as plain, plain.begin():
        repo.audit(plain, "cli", "plain")
        plain.flush()
        assert "plain" in plain.scalars(select(AuditEntry.action)).all()
    assert audit_count(app) == 2


def test_an_at_write_callback_runs_once_before_the_rows_and_again_when_registered_again(
    app: App,
) -> None:
    """It may complete a row it deferred (as the email_logged events' contacts are); a write
    in the middle of the transaction (the duplicate path) runs it, a later registration
    again."""
    runs: list[str] = []

    def defer(session: Session, decided_by: str) -> None:
        event = ReviewDecided(item_id=1, item_kind="merge", status="rejected", decided_by="")
        row = emit_at_write(session, event)
        assert row is not None and row["payload"] is None  # to be completed

        def complete() -> None:
            runs.append(decided_by)
            row["payload"] = event_payload(replace(event, decided_by=decided_by))

        assert txcache.at_write(session, "k", complete)
        assert txcache.at_write(session, "k", lambda: runs.append("not the first callback"))

    with app.sessions() as session:
        txcache.enable(session)
        with session.begin():
            defer(session, "first")
            txcache.write_deferred(session)
            defer(session, "second")
    assert runs == ["first", "second"]
    with app.sessions() as session:
        payloads = session.scalars(select(PluginEvent.payload).order_by(PluginEvent.id)).all()
    assert [p["decided_by"] for p in payloads] == ["first", "second"]
    with app.sessions() as plain, plain.begin():  # not enabled, or in a savepoint: do it now
        assert emit_at_write(plain, ReviewDecided(1, "merge", "rejected", "x")) is None
        assert not txcache.at_write(plain, "k", lambda: None)
        txcache.enable(plain)
        with plain.begin_nested():
            assert not txcache.at_write(plain, "k", lambda: None)


def test_the_users_are_read_once_per_transaction_unless_there_are_too_many(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = add_user(app, "anna@example.com", "Anna Nowak", "a.nowak@example.com")
    piotr = add_user(app, "piotr@example.com", "Piotr Wiśniewski")
    for limit in (5_000, 2):  # the second: three addresses, asked about one by one
        monkeypatch.setattr(repo, "USER_DIRECTORY_LIMIT", limit)
        with app.sessions() as session:
            txcache.enable(session)
            with session.begin():
                found = repo.users_by_address(
                    session, ["a.nowak@example.com", "piotr@example.com", "jan@acme.pl"]
                )
        assert found == {
            "a.nowak@example.com": (anna, ("anna@example.com",)),
            "piotr@example.com": (piotr, ("piotr@example.com",)),
        }
