"""MIME: hostile message structures sent over SMTP to real bccrm processes.

Each case is refused at the edge from the reply catalogue (``554 5.6.0`` for structure limits,
``552 5.3.4`` for size) or accepted and then reaches an audited outcome: logged (with the
defects the parser noted), dropped by policy, or held in quarantine with a reason. Messages
the parser must read are timed from the ``250`` to their audit outcome, against a generous
budget (not a benchmark). Every test ends with the invariant check.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import pytest

from gateway.smtp import replies
from tests.conftest import fresh_database
from tests.reliability.conftest import NodeFactory
from tests.reliability.harness import Node, Sent
from tests.reliability.invariants import check

BUDGET = 30.0  # seconds from the 250 to the audit outcome; generous, a budget not a benchmark
OUTCOMES = ("email.logged", "email.duplicate", "message.dropped", "message.held")
HELD_FROM = "From is not exactly one valid address"


# -- a node shared by the cases whose database does not matter -------------------------------


@pytest.fixture(scope="module")
def mime_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("mime")
    with fresh_database("sqlite", root) as url:
        node = Node(root / "node", url)
        try:
            yield node.start()
        finally:
            node.stop()


# -- building and delivering messages -----------------------------------------------------


@dataclass
class Built:
    raw: bytes
    marker: str
    message_id: str


def build(
    headers: bytes | str = "",
    body: bytes | str = "",
    *,
    sender: str = "Anna Nowak <anna@example.com>",
    to: str = "Jan Kowalski <jan@acme.pl>",
    subject: str = "Oferta",
    message_id: str | None = "",
    date: bool = True,
    content_headers: bytes = b"Content-Type: text/plain; charset=utf-8\r\n",
) -> Built:
    """A raw message with a secret body marker; ``headers`` replace the default From/To/
    Subject block when given (bytes, CRLF-terminated lines)."""
    marker = f"BODYMARK{secrets.token_hex(8)}"
    mid = f"<mime-{secrets.token_hex(8)}@example.com>" if message_id == "" else message_id
    if isinstance(headers, str):
        headers = headers.encode()
    if not headers:
        headers = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode()
    if date:
        headers += b"Date: Mon, 02 Nov 2026 09:30:00 +0100\r\n"
    if mid is not None:
        headers += f"Message-ID: {mid}\r\n".encode()
    headers += b"MIME-Version: 1.0\r\n" + content_headers
    if isinstance(body, str):
        body = body.encode()
    raw = headers + b"\r\n" + body + f"\r\n{marker}\r\n".encode()
    return Built(raw, marker, mid or "")


@dataclass
class Delivery:
    sent: Sent
    action: str = ""  # the audit outcome; "" when refused at the edge
    info: dict[str, Any] | None = None
    seconds: float = 0.0  # from the 250 to the outcome

    @property
    def email(self) -> dict[str, Any]:
        assert self.action in ("email.logged", "email.duplicate"), self.action
        assert self.info is not None
        return self.info


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def outcome_of(node: Node, entry_id: str) -> tuple[str, dict[str, Any]] | None:
    """The audit outcome of one accepted spool entry, or None while it has none."""
    for action, object_id, details in node.rows(
        "SELECT action, object_id, details FROM audit_log WHERE action IN "
        "('email.logged', 'email.duplicate', 'message.dropped', 'message.held', "
        "'message.quarantined')"
    ):
        info = dict(_json(details) or {})
        if action in ("email.logged", "email.duplicate"):
            if info.get("entry") == entry_id:
                return action, info | {"email_id": int(object_id)}
        elif object_id == entry_id:
            return action, info
    return None


def deliver(node: Node, built: Built, budget: float = BUDGET) -> Delivery:
    """Send one message; if accepted, wait for its audit outcome within ``budget``."""
    sent = node.send(built.raw, marker=built.marker, message_id=built.message_id)
    delivery = Delivery(sent)
    if sent.entry_id is None:
        return delivery
    started = time.monotonic()
    deadline = started + budget
    while (found := outcome_of(node, sent.entry_id)) is None:
        assert time.monotonic() < deadline, (
            f"{sent.entry_id} has no outcome {budget:.0f} s after its 250:\n{node.logs()[-3000:]}"
        )
        time.sleep(0.05)
    delivery.seconds = time.monotonic() - started
    delivery.action, delivery.info = found
    return delivery


def email_row(node: Node, email_id: int) -> dict[str, Any]:
    [row] = node.rows(
        "SELECT subject, from_email, from_name, message_id, sent_at, body_text, defects "
        "FROM emails WHERE id = :id",
        id=email_id,
    )
    result = dict(row._mapping)
    result["defects"] = list(_json(result["defects"]) or [])
    return result


def catalogue(reply: str) -> tuple[int, str]:
    return int(reply[:3]), reply[4:]


def refused(delivery: Delivery, reply: str) -> None:
    assert (delivery.sent.code, delivery.sent.reply) == catalogue(reply)
    assert delivery.sent.entry_id is None


def settle(node: Node) -> Any:
    node.drain()
    return check(node)


# -- structure limits: refused at the edge ------------------------------------------------


def nested(depth: int) -> bytes:
    levels = b"".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n'.encode()
        for n in range(1, depth)
    )
    closing = b"".join(f"--b{n}--\r\n".encode() for n in reversed(range(depth)))
    return b"--b0\r\n" + levels + b"Content-Type: text/plain\r\n\r\nhello\r\n" + closing


@pytest.mark.scenario("MIME", "nesting 60/300/1000")
def test_deep_nesting_is_refused_at_the_edge(
    mime_node: Node, record: Callable[[str], None]
) -> None:
    node = mime_node
    outcomes = {}
    for depth in (10, 60, 300, 1000):
        built = build(
            body=nested(depth),
            content_headers=b'Content-Type: multipart/mixed; boundary="b0"\r\n',
        )
        outcomes[depth] = deliver(node, built)
    for depth in (60, 300, 1000):
        refused(outcomes[depth], replies.STRUCTURE_LIMITS)
    assert outcomes[10].action == "email.logged"  # the control: a sane depth goes through
    settle(node)
    record("554 5.6.0 at depth 60, 300, 1000; depth 10 logged")


@pytest.mark.scenario("MIME", "100,000 parts")
def test_100000_parts_are_refused_at_the_edge(
    mime_node: Node, record: Callable[[str], None]
) -> None:
    node = mime_node
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(100_000))
    built = build(
        body=parts + b"--p--\r\n",
        content_headers=b"Content-Type: multipart/mixed; boundary=p\r\n",
    )
    refused(deliver(node, built), replies.STRUCTURE_LIMITS)
    settle(node)
    record("554 5.6.0 (limit 500 parts)")


# -- header blocks: over the limit refused, just under it parsed in bounded time -----------


@pytest.mark.scenario("MIME", "40,000 encoded-words in Subject")
def test_40000_encoded_words_in_subject(mime_node: Node, record: Callable[[str], None]) -> None:
    node = mime_node
    words = "=?utf-8?q?x?= "
    over = deliver(node, build(subject=words * 40_000))
    refused(over, replies.STRUCTURE_LIMITS)
    # Under the 102,400-byte header block the parser still bounds the field to 16 KiB.
    under = deliver(node, build(subject=words * 7_000))
    assert under.action == "email.logged"
    row = email_row(node, under.email["email_id"])
    assert row["subject"].startswith("x" * 1_000)  # decoded, up to where the field was cut
    assert len(row["subject"]) < 16_384
    assert "oversized header fields truncated" in row["defects"]
    assert under.seconds < BUDGET
    settle(node)
    record(f"40,000: 554 5.6.0; 7,000: logged, field cut, {under.seconds:.1f} s")


@pytest.mark.scenario("MIME", "20,000 addresses in To")
def test_20000_addresses_in_to(mime_node: Node, record: Callable[[str], None]) -> None:
    node = mime_node
    tag = secrets.token_hex(3)

    def addresses(count: int) -> str:
        return ", ".join(f"p{n}.{tag}@crowd.pl" for n in range(count))

    over = deliver(node, build(to=addresses(20_000)))
    refused(over, replies.STRUCTURE_LIMITS)
    under = deliver(node, build(to=addresses(4_000)))
    assert under.action == "email.logged", under.info
    assert under.info is not None and under.info.get("ignored") == 450, under.info
    row = email_row(node, under.email["email_id"])
    assert "oversized header fields truncated" in row["defects"]
    contacts = node.rows(
        "SELECT count(*) FROM contact_emails WHERE email LIKE :tail", tail=f"%.{tag}@crowd.pl"
    )[0][0]
    assert contacts == 50  # [matching] max_participants: a mass mailing creates no crowd
    participants = node.rows(
        "SELECT count(*) FROM email_participants WHERE email_id = :id", id=under.email["email_id"]
    )[0][0]
    assert participants == 501  # the author and the first 500 recipients the parser keeps
    settle(node)
    record(f"20,000: 554 5.6.0; 4,000: logged, {contacts} contacts, {under.seconds:.1f} s")


# -- the author ------------------------------------------------------------------------------


@pytest.mark.scenario("MIME", "two From headers")
def test_two_from_headers_are_held(mime_node: Node, record: Callable[[str], None]) -> None:
    node = mime_node
    built = build(
        "From: Anna Nowak <anna@example.com>\r\nFrom: Evil <evil@attacker.test>\r\n"
        "To: jan@acme.pl\r\nSubject: two authors\r\n"
    )
    delivery = deliver(node, built)
    assert delivery.sent.code == 250
    assert delivery.action == "message.held"
    assert delivery.info == {"reason": HELD_FROM}
    settle(node)
    assert delivery.sent.entry_id in node.spool_entries("quarantine")
    assert not node.rows("SELECT id FROM emails WHERE message_id = :m", m=built.message_id)
    record("250, held in quarantine: From is not exactly one valid address")


# What bccrm does today with each payload of CVE-2023-27043 (and relatives): a From that the
# vulnerable getaddresses() misreads is held; a display name that merely looks like an address
# is a name, so the author is the real address (not a user: dropped, nothing logged).
CVE_PAYLOADS = [
    ("anna@example.com)<evil@attacker.test>", "message.held", HELD_FROM),
    ("evil@attacker.test)<anna@example.com>", "message.held", HELD_FROM),
    ("anna@example.com<evil@attacker.test>", "message.held", HELD_FROM),
    ('anna@example.com"<evil@attacker.test>"', "message.held", HELD_FROM),
    ("<evil@attacker.test>anna@example.com", "message.held", HELD_FROM),
    ("evil@attacker.test, anna@example.com", "message.held", HELD_FROM),
    ('"anna@example.com" <evil@attacker.test>', "message.dropped", "no registered user takes part"),
    (
        "=?utf-8?q?anna=40example.com=3E?= <evil@attacker.test>",
        "message.dropped",
        "no registered user takes part",
    ),
]


@pytest.mark.scenario("MIME", "CVE-2023-27043 address payloads")
def test_cve_2023_27043_payloads_never_log_as_the_rep(
    mime_node: Node, record: Callable[[str], None]
) -> None:
    node = mime_node
    results = []
    for from_value, _, _ in CVE_PAYLOADS:
        built = build(f"From: {from_value}\r\nTo: jan@acme.pl\r\nSubject: payload\r\n")
        results.append((built, deliver(node, built)))
    for (from_value, action, reason), (built, delivery) in zip(CVE_PAYLOADS, results, strict=True):
        assert delivery.sent.code == 250, from_value
        assert (delivery.action, delivery.info) == (action, {"reason": reason}), from_value
        assert not node.rows("SELECT id FROM emails WHERE message_id = :m", m=built.message_id)
    settle(node)
    held = sum(1 for _, action, _ in CVE_PAYLOADS if action == "message.held")
    record(f"{held} held (From not one valid address), {len(CVE_PAYLOADS) - held} dropped")


# -- header text that would break a one-line field ----------------------------------------


CONTROLS = {"\n", "\r", "\x1b", "\x07", "\x9b", "\x00"}


@pytest.mark.scenario("MIME", "encoded newline and ESC in Subject")
def test_encoded_newline_and_esc_in_subject(mime_node: Node, record: Callable[[str], None]) -> None:
    node = mime_node
    built = build(
        subject="=?utf-8?q?new=0Aline=0Dcr=1B[31mred=C2=9B2J?= =?utf-8?b?G10wO3RpdGxlBw==?=",
        to="=?utf-8?q?Jan=09Kowalski=1B[0m?= <jan@acme.pl>",
    )
    delivery = deliver(node, built)
    assert delivery.action == "email.logged"
    row = email_row(node, delivery.email["email_id"])
    # Line breaks are spaces, the other controls U+FFFD: the text itself is kept.
    assert row["subject"] == "new line cr\ufffd[31mred\ufffd2J\ufffd]0;title\ufffd"
    [(name,)] = node.rows(
        "SELECT name FROM email_participants WHERE email_id = :id AND email = 'jan@acme.pl'",
        id=delivery.email["email_id"],
    )
    assert name == "Jan Kowalski\ufffd[0m"
    # In the author's display name the stdlib itself refuses a line break: no valid author.
    author = deliver(node, build(sender="=?utf-8?q?Anna=0ANowak?= <anna@example.com>"))
    assert (author.action, author.info) == ("message.held", {"reason": HELD_FROM})
    # So it does in a recipient's name: the addresses are recovered without names and the
    # copy is logged (it used to lose the whole To field, look internal and be dropped).
    to = deliver(node, build(to="=?utf-8?q?Jan=0AKowalski?= <jan@acme.pl>"))
    assert to.action == "email.logged"
    [(name,)] = node.rows(
        "SELECT name FROM email_participants WHERE email_id = :id AND email = 'jan@acme.pl'",
        id=to.email["email_id"],
    )
    assert name == ""
    settle(node)
    record("logged, no raw CR/LF/ESC stored; line break in From name: held, in To name: logged")


@pytest.mark.scenario("MIME", "NUL bytes (SQLite and PostgreSQL)")
def test_nul_bytes(make_node: NodeFactory, backend: str, record: Callable[[str], None]) -> None:
    node = make_node(backend).start()
    built = build(
        "From: Anna Nowak <anna@example.com>\r\nTo: Jan\x00 =?utf-8?q?K=00?= <jan@acme.pl>\r\n"
        "Subject: a\x00b =?utf-8?q?c=00d?=\r\n",
        body=b"body \x00 with NUL\r\nzero\x00\x00width\r\n",
    )
    delivery = deliver(node, built)
    assert delivery.action == "email.logged"
    row = email_row(node, delivery.email["email_id"])
    for field in ("subject", "from_name", "body_text"):
        assert "\x00" not in row[field], field
    assert row["subject"] == "a\ufffdb c\ufffdd"
    names = node.rows("SELECT email, name FROM email_participants ORDER BY email")
    assert [tuple(n) for n in names] == [
        ("anna@example.com", "Anna Nowak"),
        ("jan@acme.pl", "Jan\ufffd K\ufffd"),
    ]
    contacts = node.rows("SELECT first_name, last_name FROM contacts")
    assert all("\x00" not in f"{first}{last}" for first, last in contacts)
    assert settle(node).emails == 1
    record("logged; NUL stored as U+FFFD")


@pytest.mark.scenario("MIME", "unknown charsets, broken base64/QP")
def test_unknown_charsets_and_broken_encodings(
    mime_node: Node, record: Callable[[str], None]
) -> None:
    node = mime_node
    cases: list[tuple[str, bytes, bytes, list[str]]] = [
        (
            "Oferta",
            b"Content-Type: text/plain; charset=klingon\r\n",
            "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144".encode("cp1250"),
            ["unknown charset 'klingon'"],
        ),
        (
            "Oferta",
            b'Content-Type: text/plain; charset="utf-8"\r\n',
            b"\xff\xfe not utf-8 \xb9",
            ["body is not utf-8; decoded as a legacy charset"],
        ),
        (
            "Oferta",
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n",
            b"!!!not base64===\r\nWmHFvMOzxYLEhw\r\n=",
            ["body is not us-ascii; decoded as a legacy charset"],
        ),
        (
            "Oferta",
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"=ZZ= soft=\r\nbreak =C5=BC =E",
            [],
        ),
        (
            "Oferta",
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n",
            b"begin 644 x\r\n#86)C\r\n`\r\nend",
            [],
        ),
        (
            "=?klingon?q?qapla=27?= =?utf-8?b?!!!?= =?iso-8859-2?q?=B1=E6?=",
            b"Content-Type: text/plain; charset=x-mac-klingon\r\n",
            b"hello",
            ["unknown charset 'x-mac-klingon'"],
        ),
    ]
    results = []
    for subject, content_headers, body, defects in cases:
        built = build(subject=subject, body=body, content_headers=content_headers)
        delivery = deliver(node, built)
        assert delivery.action == "email.logged", content_headers
        row = email_row(node, delivery.email["email_id"])
        results.append(row)
        assert row["defects"] == defects, content_headers
    assert "zażółć" in results[0]["body_text"].lower()  # the windows-1250 guess reads Polish right
    settle(node)
    record(f"{len(cases)} logged, charset defects noted")


# -- bodies that are slow for regular expressions ------------------------------------------


def hostile_bodies() -> list[tuple[str, bytes]]:
    quoted = b"".join(b"> " * (n % 7 + 1) + b"quoted line\r\n" for n in range(65_000))
    attribution = "On Mon, Nov 2, 2026 at 9:{:02d} AM Jan <jan@acme.pl> wrote:\r\n> x\r\n"
    attributions = "".join(attribution.format(n % 60) for n in range(32_500)).encode()
    forward = b"---------- Forwarded message ---------\r\nFrom: Jan <jan@acme.pl>\r\n"
    separators = (b"-" * 76 + b"\r\n" + b"_\r\n" + b"> " * 30 + b"\r\n") * 10_000
    signature = "-- \r\nJan Kowalski\r\ntel. +48 601 234 {:03d}\r\n"
    signatures = "".join(signature.format(n % 1000) for n in range(20_000)).encode()
    return [
        ("65,000-line quoted thread", quoted),
        ("65,000 lines of attributions and quotes", attributions),
        ("1 MB attribution line", b"On " + b"a wrote: " * 110_000 + b"\r\n"),
        ("phones on one line", b"+48 601 234 567 " * 20_000 + b"\r\n"),
        ("forward marker after 65,000 lines", b"x\r\n" * 65_000 + forward),
        ("separator lines", separators),
        ("20,000 signature blocks", signatures),
    ]


@pytest.mark.scenario(
    "MIME", "a 65,000-line quoted thread and other regex-hostile bodies finish within a time budget"
)
def test_regex_hostile_bodies_finish_within_a_budget(
    mime_node: Node, record: Callable[[str], None]
) -> None:
    node = mime_node
    timings = []
    for name, body in hostile_bodies():
        delivery = deliver(node, build(body=body), budget=BUDGET)
        assert delivery.sent.code == 250, (name, delivery.sent.reply)
        assert delivery.action == "email.logged", name
        assert delivery.seconds < BUDGET, name
        timings.append(delivery.seconds)
    settle(node)
    record(f"{len(timings)} logged, slowest {max(timings):.1f} s (budget {BUDGET:.0f} s)")


# -- attachments -----------------------------------------------------------------------------


def archive_message(inner_marker: str) -> tuple[Built, dict[str, bytes]]:
    """A message with a zip and a gzip attachment, each a small file that inflates to 20 MB
    (a compression bomb) of text starting with ``inner_marker``."""
    content = inner_marker.encode() + b"\n" + b"A" * 20_000_000
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("oferta.txt", content)
    archives = {"oferta.zip": zipped.getvalue(), "oferta.txt.gz": gzip.compress(content, 9)}
    marker = f"BODYMARK{secrets.token_hex(8)}"
    message_id = f"<mime-{secrets.token_hex(8)}@example.com>"
    msg = EmailMessage()
    msg["From"] = "Anna Nowak <anna@example.com>"
    msg["To"] = "Jan Kowalski <jan@acme.pl>"
    msg["Subject"] = "Archiwa"
    msg["Message-ID"] = message_id
    msg.set_content(f"W załączeniu archiwa.\n{marker}\n")
    msg.add_attachment(archives["oferta.zip"], "application", "zip", filename="oferta.zip")
    msg.add_attachment(archives["oferta.txt.gz"], "application", "gzip", filename="oferta.txt.gz")
    return Built(msg.as_bytes(policy=SMTP_POLICY), marker, message_id), archives


def database_files(node: Node) -> list[Path]:
    return sorted(p for p in node.root.iterdir() if p.name.startswith("bccrm.db"))


@pytest.mark.scenario("MIME", "archives are never decompressed")
def test_archives_are_never_decompressed(mime_node: Node, record: Callable[[str], None]) -> None:
    node = mime_node
    inner = f"INNERMARK{secrets.token_hex(8)}"
    built, archives = archive_message(inner)
    delivery = deliver(node, built)
    assert delivery.action == "email.logged"
    settle(node)
    rows = node.rows(
        "SELECT filename, content_type, size, sha256 FROM email_attachments WHERE email_id = :id "
        "ORDER BY filename",
        id=delivery.email["email_id"],
    )
    assert [tuple(r) for r in rows] == [
        (name, kind, len(archives[name]), hashlib.sha256(archives[name]).hexdigest())
        for name, kind in (("oferta.txt.gz", "application/gzip"), ("oferta.zip", "application/zip"))
    ]
    row = email_row(node, delivery.email["email_id"])
    assert inner not in row["body_text"]
    # The decompressed text exists nowhere bccrm writes: database, spool, log.
    stored = [*database_files(node), node.log_path]
    stored += [p for p in node.spool_path.rglob("*") if p.is_file()]
    for path in stored:
        assert inner.encode() not in path.read_bytes(), path.name
    total = sum(len(a) for a in archives.values())
    record(f"logged; 2 attachment rows ({total} bytes stored as metadata), nothing inflated")


# -- missing headers -------------------------------------------------------------------------


@pytest.mark.scenario("MIME", "no Message-ID / no Date")
def test_no_message_id_and_no_date(mime_node: Node, record: Callable[[str], None]) -> None:
    node = mime_node
    built = build(message_id=None, date=False, subject="bez identyfikatora")
    first = deliver(node, built)
    assert first.action == "email.logged"
    row = email_row(node, first.email["email_id"])
    assert (row["message_id"], row["sent_at"]) == ("", None)
    again = deliver(node, Built(built.raw, built.marker, ""))
    assert again.action == "email.duplicate"  # sender, subject and body still identify it
    assert again.email["email_id"] == first.email["email_id"]
    settle(node)
    record("logged with empty Message-ID and no date; the same copy again is a duplicate")
