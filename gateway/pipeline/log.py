"""The log stage: the email row, its people and what matching decided, in the message's
transaction. Another copy of an email already logged only adds its loggers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.crm import (
    Contact,
    Email,
    EmailAssociation,
    EmailAttachment,
    EmailLogger,
    EmailParticipant,
    linking,
    questions,
    repo,
    txcache,
    utcnow,
)
from gateway.matching import records
from gateway.matching.resolve import Decision
from gateway.parsing import split_name
from gateway.pipeline.context import MessageContext
from gateway.privacy.keys import hash_key
from gateway.privacy.legal import propose_basis
from gateway.privacy.store import protect

_ASSOCIATIONS: Any = EmailAssociation.__table__
_PARTICIPANTS: Any = EmailParticipant.__table__
_LOGGERS: Any = EmailLogger.__table__
_ATTACHMENTS: Any = EmailAttachment.__table__
_EMAILS: Any = Email.__table__
# (attribute, column) of every column of an email but its id, and the INSERT that writes them.
_EMAIL_COLUMNS = [
    (attr.key, attr.columns[0].key) for attr in inspect(Email).column_attrs if attr.key != "id"
]
_INSERT_EMAIL = _EMAILS.insert().returning(_EMAILS.c.id)
_LOGGER_IDS = select(EmailLogger.user_id).where(EmailLogger.email_id == bindparam("email_id"))
# The decisions that link the participant to a contact that already exists.
LINKING = (linking.LINKED, linking.AUTO_LINKED)


class LogStage:
    name = "log"
    description = "Write the email, its people and links in the message's transaction."

    def __init__(self, config: Config) -> None:
        self.free_mail = frozenset(config.organization.free_mail_domains)
        self.privacy = config.privacy
        self.inboxes = {inbox.route: inbox.address for inbox in config.team_inboxes}

    def _inbox(self, ctx: MessageContext) -> str:
        """The team inbox the copy came through ("" for a rep's own copy)."""
        for rcpt in ctx.envelope.rcpt_tos:
            if (address := self.inboxes.get(normalize_address(rcpt) or "")) is not None:
                return address
        return ""

    def process(self, ctx: MessageContext) -> None:
        if ctx.duplicate_of is not None:
            existing = ctx.session.get_one(Email, ctx.duplicate_of)
            added = self._add_loggers(ctx, existing)
            ctx.email_id, ctx.email, ctx.outcome = existing.id, existing, "duplicate"
            ctx.links = None  # made by earlier copies: read them from the database
            repo.audit(
                ctx.session, "worker", "email.duplicate", "email", existing.id,
                entry=ctx.entry_id, new_loggers=added,
            )  # fmt: skip
            return
        email = self._email(ctx)
        participants = [Participant(p.role, p.email, p.name) for p in ctx.participants]
        parsed = ctx.require_parsed()
        attachments = [
            Attachment(a.filename, a.content_type, a.size, a.sha256) for a in parsed.attachments
        ]
        if ctx.privacy is not None:
            participants = protect(
                email,
                participants,
                attachments,
                ctx.privacy,
                privacy=self.privacy,
                key=lambda: hash_key(ctx.session, self.privacy),
            )
        by_address: dict[str, list[Participant]] = {}
        for participant in participants:
            by_address.setdefault(participant.email, []).append(participant)
        _insert_email(ctx.session, email)
        _write_rows(
            ctx.session,
            _LOGGERS,
            [
                {"email_id": email.id, "user_id": uid, "logged_at": utcnow()}
                for uid in ctx.logger_ids
            ],
        )
        _write_rows(
            ctx.session, _ATTACHMENTS, [{"email_id": email.id, **vars(a)} for a in attachments]
        )
        # The known contacts the decisions link to that the earlier stages did not read
        # enough of, in one query, kept referenced while the stage needs them.
        known = self._contacts(ctx)
        links = _Links(email.id)
        for decision in ctx.matches:
            contact_id = self._apply(ctx, email.id, decision, links)
            # What matching decided goes into the participant rows, written once below.
            for row in by_address.get(decision.email, []):
                row.contact_id = contact_id
                row.outcome = decision.outcome
                row.reason = decision.reason[:300]
                row.confidence = decision.confidence
        _write_rows(
            ctx.session, _PARTICIPANTS, [{"email_id": email.id, **vars(p)} for p in participants]
        )
        links.write(ctx.session)
        ctx.session.flush()
        del known
        ctx.email_id, ctx.email, ctx.outcome = email.id, email, "logged"
        ctx.links = [(row["kind"], row[f"{row['kind']}_id"]) for row in links.rows]
        ctx.recipients = [
            p.email
            for p in sorted(participants, key=lambda p: (p.role, p.email))
            if p.role != "from"
        ]
        outcomes: dict[str, Any] = dict(sorted(Counter(d.outcome for d in ctx.matches).items()))
        if ctx.privacy is not None:
            # Rule names and a count: who was left out is not written down anywhere.
            outcomes["privacy"] = [r["rule"] for r in ctx.privacy.rules if r["hit"]]
            outcomes["excluded"] = len(ctx.privacy.excluded)
        repo.audit(
            ctx.session, "worker", "email.logged", "email", email.id,
            entry=ctx.entry_id, **outcomes,
        )  # fmt: skip

    @staticmethod
    def _contacts(ctx: MessageContext) -> list[Contact]:
        ids = sorted(
            {
                d.contact_id
                for d in ctx.matches
                if d.outcome in LINKING and d.contact_id and _learns(d, _owner(ctx, d))
            }
        )
        if not ids:
            return []
        return list(ctx.session.scalars(select(Contact).where(Contact.id.in_(ids))))

    def _apply(
        self, ctx: MessageContext, email_id: int, decision: Decision, links: _Links
    ) -> int | None:
        """Carry out one decision; the contact the participant ends up linked to, if any."""
        session = ctx.session
        if decision.outcome in LINKING:
            assert decision.contact_id is not None
            if decision.outcome == linking.AUTO_LINKED:
                linking.add_address(
                    session, decision.contact_id, decision.email, "worker", decision.reason
                )
            owner = _owner(ctx, decision)
            if owner is not None:
                company_id = owner.company_id
            else:
                known = session.get(Contact, decision.contact_id)  # read by _contacts
                company_id = known.company_id if known is not None else None
            confidence = decision.confidence or 1.0
            links.contact(decision.contact_id, company_id, decision.reason, confidence)
            if _learns(decision, owner):
                self._learn(session, decision, email_id)
            return decision.contact_id
        if decision.outcome == linking.CREATED:
            assert decision.new is not None
            contact = records.create_contact(
                session,
                decision.new,
                origin="gateway",
                actor="worker",
                free_mail=self.free_mail,
                entry=ctx.entry_id,
                email_id=email_id,
                team_inbox=self._inbox(ctx),
            )
            # A person bccrm put in the CRM: the default basis, proposed; Art. 14 notice due.
            propose_basis(contact, self.privacy, utcnow())
            links.contact(contact.id, contact.company_id, "new contact", 1.0)
            return contact.id
        if decision.outcome == linking.SUGGESTED:
            assert decision.new is not None
            questions.ask(
                session,
                "same_person",
                questions.same_person_key(decision.email),
                {
                    "email": decision.email,
                    "name": decision.name,
                    "candidates": [
                        {
                            "contact_id": s.contact_id,
                            "name": s.name,
                            "confidence": s.confidence,
                            "reasons": list(s.reasons),
                        }
                        for s in decision.candidates
                    ],
                    "fields": decision.new.fields(),
                },
                email_id=email_id,
            )
        elif decision.outcome == linking.PENDING:
            assert decision.new is not None
            questions.ask(
                session,
                "new_contact",
                questions.new_contact_key(decision.email),
                {"email": decision.email, "fields": decision.new.fields()},
                email_id=email_id,
            )
        return None

    def _learn(self, session: Session, decision: Decision, email_id: int) -> None:
        """A known contact: fill an empty name, compare its own signature."""
        assert decision.contact_id is not None
        contact = session.get_one(Contact, decision.contact_id)
        if not contact.first_name and not contact.last_name and decision.name:
            contact.first_name, contact.last_name = split_name(decision.name)
            repo.index_contact_name(session, contact)
            repo.audit(
                session, "worker", "contact.updated", "contact", contact.id,
                fields=["name"], source="message",
            )  # fmt: skip
        if decision.signature is not None:
            records.learn_from_signature(
                session, decision.contact_id, decision.signature, email_id=email_id
            )

    def _email(self, ctx: MessageContext) -> Email:
        parsed, analysis = ctx.require_parsed(), ctx.analysis
        assert parsed.sender is not None and ctx.author is not None and analysis is not None
        forwarder = analysis.forwarded_by
        return Email(
            dedup_key=parsed.dedup_key,
            message_id=parsed.message_id,
            subject=parsed.subject,
            direction=ctx.direction,
            sent_at=analysis.original_date or parsed.sent_at,
            received_at=datetime.fromtimestamp(ctx.envelope.received_at, UTC),
            from_email=ctx.author.email,
            from_name=ctx.author.name,
            forwarded_by_email=forwarder.email if forwarder else None,
            forwarded_by_name=forwarder.name if forwarder else "",
            reply_text=analysis.reply_text,
            language=analysis.language,
            in_reply_to=parsed.in_reply_to,
            references=list(parsed.references),
            normalized_subject=analysis.thread["normalized_subject"],
            tokens=analysis.tokens,
            flags=analysis.flags,
            body_text=parsed.body_text,
            body_sha256=parsed.body_sha256,
            size=parsed.size,
            privacy_level="full",
            auth=ctx.auth or {"transport": ctx.envelope.transport},
            defects=analysis.defects,
            # Every column, the defaults too: _insert_email writes what the object holds.
            privacy={},
            one_time_basis="",
            transactional=False,
            created_at=utcnow(),
        )

    def _add_loggers(self, ctx: MessageContext, email: Email) -> int:
        txcache.write_deferred(ctx.session)  # an earlier copy in this batch: its loggers
        present = set(ctx.session.scalars(_LOGGER_IDS, {"email_id": email.id}))
        new = [uid for uid in ctx.logger_ids if uid not in present]
        rows = [{"email_id": email.id, "user_id": uid, "logged_at": utcnow()} for uid in new]
        _write_rows(ctx.session, _LOGGERS, rows)
        return len(new)


@dataclass
class Participant:
    """A participant row of a new email (read back in the transaction only through
    :attr:`MessageContext.recipients`)."""

    role: str
    email: str
    name: str
    contact_id: int | None = None
    outcome: str = ""
    reason: str = ""
    confidence: float | None = None


@dataclass
class Attachment:
    """An attachment row of a new email (its metadata: the content is never stored)."""

    filename: str
    content_type: str
    size: int
    sha256: str


def _insert_email(session: Session, email: Email) -> None:
    """INSERT the new ``email`` (every column set) with Core, and make the object the
    session's persistent copy of the row: the ORM's unit of work took three times as long for
    this one row. Its collections (loggers, participants...) are not loaded: read from the
    database if asked for."""
    values = {column: getattr(email, key) for key, column in _EMAIL_COLUMNS}
    email.id = session.connection().execute(_INSERT_EMAIL, values).scalar_one()
    repo.email_logged(session, email.dedup_key, email.id)
    make_transient_to_detached(email)
    session.add(email)


def _write_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows of a new email that nothing in the pipeline's transaction reads back but through
    the context, written at the commit with the rest of the batch's."""
    if rows and not txcache.defer_insert(session, table, *rows):
        session.execute(table.insert(), rows)


def _owner(ctx: MessageContext, decision: Decision) -> repo.AddressOwner | None:
    """The decision's contact as the privacy and match stages read it by address (an exact
    match's): its company and name. The log stage changes neither the company of a contact
    nor a name that is not empty, so this is still what the database holds."""
    owner = ctx.known_owners.get(decision.email)
    return owner if owner is not None and owner.contact_id == decision.contact_id else None


def _learns(decision: Decision, owner: repo.AddressOwner | None) -> bool:
    """Whether :meth:`LogStage._learn` has anything to do (without ``owner``: maybe)."""
    if owner is None or decision.signature is not None:
        return True
    return not owner.first_name and not owner.last_name and bool(decision.name)


class _Links:
    """The new email's contact and company links, in the order :func:`linking.link_contact`
    would add them one by one, written in one statement. The email is new in this
    transaction, so the only links it can already have are these: no need to ask the
    database whether each exists."""

    def __init__(self, email_id: int) -> None:
        self.email_id = email_id
        self.rows: list[dict[str, Any]] = []
        self.seen: set[tuple[str, int]] = set()

    def contact(
        self, contact_id: int, company_id: int | None, reason: str, confidence: float
    ) -> None:
        """Put the email on the contact's timeline and on its company's."""
        self._add("contact", contact_id, reason, confidence)
        if company_id is not None:
            self._add("company", company_id, "contact's company", confidence)

    def _add(self, kind: str, target_id: int, reason: str, confidence: float) -> None:
        if (kind, target_id) in self.seen:
            return
        self.seen.add((kind, target_id))
        row: dict[str, Any] = dict.fromkeys(("contact_id", "company_id", "deal_id", "ticket_id"))
        row |= {
            "email_id": self.email_id,
            "kind": kind,
            f"{kind}_id": target_id,
            "reason": reason[:200],
            "confidence": round(confidence, 3),
            "created_at": utcnow(),
        }
        self.rows.append(row)

    def write(self, session: Session) -> None:
        if self.rows:
            repo.core(session).execute(_ASSOCIATIONS.insert(), self.rows)  # one executemany
