"""Build the plugin events (gateway.hooks) from the CRM rows they describe, inside the
transaction that made the change, and record them in the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from gateway.addresses import domain_of
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    ContactPhone,
    Email,
    EmailAssociation,
    EmailLogger,
    EmailParticipant,
    UserAddress,
    repo,
    txcache,
)
from gateway.hooks import ContactCreated, ContactRef, EmailLogged, event_payload
from gateway.outbox import emit, emit_at_write, listened

MAX_CONTACTS = 50

# Built once: every logged email runs them. A contact with its company, its first address
# (the primary, else the oldest) and one row per phone:
_CONTACT_REFS = (
    select(
        Contact.id,
        Contact.first_name,
        Contact.last_name,
        Contact.company_id,
        Contact.objecting,
        Contact.subscription,
        Contact.owner_id,
        Company.name.label("company_name"),
        select(ContactEmail.email)
        .where(ContactEmail.contact_id == Contact.id)
        .order_by(ContactEmail.is_primary.desc(), ContactEmail.id)
        .limit(1)
        .scalar_subquery()
        .label("address"),
        ContactPhone.e164,
    )
    .outerjoin(Company, Company.id == Contact.company_id)
    .outerjoin(ContactPhone, ContactPhone.contact_id == Contact.id)
    .where(Contact.id.in_(bindparam("ids", expanding=True)))
    .order_by(Contact.id, ContactPhone.id)
)
# An email's associations, oldest first:
_LINKS = (
    select(
        EmailAssociation.kind,
        EmailAssociation.contact_id,
        EmailAssociation.company_id,
        EmailAssociation.deal_id,
        EmailAssociation.ticket_id,
    )
    .where(EmailAssociation.email_id == bindparam("email_id"))
    .order_by(EmailAssociation.id)
)


def contact_ref(session: Session, contact: Contact) -> ContactRef:
    address = session.scalar(
        select(ContactEmail.email)
        .where(ContactEmail.contact_id == contact.id)
        .order_by(ContactEmail.is_primary.desc(), ContactEmail.id)
        .limit(1)
    )
    company = session.get(Company, contact.company_id) if contact.company_id else None
    return ContactRef(
        id=contact.id,
        email=address or "",
        name=f"{contact.first_name} {contact.last_name}".strip(),
        company_id=contact.company_id,
        company_name=company.name if company else "",
        phones=tuple(p.e164 for p in contact.phones),
        objecting=contact.objecting,
        subscription=contact.subscription,
        owner_id=contact.owner_id,
    )


def contact_refs(session: Session, contact_ids: Sequence[int]) -> list[ContactRef]:
    """:func:`contact_ref` of each of ``contact_ids`` that exists, in that order, in one
    query whatever their number: the contacts with their companies, their first address and
    one row per phone."""
    return _in_order(_contact_refs_by_id(session, contact_ids), contact_ids)


def _in_order(refs: dict[int, ContactRef], contact_ids: Sequence[int]) -> list[ContactRef]:
    return [refs[i] for i in dict.fromkeys(contact_ids) if i in refs]


def _contact_refs_by_id(session: Session, contact_ids: Sequence[int]) -> dict[int, ContactRef]:
    wanted = list(dict.fromkeys(contact_ids))
    if not wanted:
        return {}
    rows: dict[int, Any] = {}
    phones: dict[int, list[str]] = {}
    for record in repo.core(session).execute(_CONTACT_REFS, {"ids": wanted}):
        rows.setdefault(record.id, record)
        if record.e164 is not None:
            phones.setdefault(record.id, []).append(record.e164)
    return {
        row.id: ContactRef(
            id=row.id,
            email=row.address or "",
            name=f"{row.first_name} {row.last_name}".strip(),
            company_id=row.company_id,
            company_name=(row.company_name or "") if row.company_id else "",
            phones=tuple(phones.get(row.id, ())),
            objecting=row.objecting,
            subscription=row.subscription,
            owner_id=row.owner_id,
        )
        for row in rows.values()
    }


def emit_email_logged(
    session: Session,
    email: Email,
    team_inbox: str = "",
    *,
    links: Sequence[tuple[str, int]] | None = None,
    recipients: Sequence[str] | None = None,
    loggers: Sequence[str] | None = None,
) -> None:
    """Record that ``email`` (new, with its associations) is on the timeline. What the caller
    has at hand is not read again: ``links``, its associations as (kind, target id) in the
    order they were made; ``recipients``, its participants' addresses but the author's;
    ``loggers``, the primary addresses of the users who logged it."""
    if not listened(session, EmailLogged.kind):
        return
    session.flush()
    if links is None:
        links = email_links(session, email.id)
    by_kind: dict[str, list[int]] = {}
    for kind, target_id in links:
        by_kind.setdefault(kind, []).append(target_id)
    contact_ids = by_kind.get("contact", [])[:MAX_CONTACTS]
    if recipients is None:
        recipients = session.scalars(
            select(EmailParticipant.email).where(
                EmailParticipant.email_id == email.id, EmailParticipant.role != "from"
            )
        ).all()
    if loggers is None:
        loggers = session.scalars(
            select(UserAddress.email)
            .join(EmailLogger, EmailLogger.user_id == UserAddress.user_id)
            .where(EmailLogger.email_id == email.id, UserAddress.is_primary.is_(True))
        ).all()
    event = EmailLogged(
        email_id=email.id,
        message_id=email.message_id,
        subject=email.subject,
        direction=email.direction,
        received_at=email.received_at.isoformat(),
        from_email=email.from_email,
        from_name=email.from_name,
        privacy_level=email.privacy_level,
        reply_text=email.reply_text if email.privacy_level == "full" else "",
        language=email.language,
        in_reply_to=email.in_reply_to,
        recipients=tuple(recipients[:MAX_CONTACTS]),
        company_ids=tuple(by_kind.get("company", [])),
        deal_ids=tuple(by_kind.get("deal", [])),
        ticket_ids=tuple(by_kind.get("ticket", [])),
        loggers=tuple(loggers),
        team_inbox=team_inbox,
    )
    if contact_ids and (row := emit_at_write(session, event)) is not None:
        # A worker's batch: the contacts of all its emails are read in one query as the
        # transaction ends, so they are described as they are when the events become visible.
        _pending_contacts(session).append((row, event, contact_ids))
        txcache.at_write(session, _PENDING_CONTACTS, partial(_describe_contacts, session))
    else:
        emit(session, replace(event, contacts=tuple(contact_refs(session, contact_ids))))


_PENDING_CONTACTS = "bccrm.events.pending_contacts"
_Pending = list[tuple[dict[str, Any], EmailLogged, list[int]]]


def _pending_contacts(session: Session) -> _Pending:
    """The transaction's ``email_logged`` events waiting for their contacts: (outbox row,
    event, contact ids)."""
    return txcache.cached(session, _PENDING_CONTACTS, _Pending)


def _describe_contacts(session: Session) -> None:
    """Set the payload of the ``email_logged`` events waiting for their contacts."""
    pending = _pending_contacts(session)
    items = pending[:]
    pending.clear()
    refs = _contact_refs_by_id(session, [i for _, _, ids in items for i in ids])
    for row, event, contact_ids in items:
        contacts = tuple(_in_order(refs, contact_ids))
        row["payload"] = event_payload(replace(event, contacts=contacts))


def email_links(session: Session, email_id: int) -> list[tuple[str, int]]:
    """The email's associations as (kind, target id), in the order they were made."""
    rows = session.execute(_LINKS, {"email_id": email_id})
    kinds = ("contact", "company", "deal", "ticket")
    return [(kind, dict(zip(kinds, targets, strict=True))[kind]) for kind, *targets in rows]


def emit_contact_created(
    session: Session, contact: Contact, email_id: int | None = None, team_inbox: str = ""
) -> None:
    if not listened(session, ContactCreated.kind):
        return
    session.flush()
    ref = contact_ref(session, contact)
    emit(
        session,
        ContactCreated(
            contact=ref,
            first_name=contact.first_name,
            last_name=contact.last_name,
            title=contact.title,
            domain=domain_of(ref.email) if ref.email else "",
            email_id=email_id,
            team_inbox=team_inbox,
        ),
    )
