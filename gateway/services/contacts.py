"""Contacts: CSV import and listing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.addresses import domain_of, normalize_address
from gateway.config import OrganizationConfig
from gateway.crm import Company, Contact, ContactEmail, ContactPhone, repo
from gateway.matching import records
from gateway.parsing.people import is_internal
from gateway.parsing.phones import to_e164

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
