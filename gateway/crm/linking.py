"""Links between logged email and CRM records, shared by the pipeline and the review queue.

Every link carries a reason and a confidence. Writes check for an existing link first, so
applying the same decision twice (a duplicate copy, a re-run review) adds nothing; the
unique constraints on ``email_associations`` settle races between workers.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.crm import repo
from gateway.crm.base import utcnow
from gateway.crm.mail import Email, EmailAssociation, EmailParticipant
from gateway.crm.people import Contact, ContactEmail, TicketContact

# How matching decided for one participant (``email_participants.outcome``).
LINKED = "linked"  # exact address
AUTO_LINKED = "auto_linked"  # fuzzy score at or above matching.auto_link
CREATED = "created"  # a new contact
SUGGESTED = "suggested"  # waiting for "same person?" in the review queue
PENDING = "pending"  # waiting for "new contact?" in the review queue
REVIEWED = "reviewed"  # linked by a person's review decision
IGNORED = "ignored"  # no contact on purpose (role address, bulk mail, policy ...)
OUTCOMES = (LINKED, AUTO_LINKED, CREATED, SUGGESTED, PENDING, REVIEWED, IGNORED)
WAITING = (SUGGESTED, PENDING)

_TARGETS = {
    "contact": EmailAssociation.contact_id,
    "company": EmailAssociation.company_id,
    "deal": EmailAssociation.deal_id,
    "ticket": EmailAssociation.ticket_id,
}


def associate(
    session: Session, email_id: int, kind: str, target_id: int, *, reason: str, confidence: float
) -> bool:
    """Link ``email_id`` to a record of ``kind``; False when the link already exists."""
    column = _TARGETS[kind]
    exists = session.scalar(
        select(EmailAssociation.id).where(
            EmailAssociation.email_id == email_id, column == target_id
        )
    )
    if exists is not None:
        return False
    association = EmailAssociation(
        email_id=email_id, kind=kind, reason=reason[:200], confidence=round(confidence, 3)
    )
    setattr(association, f"{kind}_id", target_id)
    session.add(association)
    session.flush()
    if kind == "ticket":
        session.execute(update(Email).where(Email.id == email_id).values(transactional=True))
    return True


def link_contact(
    session: Session, email_id: int, contact_id: int, reason: str, confidence: float
) -> None:
    """Put ``email_id`` on the contact's timeline and on its company's."""
    associate(session, email_id, "contact", contact_id, reason=reason, confidence=confidence)
    company_id = session.scalar(select(Contact.company_id).where(Contact.id == contact_id))
    if company_id is not None:
        associate(
            session, email_id, "company", company_id, reason="contact's company",
            confidence=confidence,
        )  # fmt: skip


def link_waiting(session: Session, address: str, contact_id: int, reason: str) -> list[int]:
    """Settle every participant with ``address`` that waited for a review decision: link it
    to ``contact_id`` and put its email on the contact's timeline. Returns the email ids."""
    rows = session.execute(
        select(EmailParticipant.id, EmailParticipant.email_id).where(
            EmailParticipant.email == address,
            EmailParticipant.contact_id.is_(None),
            EmailParticipant.outcome.in_(WAITING),
        )
    ).all()
    if not rows:
        return []
    session.execute(
        update(EmailParticipant)
        .where(EmailParticipant.id.in_([row_id for row_id, _ in rows]))
        .values(contact_id=contact_id, outcome=REVIEWED, reason=reason[:300], confidence=1.0)
    )
    email_ids = sorted({email_id for _, email_id in rows})
    for email_id in email_ids:
        link_contact(session, email_id, contact_id, reason, 1.0)
    return email_ids


def ignore_waiting(session: Session, address: str, reason: str) -> None:
    """A review said no: the participants that waited stay without a contact, for ``reason``."""
    session.execute(
        update(EmailParticipant)
        .where(
            EmailParticipant.email == address,
            EmailParticipant.contact_id.is_(None),
            EmailParticipant.outcome.in_(WAITING),
        )
        .values(outcome=IGNORED, reason=reason[:300], confidence=None)
    )


def add_address(session: Session, contact_id: int, address: str, actor: str, why: str) -> bool:
    """Add ``address`` as a secondary email of the contact (audited); False if it already
    belongs to this contact. An address owned by another contact is left alone."""
    owner = repo.contact_id_by_email(session, address)
    if owner is not None:
        return False
    session.add(ContactEmail(contact_id=contact_id, email=address, is_primary=False))
    session.flush()
    repo.audit(session, actor, "contact.email_added", "contact", contact_id, reason=why)
    return True


def add_ticket_contact(session: Session, ticket_id: int, contact_id: int) -> None:
    exists = session.get(TicketContact, (ticket_id, contact_id))
    if exists is None:
        session.add(TicketContact(ticket_id=ticket_id, contact_id=contact_id))
        session.flush()


def touch(contact: Contact) -> None:
    contact.updated_at = utcnow()
