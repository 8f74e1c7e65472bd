"""The plugin outbox (events written with the change they describe, delivered after the
commit, per plugin and channel) and the follow-up tasks workflow plugins create."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crm.base import Base, UTCDateTime, intpk, timestamp

__all__ = ["DELIVERY_STATUSES", "TASK_STATUSES", "PluginDelivery", "PluginEvent", "Task"]

DELIVERY_STATUSES = ("pending", "running", "done", "failed")
TASK_STATUSES = ("open", "done", "cancelled")


class PluginEvent(Base):
    """One event (gateway.hooks), written in the transaction that caused it. Deleting the
    email or contact it is about (erasure, retention) deletes it and its deliveries."""

    __tablename__ = "plugin_events"
    __table_args__ = (Index("ix_plugin_events_fanned_out_id", "fanned_out", "id"),)
    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False, comment="deliveries made")
    created_at: Mapped[timestamp]


class PluginDelivery(Base):
    """One event for one plugin's channel: tried until done, failed or out of attempts."""

    __tablename__ = "plugin_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "plugin", "channel"),
        CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status"),
        Index("ix_plugin_deliveries_status_next", "status", "next_attempt_at"),
    )
    id: Mapped[intpk]
    event_id: Mapped[int] = mapped_column(ForeignKey("plugin_events.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(200), default="")
    # The email the event is about: deliveries of one email reach a channel in order.
    email_id: Mapped[int | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[timestamp]
    last_error: Mapped[str] = mapped_column(String(300), default="", comment="no content")
    updated_at: Mapped[timestamp]
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Task(Base):
    """Follow-up work: call back, send the quote, answer the unanswered mail."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status"),
        Index("ix_tasks_owner_status", "owner_id", "status"),
    )
    id: Mapped[intpk]
    title: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), default="open")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id", ondelete="SET NULL"))
    rule: Mapped[str] = mapped_column(String(60), default="", comment="the rule that made it")
    # Idempotency: one task per rule and subject ("no_reply:<email id>"), whoever runs it.
    key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[timestamp]
    created_by: Mapped[str] = mapped_column(String(320), default="")
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
