"""Queries and writes shared by the pipeline and the services (one place for each)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, event, select
from sqlalchemy.orm import Session, aliased

from gateway.crm import txcache
from gateway.crm.base import utcnow
from gateway.crm.mail import AuditEntry, Email
from gateway.crm.people import (
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactNameKey,
    User,
    UserAddress,
)
from gateway.matching.names import blocking_keys


def core(session: Session) -> Connection:
    """The session's connection, for a Core statement on the worker's hot path (it costs a
    third of ``Session.execute``'s overhead), after writing pending ORM changes, as the
    session's autoflush would."""
    session.flush()
    return session.connection()


# The emails already logged, by dedup key (Message-ID + body hash): another copy of one is
# a duplicate. A worker's batch asks about all of its keys at once (prefetch_emails); the
# rows its messages add are recorded as they are written (email_logged).
_BY_KEY = select(Email.dedup_key, Email.id).where(
    Email.dedup_key.in_(bindparam("keys", expanding=True))
)
_PREFETCHED = "emails by dedup key"


def prefetch_emails(session: Session, keys: Iterable[str]) -> None:
    """Look up the emails of ``keys`` in one query, for :func:`email_id_by_key` to answer
    from for the rest of the transaction (a session with txcache enabled)."""
    wanted = sorted(set(keys))
    found: dict[str, int | None] = dict.fromkeys(wanted)
    if wanted:
        found.update((key, id_) for key, id_ in core(session).execute(_BY_KEY, {"keys": wanted}))
    _emails_by_key(session).update(found)


def email_logged(session: Session, key: str, email_id: int) -> None:
    """Record that this transaction wrote the email of ``key``."""
    _emails_by_key(session)[key] = email_id


def email_id_by_key(session: Session, key: str) -> int | None:
    """The email with dedup key ``key``, if one is logged."""
    known = _emails_by_key(session)
    if key not in known:
        row = core(session).execute(_BY_KEY, {"keys": [key]}).first()
        known[key] = row.id if row is not None else None
    return known[key]


def _emails_by_key(session: Session) -> dict[str, int | None]:
    """What this transaction knows of emails by dedup key (empty outside a txcache one)."""
    return txcache.mapping(session, _PREFETCHED)


def contact_id_by_email(session: Session, email: str) -> int | None:
    """The contact owning ``email`` (primary or secondary), if any."""
    return session.scalar(select(ContactEmail.contact_id).where(ContactEmail.email == email))


@dataclass(frozen=True)
class AddressOwner:
    """The contact an address belongs to, with what the pipeline asks about it."""

    contact_id: int
    status: str
    objecting: bool
    first_name: str
    last_name: str
    company_id: int | None


def address_owners(session: Session, emails: Iterable[str]) -> dict[str, AddressOwner]:
    """The contact owning each of ``emails`` that any contact has (primary or secondary,
    whatever the contact's status), in one query. In a txcache session, the answers are kept
    for the transaction (a worker's batch asks about all its people at once, up front) until
    a flush in it changes the contact or adds an address."""
    wanted = list(dict.fromkeys(emails))
    if not wanted:
        return {}
    known = _owners_by_address(session)
    if missing := [e for e in wanted if e not in known]:
        found = {
            row.email: AddressOwner(
                row.id,
                row.status,
                bool(row.objecting),
                row.first_name,
                row.last_name,
                row.company_id,
            )
            for row in core(session).execute(_OWNERS, {"emails": missing})
        }
        known.update((e, found.get(e)) for e in missing)
    return {e: owner for e in wanted if (owner := known[e]) is not None}


_OWNERS_KEY = "owners by address"


def _owners_by_address(session: Session) -> dict[str, AddressOwner | None]:
    return txcache.mapping(session, _OWNERS_KEY)


@event.listens_for(Session, "after_flush")
def _forget_changed_owners(session: Session, _context: Any) -> None:
    """A flush that adds an address or changes a contact makes the kept owners of its
    addresses stale: they are asked again."""
    known = txcache.peek(session, _OWNERS_KEY)
    if not known:
        return
    changed: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ContactEmail):
            known.pop(obj.email, None)
            changed.add(obj.contact_id)
        elif isinstance(obj, Contact):
            changed.add(obj.id)
    if changed:
        for address in [a for a, o in known.items() if o is not None and o.contact_id in changed]:
            del known[address]


_OWNERS = (
    select(
        ContactEmail.email,
        Contact.id,
        Contact.status,
        Contact.objecting,
        Contact.first_name,
        Contact.last_name,
        Contact.company_id,
    )
    .join(Contact, Contact.id == ContactEmail.contact_id)
    .where(ContactEmail.email.in_(bindparam("emails", expanding=True)))
)


def users_by_address(
    session: Session, emails: Iterable[str]
) -> dict[str, tuple[int, tuple[str, ...]]]:
    """:func:`user_ids_by_address`, with each user's primary address(es) besides. In a
    session with :mod:`~gateway.crm.txcache` enabled, all users are read once per transaction
    (up to :data:`USER_DIRECTORY_LIMIT` addresses; beyond that, the ones asked about)."""
    wanted = list(dict.fromkeys(emails))
    if not wanted:
        return {}
    directory = txcache.cached(session, "users", lambda: _user_directory(session))
    if directory is not None:
        return {email: directory[email] for email in wanted if email in directory}
    return _users(session.execute(_USERS, {"emails": wanted}))


# Users are the organisation's people: tens or hundreds of addresses, read in well under a
# millisecond. A directory bigger than this is asked about address by address.
USER_DIRECTORY_LIMIT = 5_000


def _user_directory(session: Session) -> dict[str, tuple[int, tuple[str, ...]]] | None:
    rows = session.execute(_ALL_USERS.limit(USER_DIRECTORY_LIMIT + 1)).all()
    return _users(rows) if len(rows) <= USER_DIRECTORY_LIMIT else None


def _users(rows: Iterable[Any]) -> dict[str, tuple[int, tuple[str, ...]]]:
    found: dict[str, tuple[int, tuple[str, ...]]] = {}
    for email, user_id, primary in rows:
        _, primaries = found.get(email, (user_id, ()))
        found[email] = (user_id, (*primaries, primary) if primary is not None else primaries)
    return found


_PRIMARY = aliased(UserAddress)
_ALL_USERS = (
    select(UserAddress.email, UserAddress.user_id, _PRIMARY.email)
    .outerjoin(
        _PRIMARY, and_(_PRIMARY.user_id == UserAddress.user_id, _PRIMARY.is_primary.is_(True))
    )
    .order_by(UserAddress.email, _PRIMARY.id)
)
_USERS = _ALL_USERS.where(UserAddress.email.in_(bindparam("emails", expanding=True)))


def company_id_by_domain(session: Session, domain: str) -> int | None:
    return session.scalar(select(CompanyDomain.company_id).where(CompanyDomain.domain == domain))


def user_ids_by_address(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """Map each of ``emails`` that is a registered user address to its user id."""
    wanted = list(dict.fromkeys(emails))
    if not wanted:
        return {}
    rows = session.execute(
        select(UserAddress.email, UserAddress.user_id).where(UserAddress.email.in_(wanted))
    )
    return {email: user_id for email, user_id in rows}


def user_by_address(session: Session, email: str) -> User | None:
    return session.scalar(select(User).join(UserAddress).where(UserAddress.email == email))


def addresses_of_user(session: Session, email: str) -> list[str]:
    """Every address of the user who owns ``email`` (empty if nobody does)."""
    user = user_by_address(session, email)
    return [a.email for a in user.addresses] if user else []


def create_company(session: Session, name: str, domain: str, origin: str) -> Company:
    company = Company(name=name, origin=origin, domains=[CompanyDomain(domain=domain)])
    session.add(company)
    session.flush()
    return company


def create_contact(
    session: Session,
    email: str,
    *,
    first_name: str,
    last_name: str,
    origin: str,
    company_id: int | None = None,
    title: str = "",
) -> Contact:
    contact = Contact(
        first_name=first_name,
        last_name=last_name,
        title=title,
        origin=origin,
        company_id=company_id,
        status="active",
        emails=[ContactEmail(email=email, is_primary=True)],
    )
    session.add(contact)
    session.flush()
    index_contact_name(session, contact)
    return contact


def index_contact_name(session: Session, contact: Contact) -> None:
    """(Re)write the name keys fuzzy matching retrieves ``contact`` by; call after every
    change of its first or last name."""
    session.execute(delete(ContactNameKey).where(ContactNameKey.contact_id == contact.id))
    keys = blocking_keys(contact.first_name, contact.last_name)
    name = f"{contact.first_name} {contact.last_name}"
    session.add_all(
        ContactNameKey(contact_id=contact.id, key=key, name=name) for key in sorted(keys)
    )
    session.flush()


def audit(
    session: Session,
    actor: str,
    action: str,
    object_kind: str = "",
    object_id: object = "",
    **details: Any,
) -> None:
    """Append an audit entry. ``details`` hold ids, counts and rule names, never content."""
    row = {
        "at": utcnow(),
        "actor": actor[:320],
        "action": action,
        "object_kind": object_kind,
        "object_id": str(object_id)[:64],
        "details": details,
    }
    if not txcache.defer_insert(session, _AUDIT, row):
        session.add(AuditEntry(**row))


_AUDIT: Any = AuditEntry.__table__
