"""The webhook delivery log (``bccrm webhooks log``): the outbox deliveries of the ``webhook``
plugin, one per event and endpoint, newest first.

The outbox gives every endpoint every event; the plugin sends only the kinds an endpoint takes
(its ``events``) and the rest end as ``done`` at once. ``kinds`` leaves those out, so the log
shows what was sent. Rows carry ids, kinds, statuses and the plugin's content-free error
texts ("HTTP 503", "timeout") only, never payloads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from gateway.crm import PluginDelivery, PluginEvent
from gateway.crm.plugins import DELIVERY_STATUSES

PLUGIN = "webhook"  # the plugin's entry-point name: deliveries are recorded under it
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class WebhookDelivery:
    id: int  # the delivery (``bccrm plugins retry ID``)
    event_id: int  # sent as X-Bccrm-Delivery
    endpoint: str
    event: str  # the event kind
    email_id: int | None
    status: str  # pending, running, done or failed
    attempts: int
    last_error: str
    next_attempt_at: datetime | None  # while pending
    delivered_at: datetime | None
    updated_at: datetime


class WebhookLogService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def deliveries(
        self,
        endpoint: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        kinds: Mapping[str, Collection[str]] | None = None,
    ) -> list[WebhookDelivery]:
        """The newest ``limit`` deliveries, of one endpoint and one status if given.
        ``kinds``: the event kinds each endpoint takes (endpoints not named: every kind)."""
        if status is not None and status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown status {status!r} (known: {', '.join(DELIVERY_STATUSES)})")
        query = (
            select(PluginDelivery, PluginEvent.kind)
            .join(PluginEvent, PluginEvent.id == PluginDelivery.event_id)
            .where(PluginDelivery.plugin == PLUGIN, _taken(kinds or {}))
            .order_by(PluginDelivery.id.desc())
            .limit(limit)
        )
        if endpoint is not None:
            query = query.where(PluginDelivery.channel == endpoint)
        if status is not None:
            query = query.where(PluginDelivery.status == status)
        with self.sessions() as session:
            return [_row(delivery, kind) for delivery, kind in session.execute(query).tuples()]


def _taken(kinds: Mapping[str, Collection[str]]) -> ColumnElement[bool]:
    """Deliveries of kinds their endpoint takes."""
    if not kinds:
        return true()
    return or_(
        PluginDelivery.channel.not_in(list(kinds)),
        *(
            and_(PluginDelivery.channel == name, PluginEvent.kind.in_(list(taken)))
            for name, taken in kinds.items()
        ),
    )


def _row(delivery: PluginDelivery, kind: str) -> WebhookDelivery:
    return WebhookDelivery(
        id=delivery.id,
        event_id=delivery.event_id,
        endpoint=delivery.channel,
        event=kind,
        email_id=delivery.email_id,
        status=delivery.status,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        delivered_at=delivery.delivered_at,
        updated_at=delivery.updated_at,
    )
