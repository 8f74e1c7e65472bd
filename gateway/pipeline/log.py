"""The log stage: the email row, its people and what matching decided, in the message's
transaction. Another copy of an email already logged only adds its loggers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.crm import (
    Contact,
    Email,
    EmailAttachment,
    EmailLogger,
    EmailParticipant,
    linking,
    questions,
    repo,
    utcnow,
)
from gateway.matching import records
from gateway.matching.resolve import Decision
from gateway.parsing import split_name
from gateway.pipeline.context import MessageContext
from gateway.privacy.keys import hash_key
from gateway.privacy.legal import propose_basis
from gateway.privacy.store import protect


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
            ctx.email_id, ctx.outcome = existing.id, "duplicate"
            repo.audit(
                ctx.session, "worker", "email.duplicate", "email", existing.id,
                entry=ctx.entry_id, new_loggers=added,
            )  # fmt: skip
            return
        email = self._email(ctx)
        if ctx.privacy is not None:
            protect(email, ctx.privacy, self.privacy, lambda: hash_key(ctx.session, self.privacy))
        ctx.session.add(email)
        ctx.session.flush()
        self._add_loggers(ctx, email)
        by_address: dict[str, list[EmailParticipant]] = {}
        for participant in email.participants:
            by_address.setdefault(participant.email, []).append(participant)
        for decision in ctx.matches:
            contact_id = self._apply(ctx, email.id, decision)
            for row in by_address.get(decision.email, []):
                row.contact_id = contact_id
                row.outcome = decision.outcome
                row.reason = decision.reason[:300]
                row.confidence = decision.confidence
        ctx.session.flush()
        ctx.email_id, ctx.outcome = email.id, "logged"
        outcomes: dict[str, Any] = dict(sorted(Counter(d.outcome for d in ctx.matches).items()))
        if ctx.privacy is not None:
            # Rule names and a count: who was left out is not written down anywhere.
            outcomes["privacy"] = [r["rule"] for r in ctx.privacy.rules if r["hit"]]
            outcomes["excluded"] = len(ctx.privacy.excluded)
        repo.audit(
            ctx.session, "worker", "email.logged", "email", email.id,
            entry=ctx.entry_id, **outcomes,
        )  # fmt: skip

    def _apply(self, ctx: MessageContext, email_id: int, decision: Decision) -> int | None:
        """Carry out one decision; the contact the participant ends up linked to, if any."""
        session = ctx.session
        if decision.outcome in (linking.LINKED, linking.AUTO_LINKED):
            assert decision.contact_id is not None
            if decision.outcome == linking.AUTO_LINKED:
                linking.add_address(
                    session, decision.contact_id, decision.email, "worker", decision.reason
                )
            confidence = decision.confidence or 1.0
            linking.link_contact(
                session, email_id, decision.contact_id, decision.reason, confidence
            )
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
            linking.link_contact(session, email_id, contact.id, "new contact", 1.0)
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
                            "name": session.get_one(Contact, s.contact_id).name,
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
            participants=[
                EmailParticipant(role=p.role, email=p.email, name=p.name) for p in ctx.participants
            ],
            attachments=[
                EmailAttachment(
                    filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256
                )
                for a in parsed.attachments
            ],
        )

    def _add_loggers(self, ctx: MessageContext, email: Email) -> int:
        present = {logger.user_id for logger in email.loggers}
        new = [uid for uid in ctx.logger_ids if uid not in present]
        email.loggers.extend(EmailLogger(user_id=uid, logged_at=utcnow()) for uid in new)
        ctx.session.flush()
        return len(new)
