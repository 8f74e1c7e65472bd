"""Confidence that an unknown participant is an existing contact.

This docstring is the single explanation of the confidence value.

    n        = name_similarity(probe.name, candidate.name)      (0 when the probe has no name)
    evidence = 1 - (1 - 0.70)
                 * (1 - 0.83 * D)    D: the probe's company domain is one of the contact's domains
                 * (1 - 0.90 * P)    P: a phone from the probe's own signature is the contact's
                 * (1 - 0.50 * C)    C: company names agree (token-set ratio of folded names >= 90)
                 * (1 - 0.20 * L)    L: the probe's address spells the contact's name
    confidence = min(0.99, evidence * n**2), rounded to 3 decimals

Each piece of evidence removes a fixed share of the remaining doubt, starting from 0.70 for a
name alone; the name then scales everything quadratically, so strong evidence cannot rescue a
different person's name (a shared switchboard phone, two colleagues at one domain). Anchors with
an identical name: name only 0.70, + company name 0.85, + company domain 0.949 (above the default
auto-link threshold 0.92), + phone 0.97. 1.0 is reserved for an exact email match, so fuzzy
confidence never exceeds ``MAX_FUZZY_CONFIDENCE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz

from gateway.matching.names import address_matches_name, fold, name_similarity

MAX_FUZZY_CONFIDENCE = 0.99
NAME_ONLY = 0.70
DOMAIN_WEIGHT = 0.83
PHONE_WEIGHT = 0.90
COMPANY_WEIGHT = 0.50
ADDRESS_WEIGHT = 0.20
COMPANY_RATIO = 90
PLAUSIBLE_NAME = 0.5


@dataclass(frozen=True)
class Probe:
    """What we know about an unknown participant."""

    email: str  # normalised address
    name: str  # best available name ("" if none)
    name_source: str  # "display" | "signature" | "address" | ""
    domain: str | None  # company domain of the address; None for free-mail
    phones: frozenset[str] = frozenset()  # E.164 from the participant's own signature
    company: str = ""  # company name from the participant's own signature


@dataclass(frozen=True)
class CandidateRecord:
    """An existing contact, as the directory returns it."""

    contact_id: int
    name: str
    domains: frozenset[str]  # company domains + domains of its non-free-mail emails
    phones: frozenset[str]
    company: str = ""


@dataclass(frozen=True)
class Score:
    """Confidence (never 1.0) that the probe is the contact, and why."""

    contact_id: int
    confidence: float
    reasons: tuple[str, ...]
    name: str = ""  # the contact's, as the directory read it


def same_company(a: str, b: str) -> bool:
    """Whether two company names agree ("ACME Sp. z o.o." and "Acme")."""
    fa, fb = fold(a), fold(b)
    return bool(fa and fb) and fuzz.token_set_ratio(fa, fb) >= COMPANY_RATIO


def score(probe: Probe, candidate: CandidateRecord) -> Score:
    """The confidence that ``probe`` is ``candidate`` (see the module docstring)."""
    n = name_similarity(probe.name, candidate.name) if probe.name else 0.0
    doubt = 1 - NAME_ONLY
    reasons: list[str] = [f"name {n:.2f}"] if n > 0 else []
    if probe.domain is not None and probe.domain in candidate.domains:
        doubt *= 1 - DOMAIN_WEIGHT
        reasons.append("same company domain")
    if probe.phones & candidate.phones:
        doubt *= 1 - PHONE_WEIGHT
        reasons.append("same phone")
    # The weak signals cannot lift a different person's name to anything that matters
    # (n < 0.5 keeps the confidence under 0.25): they are only read for plausible names.
    plausible = n >= PLAUSIBLE_NAME
    if plausible and same_company(probe.company, candidate.company):
        doubt *= 1 - COMPANY_WEIGHT
        reasons.append("same company name")
    if plausible and address_matches_name(probe.email, candidate.name):
        doubt *= 1 - ADDRESS_WEIGHT
        reasons.append("address matches name")
    if probe.name_source in ("signature", "address"):
        reasons.append(f"name from {probe.name_source}")
    confidence = min(MAX_FUZZY_CONFIDENCE, (1 - doubt) * n**2)
    return Score(candidate.contact_id, round(confidence, 3), tuple(reasons), candidate.name)


def rank(probe: Probe, candidates: Iterable[CandidateRecord]) -> list[Score]:
    """Scores of all candidates, best first; equal confidence by lower contact id."""
    scores = [score(probe, candidate) for candidate in candidates]
    return sorted(scores, key=lambda s: (-s.confidence, s.contact_id))
