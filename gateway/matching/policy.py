"""Who must never become a contact: our own people, role mailboxes and machine mail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.matching.names import fold

DEFAULT_ROLE_ADDRESSES: tuple[str, ...] = (
    "info", "sales", "support", "noreply", "no-reply", "donotreply", "do-not-reply",
    "mailer-daemon", "postmaster", "admin", "administrator", "office", "biuro", "kontakt",
    "contact", "hello", "hr", "jobs", "careers", "praca", "rekrutacja", "billing", "invoices",
    "faktury", "ksiegowosc", "accounts", "newsletter", "news", "marketing", "notifications",
    "notification", "alerts", "bounce", "bounces", "abuse", "security", "webmaster", "help",
    "helpdesk", "service", "serwis", "team", "reply", "root", "hostmaster", "sekretariat",
    "zamowienia", "orders", "feedback", "privacy", "legal", "compliance", "press", "media",
    "bok", "obsluga", "reklamacje", "recepcja", "handel", "oferty", "cs", "customerservice",
    "customercare", "enquiries", "inquiries", "reservations", "booking", "vertrieb", "einkauf",
    "kundenservice", "ventas", "contacto", "commercial", "accounting", "finance", "purchasing",
)  # fmt: skip
"""Local parts of role mailboxes (lower case, without +tags)."""

ROLE_PREFIXES: tuple[str, ...] = (
    "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "bounce", "mailer-daemon",
)  # fmt: skip
"""Local-part prefixes that are always machine senders ("noreply-billing", "bounces+123")."""


ROLE_NAME_WORDS = frozenset(
    (
        "biuro", "dzial", "obsluga", "zespol", "recepcja", "sekretariat", "ksiegowosc",
        "team", "support", "service", "customer", "sales", "helpdesk", "newsletter",
        "notifications", "noreply", "kundenservice", "kundendienst", "vertrieb", "equipo",
        "servicio", "equipe", "department", "office", "administration",
    )
)  # fmt: skip
"""Folded words that make a display name a mailbox's, not a person's ("Biuro Obsługi Klienta",
"ACME Support Team", "Kundenservice")."""


@dataclass(frozen=True)
class MessageFlags:
    """What the classifier found out about the message the address came in."""

    bulk: bool = False
    auto_generated: bool = False
    bounce: bool = False


def _split(email: str) -> tuple[str, str]:
    """Lower-cased local part without its +tag, and lower-cased domain ("" if none)."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at:
        local, domain = domain, ""
    return local.split("+", 1)[0], domain.rstrip(".")


def is_role_address(email: str, role_addresses: Iterable[str]) -> bool:
    """Whether the address is a role mailbox (info@, biuro@, noreply-x@) rather than a person."""
    local, _ = _split(email)
    if local.startswith(ROLE_PREFIXES):
        return True
    return local in {role.strip().lower() for role in role_addresses}


def is_role_name(display_name: str) -> bool:
    """Whether a display name names a team or mailbox rather than a person."""
    return any(word in ROLE_NAME_WORDS for word in fold(display_name).split())


def _is_own_domain(domain: str, org_domains: Iterable[str]) -> bool:
    for raw in org_domains:
        org = raw.strip().lower().strip(".")
        if org and (domain == org or domain.endswith("." + org)):
            return True
    return False


def creation_block(
    email: str,
    flags: MessageFlags,
    *,
    role_addresses: Iterable[str],
    org_domains: Iterable[str],
    name: str = "",
) -> str | None:
    """Why no contact may be created for ``email`` ("own domain", "role address", "bounce",
    "bulk mail", "auto-reply"), or ``None`` when one may. ``name`` is the display name: a
    team's ("Biuro Obsługi Klienta") makes the address a role too."""
    _, domain = _split(email)
    if domain and _is_own_domain(domain, org_domains):
        return "own domain"
    if is_role_address(email, role_addresses) or is_role_name(name):
        return "role address"
    if flags.bounce:
        return "bounce"
    if flags.bulk:
        return "bulk mail"
    if flags.auto_generated:
        return "auto-reply"
    return None
