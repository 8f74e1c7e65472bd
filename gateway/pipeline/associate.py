"""The associate stage: which tickets and deals an email belongs to.

Tickets: a ``[#T-<id>]`` tag or ``log+ticket-<id>@`` → that ticket; a reply in a thread whose
earlier email is on a ticket → the same ticket; a new thread arriving through a team inbox in
``tickets`` mode → a new ticket. Email on a ticket is transactional.

Deals, first rule that applies wins and is recorded as the reason: a deal token
(``log+deal-<id>@``, ``[deal-<id>]``); the thread's earlier emails' deals; the contacts' open
deals (one → that deal, several → a "which deal?" question, newest first); the company's
single open deal. Runs for another copy of a logged email too, so a copy that arrives through
a team inbox or with a deal token adds its links to the one email. Last, outbound mail to
contacts without a confirmed legal basis (or unsubscribed, unless on a ticket) opens
legal-basis checks when ``[privacy] require_legal_basis`` is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Integer, Row, bindparam, event, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.config_trust import TeamInbox
from gateway.crm import (
    Company,
    Contact,
    Deal,
    DealContact,
    Email,
    EmailAssociation,
    Ticket,
    linking,
    questions,
    repo,
    txcache,
    utcnow,
)
from gateway.events import email_links, emit_email_logged
from gateway.parsing.classify import normalized_subject
from gateway.pipeline.context import MessageContext
from gateway.privacy.legal import open_checks

MAX_THREAD_IDS = 50
MAX_DEAL_CHOICES = 10

# Built once (every message with contacts runs it): the open deals of contacts and those of
# companies, each half read by index, with the contact or the company a row is for.
_DEAL = (Deal.id, Deal.name, Deal.stage, Deal.updated_at)
_OPEN_DEALS: Any = union_all(
    select(*_DEAL, DealContact.contact_id, literal(None, Integer).label("company_id"))
    .join(DealContact, DealContact.deal_id == Deal.id)
    .where(
        DealContact.contact_id.in_(bindparam("contacts", expanding=True)),
        Deal.status == "open",
    ),
    select(*_DEAL, literal(None, Integer), Deal.company_id).where(
        Deal.company_id.in_(bindparam("companies", expanding=True)), Deal.status == "open"
    ),
)


class AssociateStage:
    name = "associate"
    description = "Put the email on its tickets and deals: tokens, thread, open deals."

    def __init__(self, config: Config) -> None:
        self.inboxes = {inbox.route: inbox for inbox in config.team_inboxes}
        self.privacy = config.privacy
        self.owners = {i.owner for i in config.team_inboxes if i.owner}

    def process(self, ctx: MessageContext) -> None:
        if ctx.email_id is None:
            return
        session = ctx.session
        email = ctx.email
        if email is None or email.id != ctx.email_id:
            email = session.get_one(Email, ctx.email_id)
        tokens = (ctx.analysis.tokens if ctx.analysis else None) or {}
        thread = _thread_associations(session, email)
        # Read once for the rules below (a new email's: what the log stage just wrote).
        links = ctx.links if ctx.links is not None else email_links(session, email.id)
        contacts = [target for kind, target in links if kind == "contact"]
        linked = self._tickets(ctx, email, tokens.get("ticket"), thread, contacts)
        notes, linked_deal = _link_deals(
            session, email, tokens.get("deal"), thread, contacts, links=links
        )
        for note in notes:
            ctx.note(self.name, note)
        # Last, when the contacts and the tickets (transactional mail) are known.
        for check in open_checks(session, email, self.privacy):
            ctx.note(self.name, f"legal-basis check {check.id}: {check.reason}")
        if ctx.outcome == "logged":  # a new email, not another copy of one
            inbox = self._inbox(ctx)
            current = None if linked or linked_deal else links  # else read them again
            emit_email_logged(
                session,
                email,
                inbox.address if inbox else "",
                links=current,
                recipients=ctx.recipients,
                loggers=_logger_addresses(ctx),
            )

    def _inbox(self, ctx: MessageContext) -> TeamInbox | None:
        for rcpt in ctx.envelope.rcpt_tos:
            if (inbox := self.inboxes.get(normalize_address(rcpt) or "")) is not None:
                return inbox
        return None

    def _tickets(
        self,
        ctx: MessageContext,
        email: Email,
        token: str | None,
        thread: Sequence[EmailAssociation],
        contacts: list[int],
    ) -> bool:
        """Put the email on its tickets; whether a link was added."""
        session = ctx.session
        linked = False
        targets: list[tuple[int, str]] = []
        ticket_id = _small_int(token)
        if ticket_id is not None and (ticket := session.get(Ticket, ticket_id)) is not None:
            targets = [(ticket.id, "ticket tag")]
        if not targets:
            found = dict.fromkeys(a.target_id for a in thread if a.kind == "ticket")
            targets = [(ticket_id, "same thread") for ticket_id in found]
        inbox = self._inbox(ctx)
        if not targets and inbox is not None and inbox.mode == "tickets":
            ticket = self._open_ticket(session, email, inbox, contacts)
            targets = [(ticket.id, f"new ticket from {inbox.address}")]
        for ticket_id, reason in targets:
            if linking.associate(
                session, email.id, "ticket", ticket_id, reason=reason, confidence=1.0
            ):
                ctx.note(self.name, f"ticket {ticket_id}: {reason}")
                linked = True
                ticket = session.get_one(Ticket, ticket_id)
                ticket.updated_at = utcnow()
                if ticket.status == "closed" and email.direction == "inbound":
                    ticket.status = "open"  # the customer wrote again
            for contact_id in contacts:
                linking.add_ticket_contact(session, ticket_id, contact_id)
        return linked

    def _open_ticket(
        self, session: Session, email: Email, inbox: TeamInbox, contacts: list[int]
    ) -> Ticket:
        owner_id = None
        if inbox.owner:
            owner_id = repo.user_ids_by_address(session, [inbox.owner]).get(inbox.owner)
        company_id = None
        if contacts:
            company_id = session.scalar(select(Contact.company_id).where(Contact.id == contacts[0]))
        ticket = Ticket(
            subject=normalized_subject(email.subject)[:998],
            status="open",
            inbox=inbox.address,
            owner_id=owner_id,
            company_id=company_id,
            updated_at=utcnow(),
        )
        session.add(ticket)
        session.flush()
        repo.audit(session, "worker", "ticket.created", "ticket", ticket.id, email=email.id)
        return ticket


def _logger_addresses(ctx: MessageContext) -> list[str] | None:
    """The primary addresses of a new email's loggers, when the earlier stages read them
    (None: ask the database)."""
    if not all(uid in ctx.user_primaries for uid in ctx.logger_ids):
        return None
    return [address for uid in ctx.logger_ids for address in ctx.user_primaries[uid]]


def link_deals(
    session: Session,
    email: Email,
    token: str | None,
    thread: Sequence[EmailAssociation] | None = None,
    contacts: list[int] | None = None,
) -> list[str]:
    """Apply the deal rules to ``email``; what was done, as notes. The first rule that applies
    wins; an email already on a deal is left alone unless a token names another one."""
    return _link_deals(session, email, token, thread, contacts)[0]


def _link_deals(
    session: Session,
    email: Email,
    token: str | None,
    thread: Sequence[EmailAssociation] | None = None,
    contacts: list[int] | None = None,
    *,
    links: Sequence[tuple[str, int]] | None = None,
) -> tuple[list[str], bool]:
    """:func:`link_deals`, and whether a link was added. ``links``: the email's associations
    as (kind, target id), when the caller has read them (none of them a deal it added)."""
    thread = _thread_associations(session, email) if thread is None else thread
    contacts = _contacts_of(session, email.id) if contacts is None else contacts
    if links is None:
        links = email_links(session, email.id)
    targets: list[tuple[int, str]] = []
    if token is not None and (deal_id := _deal_by_token(session, token)) is not None:
        targets = [(deal_id, "deal token")]
    if not targets and any(kind == "deal" for kind, _ in links):
        return [], False
    if not targets:
        found = dict.fromkeys(a.target_id for a in thread if a.kind == "deal")
        targets = [(deal_id, "same thread") for deal_id in found]
    if not targets and contacts:
        companies = [t for kind, t in links if kind == "company"]
        open_deals, company_deals = _open_deals_of(session, contacts, companies)
        if len(open_deals) == 1:
            targets = [(open_deals[0].id, "contact's only open deal")]
        elif len(open_deals) > 1:
            _ask_which_deal(session, email, open_deals)
            return [f"which deal? {len(open_deals)} open deals"], False
        elif len(company_deals) == 1:
            targets = [(company_deals[0].id, "company's only open deal")]
    notes = []
    for deal_id, reason in targets:
        if linking.associate(session, email.id, "deal", deal_id, reason=reason, confidence=1.0):
            notes.append(f"deal {deal_id}: {reason}")
    return notes, bool(notes)


def _ask_which_deal(session: Session, email: Email, deals: Sequence[Row[Any]]) -> None:
    questions.ask(
        session,
        "which_deal",
        questions.which_deal_key(email.id),
        {
            "choices": [
                {
                    "deal_id": d.id,
                    "name": d.name,
                    "stage": d.stage,
                    "updated_at": d.updated_at.isoformat(),
                }
                for d in deals[:MAX_DEAL_CHOICES]
            ]
        },
        email_id=email.id,
    )


def _contacts_of(session: Session, email_id: int) -> list[int]:
    return list(
        session.scalars(
            select(EmailAssociation.contact_id)
            .where(EmailAssociation.email_id == email_id, EmailAssociation.kind == "contact")
            .order_by(EmailAssociation.id)
        )
    )


def _thread_associations(session: Session, email: Email) -> Sequence[EmailAssociation]:
    """Deal and ticket links of the earlier emails this one replies to."""
    ids = [i for i in [email.in_reply_to, *reversed(email.references)] if i and isinstance(i, str)]
    ids = list(dict.fromkeys(ids))[:MAX_THREAD_IDS]
    if not ids:
        return []
    earlier = select(Email.id).where(Email.message_id.in_(ids), Email.id != email.id)
    return session.scalars(
        select(EmailAssociation)
        .where(
            EmailAssociation.email_id.in_(earlier),
            or_(EmailAssociation.kind == "deal", EmailAssociation.kind == "ticket"),
        )
        .order_by(EmailAssociation.id)
    ).all()


def _deal_by_token(session: Session, token: str) -> int | None:
    """``deal-<id>``: the imported deal with that id, else bccrm's own deal number."""
    found = session.scalar(select(Deal.id).where(Deal.external_id == token))
    if found is None:  # plus-addresses arrive lower-cased
        found = session.scalar(
            select(Deal.id).where(func.lower(Deal.external_id) == token.lower()).limit(1)
        )
    if found is None and (number := _small_int(token)) is not None:
        found = session.scalar(select(Deal.id).where(Deal.id == number))
    return found


def _small_int(text: str | None) -> int | None:
    """An id that fits the database's integer columns, or None."""
    if text is None or not text.isdigit() or len(text) > 10 or int(text) >= 2**31:
        return None
    return int(text)


def _open_deals_of(
    session: Session, contacts: list[int], companies: list[int]
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """The open deals of ``contacts`` and the open deals of ``companies`` (id, name, stage,
    updated_at), each newest first; what is not known yet is read in one query."""
    known = _known_deals(session)
    known.load(session, contacts, companies)
    halves: tuple[dict[int, Row[Any]], dict[int, Row[Any]]] = ({}, {})
    for contact_id in contacts:
        for row in known.of_contact[contact_id]:
            halves[0].setdefault(row.id, row)
    for company_id in companies:
        for row in known.of_company[company_id]:
            halves[1].setdefault(row.id, row)
    return _newest_first(halves[0]), _newest_first(halves[1])


class _KnownDeals:
    """Open deals by contact and by company, as far as they were read."""

    def __init__(self) -> None:
        self.of_contact: dict[int, list[Row[Any]]] = {}
        self.of_company: dict[int, list[Row[Any]]] = {}

    def load(self, session: Session, contacts: Iterable[int], companies: Iterable[int]) -> None:
        """Read the open deals of those of ``contacts`` and ``companies`` not known yet."""
        contacts = sorted({c for c in contacts if c not in self.of_contact})
        companies = sorted({c for c in companies if c not in self.of_company})
        if not contacts and not companies:
            return
        self.of_contact.update((c, []) for c in contacts)
        self.of_company.update((c, []) for c in companies)
        params = {"contacts": contacts, "companies": companies}
        for row in repo.core(session).execute(_OPEN_DEALS, params):
            if row.contact_id is not None:
                self.of_contact[row.contact_id].append(row)
            else:
                self.of_company[row.company_id].append(row)

    def forget(self) -> None:
        self.of_contact.clear()
        self.of_company.clear()


_DEALS_KEY = "open deals"


def _known_deals(session: Session) -> _KnownDeals:
    """Kept for the transaction in a worker's batch (txcache), else read every time."""
    return txcache.cached(session, _DEALS_KEY, _KnownDeals)


def prefetch_open_deals(session: Session, owners: Iterable[repo.AddressOwner]) -> None:
    """Read the open deals of a batch's known people and their companies in one query (see
    :meth:`gateway.pipeline.MessageProcessor.process_batch`)."""
    owners = list(owners)
    companies = (o.company_id for o in owners if o.company_id is not None)
    _known_deals(session).load(session, (o.contact_id for o in owners), companies)


@event.listens_for(Session, "after_flush")
def _forget_changed_deals(session: Session, _context: Any) -> None:
    """A flush that writes a deal or a deal's contact makes the kept deals stale. Contacts
    and companies it creates have no deals yet (they would come with such a write)."""
    known = txcache.peek(session, _DEALS_KEY)
    if known is None:
        return
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Deal | DealContact) for obj in changed):
        known.forget()
        return
    for obj in session.new:
        if isinstance(obj, Contact):
            known.of_contact.setdefault(obj.id, [])
        elif isinstance(obj, Company):
            known.of_company.setdefault(obj.id, [])


def _newest_first(deals: dict[int, Row[Any]]) -> list[Row[Any]]:
    return sorted(deals.values(), key=lambda d: (d.updated_at, d.id), reverse=True)
