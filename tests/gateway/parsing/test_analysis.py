"""The analysis as ``bccrm parse`` shows it, and its safety on hostile input
(../shared/RELIABILITY.md, "MIME" cases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.cli import main
from gateway.parsing.analysis import analyze, to_json

ORG = ("example.com", "example.pl")
KEYS = {
    "file",
    "message_id",
    "subject",
    "date",
    "from",
    "direction",
    "forwarded",
    "forwarded_by",
    "original_sender",
    "original_date",
    "participants",
    "reply_text",
    "signature",
    "thread",
    "tokens",
    "bulk",
    "auto_generated",
    "bounce",
    "language",
    "defects",
}


def document(raw: bytes) -> dict[str, object]:
    return to_json(analyze(raw, ORG, "PL", ("log@crm.example.com",)))


GMAIL_FORWARD = (
    "From: Anna Nowak <anna.nowak@example.com>\r\nTo: log@crm.example.com\r\n"
    "Subject: Fwd: Zapytanie ofertowe\r\nDate: Tue, 03 Nov 2026 08:00:00 +0100\r\n"
    "Message-ID: <fwd-1@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Do wiadomości.\r\n\r\n---------- Forwarded message ---------\r\n"
    "From: Jan Kowalski <jan.kowalski@acme.pl>\r\nDate: Mon, Nov 2, 2026 at 9:30 AM\r\n"
    "Subject: Zapytanie ofertowe\r\nTo: Anna Nowak <anna.nowak@example.com>\r\n\r\n"
    "Dzień dobry,\r\n\r\nproszę o ofertę na 100 sztuk.\r\n\r\nPozdrawiam\r\nJan Kowalski\r\n"
    "Kierownik Działu Zakupów\r\nACME Sp. z o.o.\r\ntel. 601 234 567\r\n"
).encode()


def test_a_forward_is_read_as_the_original_message() -> None:
    doc = document(GMAIL_FORWARD)
    assert doc["forwarded"] is True
    assert doc["forwarded_by"] == {"email": "anna.nowak@example.com", "name": "Anna Nowak"}
    assert doc["original_sender"] == {"email": "jan.kowalski@acme.pl", "name": "Jan Kowalski"}
    assert doc["direction"] == "inbound"
    # "9:30 AM" has no zone: it is the forwarder's local time, the outer Date's +01:00.
    assert doc["original_date"] == "2026-11-02T08:30:00+00:00"
    assert [p["email"] for p in doc["participants"]] == [
        "jan.kowalski@acme.pl",  # type: ignore[index]
        "anna.nowak@example.com",
    ]
    signature = doc["signature"]
    assert isinstance(signature, dict)
    assert signature["name"] == "Jan Kowalski" and signature["phones"] == ["+48601234567"]
    assert "proszę o ofertę" in str(doc["reply_text"])
    assert "Pozdrawiam" not in str(doc["reply_text"])
    assert doc["language"] == "pl"


def test_a_strangers_forward_is_the_strangers_own_mail() -> None:
    """The inner From of a forward is unverified text: only a forward by one of our own people
    is unwrapped. A stranger's "Fwd:" to a rep whose inner From is the rep stays the stranger's
    inbound mail (tests/reliability/test_trust.py::test_rep_forwarding_customer_mail)."""
    forged = (
        GMAIL_FORWARD.replace(
            b"Anna Nowak <anna.nowak@example.com>\r\nTo: log@", b"Eve <eve@evil.test>\r\nTo: log@"
        )
        .replace(
            b"From: Jan Kowalski <jan.kowalski@acme.pl>", b"From: Anna <anna.nowak@example.com>"
        )
        .replace(b"To: Anna Nowak <anna.nowak@example.com>\r\n\r\n", b"To: jan@acme.pl\r\n\r\n")
    )
    doc = document(forged)
    assert doc["from"] == {"email": "eve@evil.test", "name": "Eve"}
    assert (doc["forwarded"], doc["forwarded_by"], doc["direction"]) == (False, None, "inbound")
    assert doc["original_sender"] == {"email": "eve@evil.test", "name": "Eve"}
    participants = doc["participants"]
    assert isinstance(participants, list)
    assert [p["email"] for p in participants] == ["eve@evil.test"]


def test_parse_cli_prints_one_object_per_file_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.eml", tmp_path / "b.eml"
    first.write_bytes(GMAIL_FORWARD)
    second.write_bytes(b"From: x@acme.pl\r\nSubject: hi\r\n\r\nhello\r\n")
    missing = tmp_path / "missing.eml"
    code = main(["parse", "--json", str(first), str(missing), str(second)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1  # one file could not be read; the others still print
    docs = [json.loads(line) for line in lines]
    assert [d["file"] for d in docs] == [str(first), str(missing), str(second)]
    assert set(docs[0]) == KEYS and set(docs[2]) == KEYS
    assert set(docs[1]) == {"file", "error"}


CPYTHON_DATA = Path(__import__("email").__file__).parents[1] / "test" / "test_email" / "data"


@pytest.mark.skipif(
    not CPYTHON_DATA.is_dir(),
    reason=f"CPython's email test corpus is not installed ({CPYTHON_DATA}; "
    "Debian: libpython3.11-testsuite)",
)
def test_cpython_email_corpus_parses_without_exceptions() -> None:
    files = sorted(
        p for p in CPYTHON_DATA.iterdir() if p.suffix in ("", ".txt") or p.name.startswith("msg_")
    )
    assert len(files) > 40
    for path in files:
        doc = document(path.read_bytes())
        assert set(doc) == KEYS, path.name


def nested(depth: int) -> bytes:
    head = b"From: a@acme.pl\r\nTo: anna@example.com\r\nSubject: deep\r\n"
    parts = [
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n'.encode()
        for n in range(depth)
    ]
    return head + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nhi\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        nested(60),
        nested(300),
        nested(1000),
        b"From: a@acme.pl\r\nSubject: " + b"=?utf-8?q?x?= " * 40_000 + b"\r\n\r\nbody\r\n",
        b"From: a@acme.pl\r\nTo: "
        + b", ".join(f"p{n}@acme.pl".encode() for n in range(20_000))
        + b"\r\n\r\nhi\r\n",
        b"From: a@acme.pl\r\nFrom: b@acme.pl\r\nSubject: two\r\n\r\nhi\r\n",
        b"From: a@acme.pl\r\nSubject: =?utf-8?q?new=0Aline=1B[31m?=\r\n\r\nhi\r\n",
        b"From: a@acme.pl\r\nSubject: nul\x00\r\n\r\nbody \x00\r\n",
        b"From: a@acme.pl\r\nContent-Type: text/plain; charset=klingon\r\n\r\n\xff\xfe\r\n",
        b"From: a@acme.pl\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64===\r\n",
        b"From: a@acme.pl\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n",
        b"From: a@acme.pl\r\nSubject: x\r\n\r\n" + b"> quoted line\r\n" * 65_000,
        b"From: a@acme.pl\r\n\r\n" + b"x" * 1_000_000,
        b"",
        b"no headers at all",
    ],
    ids=[
        "nest60",
        "nest300",
        "nest1000",
        "40k-encoded-words",
        "20k-addresses",
        "two-from",
        "encoded-newline-esc",
        "nul",
        "unknown-charset",
        "broken-base64",
        "broken-qp",
        "65k-quoted-lines",
        "1mb-line",
        "empty",
        "no-headers",
    ],
)
def test_hostile_messages_never_raise(raw: bytes) -> None:
    doc = document(raw)
    assert set(doc) == KEYS
    assert "\x00" not in json.dumps(doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: Anna <anna@example.com>\r\n",
                b"To: jan@acme.pl\r\n",
                b"Subject: Fwd: x\r\n",
                b"Content-Type: multipart/mixed; boundary=z\r\n",
                b"--z\r\n",
                b"--z--\r\n",
                b"\r\n",
                b"---------- Forwarded message ---------\r\n",
                b"From: Jan <jan@acme.pl>\r\n",
                b"On Mon, Nov 2, 2026 at 9:30 AM Jan <jan@acme.pl> wrote:\r\n",
                b"> quoted\r\n",
                b"-- \r\n",
                b"tel. +48 601 234 567\r\n",
                b"Pozdrawiam\r\n",
                b"\n",
                b"\r",
                b"\x00",
                b"=?utf-8?b?xx?=",
                b"Content-Transfer-Encoding: base64\r\n",
                "Zażółć\r\n".encode(),
                b"<html><blockquote>x</blockquote>",
                b"x" * 2000,
            ]
        ),
        max_size=60,
    )
)
def test_random_structures_never_raise(pieces: list[bytes]) -> None:
    assert set(document(b"".join(pieces))) == KEYS
