"""Authentication-Results: only our MTA's fields, above the topmost Received, are believed."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from gateway.verify import (
    AuthResult,
    dkim_pass_from_results,
    header_fields,
    parse_authentication_results,
    trusted_results,
)

OURS = "mx.example.com"
RECEIVED = (
    "Received",
    "from mail.acme.pl (mail.acme.pl [192.0.2.7]) by mx.example.com (Postfix) with ESMTPS",
)
PASS = "mx.example.com; dkim=pass header.d=example.com header.s=sel"
FORGED = "mx.example.com; dkim=pass header.d=example.com header.s=forged"


def ar(value: str) -> tuple[str, str]:
    return ("Authentication-Results", value)


def test_our_field_above_received_is_honoured() -> None:
    """Our MTA's field at the top is read."""
    results = trusted_results([ar(PASS), RECEIVED, ("From", "anna@example.com")], OURS)
    assert results == [AuthResult("dkim", "pass", {"header.d": "example.com", "header.s": "sel"})]


def test_field_with_another_authserv_id_is_ignored() -> None:
    """A field by any other authserv-id is ignored, even at the top."""
    forged = ar("mx.evil.test; dkim=pass header.d=example.com")
    assert trusted_results([forged, RECEIVED], OURS) == []


def test_field_with_our_id_below_received_is_ignored() -> None:
    """The sender wrote our authserv-id into their own headers: below Received, ignored."""
    headers = [ar("mx.example.com; dkim=fail header.d=example.com"), RECEIVED, ar(FORGED)]
    assert [r.result for r in trusted_results(headers, OURS)] == ["fail"]


def test_forged_field_directly_under_our_received_is_ignored() -> None:
    """OpenDKIM-style placement (index 1, under our Received) is indistinguishable: ignored."""
    assert trusted_results([RECEIVED, ar(PASS), ("From", "anna@example.com")], OURS) == []


def test_no_received_header_trusts_nothing() -> None:
    """Without a Received header there is no line between our headers and the sender's."""
    assert trusted_results([ar(PASS), ("From", "anna@example.com")], OURS) == []


def test_authserv_id_matches_case_insensitively() -> None:
    """MX.Example.COM and mx.example.com are the same authserv-id."""
    headers = [ar(PASS.replace(OURS, "MX.Example.COM")), RECEIVED]
    assert len(trusted_results(headers, " mx.example.com ")) == 1


def test_comments_quoted_values_and_several_methods() -> None:
    """Comments (with ; inside) vanish, quoted values unquote, base64 padding stays."""
    value = (
        "mx.example.com (Postfix; dkim=fail) 1; dkim=pass (2048-bit key; unprotected)\r\n"
        '\theader.d="example.com" header.i=@example.com header.b="AbCd+/==" header.a=rsa-sha256;'
        "\r\n spf=pass (sender SPF authorized) smtp.mailfrom=anna@example.com;"
        ' dmarc=pass reason="aligned \\"dkim\\"" header.from=example.com'
    )
    parsed = parse_authentication_results(value)
    assert parsed is not None
    authserv_id, results = parsed
    assert authserv_id == "mx.example.com"
    assert [(r.method, r.result) for r in results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert results[0].properties == {
        "header.d": "example.com",
        "header.i": "@example.com",
        "header.b": "AbCd+/==",
        "header.a": "rsa-sha256",
    }
    assert results[2].properties["reason"] == 'aligned "dkim"'


def test_unquoted_base64_padding_stays_in_the_value() -> None:
    """header.b=abc= keeps its '=' (it belongs to the value, not to the syntax)."""
    parsed = parse_authentication_results("mx.example.com; dkim=pass header.b=AbC= header.d=x.pl")
    assert parsed is not None
    assert parsed[1][0].properties == {"header.b": "AbC=", "header.d": "x.pl"}


def test_none_means_no_results() -> None:
    """'authserv-id; none' parses to no results."""
    assert parse_authentication_results("mx.example.com; none") == ("mx.example.com", [])


def test_dkim_pass_gives_the_aligned_domain() -> None:
    """dkim=pass header.d=example.com vouches for From sales.example.com."""
    results = trusted_results([ar(PASS), RECEIVED], OURS)
    assert dkim_pass_from_results(results, "sales.example.com") == "example.com"
    assert dkim_pass_from_results(results, "Example.COM.") == "example.com"


def test_dkim_pass_uses_header_i_only_without_header_d() -> None:
    """Without header.d the domain of header.i is the signer."""
    results = [AuthResult("dkim", "pass", {"header.i": "anna@EXAMPLE.com"})]
    assert dkim_pass_from_results(results, "example.com") == "example.com"


@pytest.mark.parametrize(
    "result",
    [
        AuthResult("dkim", "fail", {"header.d": "example.com"}),
        AuthResult("dkim", "pass", {"header.d": "evil-example.com"}),
        AuthResult("dkim", "pass", {"header.d": "example.com.evil.test"}),
        AuthResult("dkim", "pass", {"header.d": "ex\u0430mple.com"}),
        AuthResult("dkim", "pass", {}),
        AuthResult("spf", "pass", {"header.d": "example.com"}),
    ],
)
def test_no_aligned_dkim_pass_gives_none(result: AuthResult) -> None:
    """dkim=fail, a look-alike domain, no domain or another method: None."""
    assert dkim_pass_from_results([result], "example.com") is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ";;;;",
        "=",
        "mx.example.com",
        "mx.example.com; dkim",
        "mx.example.com; dkim=",
        "mx.example.com; =pass",
        "mx.example.com dkim=pass header.d=example.com",  # missing ';'
        "mx.example.com; dkim=pass (unclosed comment header.d=example.com",
        'mx.example.com; dkim=pass header.d="unclosed',
        'mx.example.com; dkim=pass header.d="example.com\\"',  # the quote is escaped
        "(" * 5000 + ")" * 5000,
        '"mx.example.com"; dkim=pass header.d=' + "a" * 10_000,
        "mx.example.com; d\u00e9kim=p\u00e1ss; dkim=\x00; \ufeff=\u202e",
        "mx.example.com; " + "dkim=pass;" * 5000,
    ],
)
def test_garbage_never_crashes(garbage: str) -> None:
    """Malformed or huge fields parse to nothing or to well-formed results; nothing raises."""
    parsed = parse_authentication_results(garbage)
    results = trusted_results([ar(garbage), RECEIVED], OURS)
    if parsed is not None:
        assert all(r.method.isascii() and r.result.isascii() for r in parsed[1])
    assert dkim_pass_from_results(results, "example.com") is None


def test_unclosed_comment_hides_nothing() -> None:
    """A field whose comment never closes is dropped whole, not half-read."""
    value = "mx.example.com; dkim=fail (x; dkim=pass header.d=example.com"
    assert parse_authentication_results(value) is None


def test_results_are_bounded_per_field() -> None:
    """Thousands of resinfo entries yield a bounded list."""
    parsed = parse_authentication_results("mx.example.com; " + "spf=pass; " * 600)
    assert parsed is not None
    assert len(parsed[1]) == 32


def test_parsed_message_is_accepted() -> None:
    """An email.message.Message works as input, fields in their original order."""
    raw = (
        f"Authentication-Results: {PASS}\r\n"
        f"Received: {RECEIVED[1]}\r\n"
        f"Authentication-Results: {FORGED}\r\n"
        "From: anna@example.com\r\n\r\nbody\r\n"
    ).encode()
    msg = message_from_bytes(raw, policy=default_policy)
    assert [r.properties["header.s"] for r in trusted_results(msg, OURS)] == ["sel"]


def test_header_fields_reads_raw_bytes() -> None:
    """header_fields() unfolds and stops at the blank line; bare FF does not split a field."""
    raw = (
        b"Authentication-Results: mx.example.com;\r\n dkim=pass header.d=example.com\r\n"
        b"Received: by mx.example.com\r\n"
        b"Subject: a\x0cAuthentication-Results: forged\r\n"
        b"\r\n"
        b"Authentication-Results: in the body\r\n"
    )
    fields = header_fields(raw)
    assert [name for name, _ in fields] == ["Authentication-Results", "Received", "Subject"]
    assert fields[0][1] == "mx.example.com; dkim=pass header.d=example.com"
    assert trusted_results(fields, OURS)[0].properties == {"header.d": "example.com"}
