"""One alignment rule for every DKIM source: our own verification and trusted A-R headers.

Relaxed alignment (RFC 7489 §3.1.1, without the Public Suffix List): the signing domain is the
author's domain or a parent of it. Labels are compared whole, so neither ``evil-example.com``
nor ``example.com.evil.test`` aligns with ``example.com``. Both sides go through the project's
canonical form (lower case, trailing dot dropped, IDNA), the same one the From address gets.
"""

from __future__ import annotations

from gateway.addresses import normalize_domain


def canonical_signer(value: str) -> str | None:
    """Canonical form of a ``d=`` / ``header.d`` value; ``None`` when it can align with nothing.

    Only ASCII (A-label) signing domains count: the key a verifier fetches for a U-label ``d=``
    depends on its IDNA version (IDNA 2003 maps ``ß`` to ``ss``, IDNA 2008 keeps it), so
    comparing the U-label with the author's domain could compare two different DNS names.
    ``normalize_domain`` also refuses single labels, so a bare TLD never aligns.
    """
    if not value.isascii():
        return None
    try:
        return normalize_domain(value)
    except ValueError:
        return None


def canonical_author(value: str) -> str | None:
    """Canonical form of the From domain, or ``None`` when it is not a valid domain name."""
    try:
        return normalize_domain(value)
    except ValueError:
        return None


def aligned(signing_domain: str, author_domain: str) -> bool:
    """True when ``signing_domain`` is ``author_domain`` or a parent of it (whole labels)."""
    signer, owner = canonical_signer(signing_domain), canonical_author(author_domain)
    if signer is None or owner is None:
        return False
    return owner == signer or owner.endswith("." + signer)
