"""Deals: CSV import (idempotent on the external id) and listing."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.addresses import domain_of, normalize_address, normalize_domain
from gateway.config import OrganizationConfig
from gateway.crm import CompanyDomain, ContactEmail, Deal, DealContact, UserAddress, repo
from gateway.crm.base import utcnow
from gateway.parsing.people import is_internal
from gateway.services.contacts import CsvImportError

IMPORT_COLUMNS = (
    "id",
    "name",
    "stage",
    "status",
    "company_domain",
    "contact_emails",
    "owner_email",
    "updated_at",
)
REQUIRED_COLUMNS = ("id", "name")
STATUSES = ("open", "won", "lost")
MAX_ROWS = 100_000
# Column sizes of the deals table (gateway.crm.people.Deal).
EXTERNAL_ID_MAX = 100
NAME_MAX = 300
STAGE_MAX = 100
# Far more addresses than a real deal has; bounds the work one line can cause.
MAX_CONTACTS_PER_DEAL = 500

__all__ = [
    "IMPORT_COLUMNS",
    "MAX_ROWS",
    "STATUSES",
    "CsvImportError",
    "DealImportResult",
    "DealInfo",
    "DealService",
]


@dataclass
class DealImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(line, reason) of rows that were skipped."""
    warnings: list[tuple[int, str]] = field(default_factory=list)
    """(line, remark) of rows that were imported, though not entirely as written."""


@dataclass(frozen=True)
class DealInfo:
    id: int
    external_id: str | None
    name: str
    stage: str
    status: str
    company_id: int | None
    company_domain: str | None
    owner_email: str | None
    contact_emails: tuple[str, ...]
    updated_at: dt.datetime


@dataclass(frozen=True)
class _Row:
    """One validated line. ``None`` means the column is absent from the file: the stored value
    is kept on update (an empty cell in a present column clears it)."""

    line: int
    external_id: str
    name: str
    stage: str | None
    status: str | None
    company_domain: str | None
    contact_emails: tuple[str, ...] | None
    owner_email: str | None
    owner_invalid: str | None
    updated_at: dt.datetime | None


class DealService:
    def __init__(
        self, sessions: sessionmaker[Session], organization: OrganizationConfig, actor: str = "cli"
    ) -> None:
        self.sessions = sessions
        self.org = organization
        self.actor = actor

    # -- listing -------------------------------------------------------------------------

    def list_deals(self, status: str | None = None, limit: int = 200) -> list[DealInfo]:
        """Deals, most recently updated first; ``status`` keeps only open, won or lost ones."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown deal status {status!r} (open, won or lost)")
        query = (
            select(Deal)
            .options(selectinload(Deal.contacts))
            .order_by(Deal.updated_at.desc(), Deal.id.desc())
            .limit(max(limit, 0))
        )
        if status is not None:
            query = query.where(Deal.status == status)
        with self.sessions() as session:
            deals = list(session.scalars(query))
            domains = _company_domains(session, {d.company_id for d in deals if d.company_id})
            owners = _user_emails(session, {d.owner_id for d in deals if d.owner_id})
            contact_ids = {m.contact_id for d in deals for m in d.contacts}
            emails = _contact_emails(session, contact_ids)
            return [
                DealInfo(
                    id=d.id,
                    external_id=d.external_id,
                    name=d.name,
                    stage=d.stage,
                    status=d.status,
                    company_id=d.company_id,
                    company_domain=domains.get(d.company_id) if d.company_id else None,
                    owner_email=owners.get(d.owner_id) if d.owner_id else None,
                    contact_emails=tuple(
                        sorted(emails[m.contact_id] for m in d.contacts if m.contact_id in emails)
                    ),
                    updated_at=d.updated_at,
                )
                for d in deals
            ]

    # -- import --------------------------------------------------------------------------

    def import_csv(self, path: Path) -> DealImportResult:
        """Import deals; idempotent on ``id``. Bad rows are reported, good rows kept; the file
        is read and checked whole before one transaction writes it (all or nothing on a
        database error)."""
        result = DealImportResult()
        rows = list(self._rows(path, result))
        owners: dict[str, int | None] = {}
        with self.sessions.begin() as session:
            for row in rows:
                try:
                    with session.begin_nested():
                        outcome = self._upsert(session, row, result, owners)
                except ValueError as exc:
                    result.errors.append((row.line, str(exc)))
                    continue
                setattr(result, outcome, getattr(result, outcome) + 1)
        result.errors.sort(key=lambda e: e[0])
        result.warnings.sort(key=lambda w: w[0])
        return result

    def _rows(self, path: Path, result: DealImportResult) -> Iterator[_Row]:
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                yield from self._read(path, stream, result)
        except FileNotFoundError:
            raise CsvImportError(f"{path}: no such file") from None
        except UnicodeDecodeError:
            raise CsvImportError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
        except OSError as exc:
            raise CsvImportError(f"{path}: cannot read ({exc.strerror or exc})") from None

    def _read(self, path: Path, stream: TextIO, result: DealImportResult) -> Iterator[_Row]:
        header = stream.readline()
        # Spreadsheets in Polish and German locales write ';'-separated "CSV".
        delimiter = max((",", ";", "\t"), key=header.count)
        reader = csv.reader(itertools.chain([header], stream), delimiter=delimiter)
        try:
            names = [name.strip().lower() for name in next(reader, [])]
            columns: dict[str, int] = {}
            for index, name in enumerate(names):
                if name in IMPORT_COLUMNS:
                    columns.setdefault(name, index)
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                listed = " and ".join(f"'{name}'" for name in missing)
                noun = "column" if len(missing) == 1 else "columns"
                raise CsvImportError(f"{path}: no {listed} {noun} in the header row")
            seen: dict[str, int] = {}
            count = 0
            for record in reader:
                if not any(value.strip() for value in record):
                    continue
                count += 1
                if count > MAX_ROWS:
                    raise CsvImportError(
                        f"{path}: more than {MAX_ROWS} rows; split the file and import the parts"
                    )
                line = reader.line_num
                values = {
                    name: record[index].strip() if index < len(record) else ""
                    for name, index in columns.items()
                }
                try:
                    row = self._row(line, values)
                except ValueError as exc:
                    result.errors.append((line, str(exc)))
                    continue
                if (first := seen.setdefault(row.external_id, line)) != line:
                    result.errors.append((line, f"id {row.external_id!r} repeats line {first}"))
                    continue
                yield row
        except csv.Error as exc:
            raise CsvImportError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None

    def _row(self, line: int, values: dict[str, str]) -> _Row:
        """Check and normalise one line; ``ValueError`` says what is wrong with it."""
        external_id = values["id"]
        if not external_id:
            raise ValueError("empty id")
        if len(external_id) > EXTERNAL_ID_MAX:
            raise ValueError(f"id longer than {EXTERNAL_ID_MAX} characters")
        name = values["name"][:NAME_MAX]
        if not name:
            raise ValueError("empty name")
        status = None
        if "status" in values:
            status = values["status"].lower() or "open"
            if status not in STATUSES:
                raise ValueError(f"invalid status {values['status']!r} (open, won or lost)")
        company_domain = values.get("company_domain")
        if company_domain:
            try:
                company_domain = normalize_domain(company_domain.lstrip("@"))
            except ValueError:
                raise ValueError(f"invalid company_domain {company_domain!r}") from None
        contact_emails = None
        if "contact_emails" in values:
            contact_emails = self._contact_emails(values["contact_emails"])
        owner_email = owner_invalid = None
        if "owner_email" in values:
            owner_email = normalize_address(values["owner_email"]) or ""
            if values["owner_email"] and not owner_email:
                owner_invalid = values["owner_email"]
        updated_at = None
        if raw_time := values.get("updated_at"):
            updated_at = parse_timestamp(raw_time)
            if updated_at is None:
                raise ValueError(f"invalid updated_at {raw_time!r} (ISO 8601 date or date-time)")
        return _Row(
            line=line,
            external_id=external_id,
            name=name,
            stage=values["stage"][:STAGE_MAX] if "stage" in values else None,
            status=status,
            company_domain=company_domain,
            contact_emails=contact_emails,
            owner_email=owner_email,
            owner_invalid=owner_invalid,
            updated_at=updated_at,
        )

    def _contact_emails(self, text: str) -> tuple[str, ...]:
        emails: dict[str, None] = {}
        for part in filter(None, (x.strip() for x in text.replace(",", ";").split(";"))):
            email = normalize_address(part)
            if email is None:
                raise ValueError(f"invalid address {part!r} in contact_emails")
            if is_internal(email, self.org.domains):
                raise ValueError(f"{email} is an address of the organisation, not a contact")
            emails[email] = None
        if len(emails) > MAX_CONTACTS_PER_DEAL:
            raise ValueError(f"more than {MAX_CONTACTS_PER_DEAL} addresses in contact_emails")
        return tuple(emails)

    def _upsert(
        self,
        session: Session,
        row: _Row,
        result: DealImportResult,
        owners: dict[str, int | None],
    ) -> str:
        """Create or update the deal of ``row``: "created", "updated" or "unchanged". Every
        check that can reject the row comes before the first write."""
        if row.contact_emails and (users := repo.user_ids_by_address(session, row.contact_emails)):
            raise ValueError(f"{min(users)} is a registered user's address, not a contact")
        deal = session.scalar(
            select(Deal)
            .where(Deal.external_id == row.external_id)
            .options(selectinload(Deal.contacts))
        )
        owner_id = deal.owner_id if deal else None
        if row.owner_email is not None:
            owner_id = self._owner(session, row, result, owners)
        company_id = deal.company_id if deal else None
        if row.company_domain is not None:
            company_id = self._company(session, row.company_domain)
        contact_ids = None
        if row.contact_emails is not None:
            contact_ids = self._contacts(
                session, row.contact_emails, row.company_domain, company_id
            )
        if deal is None:
            deal = Deal(
                external_id=row.external_id,
                name=row.name,
                stage=row.stage or "",
                status=row.status or "open",
                company_id=company_id,
                owner_id=owner_id,
                updated_at=row.updated_at or utcnow(),
                contacts=[DealContact(contact_id=c) for c in contact_ids or ()],
            )
            session.add(deal)
            session.flush()
            self._audit(session, deal, created=True)
            return "created"
        if not self._update(deal, row, company_id, owner_id, contact_ids):
            return "unchanged"
        session.flush()
        self._audit(session, deal, created=False)
        return "updated"

    @staticmethod
    def _update(
        deal: Deal,
        row: _Row,
        company_id: int | None,
        owner_id: int | None,
        contact_ids: tuple[int, ...] | None,
    ) -> bool:
        """Apply ``row`` to ``deal``; True if anything changed. Columns absent from the file
        (``None`` in ``row``) keep their stored values."""
        wanted: dict[str, object] = {
            "name": row.name,
            "company_id": company_id,
            "owner_id": owner_id,
        }
        if row.stage is not None:
            wanted["stage"] = row.stage
        if row.status is not None:
            wanted["status"] = row.status
        changed = False
        for key, value in wanted.items():
            if getattr(deal, key) != value:
                setattr(deal, key, value)
                changed = True
        if contact_ids is not None:
            current = {m.contact_id for m in deal.contacts}
            if set(contact_ids) != current:
                kept = [m for m in deal.contacts if m.contact_id in contact_ids]
                added = [DealContact(contact_id=c) for c in contact_ids if c not in current]
                deal.contacts = kept + added
                changed = True
        if row.updated_at is not None:
            if row.updated_at != deal.updated_at:
                deal.updated_at = row.updated_at
                changed = True
        elif changed:
            deal.updated_at = utcnow()
        return changed

    def _audit(self, session: Session, deal: Deal, created: bool) -> None:
        repo.audit(
            session,
            self.actor,
            "deal.imported",
            "deal",
            deal.id,
            external_id=deal.external_id,
            created=created,
        )

    @staticmethod
    def _owner(
        session: Session, row: _Row, result: DealImportResult, owners: dict[str, int | None]
    ) -> int | None:
        """The user ``row.owner_email`` names; ``None`` (with a warning) if nobody is."""
        if row.owner_invalid is not None:
            warning = f"owner_email {row.owner_invalid!r} is not a valid address"
        elif not row.owner_email:
            return None
        else:
            email = row.owner_email
            if email not in owners:
                owners[email] = repo.user_ids_by_address(session, [email]).get(email)
            if (found := owners[email]) is not None:
                return found
            warning = f"owner {email} is not a registered user"
        result.warnings.append((row.line, f"{warning}; imported without an owner"))
        return None

    @staticmethod
    def _company(session: Session, domain: str) -> int | None:
        """The company with ``domain``, created if there is none; ``None`` for no domain."""
        if not domain:
            return None
        found = repo.company_id_by_domain(session, domain)
        if found is not None:
            return found
        return repo.create_company(session, name=domain, domain=domain, origin="import").id

    @staticmethod
    def _contacts(
        session: Session, emails: tuple[str, ...], domain: str | None, company_id: int | None
    ) -> tuple[int, ...]:
        """The contacts with ``emails`` (one per person), created when unknown; a new contact
        at the deal's company domain joins that company."""
        ids: dict[int, None] = {}
        for email in emails:
            contact_id = repo.contact_id_by_email(session, email)
            if contact_id is None:
                at_company = bool(domain) and domain_of(email) == domain
                contact_id = repo.create_contact(
                    session,
                    email,
                    first_name="",
                    last_name="",
                    origin="import",
                    company_id=company_id if at_company else None,
                ).id
            ids[contact_id] = None
        return tuple(ids)


def parse_timestamp(text: str) -> dt.datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive means UTC); ``None`` when
    ``text`` is neither."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _chunks(ids: set[int], size: int = 500) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _company_domains(session: Session, ids: set[int]) -> dict[int, str]:
    """Each company's first domain."""
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        query = (
            select(CompanyDomain.company_id, CompanyDomain.domain)
            .where(CompanyDomain.company_id.in_(chunk))
            .order_by(CompanyDomain.id)
        )
        for company_id, domain in session.execute(query):
            found.setdefault(company_id, domain)
    return found


def _user_emails(session: Session, ids: set[int]) -> dict[int, str]:
    """Each user's primary address (the first one if none is marked)."""
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        query = (
            select(UserAddress.user_id, UserAddress.email)
            .where(UserAddress.user_id.in_(chunk))
            .order_by(UserAddress.is_primary.desc(), UserAddress.id)
        )
        for user_id, email in session.execute(query):
            found.setdefault(user_id, email)
    return found


def _contact_emails(session: Session, ids: set[int]) -> dict[int, str]:
    """Each contact's primary address (the first one if none is marked)."""
    found: dict[int, str] = {}
    for chunk in _chunks(ids):
        query = (
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(chunk))
            .order_by(ContactEmail.is_primary.desc(), ContactEmail.id)
        )
        for contact_id, email in session.execute(query):
            found.setdefault(contact_id, email)
    return found
