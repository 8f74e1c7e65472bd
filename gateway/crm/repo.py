"""Queries and writes shared by the pipeline and the services (one place for each)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.crm.base import utcnow
from gateway.crm.mail import AuditEntry
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


def contact_id_by_email(session: Session, email: str) -> int | None:
    """The contact owning ``email`` (primary or secondary), if any."""
    return session.scalar(select(ContactEmail.contact_id).where(ContactEmail.email == email))


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
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor[:320],
            action=action,
            object_kind=object_kind,
            object_id=str(object_id)[:64],
            details=details,
        )
    )
