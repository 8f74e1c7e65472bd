"""``[retention]`` applied by RetentionService and ``bccrm retention run``: mail of known ages
is delivered through the real pipeline (the envelope's arrival time is the email's
``received_at``), held messages of known ages sit in quarantine, and the clock is injected."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.app import App
from gateway.config import Config
from gateway.crm import (
    AuditEntry,
    Base,
    Contact,
    Email,
    EmailAttachment,
    EmailParticipant,
    LegalBasisCheck,
)
from gateway.services.retention import RetentionReport, RetentionService
from gateway.spool import Envelope, new_entry_id
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, drain, make_message

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = {"body_days": 30, "email_days": 365, "spool_days": 7}
OFF = {"body_days": 0, "email_days": 0, "spool_days": 0}


@pytest.fixture
def retention() -> dict[str, int]:
    return RETENTION


@pytest.fixture
def config(make_config: ConfigFactory, retention: dict[str, int]) -> Config:
    return make_config(retention=retention, privacy={"require_legal_basis": True})


@pytest.fixture(autouse=True)
def rep(app: App) -> int:
    return add_user(app, "anna@example.com", "Anna Nowak")


def envelope(received: datetime) -> Envelope:
    return Envelope(
        mail_from="anna@example.com",
        rcpt_tos=(LOG,),
        trusted_peer=True,
        received_at=received.timestamp(),
    )


def deliver(app: App, age: timedelta, name: str, now: datetime = NOW, **kw: Any) -> int:
    """An email received ``age`` before ``now``; its id."""
    kw.setdefault("sender", f"Jan Kowalski <jan.{name}@acme.pl>")
    kw.setdefault("to", "Anna Nowak <anna@example.com>")
    raw = make_message(subject=f"Sprawa {name}", body=f"Treść sprawy {name}.\n", **kw)
    app.spool.store(raw, envelope(now - age))
    assert drain(app)["logged"] == 1
    with app.sessions() as session:
        newest = session.scalar(select(func.max(Email.id)))
        assert newest is not None
        return newest


def hold(app: App, age: timedelta) -> str:
    """A message the worker quarantines (two From addresses), received ``age`` before NOW."""
    raw = make_message(sender="a@acme.pl, b@acme.pl", to="anna@example.com")
    entry_id = app.spool.store(raw, envelope(NOW - age))
    assert drain(app)["quarantined"] == 1
    return entry_id


def unreadable(app: App, age: timedelta) -> str:
    """A quarantined file that is no spool entry: its modification time is its age."""
    entry_id = new_entry_id()
    path = app.spool.quarantine_dir / entry_id
    path.write_bytes(b"garbage")
    moment = (NOW - age).timestamp()
    os.utime(path, (moment, moment))
    return entry_id


def service(app: App, now: datetime = NOW) -> RetentionService:
    return RetentionService(app.sessions, app.spool, app.config, clock=lambda: now)


def emails(app: App) -> dict[int, Email]:
    with app.sessions() as session:
        return {e.id: e for e in session.scalars(select(Email))}


def snapshot(app: App) -> dict[str, Any]:
    """Every row (but the audit log) and every spool file."""
    with app.sessions() as session:
        tables = {
            t.name: sorted(repr(tuple(r)) for r in session.execute(select(t)))
            for t in Base.metadata.sorted_tables
            if t.name != "audit_log"
        }
    files = {
        str(p.relative_to(app.spool.root)): p.read_bytes()
        for p in sorted(app.spool.root.rglob("*"))
        if p.is_file()
    }
    return {"tables": tables, "files": files}


DAY = timedelta(days=1)


def test_bodies_emails_and_quarantine_each_go_after_their_period(app: App) -> None:
    ancient = deliver(app, 400 * DAY, "ancient", attachment=("a.pdf", b"%PDF"))
    outbound = deliver(
        app,
        366 * DAY,
        "outbound",
        sender="Anna Nowak <anna@example.com>",
        to="Jan Kowalski <jan.outbound@acme.pl>",
    )
    year = deliver(app, 364 * DAY, "year")
    month = deliver(app, 31 * DAY, "month")
    edge = deliver(app, 30 * DAY, "edge")  # exactly 30 days: not older than body_days
    fresh = deliver(app, DAY, "fresh")
    old_held, new_held = hold(app, 8 * DAY), hold(app, 6 * DAY)
    old_garbage, new_garbage = unreadable(app, 10 * DAY), unreadable(app, DAY)
    with app.sessions() as session:
        assert session.scalars(select(LegalBasisCheck.email_id)).all() == [outbound]
        contacts = session.scalar(select(func.count()).select_from(Contact))

    report = service(app).run()

    assert report == RetentionReport(
        dry_run=False,
        now=NOW,
        body_days=30,
        email_days=365,
        spool_days=7,
        bodies_cleared=2,
        emails_deleted=2,
        quarantine_removed=tuple(sorted([old_held, old_garbage])),
    )
    kept = emails(app)
    assert set(kept) == {year, month, edge, fresh}
    for email_id in (year, month):
        email = kept[email_id]
        assert (email.body_text, email.reply_text) == ("", "")
        assert email.privacy["body_removed_at"] == NOW.isoformat()
        assert email.subject.startswith("Sprawa ")  # metadata stays
    for email_id in (edge, fresh):
        assert kept[email_id].body_text.startswith("Treść sprawy")
        assert "body_removed_at" not in kept[email_id].privacy
    with app.sessions() as session:
        for table in (EmailParticipant, EmailAttachment, LegalBasisCheck):
            rows = session.scalar(
                select(func.count())
                .select_from(table)
                .where(table.email_id.in_([ancient, outbound]))
            )
            assert rows == 0, table
        assert session.scalar(select(func.count()).select_from(Contact)) == contacts
        [audit] = session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run"))
        assert audit.details == report.counts()
        assert audit.details["quarantine_removed"] == 2
    assert set(app.spool.quarantined_ids()) == {new_held, new_garbage}
    assert not (app.spool.quarantine_dir / f"{old_held}.error.json").exists()
    assert (app.spool.quarantine_dir / f"{new_held}.error.json").exists()


def test_a_second_run_changes_nothing(app: App) -> None:
    deliver(app, 400 * DAY, "ancient")
    deliver(app, 100 * DAY, "old")
    hold(app, 8 * DAY)
    first = service(app).run()
    assert (first.bodies_cleared, first.emails_deleted, len(first.quarantine_removed)) == (1, 1, 1)
    after_first = snapshot(app)
    second = service(app).run()
    assert (second.bodies_cleared, second.emails_deleted, second.quarantine_removed) == (0, 0, ())
    assert snapshot(app) == after_first


def test_dry_run_counts_and_changes_nothing(app: App) -> None:
    deliver(app, 400 * DAY, "ancient")
    deliver(app, 100 * DAY, "old")
    held = hold(app, 8 * DAY)
    before = snapshot(app)
    dry = service(app).run(dry_run=True)
    assert (dry.dry_run, dry.bodies_cleared, dry.emails_deleted) == (True, 1, 1)
    assert dry.quarantine_removed == (held,)
    assert snapshot(app) == before
    with app.sessions() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run")).all()
            == []
        )
    real = service(app).run()
    assert (real.bodies_cleared, real.emails_deleted, real.quarantine_removed) == (1, 1, (held,))


@pytest.mark.parametrize("retention", [OFF])
def test_zero_keeps_everything_forever(app: App) -> None:
    deliver(app, 4000 * DAY, "ancient")
    hold(app, 400 * DAY)
    unreadable(app, 400 * DAY)
    before = snapshot(app)
    report = service(app).run()
    assert (report.bodies_cleared, report.emails_deleted, report.quarantine_removed) == (0, 0, ())
    assert snapshot(app) == before


@pytest.mark.parametrize("retention", [{"body_days": 30, "email_days": 0, "spool_days": 0}])
def test_each_period_is_disabled_on_its_own(app: App) -> None:
    ancient = deliver(app, 4000 * DAY, "ancient")
    held = hold(app, 400 * DAY)
    report = service(app).run()
    assert (report.bodies_cleared, report.emails_deleted, report.quarantine_removed) == (1, 0, ())
    assert emails(app)[ancient].body_text == ""
    assert app.spool.quarantined_ids() == [held]


def test_the_clock_decides(app: App) -> None:
    """The same data, a later clock: what was young is now old."""
    email_id = deliver(app, 10 * DAY, "young")
    assert service(app).run().bodies_cleared == 0
    assert service(app, NOW + 25 * DAY).run().bodies_cleared == 1
    assert service(app, NOW + 356 * DAY).run().emails_deleted == 1
    assert email_id not in emails(app)


def test_a_quarantined_message_held_by_an_admin_waits_for_the_next_run(app: App) -> None:
    import fcntl

    held = hold(app, 8 * DAY)
    with (app.spool.quarantine_dir / held).open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert service(app).run().quarantine_removed == ()
    assert service(app).run().quarantine_removed == (held,)


# -- command line ---------------------------------------------------------------------------------


def test_cli_retention_run(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(app.config, capsys, "retention", "run")
    now = datetime.now(UTC)
    deliver(app, 400 * DAY, "ancient", now=now)
    deliver(app, 100 * DAY, "old", now=now)
    app.spool.store(make_message(sender="a@acme.pl, b@acme.pl"), envelope(now - 8 * DAY))
    drain(app)
    code, out, err = cli("--dry-run")
    assert code == 0 and "bccrm:" not in err
    assert out.splitlines() == [
        "retention (dry run: nothing changed):",
        "  emails deleted                 1  (email_days: 365)",
        "  bodies cleared                 1  (body_days: 30)",
        "  quarantined messages removed   1  (spool_days: 7)",
    ]
    data = cli.json()
    assert (data["dry_run"], data["emails_deleted"], data["bodies_cleared"]) == (False, 1, 1)
    assert len(data["quarantine_removed"]) == 1
    assert datetime.fromisoformat(data["now"]) <= datetime.now(UTC)
    json.dumps(data)
    code, out, _ = cli()
    assert code == 0
    assert "  emails deleted                 0  (email_days: 365)" in out.splitlines()


@pytest.mark.parametrize("retention", [OFF])
def test_cli_retention_run_when_everything_is_kept(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = Cli(app.config, capsys, "retention", "run")()
    assert code == 0
    assert "(email_days: off)" in out and "(body_days: off)" in out and "(spool_days: off)" in out


def test_cli_retention_needs_a_verb(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        Cli(app.config, capsys, "retention")()
    assert exc.value.code == 2
