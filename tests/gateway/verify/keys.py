"""Real DKIM keys, real signatures and injected DNS answers: one place for every test suite.

Keys are generated (``cryptography`` for RSA, PyNaCl for ed25519) and cached per process;
signatures come from dkimpy itself, so what the tests verify is what a real signer produces.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import dkim
import nacl.encoding
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.verify import TemporaryDNSError

SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id")
EXPONENT = 65537


@dataclass(frozen=True)
class Key:
    """A signing key and the TXT record that publishes it."""

    domain: str
    selector: str
    algorithm: bytes  # the a= value dkim.sign writes
    private: bytes  # PEM for RSA, the base64 seed for ed25519: what dkim.sign takes
    record: bytes  # "v=DKIM1; k=...; p=..."

    @property
    def name(self) -> str:
        """The DNS name the record is published under."""
        return f"{self.selector}._domainkey.{self.domain}".lower()

    def revoked(self) -> Key:
        """The same key with its record revoked (empty p=, RFC 6376 §3.6.1)."""
        kind = b"ed25519" if self.algorithm == b"ed25519-sha256" else b"rsa"
        return replace(self, record=b"v=DKIM1; k=" + kind + b"; p=")


def rsa_key(domain: str = "example.com", selector: str = "sel", bits: int = 2048) -> Key:
    """An RSA key for ``domain`` (one key per domain and size, generated once per process)."""
    private = _rsa_private(bits, domain)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(spki)
    return Key(domain, selector, b"rsa-sha256", pem, record)


def ed25519_key(domain: str = "example.com", selector: str = "ed") -> Key:
    """An ed25519 key (RFC 8463): the private seed and the raw public key, base64."""
    seed = _ed25519_seed(domain)
    public = nacl.signing.SigningKey(seed).verify_key.encode(nacl.encoding.Base64Encoder)
    record = b"v=DKIM1; k=ed25519; p=" + public
    return Key(domain, selector, b"ed25519-sha256", base64.b64encode(seed), record)


class FakeDNS:
    """A dkimpy ``dnsfunc`` answering from a dict of name -> TXT; it records every name asked."""

    def __init__(
        self,
        *keys: Key,
        records: Mapping[str, bytes] | None = None,
        failing: Iterable[str] = (),
    ) -> None:
        self.records = {key.name: key.record for key in keys}
        self.records.update({name.lower(): value for name, value in (records or {}).items()})
        self.failing = {name.lower() for name in failing}
        self.queries: list[str] = []

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes:
        text = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        text = text.rstrip(".").lower()
        self.queries.append(text)
        if text in self.failing:
            raise TemporaryDNSError("DNS timeout")
        return self.records.get(text, b"")


def make_message(
    sender: str = "Anna Nowak <anna@example.com>",
    subject: str = "Offer",
    body: str = "Hello,\r\n\r\nthe offer is attached.\r\n",
) -> bytes:
    """A small CRLF message, built by hand so its bytes are exactly what gets signed."""
    headers = (
        f"From: {sender}",
        "To: Jan Kowalski <jan@acme.pl>",
        f"Subject: {subject}",
        "Date: Mon, 02 Nov 2026 09:30:00 +0000",
        "Message-ID: <offer-1@example.com>",
    )
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


def signature(
    message: bytes,
    key: Key,
    *,
    domain: str | None = None,
    algorithm: bytes | None = None,
    length: bool = False,
    include: Iterable[bytes] = SIGNED_HEADERS,
) -> bytes:
    """The DKIM-Signature header ``dkim.sign`` makes for ``message`` (CRLF-terminated)."""
    header = dkim.sign(
        message,
        key.selector.encode(),
        (domain or key.domain).encode(),
        key.private,
        signature_algorithm=algorithm or key.algorithm,
        include_headers=list(include),
        length=length,
    )
    return bytes(header)


def sign(message: bytes, key: Key, **options: Any) -> bytes:
    """``message`` with its DKIM-Signature prepended (options as for :func:`signature`)."""
    return signature(message, key, **options) + message


def sign_with_tags(message: bytes, key: Key, **tags: bytes) -> bytes:
    """Like :func:`sign`, with tags ``dkim.sign`` cannot write (``x=``, an ``h=`` without From,
    an ``a=`` that does not match the key). dkimpy's own header generator computes ``b=``, so
    the signature is real; ``tags`` override or add tag values by name."""
    signer = dkim.DKIM(message, signature_algorithm=key.algorithm)
    canon = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    body_hash = hashlib.sha256(canon.canonicalize_body(signer.body)).digest()
    fields = {
        b"v": b"1",
        b"a": key.algorithm,
        b"c": b"relaxed/simple",
        b"d": key.domain.encode(),
        b"s": key.selector.encode(),
        b"t": str(int(time.time())).encode(),
        b"h": b" : ".join(SIGNED_HEADERS),
        b"bh": base64.b64encode(body_hash),
    }
    fields.update({name.encode(): value for name, value in tags.items()})
    fields[b"b"] = b""  # filled in by gen_header; must be the last tag
    include = [name.strip().lower() for name in fields[b"h"].split(b":")]
    signer.hasher = hashlib.sha256
    header = signer.gen_header(
        list(fields.items()), include, canon, b"DKIM-Signature", _signing_key(key)
    )
    return b"DKIM-Signature: " + bytes(header) + message


def _signing_key(key: Key) -> object:
    if key.algorithm == b"ed25519-sha256":
        return nacl.signing.SigningKey(key.private, encoder=nacl.encoding.Base64Encoder)
    return dkim.crypto.parse_pem_private_key(key.private)


@functools.cache
def _rsa_private(bits: int, domain: str) -> rsa.RSAPrivateKey:
    if bits >= 1024:
        return rsa.generate_private_key(public_exponent=EXPONENT, key_size=bits)
    # cryptography refuses to generate keys under 1024 bits; build one from two primes.
    p, q = _prime(bits // 2), _prime(bits - bits // 2)
    d = pow(EXPONENT, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(EXPONENT, p * q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public)
    return numbers.private_key()


@functools.cache
def _ed25519_seed(domain: str) -> bytes:
    return secrets.token_bytes(32)


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if candidate % EXPONENT != 1 and _probably_prime(candidate):
            return candidate


def _probably_prime(n: int, rounds: int = 40) -> bool:
    """Miller-Rabin; plenty for a throwaway test key."""
    if any(n % p == 0 for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True
