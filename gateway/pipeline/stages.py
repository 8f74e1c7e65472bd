"""The built-in pipeline stages. Each is small and named; their order is data
(:data:`gateway.pipeline.DEFAULT_STAGES`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from gateway.addresses import base_address, domain_of, normalize_address
from gateway.config import Config
from gateway.crm import (
    Contact,
    Email,
    EmailAssociation,
    EmailAttachment,
    EmailLogger,
    EmailParticipant,
    repo,
    utcnow,
)
from gateway.parsing import Participant, is_internal, split_name
from gateway.parsing.analysis import analyze
from gateway.pipeline.context import HoldMessage, MessageContext, ParticipantMatch


class ParseStage:
    name = "parse"
    description = "Read the message: the original author of a forward, participants, newest "
    "text, signature, thread keys, tokens, flags and direction."

    def __init__(self, config: Config) -> None:
        self.org_domains = config.organization.domains
        self.region = config.organization.default_region
        self.logging_addresses = frozenset(config.logging.addresses)

    def process(self, ctx: MessageContext) -> None:
        analysis = analyze(ctx.raw, self.org_domains, self.region, tuple(self.logging_addresses))
        parsed = analysis.parsed
        if parsed.sender is None:
            raise HoldMessage("From is not exactly one valid address")
        # The logging address itself is plumbing, not a participant of the conversation.
        parsed.participants = self._people(parsed.participants)
        ctx.parsed, ctx.analysis = parsed, analysis
        ctx.author = analysis.original_sender or parsed.sender
        ctx.participants = self._people(analysis.participants)
        ctx.direction = analysis.direction
        if analysis.forwarded:
            ctx.note(self.name, "forwarded: logged under the original author")
        ctx.note(self.name, f"direction {ctx.direction}")

    def _people(self, people: list[Participant]) -> list[Participant]:
        return [p for p in people if base_address(p.email)[0] not in self.logging_addresses]


class MatchStage:
    name = "match"
    description = "Find the logging users and the contact and company of each external person."

    def __init__(self, config: Config) -> None:
        self.org_domains = config.organization.domains
        self.free_mail = frozenset(config.organization.free_mail_domains)

    def process(self, ctx: MessageContext) -> None:
        parsed = ctx.require_parsed()
        assert parsed.sender is not None
        self._loggers(ctx, parsed.sender.email)
        user_addresses = repo.user_ids_by_address(ctx.session, [p.email for p in ctx.participants])
        for participant in ctx.participants:
            if (
                is_internal(participant.email, self.org_domains)
                or participant.email in user_addresses
            ):
                continue
            contact_id = repo.contact_id_by_email(ctx.session, participant.email)
            domain = domain_of(participant.email)
            ctx.matches.append(
                ParticipantMatch(
                    participant=participant,
                    contact_id=contact_id,
                    reason="exact email" if contact_id else "new contact",
                    confidence=1.0,
                    company_domain=None if domain in self.free_mail else domain,
                )
            )

    def _loggers(self, ctx: MessageContext, author: str) -> None:
        """Who logged it: the authenticated user, else the envelope sender, else the author,
        whichever is first found among registered user addresses."""
        raw = (ctx.envelope.auth_user, ctx.envelope.token_user, ctx.envelope.mail_from, author)
        candidates = [a for a in (normalize_address(x or "") for x in raw) if a]
        found = repo.user_ids_by_address(ctx.session, candidates)
        for address in candidates:
            if address in found:
                ctx.logger_ids = [found[address]]
                ctx.note(self.name, "logged by a registered user")
                return
        ctx.note(self.name, "no registered user logged this copy")


class LogStage:
    name = "log"
    description = "Write the email, its people and links in the message's transaction."

    def __init__(self, config: Config) -> None:
        self.config = config

    def process(self, ctx: MessageContext) -> None:
        parsed = ctx.require_parsed()
        existing = ctx.session.scalar(select(Email).where(Email.dedup_key == parsed.dedup_key))
        if existing is not None:
            added = self._add_loggers(ctx, existing)
            ctx.email_id, ctx.outcome = existing.id, "duplicate"
            repo.audit(
                ctx.session,
                "worker",
                "email.duplicate",
                "email",
                existing.id,
                entry=ctx.entry_id,
                new_loggers=added,
            )
            return
        email = self._email(ctx)
        ctx.session.add(email)
        ctx.session.flush()
        self._people(ctx, email)
        self._add_loggers(ctx, email)
        ctx.email_id, ctx.outcome = email.id, "logged"
        repo.audit(
            ctx.session,
            "worker",
            "email.logged",
            "email",
            email.id,
            entry=ctx.entry_id,
            contacts=sum(1 for a in email.associations if a.kind == "contact"),
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

    def _people(self, ctx: MessageContext, email: Email) -> None:
        """Create missing contacts and companies, then link them to the email."""
        by_address = {p.email: p for p in email.participants}
        linked_companies: set[int] = set()
        for match in ctx.matches:
            contact_id = match.contact_id or self._new_contact(ctx, match)
            by_address[match.participant.email].contact_id = contact_id
            if any(a.contact_id == contact_id for a in email.associations):
                continue  # the same person in From and Cc
            email.associations.append(
                EmailAssociation(
                    kind="contact",
                    contact_id=contact_id,
                    reason=match.reason,
                    confidence=match.confidence,
                )
            )
            company_id = ctx.session.get_one(Contact, contact_id).company_id
            if company_id is not None and company_id not in linked_companies:
                linked_companies.add(company_id)
                email.associations.append(
                    EmailAssociation(
                        kind="company",
                        company_id=company_id,
                        reason="contact's company",
                        confidence=match.confidence,
                    )
                )
        ctx.session.flush()

    def _new_contact(self, ctx: MessageContext, match: ParticipantMatch) -> int:
        company_id = None
        if match.company_domain:
            company_id = repo.company_id_by_domain(ctx.session, match.company_domain)
            if company_id is None:
                company = repo.create_company(
                    ctx.session, match.company_domain, match.company_domain, origin="gateway"
                )
                repo.audit(ctx.session, "worker", "company.created", "company", company.id)
                company_id = company.id
        first, last = split_name(match.participant.name)
        contact = repo.create_contact(
            ctx.session,
            match.participant.email,
            first_name=first,
            last_name=last,
            origin="gateway",
            company_id=company_id,
        )
        repo.audit(
            ctx.session, "worker", "contact.created", "contact", contact.id, entry=ctx.entry_id
        )
        return contact.id

    def _add_loggers(self, ctx: MessageContext, email: Email) -> int:
        present = {logger.user_id for logger in email.loggers}
        new = [uid for uid in ctx.logger_ids if uid not in present]
        email.loggers.extend(EmailLogger(user_id=uid, logged_at=utcnow()) for uid in new)
        ctx.session.flush()
        return len(new)
