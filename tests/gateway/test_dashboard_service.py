"""DashboardService over a real, migrated database (SQLite and PostgreSQL): audit entries,
emails, review items, checks and spool files are seeded with fixed times and the summary is
taken at a fixed ``now``; one test drives the real worker and compares with its counters."""

from __future__ import annotations

import hashlib
import itertools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import App
from gateway.crm import (
    AuditEntry,
    Contact,
    ContactEmail,
    Email,
    EmailLogger,
    EmailParticipant,
    LegalBasisCheck,
    ReviewItem,
    User,
    UserAddress,
    linking,
)
from gateway.services.dashboard import (
    DashboardService,
    MailCounts,
    SpoolState,
    format_age,
    worker_health,
)
from gateway.spool import Envelope, Spool
from tests.support import LOG, add_user, drain, make_message

NOW = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)  # a Tuesday, 12:30 UTC
TODAY = datetime(2026, 11, 24, tzinfo=UTC)
WEEK_START = datetime(2026, 11, 18, tzinfo=UTC)  # seven calendar days, today included
TICK = timedelta(microseconds=1)
_serial = itertools.count(1)


def service(app: App, spool: Spool | None = None) -> DashboardService:
    return DashboardService(app.sessions, spool or app.spool, app.config)


def audit(app: App, action: str, at: datetime, actor: str = "worker", **details: Any) -> None:
    with app.sessions.begin() as session:
        session.add(AuditEntry(at=at, actor=actor, action=action, details=details))


def add_email(
    app: App,
    direction: str,
    received_at: datetime,
    *loggers: int,
    message_id: str | None = None,
    in_reply_to: str = "",
) -> str:
    """An email logged by ``loggers``; returns its Message-ID."""
    n = next(_serial)
    mid = f"<m{n}@example.com>" if message_id is None else message_id
    with app.sessions.begin() as session:
        email = Email(
            dedup_key=hashlib.sha256(f"email-{n}".encode()).hexdigest(),
            message_id=mid,
            direction=direction,
            received_at=received_at,
            from_email="anna@example.com",
            in_reply_to=in_reply_to,
            body_sha256=hashlib.sha256(b"body").hexdigest(),
            size=100,
            loggers=[EmailLogger(user_id=user_id) for user_id in loggers],
        )
        session.add(email)
    return mid


def add_rep(app: App, name: str, *addresses: str) -> int:
    """A user straight through the ORM (so any address text can be stored)."""
    with app.sessions.begin() as session:
        user = User(name=name)
        user.addresses = [UserAddress(email=address, is_primary=False) for address in addresses]
        session.add(user)
        session.flush()
        return user.id


def add_contact(app: App, **fields: Any) -> int:
    n = next(_serial)
    with app.sessions.begin() as session:
        contact = Contact(first_name="Jan", origin="gateway", **fields)
        contact.emails.append(ContactEmail(email=f"c{n}@acme.pl", is_primary=True))
        session.add(contact)
        session.flush()
        return contact.id


def add_review(app: App, kind: str, status: str = "open", created_at: datetime = NOW) -> None:
    with app.sessions.begin() as session:
        session.add(
            ReviewItem(
                kind=kind, status=status, key=f"{kind}:{next(_serial)}", created_at=created_at
            )
        )


def add_participants(app: App, received_at: datetime, *outcomes: str) -> None:
    n = next(_serial)
    with app.sessions.begin() as session:
        email = Email(
            dedup_key=hashlib.sha256(f"p-{n}".encode()).hexdigest(),
            message_id=f"<p{n}@example.com>",
            direction="inbound",
            received_at=received_at,
            from_email="anna@example.com",
            body_sha256="0" * 64,
            size=1,
            participants=[
                EmailParticipant(role="to", email=f"p{n}-{i}@acme.pl", outcome=outcome)
                for i, outcome in enumerate(outcomes)
            ],
        )
        session.add(email)


def spool_entry(app: App, next_attempt: datetime) -> Path:
    """A spool entry in new/ whose next-attempt time (mtime) is ``next_attempt``."""
    entry_id = app.spool.store(b"Subject: x\r\n\r\nx\r\n", Envelope("a@example.com", (LOG,)))
    path = app.spool.new / entry_id
    os.utime(path, (next_attempt.timestamp(), next_attempt.timestamp()))
    return path


# -- mail counts and volume ---------------------------------------------------------------------


def test_today_and_seven_days_count_each_outcome_with_midnight_boundaries(app: App) -> None:
    for at in (TODAY, TODAY + timedelta(hours=9), NOW - TICK):
        audit(app, "email.logged", at)
    audit(app, "email.duplicate", NOW - timedelta(minutes=5))
    audit(app, "message.dropped", NOW - timedelta(minutes=4), reason="bounce")
    audit(app, "message.held", NOW - timedelta(minutes=3), reason="no transport proof")
    audit(app, "message.quarantined", NOW - timedelta(minutes=2), reason="unreadable")
    audit(app, "email.logged", TODAY - TICK)  # just before midnight: 7 days, not today
    audit(app, "email.logged", WEEK_START)  # the first moment of the 7 days
    audit(app, "email.logged", WEEK_START - TICK)  # the day before: neither
    audit(app, "email.logged", NOW)  # windows end before now
    audit(app, "contact.created", NOW - TICK)  # not a finished message
    audit(app, "email.logged", NOW - TICK, actor="cli")  # counted whoever wrote it

    board = service(app).summary(NOW)

    assert (board.today_start, board.week_start) == (TODAY, WEEK_START)
    assert board.today == MailCounts(logged=4, duplicates=1, dropped=1, held=1, failed=1)
    assert (board.today.received, board.today.quarantined) == (8, 2)
    assert board.week == MailCounts(logged=6, duplicates=1, dropped=1, held=1, failed=1)
    assert board.week.received == 10


def test_volume_is_zero_filled_hourly_and_daily_buckets_oldest_first(app: App) -> None:
    audit(app, "email.logged", NOW - TICK)  # this hour (12:00-12:30)
    audit(app, "message.held", datetime(2026, 11, 24, 12, tzinfo=UTC))  # this hour, its start
    audit(app, "email.duplicate", datetime(2026, 11, 24, 11, 59, 59, tzinfo=UTC))  # last hour
    audit(app, "message.dropped", datetime(2026, 11, 23, 13, tzinfo=UTC))  # first hourly bucket
    audit(app, "email.logged", datetime(2026, 11, 23, 12, 59, tzinfo=UTC))  # before the 24 h
    audit(app, "email.logged", datetime(2026, 11, 11, tzinfo=UTC))  # first daily bucket
    audit(app, "email.logged", datetime(2026, 11, 10, 23, 59, tzinfo=UTC))  # before 14 days
    audit(app, "review.opened", NOW - TICK)

    volume = service(app).summary(NOW).volume

    assert volume.hourly_start == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert volume.hourly == (1, *([0] * 21), 1, 2)
    assert volume.daily_start == datetime(2026, 11, 11, tzinfo=UTC)
    assert volume.daily == (1, *([0] * 11), 2, 3)


def test_dropped_by_policy_is_split_by_reason(app: App) -> None:
    for reason in ("bounce", "bounce", "the author is not a registered user"):
        audit(app, "message.dropped", NOW - timedelta(hours=1), reason=reason)
    audit(app, "message.dropped", NOW - timedelta(days=2), reason="privacy: never_log")
    audit(app, "message.dropped", NOW - timedelta(days=2))  # no reason written
    audit(app, "message.dropped", WEEK_START - TICK, reason="old")

    board = service(app).summary(NOW)

    assert board.dropped_by_reason == {
        "bounce": 2,
        "(no reason)": 1,
        "privacy: never_log": 1,
        "the author is not a registered user": 1,
    }
    assert next(iter(board.dropped_by_reason)) == "bounce"
    assert board.week.dropped == 5


def test_empty_database_gives_zeros(app: App) -> None:
    board = service(app).summary(NOW)
    assert board.today == board.week == MailCounts()
    assert board.volume.hourly == (0,) * 24 and board.volume.daily == (0,) * 14
    assert board.dropped_by_reason == {}
    assert board.matching.reply_rates == ()
    assert board.matching.linked_without_help is None
    assert board.backlog.review_total == 0


def test_a_naive_now_is_refused_and_none_means_the_current_time(app: App) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        service(app).summary(datetime(2026, 11, 24, 12))
    before = datetime.now(UTC)
    board = service(app).summary()
    assert before <= board.now <= datetime.now(UTC)
    assert board.now.tzinfo is not None


# -- matching and reply rates -------------------------------------------------------------------


def test_matching_uses_the_same_seven_calendar_days(app: App) -> None:
    add_participants(app, NOW - timedelta(hours=1), *[linking.LINKED] * 2, linking.AUTO_LINKED)
    add_participants(app, WEEK_START, linking.SUGGESTED, linking.IGNORED)
    # Within a rolling 7 x 24 h but before the first calendar day: left out.
    add_participants(app, WEEK_START - timedelta(hours=1), linking.PENDING, linking.PENDING)
    add_review(app, "same_person", created_at=NOW - timedelta(days=1))
    add_review(app, "merge", status="approved", created_at=WEEK_START)
    add_review(app, "merge", created_at=WEEK_START - TICK)

    matching = service(app).summary(NOW).matching

    assert matching.linked_without_help == 0.75
    assert matching.participants == 5
    assert matching.duplicate_suggestions == 2


def test_reply_rate_per_rep(app: App) -> None:
    rita = add_rep(app, "Rita Rep", "rita@example.com")
    bob = add_rep(app, "Bob", "bob.alias@example.com", "bob@example.com")
    with app.sessions.begin() as session:  # Bob's second address is his primary
        session.get_one(User, bob).addresses[1].is_primary = True
    in_window = NOW - timedelta(days=1)

    answered = add_email(app, "inbound", in_window, rita)
    add_email(app, "outbound", NOW - TICK, rita, in_reply_to=answered)
    twice = add_email(app, "inbound", in_window, rita)
    add_email(app, "outbound", in_window, rita, in_reply_to=twice)
    add_email(app, "outbound", in_window, rita, in_reply_to=twice)  # still one replied email
    by_bob = add_email(app, "inbound", in_window, rita, bob)
    add_email(app, "outbound", in_window, bob, in_reply_to=by_bob)  # Bob's reply, not Rita's
    add_email(app, "inbound", in_window, rita)  # not answered
    late = add_email(app, "inbound", in_window, rita)
    add_email(app, "outbound", NOW, rita, in_reply_to=late)  # after now: not yet
    early = add_email(app, "inbound", in_window, rita)
    add_email(app, "outbound", WEEK_START - TICK, rita, in_reply_to=early)  # before the window
    internal = add_email(app, "inbound", in_window, rita)
    add_email(app, "internal", in_window, rita, in_reply_to=internal)  # not outbound
    add_email(app, "inbound", in_window, rita, message_id="")  # no Message-ID ...
    add_email(app, "outbound", in_window, rita)  # ... never matches an empty In-Reply-To
    old = add_email(app, "inbound", WEEK_START - TICK, rita)  # before the window
    add_email(app, "outbound", in_window, rita, in_reply_to=old)
    add_email(app, "outbound", in_window, rita, in_reply_to="<unknown@example.com>")

    reps = service(app).summary(NOW).matching.reply_rates

    assert [(r.name, r.address, r.inbound, r.replied) for r in reps] == [
        ("Rita Rep", "rita@example.com", 8, 2),
        ("Bob", "bob@example.com", 1, 1),
    ]
    assert reps[0].rate == pytest.approx(2 / 8)
    assert (reps[0].user_id, reps[1].user_id, reps[1].rate) == (rita, bob, 1.0)


def test_a_rep_without_addresses_is_listed_by_name(app: App) -> None:
    nobody = add_rep(app, "No Address")
    add_email(app, "inbound", NOW - timedelta(hours=1), nobody)
    [rep] = service(app).summary(NOW).matching.reply_rates
    assert (rep.name, rep.address, rep.inbound, rep.replied, rep.rate) == (
        "No Address",
        "",
        1,
        0,
        0.0,
    )


# -- backlog ------------------------------------------------------------------------------------


def test_backlog_counts_open_reviews_checks_and_notices_due(app: App) -> None:
    for kind in ("new_contact", "new_contact", "which_deal"):
        add_review(app, kind)
    add_review(app, "merge", status="rejected")
    contact = add_contact(app)
    for _ in range(3):
        add_email(app, "outbound", NOW - timedelta(days=30))
    with app.sessions() as session:
        email_ids = list(session.scalars(select(Email.id).order_by(Email.id)))
    with app.sessions.begin() as session:
        session.add_all(
            [
                LegalBasisCheck(email_id=email_ids[0], contact_id=contact, reason="unsubscribed"),
                LegalBasisCheck(
                    email_id=email_ids[1], contact_id=contact, reason="no_confirmed_basis"
                ),
                LegalBasisCheck(
                    email_id=email_ids[2],
                    contact_id=contact,
                    reason="no_confirmed_basis",
                    status="resolved",
                ),
            ]
        )
    add_contact(app, notice_due_at=NOW - timedelta(days=1))  # due
    add_contact(app, notice_due_at=NOW)  # due at now
    add_contact(app, notice_due_at=NOW + TICK)  # pending, not due yet
    add_contact(app, notice_due_at=NOW - timedelta(days=2), notice_done_at=NOW)  # done
    add_contact(app, notice_due_at=NOW - timedelta(days=2), status="erased")  # gone
    add_contact(app, notice_due_at=NOW - timedelta(days=2), status="merged")  # gone

    backlog = service(app).summary(NOW).backlog

    assert backlog.review == {
        "new_contact": 2,
        "same_person": 0,
        "field_update": 0,
        "merge": 0,
        "which_deal": 1,
    }
    assert backlog.review_total == 3
    assert backlog.legal_checks == 2
    assert (backlog.notices_due, backlog.notices_pending) == (2, 3)


# -- spool and worker health --------------------------------------------------------------------


def test_spool_depth_and_the_oldest_due_entry(app: App) -> None:
    spool_entry(app, NOW - timedelta(minutes=7))
    spool_entry(app, NOW - timedelta(seconds=30))
    spool_entry(app, NOW + timedelta(minutes=1))  # a retry whose time has not come
    (app.spool.cur / "0000000000000001AAAAAA.a1").write_bytes(b"x")
    (app.spool.quarantine_dir / "0000000000000002BBBBBB").write_bytes(b"x")
    (app.spool.quarantine_dir / "0000000000000002BBBBBB.error.json").write_text("{}")

    spool = service(app).summary(NOW).spool

    assert spool.available
    assert (spool.waiting, spool.deferred, spool.due) == (3, 1, 2)
    assert (spool.processing, spool.quarantined) == (1, 1)
    assert spool.oldest_wait == pytest.approx(420, abs=1)


def test_worker_is_idle_with_nothing_waiting_and_no_activity(app: App) -> None:
    spool_entry(app, NOW + timedelta(minutes=5))  # deferred only
    health = service(app).summary(NOW).worker
    assert health.state == "idle"
    assert health.reason == "nothing waiting; no mail processed yet"
    assert health.last_activity is None


def test_worker_is_ok_when_it_processed_something_lately(app: App) -> None:
    spool_entry(app, NOW - timedelta(hours=1))  # a backlog, but the worker is working
    audit(app, "email.logged", NOW - timedelta(seconds=90))
    audit(app, "contact.created", NOW - timedelta(minutes=20), actor="rita@example.com")
    health = service(app).summary(NOW).worker
    assert (health.state, health.reason) == ("ok", "last processed 1m 30s ago")
    assert health.last_activity == NOW - timedelta(seconds=90)


def test_worker_is_stalled_when_mail_waits_and_nothing_was_processed(app: App) -> None:
    spool_entry(app, NOW - timedelta(minutes=6))
    audit(app, "email.logged", NOW - timedelta(minutes=10))
    audit(app, "review.decided", NOW - timedelta(minutes=1), actor="rita@example.com")
    health = service(app).summary(NOW).worker
    assert health.state == "stalled"
    assert health.reason == "1 waiting, the oldest for 6m 00s; nothing processed in 5m 00s"
    assert health.last_activity == NOW - timedelta(minutes=10)


def test_worker_state_is_unknown_while_mail_has_waited_only_briefly(app: App) -> None:
    spool_entry(app, NOW - timedelta(minutes=4))
    spool_entry(app, NOW - timedelta(minutes=1))
    health = service(app).summary(NOW).worker
    assert health.state == "unknown"
    assert health.reason == "2 waiting, the oldest for 4m 00s; no mail processed yet"


def test_a_spool_that_cannot_be_read_here_is_reported_not_raised(app: App, tmp_path: Path) -> None:
    board = service(app, Spool(tmp_path / "elsewhere")).summary(NOW)
    assert board.spool == SpoolState(available=False)
    assert board.worker.state == "unknown"
    assert board.worker.reason == "the spool cannot be read here; no mail processed yet"


def test_worker_health_boundary_is_inclusive_of_the_stall_limit() -> None:
    waiting = SpoolState(available=True, waiting=1, oldest_wait=300.0)
    last = NOW - timedelta(seconds=300)
    assert worker_health(waiting, last, NOW, 300).state == "ok"
    assert worker_health(waiting, last - TICK, NOW, 300).state == "unknown"
    longer = SpoolState(available=True, waiting=1, oldest_wait=300.5)
    assert worker_health(longer, last - TICK, NOW, 300).state == "stalled"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m 00s"), (3599, "59m 59s"), (3600, "1h 00m"),
     (86_399, "23h 59m"), (90_000, "1d 1h"), (-5, "0s")],
)  # fmt: skip
def test_format_age(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


# -- against the real worker --------------------------------------------------------------------


def test_counts_match_what_the_worker_did(app: App) -> None:
    """Held mail is counted once (held, not also failed) and received is every message the
    worker finished, whatever became of it."""
    add_user(app, "anna@example.com", "Anna Nowak")
    trusted = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
    message = make_message()
    app.spool.store(message, trusted)
    app.spool.store(message, trusted)  # the same message again: a duplicate
    app.spool.store(make_message(sender="Obcy <obcy@other.example>"), trusted)
    app.spool.store(b"Subject: no From\r\n\r\nx\r\n", trusted)  # held by the parse stage
    stats = drain(app)
    assert stats["held"] == 1 and stats["dropped"] == 1

    board = service(app).summary()

    assert board.week == MailCounts(
        logged=stats["logged"],
        duplicates=stats["duplicate"],
        dropped=stats["dropped"],
        held=stats["held"],
        failed=stats["quarantined"] - stats["held"],
    )
    assert board.week.received == 4
    assert sum(board.volume.hourly) == sum(board.volume.daily) == 4
    assert board.spool.quarantined == 1 and board.spool.waiting == 0
    assert board.worker.state == "ok"
