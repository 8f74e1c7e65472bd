"""The verify stage: prove who sent the copy before anything is logged.

Two kinds of proof, combined per route (``[verify] require``, ``[[team_inbox]] require``):

* **transport** — how the copy reached us: from a trusted MTA (``network``), through the local
  MTA's pipe (``pipe``), by SMTP AUTH as a user (``auth``), or to a user's secret address
  (``token``). The edge refuses anything else, so every SMTP copy has one.
* **dkim** — an aligned DKIM pass for the author's domain, from our own verification or from
  our MTA's trusted Authentication-Results.

Policies: ``transport``; ``dkim``; ``dkim+transport`` (a transport proof and a DKIM pass —
except that a transport which itself identifies the user, AUTH or a secret address, stands in
for DKIM: a rep's mail client submitting its own copy is not signed by the MTA's signer yet).
DKIM requirements apply to copies whose author claims one of our domains: that is where a
forgery writes fake history. Inbound mail is logged as what the rep received.

Sender authorization always applies: the author of an outbound copy must be a registered user
(the user the transport identified, if any); a user identified by the transport must take part
in an inbound copy. Failures of a *claimed* identity are held in quarantine for a person.
A copy in which no registered user takes part at all (an MTA's always_bcc copy of someone
else's mail) is not CRM mail: it is dropped by policy, with an audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.addresses import domain_of
from gateway.config import Config
from gateway.crm import repo
from gateway.parsing import ParsedMessage, is_internal
from gateway.pipeline.context import HoldMessage, MessageContext
from gateway.smtp.routing import Router
from gateway.spool import Envelope
from gateway.verify import (
    DkimVerdict,
    TemporaryDNSError,
    dkim_pass_from_results,
    header_fields,
    make_txt_lookup,
    trusted_results,
    verify_dkim,
)

ADMIN_TRANSPORTS = ("ingest",)


def transport_proofs(envelope: Envelope) -> list[str]:
    """The transport proofs recorded by the edge (or the pipe command) for this copy."""
    proofs = []
    if envelope.transport == "pipe":
        proofs.append("pipe")
    if envelope.trusted_peer:
        proofs.append("network")
    if envelope.auth_user:
        proofs.append("auth")
    if envelope.token_user:
        proofs.append("token")
    return proofs


class VerifyStage:
    name = "verify"
    description = "Check transport proofs, DKIM and sender authorization; hold what fails."

    def __init__(self, config: Config, dnsfunc: Callable[..., bytes] | None = None) -> None:
        self.config = config
        self.org_domains = config.organization.domains
        self.router = Router(config.logging.addresses, (), config.team_inboxes)
        self.dnsfunc = dnsfunc or make_txt_lookup(config.dkim.nameservers, config.dkim.timeout)

    def process(self, ctx: MessageContext) -> None:
        parsed = ctx.require_parsed()
        assert parsed.sender is not None
        envelope = ctx.envelope
        verdict: dict[str, Any] = {"transport": envelope.transport}
        ctx.auth = verdict
        if envelope.transport in ADMIN_TRANSPORTS or envelope.released_by:
            verdict |= {
                "result": "pass",
                "proofs": ["admin"],
                "reason": f"released by {envelope.released_by}"
                if envelope.released_by
                else "ingested by an administrator",
            }
            return
        policy = self._policy(envelope)
        proofs = transport_proofs(envelope)
        user = envelope.auth_user or envelope.token_user
        verdict |= {"policy": policy, "proofs": proofs, "user": user}
        claims_us = is_internal(parsed.sender.email, self.org_domains)
        needs_dkim = claims_us and (policy == "dkim" or (policy == "dkim+transport" and not user))
        dkim_ok = self._dkim(ctx, parsed, verdict, required=needs_dkim)
        if not proofs:
            self._hold(ctx, verdict, "no transport proof")
        if needs_dkim and not dkim_ok:
            self._hold(ctx, verdict, "no aligned DKIM signature for the author's domain")
        self._authorize(ctx, parsed, verdict, user, claims_us)

    def _policy(self, envelope: Envelope) -> str:
        for rcpt in envelope.rcpt_tos:
            route = self.router.route(rcpt)
            if route is not None and route.inbox is not None:
                return route.inbox.require
        return self.config.verify.require

    def _dkim(
        self, ctx: MessageContext, parsed: ParsedMessage, verdict: dict[str, Any], required: bool
    ) -> bool:
        assert parsed.sender is not None
        author_domain = domain_of(parsed.sender.email)
        try:
            dkim = verify_dkim(
                ctx.raw, author_domain, self.dnsfunc, min_key_bits=self.config.dkim.min_key_bits
            )
        except TemporaryDNSError:
            if required:
                raise  # not a verdict: the worker retries within dkim.retry_window
            dkim = DkimVerdict(None, ())
            verdict["dkim"] = {"result": "temperror", "reason": "DNS temporarily unavailable"}
        else:
            verdict["dkim"] = dkim.as_dict()
        results = []
        if self.config.verify.authserv_id:
            results = trusted_results(header_fields(ctx.raw), self.config.verify.authserv_id)
            verdict["authentication_results"] = [
                {"method": r.method, "result": r.result} for r in results
            ]
        if any(r.method == "dmarc" and r.result == "fail" for r in results) and is_internal(
            parsed.sender.email, self.org_domains
        ):
            self._hold(ctx, verdict, "our MTA reports a DMARC failure for our own domain")
        return dkim.passed or dkim_pass_from_results(results, author_domain) is not None

    def _authorize(
        self,
        ctx: MessageContext,
        parsed: ParsedMessage,
        verdict: dict[str, Any],
        user: str | None,
        claims_us: bool,
    ) -> None:
        assert parsed.sender is not None
        author = parsed.sender.email
        people = [p.email for p in parsed.participants if p.role != "from"]
        registered = ctx.user_ids([author, *people, *filter(None, [user])])
        if user is not None:
            own = set(repo.addresses_of_user(ctx.session, user))
            if claims_us and author not in own:
                self._hold(ctx, verdict, "the author is not the authenticated user")
            if not claims_us and not own & set(people):
                self._hold(ctx, verdict, "the logging user does not take part in this message")
        elif claims_us and author not in registered:
            self._drop(ctx, verdict, "the author is not a registered user")
            return
        elif not claims_us and not set(people) & set(registered) and not self._team_route(ctx):
            self._drop(ctx, verdict, "no registered user takes part")
            return
        verdict |= {"result": "pass", "reason": "authorized"}

    def _team_route(self, ctx: MessageContext) -> bool:
        routes = (self.router.route(r) for r in ctx.envelope.rcpt_tos)
        return any(route is not None and route.inbox is not None for route in routes)

    def _hold(self, ctx: MessageContext, verdict: dict[str, Any], reason: str) -> None:
        verdict |= {"result": "fail", "reason": reason}
        ctx.note(self.name, reason)
        raise HoldMessage(reason)

    def _drop(self, ctx: MessageContext, verdict: dict[str, Any], reason: str) -> None:
        verdict |= {"result": "not-crm", "reason": reason}
        ctx.note(self.name, reason)
        ctx.outcome = "dropped"
        repo.audit(ctx.session, "worker", "message.dropped", "spool", ctx.entry_id, reason=reason)
