"""Who is this participant? One decision per external address, with its reason.

1. exact address (primary or secondary) → ``linked``, confidence 1.0;
2. role addresses, bulk mail and auto-replies stop here → ``ignored`` with the reason;
3. candidates by index, scored (:mod:`gateway.matching.score`): at or above ``auto_link``
   with a clear lead over the runner-up → ``auto_linked`` (the address joins the contact);
   at or above ``suggest`` → ``suggested`` ("same person?" in the review queue);
4. otherwise the creation policy: ``created``, ``pending`` (a "new contact?" question) or
   ``ignored``.

A question already answered is not asked again: a rejected "same person?" goes on to the
creation policy, a rejected "new contact?" leaves the address alone. Deciding only reads the
database; :mod:`gateway.pipeline.log` applies the decisions in the message's transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from gateway.addresses import domain_of
from gateway.config import Config
from gateway.crm import linking, questions
from gateway.matching.directory import Directory
from gateway.matching.names import name_from_address, name_tokens
from gateway.matching.policy import MessageFlags, creation_block
from gateway.matching.score import MAX_FUZZY_CONFIDENCE, Probe, Score, rank
from gateway.parsing import Participant, clean_display_name, split_name
from gateway.parsing.signatures import Signature

# The best candidate must lead the runner-up by this much to be linked without asking.
AUTO_LINK_MARGIN = 0.05
MAX_SUGGESTIONS = 5


@dataclass(frozen=True)
class NewContact:
    """What bccrm would create for an unknown person (or proposes, in the review queue)."""

    email: str
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    company: str = ""  # as the signature names it
    phones: tuple[str, ...] = ()
    company_domain: str | None = None  # None for free-mail addresses

    def fields(self) -> dict[str, Any]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "title": self.title,
            "company": self.company,
            "phones": list(self.phones),
        }


@dataclass
class Decision:
    email: str
    outcome: str  # one of gateway.crm.linking.OUTCOMES
    reason: str
    contact_id: int | None = None
    confidence: float | None = None
    candidates: tuple[Score, ...] = ()
    new: NewContact | None = None
    signature: Signature | None = None  # the participant's own signature, if it wrote one
    name: str = ""
    notes: list[str] = field(default_factory=list)


class Resolver:
    def __init__(self, config: Config, session: Session) -> None:
        self.matching = config.matching
        self.org_domains = config.organization.domains
        self.free_mail = frozenset(config.organization.free_mail_domains)
        self.session = session
        self.directory = Directory(session, self.free_mail)

    def resolve(
        self, participant: Participant, signature: Signature | None, flags: MessageFlags
    ) -> Decision:
        address = participant.email
        name, source = self._name(participant, signature)
        probe = Probe(
            email=address,
            name=name,
            name_source=source,
            domain=self.company_domain(address),
            phones=frozenset(signature.phones) if signature else frozenset(),
            company=signature.company if signature else "",
        )
        base = Decision(email=address, outcome="", reason="", signature=signature, name=name)
        contact_id = self.directory.exact(address)
        if contact_id is not None:
            return replace(base, outcome=linking.LINKED, reason="exact email",
                            contact_id=contact_id, confidence=1.0)  # fmt: skip
        blocked = creation_block(
            address,
            flags,
            role_addresses=self.matching.role_addresses,
            org_domains=self.org_domains,
            name=clean_display_name(participant.name),
        )
        if blocked is not None:
            return replace(base, outcome=linking.IGNORED, reason=blocked)
        new = self._proposal(probe, signature)
        # confidence <= 0.99 * name similarity ** 2 (score.py): names below this cannot reach
        # "suggest", so their records are not even read.
        floor = math.sqrt(self.matching.suggest / MAX_FUZZY_CONFIDENCE)
        scores = rank(probe, self.directory.candidates(probe, min_similarity=floor)) if name else []
        decision = self._fuzzy(scores, base, new)
        if decision is not None:
            return decision
        return self._create(base, new)

    def company_domain(self, address: str) -> str | None:
        domain = domain_of(address)
        return None if domain in self.free_mail else domain

    def _fuzzy(self, scores: list[Score], base: Decision, new: NewContact) -> Decision | None:
        if not scores or scores[0].confidence < self.matching.suggest:
            return None
        best = scores[0]
        runner_up = scores[1].confidence if len(scores) > 1 else 0.0
        if best.confidence >= self.matching.auto_link and best.confidence - runner_up >= (
            AUTO_LINK_MARGIN
        ):
            return replace(
                base,
                outcome=linking.AUTO_LINKED,
                reason=", ".join(best.reasons),
                contact_id=best.contact_id,
                confidence=best.confidence,
                candidates=(best,),
            )
        asked = questions.existing(self.session, questions.same_person_key(base.email))
        if asked is not None and asked.status == "rejected":
            return None  # a person said "not the same": treat as a new person
        shortlist = tuple(s for s in scores if s.confidence >= self.matching.suggest)
        return replace(
            base,
            outcome=linking.SUGGESTED,
            reason="same person? " + ", ".join(best.reasons),
            confidence=best.confidence,
            candidates=shortlist[:MAX_SUGGESTIONS],
            new=new,
        )

    def _create(self, base: Decision, new: NewContact) -> Decision:
        policy = self.matching.create_contacts
        if policy == "never":
            return replace(base, outcome=linking.IGNORED, reason="contact creation disabled")
        if policy == "review":
            asked = questions.existing(self.session, questions.new_contact_key(base.email))
            if asked is not None and asked.status == "rejected":
                return replace(base, outcome=linking.IGNORED, reason="rejected in review")
            return replace(base, outcome=linking.PENDING, reason="new contact?", new=new)
        return replace(base, outcome=linking.CREATED, reason="new contact", new=new)

    def _name(self, participant: Participant, signature: Signature | None) -> tuple[str, str]:
        """The best name for the person: a full display name, the signature's, a one-word
        display name completed from the address ("Anna" <a.kowalska@>: "Anna Kowalska"), a
        name read from the address, or a one-word display name."""
        display = clean_display_name(participant.name)
        tokens = name_tokens(display)
        if len(tokens) >= 2:
            return display, "display"
        if signature is not None and len(name_tokens(signature.name)) >= 2:
            return clean_display_name(signature.name), "signature"
        guessed = name_from_address(participant.email).split()
        if len(guessed) > 1:
            first, last = guessed[0], " ".join(guessed[1:])
            if not tokens:
                return clean_display_name(f"{first} {last}"), "address"
            initial = (name_tokens(first) or ("",))[0][:1]
            if initial and initial == tokens[0][:1] and len(display.split()) == 1:
                return f"{display} {clean_display_name(last)}", "address"
        return (display, "display") if tokens else ("", "")

    def _proposal(self, probe: Probe, signature: Signature | None) -> NewContact:
        first, last = split_name(probe.name)
        return NewContact(
            email=probe.email,
            first_name=first[:150],
            last_name=last[:150],
            title=(signature.title if signature else "")[:200],
            company=(signature.company if signature else "")[:300],
            phones=tuple(signature.phones) if signature else (),
            company_domain=probe.domain,
        )
