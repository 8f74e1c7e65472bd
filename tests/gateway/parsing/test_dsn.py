from __future__ import annotations

import base64
import email
import time
from email.message import Message
from email.policy import compat32

import pytest

from gateway.parsing import dsn
from gateway.parsing.dsn import bounced_recipients
from tests.support import make_message


def crlf(text: str) -> bytes:
    """``text`` with LF line ends turned into CRLF, as a real MTA sends it."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def report(status: str, *, report_type: str = "delivery-status", extra_headers: str = "") -> bytes:
    """A Postfix-style bounce whose message/delivery-status body is ``status``."""
    return crlf(
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@mx.example (Mail Delivery System)\n"
        "To: jan@crm.example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Date: Mon, 2 Nov 2026 09:31:00 +0000\n"
        "Message-ID: <20261102093100.ABC@mx.example>\n"
        f"{extra_headers}"
        "MIME-Version: 1.0\n"
        f"Content-Type: multipart/report; report-type={report_type};\n"
        '\tboundary="B1"\n'
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        "--B1\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients: ghost@nowhere.pl failed too.\n"
        "X-Failed-Recipients: fake@free-text.pl\n"
        "\n"
        "--B1\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        f"{status}"
        "\n"
        "--B1\n"
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "From: Jan Kowalski <jan@crm.example.com>\n"
        "To: anna@acme.pl, piotr@acme.pl\n"
        "Subject: Oferta\n"
        "\n"
        "--B1--\n"
    )


POSTFIX_STATUS = (
    "Reporting-MTA: dns; mx.example\n"
    "X-Postfix-Queue-ID: ABC\n"
    "X-Postfix-Sender: rfc822; jan@crm.example.com\n"
    "Arrival-Date: Mon, 2 Nov 2026 09:30:00 +0000 (UTC)\n"
    "\n"
    "Final-Recipient: rfc822; anna@acme.pl\n"
    "Original-Recipient: rfc822;anna@acme.pl\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; mail.acme.pl\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <anna@acme.pl>: Recipient address rejected\n"
    "\n"
    "Final-Recipient: rfc822; slow@acme.pl\n"
    "Action: delayed\n"
    "Status: 4.4.1\n"
    "Will-Retry-Until: Thu, 5 Nov 2026 09:30:00 +0000\n"
    "\n"
    "Final-Recipient: rfc822; ok@acme.pl\n"
    "Action: delivered\n"
    "Status: 2.0.0\n"
    "\n"
    "Final-Recipient: rfc822; Piotr.Zielinski@ACME.PL\n"
    "Action: failed\n"
    "Status: 5.2.2\n"
    "Diagnostic-Code: smtp; 552 mailbox full\n"
)


def test_postfix_dsn_failed_recipients_only() -> None:
    assert bounced_recipients(report(POSTFIX_STATUS)) == (
        "anna@acme.pl",
        "piotr.zielinski@acme.pl",
    )


def test_parser_hands_delivery_status_over_as_groups() -> None:
    # The premise of the list branch: one Message per field group, per-message group first.
    msg = email.message_from_bytes(report(POSTFIX_STATUS), policy=compat32)
    part = msg.get_payload()[1]
    assert part.get_content_type() == "message/delivery-status"
    groups = part.get_payload()
    assert isinstance(groups, list)
    assert [g.get("Action") for g in groups] == [None, "failed", "delayed", "delivered", "failed"]


def test_delayed_and_delivered_only_is_not_a_failure() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Final-Recipient: rfc822; slow@acme.pl\n"
        "Action: delayed\n"
        "Status: 4.4.1\n"
        "\n"
        "Final-Recipient: rfc822; ok@acme.pl\n"
        "Action: delivered\n"
        "Status: 2.0.0\n"
    )
    assert bounced_recipients(report(status)) == ()


def test_exim_bounce_header() -> None:
    raw = crlf(
        "Return-path: <>\n"
        "From: Mail Delivery System <Mailer-Daemon@mx.example>\n"
        "To: jan@crm.example.com\n"
        "Subject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: a@x.pl, b@y.com\n"
        "Auto-Submitted: auto-replied\n"
        "\n"
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "  c@z.pl\n"
        "    SMTP error from remote mail server after RCPT TO:<c@z.pl>:\n"
        "    550 No such user\n"
    )
    assert bounced_recipients(raw) == ("a@x.pl", "b@y.com")


def test_exim_header_folded_repeated_and_messy() -> None:
    raw = crlf(
        "From: Mailer-Daemon@mx.example\n"
        "x-failed-recipients:  <A@X.pl> ,\n"
        "\tb@y.com,,not-an-address, c@bad_domain\n"
        "X-Failed-Recipients: d@z.pl, a@x.pl\n"
        "\n"
        "body\n"
    )
    assert bounced_recipients(raw) == ("a@x.pl", "b@y.com", "d@z.pl")


def test_exim_header_comes_before_dsn_groups_and_duplicates_once() -> None:
    raw = report(POSTFIX_STATUS, extra_headers="X-Failed-Recipients: piotr.zielinski@acme.pl\n")
    assert bounced_recipients(raw) == ("piotr.zielinski@acme.pl", "anna@acme.pl")


def test_original_recipient_when_final_is_missing() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Original-Recipient: rfc822; sales@acme.pl\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
    )
    assert bounced_recipients(report(status)) == ("sales@acme.pl",)


def test_original_recipient_when_final_is_not_an_address() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Final-Recipient: x400; /C=PL/ADMD=/PRMD=acme/S=Nowak/\n"
        "Original-Recipient: rfc822; anna.nowak@acme.pl\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
    )
    assert bounced_recipients(report(status)) == ("anna.nowak@acme.pl",)


def test_only_internet_address_types() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Final-Recipient: x400; anna@acme.pl\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: unknown; jan@acme.pl\n"
        "Original-Recipient: rfc822; jan.kowalski@acme.pl\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: anna.nowak@acme.pl\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: utf-8; łukasz@acme.pl\n"
        "Action: failed\n"
    )
    assert bounced_recipients(report(status)) == (
        "jan.kowalski@acme.pl",
        "anna.nowak@acme.pl",
        "łukasz@acme.pl",
    )


def test_invalid_addresses_are_skipped() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Final-Recipient: rfc822; not an address\n"
        "Action: failed\n"
        "Status: 5.1.3\n"
        "\n"
        "Final-Recipient: rfc822; anna@localhost\n"
        "Action: failed\n"
        "Status: 5.1.2\n"
        "\n"
        "Final-Recipient: rfc822;\n"
        "Action: failed\n"
        "Status: 5.1.3\n"
        "\n"
        "Action: failed\n"
        "Status: 5.0.0\n"
        "\n"
        "Final-Recipient: x400; /C=PL/S=Nowak/\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: rfc822; ewa@acme.pl\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
    )
    assert bounced_recipients(report(status)) == ("ewa@acme.pl",)


def test_uppercase_spacing_and_folding_variants() -> None:
    status = (
        "REPORTING-MTA: DNS; MX.EXAMPLE\n"
        "\n"
        "FINAL-RECIPIENT: RFC822;ANNA@ACME.PL\n"
        "ACTION: FAILED\n"
        "STATUS: 5.1.1\n"
        "\n"
        "final-recipient:rfc822;   <jan@Acme.PL>\n"
        "action:Failed\n"
        "\n"
        "Final-Recipient:\n"
        "   rfc822 ;\n"
        "\tewa@acme.pl\n"
        "Action:   failed   (permanent error)\n"
        "\n"
        "Final-Recipient: rfc822; tom@acme.pl (Tom)\n"
        "Action: Failed\n"
        "\n"
        "Final-Recipient: RFC822; later@acme.pl\n"
        "Action: FAILED-LATER\n"
    )
    assert bounced_recipients(report(status)) == (
        "anna@acme.pl",
        "jan@acme.pl",
        "ewa@acme.pl",
        "tom@acme.pl",
    )


def test_report_type_and_content_type_must_match() -> None:
    assert bounced_recipients(report(POSTFIX_STATUS, report_type="DELIVERY-STATUS")) == (
        "anna@acme.pl",
        "piotr.zielinski@acme.pl",
    )
    # A disposition notification (read receipt) is a report, not a bounce.
    assert bounced_recipients(report(POSTFIX_STATUS, report_type="disposition-notification")) == ()
    mixed = report(POSTFIX_STATUS).replace(b"multipart/report", b"multipart/mixed")
    assert bounced_recipients(mixed) == ()


def test_base64_encoded_delivery_status() -> None:
    body = crlf(POSTFIX_STATUS)
    encoded = base64.encodebytes(body).decode("ascii")
    raw = report(encoded).replace(
        b"Content-Type: message/delivery-status\r\n",
        b"Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n",
    )
    assert bounced_recipients(raw) == ("anna@acme.pl", "piotr.zielinski@acme.pl")


def test_quoted_printable_delivery_status() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Final-Recipient: rfc822; =\n"
        "anna@acme.pl\n"
        "Action: fail=65d\n"
    )
    raw = report(status).replace(
        b"Content-Type: message/delivery-status\r\n",
        b"Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: quoted-printable\r\n",
    )
    assert bounced_recipients(raw) == ("anna@acme.pl",)


def test_string_payload_is_split_into_groups() -> None:
    # A delivery-status part whose payload is left as one string (as a hand-built message, or
    # another parser, leaves it): the groups are split at blank lines here.
    part = Message()
    part["Content-Type"] = "message/delivery-status"
    part.set_payload(
        "Reporting-MTA: dns; mx.example\r\n"
        "\r\n"
        "Final-Recipient: rfc822;\r\n"
        "  anna@acme.pl\r\n"
        "Action: failed\r\n"
        "\r\n"
        "  \r\n"
        "Final-Recipient: rfc822; slow@acme.pl\r\n"
        "Action: delayed\r\n"
        "\r\n"
        "garbage line without a colon\r\n"
        "Final-Recipient: rfc822; jan@acme.pl\r\n"
        "Final-Recipient: rfc822; second@acme.pl\r\n"
        "Action: failed\r\n"
    )
    assert isinstance(part.get_payload(), str)
    groups = list(dsn._status_groups(part))
    assert [g.get("action") for g in groups] == [None, "failed", "delayed", "failed"]
    assert [dsn._group_recipient(g) for g in groups] == [None, "anna@acme.pl", None, "jan@acme.pl"]


def test_string_payload_through_the_public_function(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse_as_string(raw: bytes) -> Message | None:
        msg = email.message_from_bytes(raw, policy=compat32)
        for part in msg.get_payload():
            if part.get_content_type() == "message/delivery-status":
                part.set_payload("".join(g.as_string() + "\n" for g in part.get_payload()))
        return msg

    monkeypatch.setattr(dsn, "_parse", parse_as_string)
    assert bounced_recipients(report(POSTFIX_STATUS)) == (
        "anna@acme.pl",
        "piotr.zielinski@acme.pl",
    )


def test_ordinary_message_is_not_a_bounce() -> None:
    assert bounced_recipients(make_message()) == ()
    # Bounce-like words in the text are never read.
    text = make_message(
        sender="MAILER-DAEMON@mx.example",
        subject="Undelivered Mail Returned to Sender",
        body="Final-Recipient: rfc822; anna@acme.pl\nAction: failed\nStatus: 5.1.1\n",
    )
    assert bounced_recipients(text) == ()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        bytes(range(256)) * 50,
        b"\r\n\r\n\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\n--\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=\r\n\r\nx",
        b"X-Failed-Recipients: \xff\xfe@\x80.pl, ok@\xc4\x85.pl\r\n\r\n",
        b'Content-Type: multipart/report; report-type="' + b"\\" * 5000 + b"\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
        + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 3000,
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    result = bounced_recipients(raw)
    assert isinstance(result, tuple)
    assert all(isinstance(a, str) and "\ufffd" not in a for a in result)


def test_mime_too_deep_for_the_parser_still_reads_the_header() -> None:
    nested = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(2000)
    )
    raw = b"X-Failed-Recipients: a@x.pl\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    with pytest.raises(RecursionError):
        email.message_from_bytes(raw + nested, policy=compat32)
    assert bounced_recipients(raw + nested) == ("a@x.pl",)
    report_head = raw.replace(
        b"multipart/mixed;", b"multipart/report; report-type=delivery-status;"
    )
    assert bounced_recipients(report_head + nested) == ("a@x.pl",)


def test_large_returned_message_after_the_status() -> None:
    raw = report(POSTFIX_STATUS).replace(
        b"Subject: Oferta\r\n\r\n", b"Subject: Oferta\r\n\r\n" + (b"x" * 70 + b"\r\n") * 60_000
    )
    assert len(raw) > 4 * dsn.MAX_REPORT_BYTES
    assert bounced_recipients(raw) == ("anna@acme.pl", "piotr.zielinski@acme.pl")


def test_status_beyond_the_parsed_window_is_not_read() -> None:
    groups = "".join(
        f"\nFinal-Recipient: rfc822; u{i}@acme.pl\nAction: failed\n" for i in range(30_000)
    )
    raw = report("Reporting-MTA: dns; mx.example\n" + groups)
    assert len(raw) > dsn.MAX_REPORT_BYTES
    # Cut at a blank line: the groups read are whole (no "u12@acme.p").
    found = bounced_recipients(raw, limit=10_000)
    assert found == tuple(f"u{i}@acme.pl" for i in range(dsn.MAX_GROUPS - 1))
    padded = report(POSTFIX_STATUS).replace(
        b"be delivered", b"be delivered" + b"\r\nfiller line" * 60_000
    )
    assert bounced_recipients(padded) == ()


def test_floods_of_blank_lines_in_the_status_are_cheap() -> None:
    raw = report("\n" * 1_000_000 + POSTFIX_STATUS)
    started = time.monotonic()
    assert bounced_recipients(raw) == ()  # the status is beyond the window
    raw = report("\n" * 200_000 + POSTFIX_STATUS)
    assert bounced_recipients(raw) == ("anna@acme.pl", "piotr.zielinski@acme.pl")
    assert time.monotonic() - started < 10  # unsqueezed: about 20 s


def test_undecodable_bytes_are_not_addresses() -> None:
    raw = b"X-Failed-Recipients: an\xffna@acme.pl, ok@\xc4\x85.pl, jan@acme.pl\r\n\r\nbody\r\n"
    assert bounced_recipients(raw) == ("ok@xn--2da.pl", "jan@acme.pl")


def test_hostile_delivery_status_part() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Final-Recipient: rfc822; " + "a" * 5000 + "@acme.pl\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: rfc822; anna@acme.pl" + " " * 2000 + "junk\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: rfc822; \x00anna@acme.pl\n"
        "Action: failed\n"
        "\n"
        "Final-Recipient: rfc822; ok@acme.pl\n"
        "Action: failed\n"
    )
    assert bounced_recipients(report(status)) == ("ok@acme.pl",)


def test_limit() -> None:
    groups = "".join(
        f"\nFinal-Recipient: rfc822; user{i}@acme.pl\nAction: failed\nStatus: 5.1.1\n"
        for i in range(10)
    )
    raw = report("Reporting-MTA: dns; mx.example\n" + groups)
    assert bounced_recipients(raw) == tuple(f"user{i}@acme.pl" for i in range(10))
    assert bounced_recipients(raw, limit=3) == ("user0@acme.pl", "user1@acme.pl", "user2@acme.pl")
    assert bounced_recipients(raw, limit=0) == ()
    assert bounced_recipients(raw, limit=-1) == ()
    exim = crlf("X-Failed-Recipients: a@x.pl, b@x.pl, c@x.pl\n\nbody\n")
    assert bounced_recipients(exim, limit=2) == ("a@x.pl", "b@x.pl")
    assert bounced_recipients(exim, limit=1) == ("a@x.pl",)


def test_groups_read_are_bounded() -> None:
    groups = "".join(
        f"\nFinal-Recipient: rfc822; user{i}@acme.pl\nAction: failed\n"
        for i in range(dsn.MAX_GROUPS + 50)
    )
    raw = report("Reporting-MTA: dns; mx.example\n" + groups)
    found = bounced_recipients(raw, limit=10_000)
    # The per-message group counts as one of the groups read.
    assert found == tuple(f"user{i}@acme.pl" for i in range(dsn.MAX_GROUPS - 1))


def test_groups_are_bounded_over_all_delivery_status_parts() -> None:
    first = "".join(
        f"\nFinal-Recipient: rfc822; a{i}@acme.pl\nAction: failed\n" for i in range(150)
    )
    second = "".join(
        f"\nFinal-Recipient: rfc822; b{i}@acme.pl\nAction: failed\n" for i in range(150)
    )
    raw = report("Reporting-MTA: dns; mx.example\n" + first).replace(
        b"--B1\r\nContent-Description: Undelivered",
        crlf(
            "--B1\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; mx.example\n{second}\n"
        )
        + b"--B1\r\nContent-Description: Undelivered",
    )
    found = bounced_recipients(raw, limit=10_000)
    # 151 groups of the first part, then 49 of the second: 200 read.
    expected = tuple(f"a{i}@acme.pl" for i in range(150)) + tuple(
        f"b{i}@acme.pl" for i in range(dsn.MAX_GROUPS - 152)
    )
    assert found == expected


def test_window_cut_never_splits_a_group() -> None:
    status = (
        "Reporting-MTA: dns; mx.example\n"
        "\n"
        "Action: failed\n"
        "Final-Recipient: rfc822; anna@acme.com.pl\n"
    )
    base = report(status)
    end = base.index(b"anna@acme.com.pl") + len(b"anna@acme.com")
    filler = b"\r\n" + b"y" * (dsn.MAX_REPORT_BYTES - end - 2)
    raw = base.replace(b"be delivered", b"be delivered" + filler)
    assert raw[: dsn.MAX_REPORT_BYTES].endswith(b"rfc822; anna@acme.com")
    # A group cut at the window's edge would read as a different, valid address.
    assert bounced_recipients(raw) == ()
    assert bounced_recipients(base) == ("anna@acme.com.pl",)
