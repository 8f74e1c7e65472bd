"""DKIM verification that answers "did the author's domain vouch for this message?".

``dkim.verify()`` alone is not that answer: it checks only the first signature, ignores the
From domain, honours ``l=`` (anything appended after the signed length passes) and accepts
rsa-sha1. Here every DKIM-Signature is judged, and one counts only when dkimpy verifies it *and*
local policy accepts it: ``d=`` aligned with From, no ``l=``, rsa-sha256 or ed25519-sha256,
From among the signed headers, a key of at least ``min_key_bits``, ``x=`` not passed.

Policy checks run before any DNS lookup, so a signature that could never count costs nothing
and a slow third-party DNS zone cannot delay a message. Reasons are fixed phrases: no
exception text and no message content ever reach storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import dkim as dkimpy

from gateway.verify.align import aligned, canonical_signer
from gateway.verify.dns import TemporaryDNSError

MAX_SIGNATURES = 10  # signatures that may cost a DNS lookup and a signature check
MAX_EXAMINED = 50  # DKIM-Signature headers looked at at all (tag parsing only)
MAX_CLOCK_SKEW = 36_000  # seconds a t= may lie in the future (dkimpy's own slack)
ACCEPTED_ALGORITHMS = {b"rsa-sha256": b"rsa", b"ed25519-sha256": b"ed25519"}
REQUIRED_TAGS = (b"v", b"a", b"b", b"bh", b"d", b"h", b"s")
PASS, FAIL, PERMERROR, TEMPERROR = "pass", "fail", "permerror", "temperror"
NOT_ALIGNED = "not aligned with From domain"

# dkimpy logs every failure at ERROR, with DNS names and key data; the verdict carries the
# reason instead. A private logger (no parent, never enabled) keeps that out of our logs.
_QUIET = logging.Logger("gateway.verify.dkimpy", level=logging.CRITICAL + 1)

Outcome = tuple[str, str]


@dataclass(frozen=True)
class SignatureResult:
    domain: str
    selector: str
    algorithm: str
    result: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class DkimVerdict:
    aligned_pass: SignatureResult | None
    signatures: tuple[SignatureResult, ...]

    @property
    def passed(self) -> bool:
        return self.aligned_pass is not None

    @property
    def result(self) -> str:
        """``pass``, ``none`` (no signature at all) or ``fail``, as in RFC 8601 ``dkim=``."""
        if self.passed:
            return PASS
        return FAIL if self.signatures else "none"

    @property
    def reason(self) -> str:
        """One phrase for "why": the pass, else the first aligned signature's failure."""
        if self.aligned_pass is not None:
            return self.aligned_pass.reason
        if not self.signatures:
            return "no signature"
        relevant = [s for s in self.signatures if s.reason != NOT_ALIGNED] or self.signatures
        return relevant[0].reason

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the email and exported under ``auth``."""
        best = self.aligned_pass
        return {
            "result": self.result,
            "reason": self.reason,
            "domain": best.domain if best else None,
            "selector": best.selector if best else None,
            "signatures": [s.as_dict() for s in self.signatures],
        }


def verify_dkim(
    raw: bytes,
    author_domain: str,
    dnsfunc: Callable[..., bytes],
    now: float | None = None,
    min_key_bits: int = 1024,
) -> DkimVerdict:
    """Judge every DKIM-Signature of ``raw`` against the From domain ``author_domain``.

    Raises :class:`TemporaryDNSError` when a key lookup failed temporarily and no other
    signature passed: the message must be retried, not judged. Never raises on hostile input.
    """
    try:
        verifier = dkimpy.DKIM(raw, minkey=min_key_bits, logger=_QUIET)
    except Exception:  # dkimpy's header parser raises MessageFormatError or IndexError on junk
        return DkimVerdict(None, (SignatureResult("", "", "", PERMERROR, "malformed message"),))
    values = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    judge = _Judge(verifier, author_domain, dnsfunc, time.time() if now is None else now)
    results = [judge.signature(index, value) for index, value in enumerate(values[:MAX_EXAMINED])]
    if len(values) > MAX_EXAMINED:
        results.append(SignatureResult("", "", "", FAIL, "too many signatures"))
    passed = next((r for r in results if r.result == PASS), None)
    if passed is None and judge.temporary is not None:
        raise judge.temporary
    return DkimVerdict(passed, tuple(results))


class _Judge:
    """Per-message state: the parsed message, the lookup budget, a pending DNS failure."""

    def __init__(
        self, verifier: Any, author: str, dnsfunc: Callable[..., bytes], now: float
    ) -> None:
        self.verifier, self.author, self.dnsfunc, self.now = verifier, author, dnsfunc, now
        self.budget = MAX_SIGNATURES
        self.temporary: TemporaryDNSError | None = None

    def signature(self, index: int, value: bytes) -> SignatureResult:
        tags = _parse_tags(value)
        if tags is None:
            return SignatureResult("", "", "", PERMERROR, "malformed signature")
        domain = tags.get(b"d", b"")
        ident = (
            canonical_signer(_domain(domain)) or _text(domain),
            _text(tags.get(b"s", b"")),
            _text(tags.get(b"a", b"")),
        )
        outcome = _refusal(tags, self.author, self.now) or self._verify(index, tags)
        return SignatureResult(*ident, *outcome)

    def _verify(self, index: int, tags: dict[bytes, bytes]) -> Outcome:
        if self.budget <= 0:
            return FAIL, "too many signatures"
        self.budget -= 1
        lookup = _RecordingLookup(self.dnsfunc)
        try:
            ok = bool(self.verifier.verify(idx=index, dnsfunc=lookup))
        except TemporaryDNSError as exc:
            # Kept, not raised yet: another signature may still pass on its own.
            self.temporary = self.temporary or exc
            return TEMPERROR, "DNS temporarily unavailable"
        except Exception as exc:  # dkimpy raises many types on malformed input; all are verdicts
            return _failure(exc)
        return self._accepted(tags) if ok else (FAIL, _why_false(lookup.answer))

    def _accepted(self, tags: dict[bytes, bytes]) -> Outcome:
        """Checks dkimpy skips: k= must match a=; minkey again, in case dkimpy ever relaxes it."""
        if self.verifier.ktag != ACCEPTED_ALGORITHMS[tags[b"a"]]:
            return FAIL, "key type mismatch"
        if self.verifier.ktag == b"rsa" and self.verifier.keysize < self.verifier.minkey:
            return FAIL, "key too small"
        return PASS, "verified and aligned"


class _RecordingLookup:
    """Wraps ``dnsfunc`` to keep the key record: dkimpy answers a bare ``False`` for a missing,
    revoked or unusable key, and the record tells those apart."""

    def __init__(self, dnsfunc: Callable[..., bytes]) -> None:
        self.dnsfunc = dnsfunc
        self.answer: bytes | None = None

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes:
        self.answer = self.dnsfunc(name, timeout=timeout)
        return self.answer


def _parse_tags(value: bytes) -> dict[bytes, bytes] | None:
    """dkimpy's own tag=value parser, so we read the tags exactly as it verifies them."""
    try:
        tags = dkimpy.util.parse_tag_value(value)
    except Exception:  # InvalidTagValueList, or anything else junk provokes
        return None
    return tags if isinstance(tags, dict) else None


def _refusal(tags: dict[bytes, bytes], author: str, now: float) -> Outcome | None:
    """Local policy, decided from the tags alone (no DNS, no crypto)."""
    return _malformed(tags) or _policy(tags, author) or _timing(tags, now)


def _malformed(tags: dict[bytes, bytes]) -> Outcome | None:
    if any(tag not in tags for tag in REQUIRED_TAGS) or tags[b"v"] != b"1":
        return PERMERROR, "malformed signature"
    if not _valid_selector(tags[b"s"]):
        return PERMERROR, "malformed signature"
    return None


def _policy(tags: dict[bytes, bytes], author: str) -> Outcome | None:
    if not aligned(_domain(tags[b"d"]), author):
        return FAIL, NOT_ALIGNED
    if tags[b"a"] == b"rsa-sha1":
        return FAIL, "rsa-sha1 not accepted"
    if tags[b"a"] not in ACCEPTED_ALGORITHMS:
        return FAIL, "algorithm not accepted"
    if b"l" in tags:
        return FAIL, "l= tag not accepted"
    if b"from" not in {name.strip().lower() for name in tags[b"h"].split(b":")}:
        return FAIL, "From header not signed"
    return None


def _timing(tags: dict[bytes, bytes], now: float) -> Outcome | None:
    """x= against our clock (dkimpy allows 10 hours past x=); t= not far in the future."""
    stamps = {tag: _number(tags[tag]) for tag in (b"t", b"x") if tag in tags}
    if None in stamps.values():
        return PERMERROR, "malformed signature"
    expires, signed = stamps.get(b"x"), stamps.get(b"t")
    if expires is not None and expires < now:
        return FAIL, "signature expired"
    if signed is not None and signed > now + MAX_CLOCK_SKEW:
        return FAIL, "signature timestamp in the future"
    return None


def _failure(exc: Exception) -> Outcome:
    """Map a dkimpy exception to a fixed phrase; its text is read, never kept."""
    text = str(exc)
    if isinstance(exc, dkimpy.ValidationError):
        for prefix, reason in _VALIDATION_REASONS:
            if text.startswith(prefix):
                return FAIL, reason
        return PERMERROR, "malformed signature"
    if isinstance(exc, dkimpy.KeyFormatError):
        small = "too small" in text or "too large for modulus" in text
        return FAIL, "key too small" if small else "key unusable"
    if isinstance(exc, dkimpy.UnknownKeyTypeError | dkimpy.NaClNotFoundError):
        return FAIL, "key unusable"
    return PERMERROR, "malformed signature"


_VALIDATION_REASONS = (
    ("body hash mismatch", "body hash mismatch"),
    ("x= value is past", "signature expired"),
    ("t= value is in the future", "signature timestamp in the future"),
)


def _why_false(answer: bytes | None) -> str:
    """dkimpy returned False: no key, a revoked key (empty p=), an unusable one, or a bad sig."""
    if not answer or not answer.strip():
        return "no key in DNS"
    record = _parse_tags(answer)
    if record is not None and b"p" in record and not record[b"p"]:
        return "key revoked"
    try:
        dkimpy.evaluate_pk(b"key", answer)
    except Exception:  # KeyFormatError, binascii.Error, nacl errors: the record is unusable
        return "key unusable"
    return "signature invalid"


def _valid_selector(value: bytes) -> bool:
    """LDH(+underscore) labels only: the selector becomes part of the DNS name we query."""
    labels = value.split(b".")
    return len(value) <= 253 and all(
        0 < len(label) <= 63 and label.replace(b"-", b"").replace(b"_", b"").isalnum()
        for label in labels
    )


def _number(value: bytes) -> int | None:
    """A decimal timestamp; ``None`` for anything else (and for digit strings too long for int)."""
    return int(value) if value.isdigit() and len(value) <= 20 else None


def _domain(value: bytes) -> str:
    """The d= value as text for alignment; invalid UTF-8 becomes U+FFFD, which never aligns."""
    return value.decode("utf-8", "replace")


def _text(value: bytes, limit: int = 255) -> str:
    """Printable text for storage: invalid UTF-8, controls, bidi and zero-width marks become ?"""
    text = value.decode("utf-8", "replace")[:limit]
    return "".join(ch if ch.isprintable() else "?" for ch in text)
