"""The health summary of one node: spool, quarantine, backlog, plugin outbox and worker.

Shared by ``bccrm status`` and the Prometheus collector (:mod:`gateway.metrics`), so the terminal
and the monitoring system never disagree. Built to survive a database outage: the spool is read
from disk either way, the database parts are ``None`` when they could not be read, and the
outage itself is one of the :attr:`Health.problems`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.crm import AuditEntry, LegalBasisCheck, ReviewItem, utcnow
from gateway.crm.db import SchemaOutOfDate, check_schema
from gateway.crm.plugins import DELIVERY_STATUSES
from gateway.outbox import outbox_counts
from gateway.services.dashboard import (
    STALL_AFTER,
    WORKER,
    SpoolState,
    WorkerHealth,
    format_age,
    spool_state,
    worker_health,
)
from gateway.spool import Spool

OUTBOX_STATUSES = DELIVERY_STATUSES  # pending, running, done, failed


@dataclass(frozen=True)
class DatabaseHealth:
    """What was read from the database; the counts are ``None`` when it could not be read."""

    available: bool
    problem: str = ""  # why not, in a fixed phrase (never the exception's class or text)
    review_open: int | None = None
    legal_checks_open: int | None = None
    # Deliveries per plugin and status (pending, running, done, failed).
    outbox: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    last_worker_activity: dt.datetime | None = None

    def outbox_total(self, status: str) -> int:
        return sum(counts.get(status, 0) for counts in self.outbox.values())


@dataclass(frozen=True)
class Health:
    now: dt.datetime
    spool: SpoolState
    database: DatabaseHealth
    worker: WorkerHealth

    @property
    def problems(self) -> tuple[str, ...]:
        """What needs someone's attention; empty when the node is healthy."""
        found = []
        if not self.database.available:
            found.append(f"database unavailable ({self.database.problem})")
        if self.worker.state == "stalled":
            found.append(f"worker stalled: {self.worker.reason}")
        if failed := self.database.outbox_total("failed"):
            found.append(f"{failed} plugin deliveries failed (see 'bccrm plugins outbox')")
        return tuple(found)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        spool, db = self.spool, self.database
        return {
            "healthy": self.healthy,
            "problems": list(self.problems),
            "now": self.now.isoformat(),
            "spool": {
                "available": spool.available,
                "waiting": spool.waiting,
                "due": spool.due,
                "deferred": spool.deferred,
                "processing": spool.processing,
                "oldest_wait_seconds": spool.oldest_wait,
                "quarantined": spool.quarantined,
            },
            "database": {"available": db.available, "problem": db.problem},
            "review_open": db.review_open,
            "legal_checks_open": db.legal_checks_open,
            "outbox": {status: db.outbox_total(status) for status in OUTBOX_STATUSES}
            if db.available
            else None,
            "outbox_by_plugin": {k: dict(v) for k, v in sorted(db.outbox.items())},
            "worker": {
                "state": self.worker.state,
                "reason": self.worker.reason,
                "last_activity": _iso(self.worker.last_activity),
            },
        }


class HealthService:
    """Reads the health summary: a look at the spool and one short read-only transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], spool: Spool, stall_after: float = STALL_AFTER
    ) -> None:
        self.sessions = sessions
        self.spool = spool
        self.stall_after = stall_after

    def summary(self, now: dt.datetime | None = None) -> Health:
        now = utcnow() if now is None else now.astimezone(dt.UTC)
        spool = spool_state(self.spool, now)
        database = self._database(now)
        if database.available:
            worker = worker_health(spool, database.last_worker_activity, now, self.stall_after)
        else:
            worker = _worker_without_database(spool, self.stall_after)
        return Health(now=now, spool=spool, database=database, worker=worker)

    def _database(self, now: dt.datetime) -> DatabaseHealth:
        try:
            with self.sessions() as session:
                return _read(session, now)
        except SQLAlchemyError as exc:
            return DatabaseHealth(available=False, problem=self._why(exc))

    def _why(self, exc: SQLAlchemyError) -> str:
        """Why the database could not be read: a schema that needs ``bccrm db upgrade`` (an
        empty database reads as missing tables), else what kind of failure it was."""
        engine = self.sessions.kw.get("bind")
        if isinstance(engine, Engine):
            try:
                check_schema(engine)
            except SchemaOutOfDate as outdated:
                return str(outdated)
            except SQLAlchemyError:
                pass
        return "cannot be reached" if isinstance(exc, OperationalError) else "database error"


def _read(session: Session, now: dt.datetime) -> DatabaseHealth:
    reviews = session.scalar(select(func.count(ReviewItem.id)).where(ReviewItem.status == "open"))
    checks = session.scalar(
        select(func.count(LegalBasisCheck.id)).where(LegalBasisCheck.status == "open")
    )
    # The newest entry by the worker, as the dashboard judges it (index on ``at``).
    last = session.scalar(
        select(AuditEntry.at)
        .where(AuditEntry.actor == WORKER, AuditEntry.at <= now)
        .order_by(AuditEntry.at.desc())
        .limit(1)
    )
    return DatabaseHealth(
        available=True,
        review_open=int(reviews or 0),
        legal_checks_open=int(checks or 0),
        outbox=outbox_counts(session),
        last_worker_activity=last,
    )


def _worker_without_database(spool: SpoolState, stall_after: float) -> WorkerHealth:
    """Without the audit log only the spool speaks: a due entry waiting longer than the stall
    limit means nothing is being processed (the worker cannot log without the database)."""
    if spool.oldest_wait is not None and spool.oldest_wait > stall_after:
        waited = f"{spool.due} waiting, the oldest for {format_age(spool.oldest_wait)}"
        return WorkerHealth("stalled", f"{waited}; the database is unavailable", None)
    return WorkerHealth("unknown", "the database is unavailable", None)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


__all__ = ["OUTBOX_STATUSES", "DatabaseHealth", "Health", "HealthService"]
