"""TXT lookups for DKIM keys, with a hard line between "no key" and "ask again later".

dkimpy turns every DNS problem it knows about into a ``False`` verdict. A resolver outage must
not fail genuine mail, so a temporary failure here raises :class:`TemporaryDNSError`, which is
deliberately *not* a ``dkim.DKIMException``: dkimpy lets it through and the worker retries the
message later (RFC 6376 §6.1.2: a temporary key-retrieval failure is TEMPFAIL, not PERMFAIL).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from dns.rdtypes.txtbase import TXTBase

DEFAULT_PORT = 53

# Answers that say "there is no such key": a permanent result, cached by nobody but DNS itself.
# A name dnspython cannot even build (an empty label from ``d=example.com.``, a label over 63
# octets) cannot hold a key either.
_NO_KEY = (
    dns.resolver.NXDOMAIN,
    dns.resolver.NoAnswer,
    dns.resolver.YXDOMAIN,
    dns.exception.SyntaxError,
    dns.name.NameTooLong,
)


class TemporaryDNSError(Exception):
    """A DNS failure that is not a verdict: timeout, SERVFAIL, no server answered, network error.

    The message is a fixed phrase; the name looked up comes from the message and stays out.
    """


def make_txt_lookup(
    nameservers: tuple[str, ...] = (), timeout: float = 5.0
) -> Callable[..., bytes]:
    """A dkimpy-compatible ``dnsfunc``: ``lookup(name, timeout=5) -> bytes``.

    ``nameservers`` are ``"IP"``, ``"IP:PORT"`` or ``"[IPv6]:PORT"``; empty means the system
    resolver configuration. ``timeout`` bounds the whole lookup (all retries); the ``timeout``
    dkimpy passes (a hard-coded 5) is ignored so the site's setting wins.
    """
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = [_nameserver(entry) for entry in nameservers]
    resolver.timeout = resolver.lifetime = timeout

    def lookup(name: bytes | str, timeout: float | None = None) -> bytes:
        return _txt(resolver, name)

    return lookup


def _nameserver(entry: str) -> dns.nameserver.Nameserver:
    """Parse ``IP``, ``IP:PORT`` or ``[IPv6]:PORT``; raise ``ValueError`` on anything else."""
    host, port = entry.strip(), DEFAULT_PORT
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), entry)
    elif host.count(":") == 1:
        host, _, text = host.partition(":")
        port = _port(text, entry)
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"nameserver {entry!r} is not an IP address") from None
    return dns.nameserver.Do53Nameserver(address, port)


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"nameserver {entry!r} has an invalid port")
    return int(text)


def _txt(resolver: dns.resolver.Resolver, name: bytes | str) -> bytes:
    """The first TXT record's strings joined; ``b""`` when the name has none."""
    # Bytes are taken as raw labels, never IDNA-converted: the name queried is the one signed.
    raw = name.encode("utf-8") if isinstance(name, str) else name
    try:
        answer = resolver.resolve(dns.name.from_text(raw), dns.rdatatype.TXT, search=False)
    except _NO_KEY:
        return b""
    except dns.exception.Timeout:
        raise TemporaryDNSError("DNS timeout") from None
    except dns.resolver.NoNameservers:
        raise TemporaryDNSError("no nameserver answered (SERVFAIL or refused)") from None
    except (dns.exception.DNSException, OSError):
        raise TemporaryDNSError("DNS lookup failed") from None
    for rdata in answer:
        if isinstance(rdata, TXTBase):
            return b"".join(rdata.strings)
    return b""
