"""The contact directory as fuzzy matching sees it: exact lookups and candidate retrieval by
index, never a scan. With a million contacts a lookup reads a few hundred index entries.

Candidates come from three indexes: name keys (``contact_name_keys``: surname plus first
initial, and a 4-letter surname prefix for typos), phones in E.164 and the address's company
domain. Each source is capped, so a common name or a big company costs the same as a rare one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.crm.people import (
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactNameKey,
    ContactPhone,
)
from gateway.matching.names import query_keys
from gateway.matching.score import CandidateRecord, Probe

PER_SOURCE = 200  # candidate ids read from each index


class Directory:
    def __init__(self, session: Session, free_mail: Collection[str]) -> None:
        self.session = session
        self.free_mail = frozenset(free_mail)

    def exact(self, address: str) -> int | None:
        """The active contact owning ``address`` (primary or secondary)."""
        return self.session.scalar(
            select(ContactEmail.contact_id)
            .join(Contact, Contact.id == ContactEmail.contact_id)
            .where(ContactEmail.email == address, Contact.status.in_(("active", "suggested")))
        )

    def candidate_ids(self, probe: Probe, exclude: Iterable[int] = ()) -> set[int]:
        ids: set[int] = set()
        keys = sorted(query_keys(probe.name)) if probe.name else []
        if keys:
            ids.update(
                self.session.scalars(
                    select(ContactNameKey.contact_id)
                    .where(ContactNameKey.key.in_(keys))
                    .limit(PER_SOURCE)
                )
            )
        if probe.phones:
            ids.update(
                self.session.scalars(
                    select(ContactPhone.contact_id)
                    .where(ContactPhone.e164.in_(sorted(probe.phones)))
                    .limit(PER_SOURCE)
                )
            )
        if probe.domain:
            ids.update(
                self.session.scalars(
                    select(ContactEmail.contact_id)
                    .where(ContactEmail.domain == probe.domain)
                    .limit(PER_SOURCE)
                )
            )
        ids.difference_update(exclude)
        return ids

    def candidates(self, probe: Probe, exclude: Iterable[int] = ()) -> list[CandidateRecord]:
        return self.records(self.candidate_ids(probe, exclude))

    def records(self, ids: Collection[int]) -> list[CandidateRecord]:
        """What scoring needs to know about each active contact in ``ids``."""
        if not ids:
            return []
        wanted = sorted(ids)
        rows = self.session.execute(
            select(
                Contact.id, Contact.first_name, Contact.last_name, Contact.company_id, Company.name
            )
            .outerjoin(Company, Company.id == Contact.company_id)
            .where(Contact.id.in_(wanted), Contact.status == "active")
        ).all()
        domains: dict[int, set[str]] = defaultdict(set)
        for contact_id, domain in self.session.execute(
            select(ContactEmail.contact_id, ContactEmail.domain).where(
                ContactEmail.contact_id.in_(wanted)
            )
        ):
            if domain not in self.free_mail:
                domains[contact_id].add(domain)
        company_ids = {row.company_id for row in rows if row.company_id is not None}
        company_domains: dict[int, set[str]] = defaultdict(set)
        if company_ids:
            for company_id, domain in self.session.execute(
                select(CompanyDomain.company_id, CompanyDomain.domain).where(
                    CompanyDomain.company_id.in_(sorted(company_ids))
                )
            ):
                company_domains[company_id].add(domain)
        phones: dict[int, set[str]] = defaultdict(set)
        for contact_id, e164 in self.session.execute(
            select(ContactPhone.contact_id, ContactPhone.e164).where(
                ContactPhone.contact_id.in_(wanted)
            )
        ):
            phones[contact_id].add(e164)
        return [
            CandidateRecord(
                contact_id=row.id,
                name=" ".join(p for p in (row.first_name, row.last_name) if p),
                domains=frozenset(
                    domains[row.id]
                    | (company_domains[row.company_id] if row.company_id is not None else set())
                ),
                phones=frozenset(phones[row.id]),
                company=row.name or "",
            )
            for row in rows
        ]
