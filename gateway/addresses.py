"""Email address normalisation, shared by the edge, the pipeline and the CRM.

One canonical form everywhere: the domain lower-cased, trailing dot removed and IDNA-encoded
(so ``Ąę.PL`` and ``xn--2da4b.pl`` are the same domain), the local part lower-cased. RFC 5321
lets local parts be case-sensitive, but no CRM or mail provider treats them so, and matching
``Anna@`` and ``anna@`` as different people would create duplicate contacts.
"""

from __future__ import annotations

import re
import unicodedata

# Dot-atom local parts (RFC 5322) widened to UTF-8 (RFC 6531: "łukasz@" is a valid mailbox).
# Quoted local parts are not accepted: no CRM record or rep address needs them.
_LOCAL_RE = re.compile(r"^[^\s\x00-\x1f\x7f()<>\[\]:;@\\,\"]{1,64}$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(domain: str) -> str:
    """Canonical ASCII form of a domain; raise ``ValueError`` when it is not a valid name."""
    text = domain.strip().rstrip(".").lower()
    if not text:
        raise ValueError(f"{domain!r} is not a domain name")
    try:
        ascii_form = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{domain!r} is not a valid domain name") from None
    labels = ascii_form.split(".")
    if len(ascii_form) > 253 or len(labels) < 2 or not all(_LABEL_RE.match(x) for x in labels):
        raise ValueError(f"{domain!r} is not a valid domain name")
    return ascii_form


def normalize_address(address: str) -> str | None:
    """Canonical form of ``local@domain``, or ``None`` when it is not a usable address."""
    text = unicodedata.normalize("NFC", address.strip().strip("<>").strip())
    local, sep, domain = text.rpartition("@")
    if not sep or not _LOCAL_RE.match(local) or local.startswith(".") or ".." in local:
        return None
    try:
        return f"{local.lower()}@{normalize_domain(domain)}"
    except ValueError:
        return None


def domain_of(address: str) -> str:
    """The domain part of a normalised address."""
    return address.rpartition("@")[2]


def base_address(address: str) -> tuple[str, str | None]:
    """Split ``log+tag@d`` into (``log@d``, ``tag``); ``tag`` is ``None`` without a ``+``."""
    local, _, domain = address.rpartition("@")
    base, plus, tag = local.partition("+")
    return f"{base}@{domain}", (tag if plus else None)


def mask_address(address: str) -> str:
    """A form safe for INFO logs: ``a***@example.com``."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"
