"""Build the plugin events (gateway.hooks) from the CRM rows they describe, inside the
transaction that made the change, and record them in the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.addresses import domain_of
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    Email,
    EmailAssociation,
    EmailLogger,
    EmailParticipant,
    UserAddress,
)
from gateway.hooks import ContactCreated, ContactRef, EmailLogged
from gateway.outbox import emit

MAX_CONTACTS = 50


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


def emit_email_logged(session: Session, email: Email, team_inbox: str = "") -> None:
    """Record that ``email`` (new, with its associations) is on the timeline."""
    session.flush()
    links = session.scalars(
        select(EmailAssociation).where(EmailAssociation.email_id == email.id)
    ).all()
    by_kind: dict[str, list[int]] = {}
    for link in links:
        by_kind.setdefault(link.kind, []).append(link.target_id)
    contacts = [
        contact_ref(session, contact)
        for contact_id in by_kind.get("contact", [])[:MAX_CONTACTS]
        if (contact := session.get(Contact, contact_id)) is not None
    ]
    recipients = session.scalars(
        select(EmailParticipant.email).where(
            EmailParticipant.email_id == email.id, EmailParticipant.role != "from"
        )
    ).all()
    loggers = session.scalars(
        select(UserAddress.email)
        .join(EmailLogger, EmailLogger.user_id == UserAddress.user_id)
        .where(EmailLogger.email_id == email.id, UserAddress.is_primary.is_(True))
    ).all()
    emit(
        session,
        EmailLogged(
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
            contacts=tuple(contacts),
            company_ids=tuple(by_kind.get("company", [])),
            deal_ids=tuple(by_kind.get("deal", [])),
            ticket_ids=tuple(by_kind.get("ticket", [])),
            loggers=tuple(loggers),
            team_inbox=team_inbox,
        ),
    )


def emit_contact_created(
    session: Session, contact: Contact, email_id: int | None = None, team_inbox: str = ""
) -> None:
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
