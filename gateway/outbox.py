"""The plugin outbox: events are written in the transaction that caused them (:func:`emit`) and
delivered after the commit by :class:`Dispatcher`, which the worker runs between messages.

Delivery is per plugin and channel, so a webhook endpoint that is down delays only itself;
in order per email and channel (a later event waits while an earlier one is retried); and
at least once — a worker killed mid-call delivers again after the lease runs out, with the
same ``event_id`` for receivers to recognise. A plugin asks for a retry by raising
:class:`gateway.hooks.RetryLater`; any other exception fails that delivery for good.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from gateway.crm import (
    Company,
    Contact,
    PluginDelivery,
    PluginEvent,
    repo,
    txcache,
    utcnow,
)
from gateway.errors import describe
from gateway.hooks import (
    EVENT_HOOKS,
    ContactDraft,
    DeliveryFailed,
    Event,
    Evidence,
    RetryLater,
    event_from_payload,
    event_payload,
)
from gateway.plugin_host import PluginHost

log = logging.getLogger("bccrm.outbox")

LEASE = timedelta(minutes=10)  # a "running" delivery older than this was abandoned by a crash
KEEP_DONE = timedelta(days=7)  # delivered events stay this long for `bccrm plugins outbox`


_LISTENING = "bccrm.listening"


def listen_only(session: Session, kinds: frozenset[str]) -> None:
    """Record in ``session`` only the events of ``kinds``: those an enabled plugin of this
    process receives (:meth:`PluginHost.listening`). The dispatcher would delete the others
    unread; the worker does not build them at all."""
    session.info[_LISTENING] = kinds


def listened(session: Session, kind: str) -> bool:
    """Whether events of ``kind`` are recorded in ``session`` (all are, unless the session
    was told otherwise with :func:`listen_only`)."""
    kinds = session.info.get(_LISTENING)
    return kinds is None or kind in kinds


def emit(session: Session, event: Event) -> None:
    """Record ``event`` for delivery once ``session``'s transaction commits (unless nobody
    listens, see :func:`listen_only`)."""
    if not listened(session, event.kind):
        return
    row = _event_row(event)
    row["payload"] = event_payload(event)
    if not txcache.defer_insert(session, _EVENTS, row):
        session.add(PluginEvent(**row))


def emit_at_write(session: Session, event: Event) -> dict[str, Any] | None:
    """Record ``event`` in its place among the transaction's events, its payload left for the
    caller to set before the deferred rows are written (:func:`txcache.at_write`). None
    when rows are not deferred in ``session`` (or nobody listens): nothing was recorded."""
    if not listened(session, event.kind):
        return None
    row = _event_row(event)
    return row if txcache.defer_insert(session, _EVENTS, row) else None


def _event_row(event: Event) -> dict[str, Any]:
    contact = getattr(event, "contact", None)
    return {
        "kind": event.kind,
        "payload": None,
        "email_id": getattr(event, "email_id", None),
        "contact_id": contact.id if contact is not None else getattr(event, "contact_id", None),
        "fanned_out": False,
        "created_at": utcnow(),
    }


_EVENTS: Any = PluginEvent.__table__


@dataclass
class DispatchStats:
    fanned_out: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    enriched: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Fans events out to the enabled plugins' channels and delivers what is due."""

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self.sessions = host.sessions
        self.settings = host.config.plugins

    def run(self, limit: int = 200, budget: float = 5.0) -> DispatchStats:
        """One pass: fan out new events, then deliver due ones until ``limit`` deliveries or
        ``budget`` seconds have been spent."""
        stats = DispatchStats()
        self.fan_out(stats, limit)
        deadline = time.monotonic() + budget
        tried: set[int] = set()  # a delivery is tried at most once per pass
        while stats.delivered + stats.retried + stats.failed < limit:
            if time.monotonic() > deadline or not self._deliver_one(stats, tried):
                break
        return stats

    # -- fan out --------------------------------------------------------------------------

    def fan_out(self, stats: DispatchStats, limit: int) -> None:
        with self.sessions.begin() as session:
            query = select(PluginEvent).where(PluginEvent.fanned_out.is_(False))
            query = query.order_by(PluginEvent.id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for event in session.scalars(query):
                if event.kind == "contact_created":
                    stats.enriched += self._enrich(session, event)
                targets = [
                    (name, channel)
                    for name, _impl in self.host.implementations(EVENT_HOOKS[event.kind])
                    for channel in self.host.channels(name)
                ]
                if not targets:
                    session.delete(event)  # nobody listens: keep nothing
                    continue
                now = self.host.now()
                for name, channel in targets:
                    session.add(
                        PluginDelivery(
                            event_id=event.id,
                            plugin=name,
                            channel=channel,
                            email_id=event.email_id,
                            next_attempt_at=now,
                            updated_at=now,
                        )
                    )
                event.fanned_out = True
                stats.fanned_out += 1

    def _enrich(self, session: Session, event: PluginEvent) -> int:
        """Apply enrichment suggestions to a contact just created (empty fields only)."""
        if not self.host.implementations("bccrm_enrich_contact"):
            return 0
        contact = session.get(Contact, event.contact_id) if event.contact_id else None
        if contact is None or contact.status in ("erased", "merged"):
            return 0
        data = event.payload
        ref = data.get("contact", {})
        company = session.get(Company, contact.company_id) if contact.company_id else None
        draft = ContactDraft(
            contact_id=contact.id,
            email=str(ref.get("email", "")),
            first_name=contact.first_name,
            last_name=contact.last_name,
            title=contact.title,
            company_id=contact.company_id,
            company_name=company.name if company else "",
            phones=tuple(ref.get("phones", ())),
        )
        domain = str(data.get("domain", ""))
        if domain in self.host.config.organization.free_mail_domains:
            domain = ""  # gmail.com says nothing about anyone's employer
        evidence = Evidence(domain=domain, email_id=data.get("email_id"))
        # A company bccrm named after its domain has no real name yet: enrichment may give one.
        placeholders = {d.domain for d in company.domains} if company is not None else set()
        applied = []
        for key, value in self.host.enrich(draft, evidence).items():
            target, _, attribute = key.rpartition(".")
            record: Any = company if target == "company" else contact
            current = getattr(record, attribute, None) if record is not None else None
            empty = current == "" or (key == "company.name" and current in placeholders)
            if record is None or not empty:
                continue
            column = type(record).__table__.columns[attribute]
            setattr(record, attribute, value[: column.type.length or None])
            applied.append(key)
        if applied:
            repo.audit(
                session, "plugins", "contact.enriched", "contact", contact.id, fields=applied
            )
        return 1 if applied else 0

    # -- deliver ----------------------------------------------------------------------------

    def _deliver_one(self, stats: DispatchStats, tried: set[int]) -> bool:
        """Claim and deliver the oldest due delivery whose email has nothing earlier waiting on
        the same channel and that this pass has not tried; False when there is none."""
        now = self.host.now()
        claimed = self._claim(now, tried)
        if claimed is None:
            return False
        delivery_id, name, channel, kind, payload, event_id, attempts = claimed
        tried.add(delivery_id)
        impls = [impl for n, impl in self.host.implementations(EVENT_HOOKS[kind]) if n == name]
        outcome, error, after = "done", "", None
        logged = ""  # what the log line says instead of ``error`` (no class names: I-4)
        if not impls:
            outcome, error = "failed", "plugin no longer enabled"
        else:
            event = event_from_payload(kind, payload, event_id)
            try:
                self.host.call(
                    impls[0], event=event, channel=channel, context=self.host.contexts[name]
                )
            except RetryLater as retry:
                outcome, error, after = "retry", retry.reason[:300], retry.after
            except DeliveryFailed as failed:
                outcome, error = "failed", failed.reason[:300]
            except Exception as exc:
                # The class is kept for `bccrm plugins outbox` (the plugin's author needs it);
                # the log line says what kind of failure it was, the traceback is at DEBUG.
                outcome, error, logged = "failed", type(exc).__name__, describe(exc)
                log.debug("delivery %s to %s failed", delivery_id, name, exc_info=True)
        self._finish(
            delivery_id,
            name,
            outcome=outcome,
            error=error,
            logged=logged,
            after=after,
            attempts=attempts + 1,
            stats=stats,
        )
        return True

    def _claim(
        self, now: datetime, tried: set[int]
    ) -> tuple[int, str, str, str, dict[str, Any], int, int] | None:
        with self.sessions.begin() as session:
            session.execute(
                update(PluginDelivery)
                .where(PluginDelivery.status == "running", PluginDelivery.updated_at < now - LEASE)
                .values(status="pending")
            )
            earlier = aliased(PluginDelivery)
            blocked = exists().where(
                earlier.plugin == PluginDelivery.plugin,
                earlier.channel == PluginDelivery.channel,
                earlier.email_id == PluginDelivery.email_id,
                earlier.id < PluginDelivery.id,
                earlier.status.in_(("pending", "running")),
            )
            candidates = session.execute(
                select(PluginDelivery.id)
                .where(
                    PluginDelivery.status == "pending",
                    PluginDelivery.next_attempt_at <= now,
                    PluginDelivery.id.not_in(tried),
                    ~and_(PluginDelivery.email_id.is_not(None), blocked),
                )
                .order_by(PluginDelivery.id)
                .limit(20)
            ).scalars()
            for delivery_id in list(candidates):
                won = _rowcount(
                    session.execute(
                        update(PluginDelivery)
                        .where(PluginDelivery.id == delivery_id, PluginDelivery.status == "pending")
                        .values(status="running", updated_at=now)
                    )
                )
                if not won:
                    continue  # another worker took it
                row = session.execute(
                    select(
                        PluginDelivery.plugin,
                        PluginDelivery.channel,
                        PluginEvent.kind,
                        PluginEvent.payload,
                        PluginEvent.id,
                        PluginDelivery.attempts,
                    )
                    .join(PluginEvent, PluginEvent.id == PluginDelivery.event_id)
                    .where(PluginDelivery.id == delivery_id)
                ).one()
                return (delivery_id, *tuple(row))
        return None

    def _finish(
        self,
        delivery_id: int,
        name: str,
        *,
        outcome: str,
        error: str,
        logged: str = "",
        after: float | None,
        attempts: int,
        stats: DispatchStats,
    ) -> None:
        now = self.host.now()
        values: dict[str, Any] = {"attempts": attempts, "updated_at": now, "last_error": error}
        if outcome == "retry" and attempts < self.settings.max_attempts:
            delay = after if after is not None else self._backoff(attempts)
            values |= {"status": "pending", "next_attempt_at": now + timedelta(seconds=delay)}
            stats.retried += 1
            log.info("delivery %s to %s: retry in %.0f s (%s)", delivery_id, name, delay, error)
        elif outcome == "done":
            values |= {"status": "done", "delivered_at": now}
            stats.delivered += 1
        else:
            values |= {"status": "failed"}
            stats.failed += 1
            stats.errors[name] = stats.errors.get(name, 0) + 1
            self.host.failures[f"{name}.delivery"] += 1
            shown = logged or error or "gave up"
            log.warning("delivery %s to %s failed: %s", delivery_id, name, shown)
        with self.sessions.begin() as session:
            session.execute(
                update(PluginDelivery).where(PluginDelivery.id == delivery_id).values(**values)
            )

    def _backoff(self, attempts: int) -> float:
        base, ceiling = self.settings.retry_base, self.settings.retry_max
        return float(min(ceiling, base * 2 ** (attempts - 1)))

    # -- housekeeping -------------------------------------------------------------------------

    def prune(self) -> int:
        """Forget events whose every delivery was done more than a week ago."""
        cutoff = self.host.now() - KEEP_DONE
        undone = exists().where(
            PluginDelivery.event_id == PluginEvent.id,
            (PluginDelivery.status != "done") | (PluginDelivery.delivered_at >= cutoff),
        )
        with self.sessions.begin() as session:
            result = session.execute(
                delete(PluginEvent).where(PluginEvent.fanned_out.is_(True), ~undone)
            )
            return _rowcount(result)


def outbox_counts(session: Session) -> dict[str, dict[str, int]]:
    """Deliveries per plugin and status, for ``bccrm plugins outbox`` and metrics."""
    rows = session.execute(
        select(PluginDelivery.plugin, PluginDelivery.status, func.count()).group_by(
            PluginDelivery.plugin, PluginDelivery.status
        )
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for plugin, status, count in rows:
        counts.setdefault(plugin, {})[status] = count
    return counts


def _rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE changed (``CursorResult.rowcount``)."""
    return int(getattr(result, "rowcount", 0) or 0)
