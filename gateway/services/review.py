"""The review queue: the questions bccrm asked instead of guessing, and applying the answers.

Each decision runs in one transaction: the item is locked, the answer applied (a contact
created or linked, an address added, a field set, two contacts merged, a deal chosen), the
item marked ``approved`` or ``rejected`` with who decided and when, what was done kept in its
payload under ``"decision"``, and an audit entry written. A decided item is never decided
again. See :mod:`gateway.crm.questions` for the kinds and their payloads.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased, selectinload, sessionmaker

from gateway.addresses import domain_of
from gateway.config import Config
from gateway.crm import (
    Company,
    Contact,
    ContactPhone,
    Deal,
    Email,
    EmailAssociation,
    EmailParticipant,
    ReviewItem,
    linking,
    questions,
    repo,
    utcnow,
)
from gateway.crm.merge import MergeError, merge_contacts
from gateway.hooks import ReviewDecided
from gateway.matching import records
from gateway.matching.resolve import NewContact
from gateway.outbox import emit
from gateway.parsing.phones import to_e164
from gateway.pipeline.associate import link_deals

STATUSES = ("open", "approved", "rejected")
LIST_STATUSES = (*STATUSES, "all")
# --set keys a decision accepts, per kind and verb.
CONTACT_FIELDS = ("first_name", "last_name", "title", "company", "phone")
FIELD_SIZES = {"first_name": 150, "last_name": 150, "title": 200, "company": 300}
APPROVE_SETS: dict[str, tuple[str, ...]] = {
    "new_contact": CONTACT_FIELDS,
    "same_person": (),
    "field_update": ("value",),
    "merge": (),
    "which_deal": (),
}
REJECT_SETS: dict[str, tuple[str, ...]] = {
    "new_contact": (),
    "same_person": CONTACT_FIELDS,  # the new contact a rejection creates
    "field_update": (),
    "merge": (),
    "which_deal": (),
}
MAX_MERGED_HOPS = 20
MAX_ID = 2**31 - 1


class ReviewError(ValueError):
    """A review operation that cannot be done; the message is shown to users."""


@dataclass(frozen=True)
class ReviewInfo:
    id: int
    kind: str
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    email_id: int | None
    email_subject: str  # "" when there is no email
    email_from: str  # the author's address; "" when there is no email
    contact_id: int | None
    contact_name: str  # "" when there is no contact
    summary: str  # one line: "same person? anna@x.pl → Anna Kowalska (0.81)"
    payload: dict[str, Any]


@dataclass(frozen=True)
class ReviewDecision:
    id: int
    kind: str
    status: str  # approved | rejected
    applied: dict[str, Any]  # what was done: {"contact_id": 7, "emails_linked": [3]} ...


@dataclass(frozen=True)
class PersonRecord:
    """One side of a comparison: a contact from the database, or the person an item
    proposes (``contact_id`` None). Plain values, straight from mail: show them sanitised."""

    contact_id: int | None
    status: str  # the contact's; "proposed" for the item's person, "missing" when deleted since
    name: str
    addresses: tuple[str, ...]  # the primary first
    company: str
    title: str
    phones: tuple[str, ...]
    email_count: int  # emails on the contact's timeline; for "proposed" the ones waiting
    legal_basis: str  # "" when none
    legal_basis_status: str  # proposed | confirmed | ""
    merged_into_id: int | None = None


@dataclass(frozen=True)
class ReviewRecords:
    """The people a ``same_person``, ``merge`` or ``new_contact`` item is about."""

    item_id: int
    kind: str
    # same_person, new_contact: the person the address would be; merge: None.
    proposed: PersonRecord | None
    # same_person: the candidates in choice order; merge: (keep, other), so choice N keeps
    # candidates[N - 1]; new_contact: none.
    candidates: tuple[PersonRecord, ...]


class ReviewService:
    def __init__(self, sessions: sessionmaker[Session], config: Config, actor: str = "cli") -> None:
        self.sessions = sessions
        self.config = config
        self.actor = actor
        self.free_mail = frozenset(config.organization.free_mail_domains)

    # -- reading --------------------------------------------------------------------------------

    def list(
        self, kind: str | None = None, status: str = "open", limit: int = 500
    ) -> list[ReviewInfo]:
        """Items of ``kind`` (any when None) with ``status`` (``all``: any), oldest first."""
        if kind is not None and kind not in questions.KINDS:
            raise ReviewError(f"unknown review kind {kind!r} (one of {', '.join(questions.KINDS)})")
        if status not in LIST_STATUSES:
            raise ReviewError(f"unknown status {status!r} (one of {', '.join(LIST_STATUSES)})")
        if limit < 1:
            raise ReviewError("limit must be at least 1")
        query = self._query()
        if kind is not None:
            query = query.where(ReviewItem.kind == kind)
        if status != "all":
            query = query.where(ReviewItem.status == status)
        query = query.order_by(ReviewItem.created_at, ReviewItem.id).limit(limit)
        with self.sessions() as session:
            return [_info(*row) for row in session.execute(query).tuples()]

    def show(self, item_id: int) -> ReviewInfo:
        with self.sessions() as session:
            row = session.execute(self._query().where(ReviewItem.id == item_id)).tuples().first()
            if row is None:
                raise ReviewError(f"no review item {item_id}")
            return _info(*row)

    def counts(self) -> dict[str, int]:
        """Open items per kind, every kind listed (0 when none)."""
        with self.sessions() as session:
            rows = session.execute(
                select(ReviewItem.kind, func.count())
                .where(ReviewItem.status == "open")
                .group_by(ReviewItem.kind)
            ).tuples()
            found = dict(rows.all())
        return {kind: int(found.get(kind, 0)) for kind in questions.KINDS}

    def records(self, item_id: int) -> ReviewRecords:
        """The records of a person question side by side: the proposed person (from the
        payload, with the emails waiting for its address) and the candidate contacts (from
        the database, by the ids in the payload). Any status; ReviewError for other kinds."""
        with self.sessions() as session:
            item = session.get(ReviewItem, item_id)
            if item is None:
                raise ReviewError(f"no review item {item_id}")
            payload = item.payload
            if item.kind == "merge":
                ids: list[object] = [payload.get("keep"), payload.get("other")]
            elif item.kind == "same_person":
                ids = [c.get("contact_id") for c in _dict_list(payload.get("candidates"))]
            elif item.kind == "new_contact":
                ids = []
            else:
                raise ReviewError(f"review item {item_id} ({item.kind}) compares no people")
            proposed = None if item.kind == "merge" else _proposed(session, payload)
            candidates = tuple(_contact_record(session, _int(i)) for i in ids)
            return ReviewRecords(item.id, item.kind, proposed, candidates)

    @staticmethod
    def _query() -> Select[tuple[ReviewItem, str, str, str, str]]:
        contact = aliased(Contact)
        return (
            select(
                ReviewItem,
                Email.subject,
                Email.from_email,
                contact.first_name,
                contact.last_name,
            )
            .outerjoin(Email, Email.id == ReviewItem.email_id)
            .outerjoin(contact, contact.id == ReviewItem.contact_id)
        )

    # -- deciding -------------------------------------------------------------------------------

    def approve(
        self, item_id: int, choice: int | None = None, sets: Mapping[str, str] | None = None
    ) -> ReviewDecision:
        """Apply the question's proposal (``choice``: 1-based, among its candidates or deals;
        ``sets``: corrections such as ``{"title": "CFO"}``) and mark it approved."""
        values = dict(sets or {})
        with self.sessions.begin() as session:
            item = self._open_item(session, item_id)
            _check_sets(item, values, APPROVE_SETS[item.kind], "approve")
            handler = {
                "new_contact": self._approve_new_contact,
                "same_person": self._approve_same_person,
                "field_update": self._approve_field_update,
                "merge": self._approve_merge,
                "which_deal": self._approve_which_deal,
            }[item.kind]
            applied = handler(session, item, choice, values)
            return self._decide(
                session, item, "approved", choice=choice, values=values, applied=applied
            )

    def reject(self, item_id: int, sets: Mapping[str, str] | None = None) -> ReviewDecision:
        """Answer no. ``sets`` corrects the contact a rejected ``same_person`` creates."""
        values = dict(sets or {})
        with self.sessions.begin() as session:
            item = self._open_item(session, item_id)
            _check_sets(item, values, REJECT_SETS[item.kind], "reject")
            applied: dict[str, Any] = {}
            if item.kind == "new_contact":
                address = _address(item)
                linking.ignore_waiting(session, address, "rejected in review")
                applied = {"email": address, "ignored": True}
            elif item.kind == "same_person":
                applied = self._reject_same_person(session, item, values)
            return self._decide(
                session, item, "rejected", choice=None, values=values, applied=applied
            )

    def _open_item(self, session: Session, item_id: int) -> ReviewItem:
        item = session.scalar(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update())
        if item is None:
            raise ReviewError(f"no review item {item_id}")
        if item.status != "open":
            raise ReviewError(f"review item {item_id} is already {item.status}")
        if item.kind not in questions.KINDS:
            raise ReviewError(f"review item {item_id} has an unknown kind {item.kind!r}")
        return item

    def _decide(
        self,
        session: Session,
        item: ReviewItem,
        status: str,
        *,
        choice: int | None,
        values: dict[str, str],
        applied: dict[str, Any],
    ) -> ReviewDecision:
        item.status = status
        item.decided_at = utcnow()
        item.decided_by = self.actor[:320]
        decision = {"status": status, "choice": choice, "set": values, "applied": applied}
        item.payload = {**item.payload, "decision": decision}  # a new dict: the change is seen
        session.flush()
        action = "review.approved" if status == "approved" else "review.rejected"
        details: dict[str, Any] = {"kind": item.kind}
        if choice is not None:
            details["choice"] = choice
        repo.audit(session, self.actor, action, "review", item.id, **details)
        emit(
            session,
            ReviewDecided(
                item_id=item.id,
                item_kind=item.kind,
                status=status,
                decided_by=item.decided_by,
                email_id=item.email_id,
                contact_id=item.contact_id,
                applied=_ids_only(applied),
            ),
        )
        return ReviewDecision(id=item.id, kind=item.kind, status=status, applied=applied)

    # -- per kind -------------------------------------------------------------------------------

    def _approve_new_contact(
        self, session: Session, item: ReviewItem, choice: int | None, values: dict[str, str]
    ) -> dict[str, Any]:
        _no_choice(item, choice)
        return self._create_or_link(session, item, values)

    def _approve_same_person(
        self, session: Session, item: ReviewItem, choice: int | None, values: dict[str, str]
    ) -> dict[str, Any]:
        address = _address(item)
        candidates = item.payload.get("candidates") or []
        index = _choose(item, choice, len(candidates), default=1)
        chosen = int(candidates[index]["contact_id"])
        contact = _live_contact(session, chosen)
        owner = repo.contact_id_by_email(session, address)
        if owner is not None and owner != contact.id:
            raise ReviewError(
                f"{address} already belongs to contact {owner}; "
                f"merge the contacts instead ('bccrm contacts merge {contact.id} {owner}')"
            )
        added = linking.add_address(
            session, contact.id, address, self.actor, f"review item {item.id}: same person"
        )
        linked = linking.link_waiting(session, address, contact.id, "same person (reviewed)")
        _associate_deals(session, linked)
        if added or linked:
            linking.touch(contact)
        return {
            "contact_id": contact.id,
            "candidate_contact_id": chosen,
            "address_added": added,
            "emails_linked": linked,
        }

    def _reject_same_person(
        self, session: Session, item: ReviewItem, values: dict[str, str]
    ) -> dict[str, Any]:
        address = _address(item)
        if self.config.matching.create_contacts == "never":
            if values:
                raise ReviewError(
                    "matching.create_contacts is 'never': rejecting creates no contact, "
                    "so --set does not apply"
                )
            linking.ignore_waiting(session, address, "not the same person")
            return {"email": address, "ignored": True}
        return self._create_or_link(session, item, values)

    def _create_or_link(
        self, session: Session, item: ReviewItem, values: dict[str, str]
    ) -> dict[str, Any]:
        """The contact the item proposes (its ``fields`` corrected by ``values``), or the one
        that owns the address by now; then the waiting participants are linked to it."""
        address = _address(item)
        proposed = item.payload.get("fields") or {}
        fields = {
            k: str(proposed.get(k) or "") for k in ("first_name", "last_name", "title", "company")
        }
        phones = [str(p) for p in proposed.get("phones") or []]
        for key, value in values.items():
            if key == "phone":
                e164 = to_e164(value, self.config.organization.default_region)
                if e164 is None:
                    raise ReviewError(f"invalid phone number {value!r}")
                phones = [e164]
            else:
                fields[key] = value.strip()[: FIELD_SIZES[key]]
        owner = repo.contact_id_by_email(session, address)
        created = owner is None
        if owner is None:
            domain = domain_of(address)
            new = NewContact(
                email=address,
                first_name=fields["first_name"],
                last_name=fields["last_name"],
                title=fields["title"],
                company=fields["company"],
                phones=tuple(phones),
                company_domain=None if domain in self.free_mail else domain,
            )
            contact = records.create_contact(
                session,
                new,
                origin="review",
                actor=self.actor,
                free_mail=self.free_mail,
                company_by_name=bool(values.get("company", "").strip()),
                # A person said "not the same person": no merge question about them.
                known_different=[int(c["contact_id"]) for c in item.payload.get("candidates", [])],
            )
            owner = contact.id
        linked = linking.link_waiting(session, address, owner, "new contact (reviewed)")
        _associate_deals(session, linked)
        return {"contact_id": owner, "created": created, "emails_linked": linked}

    def _approve_field_update(
        self, session: Session, item: ReviewItem, choice: int | None, values: dict[str, str]
    ) -> dict[str, Any]:
        _no_choice(item, choice)
        if item.contact_id is None:
            raise ReviewError(f"review item {item.id} names no contact")
        contact = _live_contact(session, item.contact_id)
        field = str(item.payload.get("field", ""))
        value = values.get("value", str(item.payload.get("proposed", ""))).strip()
        if not value:
            raise ReviewError("the new value must not be empty")
        if field == "title":
            value = value[:200]
            contact.title = value
        elif field == "phone":
            e164 = to_e164(value, self.config.organization.default_region)
            if e164 is None:
                raise ReviewError(f"invalid phone number {value!r}")
            value = e164
            if e164 not in {phone.e164 for phone in contact.phones}:
                contact.phones.append(ContactPhone(e164=e164, kind="review"))
        elif field == "company":
            value = value[:300]
            company_id = self._company_named(session, value).id
            contact.company_id = company_id
        else:
            raise ReviewError(f"review item {item.id} proposes an unknown field {field!r}")
        linking.touch(contact)
        session.flush()
        repo.audit(
            session, self.actor, "contact.updated", "contact", contact.id,
            fields=[field], source="review", review=item.id,
        )  # fmt: skip
        applied: dict[str, Any] = {"contact_id": contact.id, "field": field, "value": value}
        if field == "company":
            applied["company_id"] = contact.company_id
        return applied

    def _company_named(self, session: Session, name: str) -> Company:
        """The company called ``name`` (ignoring case), or a new one."""
        found = session.scalars(
            select(Company).where(func.lower(Company.name) == name.lower()).order_by(Company.id)
        ).all()
        for company in found:
            if company.name.casefold() == name.casefold():
                return company
        company = Company(name=name, origin="review")
        session.add(company)
        session.flush()
        repo.audit(session, self.actor, "company.created", "company", company.id, origin="review")
        return company

    def _approve_merge(
        self, session: Session, item: ReviewItem, choice: int | None, values: dict[str, str]
    ) -> dict[str, Any]:
        index = _choose(item, choice, 2, default=1)
        keep, other = int(item.payload["keep"]), int(item.payload["other"])
        if index == 1:
            keep, other = other, keep
        try:
            result = merge_contacts(session, keep, other, self.actor)
        except MergeError as exc:
            raise ReviewError(str(exc)) from None
        applied = asdict(result)
        applied["fields_filled"] = list(result.fields_filled)
        return applied

    def _approve_which_deal(
        self, session: Session, item: ReviewItem, choice: int | None, values: dict[str, str]
    ) -> dict[str, Any]:
        choices = item.payload.get("choices") or []
        if choice is None and len(choices) > 1:
            raise ReviewError("choose a deal with --choice N")
        index = _choose(item, choice, len(choices), default=1)
        deal_id = int(choices[index]["deal_id"])
        if item.email_id is None:
            raise ReviewError(f"review item {item.id} names no email")
        if session.get(Deal, deal_id) is None:
            raise ReviewError(f"deal {deal_id} no longer exists")
        added = linking.associate(
            session, item.email_id, "deal", deal_id, reason="deal chosen in review", confidence=1.0
        )
        return {"deal_id": deal_id, "email_id": item.email_id, "linked": added}


# -- helpers ------------------------------------------------------------------------------------


def _info(
    item: ReviewItem,
    subject: str | None,
    from_email: str | None,
    first_name: str | None,
    last_name: str | None,
) -> ReviewInfo:
    contact_name = " ".join(part for part in (first_name, last_name) if part)
    return ReviewInfo(
        id=item.id,
        kind=item.kind,
        status=item.status,
        created_at=item.created_at,
        decided_at=item.decided_at,
        decided_by=item.decided_by,
        email_id=item.email_id,
        email_subject=subject or "",
        email_from=from_email or "",
        contact_id=item.contact_id,
        contact_name=contact_name,
        summary=summary(item.kind, item.payload),
        payload=copy.deepcopy(item.payload),
    )


def summary(kind: str, payload: Mapping[str, Any]) -> str:
    """One line saying what the question is."""
    if kind == "same_person":
        candidates = payload.get("candidates") or []
        text = f"same person? {payload.get('email', '')}"
        if candidates:
            best = candidates[0]
            text += f" → {best.get('name') or 'contact ' + str(best.get('contact_id'))}"
            text += f" ({float(best.get('confidence') or 0):.2f})"
        if len(candidates) > 1:
            text += f" or {len(candidates) - 1} more"
        return text
    if kind == "new_contact":
        fields = payload.get("fields") or {}
        name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
        address = payload.get("email", "")
        return f"new contact? {name} <{address}>" if name else f"new contact? {address}"
    if kind == "field_update":
        return (
            f"update {payload.get('field', '')}: "
            f"'{payload.get('current', '')}' → '{payload.get('proposed', '')}'"
        )
    if kind == "merge":
        return f"merge contact {payload.get('other')} into {payload.get('keep')}?"
    if kind == "which_deal":
        count = len(payload.get("choices") or [])
        return f"which deal? {count} open deal{'s' if count != 1 else ''}"
    return kind


def _check_sets(
    item: ReviewItem, values: Mapping[str, str], allowed: tuple[str, ...], verb: str
) -> None:
    unknown = sorted(set(values) - set(allowed))
    if not unknown:
        return
    keys = ", ".join(allowed) if allowed else "none"
    raise ReviewError(
        f"cannot set {', '.join(unknown)} when you {verb} a {item.kind} item (allowed: {keys})"
    )


def _no_choice(item: ReviewItem, choice: int | None) -> None:
    if choice is not None:
        raise ReviewError(f"review item {item.id} ({item.kind}) has no choices")


def _choose(item: ReviewItem, choice: int | None, count: int, *, default: int) -> int:
    """The 0-based index of ``choice`` (1-based) among ``count`` options."""
    if count == 0:
        raise ReviewError(f"review item {item.id} has nothing to choose from")
    chosen = default if choice is None else choice
    if not 1 <= chosen <= count:
        raise ReviewError(f"choice {chosen} is out of range: choose 1 to {count}")
    return chosen - 1


def _address(item: ReviewItem) -> str:
    address = item.payload.get("email")
    if not isinstance(address, str) or not address:
        raise ReviewError(f"review item {item.id} names no address")
    return address


def _live_contact(session: Session, contact_id: int) -> Contact:
    """The contact, or the one it was merged into; it must be active."""
    contact = session.get(Contact, contact_id)
    hops = 0
    while contact is not None and contact.status == "merged" and contact.merged_into_id:
        hops += 1
        if hops > MAX_MERGED_HOPS:
            break
        contact = session.get(Contact, contact.merged_into_id)
    if contact is None:
        raise ReviewError(f"contact {contact_id} no longer exists")
    if contact.status != "active":
        raise ReviewError(f"contact {contact.id} is {contact.status}")
    return contact


def _proposed(session: Session, payload: Mapping[str, Any]) -> PersonRecord:
    """The person an item proposes, as its payload describes them."""
    address = _str(payload.get("email"))
    fields = payload.get("fields")
    fields = fields if isinstance(fields, Mapping) else {}
    name = " ".join(p for p in (_str(fields.get("first_name")), _str(fields.get("last_name"))) if p)
    phones = fields.get("phones")
    waiting = session.scalar(
        select(func.count(func.distinct(EmailParticipant.email_id))).where(
            EmailParticipant.email == address,
            EmailParticipant.contact_id.is_(None),
            EmailParticipant.outcome.in_(linking.WAITING),
        )
    )
    return PersonRecord(
        contact_id=None,
        status="proposed",
        name=name or _str(payload.get("name")),
        addresses=(address,) if address else (),
        company=_str(fields.get("company")),
        title=_str(fields.get("title")),
        phones=tuple(_str(p) for p in phones) if isinstance(phones, list) else (),
        email_count=int(waiting or 0),
        legal_basis="",
        legal_basis_status="",
    )


def _contact_record(session: Session, contact_id: int | None) -> PersonRecord:
    """A contact as it is now (merged ones too: the record says into which)."""
    contact = None
    if contact_id is not None:
        contact = session.scalar(
            select(Contact)
            .where(Contact.id == contact_id)
            .options(selectinload(Contact.emails), selectinload(Contact.phones))
        )
    if contact is None:
        return PersonRecord(contact_id, "missing", "", (), "", "", (), 0, "", "")
    emails = session.scalar(
        select(func.count())
        .select_from(EmailAssociation)
        .where(EmailAssociation.contact_id == contact.id)
    )
    return PersonRecord(
        contact_id=contact.id,
        status=contact.status,
        name=contact.name,
        addresses=tuple(e.email for e in sorted(contact.emails, key=lambda e: not e.is_primary)),
        company=contact.company.name if contact.company is not None else "",
        title=contact.title,
        phones=tuple(p.e164 for p in contact.phones),
        email_count=int(emails or 0),
        legal_basis=contact.legal_basis or "",
        legal_basis_status=contact.legal_basis_status,
        merged_into_id=contact.merged_into_id,
    )


def _dict_list(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _int(value: object) -> int | None:
    """A contact id from a payload; None when it is not one (ids are 32-bit on PostgreSQL:
    a larger number would make the query fail instead of finding nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 < number <= MAX_ID else None


__all__ = [
    "LIST_STATUSES",
    "STATUSES",
    "PersonRecord",
    "ReviewDecision",
    "ReviewError",
    "ReviewInfo",
    "ReviewRecords",
    "ReviewService",
    "summary",
]


def _associate_deals(session: Session, email_ids: list[int]) -> None:
    """Emails that just got their contact: the deal rules run again (the contact's open
    deals may decide now, or ask "which deal?")."""
    for email_id in email_ids:
        email = session.get_one(Email, email_id)
        link_deals(session, email, (email.tokens or {}).get("deal"))


def _ids_only(applied: Mapping[str, Any]) -> dict[str, Any]:
    """What a decision changed, as events carry it: ids, flags and field names, no values
    a person typed (those may be personal data the plugin has no need for)."""
    kept: dict[str, Any] = {}
    for key, value in applied.items():
        if isinstance(value, bool | int) or key.endswith(("_id", "_ids")):
            kept[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, int) for v in value):
            kept[key] = list(value)
    return kept
