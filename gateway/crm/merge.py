"""Merging two contacts that are the same person: one survives, the other is retired.

Everything that points at OTHER is moved to KEEP inside the caller's transaction; OTHER stays
as a ``merged`` tombstone whose ``merged_into_id`` says where it went. Rows that could be
many (timeline links, participants) are moved with single UPDATE statements; the small
per-contact collections (addresses, phones, deal and ticket links) through the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from gateway.crm import repo
from gateway.crm.base import utcnow
from gateway.crm.mail import EmailAssociation, EmailParticipant, ReviewItem
from gateway.crm.people import Contact, ContactNameKey, DealContact, TicketContact

# Fields of KEEP that are filled from OTHER when KEEP's is empty, in this order.
FILLED_FIELDS = ("first_name", "last_name", "title", "company_id", "owner_id")


class MergeError(ValueError):
    """The merge cannot be done; the message is shown to users."""


@dataclass(frozen=True)
class MergeResult:
    keep_id: int
    other_id: int
    emails_moved: int
    phones_moved: int
    associations_moved: int  # email associations re-pointed (duplicates dropped)
    deals_moved: int
    tickets_moved: int
    fields_filled: tuple[str, ...]  # empty fields of KEEP filled from OTHER


def merge_contacts(session: Session, keep_id: int, other_id: int, actor: str) -> MergeResult:
    """Merge contact ``other_id`` into ``keep_id``; flushes, never commits.

    Raises :class:`MergeError` if either contact does not exist, is already merged or is
    erased, or if both ids are the same.
    """
    if keep_id == other_id:
        raise MergeError(f"cannot merge contact {keep_id} into itself")
    session.flush()
    keep, other = _lock_pair(session, keep_id, other_id)

    associations = _move_associations(session, keep_id, other_id)
    session.execute(
        update(EmailParticipant)
        .where(EmailParticipant.contact_id == other_id)
        .values(contact_id=keep_id)
        .execution_options(synchronize_session="evaluate")
    )
    session.execute(
        update(ReviewItem)
        .where(ReviewItem.contact_id == other_id, ReviewItem.status == "open")
        .values(contact_id=keep_id)
        .execution_options(synchronize_session="evaluate")
    )
    # Contacts merged into OTHER earlier now point at KEEP: no chains of tombstones.
    session.execute(
        update(Contact)
        .where(Contact.merged_into_id == other_id)
        .values(merged_into_id=keep_id)
        .execution_options(synchronize_session="evaluate")
    )
    session.execute(
        delete(ContactNameKey)
        .where(ContactNameKey.contact_id == other_id)
        .execution_options(synchronize_session="evaluate")
    )

    emails = _move_emails(keep, other)
    phones = _move_phones(keep, other)
    deals = _move_links(session, DealContact, DealContact.deal_id, keep_id, other_id)
    tickets = _move_links(session, TicketContact, TicketContact.ticket_id, keep_id, other_id)
    filled = _fill_fields(keep, other)

    now = utcnow()
    other.status = "merged"
    other.merged_into_id = keep_id
    other.updated_at = now
    keep.updated_at = now
    session.flush()
    repo.index_contact_name(session, keep)
    repo.audit(
        session,
        actor,
        "contact.merged",
        "contact",
        keep_id,
        other=other_id,
        emails=emails,
        phones=phones,
        associations=associations,
        deals=deals,
        tickets=tickets,
        fields=list(filled),
    )
    session.flush()
    return MergeResult(
        keep_id=keep_id,
        other_id=other_id,
        emails_moved=emails,
        phones_moved=phones,
        associations_moved=associations,
        deals_moved=deals,
        tickets_moved=tickets,
        fields_filled=filled,
    )


def _lock_pair(session: Session, keep_id: int, other_id: int) -> tuple[Contact, Contact]:
    """Both contacts, row-locked in id order (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    holds the write lock). The locks also hold back concurrent inserts of rows that
    reference either contact until the merge commits."""
    rows = session.scalars(
        select(Contact)
        .where(Contact.id.in_((keep_id, other_id)))
        .order_by(Contact.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = {contact.id: contact for contact in rows}
    for contact_id in (keep_id, other_id):
        contact = found.get(contact_id)
        if contact is None:
            raise MergeError(f"contact {contact_id} does not exist")
        if contact.status == "merged":
            into = f" into contact {contact.merged_into_id}" if contact.merged_into_id else ""
            raise MergeError(f"contact {contact_id} is already merged{into}")
        if contact.status == "erased":
            raise MergeError(f"contact {contact_id} is erased")
    return found[keep_id], found[other_id]


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _move_associations(session: Session, keep_id: int, other_id: int) -> int:
    """Re-point OTHER's contact links to KEEP. Links to emails KEEP is already on are
    deleted first, so the (email_id, contact_id) constraint never sees a duplicate."""
    kept = aliased(EmailAssociation)
    session.execute(
        delete(EmailAssociation)
        .where(
            EmailAssociation.contact_id == other_id,
            EmailAssociation.email_id.in_(select(kept.email_id).where(kept.contact_id == keep_id)),
        )
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    moved = session.execute(
        update(EmailAssociation)
        .where(EmailAssociation.contact_id == other_id, EmailAssociation.kind == "contact")
        .values(contact_id=keep_id)
        .execution_options(synchronize_session="evaluate")
    )
    return _rowcount(moved)


def _move_emails(keep: Contact, other: Contact) -> int:
    """OTHER's addresses become KEEP's secondary ones; only if KEEP has no primary address
    does OTHER's primary stay primary."""
    moving = list(other.emails)
    keep_has_primary = any(address.is_primary for address in keep.emails)
    for address in moving:
        address.is_primary = address.is_primary and not keep_has_primary
        address.contact = keep
    return len(moving)


def _move_phones(keep: Contact, other: Contact) -> int:
    """OTHER's numbers that KEEP does not have move; the rest are dropped."""
    known = {phone.e164 for phone in keep.phones}
    moved = 0
    for phone in list(other.phones):
        if phone.e164 in known:
            other.phones.remove(phone)  # delete-orphan: deleted at flush
        else:
            known.add(phone.e164)
            phone.contact = keep
            moved += 1
    return moved


def _move_links(
    session: Session,
    model: type[DealContact | TicketContact],
    record: InstrumentedAttribute[int],
    keep_id: int,
    other_id: int,
) -> int:
    """Re-point OTHER's deal or ticket links (``record`` is the deal or ticket column);
    links to records KEEP is already on are dropped."""
    links: list[DealContact | TicketContact] = list(
        session.scalars(select(model).where(model.contact_id == other_id))
    )
    if not links:
        return 0
    kept = set(session.scalars(select(record).where(model.contact_id == keep_id)))
    moved = 0
    for link in links:
        if getattr(link, record.key) in kept:
            session.delete(link)
        else:
            link.contact_id = keep_id  # part of the primary key: the ORM updates it in place
            moved += 1
    session.flush()
    return moved


def _fill_fields(keep: Contact, other: Contact) -> tuple[str, ...]:
    filled = []
    for name in FILLED_FIELDS:
        mine, theirs = getattr(keep, name), getattr(other, name)
        if mine in ("", None) and theirs not in ("", None):
            setattr(keep, name, theirs)
            filled.append(name)
    return tuple(filled)
