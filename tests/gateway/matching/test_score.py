"""Confidence scores: the anchors of the formula, reasons and ranking."""

from __future__ import annotations

import pytest

from gateway.matching.score import (
    MAX_FUZZY_CONFIDENCE,
    CandidateRecord,
    Probe,
    Score,
    rank,
    score,
)

PHONE = "+48221234567"


def probe(
    name: str = "Anna Kowalska",
    *,
    email: str = "x7@acme.pl",
    domain: str | None = None,
    phones: frozenset[str] = frozenset(),
    company: str = "",
    source: str = "display",
) -> Probe:
    return Probe(email, name, source, domain, phones, company)


def contact(
    name: str = "Anna Kowalska",
    *,
    contact_id: int = 1,
    domains: frozenset[str] = frozenset(),
    phones: frozenset[str] = frozenset(),
    company: str = "",
) -> CandidateRecord:
    return CandidateRecord(contact_id, name, domains, phones, company)


ACME = frozenset({"acme.pl"})


@pytest.mark.parametrize(
    ("p", "c", "low", "high"),
    [
        # exact name only
        (probe(), contact(), 0.70, 0.70),
        # exact name + company name only
        (probe(company="ACME Sp. z o.o."), contact(company="Acme"), 0.85, 0.85),
        # exact name + same company domain: above the default auto-link threshold 0.92
        (probe(domain="acme.pl"), contact(domains=ACME), 0.94, 0.95),
        # exact name + same phone
        (probe(phones=frozenset({PHONE})), contact(phones=frozenset({PHONE})), 0.96, 0.97),
        # everything agrees: capped below the exact-email 1.0
        (
            probe(
                email="anna.kowalska@acme.pl",
                domain="acme.pl",
                phones=frozenset({PHONE}),
                company="Acme",
            ),
            contact(domains=ACME, phones=frozenset({PHONE}), company="Acme"),
            MAX_FUZZY_CONFIDENCE,
            MAX_FUZZY_CONFIDENCE,
        ),
        # name 0.9 (initial) + domain: a suggestion, not an auto-link
        (probe("A. Kowalska", domain="acme.pl"), contact(domains=ACME), 0.6, 0.9199),
        # shared switchboard: same phone, different person
        (
            probe("Piotr Nowak", phones=frozenset({PHONE})),
            contact(phones=frozenset({PHONE})),
            0.0,
            0.5999,
        ),
        # two colleagues at one domain
        (probe("Anna Nowak", domain="acme.pl"), contact(domains=ACME), 0.0, 0.5999),
        # gender variant at one domain stays below auto-link
        (probe("Jan Kowalski", domain="acme.pl"), contact("Jan Kowalska", domains=ACME), 0.6, 0.9),
        # no name: evidence alone does not identify a person
        (probe("", domain="acme.pl"), contact(domains=ACME), 0.0, 0.0),
        # a first name alone proves little even with the domain
        (probe("Anna", domain="acme.pl"), contact("Anna", domains=ACME), 0.5, 0.6),
    ],
)
def test_anchors(p: Probe, c: CandidateRecord, low: float, high: float) -> None:
    confidence = score(p, c).confidence
    assert low <= confidence <= high
    assert confidence < 1.0


def test_exact_values() -> None:
    assert score(probe(), contact()).confidence == 0.7
    assert score(probe(domain="acme.pl"), contact(domains=ACME)).confidence == 0.949
    phones = frozenset({PHONE})
    assert score(probe(phones=phones), contact(phones=phones)).confidence == 0.97
    # address spells the name: 1 - 0.3 * 0.8
    assert score(probe(email="akowalska@gmail.com"), contact()).confidence == 0.76


def test_free_mail_domain_is_no_evidence() -> None:
    free = frozenset({"gmail.com"})
    result = score(probe(email="x7@gmail.com", domain=None), contact(domains=free))
    assert result.confidence == 0.7
    assert "same company domain" not in result.reasons


@pytest.mark.parametrize(
    ("p", "c", "reasons"),
    [
        (probe(), contact(), ("name 1.00",)),
        (
            probe(
                "Anna Kowalska",
                email="anna.kowalska@acme.pl",
                domain="acme.pl",
                phones=frozenset({PHONE}),
                company="Acme",
                source="signature",
            ),
            contact(domains=ACME, phones=frozenset({PHONE}), company="ACME S.A."),
            (
                "name 1.00",
                "same company domain",
                "same phone",
                "same company name",
                "address matches name",
                "name from signature",
            ),
        ),
        (
            probe("anna kowalska", email="anna.kowalska@gmail.com", source="address"),
            contact(),
            ("name 1.00", "address matches name", "name from address"),
        ),
        (probe("A. Kowalska"), contact(), ("name 0.90",)),
        (probe("", domain="acme.pl"), contact(domains=ACME), ("same company domain",)),
        (probe(company="Globex"), contact(company="Acme"), ("name 1.00",)),
    ],
)
def test_reasons(p: Probe, c: CandidateRecord, reasons: tuple[str, ...]) -> None:
    assert score(p, c).reasons == reasons


def test_score_carries_the_contact_id_and_name() -> None:
    assert score(probe(), contact(contact_id=42)) == Score(42, 0.7, ("name 1.00",), "Anna Kowalska")


def test_rank_best_first_then_lower_id() -> None:
    p = probe("Anna Kowalska", domain="acme.pl")
    candidates = [
        contact("Anna Nowak", contact_id=1, domains=ACME),
        contact("Anna Kowalska", contact_id=9),
        contact("Anna Kowalska", contact_id=7, domains=ACME),
        contact("Anna Kowalska", contact_id=3),
    ]
    ranked = rank(p, iter(candidates))
    assert [s.contact_id for s in ranked] == [7, 3, 9, 1]
    assert [s.confidence for s in ranked][:3] == [0.949, 0.7, 0.7]
    assert rank(p, []) == []
