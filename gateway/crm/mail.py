"""Logged email and what hangs off it: loggers, participants, attachments, associations;
plus the review queue and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.crm.base import Base, UTCDateTime, email_str, intpk, name_str, timestamp

DIRECTIONS = ("outbound", "inbound", "internal")
ASSOCIATION_KINDS = ("contact", "company", "deal", "ticket")


class Email(Base):
    """One logged message. The same message logged by several reps or delivered twice is
    one row: ``dedup_key`` (Message-ID + body hash) is unique."""

    __tablename__ = "emails"
    __table_args__ = (
        CheckConstraint("direction IN ('outbound', 'inbound', 'internal')", name="direction"),
        CheckConstraint("privacy_level IN ('full', 'metadata', 'anonymous')", name="privacy_level"),
        # The email log's newest-first keyset pages (migration 0006).
        Index("ix_emails_received_at_id", "received_at", "id"),
    )
    id: Mapped[intpk]
    dedup_key: Mapped[str] = mapped_column(
        String(64), unique=True, comment="sha256 of Message-ID and body hash"
    )
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    direction: Mapped[str] = mapped_column(String(10))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), comment="Date header")
    received_at: Mapped[timestamp]
    from_email: Mapped[email_str]
    from_name: Mapped[name_str] = mapped_column(default="")
    forwarded_by_email: Mapped[str | None] = mapped_column(
        String(320), comment="the rep who forwarded it; from_* is the original author"
    )
    forwarded_by_name: Mapped[str] = mapped_column(String(300), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    reply_text: Mapped[str] = mapped_column(Text, default="", comment="newest text only")
    language: Mapped[str] = mapped_column(String(8), default="")
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[list[Any]] = mapped_column(default=list)
    normalized_subject: Mapped[str] = mapped_column(Text, default="")
    tokens: Mapped[dict[str, Any]] = mapped_column(default=dict, comment="deal/ticket/private")
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict, comment="bulk/auto/bounce")
    body_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(comment="bytes as received")
    privacy_level: Mapped[str] = mapped_column(String(10), default="full")
    privacy: Mapped[dict[str, Any]] = mapped_column(
        default=dict, comment="level, rules hit and missed, redaction counts"
    )
    one_time_basis: Mapped[str] = mapped_column(
        Text, default="", comment="a legal basis given for this email only, with why"
    )
    transactional: Mapped[bool] = mapped_column(
        default=False, comment="associated with a ticket: service mail, not marketing"
    )
    auth: Mapped[dict[str, Any]] = mapped_column(default=dict, comment="verification verdict")
    defects: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[timestamp]
    loggers: Mapped[list[EmailLogger]] = relationship(
        cascade="all, delete-orphan", order_by="EmailLogger.logged_at"
    )
    participants: Mapped[list[EmailParticipant]] = relationship(
        cascade="all, delete-orphan", order_by="EmailParticipant.id"
    )
    attachments: Mapped[list[EmailAttachment]] = relationship(
        cascade="all, delete-orphan", order_by="EmailAttachment.id"
    )
    associations: Mapped[list[EmailAssociation]] = relationship(
        cascade="all, delete-orphan", order_by="EmailAssociation.id"
    )


class EmailLogger(Base):
    """A user who logged (BCC'd, forwarded, routed) this email."""

    __tablename__ = "email_loggers"
    email_id: Mapped[int] = mapped_column(
        ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    logged_at: Mapped[timestamp]


class EmailParticipant(Base):
    __tablename__ = "email_participants"
    __table_args__ = (
        UniqueConstraint("email_id", "role", "email"),
        CheckConstraint("role IN ('from', 'to', 'cc')", name="role"),
    )
    id: Mapped[intpk]
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(4))
    email: Mapped[email_str] = mapped_column(index=True)
    name: Mapped[name_str] = mapped_column(default="")
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(
        String(20), default="", comment="how matching decided: see gateway.matching.OUTCOMES"
    )
    reason: Mapped[str] = mapped_column(String(300), default="")
    confidence: Mapped[float | None]


class EmailAttachment(Base):
    """Attachment metadata only; the content is never stored."""

    __tablename__ = "email_attachments"
    id: Mapped[intpk]
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))


class EmailAssociation(Base):
    """A link from an email to a CRM record, with why and how sure bccrm was.

    One nullable foreign key per kind (rather than a polymorphic id) so the database keeps
    the links honest and erasing a contact removes its links.
    """

    __tablename__ = "email_associations"
    __table_args__ = (
        UniqueConstraint("email_id", "contact_id"),
        UniqueConstraint("email_id", "company_id"),
        UniqueConstraint("email_id", "deal_id"),
        UniqueConstraint("email_id", "ticket_id"),
        CheckConstraint(
            "(kind = 'contact' AND contact_id IS NOT NULL AND company_id IS NULL"
            " AND deal_id IS NULL AND ticket_id IS NULL)"
            " OR (kind = 'company' AND company_id IS NOT NULL AND contact_id IS NULL"
            " AND deal_id IS NULL AND ticket_id IS NULL)"
            " OR (kind = 'deal' AND deal_id IS NOT NULL AND contact_id IS NULL"
            " AND company_id IS NULL AND ticket_id IS NULL)"
            " OR (kind = 'ticket' AND ticket_id IS NOT NULL AND contact_id IS NULL"
            " AND company_id IS NULL AND deal_id IS NULL)",
            name="one_target",
        ),
        Index("ix_email_associations_contact_id", "contact_id"),
        Index("ix_email_associations_company_id", "company_id"),
    )
    id: Mapped[intpk]
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(default=1.0)
    created_at: Mapped[timestamp]

    @property
    def target_id(self) -> int:
        target = {
            "contact": self.contact_id,
            "company": self.company_id,
            "deal": self.deal_id,
            "ticket": self.ticket_id,
        }[self.kind]
        assert target is not None
        return target


class ReviewItem(Base):
    """A question bccrm asks a person instead of guessing."""

    __tablename__ = "review_items"
    __table_args__ = (CheckConstraint("status IN ('open', 'approved', 'rejected')", name="status"),)
    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(30), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    key: Mapped[str | None] = mapped_column(
        String(400),
        unique=True,
        comment="one question per subject: asked once, answered once, never asked again",
    )
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[timestamp]
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(320))


class AuditEntry(Base):
    """Who did what, when. Details hold identifiers and rule names, never bodies."""

    __tablename__ = "audit_log"
    id: Mapped[intpk]
    at: Mapped[timestamp] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(320), comment="worker, cli, or a user address")
    action: Mapped[str] = mapped_column(String(50), index=True)
    object_kind: Mapped[str] = mapped_column(String(30), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
