"""Contacts: CSV import and listing; the directory (search, a contact's timeline with its
emails, deals, tickets and follow-up tasks)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    exists,
    false,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload, sessionmaker

from gateway.addresses import domain_of, normalize_address
from gateway.config import OrganizationConfig
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    DealContact,
    Email,
    EmailAssociation,
    EmailParticipant,
    Task,
    Ticket,
    TicketContact,
    repo,
)
from gateway.matching import records
from gateway.matching.names import fold
from gateway.parsing.people import is_internal
from gateway.parsing.phones import to_e164
from gateway.services.tasks import TaskInfo, task_infos

IMPORT_COLUMNS = ("email", "first_name", "last_name", "title", "company", "phone", "other_emails")


class CsvImportError(ValueError):
    """The file as a whole cannot be imported (unreadable, no ``email`` column)."""


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ContactInfo:
    id: int
    name: str
    first_name: str
    last_name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    title: str
    company_id: int | None
    status: str
    origin: str


def contact_info(contact: Contact) -> ContactInfo:
    return ContactInfo(
        id=contact.id,
        name=contact.name,
        first_name=contact.first_name,
        last_name=contact.last_name,
        emails=tuple(e.email for e in sorted(contact.emails, key=lambda e: not e.is_primary)),
        phones=tuple(p.e164 for p in contact.phones),
        title=contact.title,
        company_id=contact.company_id,
        status=contact.status,
        origin=contact.origin,
    )


@dataclass(frozen=True)
class _Row:
    line: int
    email: str
    fields: dict[str, str]
    phone: str | None
    other_emails: tuple[str, ...]


class ContactService:
    def __init__(
        self, sessions: sessionmaker[Session], organization: OrganizationConfig, actor: str = "cli"
    ) -> None:
        self.sessions = sessions
        self.org = organization
        self.actor = actor

    def list(self) -> list[ContactInfo]:
        with self.sessions() as session:
            query = (
                select(Contact)
                .order_by(Contact.id)
                .options(selectinload(Contact.emails), selectinload(Contact.phones))
            )
            return [contact_info(c) for c in session.scalars(query)]

    def import_csv(self, path: Path) -> ImportResult:
        """Import contacts; idempotent on email. Bad rows are reported, good rows kept."""
        result = ImportResult()
        with self.sessions.begin() as session:
            for row in self._rows(path, result):
                try:
                    with session.begin_nested():
                        outcome = self._upsert(session, row)
                except ValueError as exc:
                    result.errors.append((row.line, str(exc)))
                    continue
                setattr(result, outcome, getattr(result, outcome) + 1)
            repo.audit(
                session,
                self.actor,
                "contacts.imported",
                "file",
                path.name,
                created=result.created,
                updated=result.updated,
                errors=len(result.errors),
            )
        return result

    def _rows(self, path: Path, result: ImportResult) -> Iterator[_Row]:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CsvImportError(f"{path}: no such file") from None
        except OSError as exc:
            raise CsvImportError(f"{path}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise CsvImportError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
        header = text.partition("\n")[0]
        # Spreadsheets in Polish and German locales write ';'-separated "CSV".
        delimiter = max((",", ";", "\t"), key=header.count)
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        columns = {(c or "").strip().lower() for c in reader.fieldnames or ()}
        if "email" not in columns:
            raise CsvImportError(f"{path}: no 'email' column in the header row")
        for record in reader:
            values = {
                (k or "").strip().lower(): (v or "").strip()
                for k, v in record.items()
                if isinstance(v, str)
            }
            try:
                yield self._row(reader.line_num, values)
            except ValueError as exc:
                result.errors.append((reader.line_num, str(exc)))

    def _row(self, line: int, values: dict[str, str]) -> _Row:
        email = normalize_address(values.get("email", ""))
        if email is None:
            raise ValueError(f"invalid email {values.get('email', '')!r}")
        others = []
        for text in filter(None, (x.strip() for x in values.get("other_emails", "").split(";"))):
            other = normalize_address(text)
            if other is None:
                raise ValueError(f"invalid address {text!r} in other_emails")
            if other != email:
                others.append(other)
        phone = None
        if raw_phone := values.get("phone", ""):
            phone = to_e164(raw_phone, self.org.default_region)
            if phone is None:
                raise ValueError(f"invalid phone number {raw_phone!r}")
        fields = {
            k: values.get(k, "")[:150] for k in ("first_name", "last_name", "title", "company")
        }
        return _Row(line, email, fields, phone, tuple(others))

    def _upsert(self, session: Session, row: _Row) -> str:
        """Identity is the row's ``email``; its other addresses must not belong to anyone else
        (merging two people because of a typo in a spreadsheet is not an import's call)."""
        if is_internal(row.email, self.org.domains):
            raise ValueError(f"{row.email} is an address of the organisation, not a contact")
        if repo.user_ids_by_address(session, [row.email]):
            raise ValueError(f"{row.email} is a registered user's address, not a contact")
        owner = repo.contact_id_by_email(session, row.email)
        for other in row.other_emails:
            other_owner = repo.contact_id_by_email(session, other)
            if other_owner is not None and other_owner != owner:
                raise ValueError(f"{other} already belongs to contact {other_owner}")
        if owner is None:
            contact = repo.create_contact(
                session,
                row.email,
                first_name=row.fields["first_name"],
                last_name=row.fields["last_name"],
                origin="import",
                title=row.fields["title"],
            )
            self._apply(session, contact, row)
            records.suggest_merge(session, contact, self.org.free_mail_domains)
            return "created"
        contact = session.get_one(Contact, owner)
        return "updated" if self._apply(session, contact, row) else "unchanged"

    def _apply(self, session: Session, contact: Contact, row: _Row) -> bool:
        """Set the row's non-empty values on ``contact``; True if anything changed."""
        changed = renamed = False
        for key in ("first_name", "last_name", "title"):
            if row.fields[key] and getattr(contact, key) != row.fields[key]:
                setattr(contact, key, row.fields[key])
                changed = True
                renamed = renamed or key != "title"
        if renamed:
            repo.index_contact_name(session, contact)
        known = {e.email for e in contact.emails}
        for address in (row.email, *row.other_emails):
            if address not in known:
                contact.emails.append(ContactEmail(email=address, is_primary=False))
                changed = True
        if row.phone and row.phone not in {p.e164 for p in contact.phones}:
            contact.phones.append(ContactPhone(e164=row.phone, kind="import"))
            changed = True
        company_id = self._company(session, row)
        if company_id is not None and contact.company_id != company_id:
            contact.company_id = company_id
            changed = True
        session.flush()
        return changed

    def _company(self, session: Session, row: _Row) -> int | None:
        """By the email's domain unless free-mail; else by the company name."""
        domain = domain_of(row.email)
        name = row.fields["company"]
        if domain not in self.org.free_mail_domains:
            found = repo.company_id_by_domain(session, domain)
            if found is not None:
                return found
            return repo.create_company(session, name or domain, domain, origin="import").id
        if not name:
            return None
        existing = session.scalar(select(Company.id).where(Company.name == name).limit(1))
        if existing is not None:
            return existing
        company = Company(name=name, origin="import")
        session.add(company)
        session.flush()
        return company.id


# -- the directory: search and a contact's timeline ---------------------------------------------

SEARCH_LIMIT = 50
TIMELINE_LIMIT = 200  # emails (and deals, tickets) on a timeline; the total is counted
SUBJECT_CHARS = 1_000  # of a subject: a 1 MB subject is cut by the database, not copied
MAX_QUERY = 200
MAX_QUERY_TOKENS = 4
MIN_PHONE_DIGITS = 3
GONE = ("merged", "erased")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PHONE_QUERY = re.compile(r"[\d\s+()./-]+")
# Name search folds names the way matching does (gateway.matching.names.fold: "Łukasz Żółw"
# is "lukasz zolw"). SQLite runs fold() itself, registered as a function on the connection;
# PostgreSQL folds the letters of Latin scripts with translate() (one call: a chain of
# REPLACE calls per letter would be too deep for SQLite's parser and slow on both) and drops
# the combining marks of decomposed text ("o" + U+0301).
SQL_FOLD = "bccrm_fold"  # the name func.bccrm_fold below calls
_LATIN_FOLDS = {
    letter: folded
    for letter in map(chr, range(0xC0, 0x180))
    if letter.isalpha() and (folded := fold(letter)).isascii() and folded.isalpha()
}
_MULTI_FOLDS = {letter: folded for letter, folded in _LATIN_FOLDS.items() if len(folded) > 1}
_COMBINING = sorted(
    {
        mark
        for letter in _LATIN_FOLDS
        for mark in unicodedata.normalize("NFD", letter)
        if unicodedata.combining(mark)
    }
)
_SINGLE = {letter: folded for letter, folded in _LATIN_FOLDS.items() if len(folded) == 1}
# translate(text, from, to): characters of ``from`` past the length of ``to`` are deleted.
_TRANSLATE_FROM = "".join(_SINGLE) + "".join(_COMBINING)
_TRANSLATE_TO = "".join(_SINGLE.values())


class ContactError(ValueError):
    """A directory lookup that cannot be answered (no such contact); shown to users."""


@dataclass(frozen=True)
class ContactRow:
    """One search result: who, how to reach them, how much hangs off them."""

    id: int
    name: str
    email: str  # the primary address ("" when the contact has none)
    company: str
    status: str  # active | suggested
    emails: int  # logged emails on the contact's timeline
    deals: int  # its deals and its company's
    tickets: int


@dataclass(frozen=True)
class ContactCard:
    """Everything the CRM holds on one contact (the head of its timeline)."""

    id: int
    name: str
    first_name: str
    last_name: str
    title: str
    company_id: int | None
    company: str
    emails: tuple[str, ...]  # primary first
    phones: tuple[str, ...]
    status: str
    origin: str
    merged_into_id: int | None
    legal_basis: str | None
    legal_basis_status: str  # "" | proposed | confirmed
    legal_basis_source: str
    legal_basis_at: datetime | None
    legal_basis_by: str
    subscription: str  # subscribed | unsubscribed
    unsubscribed_at: datetime | None
    objecting: bool
    notice_due_at: datetime | None
    notice_done_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TimelineEmail:
    id: int
    at: datetime  # the Date header, else when bccrm received it
    direction: str  # outbound | inbound | internal
    subject: str  # at most SUBJECT_CHARS characters
    subject_chars: int  # the whole subject's length
    from_email: str
    reason: str  # why bccrm put it on the contact's timeline
    confidence: float | None


@dataclass(frozen=True)
class TimelineDeal:
    id: int
    name: str
    stage: str
    status: str  # open | won | lost
    updated_at: datetime
    via: str  # "contact" (linked to the contact) or "company" (its company's deal)


@dataclass(frozen=True)
class TimelineTicket:
    id: int
    subject: str
    status: str  # open | pending | closed
    inbox: str
    created_at: datetime


@dataclass(frozen=True)
class ContactTimeline:
    contact: ContactCard
    emails: tuple[TimelineEmail, ...]  # newest first, at most TIMELINE_LIMIT
    email_total: int
    deals: tuple[TimelineDeal, ...]  # most recently updated first
    tickets: tuple[TimelineTicket, ...]  # newest first
    # Open ones first, soonest due first; then done and cancelled ones, newest first.
    tasks: tuple[TaskInfo, ...] = ()


class ContactDirectory:
    """Finding contacts and reading their timelines (read-only; the admin TUI's contacts)."""

    def __init__(self, sessions: sessionmaker[Session], organization: OrganizationConfig) -> None:
        self.sessions = sessions
        self.org = organization

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[ContactRow]:
        """Contacts whose name or company contains every word of ``query`` (ignoring case and
        diacritics: "lukasz" finds "Łukasz"), or whose address contains ``query``, or whose
        phone contains its digits. Merged and erased contacts are left out. An empty query
        gives the newest contacts."""
        # Control characters are dropped: SQLite would end the pattern at a NUL, PostgreSQL
        # refuses one.
        text = _CONTROLS.sub(" ", query[: MAX_QUERY * 2]).strip()[:MAX_QUERY]
        statement = (
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.status, Company.name)
            .outerjoin(Company, Contact.company_id == Company.id)
            .where(Contact.status.not_in(GONE))
            .limit(max(limit, 1))
        )
        with self.sessions() as session:
            if text:
                statement = statement.where(or_(*self._matches(session, text))).order_by(
                    func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id
                )
            else:
                statement = statement.order_by(Contact.id.desc())
            rows = session.execute(statement).tuples().all()
            ids = [row[0] for row in rows]
            primary = _primary_emails(session, ids)
            emails, deals, tickets = _counts(session, ids)
        return [
            ContactRow(
                id=contact_id,
                name=_name(first, last),
                email=primary.get(contact_id, ""),
                company=company or "",
                status=status,
                emails=emails.get(contact_id, 0),
                deals=deals.get(contact_id, 0),
                tickets=tickets.get(contact_id, 0),
            )
            for contact_id, first, last, status, company in rows
        ]

    def _matches(self, session: Session, text: str) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        # An address-looking query is not a name: "p.lis@" would otherwise find every "p".
        tokens = [] if "@" in text else fold(text).split()[:MAX_QUERY_TOKENS]
        if tokens:
            haystack = _name_haystack(session, tokens)
            conditions.append(and_(*(haystack.like(_like(t), escape="\\") for t in tokens)))
        if not any(c.isspace() for c in text):
            address: ColumnElement[bool] = ContactEmail.email.like(_like(text.lower()), escape="\\")
            if "@" in text and (normalized := normalize_address(text)):
                address = or_(address, ContactEmail.email == normalized)  # a Unicode domain
            conditions.append(_has(ContactEmail.contact_id, address))
        digits = re.sub(r"\D", "", text)
        if len(digits) >= MIN_PHONE_DIGITS and _PHONE_QUERY.fullmatch(text):
            phone: ColumnElement[bool] = ContactPhone.e164.like(_like(digits), escape="\\")
            if number := to_e164(text, self.org.default_region):
                phone = or_(phone, ContactPhone.e164 == number)
            conditions.append(_has(ContactPhone.contact_id, phone))
        return conditions or [false()]

    def timeline(self, contact_id: int, limit: int = TIMELINE_LIMIT) -> ContactTimeline:
        """The contact's card, its emails (newest first, at most ``limit``, with the total),
        its deals (its own and its company's), its tickets and its tasks."""
        with self.sessions() as session:
            contact = session.scalar(
                select(Contact)
                .where(Contact.id == contact_id)
                .options(
                    selectinload(Contact.emails),
                    selectinload(Contact.phones),
                    selectinload(Contact.company),
                )
            )
            if contact is None:
                raise ContactError(f"no contact {contact_id}")
            email_ids = _timeline_email_ids(contact_id)
            total = session.scalar(select(func.count()).select_from(email_ids.subquery())) or 0
            return ContactTimeline(
                contact=_card(contact),
                emails=tuple(_emails(session, contact_id, email_ids, limit)),
                email_total=total,
                deals=tuple(_deals(session, contact, limit)),
                tickets=tuple(_tickets(session, contact_id, limit)),
                tasks=tuple(task_infos(session, [Task.contact_id == contact_id], limit)),
            )


def _name(first: str, last: str) -> str:
    return " ".join(part for part in (first, last) if part)


def _like(text: str) -> str:
    """``%text%`` with LIKE's wildcards and escape character taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _name_haystack(session: Session, tokens: list[str]) -> ColumnElement[str]:
    """The contact's first and last name and company name, folded like ``tokens`` were."""
    parts = (Contact.first_name, Contact.last_name, func.coalesce(Company.name, ""))
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw: Any = connection.connection.dbapi_connection  # sqlite3.Connection
        raw.create_function(SQL_FOLD, 1, _sql_fold, deterministic=True)
        first, last, company = (func.bccrm_fold(part) for part in parts)
        return first + " " + last + " " + company
    folded = func.translate(
        func.lower(parts[0] + " " + parts[1] + " " + parts[2]), _TRANSLATE_FROM, _TRANSLATE_TO
    )
    for letter, plain in _MULTI_FOLDS.items():
        folded = func.replace(folded, letter, plain)
    # lower() follows the database's LC_CTYPE, which may be C (ASCII only): the query's own
    # other letters ("иван") are lower-cased explicitly.
    letters = {c for c in "".join(tokens) if not c.isascii() and c.upper() != c}
    for letter in sorted(letters):
        folded = func.replace(folded, letter.upper(), letter)
    return folded


def _sql_fold(value: object) -> str:
    return fold(value) if isinstance(value, str) else ""


def _has(column: InstrumentedAttribute[int], condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """The contact has a row (an address, a phone) meeting ``condition``."""
    return exists(select(column).where(column == Contact.id, condition))


def _primary_emails(session: Session, ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    if not ids:
        return found
    rows = session.execute(
        select(ContactEmail.contact_id, ContactEmail.email)
        .where(ContactEmail.contact_id.in_(ids))
        .order_by(ContactEmail.is_primary.desc(), ContactEmail.id)
    )
    for contact_id, email in rows:
        found.setdefault(contact_id, email)
    return found


def _counts(
    session: Session, ids: list[int]
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """Emails, deals and tickets per contact of ``ids``."""
    if not ids:
        return {}, {}, {}
    links = union(
        select(EmailAssociation.contact_id.label("cid"), EmailAssociation.email_id.label("eid"))
        .where(EmailAssociation.contact_id.in_(ids)),
        select(EmailParticipant.contact_id, EmailParticipant.email_id)
        .where(EmailParticipant.contact_id.in_(ids)),
    ).subquery()  # fmt: skip
    deals = union(
        select(DealContact.contact_id.label("cid"), DealContact.deal_id.label("did"))
        .where(DealContact.contact_id.in_(ids)),
        select(Contact.id, Deal.id)
        .join(Deal, Deal.company_id == Contact.company_id)
        .where(Contact.id.in_(ids)),
    ).subquery()  # fmt: skip
    tickets = (
        select(TicketContact.contact_id, func.count())
        .where(TicketContact.contact_id.in_(ids))
        .group_by(TicketContact.contact_id)
    )
    return (
        _grouped(session, select(links.c.cid, func.count()).group_by(links.c.cid)),
        _grouped(session, select(deals.c.cid, func.count()).group_by(deals.c.cid)),
        _grouped(session, tickets),
    )


def _grouped(session: Session, statement: Select[tuple[int, int]]) -> dict[int, int]:
    return {key: count for key, count in session.execute(statement).tuples()}


def _timeline_email_ids(contact_id: int) -> CompoundSelect[tuple[int]]:
    """The emails on the contact's timeline: linked to it, or with it as a participant."""
    return union(
        select(EmailAssociation.email_id).where(EmailAssociation.contact_id == contact_id),
        select(EmailParticipant.email_id).where(EmailParticipant.contact_id == contact_id),
    )


def _card(contact: Contact) -> ContactCard:
    emails = sorted(contact.emails, key=lambda e: (not e.is_primary, e.id))
    return ContactCard(
        id=contact.id,
        name=contact.name,
        first_name=contact.first_name,
        last_name=contact.last_name,
        title=contact.title,
        company_id=contact.company_id,
        company=contact.company.name if contact.company else "",
        emails=tuple(e.email for e in emails),
        phones=tuple(p.e164 for p in contact.phones),
        status=contact.status,
        origin=contact.origin,
        merged_into_id=contact.merged_into_id,
        legal_basis=contact.legal_basis,
        legal_basis_status=contact.legal_basis_status,
        legal_basis_source=contact.legal_basis_source,
        legal_basis_at=contact.legal_basis_at,
        legal_basis_by=contact.legal_basis_by,
        subscription=contact.subscription,
        unsubscribed_at=contact.unsubscribed_at,
        objecting=contact.objecting,
        notice_due_at=contact.notice_due_at,
        notice_done_at=contact.notice_done_at,
        created_at=contact.created_at,
    )


def _emails(
    session: Session, contact_id: int, email_ids: CompoundSelect[tuple[int]], limit: int
) -> Iterator[TimelineEmail]:
    at = func.coalesce(Email.sent_at, Email.received_at)
    linked = (EmailAssociation.email_id == Email.id, EmailAssociation.contact_id == contact_id)
    reason = select(EmailAssociation.reason).where(*linked).limit(1).scalar_subquery()
    confidence = select(EmailAssociation.confidence).where(*linked).limit(1).scalar_subquery()
    participant = (
        select(EmailParticipant.reason)
        .where(EmailParticipant.email_id == Email.id, EmailParticipant.contact_id == contact_id)
        .order_by(EmailParticipant.id)
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(
            Email.id,
            Email.sent_at,
            Email.received_at,
            Email.direction,
            func.substr(Email.subject, 1, SUBJECT_CHARS),
            func.length(Email.subject),
            Email.from_email,
            func.coalesce(reason, participant, ""),
            confidence,
        )
        .where(Email.id.in_(email_ids))
        .order_by(at.desc(), Email.id.desc())
        .limit(limit)
    )
    for row in session.execute(statement).tuples():
        email_id, sent_at, received_at, direction, subject, chars, sender, reason, sure = row
        yield TimelineEmail(
            id=email_id,
            at=sent_at or received_at,
            direction=direction,
            subject=subject or "",
            subject_chars=chars or 0,
            from_email=sender,
            reason=reason or "",
            confidence=sure,
        )


def _deals(session: Session, contact: Contact, limit: int) -> Iterator[TimelineDeal]:
    own = select(DealContact.deal_id).where(DealContact.contact_id == contact.id)
    linked = set(session.scalars(own))
    condition: ColumnElement[bool] = Deal.id.in_(own)
    if contact.company_id is not None:
        condition = or_(condition, Deal.company_id == contact.company_id)
    query = select(Deal).where(condition).order_by(Deal.updated_at.desc(), Deal.id.desc())
    for deal in session.scalars(query.limit(limit)):
        yield TimelineDeal(
            id=deal.id,
            name=deal.name,
            stage=deal.stage,
            status=deal.status,
            updated_at=deal.updated_at,
            via="contact" if deal.id in linked else "company",
        )


def _tickets(session: Session, contact_id: int, limit: int) -> Iterator[TimelineTicket]:
    query = (
        select(Ticket)
        .join(TicketContact, TicketContact.ticket_id == Ticket.id)
        .where(TicketContact.contact_id == contact_id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    for ticket in session.scalars(query):
        yield TimelineTicket(
            id=ticket.id,
            subject=ticket.subject,
            status=ticket.status,
            inbox=ticket.inbox,
            created_at=ticket.created_at,
        )
