"""The privacy stage: the rules of :mod:`gateway.privacy.rules`, in their order, before the
people are matched or anything is stored. People left out leave the context here; a "drop"
ends the message with an audit entry naming the rule (never an address)."""

from __future__ import annotations

from gateway.addresses import normalize_address
from gateway.config import Config
from gateway.crm import repo
from gateway.pipeline.context import MessageContext
from gateway.privacy.rules import RULE_TYPES, RULES, Facts, Rule, Verdict, external_addresses


class PrivacyStage:
    name = "privacy"
    description = "Never-log lists, suppressed people, private markers, internal mail, the "
    "route's level and objections decide what may be stored."

    def __init__(self, config: Config, rules: tuple[str, ...] = RULES) -> None:
        self.config = config
        self.rules = [RULE_TYPES[name](config) for name in rules]
        self.inboxes = {inbox.route: inbox for inbox in config.team_inboxes}

    def process(self, ctx: MessageContext) -> None:
        parsed, analysis = ctx.require_parsed(), ctx.analysis
        assert parsed.sender is not None and analysis is not None
        ctx.logger_ids = find_loggers(ctx, parsed.sender.email)
        emails = [p.email for p in ctx.participants]
        users = ctx.user_ids(emails)
        facts = Facts(
            session=ctx.session,
            participants=list(ctx.participants),
            external=external_addresses(ctx.participants, self.config.organization.domains, users),
            direction=ctx.direction,
            user_ids=ctx.logger_ids,
            subject=parsed.subject,
            private_token=bool(analysis.tokens.get("private")),
            crm_log_header=parsed.headers.get("x-crm-log", "").strip().lower()[:20],
            route_level=self._route_level(ctx),
            owners=ctx.owners,
        )
        verdict = Verdict()
        for rule in self._rules(ctx):
            rule.check(facts, verdict)
        ctx.privacy = verdict
        if verdict.excluded:
            ctx.participants = [p for p in ctx.participants if p.email not in verdict.excluded]
            ctx.note(self.name, f"{len(verdict.excluded)} people left out")
        ctx.note(self.name, f"level {verdict.level}")
        if verdict.level == "drop":
            ctx.outcome = "dropped"
            repo.audit(
                ctx.session, "worker", "message.dropped", "spool", ctx.entry_id,
                reason=f"privacy: {verdict.reason}",
                rules=[r["rule"] for r in verdict.rules if r["hit"]],
            )  # fmt: skip

    def _rules(self, ctx: MessageContext) -> list[Rule]:
        """The built-in rules with the plugins' rules before the last one (``nothing_left``
        must see what every other rule excluded)."""
        extra = ctx.plugins.privacy_rules() if ctx.plugins is not None else []
        if not extra:
            return self.rules
        return [*self.rules[:-1], *extra, self.rules[-1]]

    def _route_level(self, ctx: MessageContext) -> str:
        for rcpt in ctx.envelope.rcpt_tos:
            inbox = self.inboxes.get(normalize_address(rcpt) or "")
            if inbox is not None:
                return inbox.privacy or self.config.privacy.level
        return self.config.privacy.level


def find_loggers(ctx: MessageContext, author: str) -> list[int]:
    """Who logged it: the authenticated user, else the envelope sender, else the author,
    whichever is first found among registered user addresses."""
    raw = (ctx.envelope.auth_user, ctx.envelope.token_user, ctx.envelope.mail_from, author)
    candidates = [a for a in (normalize_address(x or "") for x in raw) if a]
    found = ctx.user_ids(candidates)
    for address in candidates:
        if address in found:
            return [found[address]]
    return []
