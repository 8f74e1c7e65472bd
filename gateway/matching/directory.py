"""The contact directory as fuzzy matching sees it: exact lookups and candidate retrieval by
index, never a scan. With a million contacts a lookup reads a few hundred index entries.

Retrieval is tiered. First the name keys with the exact surname (``kowalska|a``) and the
signature's phones; only when none of those is a close name, the people at the address's
company domain and, where that cannot be read whole, the typo keys (a four-letter surname
prefix, ``kowa~a``). Every source is capped, so a
common name or a big company costs what a rare one does. The candidates' names are compared
at C speed (rapidfuzz), and only the best :data:`SHORTLIST` are loaded in full and scored.
Queries are SQLAlchemy Core on the tables: this is the hot path of every unknown address.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from rapidfuzz import fuzz, process, utils
from sqlalchemy import Select, bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from gateway.crm.people import (
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactNameKey,
    ContactPhone,
)
from gateway.crm.repo import AddressOwner
from gateway.matching.names import canonical, name_similarity, query_keys
from gateway.matching.score import CandidateRecord, Probe

PER_SOURCE = 200  # candidate ids read from each first-tier index
SECOND_TIER = 100  # ... and from each second-tier one (a misspelt name at a big company)
SHORTLIST = 25  # candidates loaded in full and scored
CLOSE_CHECKS = 3  # first-tier candidates compared properly before the second tier is read
CLOSE_NAME = 0.85  # name similarity of a first-tier candidate that ends the search
SHORTLIST_SPREAD = 20  # ... and at most this far (token-sort ratio) behind the best one
PREFILTER_CUTOFF = 45  # token-sort ratio (0-100) under which a name cannot reach "suggest"

_contacts: Any = Contact.__table__
_emails: Any = ContactEmail.__table__
_keys: Any = ContactNameKey.__table__
_phones: Any = ContactPhone.__table__
_companies: Any = Company.__table__
_company_domains: Any = CompanyDomain.__table__
_LIVE = ("active", "suggested")
# Built once: the hot path's statements need not be constructed and cache-keyed per call.
_EXACT = (
    select(_emails.c.contact_id)
    .join(_contacts, _contacts.c.id == _emails.c.contact_id)
    .where(_emails.c.email == bindparam("address"), _contacts.c.status.in_(_LIVE))
)


class Directory:
    def __init__(self, session: Session, free_mail: Collection[str]) -> None:
        self.session = session
        self.free_mail = frozenset(free_mail)
        self._owners: dict[str, int | None] = {}  # what remember() was told, for exact()

    def exact(self, address: str) -> int | None:
        """The live contact owning ``address`` (primary or secondary)."""
        if address in self._owners:
            return self._owners[address]
        found: int | None = self.session.execute(_EXACT, {"address": address}).scalar()
        return found

    def remember(self, owners: Mapping[str, AddressOwner], addresses: Iterable[str]) -> None:
        """Let :meth:`exact` answer for ``addresses`` from ``owners`` (read by the caller:
        :func:`gateway.crm.repo.address_owners`) instead of asking the database one by one."""
        for address in addresses:
            owner = owners.get(address)
            self._owners[address] = (
                owner.contact_id if owner is not None and owner.status in _LIVE else None
            )

    def candidate_ids(
        self, probe: Probe, exclude: Iterable[int] = (), min_similarity: float = 0.0
    ) -> list[int]:
        """The contacts worth scoring for ``probe``, closest names first; with
        ``min_similarity``, only those whose names are at least that similar (a weaker name
        cannot reach the caller's threshold whatever the evidence: see score.py)."""
        excluded = set(exclude)
        names: dict[int, str] = {}
        exact_keys, typo_keys = _split_keys(query_keys(probe.name) if probe.name else ())
        if exact_keys:
            names.update(self._keyed_names(exact_keys, PER_SOURCE))
        if probe.phones:
            names.update(self._names(_phones.c.e164.in_(sorted(probe.phones)), via=_phones))
        shortlist = self._shortlist(probe, names, excluded)
        closest = shortlist[:CLOSE_CHECKS]
        if not any(name_similarity(probe.name, names[i]) >= CLOSE_NAME for i in closest):
            names.update(self._second_tier(probe, typo_keys))
            shortlist = self._shortlist(probe, names, excluded)
        if min_similarity > 0:
            shortlist = [
                i for i in shortlist if name_similarity(probe.name, names[i]) >= min_similarity
            ]
        return shortlist

    @staticmethod
    def _shortlist(probe: Probe, names: dict[int, str], excluded: set[int]) -> list[int]:
        """The best :data:`SHORTLIST` names at C speed (rapidfuzz's token-sort ratio on
        lower-cased words: a cheap bound; the real comparison is the scorer's)."""
        choices = {i: n for i, n in names.items() if i not in excluded}
        if not probe.name:
            return sorted(choices)[:SHORTLIST]
        scores: dict[int, float] = {}
        # The name as written and in canonical form ("Kasia" is also "katarzyna"), so stored
        # nicknames and stored formal names both come first.
        for wanted in {probe.name, canonical(probe.name)}:
            for _, score, contact_id in process.extract(
                wanted,
                choices,
                scorer=fuzz.token_sort_ratio,
                processor=utils.default_process,
                limit=SHORTLIST,
                score_cutoff=PREFILTER_CUTOFF,
            ):
                scores[contact_id] = max(score, scores.get(contact_id, 0.0))
        ranked = sorted(scores, key=lambda i: (-scores[i], i))[:SHORTLIST]
        if not ranked:
            return []
        # Far behind the best name a candidate cannot win; reading it would only cost time.
        return [i for i in ranked if scores[i] >= scores[ranked[0]] - SHORTLIST_SPREAD]

    def candidates(
        self, probe: Probe, exclude: Iterable[int] = (), min_similarity: float = 0.0
    ) -> list[CandidateRecord]:
        return self.records(self.candidate_ids(probe, exclude, min_similarity))

    def _second_tier(self, probe: Probe, typo_keys: list[str]) -> dict[int, str]:
        """No close name so far. A misspelt name can only reach "suggest" with more evidence
        than the name: the same company domain (or phone, read already), or the signature's
        company name. So: the people at the address's domain, and the typo keys when the domain
        is too big to read whole; for free-mail addresses, the typo keys only when the
        signature names a company."""
        if probe.domain:
            found = self._names(_emails.c.domain == probe.domain, via=_emails, cap=SECOND_TIER)
            if typo_keys and len(found) >= SECOND_TIER:
                # Too many people to read whole: the typo keys too (scoring sees the domain).
                found.update(self._keyed_names(typo_keys, SECOND_TIER))
            return found
        if typo_keys and probe.company:
            return self._keyed_names(typo_keys, SECOND_TIER)
        return {}

    def _keyed_names(self, keys: list[str], cap: int) -> dict[int, str]:
        """Names by name key, from the covering index alone (keys exist for live contacts
        only: a merge or an erasure removes them)."""
        rows = self.session.execute(
            select(_keys.c.contact_id, _keys.c.name).where(_keys.c.key.in_(keys)).limit(cap)
        )
        return dict(rows.tuples().all())

    def _names(self, condition: Any, via: Any, cap: int = PER_SOURCE) -> dict[int, str]:
        """Canonical names of the live contacts an index entry points to (capped)."""
        query: Select[Any] = (
            select(_contacts.c.id, _contacts.c.first_name, _contacts.c.last_name)
            .select_from(via.join(_contacts, _contacts.c.id == via.c.contact_id))
            .where(condition, _contacts.c.status == "active")
            .limit(cap)
        )
        return {row.id: f"{row.first_name} {row.last_name}" for row in self.session.execute(query)}

    def records(self, ids: Collection[int]) -> list[CandidateRecord]:
        """What scoring needs to know about each active contact in ``ids`` (two queries)."""
        if not ids:
            return []
        wanted = sorted(ids)
        people: dict[int, tuple[str, str]] = {}
        domains: dict[int, set[str]] = defaultdict(set)
        phones: dict[int, set[str]] = defaultdict(set)
        for row in self.session.execute(
            select(
                _contacts.c.id,
                _contacts.c.first_name,
                _contacts.c.last_name,
                _companies.c.name,
                _company_domains.c.domain,
            )
            .select_from(
                _contacts.outerjoin(
                    _companies, _companies.c.id == _contacts.c.company_id
                ).outerjoin(_company_domains, _company_domains.c.company_id == _companies.c.id)
            )
            .where(_contacts.c.id.in_(wanted), _contacts.c.status == "active")
        ):
            full = " ".join(p for p in (row.first_name, row.last_name) if p)
            people[row.id] = (full, row.name or "")
            if row.domain is not None:
                domains[row.id].add(row.domain)
        evidence = union_all(
            select(_emails.c.contact_id, literal("d").label("kind"), _emails.c.domain.label("v"))
            .where(_emails.c.contact_id.in_(wanted)),
            select(_phones.c.contact_id, literal("p"), _phones.c.e164)
            .where(_phones.c.contact_id.in_(wanted)),
        )  # fmt: skip
        for contact_id, kind, value in self.session.execute(evidence):
            if kind == "p":
                phones[contact_id].add(value)
            elif value not in self.free_mail:
                domains[contact_id].add(value)
        return [
            CandidateRecord(
                contact_id=contact_id,
                name=name,
                domains=frozenset(domains[contact_id]),
                phones=frozenset(phones[contact_id]),
                company=company,
            )
            for contact_id, (name, company) in people.items()
        ]


def _split_keys(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """Exact-surname keys (``kowalska|a``) and typo keys (``kowa~a``), sorted."""
    ordered = sorted(keys)
    return [k for k in ordered if "|" in k], [k for k in ordered if "~" in k]
