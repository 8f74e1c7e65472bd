"""The dashboard: mail volume, matching, backlog, spool and worker health in one read.

Windows are UTC and half-open, ``[start, now)``:

- *today* starts at midnight UTC of ``now``;
- *7 days* is the last seven UTC calendar days, today included (it starts at midnight six
  days before today), so the 7-day counts are the sum of the last seven daily volume buckets.
  Matching, duplicate suggestions and reply rates use the same window.

What happened to mail is read from the audit log, where the worker writes exactly one entry
per message it finishes, in the message's own transaction (a rolled-back attempt leaves
none): ``email.logged``; ``email.duplicate`` (a copy of an email already logged);
``message.dropped`` (dropped by policy: not CRM mail, a privacy rule, a bounce; the reason is
in ``details``); ``message.held`` (held by a stage, e.g. no valid From or no transport proof,
and moved to quarantine: the worker writes no ``message.quarantined`` for it, so nothing is
counted twice); and
``message.quarantined`` (processing failed, or the entry was unreadable). *Received* is their
sum: every message the worker finished. Mail still in the spool is not received yet, and a
message released from quarantine is a new spool entry, counted again when it is finished.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, Select, case, distinct, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from gateway.config import Config
from gateway.crm import (
    AuditEntry,
    Contact,
    Email,
    EmailLogger,
    LegalBasisCheck,
    User,
    UserAddress,
    questions,
    utcnow,
)
from gateway.services.legal import GONE
from gateway.services.stats import match_stats
from gateway.spool import Spool

LOGGED, DUPLICATE, DROPPED = "email.logged", "email.duplicate", "message.dropped"
HELD, FAILED = "message.held", "message.quarantined"
PROCESSED = (LOGGED, DUPLICATE, DROPPED, HELD, FAILED)
WORKER = "worker"  # the audit actor of everything the worker does

HOURS = 24  # hourly volume buckets, the last is the current hour
DAYS = 14  # daily volume buckets, the last is today
WEEK = 7  # days in the "7 days" window, today included
STALL_AFTER = 300.0  # seconds: waiting this long with no worker activity is a stall
DAY, HOUR = dt.timedelta(days=1), dt.timedelta(hours=1)


@dataclass(frozen=True)
class MailCounts:
    """Messages the worker finished in a window, by outcome."""

    logged: int = 0
    duplicates: int = 0
    dropped: int = 0  # by policy
    held: int = 0  # by a pipeline stage, now in quarantine
    failed: int = 0  # processing failed: quarantined

    @property
    def quarantined(self) -> int:
        return self.held + self.failed

    @property
    def received(self) -> int:
        return self.logged + self.duplicates + self.dropped + self.quarantined

    @classmethod
    def of(cls, actions: Mapping[str, int]) -> MailCounts:
        return cls(
            logged=actions.get(LOGGED, 0),
            duplicates=actions.get(DUPLICATE, 0),
            dropped=actions.get(DROPPED, 0),
            held=actions.get(HELD, 0),
            failed=actions.get(FAILED, 0),
        )


@dataclass(frozen=True)
class Volume:
    """Received messages per bucket, zero-filled, oldest first."""

    hourly: tuple[int, ...]  # HOURS buckets from ``hourly_start``; the last is this hour
    daily: tuple[int, ...]  # DAYS buckets from ``daily_start``; the last is today
    hourly_start: dt.datetime
    daily_start: dt.datetime


@dataclass(frozen=True)
class RepReplies:
    """A rep's reply rate: of the inbound emails received in the 7-day window that the rep
    logged (``email_loggers``), the share the same rep answered, that is, logged an outbound
    email in the window whose ``in_reply_to`` is the inbound email's ``message_id``. An email
    answered twice counts once; one without a Message-ID counts as unanswered."""

    user_id: int
    name: str
    address: str  # the primary address, else the first; "" when the user has none
    inbound: int
    replied: int

    @property
    def rate(self) -> float:
        return self.replied / self.inbound if self.inbound else 0.0


@dataclass(frozen=True)
class Matching:
    linked_without_help: float | None  # share 0..1 (None: nobody was matched)
    participants: int  # people matching looked at in the window
    duplicate_suggestions: int  # "same person?" and merge questions opened in the window
    reply_rates: tuple[RepReplies, ...]  # most inbound first


@dataclass(frozen=True)
class Backlog:
    review: Mapping[str, int]  # open review items per kind, every kind listed
    legal_checks: int  # open legal-basis checks
    notices_due: int  # Art. 14 notices due (due_at <= now) and not done
    notices_pending: int  # not done, due or not yet

    @property
    def review_total(self) -> int:
        return sum(self.review.values())


@dataclass(frozen=True)
class SpoolState:
    """The spool as seen from here; ``available`` is False when its directories cannot be
    read (the admin runs on another host than the worker)."""

    available: bool
    waiting: int = 0  # entries in new/, deferred retries included
    deferred: int = 0  # of those, waiting for a retry time still to come
    processing: int = 0  # entries in cur/
    quarantined: int = 0
    oldest_wait: float | None = None  # seconds the longest-waiting due entry has waited

    @property
    def due(self) -> int:
        return self.waiting - self.deferred


@dataclass(frozen=True)
class WorkerHealth:
    """``ok``: the worker finished something in the last ``STALL_AFTER`` seconds. ``idle``:
    nothing is waiting and nothing was processed lately (normal when no mail comes).
    ``stalled``: a due entry has waited longer than ``STALL_AFTER`` and nothing was processed
    in as long. ``unknown``: entries wait, but not long enough to tell, or the spool cannot be
    read from here."""

    state: str  # ok | idle | stalled | unknown
    reason: str
    last_activity: dt.datetime | None  # the newest audit entry by the worker


@dataclass(frozen=True)
class Dashboard:
    now: dt.datetime
    today_start: dt.datetime
    week_start: dt.datetime
    today: MailCounts
    week: MailCounts
    dropped_by_reason: Mapping[str, int]  # 7 days, most first
    volume: Volume
    matching: Matching
    backlog: Backlog
    spool: SpoolState
    worker: WorkerHealth


class DashboardService:
    """Everything the dashboard shows, read in two short transactions (matching statistics
    and the rest) and a look at the spool directory. Read-only: nothing is audited.
    ``config`` is not read yet; the stall limit is ``stall_after`` seconds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        spool: Spool,
        config: Config,
        stall_after: float = STALL_AFTER,
    ) -> None:
        self.sessions = sessions
        self.spool = spool
        self.config = config
        self.stall_after = stall_after

    def summary(self, now: dt.datetime | None = None) -> Dashboard:
        """The dashboard as of ``now`` (aware; default: the current time)."""
        now = utcnow() if now is None else _aware(now)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        week_start = today - (WEEK - 1) * DAY
        days = [today - (DAYS - 1 - i) * DAY for i in range(DAYS)]
        hour = now.replace(minute=0, second=0, microsecond=0)
        hours = [hour - (HOURS - 1 - i) * HOUR for i in range(HOURS)]
        stats = match_stats(self.sessions, (now - week_start) / DAY, until=now)
        with self.sessions() as session:
            per_day = _bucketed(session, days, now)
            per_hour = _bucketed(session, hours, now)
            dropped = _dropped_by_reason(session, week_start, now)
            replies = _reply_rates(session, week_start, now)
            backlog = _backlog(session, now, stats.open_reviews)
            last = _last_activity(session, now)
        spool = spool_state(self.spool, now)
        return Dashboard(
            now=now,
            today_start=today,
            week_start=week_start,
            today=MailCounts.of(_actions(per_day, range(DAYS - 1, DAYS))),
            week=MailCounts.of(_actions(per_day, range(DAYS - WEEK, DAYS))),
            dropped_by_reason=dropped,
            volume=Volume(
                hourly=_totals(per_hour, HOURS),
                daily=_totals(per_day, DAYS),
                hourly_start=hours[0],
                daily_start=days[0],
            ),
            matching=Matching(
                linked_without_help=stats.linked_without_help,
                participants=stats.participants,
                duplicate_suggestions=stats.duplicate_suggestions,
                reply_rates=replies,
            ),
            backlog=backlog,
            spool=spool,
            worker=worker_health(spool, last, now, self.stall_after),
        )


# -- mail ---------------------------------------------------------------------------------------


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(dt.UTC)


def _bucket(starts: Sequence[dt.datetime]) -> ColumnElement[int]:
    """The index of the last of ``starts`` (ascending) that an entry's time is at or after.
    Plain comparisons, so the same SQL works on SQLite and PostgreSQL."""
    whens = [(AuditEntry.at >= start, index) for index, start in enumerate(starts)]
    return case(*reversed(whens), else_=-1)


def _bucketed(
    session: Session, starts: Sequence[dt.datetime], end: dt.datetime
) -> Counter[tuple[int, str]]:
    """Finished messages per (bucket, action) from ``starts[0]`` to ``end``."""
    # Grouped in an outer query: PostgreSQL would see the CASE in SELECT and in GROUP BY as
    # two expressions (each renders its own bound parameters).
    inner = (
        select(_bucket(starts).label("bucket"), AuditEntry.action)
        .where(AuditEntry.action.in_(PROCESSED), AuditEntry.at >= starts[0], AuditEntry.at < end)
        .subquery()
    )
    rows = session.execute(
        select(inner.c.bucket, inner.c.action, func.count()).group_by(
            inner.c.bucket, inner.c.action
        )
    ).tuples()
    return Counter({(bucket, action): count for bucket, action, count in rows})


def _actions(counts: Counter[tuple[int, str]], buckets: range) -> Counter[str]:
    found: Counter[str] = Counter()
    for (bucket, action), count in counts.items():
        if bucket in buckets:
            found[action] += count
    return found


def _totals(counts: Counter[tuple[int, str]], size: int) -> tuple[int, ...]:
    totals = [0] * size
    for (bucket, _action), count in counts.items():
        if 0 <= bucket < size:
            totals[bucket] += count
    return tuple(totals)


def _dropped_by_reason(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """``message.dropped`` entries per ``details["reason"]`` (rule names and fixed texts)."""
    inner = (
        select(AuditEntry.details["reason"].as_string().label("reason"))
        .where(AuditEntry.action == DROPPED, AuditEntry.at >= start, AuditEntry.at < end)
        .subquery()
    )
    rows = session.execute(select(inner.c.reason, func.count()).group_by(inner.c.reason)).tuples()
    found: Counter[str] = Counter()
    for reason, count in rows:
        found[reason or "(no reason)"] += count
    return dict(sorted(found.items(), key=lambda item: (-item[1], item[0])))


# -- matching -----------------------------------------------------------------------------------


def _reply_rates(session: Session, start: dt.datetime, end: dt.datetime) -> tuple[RepReplies, ...]:
    """Per rep who logged inbound email received in ``[start, end)``: how many such emails,
    and how many of them the same rep answered, that is logged an outbound email in the same
    window whose ``in_reply_to`` is the inbound email's ``message_id``. An email answered
    twice counts once; one without a Message-ID cannot be matched and counts as unanswered."""
    inbound = (
        (Email.direction == "inbound") & (Email.received_at >= start) & (Email.received_at < end)
    )
    totals = dict(
        session.execute(
            select(EmailLogger.user_id, func.count())
            .join(Email, Email.id == EmailLogger.email_id)
            .where(inbound)
            .group_by(EmailLogger.user_id)
        )
        .tuples()
        .all()
    )
    if not totals:
        return ()
    replied = dict(session.execute(_replied_query(start, end)).tuples().all())
    names = _rep_names(session, list(totals))
    reps = [
        RepReplies(user_id, *names.get(user_id, ("", "")), count, replied.get(user_id, 0))
        for user_id, count in totals.items()
    ]
    return tuple(sorted(reps, key=lambda r: (-r.inbound, r.address, r.user_id)))


def _replied_query(start: dt.datetime, end: dt.datetime) -> Select[tuple[int, int]]:
    """(rep, inbound emails of the window the rep answered in the window)."""
    reply, reply_logger = aliased(Email), aliased(EmailLogger)
    # "+ 0": without ANALYZE statistics SQLite would otherwise join the two loggers through
    # the user_id index, walking all of a rep's mail for every email (17 s instead of 0.15 s
    # on 60,000 emails); this way it follows Message-ID and the primary keys.
    same_rep = reply_logger.user_id + 0 == EmailLogger.user_id + 0
    return (
        select(EmailLogger.user_id, func.count(distinct(Email.id)))
        .select_from(Email)
        .join(EmailLogger, EmailLogger.email_id == Email.id)
        .join(reply, reply.in_reply_to == Email.message_id)
        .join(reply_logger, (reply_logger.email_id == reply.id) & same_rep)
        .where(Email.direction == "inbound", Email.received_at >= start, Email.received_at < end)
        .where(Email.message_id != "", reply.direction == "outbound")
        .where(reply.received_at >= start, reply.received_at < end)
        .group_by(EmailLogger.user_id)
    )


def _rep_names(session: Session, user_ids: list[int]) -> dict[int, tuple[str, str]]:
    """(name, address) of each user: the primary address, else the first one added."""
    query = select(User.id, User.name).where(User.id.in_(user_ids))
    names = dict(session.execute(query).tuples().all())
    rows = session.execute(
        select(UserAddress.user_id, UserAddress.email)
        .where(UserAddress.user_id.in_(user_ids))
        .order_by(UserAddress.user_id, UserAddress.is_primary.desc(), UserAddress.id)
    ).tuples()
    addresses: dict[int, str] = {}
    for user_id, email in rows:
        addresses.setdefault(user_id, email)
    return {user_id: (name, addresses.get(user_id, "")) for user_id, name in names.items()}


# -- backlog ------------------------------------------------------------------------------------


def _backlog(session: Session, now: dt.datetime, open_reviews: Mapping[str, int]) -> Backlog:
    """Open review items (from the matching statistics' count), open legal-basis checks and
    Art. 14 notices: counted like ``LegalBasisService.notices`` (not done, contact neither
    merged nor erased), due when ``notice_due_at <= now``."""
    checks = session.scalar(
        select(func.count(LegalBasisCheck.id)).where(LegalBasisCheck.status == "open")
    )
    pending, due = session.execute(
        select(
            func.count(Contact.id),
            func.sum(case((Contact.notice_due_at <= now, 1), else_=0)),
        ).where(
            Contact.notice_due_at.is_not(None),
            Contact.notice_done_at.is_(None),
            Contact.status.not_in(GONE),
        )
    ).one()
    review = {kind: int(open_reviews.get(kind, 0)) for kind in questions.KINDS}
    review.update({k: int(v) for k, v in sorted(open_reviews.items()) if k not in review})
    return Backlog(
        review=review,
        legal_checks=int(checks or 0),
        notices_due=int(due or 0),
        notices_pending=int(pending or 0),
    )


# -- spool and worker ---------------------------------------------------------------------------


def _last_activity(session: Session, now: dt.datetime) -> dt.datetime | None:
    """The newest audit entry by the worker (walks the index on ``at`` backwards)."""
    return session.scalar(
        select(AuditEntry.at)
        .where(AuditEntry.actor == WORKER, AuditEntry.at <= now)
        .order_by(AuditEntry.at.desc())
        .limit(1)
    )


def spool_state(spool: Spool, now: dt.datetime) -> SpoolState:
    """Counts from :meth:`Spool.depth` and the wait of the oldest due entry in ``new/``.

    A file's mtime in ``new/`` is the earliest time of its next attempt (its arrival, or a
    retry time set by the worker), so the wait is measured from it and entries whose time is
    still to come are *deferred*, not waiting for a worker."""
    try:
        depth = spool.depth()
        times = _next_attempts(spool.new)
    except OSError:
        return SpoolState(available=False)
    moment = now.timestamp()
    due = [t for t in times if t <= moment]
    return SpoolState(
        available=True,
        waiting=depth.get("new", 0),
        deferred=len(times) - len(due),
        processing=depth.get("cur", 0),
        quarantined=depth.get("quarantine", 0),
        oldest_wait=moment - min(due) if due else None,
    )


def _next_attempts(directory: Path) -> list[float]:
    times = []
    with os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # claimed while we looked
                times.append(entry.stat().st_mtime)
    return times


def worker_health(
    spool: SpoolState, last: dt.datetime | None, now: dt.datetime, stall_after: float
) -> WorkerHealth:
    """Judge the worker from its last audit entry and the spool (see :class:`WorkerHealth`)."""
    since = (now - last).total_seconds() if last is not None else None
    limit = format_age(stall_after)
    lately = "no mail processed yet" if since is None else f"last processed {format_age(since)} ago"
    if since is not None and since <= stall_after:
        return WorkerHealth("ok", lately, last)
    if not spool.available:
        return WorkerHealth("unknown", f"the spool cannot be read here; {lately}", last)
    if spool.oldest_wait is None:
        return WorkerHealth("idle", f"nothing waiting; {lately}", last)
    waited = f"{spool.due} waiting, the oldest for {format_age(spool.oldest_wait)}"
    if spool.oldest_wait > stall_after:
        return WorkerHealth("stalled", f"{waited}; nothing processed in {limit}", last)
    return WorkerHealth("unknown", f"{waited}; {lately}", last)


def format_age(seconds: float) -> str:
    """A duration for people: ``45s``, ``7m 12s``, ``3h 05m``, ``2d 4h``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


__all__ = [
    "DAYS",
    "HOURS",
    "PROCESSED",
    "STALL_AFTER",
    "WEEK",
    "Backlog",
    "Dashboard",
    "DashboardService",
    "MailCounts",
    "Matching",
    "RepReplies",
    "SpoolState",
    "Volume",
    "WorkerHealth",
    "format_age",
    "spool_state",
    "worker_health",
]
