"""Writing what matching decided: new contacts, what signatures say about known contacts,
and duplicate suggestions. Used by the pipeline and by the review queue's answers.

Signatures never overwrite: an empty field is filled (audited), a different value becomes a
``field_update`` question. A company created from a bare domain takes the signature's name.
"""

from __future__ import annotations

from collections.abc import Collection

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.crm import Company, Contact, ContactPhone, linking, questions, repo
from gateway.events import emit_contact_created
from gateway.matching.directory import Directory
from gateway.matching.names import fold, name_similarity
from gateway.matching.resolve import NewContact
from gateway.matching.score import Probe, rank
from gateway.parsing.signatures import Signature

# A new contact whose name is this close to a contact at the same company domain (or with
# the same phone) opens a merge suggestion.
MERGE_NAME_SIMILARITY = 0.85
SAME_COMPANY = 90  # rapidfuzz token_set_ratio of folded company names


def create_contact(
    session: Session,
    new: NewContact,
    *,
    origin: str,
    actor: str,
    free_mail: Collection[str],
    company_by_name: bool = False,
    entry: str | None = None,
    known_different: Collection[int] = (),
    email_id: int | None = None,
    team_inbox: str = "",
) -> Contact:
    """Create the contact ``new`` describes, with its company (by domain; by name only when a
    person typed it) and phones, then look for a duplicate of it among the contacts except
    ``known_different`` (a person just said "not the same person")."""
    company_id = _company_for(session, new, origin, actor, company_by_name)
    contact = repo.create_contact(
        session,
        new.email,
        first_name=new.first_name,
        last_name=new.last_name,
        title=new.title,
        origin=origin,
        company_id=company_id,
    )
    for e164 in dict.fromkeys(new.phones):
        contact.phones.append(ContactPhone(e164=e164, kind="signature"))
    session.flush()
    details = {"entry": entry} if entry else {}
    repo.audit(session, actor, "contact.created", "contact", contact.id, origin=origin, **details)
    suggest_merge(session, contact, free_mail, known_different)
    emit_contact_created(session, contact, email_id, team_inbox)
    return contact


def _company_for(
    session: Session, new: NewContact, origin: str, actor: str, by_name: bool
) -> int | None:
    if new.company_domain:
        found = repo.company_id_by_domain(session, new.company_domain)
        if found is not None:
            return found
        company = repo.create_company(
            session, new.company or new.company_domain, new.company_domain, origin=origin
        )
        repo.audit(session, actor, "company.created", "company", company.id, origin=origin)
        return company.id
    if not (by_name and new.company):
        return None
    existing = session.scalar(select(Company.id).where(Company.name == new.company).limit(1))
    if existing is not None:
        return existing
    company = Company(name=new.company, origin=origin)
    session.add(company)
    session.flush()
    repo.audit(session, actor, "company.created", "company", company.id, origin=origin)
    return company.id


def suggest_merge(
    session: Session,
    contact: Contact,
    free_mail: Collection[str],
    known_different: Collection[int] = (),
) -> int:
    """Open a merge question for each existing contact that looks like ``contact``: a close
    name at the same company domain or with the same phone. Returns how many were opened."""
    if not contact.name:
        return 0
    directory = Directory(session, free_mail)
    me = directory.records([contact.id])
    if not me:
        return 0
    record = me[0]
    primary = contact.emails[0].email if contact.emails else ""
    opened = 0
    domains: list[str | None] = [*sorted(record.domains)] or [None]
    for domain in domains:
        probe = Probe(
            email=primary,
            name=contact.name,
            name_source="display",
            domain=domain,
            phones=record.phones,
            company=record.company,
        )
        candidates = directory.candidates(probe, exclude=[contact.id, *known_different])
        for score in rank(probe, candidates):
            other = directory.records([score.contact_id])[0]
            close = name_similarity(contact.name, other.name) >= MERGE_NAME_SIMILARITY
            shared = bool(record.domains & other.domains) or bool(record.phones & other.phones)
            if not (close and shared):
                continue
            _, created = questions.ask(
                session,
                "merge",
                questions.merge_key(contact.id, other.contact_id),
                {
                    "keep": other.contact_id,
                    "other": contact.id,
                    "confidence": score.confidence,
                    "reasons": list(score.reasons),
                },
                contact_id=contact.id,
            )
            opened += created
    return opened


def learn_from_signature(
    session: Session,
    contact_id: int,
    signature: Signature,
    *,
    email_id: int,
    actor: str = "worker",
) -> list[str]:
    """Compare a known contact with what its own signature says. Empty fields are filled;
    differences become ``field_update`` questions. Returns the fields filled."""
    contact = session.get_one(Contact, contact_id)
    filled: list[str] = []
    if signature.title and fold(signature.title) != fold(contact.title):
        if not contact.title:
            contact.title = signature.title[:200]
            filled.append("title")
        else:
            _field_question(
                session, contact, "title", contact.title, signature.title, email_id=email_id
            )
    known = {p.e164 for p in contact.phones}
    for e164 in signature.phones:
        if e164 in known:
            continue
        if not known:
            contact.phones.append(ContactPhone(e164=e164, kind="signature"))
            filled.append("phone")
        else:
            current = ", ".join(sorted(known))
            _field_question(session, contact, "phone", current, e164, email_id=email_id)
    if signature.company and contact.company is not None:
        company = contact.company
        same = fuzz.token_set_ratio(fold(company.name), fold(signature.company)) >= SAME_COMPANY
        placeholder = company.name in {d.domain for d in company.domains}
        if placeholder and not same:
            company.name = signature.company[:300]
            filled.append("company name")
        elif not same:
            _field_question(
                session, contact, "company", company.name, signature.company, email_id=email_id
            )
    if filled:
        linking.touch(contact)
        session.flush()
        repo.audit(
            session, actor, "contact.updated", "contact", contact.id,
            fields=filled, source="signature",
        )  # fmt: skip
    return filled


def _field_question(
    session: Session, contact: Contact, field: str, current: str, proposed: str, *, email_id: int
) -> None:
    questions.ask(
        session,
        "field_update",
        questions.field_key(contact.id, field, fold(proposed)[:200]),
        {"field": field, "current": current, "proposed": proposed, "email_id": email_id},
        email_id=email_id,
        contact_id=contact.id,
    )
