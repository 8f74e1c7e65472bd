"""Privacy records: never-log lists, the suppression list of erased or objecting people,
legal-basis checks, and installation settings (the keyed-hash secret)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.config_privacy import LEGAL_BASES
from gateway.crm.base import Base, intpk, timestamp

__all__ = ["LEGAL_BASES", "LegalBasisCheck", "NeverLog", "Setting", "Suppression"]


class NeverLog(Base):
    """An address or a whole domain that is never logged: for everyone (``scope`` "org") or
    for one user's mail ("user:<id>")."""

    __tablename__ = "never_log"
    __table_args__ = (
        UniqueConstraint("scope", "value"),
        CheckConstraint("kind IN ('address', 'domain')", name="kind"),
    )
    id: Mapped[intpk]
    scope: Mapped[str] = mapped_column(String(40), comment='"org" or "user:<id>"')
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(320), comment="normalised address or domain")
    created_at: Mapped[timestamp]
    created_by: Mapped[str] = mapped_column(String(320), default="")


class Suppression(Base):
    """A person who was erased or objects: only a keyed hash of the address is kept, so later
    mail is recognised without storing who it was."""

    __tablename__ = "suppressions"
    __table_args__ = (CheckConstraint("reason IN ('erased', 'objected')", name="reason"),)
    id: Mapped[intpk]
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[timestamp]


class LegalBasisCheck(Base):
    """An outbound email to a contact without a confirmed legal basis, or to an unsubscribed
    contact: a person decides (one-time basis, set the contact's basis, or acknowledge)."""

    __tablename__ = "legal_basis_checks"
    __table_args__ = (
        UniqueConstraint("email_id", "contact_id"),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
    )
    id: Mapped[intpk]
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(40), comment="no_confirmed_basis, unsubscribed")
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    action: Mapped[str] = mapped_column(String(20), default="")
    basis: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(Text, default="", comment="explanation or note")
    created_at: Mapped[timestamp]
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str] = mapped_column(String(320), default="")


class Setting(Base):
    """Installation settings kept in the database (the generated keyed-hash secret)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
