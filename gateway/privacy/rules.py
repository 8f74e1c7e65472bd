"""Privacy rules: small named objects, applied in the order of :data:`RULES` (data), before
anything about a message is stored. Every rule records a hit or a miss on the verdict, so
"why was this stored like that?" has an answer, kept with the email and in the audit log
(rule names and actions; never addresses or text).

A rule may exclude participants (they get no participant row, no contact, and their address
is masked in what is stored) or raise the privacy level: ``full`` < ``metadata`` (no body, no
attachment names) < ``anonymous`` (metadata, participants as keyed hashes) < ``drop``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from gateway.addresses import domain_of
from gateway.config import Config
from gateway.config_privacy import LEVELS
from gateway.crm import Contact, ContactEmail, NeverLog, Suppression, txcache
from gateway.crm.repo import AddressOwner, core
from gateway.parsing import Participant, is_internal
from gateway.privacy.keys import address_hash, hash_key


@dataclass
class Verdict:
    """What the privacy rules decided for one message."""

    level: str = "full"
    excluded: set[str] = field(default_factory=set)
    rules: list[dict[str, Any]] = field(default_factory=list)
    redactions: dict[str, int] = field(default_factory=dict)
    reason: str = ""  # the rule that raised the level last

    def raise_level(self, level: str, rule: str) -> None:
        if LEVELS.index(level) > LEVELS.index(self.level):
            self.level, self.reason = level, rule

    def record(self, rule: str, hit: bool, action: str = "", **detail: Any) -> None:
        self.rules.append({"rule": rule, "hit": hit, "action": action, **detail})

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "rules": self.rules,
            "excluded": len(self.excluded),
            "redactions": dict(sorted(self.redactions.items())),
        }


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the people, the route, the markers, who logged it."""

    session: Session
    participants: list[Participant]  # the original message's, logging addresses left out
    external: list[str]  # addresses outside the organisation that are not users
    direction: str
    user_ids: list[int]  # the users who logged this copy
    subject: str
    private_token: bool  # log+private@
    crm_log_header: str  # X-CRM-Log, lower case
    route_level: str  # the route's privacy level
    # The contacts owning addresses (gateway.crm.repo.address_owners, remembered for the
    # message); None: the rules ask the database themselves.
    owners: Callable[[Collection[str]], dict[str, AddressOwner]] | None = None


class Rule(Protocol):
    name: str
    description: str

    def check(self, facts: Facts, verdict: Verdict) -> None: ...


# The statements every message runs, built once.
_SUPPRESSED = select(Suppression.address_hash, Suppression.reason).where(
    Suppression.address_hash.in_(bindparam("hashes", expanding=True))
)
_NEVER_LOG = select(NeverLog.kind, NeverLog.value).where(
    NeverLog.scope.in_(bindparam("scopes", expanding=True))
)


class Suppressed:
    name = "suppressed"
    description = "People who were erased or object: erased ones are left out, objecting "
    "ones make the message metadata-only."

    def __init__(self, config: Config) -> None:
        self.privacy = config.privacy

    def check(self, facts: Facts, verdict: Verdict) -> None:
        if not facts.external:
            verdict.record(self.name, False)
            return
        key = hash_key(facts.session, self.privacy)
        hashes = {address_hash(key, a): a for a in facts.external}
        rows = core(facts.session).execute(_SUPPRESSED, {"hashes": sorted(hashes)}).all()
        erased = {hashes[h] for h, reason in rows if reason == "erased"}
        verdict.excluded |= erased
        if any(reason == "objected" for _, reason in rows):
            verdict.raise_level("metadata", self.name)
        verdict.record(self.name, bool(rows), "exclude" if erased else "", people=len(rows))


class NeverLogList:
    name = "never_log"
    description = "Addresses and domains on the organisation's never-log list, or on the "
    "list of a user who logged the copy, are left out."

    def __init__(self, config: Config) -> None:
        pass

    def check(self, facts: Facts, verdict: Verdict) -> None:
        scopes = ("org", *(f"user:{uid}" for uid in sorted(set(facts.user_ids))))
        entries = txcache.cached(
            facts.session,
            ("never_log", scopes),
            lambda: facts.session.execute(_NEVER_LOG, {"scopes": list(scopes)}).all(),
        )
        addresses = {v for k, v in entries if k == "address"}
        domains = [v for k, v in entries if k == "domain"]
        hits = {
            p.email
            for p in facts.participants
            if p.email in addresses or _in_domains(domain_of(p.email), domains)
        }
        verdict.excluded |= hits
        verdict.record(self.name, bool(hits), "exclude" if hits else "", people=len(hits))


class PrivateMarker:
    name = "private_marker"
    description = "log+private@, the header X-CRM-Log: private (or: no, always dropped) and "
    "the configured subject tags make a message private."

    def __init__(self, config: Config) -> None:
        self.tags = tuple(t.lower() for t in config.privacy.private_subject_tags)
        self.action = config.privacy.private_action

    def check(self, facts: Facts, verdict: Verdict) -> None:
        if facts.crm_log_header == "no":
            verdict.raise_level("drop", self.name)
            verdict.record(self.name, True, "drop", marker="header")
            return
        subject = facts.subject.lower()
        marker = (
            "address"
            if facts.private_token
            else "header"
            if facts.crm_log_header == "private"
            else "subject"
            if any(tag in subject for tag in self.tags)
            else ""
        )
        if marker:
            verdict.raise_level(self.action, self.name)
        verdict.record(self.name, bool(marker), self.action if marker else "", marker=marker)


class InternalOnly:
    name = "internal_only"
    description = "Mail among the organisation's own people is not logged unless "
    "[privacy] log_internal is on."

    def __init__(self, config: Config) -> None:
        self.log_internal = config.privacy.log_internal

    def check(self, facts: Facts, verdict: Verdict) -> None:
        hit = facts.direction == "internal" and not self.log_internal
        if hit:
            verdict.raise_level("drop", self.name)
        verdict.record(self.name, hit, "drop" if hit else "")


class RouteLevel:
    name = "route_level"
    description = "The privacy level of the route the copy came by ([privacy] level, or the "
    "team inbox's privacy)."

    def __init__(self, config: Config) -> None:
        pass

    def check(self, facts: Facts, verdict: Verdict) -> None:
        hit = facts.route_level != "full"
        if hit:
            verdict.raise_level(facts.route_level, self.name)
        verdict.record(self.name, hit, facts.route_level if hit else "")


class Objection:
    name = "objection"
    description = "A contact who objects (Art. 21) makes the message metadata-only."

    def __init__(self, config: Config) -> None:
        pass

    def check(self, facts: Facts, verdict: Verdict) -> None:
        remaining = [a for a in facts.external if a not in verdict.excluded]
        if remaining and facts.owners is not None:
            owners = facts.owners(remaining)  # the match stage asks about them next
            hit = any(o.objecting for a in remaining if (o := owners.get(a)) is not None)
        else:
            hit = bool(remaining) and self._objecting(facts.session, remaining)
        if hit:
            verdict.raise_level("metadata", self.name)
        verdict.record(self.name, hit, "metadata" if hit else "")

    @staticmethod
    def _objecting(session: Session, remaining: list[str]) -> bool:
        return (
            session.scalar(
                select(ContactEmail.id)
                .join(Contact, Contact.id == ContactEmail.contact_id)
                .where(ContactEmail.email.in_(remaining), Contact.objecting.is_(True))
                .limit(1)
            )
            is not None
        )


class NothingLeft:
    name = "nothing_left"
    description = "When the rules left out every external person, nothing is logged."

    def __init__(self, config: Config) -> None:
        pass

    def check(self, facts: Facts, verdict: Verdict) -> None:
        hit = bool(verdict.excluded) and all(a in verdict.excluded for a in facts.external)
        if hit:
            verdict.raise_level("drop", self.name)
        verdict.record(self.name, hit, "drop" if hit else "")


RULE_TYPES: dict[str, Callable[[Config], Rule]] = {
    rule.name: rule
    for rule in (
        Suppressed,
        NeverLogList,
        PrivateMarker,
        InternalOnly,
        RouteLevel,
        Objection,
        NothingLeft,
    )
}
# The order is data: exclusions first, so the later rules see who is left.
RULES = (
    "suppressed",
    "never_log",
    "private_marker",
    "internal_only",
    "route_level",
    "objection",
    "nothing_left",
)


def external_addresses(
    participants: list[Participant], org_domains: Collection[str], users: Collection[str]
) -> list[str]:
    seen: dict[str, None] = {}
    for p in participants:
        if not is_internal(p.email, org_domains) and p.email not in users:
            seen[p.email] = None
    return list(seen)


def _in_domains(domain: str, domains: Collection[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in domains)
