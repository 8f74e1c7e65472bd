"""The rights of one person (a data subject) found by an address: erasure (GDPR/RODO Art. 17)
and access (Art. 15).

``erase`` removes the person from the CRM in one database transaction: their contacts become
``erased`` tombstones without names, addresses, phones or links; emails in which they were the
only outside party keep their metadata only; emails shared with other outside people keep
their text with the person's addresses and full name replaced by ``[erased]``; review items
and legal-basis checks about them go, and so do the spooled and quarantined copies of mail
that mentions them. Only a keyed hash of each address is kept, on the suppression list, so
that later mail from them is recognised without knowing who it was; the audit entry names
that hash and counts, never the address.

What the database file keeps is part of the promise. SQLite normally only marks deleted rows
and old versions of rewritten rows as free space: the bytes stay in the file (and in the
write-ahead log) until the space is reused. The erasure therefore runs with ``PRAGMA
secure_delete=ON`` on its connection, so everything it deletes or overwrites is zeroed, then
checkpoints the write-ahead log into the database and truncates it. A SQLite library built
without SECURE_DELETE (the switch is compiled in by Debian and Ubuntu, not everywhere) has
left old row versions of the worker's own writes in free pages; on such a build the erasure
also rebuilds the database file (``VACUUM``), which takes time proportional to its size while
the worker waits (mail stays safely in the spool). PostgreSQL keeps old row versions until
``VACUUM`` reuses their space; backups of either database keep what they held (they expire by
the backup policy).

Mail arriving while an erasure runs is covered by the suppression list once it commits; mail
a worker is processing at that moment is waited for (``lock_timeout``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, delete, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.crm import (
    AuditEntry,
    Contact,
    ContactEmail,
    ContactNameKey,
    Deal,
    DealContact,
    Email,
    EmailAssociation,
    EmailParticipant,
    LegalBasisCheck,
    PluginEvent,
    ReviewItem,
    Suppression,
    Ticket,
    TicketContact,
    UserAddress,
    repo,
    utcnow,
)
from gateway.parsing.people import is_internal
from gateway.privacy.keys import address_hash, hash_key
from gateway.services.export import _email as exported_email
from gateway.services.export import _iso as iso
from gateway.spool import MAGIC, Envelope, Spool, is_entry_id

log = logging.getLogger("bccrm.erasure")

ERASED_ADDRESS = "erased@invalid"
ERASED_TEXT = "[erased]"
# Placeholders other parts of bccrm write instead of an address: never somebody else.
PLACEHOLDERS = frozenset({ERASED_ADDRESS, "excluded@invalid"})
CHUNK = 1 << 20  # bytes read at a time when a spool file is scanned
ENVELOPE_LIMIT = 64 * 1024  # the first line of a spool entry is a small JSON object
BATCH = 200  # emails loaded at a time
TEXT_FIELDS = ("subject", "normalized_subject", "body_text", "reply_text", "one_time_basis")


# The report's counts in words, in the order people read them (the CLI and the admin TUI).
REPORT_LINES = (
    ("contacts erased", "contacts"),
    ("emails emptied (only outside party)", "emails_emptied"),
    ("emails redacted (shared)", "emails_redacted"),
    ("participants removed", "participants_removed"),
    ("phones removed", "phones_removed"),
    ("review items removed", "review_items_removed"),
    ("legal-basis checks removed", "legal_basis_checks_removed"),
    ("spool files removed", "spool_entries_removed"),
    ("quarantined messages removed", "quarantine_entries_removed"),
)


class ErasureError(ValueError):
    """The erasure or export cannot be done; the message says why (never the address)."""


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed (or, with ``dry_run``, would remove): ids and counts."""

    dry_run: bool
    subject_hash: str  # the suppression hash of the address given; the audit entry's object
    addresses: int  # the person's addresses erased (the given one and their contacts' others)
    contacts: tuple[int, ...] = ()  # contacts now "erased"
    emails_emptied: tuple[int, ...] = ()  # only outside party: text and attachments removed
    emails_redacted: tuple[int, ...] = ()  # shared: their addresses and name replaced
    participants_removed: int = 0
    phones_removed: int = 0
    review_items_removed: tuple[int, ...] = ()
    legal_basis_checks_removed: tuple[int, ...] = ()
    spool_entries_removed: tuple[str, ...] = ()  # waiting or being processed (new/, cur/)
    quarantine_entries_removed: tuple[str, ...] = ()
    suppression_added: bool = False  # False when the address was suppressed already

    def counts(self) -> dict[str, int | bool]:
        """Numbers only: what the audit entry records."""
        return {
            "addresses": self.addresses,
            "contacts": len(self.contacts),
            "emails_emptied": len(self.emails_emptied),
            "emails_redacted": len(self.emails_redacted),
            "participants_removed": self.participants_removed,
            "phones_removed": self.phones_removed,
            "review_items_removed": len(self.review_items_removed),
            "legal_basis_checks_removed": len(self.legal_basis_checks_removed),
            "spool_entries_removed": len(self.spool_entries_removed),
            "quarantine_entries_removed": len(self.quarantine_entries_removed),
            "suppression_added": self.suppression_added,
        }

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class _Person:
    """Everything that identifies the person in stored data."""

    address: str  # the normalised address given
    contact_ids: set[int]
    addresses: set[str]  # normalised: the given one and every address of their contacts
    names: set[str] = field(default_factory=set)  # full names (two words or more)

    def text_pattern(self) -> re.Pattern[str]:
        """Their addresses (also with a Unicode domain) and full names, ignoring case."""
        parts = sorted({form for a in self.addresses for form in text_forms(a)}, key=len)
        alternatives = [re.escape(p) for p in reversed(parts)]
        for name in sorted(self.names, key=len, reverse=True):
            words = [re.escape(w) for w in name.split()]
            alternatives.append(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")
        return re.compile("|".join(alternatives), re.IGNORECASE)


@dataclass
class _Files:
    spool: set[str] = field(default_factory=set)
    quarantine: set[str] = field(default_factory=set)


class ErasureService:
    """Erase or export one person. ``actor`` is recorded in the audit log (``cli:<login>``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        spool: Spool,
        config: Config,
        actor: str = "cli",
        lock_timeout: float = 60.0,
    ) -> None:
        self.sessions = sessions
        self.spool = spool
        self.config = config
        self.actor = actor
        # How long to wait for a worker (or an admin) holding a spool file that mentions the
        # person; longer than SQLite's busy timeout, after which a blocked worker lets go.
        self.lock_timeout = lock_timeout

    # -- Art. 17 ------------------------------------------------------------------------------

    def erase(self, address: str, dry_run: bool = False) -> ErasureReport:
        """Erase the person owning ``address``; with ``dry_run`` only say what would go."""
        given = normalized(address)
        with self.sessions() as session:
            self._refuse_users(session, given)
            scanned = self._person(session, given).addresses
        # Files first, outside the database transaction: a worker holding one of them is
        # waited for, and what it logs meanwhile is then erased from the database below.
        files = _Files()
        self._scan_files(scanned, files, remove=not dry_run)
        engine: Engine | None = None
        with self.sessions() as session:
            session.begin()
            try:
                with secure_delete(session) as secure_by_default:
                    person = self._person(session, given, lock=True)
                    if person.addresses - scanned:
                        # Addresses added since the scan above (rare): their files too.
                        self._scan_files(person.addresses - scanned, files, remove=not dry_run)
                    report = self._erase(session, person, files, dry_run)
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
                    engine = _engine(session)
            except BaseException:
                session.rollback()
                raise
        if engine is not None and engine.dialect.name == "sqlite":
            _compact_sqlite(engine, vacuum=not secure_by_default)
        log.info(
            "erasure%s: %d contact(s), %d email(s) emptied, %d redacted, %d spool and %d "
            "quarantine file(s)",
            " (dry run)" if dry_run else "",
            len(report.contacts),
            len(report.emails_emptied),
            len(report.emails_redacted),
            len(report.spool_entries_removed),
            len(report.quarantine_entries_removed),
        )
        return report

    def _refuse_users(self, session: Session, address: str) -> None:
        if session.scalar(select(UserAddress.id).where(UserAddress.email == address)):
            raise ErasureError(
                "the address belongs to a registered user; remove the user first "
                "('bccrm users'), an erasure is for people outside the organisation"
            )

    def _person(self, session: Session, address: str, lock: bool = False) -> _Person:
        """The contacts owning ``address``, those merged into them (at any depth), and all
        their addresses (registered users' addresses never)."""
        owner = session.scalar(select(ContactEmail.contact_id).where(ContactEmail.email == address))
        contact_ids: set[int] = set()
        frontier = {owner} if owner is not None else set()
        while frontier:
            contact_ids |= frontier
            merged = session.scalars(select(Contact.id).where(Contact.merged_into_id.in_(frontier)))
            frontier = set(merged) - contact_ids
        if lock and contact_ids:
            # Serialises with merges and reviews that would move rows to these contacts.
            session.execute(select(Contact.id).where(Contact.id.in_(contact_ids)).with_for_update())
        addresses = {address}
        if contact_ids:
            addresses |= set(
                session.scalars(
                    select(ContactEmail.email).where(ContactEmail.contact_id.in_(contact_ids))
                )
            )
        users = set(
            session.scalars(select(UserAddress.email).where(UserAddress.email.in_(addresses)))
        )
        return _Person(address, contact_ids, addresses - users | {address})

    def _erase(
        self, session: Session, person: _Person, files: _Files, dry_run: bool
    ) -> ErasureReport:
        key = hash_key(session, self.config.privacy)
        subject_hash = address_hash(key, person.address)
        # Anonymous-level mail keeps participants as keyed hashes of the same key.
        anonymous = {f"anon-{address_hash(key, a)[:24]}@invalid" for a in person.addresses}
        theirs = person.addresses | anonymous
        contacts = list(
            session.scalars(
                select(Contact)
                .where(Contact.id.in_(person.contact_ids))
                .options(selectinload(Contact.emails), selectinload(Contact.phones))
                .order_by(Contact.id)
            )
        )
        person.names |= {full for c in contacts if len((full := c.name).split()) >= 2}
        involved = self._involved(session, person, theirs)
        person.names |= self._names(session, person, theirs, involved)
        pattern = person.text_pattern()
        users = set(session.scalars(select(UserAddress.email)))
        emptied: list[int] = []
        redacted: list[int] = []
        participants_removed = 0
        for chunk in _chunks(sorted(involved), BATCH):
            emails = session.scalars(
                select(Email)
                .where(Email.id.in_(chunk))
                .options(selectinload(Email.participants), selectinload(Email.attachments))
                .order_by(Email.id)
            )
            for email in emails:
                mine = [
                    p
                    for p in email.participants
                    if p.email in theirs
                    or (p.contact_id is not None and p.contact_id in person.contact_ids)
                ]
                took_part = (
                    bool(mine) or email.from_email in theirs or email.forwarded_by_email in theirs
                )
                others = {p.email for p in email.participants if p not in mine}
                if email.from_email not in theirs:
                    others.add(email.from_email)
                outside = [
                    a
                    for a in others - PLACEHOLDERS
                    if a not in users and not is_internal(a, self.config.organization.domains)
                ]
                if took_part and not outside:
                    _empty(email)
                    emptied.append(email.id)
                else:
                    _redact(email, pattern)
                    redacted.append(email.id)
                if email.from_email in theirs:
                    email.from_email, email.from_name = ERASED_ADDRESS, ""
                if email.forwarded_by_email in theirs:
                    email.forwarded_by_email, email.forwarded_by_name = ERASED_ADDRESS, ""
                for participant in mine:
                    email.participants.remove(participant)
                participants_removed += len(mine)
            session.flush()
        self._tickets(session, person, pattern, involved)
        review_items = self._review_items(session, person)
        checks = sorted(
            session.scalars(
                select(LegalBasisCheck.id).where(LegalBasisCheck.contact_id.in_(person.contact_ids))
            )
        )
        _delete_ids(session, ReviewItem, review_items)
        _delete_ids(session, LegalBasisCheck, checks)
        _delete_ids(session, PluginEvent, _plugin_events(session, person, involved))
        phones_removed = self._erase_contacts(session, contacts)
        suppression_added = False
        for address in sorted(person.addresses):
            digest = address_hash(key, address)
            exists = session.scalar(
                select(Suppression.id).where(Suppression.address_hash == digest)
            )
            if exists is None:
                session.add(Suppression(address_hash=digest, reason="erased"))
                suppression_added = suppression_added or address == person.address
        session.flush()
        report = ErasureReport(
            dry_run=dry_run,
            subject_hash=subject_hash,
            addresses=len(person.addresses),
            contacts=tuple(c.id for c in contacts),
            emails_emptied=tuple(emptied),
            emails_redacted=tuple(redacted),
            participants_removed=participants_removed,
            phones_removed=phones_removed,
            review_items_removed=tuple(review_items),
            legal_basis_checks_removed=tuple(checks),
            spool_entries_removed=tuple(sorted(files.spool)),
            quarantine_entries_removed=tuple(sorted(files.quarantine)),
            suppression_added=suppression_added,
        )
        repo.audit(
            session, self.actor, "subject.erased", "subject", subject_hash, **report.counts()
        )
        return report

    def _involved(self, session: Session, person: _Person, theirs: set[str]) -> set[int]:
        """Emails the person takes part in, is linked to, or whose text names an address."""
        found = self._taking_part(session, person, theirs)
        # Mentions in the text: a scan of the table, acceptable for a rare operation.
        forms = sorted({form for a in person.addresses for form in text_forms(a)})
        columns = [getattr(Email, name) for name in TEXT_FIELDS]
        mentions = [column.ilike(_like(form), escape="\\") for column in columns for form in forms]
        found |= set(session.scalars(select(Email.id).where(or_(*mentions))))
        return found

    def _names(
        self, session: Session, person: _Person, theirs: set[str], involved: set[int]
    ) -> set[str]:
        """The display names the person's mail gave them, when they are full names."""
        names: set[str] = set()
        for chunk in _chunks(sorted(involved), BATCH):
            rows = session.execute(
                select(EmailParticipant.name).where(
                    EmailParticipant.email_id.in_(chunk),
                    or_(
                        EmailParticipant.email.in_(theirs),
                        EmailParticipant.contact_id.in_(person.contact_ids),
                    ),
                )
            )
            names |= {name for (name,) in rows}
            names |= set(
                session.scalars(
                    select(Email.from_name).where(Email.id.in_(chunk), Email.from_email.in_(theirs))
                )
            )
            names |= set(
                session.scalars(
                    select(Email.forwarded_by_name).where(
                        Email.id.in_(chunk), Email.forwarded_by_email.in_(theirs)
                    )
                )
            )
        return {" ".join(n.split()) for n in names if len(n.split()) >= 2}

    def _tickets(
        self, session: Session, person: _Person, pattern: re.Pattern[str], involved: set[int]
    ) -> None:
        """Ticket subjects come from mail: the person's addresses and name go there too."""
        ids = set(
            session.scalars(
                select(TicketContact.ticket_id).where(
                    TicketContact.contact_id.in_(person.contact_ids)
                )
            )
        )
        for chunk in _chunks(sorted(involved), BATCH):
            ids |= set(
                session.scalars(
                    select(EmailAssociation.ticket_id).where(
                        EmailAssociation.email_id.in_(chunk),
                        EmailAssociation.ticket_id.is_not(None),
                    )
                )
            )
        forms = sorted({form for a in person.addresses for form in text_forms(a)})
        ids |= set(
            session.scalars(
                select(Ticket.id).where(
                    or_(*[Ticket.subject.ilike(_like(f), escape="\\") for f in forms])
                )
            )
        )
        for chunk in _chunks(sorted(i for i in ids if i is not None), BATCH):
            for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(chunk))):
                subject = pattern.sub(ERASED_TEXT, ticket.subject)
                if subject != ticket.subject:
                    ticket.subject = subject
        session.flush()

    def _review_items(self, session: Session, person: _Person) -> list[int]:
        """Questions about the person: on their contacts, naming one of their addresses, or
        offering one of their contacts as a candidate."""
        needles = {form.lower() for a in person.addresses for form in text_forms(a)}
        found = []
        rows = session.execute(
            select(ReviewItem.id, ReviewItem.contact_id, ReviewItem.key, ReviewItem.payload)
            .order_by(ReviewItem.id)
            .execution_options(yield_per=500)
        )
        for item_id, contact_id, item_key, payload in rows:
            text = (json.dumps(payload, ensure_ascii=False) + "\n" + (item_key or "")).lower()
            if (
                contact_id in person.contact_ids
                or any(n in text for n in needles)
                or _names_contact(payload, person.contact_ids)
            ):
                found.append(item_id)
        return found

    def _erase_contacts(self, session: Session, contacts: Sequence[Contact]) -> int:
        ids = [c.id for c in contacts]
        if not ids:
            return 0
        phones = 0
        now = utcnow()
        for contact in contacts:
            phones += len(contact.phones)
            contact.phones.clear()
            contact.emails.clear()
            contact.first_name = contact.last_name = contact.title = ""
            contact.company_id = contact.owner_id = contact.merged_into_id = None
            contact.status = "erased"
            contact.legal_basis = None
            contact.legal_basis_status = contact.legal_basis_source = contact.legal_basis_by = ""
            contact.legal_basis_at = None
            contact.subscription = "subscribed"
            contact.unsubscribed_at = None
            contact.notice_due_at = contact.notice_done_at = None
            contact.objecting = False
            contact.updated_at = now
        session.flush()
        for table in (ContactNameKey, DealContact, TicketContact):
            session.execute(
                delete(table)
                .where(table.contact_id.in_(ids))
                .execution_options(synchronize_session=False)
            )
        session.execute(
            delete(EmailAssociation)
            .where(EmailAssociation.contact_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        session.flush()
        return phones

    # -- spool and quarantine -----------------------------------------------------------------

    def _scan_files(self, addresses: Iterable[str], files: _Files, remove: bool) -> None:
        """Find (and with ``remove`` delete) the spool and quarantine entries whose message or
        envelope mentions one of ``addresses``. Files that a worker or an admin holds, or that
        move while we look, are looked at again until ``lock_timeout``."""
        scanner = _Scanner(set(addresses), self._size_limit())
        deadline = time.monotonic() + self.lock_timeout
        while True:
            again = False
            for directory in (self.spool.new, self.spool.cur):
                for name in _names_in(directory):
                    outcome = self._visit(directory / name, scanner, remove)
                    if outcome == _FOUND:
                        files.spool.add(name.partition(".")[0])
                    again = again or outcome == _AGAIN
            for entry_id in self.spool.quarantined_ids():
                outcome = self._visit_quarantined(entry_id, scanner, remove)
                if outcome == _FOUND:
                    files.quarantine.add(entry_id)
                again = again or outcome == _AGAIN
            if not again:
                return
            if time.monotonic() > deadline:
                done = len(files.spool) + len(files.quarantine)
                raise ErasureError(
                    "a spool file that mentions the person is being processed or changed by "
                    f"someone else; nothing in the database changed ({done} file(s) removed "
                    "so far); try again"
                )
            time.sleep(0.1)

    def _visit(self, path: Path, scanner: _Scanner, remove: bool) -> str:
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return _AGAIN  # finished, or moved to another directory: look again
        with handle:
            if remove:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        return _AGAIN  # a worker is processing it
                    raise
                if not _still_at(handle, path):
                    return _AGAIN
            if not scanner.mentions(handle):
                return _NOT_FOUND
            if remove:
                path.unlink()
                _fsync_dir(path.parent)
            return _FOUND

    def _visit_quarantined(self, entry_id: str, scanner: _Scanner, remove: bool) -> str:
        try:
            with self.spool.open_quarantined(entry_id) as handle:
                if not scanner.mentions(handle):
                    return _NOT_FOUND
                if remove:
                    self.spool.remove_quarantined(entry_id)
                return _FOUND
        except FileNotFoundError:
            return _AGAIN  # released meanwhile: its new copy is in new/
        except BlockingIOError:
            return _AGAIN

    def _size_limit(self) -> int:
        return self.config.gateway.max_message_size + ENVELOPE_LIMIT

    # -- Art. 15 ------------------------------------------------------------------------------

    def export_subject(self, address: str) -> dict[str, Any]:
        """Everything held about the person owning ``address``, as one JSON-ready document.
        An unknown person gets the same keys with empty lists."""
        given = normalized(address)
        with self.sessions() as session:
            person = self._person(session, given)
            key = hash_key(session, self.config.privacy)
            anonymous = {f"anon-{address_hash(key, a)[:24]}@invalid" for a in person.addresses}
            theirs = person.addresses | anonymous
            suppressed = session.scalar(
                select(Suppression.reason).where(
                    Suppression.address_hash == address_hash(key, given)
                )
            )
            contacts = list(
                session.scalars(
                    select(Contact)
                    .where(Contact.id.in_(person.contact_ids))
                    .options(
                        selectinload(Contact.emails),
                        selectinload(Contact.phones),
                        selectinload(Contact.company),
                    )
                    .order_by(Contact.id)
                )
            )
            ids = person.contact_ids
            deals = _links(session, DealContact, DealContact.deal_id, ids)
            tickets = _links(session, TicketContact, TicketContact.ticket_id, ids)
            email_ids = self._taking_part(session, person, theirs)
            user_emails = {
                row.user_id: row.email
                for row in session.scalars(select(UserAddress).where(UserAddress.is_primary))
            }
            emails = []
            for chunk in _chunks(sorted(email_ids), BATCH):
                for email in session.scalars(
                    select(Email)
                    .where(Email.id.in_(chunk))
                    .options(
                        selectinload(Email.participants),
                        selectinload(Email.associations),
                        selectinload(Email.loggers),
                        selectinload(Email.attachments),
                    )
                    .order_by(Email.id)
                ):
                    data = exported_email(email, user_emails)
                    data["body_text"] = email.body_text
                    data["privacy"] = email.privacy
                    data["one_time_basis"] = email.one_time_basis
                    emails.append(data)
            review = self._review_items(session, person)
            return {
                "address": given,
                "addresses": sorted(person.addresses),
                "suppressed": suppressed is not None,
                "suppression_reason": suppressed,
                "contacts": [
                    _contact(c, deals.get(c.id, []), tickets.get(c.id, [])) for c in contacts
                ],
                "emails": emails,
                "deals": [
                    {
                        "id": d.id,
                        "external_id": d.external_id,
                        "name": d.name,
                        "stage": d.stage,
                        "status": d.status,
                        "company_id": d.company_id,
                        "updated_at": iso(d.updated_at),
                    }
                    for d in session.scalars(
                        select(Deal).where(Deal.id.in_(_flat(deals))).order_by(Deal.id)
                    )
                ],
                "tickets": [
                    {
                        "id": t.id,
                        "subject": t.subject,
                        "status": t.status,
                        "inbox": t.inbox,
                        "created_at": iso(t.created_at),
                        "updated_at": iso(t.updated_at),
                    }
                    for t in session.scalars(
                        select(Ticket).where(Ticket.id.in_(_flat(tickets))).order_by(Ticket.id)
                    )
                ],
                "review_items": [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "status": r.status,
                        "email_id": r.email_id,
                        "contact_id": r.contact_id,
                        "payload": r.payload,
                        "created_at": iso(r.created_at),
                        "decided_at": iso(r.decided_at),
                        "decided_by": r.decided_by,
                    }
                    for r in session.scalars(
                        select(ReviewItem).where(ReviewItem.id.in_(review)).order_by(ReviewItem.id)
                    )
                ],
                "legal_basis_checks": [
                    {
                        "id": c.id,
                        "email_id": c.email_id,
                        "contact_id": c.contact_id,
                        "reason": c.reason,
                        "status": c.status,
                        "action": c.action,
                        "basis": c.basis,
                        "note": c.note,
                        "created_at": iso(c.created_at),
                        "resolved_at": iso(c.resolved_at),
                        "resolved_by": c.resolved_by,
                    }
                    for c in session.scalars(
                        select(LegalBasisCheck)
                        .where(LegalBasisCheck.contact_id.in_(ids))
                        .order_by(LegalBasisCheck.id)
                    )
                ],
                "audit": [
                    {
                        "id": a.id,
                        "at": iso(a.at),
                        "actor": a.actor,
                        "action": a.action,
                        "object_kind": a.object_kind,
                        "object_id": a.object_id,
                        "details": a.details,
                    }
                    for a in session.scalars(
                        select(AuditEntry)
                        .where(
                            AuditEntry.object_kind == "contact",
                            AuditEntry.object_id.in_([str(i) for i in ids]),
                        )
                        .order_by(AuditEntry.id)
                    )
                ],
            }

    def _taking_part(self, session: Session, person: _Person, theirs: set[str]) -> set[int]:
        found = set(
            session.scalars(
                select(EmailParticipant.email_id).where(
                    or_(
                        EmailParticipant.email.in_(theirs),
                        EmailParticipant.contact_id.in_(person.contact_ids),
                    )
                )
            )
        )
        found |= set(
            session.scalars(
                select(Email.id).where(
                    or_(Email.from_email.in_(theirs), Email.forwarded_by_email.in_(theirs))
                )
            )
        )
        found |= set(
            session.scalars(
                select(EmailAssociation.email_id).where(
                    EmailAssociation.contact_id.in_(person.contact_ids)
                )
            )
        )
        return found


# -- helpers ----------------------------------------------------------------------------------

_FOUND, _NOT_FOUND, _AGAIN = "found", "not found", "again"


def normalized(address: str) -> str:
    """``address`` in bccrm's canonical form; :class:`ErasureError` when it is not one."""
    result = normalize_address(address)
    if result is None:
        raise ErasureError("not a valid email address")
    return result


def text_forms(address: str) -> set[str]:
    """How an address may be written in text: as stored (IDNA domain) and with the domain in
    Unicode (``ala@żółw.pl`` for ``ala@xn--w-uga1v8h.pl``)."""
    forms = {address}
    local, _, domain = address.rpartition("@")
    with contextlib.suppress(UnicodeError):
        forms.add(f"{local}@{domain.encode('ascii').decode('idna')}")
    return forms


def _plugin_events(session: Session, person: _Person, involved: set[int]) -> list[int]:
    """Plugin events copy names, addresses and text: those about the person go, delivered or
    not, so no plugin receives them after the erasure."""
    events = set(
        session.scalars(
            select(PluginEvent.id).where(PluginEvent.contact_id.in_(person.contact_ids))
        )
    )
    for chunk in _chunks(sorted(involved), BATCH):
        events.update(
            session.scalars(select(PluginEvent.id).where(PluginEvent.email_id.in_(chunk)))
        )
    return sorted(events)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _empty(email: Email) -> None:
    """Metadata only: no text, no attachments; marked erased."""
    for name in TEXT_FIELDS:
        setattr(email, name, "")
    email.attachments.clear()
    email.privacy_level = "metadata"
    email.privacy = {**(email.privacy or {}), "erased": True}


def _redact(email: Email, pattern: re.Pattern[str]) -> None:
    for name in TEXT_FIELDS:
        text = getattr(email, name)
        replaced = pattern.sub(ERASED_TEXT, text)
        if replaced != text:
            setattr(email, name, replaced)
    for attachment in email.attachments:
        filename = pattern.sub(ERASED_TEXT, attachment.filename)
        if filename != attachment.filename:
            attachment.filename = filename


def _names_contact(payload: Any, contact_ids: set[int]) -> bool:
    """True when a review payload offers one of ``contact_ids`` (merge, same_person)."""
    if not isinstance(payload, dict) or not contact_ids:
        return False
    refs = [payload.get("keep"), payload.get("other")]
    refs += [c.get("contact_id") for c in payload.get("candidates") or [] if isinstance(c, dict)]
    return any(isinstance(r, int) and r in contact_ids for r in refs)


def _delete_ids(
    session: Session,
    table: type[ReviewItem] | type[LegalBasisCheck] | type[PluginEvent],
    ids: list[int],
) -> None:
    for chunk in _chunks(ids, BATCH):
        session.execute(
            delete(table).where(table.id.in_(chunk)).execution_options(synchronize_session=False)
        )


def _links(
    session: Session, table: type[DealContact] | type[TicketContact], column: Any, ids: set[int]
) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    rows = session.execute(select(table.contact_id, column).where(table.contact_id.in_(ids)))
    for contact_id, target in rows:
        found.setdefault(contact_id, []).append(target)
    return {k: sorted(v) for k, v in found.items()}


def _flat(links: dict[int, list[int]]) -> list[int]:
    return sorted({i for ids in links.values() for i in ids})


def _contact(contact: Contact, deals: list[int], tickets: list[int]) -> dict[str, Any]:
    return {
        "id": contact.id,
        "name": contact.name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "title": contact.title,
        "company": {"id": contact.company.id, "name": contact.company.name}
        if contact.company
        else None,
        "owner_id": contact.owner_id,
        "status": contact.status,
        "origin": contact.origin,
        "merged_into_id": contact.merged_into_id,
        "emails": [
            {"email": e.email, "primary": e.is_primary, "bounced_at": iso(e.bounced_at)}
            for e in contact.emails
        ],
        "phones": [{"e164": p.e164, "kind": p.kind} for p in contact.phones],
        "legal_basis": {
            "basis": contact.legal_basis,
            "status": contact.legal_basis_status,
            "source": contact.legal_basis_source,
            "at": iso(contact.legal_basis_at),
            "by": contact.legal_basis_by,
        },
        "subscription": contact.subscription,
        "unsubscribed_at": iso(contact.unsubscribed_at),
        "notice_due_at": iso(contact.notice_due_at),
        "notice_done_at": iso(contact.notice_done_at),
        "objecting": contact.objecting,
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
        "deal_ids": deals,
        "ticket_ids": tickets,
    }


# -- files --------------------------------------------------------------------------------------


class _Scanner:
    """Does a spool entry mention one of the addresses? Its raw bytes are searched in chunks
    (ignoring ASCII case), its envelope is read, and a message up to the size limit is also
    decoded (base64 and quoted-printable parts, encoded-word headers) and searched."""

    def __init__(self, addresses: set[str], limit: int) -> None:
        self.addresses = addresses
        self.forms = sorted({f.lower() for a in addresses for f in text_forms(a)})
        self.needles = [f.encode() for f in self.forms]
        self.limit = limit

    def mentions(self, handle: BinaryIO) -> bool:
        handle.seek(0)
        first = handle.readline(ENVELOPE_LIMIT)
        if first.startswith(MAGIC) and self._envelope(first[len(MAGIC) :]):
            return True
        handle.seek(0)
        if self._raw(handle):
            return True
        size = os.fstat(handle.fileno()).st_size
        if size > self.limit:
            return False
        handle.seek(0)
        data = handle.read(self.limit)
        if data.startswith(MAGIC):
            data = data.partition(b"\n")[2]
        return self._decoded(data)

    def _envelope(self, line: bytes) -> bool:
        try:
            envelope = Envelope.from_json(line)
        except (ValueError, TypeError, UnicodeError):
            return False
        named = (envelope.mail_from, envelope.auth_user, envelope.token_user, *envelope.rcpt_tos)
        return any(normalize_address(a or "") in self.addresses for a in named)

    def _raw(self, handle: BinaryIO) -> bool:
        overlap = max(len(n) for n in self.needles) - 1
        tail = b""
        while chunk := handle.read(CHUNK):
            window = (tail + chunk).lower()
            if any(n in window for n in self.needles):
                return True
            tail = window[-overlap:] if overlap else b""
        return False

    def _decoded(self, data: bytes) -> bool:
        try:
            message = BytesParser(policy=email_policy.default).parsebytes(data)
            texts: list[str] = []
            for part in message.walk():
                texts.extend(str(value) for value in part.values())
                if part.get_content_maintype() == "text":
                    with contextlib.suppress(LookupError, ValueError, AttributeError):
                        texts.append(str(part.get_content()))
        except Exception:  # the email package raises many kinds of errors on broken input
            return False
        text = "\n".join(texts).lower()
        return any(form in text for form in self.forms)


def _names_in(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as it:
            return sorted(item.name for item in it if is_entry_id(item.name.partition(".")[0]))
    except FileNotFoundError:
        return []


def _still_at(handle: BinaryIO, path: Path) -> bool:
    """True while ``path`` names the open file (a worker may have renamed it meanwhile)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- SQLite ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def secure_delete(session: Session) -> Iterator[bool]:
    """On SQLite: zero what this transaction deletes or overwrites (see the module docstring).
    Yields whether the library does so on every connection by default (built with
    SECURE_DELETE; "FAST", value 2, leaves freed overflow pages as they were, so it is not)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield True
        return
    before = int(connection.exec_driver_sql("PRAGMA secure_delete").scalar() or 0)
    connection.exec_driver_sql("PRAGMA secure_delete=ON")
    try:
        yield before == 1
    finally:
        # The connection goes back to the pool: leave it as it was.
        with contextlib.suppress(Exception):
            connection.exec_driver_sql(f"PRAGMA secure_delete={before}")


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _compact_sqlite(engine: Engine, vacuum: bool) -> None:
    """Move the write-ahead log into the database file and truncate it, so that the old
    versions of erased rows are gone from both; with ``vacuum``, rebuild the file first.
    The erasure is committed by now: a failure here is logged, never raised."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if vacuum:
            try:
                cursor.execute("VACUUM")
            except sqlite3.Error as exc:
                log.warning(
                    "erasure: the database file could not be rebuilt (%s); old versions of "
                    "rows the worker rewrote may remain in its free pages until VACUUM runs",
                    type(exc).__name__,
                )
        for _ in range(50):
            try:
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error:
                busy = 1
            if not busy:
                break
            time.sleep(0.1)
        else:
            log.warning(
                "erasure: the write-ahead log could not be truncated (a reader kept it busy); "
                "old row versions stay in it until the next checkpoint"
            )
        cursor.close()
    finally:
        connection.close()
