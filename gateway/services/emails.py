"""The email log (issue #7): every logged email, found fast among hundreds of thousands, shown
in full, and fixed by hand.

Reading
    :meth:`EmailLogService.page` lists emails newest first, by ``(received_at, id)``
    descending, with keyset pagination: a page ends with a cursor and the next page starts
    strictly after it, so no email is shown twice or skipped when several share a timestamp,
    and the 500th page costs what the first does (index ``ix_emails_received_at_id``,
    migration 0006). Subjects are cut in SQL (``substr``), so a 1 MB subject never reaches
    Python for the list. Filters (:class:`EmailFilter`) are ``EXISTS``/``IN`` subqueries, never
    joins that multiply rows. :meth:`~EmailLogService.count` counts exactly when nothing is
    filtered (the index alone) and stops past :data:`COUNT_CAP` otherwise.

Statuses (:data:`STATUSES`)
    Derived from what is stored, never stored themselves: ``linked`` (on a contact's
    timeline), ``unlinked`` (on none), ``review`` (an open review question is about it),
    ``private`` (privacy level not ``full``), ``deal`` and ``ticket`` (on one). A row shows
    every status that applies; a filter picks one.

Writing
    :meth:`~EmailLogService.move`, :meth:`~EmailLogService.mark_private` and
    :meth:`~EmailLogService.delete` each run in one transaction with an audit entry naming
    ids and counts, never content. Text that is removed is zeroed on SQLite
    (``secure_delete``), as erasure and retention do.

Text is returned raw: callers that show it (the admin TUI) sanitise it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select, update
from sqlalchemy.orm import QueryableAttribute, Session, defer, selectinload, sessionmaker

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    Deal,
    Email,
    EmailAssociation,
    EmailAttachment,
    EmailLogger,
    EmailParticipant,
    ReviewItem,
    Ticket,
    User,
    UserAddress,
    linking,
    repo,
    utcnow,
)
from gateway.crm.mail import DIRECTIONS
from gateway.services.erasure import secure_delete

PAGE_SIZE = 100
MAX_PAGE = 1_000
SUBJECT_CHARS = 300  # of a subject in the list; the detail has all of it
COUNT_CAP = 10_000  # a filtered count stops here: more is "10,000+"
ROW_CONTACTS = 3  # contact names per row; the rest is a number
TARGET_LIMIT = 20
MOVED_REASON = "moved by admin"
COMPANY_REASON = "contact's company"  # what linking.link_contact writes
MOVE_KINDS = ("contact", "deal", "ticket")
STATUSES = {
    "linked": "on at least one contact's timeline",
    "unlinked": "on no contact's timeline",
    "review": "an open review question is about it",
    "private": "stored metadata-only or anonymous (privacy level not full)",
    "deal": "on a deal",
    "ticket": "on a ticket",
}
DIRECTION_ALIASES = {"in": "inbound", "out": "outbound", "int": "internal"}
QUERY_KEYS = ("rep", "contact", "since", "until", "dir", "status")
_MAX_ID = 2**31 - 1


class EmailLogError(ValueError):
    """An email log operation that cannot be done; the message is shown to users."""


# -- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailFilter:
    """What to list. ``text`` is searched (case-insensitive, literally: ``%`` and ``_`` are
    not wildcards) in the subject and the author's address and name; ``rep`` is a user's
    address (the emails that user logged); ``since``/``until`` are UTC days, both included."""

    text: str = ""
    direction: str | None = None
    rep: str | None = None
    contact_id: int | None = None
    status: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def __post_init__(self) -> None:
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise EmailLogError(f"unknown direction {self.direction!r} ({', '.join(DIRECTIONS)})")
        if self.status is not None and self.status not in STATUSES:
            raise EmailLogError(f"unknown status {self.status!r} ({', '.join(STATUSES)})")

    @property
    def is_empty(self) -> bool:
        return self == EmailFilter()


def parse_query(query: str, **base: Any) -> EmailFilter:
    """A search box's text as a filter: ``key:value`` words for ``rep:ann@x.pl``,
    ``contact:12``, ``since:2026-11-01``, ``until:2026-11-30``, ``dir:in|out|internal``
    (or the full names) and ``status:<one of STATUSES>``; every other word is searched.
    ``base`` gives fields the words do not set (a direction chosen elsewhere)."""
    fields: dict[str, Any] = dict(base)
    words: list[str] = []
    for word in query.split():
        key, colon, value = word.partition(":")
        if not colon or key.lower() not in QUERY_KEYS or not value:
            words.append(word)
            continue
        fields.update(_query_field(key.lower(), value))
    fields["text"] = " ".join(words)
    return EmailFilter(**fields)


def _query_field(key: str, value: str) -> dict[str, Any]:
    if key == "rep":
        return {"rep": value}
    if key == "contact":
        return {"contact_id": _id(value, "contact:")}
    if key == "dir":
        return {"direction": DIRECTION_ALIASES.get(value.lower(), value.lower())}
    if key == "status":
        return {"status": value.lower()}
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise EmailLogError(f"{key}: expects a date, YYYY-MM-DD") from None
    return {key: day}


def _id(value: str, what: str) -> int:
    if not value.isdigit() or len(value) > 10 or int(value) > _MAX_ID:
        raise EmailLogError(f"{what} expects a number")
    return int(value)


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageCursor:
    """Where a page ended: the next page lists emails strictly older than this."""

    received_at: dt.datetime
    id: int


@dataclass(frozen=True)
class EmailRow:
    id: int
    received_at: dt.datetime
    direction: str
    from_name: str
    from_email: str
    subject: str  # at most SUBJECT_CHARS characters
    subject_length: int  # of the whole subject
    contacts: tuple[str, ...]  # up to ROW_CONTACTS names (an address when there is no name)
    more_contacts: int  # contacts beyond those
    deals: tuple[str, ...]
    tickets: tuple[str, ...]
    status: tuple[str, ...]  # every STATUSES key that applies, in STATUSES order


@dataclass(frozen=True)
class EmailPage:
    rows: tuple[EmailRow, ...]
    next_cursor: PageCursor | None  # None: this was the last page


@dataclass(frozen=True)
class ParticipantInfo:
    role: str  # from, to, cc
    name: str
    email: str
    contact_id: int | None
    outcome: str  # how matching decided (gateway.crm.linking.OUTCOMES), "" if it did not
    reason: str
    confidence: float | None


@dataclass(frozen=True)
class LoggerInfo:
    user_id: int
    name: str
    email: str  # the user's primary address
    logged_at: dt.datetime


@dataclass(frozen=True)
class AssociationInfo:
    id: int
    kind: str  # contact, company, deal, ticket
    target_id: int
    label: str
    reason: str
    confidence: float
    created_at: dt.datetime


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str  # "" when the privacy level keeps no names
    content_type: str
    size: int


@dataclass(frozen=True)
class RuleResult:
    """One privacy rule's verdict on the email, as recorded when it was logged."""

    rule: str
    hit: bool
    action: str


@dataclass(frozen=True)
class EmailDetail:
    id: int
    message_id: str
    subject: str
    direction: str
    sent_at: dt.datetime | None
    received_at: dt.datetime
    from_name: str
    from_email: str
    forwarded_by_name: str
    forwarded_by_email: str | None
    participants: tuple[ParticipantInfo, ...]
    loggers: tuple[LoggerInfo, ...]
    auth: dict[str, Any]  # the verification verdict (gateway.pipeline.verify)
    privacy_level: str
    privacy_rules: tuple[RuleResult, ...]
    redactions: dict[str, int]  # kind -> how many were redacted
    excluded: int  # participants the privacy rules left out
    marked_private_by: str  # "" unless an admin marked it private
    associations: tuple[AssociationInfo, ...]
    attachments: tuple[AttachmentInfo, ...]
    reply_text: str
    body_length: int  # characters of the stored body (the body itself is not loaded)
    size: int  # bytes as received
    language: str
    open_reviews: tuple[tuple[int, str], ...]  # (review item id, kind)
    status: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class MoveResult:
    email_id: int
    kind: str
    from_ids: tuple[int, ...]  # the links replaced (empty: the email had none of the kind)
    to_id: int


@dataclass(frozen=True)
class Target:
    """A record an email can be moved to, for a picker."""

    id: int
    label: str


# -- the service ------------------------------------------------------------------------------


class EmailLogService:
    def __init__(self, sessions: sessionmaker[Session], config: Config, actor: str = "cli") -> None:
        self.sessions = sessions
        self.config = config
        self.actor = actor

    # -- reading --------------------------------------------------------------------------------

    def page(
        self,
        filter: EmailFilter | None = None,
        after: PageCursor | None = None,
        limit: int = PAGE_SIZE,
    ) -> EmailPage:
        """Up to ``limit`` emails matching ``filter``, newest first, after ``after``."""
        if not 1 <= limit <= MAX_PAGE:
            raise EmailLogError(f"limit must be 1 to {MAX_PAGE}")
        with self.sessions() as session:
            query = _row_query().where(*_conditions(filter or EmailFilter(), _dialect(session)))
            if after is not None:
                # The first term lets the index range start at the cursor; the second breaks
                # ties between emails received at the same moment.
                query = query.where(
                    Email.received_at <= after.received_at,
                    or_(Email.received_at < after.received_at, Email.id < after.id),
                )
            query = query.order_by(Email.received_at.desc(), Email.id.desc()).limit(limit + 1)
            found = session.execute(query).tuples().all()
            rows = found[:limit]
            links = _Links.load(session, [row[0] for row in rows])
        result = tuple(_row(row, links) for row in rows)
        more = len(found) > limit
        cursor = PageCursor(result[-1].received_at, result[-1].id) if more else None
        return EmailPage(result, cursor)

    def count(self, filter: EmailFilter | None = None, cap: int = COUNT_CAP) -> int:
        """How many emails match: exact without a filter; with one, counting stops after
        ``cap`` + 1, so a result above ``cap`` means "more than ``cap``"."""
        with self.sessions() as session:
            conditions = _conditions(filter or EmailFilter(), _dialect(session))
            if not conditions:
                return int(session.scalar(select(func.count()).select_from(Email)) or 0)
            matching = select(Email.id).where(*conditions).limit(cap + 1).subquery()
            return int(session.scalar(select(func.count()).select_from(matching)) or 0)

    def row(self, email_id: int) -> EmailRow:
        """One email's list row (to show it again after an action changed it)."""
        with self.sessions() as session:
            found = session.execute(_row_query().where(Email.id == email_id)).tuples().first()
            if found is None:
                raise EmailLogError(f"no email {email_id}")
            return _row(found, _Links.load(session, [email_id]))

    def detail(self, email_id: int) -> EmailDetail:
        """Everything about one email but its body (whose length is given)."""
        with self.sessions() as session:
            email = session.scalar(
                select(Email)
                .where(Email.id == email_id)
                .options(
                    defer(Email.body_text),
                    defer(Email.normalized_subject),
                    selectinload(Email.participants),
                    selectinload(Email.attachments),
                )
            )
            if email is None:
                raise EmailLogError(f"no email {email_id}")
            body_length = session.scalar(
                select(func.length(Email.body_text)).where(Email.id == email_id)
            )
            links = _Links.load(session, [email_id])
            return _detail(
                email,
                body_length=int(body_length or 0),
                loggers=_loggers(session, email_id),
                associations=_associations(session, email_id),
                reviews=_open_reviews(session, email_id),
                status=links.status(email_id, email.privacy_level),
            )

    def targets(self, kind: str, query: str = "", limit: int = TARGET_LIMIT) -> list[Target]:
        """Contacts, deals or tickets whose name (a contact's address too; a ticket's subject)
        contains ``query``, or whose id it is; for choosing where to move an email."""
        if kind not in MOVE_KINDS:
            raise EmailLogError(f"cannot move an email to a {kind!r} ({', '.join(MOVE_KINDS)})")
        if not 1 <= limit <= MAX_PAGE:
            raise EmailLogError(f"limit must be 1 to {MAX_PAGE}")
        text = query.strip()
        with self.sessions() as session:
            if kind == "contact":
                return _contact_targets(session, text, limit)
            if kind == "deal":
                return _deal_targets(session, text, limit)
            return _ticket_targets(session, text, limit)

    # -- writing --------------------------------------------------------------------------------

    def move(self, email_id: int, kind: str, to_id: int, from_id: int | None = None) -> MoveResult:
        """Put the email on ``to_id`` instead of its ``kind`` link (the one to ``from_id``
        when given: an email is often on several contacts). The new link's reason is "moved by
        admin", confidence 1.0. Moving a contact link also moves the participant rows that
        were matched to the old contact, and the company link that came with it."""
        if kind not in MOVE_KINDS:
            raise EmailLogError(f"cannot move an email to a {kind!r} ({', '.join(MOVE_KINDS)})")
        with self.sessions.begin() as session:
            _lock_email(session, email_id)
            _check_target(session, kind, to_id)
            moving = _links_to_move(session, email_id, kind, to_id, from_id)
            from_ids = tuple(link.target_id for link in moving)
            for link in moving:
                session.delete(link)
            session.flush()
            _link(session, email_id, kind, to_id)
            if kind == "contact":
                _after_contact_move(session, email_id, from_ids, to_id)
            elif kind == "ticket":
                for contact_id in _contact_ids(session, email_id):
                    linking.add_ticket_contact(session, to_id, contact_id)
            repo.audit(
                session, self.actor, "email.moved", "email", email_id,
                kind=kind, from_ids=list(from_ids), to_id=to_id,
            )  # fmt: skip
        return MoveResult(email_id, kind, from_ids, to_id)

    def mark_private(self, email_id: int) -> None:
        """Keep only the email's metadata, as the ``metadata`` privacy level does when mail
        arrives (:func:`gateway.privacy.store.protect`): no body, no reply text, no
        attachment names; subject, people, dates and links stay. Who did it is recorded in
        ``privacy["marked_private"]``."""
        with self.sessions.begin() as session, secure_delete(session):
            email = session.get(
                Email, email_id, with_for_update=True, options=[selectinload(Email.attachments)]
            )
            if email is None:
                raise EmailLogError(f"no email {email_id}")
            if email.privacy_level != "full":
                raise EmailLogError(f"email {email_id} is already {email.privacy_level}-only")
            had_body, had_reply = bool(email.body_text), bool(email.reply_text)
            email.body_text = email.reply_text = ""
            for attachment in email.attachments:
                attachment.filename = ""
            email.privacy_level = "metadata"
            marked = {"by": self.actor, "at": utcnow().isoformat()}
            email.privacy = {**(email.privacy or {}), "level": "metadata", "marked_private": marked}
            repo.audit(
                session, self.actor, "email.marked_private", "email", email_id,
                level="metadata", body=had_body, reply=had_reply,
                attachments=len(email.attachments),
            )  # fmt: skip

    def delete(self, email_id: int) -> None:
        """Delete the email and what hangs off it (participants, loggers, attachment
        records, links, review items and legal-basis checks: ON DELETE CASCADE). Contacts,
        deals and tickets stay."""
        with self.sessions.begin() as session, secure_delete(session):
            _lock_email(session, email_id)
            counts = {
                "participants": _count(session, EmailParticipant, email_id),
                "associations": _count(session, EmailAssociation, email_id),
                "attachments": _count(session, EmailAttachment, email_id),
            }
            session.execute(
                delete(Email)
                .where(Email.id == email_id)
                .execution_options(synchronize_session=False)
            )
            repo.audit(session, self.actor, "email.deleted", "email", email_id, **counts)


# -- the list -------------------------------------------------------------------------------


def _row_query() -> Select[tuple[int, dt.datetime, str, str, str, str, int, str]]:
    return select(
        Email.id,
        Email.received_at,
        Email.direction,
        Email.from_name,
        Email.from_email,
        func.substr(Email.subject, 1, SUBJECT_CHARS).label("subject"),
        func.length(Email.subject).label("subject_length"),
        Email.privacy_level,
    )


def _row(row: tuple[int, dt.datetime, str, str, str, str, int, str], links: _Links) -> EmailRow:
    email_id, received_at, direction, from_name, from_email, subject, length, level = row
    contacts = links.contacts.get(email_id, [])
    return EmailRow(
        id=email_id,
        received_at=received_at,
        direction=direction,
        from_name=from_name,
        from_email=from_email,
        subject=subject or "",
        subject_length=int(length or 0),
        contacts=tuple(contacts[:ROW_CONTACTS]),
        more_contacts=max(0, len(contacts) - ROW_CONTACTS),
        deals=tuple(links.deals.get(email_id, [])),
        tickets=tuple(links.tickets.get(email_id, [])),
        status=links.status(email_id, level),
    )


def _conditions(f: EmailFilter, dialect: str) -> list[ColumnElement[bool]]:
    """``f`` as WHERE terms. Chosen by measurement on 100,000 emails (bench/email_log.py):
    a contact has few emails, so its links drive (``IN``, by ``contact_id``'s index) and
    the few rows are sorted; a rep logs a large share, so the newest-first index is walked
    and each email checked (``EXISTS`` on the loggers' primary key) until the page is full."""
    found: list[ColumnElement[bool]] = []
    if f.text:
        found.append(or_(*(_contains(c, f.text, dialect) for c in _SEARCHED)))
    if f.direction is not None:
        found.append(Email.direction == f.direction)
    if f.rep is not None:
        address = normalize_address(f.rep) or f.rep.strip().lower()
        users = select(UserAddress.user_id).where(UserAddress.email == address)
        found.append(
            exists().where(EmailLogger.email_id == Email.id, EmailLogger.user_id.in_(users))
        )
    if f.contact_id is not None:
        found.append(
            Email.id.in_(
                select(EmailAssociation.email_id).where(EmailAssociation.contact_id == f.contact_id)
            )
        )
    if f.status is not None:
        found.append(_status_condition(f.status))
    if f.since is not None:
        found.append(Email.received_at >= _midnight(f.since))
    if f.until is not None:
        found.append(Email.received_at < _midnight(f.until + dt.timedelta(days=1)))
    return found


_SEARCHED = (Email.subject, Email.from_email, Email.from_name)


def _contains(column: QueryableAttribute[str], text: str, dialect: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, case-insensitively, ``%`` and ``_`` taken literally.

    PostgreSQL: ``ILIKE``. SQLite's LIKE ignores the case of ASCII letters only (as its
    ``lower()`` does, so ``ILIKE``, which becomes ``lower(x) LIKE lower(y)`` there, would only
    double the cost); text with other letters is also tried lower-case, upper-case and
    capitalised, so "ślusarczyk" finds "Ślusarczyk" and "ŚLUSARCZYK" (not "śLUSARczyk")."""
    if dialect != "sqlite":
        return column.icontains(text, autoescape=True)
    forms = [text] if text.isascii() else list(dict.fromkeys(_case_forms(text)))
    return or_(*(column.contains(form, autoescape=True) for form in forms))


def _case_forms(text: str) -> Iterator[str]:
    yield text
    yield text.lower()
    yield text.upper()
    yield " ".join(word[:1].upper() + word[1:].lower() for word in text.split(" "))


def _status_condition(status: str) -> ColumnElement[bool]:
    if status == "private":
        return Email.privacy_level != "full"
    if status == "review":
        # IN, not a correlated EXISTS: review_items has no index on email_id, and the open
        # items are few; the database reads them once.
        return Email.id.in_(
            select(ReviewItem.email_id).where(
                ReviewItem.status == "open", ReviewItem.email_id.is_not(None)
            )
        )
    kind = {"linked": "contact", "unlinked": "contact"}.get(status, status)
    on = exists().where(EmailAssociation.email_id == Email.id, EmailAssociation.kind == kind)
    return ~on if status == "unlinked" else on


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass
class _Links:
    """What a set of emails is linked to, for their rows: one query per kind of record."""

    contacts: dict[int, list[str]] = field(default_factory=dict)
    deals: dict[int, list[str]] = field(default_factory=dict)
    tickets: dict[int, list[str]] = field(default_factory=dict)
    reviewed: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, email_ids: Sequence[int]) -> _Links:
        links = cls()
        if not email_ids:
            return links
        ids = list(email_ids)
        contacts = session.execute(
            select(EmailAssociation.email_id, Contact.first_name, Contact.last_name, Contact.id)
            .join(Contact, Contact.id == EmailAssociation.contact_id)
            .where(EmailAssociation.email_id.in_(ids), EmailAssociation.kind == "contact")
            .order_by(EmailAssociation.id)
        ).tuples()
        for email_id, first, last, contact_id in contacts:
            name = " ".join(part for part in (first, last) if part) or f"contact {contact_id}"
            links.contacts.setdefault(email_id, []).append(name)
        deals = session.execute(
            select(EmailAssociation.email_id, Deal.name)
            .join(Deal, Deal.id == EmailAssociation.deal_id)
            .where(EmailAssociation.email_id.in_(ids), EmailAssociation.kind == "deal")
            .order_by(EmailAssociation.id)
        ).tuples()
        for email_id, name in deals:
            links.deals.setdefault(email_id, []).append(name)
        tickets = session.execute(
            select(EmailAssociation.email_id, Ticket.id, func.substr(Ticket.subject, 1, 200))
            .join(Ticket, Ticket.id == EmailAssociation.ticket_id)
            .where(EmailAssociation.email_id.in_(ids), EmailAssociation.kind == "ticket")
            .order_by(EmailAssociation.id)
        ).tuples()
        for email_id, ticket_id, subject in tickets:
            links.tickets.setdefault(email_id, []).append(f"#{ticket_id} {subject or ''}".strip())
        links.reviewed = set(
            session.scalars(
                select(ReviewItem.email_id).where(
                    ReviewItem.email_id.in_(ids), ReviewItem.status == "open"
                )
            )
        )
        return links

    def status(self, email_id: int, privacy_level: str) -> tuple[str, ...]:
        flags = {
            "linked": email_id in self.contacts,
            "unlinked": email_id not in self.contacts,
            "review": email_id in self.reviewed,
            "private": privacy_level != "full",
            "deal": email_id in self.deals,
            "ticket": email_id in self.tickets,
        }
        return tuple(name for name in STATUSES if flags[name])


# -- the detail -----------------------------------------------------------------------------


def _detail(
    email: Email,
    *,
    body_length: int,
    loggers: tuple[LoggerInfo, ...],
    associations: tuple[AssociationInfo, ...],
    reviews: tuple[tuple[int, str], ...],
    status: tuple[str, ...],
) -> EmailDetail:
    privacy = email.privacy if isinstance(email.privacy, dict) else {}
    marked = privacy.get("marked_private")
    return EmailDetail(
        id=email.id,
        message_id=email.message_id,
        subject=email.subject,
        direction=email.direction,
        sent_at=email.sent_at,
        received_at=email.received_at,
        from_name=email.from_name,
        from_email=email.from_email,
        forwarded_by_name=email.forwarded_by_name,
        forwarded_by_email=email.forwarded_by_email,
        participants=tuple(
            ParticipantInfo(
                p.role, p.name, p.email, p.contact_id, p.outcome, p.reason, p.confidence
            )
            for p in email.participants
        ),
        loggers=loggers,
        auth=dict(email.auth or {}),
        privacy_level=email.privacy_level,
        privacy_rules=_rules(privacy.get("rules")),
        redactions=_counts(privacy.get("redactions")),
        excluded=_int(privacy.get("excluded")),
        marked_private_by=str(marked.get("by", "")) if isinstance(marked, dict) else "",
        associations=associations,
        attachments=tuple(
            AttachmentInfo(a.filename, a.content_type, a.size) for a in email.attachments
        ),
        reply_text=email.reply_text,
        body_length=body_length,
        size=email.size,
        language=email.language,
        open_reviews=reviews,
        status=status,
    )


def _rules(value: object) -> tuple[RuleResult, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        RuleResult(str(r.get("rule", "")), bool(r.get("hit")), str(r.get("action") or ""))
        for r in value
        if isinstance(r, dict)
    )


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(kind): _int(count) for kind, count in value.items()}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _loggers(session: Session, email_id: int) -> tuple[LoggerInfo, ...]:
    primary = (
        select(UserAddress.email)
        .where(UserAddress.user_id == User.id)
        .order_by(UserAddress.is_primary.desc(), UserAddress.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(User.id, User.name, primary, EmailLogger.logged_at)
        .join(User, User.id == EmailLogger.user_id)
        .where(EmailLogger.email_id == email_id)
        .order_by(EmailLogger.logged_at, User.id)
    ).tuples()
    return tuple(LoggerInfo(uid, name, address or "", at) for uid, name, address, at in rows)


def _associations(session: Session, email_id: int) -> tuple[AssociationInfo, ...]:
    links = list(
        session.scalars(
            select(EmailAssociation)
            .where(EmailAssociation.email_id == email_id)
            .order_by(EmailAssociation.id)
        )
    )
    labels = _labels(session, [(link.kind, link.target_id) for link in links])
    return tuple(
        AssociationInfo(
            id=link.id,
            kind=link.kind,
            target_id=link.target_id,
            label=labels.get((link.kind, link.target_id), ""),
            reason=link.reason,
            confidence=link.confidence,
            created_at=link.created_at,
        )
        for link in links
    )


def _labels(session: Session, targets: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """A short name for each (kind, id): a contact's name or address, a company's or deal's
    name, a ticket's number and subject."""
    wanted: dict[str, list[int]] = {}
    for kind, target_id in targets:
        wanted.setdefault(kind, []).append(target_id)
    labels: dict[tuple[str, int], str] = {}
    if ids := wanted.get("contact"):
        for target in _contact_targets(session, "", len(ids), ids=ids, any_status=True):
            labels["contact", target.id] = target.label
    if ids := wanted.get("company"):
        for company_id, name in session.execute(
            select(Company.id, Company.name).where(Company.id.in_(ids))
        ).tuples():
            labels["company", company_id] = name
    if ids := wanted.get("deal"):
        for target in _deal_targets(session, "", len(ids), ids=ids):
            labels["deal", target.id] = target.label
    if ids := wanted.get("ticket"):
        for target in _ticket_targets(session, "", len(ids), ids=ids):
            labels["ticket", target.id] = target.label
    return labels


def _open_reviews(session: Session, email_id: int) -> tuple[tuple[int, str], ...]:
    rows = session.execute(
        select(ReviewItem.id, ReviewItem.kind)
        .where(ReviewItem.email_id == email_id, ReviewItem.status == "open")
        .order_by(ReviewItem.id)
    ).tuples()
    return tuple((item_id, kind) for item_id, kind in rows)


# -- targets --------------------------------------------------------------------------------


def _matching_id(text: str) -> int | None:
    digits = text.removeprefix("#")
    if digits.isdigit() and len(digits) <= 10 and int(digits) <= _MAX_ID:
        return int(digits)
    return None


def _contact_targets(
    session: Session,
    text: str,
    limit: int,
    ids: Sequence[int] | None = None,
    any_status: bool = False,
) -> list[Target]:
    primary = (
        select(ContactEmail.email)
        .where(ContactEmail.contact_id == Contact.id)
        .order_by(ContactEmail.is_primary.desc(), ContactEmail.id)
        .limit(1)
        .scalar_subquery()
    )
    query = select(Contact.id, Contact.first_name, Contact.last_name, Contact.status, primary)
    if ids is not None:
        query = query.where(Contact.id.in_(ids))
    if not any_status:
        query = query.where(Contact.status.in_(("active", "suggested")))
    if text:
        matches = [
            (Contact.first_name + " " + Contact.last_name).icontains(text, autoescape=True),
            exists().where(
                ContactEmail.contact_id == Contact.id,
                ContactEmail.email.icontains(text, autoescape=True),
            ),
        ]
        if (number := _matching_id(text)) is not None:
            matches.append(Contact.id == number)
        query = query.where(or_(*matches))
    query = query.order_by(Contact.last_name, Contact.first_name, Contact.id).limit(limit)
    found = []
    for contact_id, first, last, status, address in session.execute(query).tuples():
        name = " ".join(part for part in (first, last) if part)
        label = f"{name} <{address}>" if name and address else name or address or ""
        if status != "active":
            label = f"{label} ({status})".strip()
        found.append(Target(contact_id, label or f"contact {contact_id}"))
    return found


def _deal_targets(
    session: Session, text: str, limit: int, ids: Sequence[int] | None = None
) -> list[Target]:
    query = select(Deal.id, Deal.name, Deal.stage, Deal.status)
    if ids is not None:
        query = query.where(Deal.id.in_(ids))
    if text:
        matches = [Deal.name.icontains(text, autoescape=True)]
        if (number := _matching_id(text)) is not None:
            matches.append(Deal.id == number)
        query = query.where(or_(*matches))
    query = query.order_by(Deal.updated_at.desc(), Deal.id.desc()).limit(limit)
    found = []
    for deal_id, name, stage, status in session.execute(query).tuples():
        details = ", ".join(part for part in (stage, status) if part)
        found.append(Target(deal_id, f"{name} ({details})" if details else name))
    return found


def _ticket_targets(
    session: Session, text: str, limit: int, ids: Sequence[int] | None = None
) -> list[Target]:
    query = select(Ticket.id, func.substr(Ticket.subject, 1, 200), Ticket.status)
    if ids is not None:
        query = query.where(Ticket.id.in_(ids))
    if text:
        matches = [Ticket.subject.icontains(text, autoescape=True)]
        if (number := _matching_id(text)) is not None:
            matches.append(Ticket.id == number)
        query = query.where(or_(*matches))
    query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)
    return [
        Target(ticket_id, f"#{ticket_id} {subject or ''} ({status})".replace("  ", " "))
        for ticket_id, subject, status in session.execute(query).tuples()
    ]


# -- moving ---------------------------------------------------------------------------------

_TARGET_MODELS: dict[str, type[Contact] | type[Deal] | type[Ticket]] = {
    "contact": Contact,
    "deal": Deal,
    "ticket": Ticket,
}


def _lock_email(session: Session, email_id: int) -> None:
    """The email exists; on PostgreSQL its row is locked for the transaction (SQLite's
    BEGIN IMMEDIATE has locked the database already)."""
    found = session.scalar(select(Email.id).where(Email.id == email_id).with_for_update())
    if found is None:
        raise EmailLogError(f"no email {email_id}")


def _check_target(session: Session, kind: str, target_id: int) -> None:
    target = session.get(_TARGET_MODELS[kind], target_id)
    if target is None:
        raise EmailLogError(f"no {kind} {target_id}")
    if isinstance(target, Contact) and target.status == "merged":
        raise EmailLogError(
            f"contact {target_id} was merged into contact {target.merged_into_id}: move to that"
        )
    if isinstance(target, Contact) and target.status == "erased":
        raise EmailLogError(f"contact {target_id} was erased")


def _links_to_move(
    session: Session, email_id: int, kind: str, to_id: int, from_id: int | None
) -> list[EmailAssociation]:
    current = list(
        session.scalars(
            select(EmailAssociation)
            .where(EmailAssociation.email_id == email_id, EmailAssociation.kind == kind)
            .order_by(EmailAssociation.id)
        )
    )
    if from_id is not None:
        if from_id == to_id:
            raise EmailLogError(f"moving from {kind} {from_id} to itself")
        moving = [link for link in current if link.target_id == from_id]
        if not moving:
            raise EmailLogError(f"email {email_id} is not on {kind} {from_id}")
        return moving
    others = [link for link in current if link.target_id != to_id]
    if len(others) > 1:
        ids = ", ".join(str(link.target_id) for link in others)
        raise EmailLogError(
            f"email {email_id} is on {len(others)} {kind}s ({ids}): say which one to move"
        )
    if not others and len(current) > len(others):
        raise EmailLogError(f"email {email_id} is already on {kind} {to_id}")
    return others


def _link(session: Session, email_id: int, kind: str, to_id: int) -> None:
    """The admin's link: a new one, or an existing link to ``to_id`` that now says why."""
    if not linking.associate(session, email_id, kind, to_id, reason=MOVED_REASON, confidence=1.0):
        column = getattr(EmailAssociation, f"{kind}_id")
        session.execute(
            update(EmailAssociation)
            .where(EmailAssociation.email_id == email_id, column == to_id)
            .values(reason=MOVED_REASON, confidence=1.0)
            .execution_options(synchronize_session=False)
        )


def _after_contact_move(
    session: Session, email_id: int, from_ids: tuple[int, ...], to_id: int
) -> None:
    """The participants matched to the old contacts are the new one's now; the company link
    that came with an old contact goes unless another contact of the email brings it, and
    the new contact's company comes."""
    if from_ids:
        session.execute(
            update(EmailParticipant)
            .where(EmailParticipant.email_id == email_id, EmailParticipant.contact_id.in_(from_ids))
            .values(contact_id=to_id, outcome=linking.REVIEWED, reason=MOVED_REASON, confidence=1.0)
            .execution_options(synchronize_session=False)
        )
    kept = _companies(session, _contact_ids(session, email_id))
    dropped = _companies(session, from_ids)
    if dropped - kept:
        session.execute(
            delete(EmailAssociation)
            .where(
                EmailAssociation.email_id == email_id,
                EmailAssociation.company_id.in_(dropped - kept),
                EmailAssociation.reason == COMPANY_REASON,
            )
            .execution_options(synchronize_session=False)
        )
    for company_id in kept:
        linking.associate(
            session, email_id, "company", company_id, reason=COMPANY_REASON, confidence=1.0
        )


def _companies(session: Session, contact_ids: Iterable[int]) -> set[int]:
    query = select(Contact.company_id).where(Contact.id.in_(list(contact_ids)))
    return {company_id for company_id in session.scalars(query) if company_id is not None}


def _contact_ids(session: Session, email_id: int) -> list[int]:
    return [
        contact_id
        for contact_id in session.scalars(
            select(EmailAssociation.contact_id)
            .where(EmailAssociation.email_id == email_id, EmailAssociation.kind == "contact")
            .order_by(EmailAssociation.id)
        )
        if contact_id is not None
    ]


def _count(
    session: Session,
    model: type[EmailParticipant] | type[EmailAssociation] | type[EmailAttachment],
    email_id: int,
) -> int:
    query = select(func.count()).select_from(model).where(model.email_id == email_id)
    return int(session.scalar(query) or 0)
