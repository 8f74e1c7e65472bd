"""Thread keys, tokens, bulk/auto/bounce flags and language of a message."""

from __future__ import annotations

import pytest

from gateway.parsing import parse_message
from gateway.parsing.classify import (
    flags,
    has_forward_prefix,
    language,
    normalized_subject,
    thread,
    tokens,
)
from gateway.parsing.html import html_to_text

LOGGING = ("log@crm.example.com",)


def message(*headers: str, body: str = "hello") -> bytes:
    head = ["From: Anna <anna@example.com>", "To: jan@acme.pl", "Subject: s", *headers]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Oferta", "Oferta"),
        ("RE: RE: Fwd: Oferta", "Oferta"),
        ("Odp: PD: Zapytanie ofertowe", "Zapytanie ofertowe"),
        ("AW: WG: Angebot", "Angebot"),
        ("TR : Réf : Devis", "Devis"),
        ("RV: Presupuesto", "Presupuesto"),
        ("Re[2]: Meeting", "Meeting"),
        ("[EXTERNAL] Re: Contract", "Contract"),
        ("Fwd:   spaced    out ", "spaced out"),
        ("Research plan", "Research plan"),
        ("Reply needed", "Reply needed"),
    ],
)
def test_normalized_subject(subject: str, expected: str) -> None:
    assert normalized_subject(subject) == expected


@pytest.mark.parametrize(
    "subject", ["Fwd: x", "FW: x", "PD: x", "WG: x", "TR: x", "RV: x", "[EXTERNAL] Fw: x"]
)
def test_forward_prefixes(subject: str) -> None:
    assert has_forward_prefix(subject)


def test_forward_prefix_is_not_a_reply_prefix() -> None:
    assert not has_forward_prefix("Re: x") and not has_forward_prefix("Forward planning")


def test_thread_keys() -> None:
    parsed = parse_message(
        message(
            "Message-ID: <b@x>",
            "In-Reply-To: <a@x>",
            "References: <z@x> <a@x>",
            "Thread-Index: AQHZabc=",
        )
    )
    assert thread(parsed) == {
        "message_id": "<b@x>",
        "in_reply_to": "<a@x>",
        "references": ["<z@x>", "<a@x>"],
        "thread_index": "AQHZabc=",
        "normalized_subject": "s",
    }


def test_tokens_from_plus_addresses_and_subject_tags() -> None:
    parsed = parse_message(
        message(
            "Cc: log+deal-42@crm.example.com, log+private@crm.example.com",
            "Delivered-To: log+ticket-7@crm.example.com",
        )
    )
    assert tokens(parsed, LOGGING) == {"deal": "42", "ticket": "7", "private": True}
    tagged = parse_message(message().replace(b"Subject: s", b"Subject: Re: [deal-9] [#T-3] x"))
    assert tokens(tagged, LOGGING) == {"deal": "9", "ticket": "3", "private": False}


def test_plus_tags_of_other_addresses_are_not_tokens() -> None:
    parsed = parse_message(message("Cc: jan+deal-42@acme.pl"))
    assert tokens(parsed, LOGGING) == {"deal": None, "ticket": None, "private": False}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), {"bulk": False, "auto_generated": False, "bounce": False}),
        (
            ("List-Unsubscribe: <mailto:u@x>",),
            {"bulk": True, "auto_generated": False, "bounce": False},
        ),
        (("Precedence: bulk",), {"bulk": True, "auto_generated": False, "bounce": False}),
        (
            ("Auto-Submitted: auto-replied",),
            {"bulk": False, "auto_generated": True, "bounce": False},
        ),
        (("Auto-Submitted: no",), {"bulk": False, "auto_generated": False, "bounce": False}),
        (("X-Autoreply: yes",), {"bulk": False, "auto_generated": True, "bounce": False}),
    ],
)
def test_flags(headers: tuple[str, ...], expected: dict[str, bool]) -> None:
    assert flags(parse_message(message(*headers))) == expected


def test_dsn_is_a_bounce() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.acme.pl\r\nTo: anna@example.com\r\nSubject: Undelivered\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n"
    )
    assert flags(parse_message(raw))["bounce"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dzień dobry, w załączeniu przesyłam ofertę. Pozdrawiam", "pl"),
        ("Hi Jan, thanks for the call. Please find the offer attached.", "en"),
        ("Guten Tag, anbei das Angebot. Mit freundlichen Grüßen", "de"),
        ("Bonjour, veuillez trouver notre proposition. Cordialement", "fr"),
        ("Hola Ana, le envío el presupuesto. Saludos", "es"),
        ("12345 !!!", ""),
    ],
)
def test_language(text: str, expected: str) -> None:
    assert language(text) == expected


def test_html_tables_become_lines_and_blockquotes_become_quotes() -> None:
    html = (
        "<div>Hi Jan,<br>thanks!</div><table><tr><td><b>Anna Kowalska</b></td>"
        "<td>Head of Procurement</td></tr></table>"
        "<blockquote>On Mon, Jan wrote:<br>old text</blockquote><script>x()</script>"
    )
    assert html_to_text(html).split("\n") == [
        "Hi Jan,",
        "thanks!",
        "Anna Kowalska",
        "Head of Procurement",
        "",
        "> On Mon, Jan wrote:",
        "> old text",
    ]


def test_html_entities_and_hostile_markup() -> None:
    assert (
        html_to_text("<p>Za&#380;&oacute;&lstrok;&cacute; &lt;b&gt;</p><style>p{}</style>")
        == "Zażółć <b>"
    )
    assert html_to_text("<" * 10_000) is not None
    assert html_to_text("") == ""


@pytest.mark.timeout(60)  # a hang guard: the stdlib took minutes on this before the fix
def test_a_delivery_report_of_blank_lines_is_opaque_to_the_parser() -> None:
    """The stdlib reads message/delivery-status as one header block per blank line, in
    quadratic time; bccrm hands it over as text (gateway.parsing.dsn reads reports)."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: a@acme.pl\r\nSubject: failed\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        b"--B\r\nContent-Type:\r\n message/delivery-status\r\n\r\n"
        + b"\r\n" * 2_000_000
        + b"Final-Recipient: rfc822; x@y.pl\r\nAction: failed\r\n--B--\r\n"
    )
    parsed = parse_message(raw)
    assert (parsed.content_type, parsed.report_type) == ("multipart/report", "delivery-status")
    assert parsed.body_text.strip() == "Not delivered."
    assert [a.content_type for a in parsed.attachments] == ["text/x-delivery-status"]
    assert flags(parsed)["bounce"] is True


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Oferta",
        "Out of Office: Oferta",
        "Odpowiedź automatyczna: Oferta",
        "Automatyczna odpowiedź",
        "Abwesenheitsnotiz: Angebot",
        "Réponse automatique : offre",
    ],
)
def test_auto_replies_without_headers_are_known_by_subject(subject: str) -> None:
    parsed = parse_message(message().replace(b"Subject: s", f"Subject: {subject}".encode()))
    assert flags(parsed)["auto_generated"] is True


def test_a_subject_that_mentions_the_office_is_not_an_auto_reply() -> None:
    parsed = parse_message(message().replace(b"Subject: s", b"Subject: Re: office move"))
    assert flags(parsed)["auto_generated"] is False


def test_deal_ids_may_be_alphanumeric() -> None:
    parsed = parse_message(message("Cc: log+deal-D-2024.17@crm.example.com"))
    assert tokens(parsed, ["log@crm.example.com"])["deal"] == "d-2024.17"
    tagged = parse_message(message().replace(b"Subject: s", b"Subject: Re: [deal-HS-991] x"))
    assert tokens(tagged, ["log@crm.example.com"])["deal"] == "HS-991"
