"""DKIM: only a verified signature by the author's own domain, under local policy, counts.

Every case signs a real message with a real key through dkimpy and answers DNS from a dict.
"""

from __future__ import annotations

import json
import time

import dkim
import pytest

from gateway.verify import DkimVerdict, TemporaryDNSError, aligned, verify_dkim
from tests.gateway.verify.keys import (
    FakeDNS,
    ed25519_key,
    make_message,
    rsa_key,
    sign,
    sign_with_tags,
    signature,
)

EXAMPLE = rsa_key("example.com")
ATTACKER = rsa_key("evil.test")
FIXED_REASONS = {
    "verified and aligned",
    "no signature",
    "body hash mismatch",
    "signature invalid",
    "not aligned with From domain",
    "l= tag not accepted",
    "rsa-sha1 not accepted",
    "algorithm not accepted",
    "From header not signed",
    "key too small",
    "key type mismatch",
    "key unusable",
    "signature expired",
    "signature timestamp in the future",
    "no key in DNS",
    "key revoked",
    "malformed signature",
    "malformed message",
    "too many signatures",
    "DNS temporarily unavailable",
}


def reasons(verdict: DkimVerdict) -> list[str]:
    return [s.reason for s in verdict.signatures]


def test_valid_aligned_signature_passes() -> None:
    """A signature by the From domain's key, verified, is an aligned pass."""
    verdict = verify_dkim(sign(make_message(), EXAMPLE), "example.com", FakeDNS(EXAMPLE))
    assert verdict.passed
    assert verdict.aligned_pass is not None
    assert (verdict.aligned_pass.domain, verdict.aligned_pass.selector) == ("example.com", "sel")
    assert verdict.aligned_pass.algorithm == "rsa-sha256"
    assert verdict.result == "pass"


def test_unsigned_mail_claiming_a_reps_from_does_not_pass() -> None:
    """No DKIM-Signature at all: result "none", reason "no signature", no DNS asked."""
    dns = FakeDNS(EXAMPLE)
    verdict = verify_dkim(make_message(), "example.com", dns)
    assert not verdict.passed
    assert (verdict.result, verdict.reason, verdict.signatures) == ("none", "no signature", ())
    assert dns.queries == []


def test_valid_signature_from_another_domain_is_not_aligned() -> None:
    """evil.test's valid signature on mail whose From claims example.com vouches for nothing."""
    raw = sign(make_message(), ATTACKER)
    dns = FakeDNS(EXAMPLE, ATTACKER)
    assert dkim.verify(raw, dnsfunc=dns)  # dkimpy alone calls this a pass
    dns.queries.clear()
    verdict = verify_dkim(raw, "example.com", dns)
    assert not verdict.passed
    assert reasons(verdict) == ["not aligned with From domain"]
    assert dns.queries == []  # refused before any lookup of the attacker's zone


def test_parent_domain_signature_aligns_with_subdomain_author() -> None:
    """d=example.com vouches for From sales.example.com (relaxed alignment)."""
    raw = sign(make_message(sender="Ola <ola@sales.example.com>"), EXAMPLE)
    assert verify_dkim(raw, "sales.example.com", FakeDNS(EXAMPLE)).passed


def test_subdomain_signature_does_not_align_with_parent_author() -> None:
    """d=sales.example.com does not vouch for From example.com."""
    key = rsa_key("sales.example.com")
    verdict = verify_dkim(sign(make_message(), key), "example.com", FakeDNS(key))
    assert reasons(verdict) == ["not aligned with From domain"]


@pytest.mark.parametrize("lookalike", ["example.com.evil.test", "evil-example.com"])
def test_lookalike_signing_domains_do_not_align(lookalike: str) -> None:
    """A valid signature by a suffix or prefix look-alike never aligns with example.com."""
    key = rsa_key(lookalike)
    verdict = verify_dkim(sign(make_message(), key), "example.com", FakeDNS(key))
    assert not verdict.passed
    assert reasons(verdict) == ["not aligned with From domain"]


def test_case_and_trailing_dot_name_the_same_domain() -> None:
    """d=EXAMPLE.COM aligns with an author domain written example.com. (case, trailing dot)."""
    raw = sign(make_message(), EXAMPLE, domain="EXAMPLE.COM")
    verdict = verify_dkim(raw, "Example.COM.", FakeDNS(EXAMPLE))
    assert verdict.passed
    assert verdict.aligned_pass is not None
    assert verdict.aligned_pass.domain == "example.com"


def test_idn_homoglyph_author_does_not_align() -> None:
    """From exаmple.com (Cyrillic а) is another domain; example.com's signature is not its."""
    homoglyph = "ex\u0430mple.com"
    raw = sign(make_message(sender=f"Anna <anna@{homoglyph}>"), EXAMPLE)
    verdict = verify_dkim(raw, homoglyph, FakeDNS(EXAMPLE))
    assert reasons(verdict) == ["not aligned with From domain"]


@pytest.mark.parametrize(
    ("signing", "author", "expected"),
    [
        ("example.com", "example.com", True),
        ("example.com", "a.b.example.com", True),
        ("EXAMPLE.com.", "example.COM", True),
        ("xn--2da4b.pl", "Ąę.pl", True),  # the A-label signs for its U-label author
        ("example.com", "example.com.evil.test", False),
        ("example.com", "evil-example.com", False),
        ("example.com", "notexample.com", False),
        ("sales.example.com", "example.com", False),
        ("com", "example.com", False),  # a bare TLD never aligns
        ("xn--exmple-4nf.com", "example.com", False),  # punycode of the homoglyph
        ("ex\u0430mple.com", "ex\u0430mple.com", False),  # U-label d=: IDNA 2003/2008 differ
        ("stra\u00dfe.de", "strasse.de", False),
        ("example.com", "", False),
        ("", "example.com", False),
        ("example..com", "example.com", False),
        ("exa mple.com", "exa mple.com", False),
    ],
)
def test_alignment_rule(signing: str, author: str, expected: bool) -> None:
    """Relaxed alignment on whole labels, canonical forms, A-label signers only."""
    assert aligned(signing, author) is expected


def test_attacker_signature_on_top_of_a_broken_real_one() -> None:
    """The signature that verifies is the attacker's; the real one is broken: no pass."""
    genuine = sign(make_message(), EXAMPLE)
    tampered = genuine.replace(b"the offer is attached", b"pay to IBAN PL00 1234")
    raw = sign(tampered, ATTACKER)
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE, ATTACKER))
    assert not verdict.passed
    assert reasons(verdict) == ["not aligned with From domain", "body hash mismatch"]
    assert verdict.reason == "body hash mismatch"


def test_length_tag_with_appended_content_is_not_accepted() -> None:
    """An l= signature still verifies after content is appended; we refuse l= outright."""
    raw = sign(make_message(), EXAMPLE, length=True) + b"\r\nAppended: wire the money today.\r\n"
    dns = FakeDNS(EXAMPLE)
    assert dkim.verify(raw, dnsfunc=dns)  # dkimpy honours l= and passes this
    verdict = verify_dkim(raw, "example.com", dns)
    assert not verdict.passed
    assert reasons(verdict) == ["l= tag not accepted"]


def test_rsa_sha1_is_refused() -> None:
    """rsa-sha1 verifies in dkimpy but is not accepted (RFC 8301)."""
    raw = sign(make_message(), EXAMPLE, algorithm=b"rsa-sha1")
    dns = FakeDNS(EXAMPLE)
    assert dkim.verify(raw, dnsfunc=dns)
    assert reasons(verify_dkim(raw, "example.com", dns)) == ["rsa-sha1 not accepted"]


def test_512_bit_key_is_too_small() -> None:
    """A valid signature by a 512-bit RSA key fails with "key too small"."""
    weak = rsa_key("example.com", "weak", bits=512)
    dns = FakeDNS(weak)
    raw = sign(make_message(), weak)
    assert dkim.verify(raw, dnsfunc=dns, minkey=512)  # the signature itself is fine
    verdict = verify_dkim(raw, "example.com", dns)
    assert reasons(verdict) == ["key too small"]


def test_ed25519_signature_passes() -> None:
    """ed25519-sha256 (RFC 8463) is accepted; dkimpy's minkey applies to RSA only."""
    key = ed25519_key()
    raw = sign(make_message(), key)
    verdict = verify_dkim(raw, "example.com", FakeDNS(key), min_key_bits=2048)
    assert verdict.passed
    assert verdict.aligned_pass is not None
    assert verdict.aligned_pass.algorithm == "ed25519-sha256"


def test_expired_signature_fails_against_our_clock() -> None:
    """x= in the past fails, judged by the injected clock (dkimpy allows 10 hours of slack)."""
    now = time.time()
    signed, expires = str(int(now) - 120).encode(), str(int(now) - 60).encode()
    raw = sign_with_tags(make_message(), EXAMPLE, t=signed, x=expires)
    dns = FakeDNS(EXAMPLE)
    assert dkim.verify(raw, dnsfunc=dns)  # within dkimpy's slack
    assert reasons(verify_dkim(raw, "example.com", dns, now=now)) == ["signature expired"]
    assert verify_dkim(raw, "example.com", dns, now=now - 3600).passed


def test_signature_from_the_far_future_fails() -> None:
    """A t= more than the allowed clock skew ahead of our clock is not accepted."""
    now = time.time()
    raw = sign_with_tags(make_message(), EXAMPLE, t=str(int(now) + 86_400).encode())
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE), now=now)
    assert reasons(verdict) == ["signature timestamp in the future"]


def test_revoked_key_fails() -> None:
    """An empty p= (RFC 6376 §3.6.1) is a revoked key."""
    raw = sign(make_message(), EXAMPLE)
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE.revoked()))
    assert reasons(verdict) == ["key revoked"]


def test_missing_key_fails() -> None:
    """No TXT record for the selector: "no key in DNS"."""
    verdict = verify_dkim(sign(make_message(), EXAMPLE), "example.com", FakeDNS())
    assert reasons(verdict) == ["no key in DNS"]


def test_unusable_key_record_fails() -> None:
    """A record whose p= is not a key is "key unusable", not a crash."""
    dns = FakeDNS(records={EXAMPLE.name: b"v=DKIM1; k=rsa; p=bm90IGEga2V5"})
    verdict = verify_dkim(sign(make_message(), EXAMPLE), "example.com", dns)
    assert reasons(verdict) == ["key unusable"]


def test_wrong_key_is_signature_invalid() -> None:
    """A key that did not make the signature: "signature invalid"."""
    dns = FakeDNS(records={EXAMPLE.name: rsa_key("other.test").record})
    verdict = verify_dkim(sign(make_message(), EXAMPLE), "example.com", dns)
    assert reasons(verdict) == ["signature invalid"]


def test_dns_timeout_propagates() -> None:
    """A temporary DNS failure is not a verdict: TemporaryDNSError reaches the caller."""
    raw = sign(make_message(), EXAMPLE)
    with pytest.raises(TemporaryDNSError):
        verify_dkim(raw, "example.com", FakeDNS(EXAMPLE, failing=[EXAMPLE.name]))


def test_dns_timeout_for_one_signature_does_not_mask_another_pass() -> None:
    """With one aligned signature passing, a timeout on another is recorded, not raised."""
    other = rsa_key("example.com", "backup")
    raw = sign(sign(make_message(), EXAMPLE), other)
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE, other, failing=[other.name]))
    assert verdict.passed
    assert [s.result for s in verdict.signatures] == ["temperror", "pass"]


def test_body_modified_after_signing_fails() -> None:
    """One changed body byte: "body hash mismatch"."""
    raw = sign(make_message(), EXAMPLE).replace(b"Hello,", b"Hello!")
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE))
    assert reasons(verdict) == ["body hash mismatch"]


def test_signed_header_modified_after_signing_fails() -> None:
    """A changed Subject (a signed header): "signature invalid"."""
    raw = sign(make_message(), EXAMPLE).replace(b"Subject: Offer", b"Subject: Invoice")
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE))
    assert reasons(verdict) == ["signature invalid"]


def test_prepended_second_from_header_breaks_the_signature() -> None:
    """A second From added on top (msg['From'] reads it, DKIM signed the other) fails."""
    raw = b"From: CEO <ceo@example.com>\r\n" + sign(make_message(), EXAMPLE)
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE))
    assert not verdict.passed
    assert reasons(verdict) == ["signature invalid"]


def test_signature_not_covering_from_is_refused() -> None:
    """RFC 6376 requires From in h=; dkimpy does not check, so an h= without it is refused."""
    raw = sign_with_tags(make_message(), EXAMPLE, h=b"to : subject : date")
    dns = FakeDNS(EXAMPLE)
    assert dkim.verify(raw, dnsfunc=dns)  # dkimpy passes it
    assert reasons(verify_dkim(raw, "example.com", dns)) == ["From header not signed"]


def test_key_type_must_match_the_algorithm() -> None:
    """a=ed25519-sha256 over an RSA key verifies in dkimpy (it follows k=); we refuse it."""
    raw = sign_with_tags(make_message(), EXAMPLE, a=b"ed25519-sha256")
    dns = FakeDNS(EXAMPLE)
    assert dkim.verify(raw, dnsfunc=dns)
    assert reasons(verify_dkim(raw, "example.com", dns)) == ["key type mismatch"]


def test_more_than_ten_signatures_are_bounded() -> None:
    """At most 10 signatures cost a lookup; the rest fail "too many signatures"."""
    message = make_message()
    good = rsa_key("example.com", "s11")
    raw = sign(message, good)  # the only valid signature, at the bottom
    for index in range(11):  # eleven signatures on top, for selectors with no key
        raw = signature(message, rsa_key("example.com", f"s{index}")) + raw
    dns = FakeDNS(good)
    verdict = verify_dkim(raw, "example.com", dns)
    assert len(verdict.signatures) == 12
    assert len(dns.queries) == 10
    assert reasons(verdict)[-2:] == ["too many signatures", "too many signatures"]
    assert not verdict.passed


@pytest.mark.parametrize(
    "garbage",
    [
        b"garbage",
        b"v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=; b=",
        b"v=1; v=1",
        b"=;=;=",
        b"v=1; a=rsa-sha256; c=bogus/bogus; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA",
        b"v=1; a=rsa-sha256; d=example.com; s=../x; h=from; bh=AAAA; b=AAAA",
        b"v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA; x=" + b"9" * 5000,
        b"v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA; t=" + b"9" * 5000,
        b"v=2; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA",
        b"v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=%%%%",
        b"\xff\xfe\x00",
    ],
)
def test_malformed_signature_is_a_verdict_not_an_exception(garbage: bytes) -> None:
    """A garbage DKIM-Signature fails (permerror) with a fixed phrase; nothing raises."""
    raw = b"DKIM-Signature: " + garbage + b"\r\n" + make_message()
    verdict = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE))
    assert not verdict.passed
    assert len(verdict.signatures) == 1
    assert verdict.signatures[0].result in {"fail", "permerror"}
    assert set(reasons(verdict)) <= FIXED_REASONS


def test_malformed_message_is_a_verdict_not_an_exception() -> None:
    """A header block dkimpy cannot parse yields a permerror verdict."""
    verdict = verify_dkim(b" folded first line\r\n\r\nbody", "example.com", FakeDNS())
    assert (verdict.passed, reasons(verdict)) == (False, ["malformed message"])


def test_verdict_is_json_ready_and_holds_no_exception_text() -> None:
    """as_dict() round-trips through JSON and carries only fixed phrases."""
    raw = sign(sign(make_message(), EXAMPLE), ATTACKER)
    data = verify_dkim(raw, "example.com", FakeDNS(EXAMPLE, ATTACKER)).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert (data["result"], data["domain"], data["selector"]) == ("pass", "example.com", "sel")
    assert [s["reason"] for s in data["signatures"]] == [
        "not aligned with From domain",
        "verified and aligned",
    ]
    assert {s["reason"] for s in data["signatures"]} <= FIXED_REASONS
