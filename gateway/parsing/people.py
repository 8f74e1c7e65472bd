"""Names and directions: who the people on a message are relative to the organisation."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.addresses import domain_of

# What mail clients and lists add to a person's display name: "(ACME)", "[EXT]",
# "| ACME Sp. z o.o.", " - Sales", "via Support", ", PhD".
_BRACKETED = re.compile(r"\([^)]{0,100}\)|\[[^\]]{0,100}\]|<[^>]{0,200}>")
_TRAILER = re.compile(r"\s(?:\||-|–|—|/|via|@)\s.*$", re.IGNORECASE)
_QUOTE = re.compile(r"(?:^|(?<=\s))'|'(?=\s|$)")  # quotes around a name, not O'Brien's
_DEGREE = re.compile(
    r",\s*(?:ph\.?\s?d|mba|msc|m\.sc|md|dr|jr|sr|ii|iii|esq|cpa)\.?\s*$", re.IGNORECASE
)


def clean_display_name(display_name: str) -> str:
    """A person's name as a display name carries it, without what clients and lists add:
    ``"Anna Kowalska (ACME)"``, ``Anna Kowalska | ACME``, ``'Anna Kowalska' via Sales``,
    ``Anna Kowalska, PhD`` all give ``Anna Kowalska``. An all-capitals or all-lower-case
    name is title-cased. "" when it is an address rather than a name."""
    name = _QUOTE.sub(" ", display_name[:300].replace('"', " "))
    name = _BRACKETED.sub(" ", name)
    name = _TRAILER.sub("", name)
    name = _DEGREE.sub("", " ".join(name.split())).strip(" ,;")
    if "@" in name or not any(ch.isalpha() for ch in name):
        return ""
    if name.isupper() or name.islower():
        name = name.title()
    return name


def split_name(display_name: str) -> tuple[str, str]:
    """(first, last) from a display name: ``Anna Kowalska``, ``Kowalska, Anna``, ``Anna``."""
    name = clean_display_name(display_name)
    if not name:
        return "", ""
    if name.count(",") == 1:
        last, first = (part.strip() for part in name.split(","))
        if first and last:
            return first, last
    first, _, last = name.partition(" ")
    return first, last


def is_internal(address: str, org_domains: Iterable[str]) -> bool:
    """True when ``address`` belongs to one of the organisation's domains or their subdomains."""
    domain = domain_of(address)
    return any(domain == d or domain.endswith("." + d) for d in org_domains)


def direction(sender: str, others: Iterable[str], org_domains: Iterable[str]) -> str:
    """``outbound`` (org → outside), ``inbound`` (outside → org) or ``internal``."""
    domains = tuple(org_domains)
    if not is_internal(sender, domains):
        return "inbound"
    if any(not is_internal(address, domains) for address in others):
        return "outbound"
    return "internal"
