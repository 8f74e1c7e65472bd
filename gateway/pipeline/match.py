"""The match stage: who logged the copy, and who each external person is.

Only the original message's participants are matched (for a forward: the forwarded
message's), never addresses from quoted text; a signature is used only for its own author.
A bounce marks the addresses that failed on their contacts and is not logged.
"""

from __future__ import annotations

from sqlalchemy import update

from gateway.addresses import mask_address
from gateway.config import Config
from gateway.crm import ContactEmail, linking, repo, utcnow
from gateway.matching.policy import MessageFlags
from gateway.matching.resolve import Decision, Resolver
from gateway.parsing import is_internal
from gateway.parsing.dsn import bounced_recipients
from gateway.pipeline.context import MessageContext
from gateway.pipeline.privacy import find_loggers


class MatchStage:
    name = "match"
    description = "Find the logging users and the contact of each external person."

    def __init__(self, config: Config) -> None:
        self.config = config
        self.org_domains = config.organization.domains
        self.max_people = config.matching.max_participants

    def process(self, ctx: MessageContext) -> None:
        parsed, analysis = ctx.require_parsed(), ctx.analysis
        assert parsed.sender is not None and analysis is not None
        if ctx.privacy is None:  # a pipeline without the privacy stage
            ctx.logger_ids = find_loggers(ctx, parsed.sender.email)
        ctx.note(self.name, "logged by a registered user" if ctx.logger_ids else "no registered "
                 "user logged this copy")  # fmt: skip
        ctx.duplicate_of = repo.email_id_by_key(ctx.session, parsed.dedup_key)
        if ctx.duplicate_of is not None:
            ctx.note(self.name, "another copy of an email already logged")
            return
        flags = MessageFlags(
            **{k: bool(analysis.flags.get(k)) for k in ("bulk", "auto_generated", "bounce")}
        )
        if flags.bounce:
            self._bounce(ctx)
            return
        level = ctx.privacy.level if ctx.privacy else "full"
        if level == "anonymous":
            ctx.note(self.name, "anonymous: people are not matched")
            return
        resolver = Resolver(self.config, ctx.session)
        users = ctx.user_ids(p.email for p in ctx.participants)
        author = ctx.author.email if ctx.author else ""
        external = [
            address
            for address in dict.fromkeys(p.email for p in ctx.participants)
            if address not in users and not is_internal(address, self.org_domains)
        ]
        # One query for all of them (none when the privacy stage asked already).
        chosen = external[: self.max_people]
        resolver.directory.remember(ctx.owners(chosen), chosen)
        seen: set[str] = set()
        for participant in ctx.participants:
            address = participant.email
            if address in seen or address in users or is_internal(address, self.org_domains):
                continue
            seen.add(address)
            if len(seen) > self.max_people:
                # A mass mailing, not a conversation: linking or creating hundreds of people
                # from one copy is junk, and bounded work per message matters more.
                decision = Decision(
                    email=address, outcome=linking.IGNORED, reason="too many participants"
                )
                ctx.matches.append(decision)
                continue
            # A signature is body text: only read when the body may be stored.
            signature = analysis.signature if address == author and level == "full" else None
            decision = resolver.resolve(participant, signature, flags)
            ctx.matches.append(decision)
            ctx.note(self.name, f"{mask_address(address)}: {decision.outcome} ({decision.reason})")

    def _bounce(self, ctx: MessageContext) -> None:
        """A delivery failure report: mark the failed addresses, create and log nothing."""
        failed = [a for a in bounced_recipients(ctx.raw) if a]
        marked = 0
        if failed:
            result = ctx.session.execute(
                update(ContactEmail)
                .where(ContactEmail.email.in_(failed))
                .values(bounced_at=utcnow())
                .returning(ContactEmail.contact_id)
            )
            contact_ids = sorted(set(result.scalars()))
            marked = len(contact_ids)
            for contact_id in contact_ids:
                repo.audit(
                    ctx.session, "worker", "contact.email_bounced", "contact", contact_id,
                    entry=ctx.entry_id,
                )  # fmt: skip
        ctx.outcome = "dropped"
        ctx.note(self.name, f"bounce: {len(failed)} failed addresses, {marked} on contacts")
        repo.audit(
            ctx.session, "worker", "message.dropped", "spool", ctx.entry_id,
            reason="bounce", failed=len(failed), marked=marked,
        )  # fmt: skip
