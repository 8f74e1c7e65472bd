"""One-line fields and overlong address lists (found by tests/reliability/test_mime.py)."""

from __future__ import annotations

import pytest

from gateway.parsing.message import MAX_FIELD, parse_message
from gateway.parsing.text import clean_line


def test_encoded_line_breaks_and_controls_never_reach_the_subject() -> None:
    raw = (
        b"From: Anna <anna@example.com>\r\nTo: =?utf-8?q?Jan=09K=1B[1m?= <jan@acme.pl>\r\n"
        b"Subject: =?utf-8?q?new=0Aline=0Dcr=1B[31mred=C2=9B=07=00?=\r\n\r\nhi\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.subject == "new line cr\ufffd[31mred\ufffd\ufffd\ufffd"
    assert [p.name for p in parsed.participants if p.role == "to"] == ["Jan K\ufffd[1m"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb", "a  b"),
        ("a\u2028b\x85c", "a b c"),
        ("\x1b]0;t\x07", "\ufffd]0;t\ufffd"),
        ("\x7f\x9f\x00", "\ufffd\ufffd\ufffd"),
        ("Zażółć gęślą jaźń \u202e", "Zażółć gęślą jaźń \u202e"),
    ],
)
def test_clean_line(text: str, expected: str) -> None:
    assert clean_line(text) == expected


@pytest.mark.parametrize("tag", ["abc", "593611", "20ac64", "x"])
def test_an_overlong_address_list_keeps_whole_addresses(tag: str) -> None:
    """The field is cut at a comma: a list ending in ``…, p749.593611@`` made the stdlib's
    parser raise, losing every recipient (the copy then looked internal and was dropped)."""
    to = ", ".join(f"p{n}.{tag}@crowd.pl" for n in range(4000)).encode()
    raw = b"From: Anna <anna@example.com>\r\nTo: " + to + b"\r\nSubject: x\r\n\r\nhi\r\n"
    parsed = parse_message(raw)
    assert "oversized header fields truncated" in parsed.defects
    assert not any("unparseable" in d for d in parsed.defects)
    recipients = [p.email for p in parsed.participants if p.role == "to"]
    assert len(recipients) == 500  # the parser keeps at most 500 per role
    assert len(recipients) * len(f"p0.{tag}@crowd.pl, ") < MAX_FIELD


def test_a_recipient_field_the_stdlib_refuses_keeps_its_addresses() -> None:
    """An encoded line break in one display name makes the stdlib refuse the whole To field;
    the plain addresses are recovered (without names) so the copy does not look internal."""
    raw = (
        b"From: Anna <anna@example.com>\r\n"
        b"To: =?utf-8?q?Jan=0AKowalski?= <jan@acme.pl>, Ewa <ewa@acme.pl>\r\n"
        b"Cc: =?utf-8?q?Piotr=0D?= <piotr@acme.pl>\r\nSubject: x\r\n\r\nhi\r\n"
    )
    parsed = parse_message(raw)
    people = [(p.role, p.email, p.name) for p in parsed.participants if p.role != "from"]
    assert people == [
        ("to", "jan@acme.pl", ""),
        ("to", "ewa@acme.pl", ""),
        ("cc", "piotr@acme.pl", ""),
    ]
    assert "addresses recovered from an unparseable To header" in parsed.defects


def test_an_author_the_stdlib_refuses_is_never_recovered() -> None:
    raw = b"From: =?utf-8?q?Anna=0A?= <anna@example.com>\r\nTo: jan@acme.pl\r\n\r\nhi\r\n"
    assert parse_message(raw).sender is None
