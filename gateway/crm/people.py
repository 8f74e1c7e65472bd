"""People and organisations: users (reps), companies, contacts, deals and tickets."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from gateway.crm.base import Base, email_str, intpk, name_str, timestamp


class User(Base):
    """A rep or admin of the organisation; the people who log mail."""

    __tablename__ = "users"
    id: Mapped[intpk]
    name: Mapped[name_str]
    is_admin: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255), comment="scrypt, for SMTP AUTH")
    log_token: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="secret of the user's log+t-<token>@ address"
    )
    created_at: Mapped[timestamp]
    addresses: Mapped[list[UserAddress]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserAddress.id"
    )


class UserAddress(Base):
    """An address a user sends from; the first one is the primary."""

    __tablename__ = "user_addresses"
    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[email_str] = mapped_column(unique=True, comment="normalised address")
    is_primary: Mapped[bool] = mapped_column(default=False)
    user: Mapped[User] = relationship(back_populates="addresses")


class Company(Base):
    __tablename__ = "companies"
    id: Mapped[intpk]
    name: Mapped[name_str]
    origin: Mapped[str] = mapped_column(String(20), comment="gateway, import or manual")
    # Filled by enrichment plugins (bccrm_enrich_contact) or by hand; "" when unknown.
    industry: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[str] = mapped_column(String(40), default="", comment="e.g. 11-50")
    country: Mapped[str] = mapped_column(String(2), default="", comment="ISO 3166-1 alpha-2")
    created_at: Mapped[timestamp]
    domains: Mapped[list[CompanyDomain]] = relationship(
        back_populates="company", cascade="all, delete-orphan", order_by="CompanyDomain.id"
    )


class CompanyDomain(Base):
    __tablename__ = "company_domains"
    id: Mapped[intpk]
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), unique=True, comment="IDNA ASCII, lower")
    company: Mapped[Company] = relationship(back_populates="domains")


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suggested', 'merged', 'erased')", name="status"),
        CheckConstraint("subscription IN ('subscribed', 'unsubscribed')", name="subscription"),
    )
    id: Mapped[intpk]
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    origin: Mapped[str] = mapped_column(String(20), comment="gateway, import or manual")
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), comment="set when status is merged"
    )
    # GDPR/RODO: the legal basis for processing (gateway.crm.privacy.LEGAL_BASES), whether it is
    # only proposed (bccrm's default for people it creates) or confirmed, by whom and from what.
    legal_basis: Mapped[str | None] = mapped_column(String(40))
    legal_basis_status: Mapped[str] = mapped_column(String(10), default="")
    legal_basis_source: Mapped[str] = mapped_column(String(100), default="")
    legal_basis_at: Mapped[dt.datetime | None]
    legal_basis_by: Mapped[str] = mapped_column(String(320), default="")
    subscription: Mapped[str] = mapped_column(String(12), default="subscribed")
    unsubscribed_at: Mapped[dt.datetime | None]
    notice_due_at: Mapped[dt.datetime | None] = mapped_column(
        comment="Art. 14 information notice due (people bccrm created from mail)"
    )
    notice_done_at: Mapped[dt.datetime | None]
    objecting: Mapped[bool] = mapped_column(default=False, comment="Art. 21 objection")
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactEmail.id"
    )
    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactPhone.id"
    )
    company: Mapped[Company | None] = relationship()

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ContactEmail(Base):
    """A contact's address; unique across contacts so one address is one person."""

    __tablename__ = "contact_emails"
    id: Mapped[intpk]
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[email_str] = mapped_column(unique=True, comment="normalised address")
    domain: Mapped[str] = mapped_column(String(253), index=True, default="")
    is_primary: Mapped[bool] = mapped_column(default=False)
    bounced_at: Mapped[dt.datetime | None] = mapped_column(
        comment="last permanent delivery failure reported by a bounce"
    )
    contact: Mapped[Contact] = relationship(back_populates="emails")

    @validates("email")
    def _set_domain(self, _key: str, email: str) -> str:
        self.domain = email.rpartition("@")[2]
        return email


class ContactNameKey(Base):
    """Blocking keys of a contact's name (``kowalska|a``, ``kowa~a``): how candidates for
    fuzzy matching are found by index among millions of contacts. Maintained by
    :func:`gateway.crm.repo.index_contact_name`."""

    __tablename__ = "contact_name_keys"
    # Covering: a lookup by key reads the names from the index alone, in one range scan.
    __table_args__ = (Index("ix_contact_name_keys_lookup", "key", "contact_id", "name"),)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(301), default="", comment="first and last name")


class ContactPhone(Base):
    __tablename__ = "contact_phones"
    __table_args__ = (UniqueConstraint("contact_id", "e164"),)
    id: Mapped[intpk]
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    e164: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="")
    contact: Mapped[Contact] = relationship(back_populates="phones")


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (CheckConstraint("status IN ('open', 'won', 'lost')", name="status"),)
    id: Mapped[intpk]
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    name: Mapped[name_str]
    stage: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[timestamp]
    contacts: Mapped[list[DealContact]] = relationship(cascade="all, delete-orphan")


class DealContact(Base):
    __tablename__ = "deal_contacts"
    deal_id: Mapped[int] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (CheckConstraint("status IN ('open', 'pending', 'closed')", name="status"),)
    id: Mapped[intpk]
    subject: Mapped[str] = mapped_column(String(998), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    inbox: Mapped[str] = mapped_column(String(320), default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[dt.datetime | None]


class TicketContact(Base):
    __tablename__ = "ticket_contacts"
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
