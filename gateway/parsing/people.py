"""Names and directions: who the people on a message are relative to the organisation."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.addresses import domain_of


def split_name(display_name: str) -> tuple[str, str]:
    """(first, last) from a display name: ``Anna Kowalska``, ``Kowalska, Anna``, ``Anna``."""
    name = " ".join(display_name.replace('"', " ").split())
    if "@" in name or not name:
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
