"""Legal basis, consent and Art. 14 notices: the checks bccrm opened for outbound mail
(:mod:`gateway.privacy.legal`) and resolving them; a contact's basis, subscription and
objection; the information notices due to people bccrm created from mail.

Every change runs in one transaction and writes an audit entry whose details hold ids and
basis names, never addresses or the explanations people typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.crm import Contact, Email, LegalBasisCheck, repo, utcnow
from gateway.crm.privacy import LEGAL_BASES
from gateway.privacy.legal import NO_CONFIRMED_BASIS

CHECK_STATUSES = ("open", "resolved")
LIST_STATUSES = (*CHECK_STATUSES, "all")
ACTIONS = ("one-time", "set-basis", "acknowledge")
SOURCE_SIZE = 100  # Contact.legal_basis_source
GONE = ("merged", "erased")


class LegalBasisError(ValueError):
    """A legal-basis operation that cannot be done; the message is shown to users."""


@dataclass(frozen=True)
class CheckInfo:
    id: int
    email_id: int
    contact_id: int
    contact_name: str
    email_subject: str
    email_sent_at: datetime | None
    reason: str  # no_confirmed_basis | unsubscribed
    status: str  # open | resolved
    action: str  # "" while open; one-time | set-basis | acknowledge
    basis: str  # set-basis: the basis set; else ""
    note: str  # one-time: the explanation; acknowledge: the note
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str
    # resolve(): the other open checks the same decision resolved (set-basis); else ().
    also_resolved: tuple[int, ...] = ()


@dataclass(frozen=True)
class CheckDetail:
    """A check with what a person needs to decide it: who sent the email, and the contact's
    address, basis and subscription as they are now (not as they were when it was opened)."""

    check: CheckInfo
    email_from: str
    email_from_name: str
    email_direction: str
    contact_email: str  # the primary address; "" when the contact has none
    legal_basis: str | None
    legal_basis_status: str  # "" | proposed | confirmed
    subscription: str  # subscribed | unsubscribed
    unsubscribed_at: datetime | None


@dataclass(frozen=True)
class NoticeInfo:
    contact_id: int
    name: str
    email: str  # the primary address; "" when the contact has none
    legal_basis: str | None
    notice_due_at: datetime
    overdue: bool  # due and not done
    notice_done_at: datetime | None = None


@dataclass(frozen=True)
class ContactConsent:
    """A contact's legal basis, subscription and objection, as changed."""

    contact_id: int
    name: str
    email: str
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
    open_checks: int  # open legal-basis checks of the contact
    changed: bool = True  # False: it already was so


class LegalBasisService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: Config,
        actor: str = "cli",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.actor = actor[:320]
        self.clock = clock

    # -- checks ---------------------------------------------------------------------------------

    def list_checks(self, status: str = "open", limit: int = 500) -> list[CheckInfo]:
        """Checks with ``status`` (``all``: any), oldest first."""
        query = _listing(_check_query(), status, limit)
        with self.sessions() as session:
            return [_check_info(*row) for row in session.execute(query).tuples()]

    def check_details(self, status: str = "open", limit: int = 500) -> list[CheckDetail]:
        """Like :meth:`list_checks`, each check with its email's sender and its contact's
        current address, basis and subscription (what the admin screen shows), in one query."""
        query = (
            _check_query()
            .add_columns(Email.from_email, Email.from_name, Email.direction, Contact)
            .options(selectinload(Contact.emails))
        )
        query = _listing(query, status, limit)
        with self.sessions() as session:
            return [_check_detail(row) for row in session.execute(query).tuples()]

    def show(self, check_id: int) -> CheckInfo:
        with self.sessions() as session:
            return self._info(session, check_id)

    def resolve(
        self,
        check_id: int,
        action: str,
        *,
        explanation: str = "",
        basis: str = "",
        note: str = "",
    ) -> CheckInfo:
        """Decide an open check.

        ``one-time``: ``explanation`` (why this email had a basis) is kept on the email and
        the check. ``set-basis``: ``basis`` becomes the contact's confirmed basis and every
        other open ``no_confirmed_basis`` check of the contact is resolved with it (optional
        ``note``). ``acknowledge``: ``note`` is kept; nothing else changes.
        """
        explanation, basis, note = explanation.strip(), basis.strip(), note.strip()
        _check_arguments(action, explanation=explanation, basis=basis, note=note)
        with self.sessions.begin() as session:
            check = session.scalar(
                select(LegalBasisCheck).where(LegalBasisCheck.id == check_id).with_for_update()
            )
            if check is None:
                raise LegalBasisError(f"no legal-basis check {check_id}")
            if check.status != "open":
                raise LegalBasisError(
                    f"legal-basis check {check_id} is already resolved ({check.action})"
                )
            now = self.clock()
            also: list[LegalBasisCheck] = []
            if action == "one-time":
                email = session.get_one(Email, check.email_id)
                email.one_time_basis = _add_line(email.one_time_basis, explanation)
                note = explanation
            elif action == "set-basis":
                contact = self._contact(session, check.contact_id)
                previous = contact.legal_basis
                self._confirm(contact, basis, f"legal-basis check {check.id}", now)
                also = list(
                    session.scalars(
                        select(LegalBasisCheck)
                        .where(
                            LegalBasisCheck.contact_id == contact.id,
                            LegalBasisCheck.status == "open",
                            LegalBasisCheck.reason == NO_CONFIRMED_BASIS,
                            LegalBasisCheck.id != check.id,
                        )
                        .order_by(LegalBasisCheck.id)
                        .with_for_update()
                    )
                )
                repo.audit(
                    session, self.actor, "contact.legal_basis", "contact", contact.id,
                    basis=basis, previous=previous, check=check.id,
                )  # fmt: skip
            self._close(check, action, basis if action == "set-basis" else "", note, now)
            details: dict[str, Any] = {
                "email": check.email_id,
                "contact": check.contact_id,
                "resolution": action,
            }
            if action == "set-basis":
                details["basis"] = basis
                details["also_resolved"] = [other.id for other in also]
            repo.audit(
                session, self.actor, "legal_basis.resolved", "legal_basis_check", check.id,
                **details,
            )  # fmt: skip
            for other in also:
                self._close(other, action, basis, f"basis set by legal-basis check {check.id}", now)
                repo.audit(
                    session, self.actor, "legal_basis.resolved", "legal_basis_check", other.id,
                    email=other.email_id, contact=other.contact_id, resolution=action, basis=basis,
                    via=check.id,
                )  # fmt: skip
            session.flush()
            info = self._info(session, check.id)
            return replace(info, also_resolved=tuple(other.id for other in also))

    def _close(
        self, check: LegalBasisCheck, action: str, basis: str, note: str, now: datetime
    ) -> None:
        check.status = "resolved"
        check.action = action
        check.basis = basis
        check.note = note
        check.resolved_at = now
        check.resolved_by = self.actor

    def _info(self, session: Session, check_id: int) -> CheckInfo:
        row = session.execute(_check_query().where(LegalBasisCheck.id == check_id)).tuples().first()
        if row is None:
            raise LegalBasisError(f"no legal-basis check {check_id}")
        return _check_info(*row)

    # -- a contact's basis, subscription, objection ---------------------------------------------

    def contact_id_for(self, ref: str) -> int:
        """The contact ``ref`` names: an id (digits) or one of its addresses."""
        text = ref.strip()
        if text.isascii() and text.isdigit():
            return int(text)
        address = normalize_address(text)
        if address is None:
            raise LegalBasisError(f"not a contact id or an email address: {ref!r}")
        with self.sessions() as session:
            contact_id = repo.contact_id_by_email(session, address)
        if contact_id is None:
            raise LegalBasisError(f"no contact has the address {address}")
        return contact_id

    def set_basis(self, contact_id: int, basis: str, source: str = "manual") -> ContactConsent:
        """Confirm ``basis`` as the contact's legal basis, given by the actor from ``source``.
        Open checks stay open: each is about an email already sent."""
        basis = basis.strip()
        _check_basis(basis)
        source = source.strip() or "manual"
        with self.sessions.begin() as session:
            contact = self._contact(session, contact_id, lock=True)
            previous = contact.legal_basis
            self._confirm(contact, basis, source[:SOURCE_SIZE], self.clock())
            repo.audit(
                session, self.actor, "contact.legal_basis", "contact", contact.id,
                basis=basis, previous=previous,
            )  # fmt: skip
            return _consent(session, contact)

    def set_subscription(self, contact_id: int, subscribed: bool) -> ContactConsent:
        """Subscribe or unsubscribe the contact from marketing mail (``unsubscribed_at`` is
        when they left; kept while they stay unsubscribed)."""
        wanted = "subscribed" if subscribed else "unsubscribed"
        with self.sessions.begin() as session:
            contact = self._contact(session, contact_id, lock=True)
            if contact.subscription == wanted:
                return _consent(session, contact, changed=False)
            contact.subscription = wanted
            contact.unsubscribed_at = None if subscribed else self.clock()
            contact.updated_at = self.clock()
            repo.audit(
                session, self.actor, "contact.subscription", "contact", contact.id,
                subscription=wanted,
            )  # fmt: skip
            return _consent(session, contact)

    def set_objection(self, contact_id: int, objecting: bool) -> ContactConsent:
        """Record the contact's Art. 21 objection to processing, or its withdrawal."""
        with self.sessions.begin() as session:
            contact = self._contact(session, contact_id, lock=True)
            if contact.objecting == objecting:
                return _consent(session, contact, changed=False)
            contact.objecting = objecting
            contact.updated_at = self.clock()
            repo.audit(
                session, self.actor, "contact.objection", "contact", contact.id,
                objecting=objecting,
            )  # fmt: skip
            return _consent(session, contact)

    def consent(self, contact_id: int) -> ContactConsent:
        with self.sessions() as session:
            return _consent(session, self._contact(session, contact_id))

    def _confirm(self, contact: Contact, basis: str, source: str, now: datetime) -> None:
        contact.legal_basis = basis
        contact.legal_basis_status = "confirmed"
        contact.legal_basis_source = source
        contact.legal_basis_at = now
        contact.legal_basis_by = self.actor
        contact.updated_at = now

    @staticmethod
    def _contact(session: Session, contact_id: int, lock: bool = False) -> Contact:
        query = select(Contact).where(Contact.id == contact_id)
        contact = session.scalar(query.with_for_update() if lock else query)
        if contact is None:
            raise LegalBasisError(f"no contact {contact_id}")
        if contact.status == "merged":
            raise LegalBasisError(
                f"contact {contact_id} was merged into contact {contact.merged_into_id}; use that"
            )
        if contact.status == "erased":
            raise LegalBasisError(f"contact {contact_id} was erased")
        return contact

    # -- Art. 14 notices ------------------------------------------------------------------------

    def notices(self, include_done: bool = False, limit: int = 500) -> list[NoticeInfo]:
        """Contacts with an information notice due and not done (``include_done``: done ones
        too), soonest first. Merged and erased contacts are left out."""
        if limit < 1:
            raise LegalBasisError("limit must be at least 1")
        query = (
            select(Contact)
            .where(Contact.notice_due_at.is_not(None), Contact.status.not_in(GONE))
            .options(selectinload(Contact.emails))
            .order_by(Contact.notice_due_at, Contact.id)
            .limit(limit)
        )
        if not include_done:
            query = query.where(Contact.notice_done_at.is_(None))
        now = self.clock()
        with self.sessions() as session:
            return [_notice(contact, now) for contact in session.scalars(query)]

    def mark_notice_done(self, contact_id: int) -> NoticeInfo:
        """Record that the contact was given their Art. 14 information notice."""
        with self.sessions.begin() as session:
            contact = self._contact(session, contact_id, lock=True)
            if contact.notice_due_at is None:
                raise LegalBasisError(f"contact {contact.id} has no information notice due")
            if contact.notice_done_at is not None:
                raise LegalBasisError(
                    f"the notice to contact {contact.id} is already done "
                    f"({contact.notice_done_at:%Y-%m-%d %H:%M} UTC)"
                )
            now = self.clock()
            contact.notice_done_at = now
            contact.updated_at = now
            repo.audit(session, self.actor, "contact.notice_done", "contact", contact.id)
            return _notice(contact, now)


# -- helpers --------------------------------------------------------------------------------------


def _check_arguments(action: str, *, explanation: str, basis: str, note: str) -> None:
    """Each action takes its own argument, and only the ones that apply to it."""
    if action not in ACTIONS:
        raise LegalBasisError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    given = {"explanation": explanation, "basis": basis, "note": note}
    allowed = {
        "one-time": ("explanation",),
        "set-basis": ("basis", "note"),
        "acknowledge": ("note",),
    }[action]
    for name, value in given.items():
        if value and name not in allowed:
            raise LegalBasisError(f"{action} takes no {name}")
    if action == "one-time" and not explanation:
        raise LegalBasisError("one-time needs an explanation: why this email had a legal basis")
    if action == "set-basis":
        _check_basis(basis)
    if action == "acknowledge" and not note:
        raise LegalBasisError("acknowledge needs a note")


def _check_basis(basis: str) -> None:
    if basis not in LEGAL_BASES:
        shown = repr(basis) if basis else "none given"
        raise LegalBasisError(f"unknown legal basis {shown} (one of {', '.join(LEGAL_BASES)})")


def _add_line(existing: str, line: str) -> str:
    """``existing`` with ``line`` added, unless it is there (several checks of one email)."""
    if not existing:
        return line
    if line in existing.split("\n"):
        return existing
    return f"{existing}\n{line}"


def _check_query() -> Select[tuple[LegalBasisCheck, str, datetime | None, str, str]]:
    return (
        select(LegalBasisCheck, Email.subject, Email.sent_at, Contact.first_name, Contact.last_name)
        .join(Email, Email.id == LegalBasisCheck.email_id)
        .join(Contact, Contact.id == LegalBasisCheck.contact_id)
    )


Q = TypeVar("Q", bound=Select[Any])


def _listing(query: Q, status: str, limit: int) -> Q:
    """``query`` narrowed to checks with ``status`` (``all``: any), oldest first, at most
    ``limit``."""
    if status not in LIST_STATUSES:
        raise LegalBasisError(f"unknown status {status!r} (one of {', '.join(LIST_STATUSES)})")
    if limit < 1:
        raise LegalBasisError("limit must be at least 1")
    if status != "all":
        query = query.where(LegalBasisCheck.status == status)
    return query.order_by(LegalBasisCheck.created_at, LegalBasisCheck.id).limit(limit)


def _check_info(
    check: LegalBasisCheck, subject: str, sent_at: datetime | None, first: str, last: str
) -> CheckInfo:
    return CheckInfo(
        id=check.id,
        email_id=check.email_id,
        contact_id=check.contact_id,
        contact_name=" ".join(part for part in (first, last) if part),
        email_subject=subject,
        email_sent_at=sent_at,
        reason=check.reason,
        status=check.status,
        action=check.action,
        basis=check.basis,
        note=check.note,
        created_at=check.created_at,
        resolved_at=check.resolved_at,
        resolved_by=check.resolved_by,
    )


DetailRow = tuple[LegalBasisCheck, str, datetime | None, str, str, str, str, str, Contact]


def _check_detail(row: DetailRow) -> CheckDetail:
    check, subject, sent_at, first, last, from_email, from_name, direction, contact = row
    return CheckDetail(
        check=_check_info(check, subject, sent_at, first, last),
        email_from=from_email,
        email_from_name=from_name,
        email_direction=direction,
        contact_email=_primary_email(contact),
        legal_basis=contact.legal_basis,
        legal_basis_status=contact.legal_basis_status,
        subscription=contact.subscription,
        unsubscribed_at=contact.unsubscribed_at,
    )


def _primary_email(contact: Contact) -> str:
    for address in contact.emails:
        if address.is_primary:
            return address.email
    return contact.emails[0].email if contact.emails else ""


def _notice(contact: Contact, now: datetime) -> NoticeInfo:
    due = contact.notice_due_at
    assert due is not None
    return NoticeInfo(
        contact_id=contact.id,
        name=contact.name,
        email=_primary_email(contact),
        legal_basis=contact.legal_basis,
        notice_due_at=due,
        overdue=contact.notice_done_at is None and due <= now,
        notice_done_at=contact.notice_done_at,
    )


def _consent(session: Session, contact: Contact, changed: bool = True) -> ContactConsent:
    session.flush()
    open_checks = session.scalar(
        select(func.count())
        .select_from(LegalBasisCheck)
        .where(LegalBasisCheck.contact_id == contact.id, LegalBasisCheck.status == "open")
    )
    return ContactConsent(
        contact_id=contact.id,
        name=contact.name,
        email=_primary_email(contact),
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
        open_checks=int(open_checks or 0),
        changed=changed,
    )


__all__ = [
    "ACTIONS",
    "CHECK_STATUSES",
    "LIST_STATUSES",
    "CheckDetail",
    "CheckInfo",
    "ContactConsent",
    "LegalBasisError",
    "LegalBasisService",
    "NoticeInfo",
]
