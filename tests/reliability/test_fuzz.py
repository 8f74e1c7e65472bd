"""Fuzz: random MIME structures, header encodings and line endings through the whole pipeline.

Every generated message goes over SMTP to a running node (edge + worker, SQLite). Per example:
the DATA reply is from the catalogue (250, or a catalogue refusal such as 550 5.5.2 for bare
line endings or 554 5.6.0 for structure), never a 500 or anything else; an accepted message
reaches an audited outcome within a per-message budget. The run ends with the invariant check.
"""

from __future__ import annotations

import base64
import quopri
import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.smtp import replies
from tests.conftest import fresh_database
from tests.reliability.conftest import sized
from tests.reliability.harness import Node
from tests.reliability.invariants import check
from tests.reliability.test_mime import Built, deliver

BUDGET = 20.0  # seconds from the 250 to the audit outcome, per message
CATALOGUE = {
    (int(reply[:3]), reply[4:])
    for reply in (
        replies.QUEUE_WRITE_ERROR,
        replies.INTERNAL_ERROR,
        replies.INSUFFICIENT_STORAGE,
        replies.BARE_LF,
        replies.MESSAGE_TOO_BIG,
        replies.STRUCTURE_LIMITS,
    )
}
ACCEPTED_OUTCOMES = {
    "email.logged",
    "email.duplicate",
    "message.dropped",
    "message.held",
    "message.quarantined",
}

CHARSETS = ["utf-8", "iso-8859-2", "windows-1250", "us-ascii", "koi8-r", "klingon", "", "utf-7"]
NO_EOL = st.characters(blacklist_characters="\r\n")
BYTES = st.binary(max_size=8).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
WORDS = ["Oferta", "Zażółć", "gęślą", "jaźń", "Привет", "日本", "x", "=?", "?=", "\x00", "\x1b[31m"]


@st.composite
def text_bits(draw: st.DrawFn) -> str:
    return " ".join(
        draw(st.lists(st.sampled_from(WORDS) | st.text(NO_EOL, max_size=12), max_size=6))
    )


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    """An RFC 2047 encoded-word with a random charset and encoding, sometimes broken."""
    text = draw(text_bits())
    charset = draw(st.sampled_from(CHARSETS))
    data = text.encode(charset if charset and charset not in ("klingon",) else "utf-8", "replace")
    kind = draw(st.sampled_from("bBqQx"))
    if kind in "bB":
        payload = base64.b64encode(data)
        if draw(st.booleans()):
            payload = payload[: draw(st.integers(0, len(payload)))]  # broken padding
    else:
        payload = quopri.encodestring(data, header=True).replace(b"=\n", b"")
    return b"=?" + charset.encode() + b"?" + kind.encode() + b"?" + payload + b"?="


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    pieces = draw(
        st.lists(
            encoded_word()
            | text_bits().map(lambda t: t.encode("utf-8", "replace"))  # raw 8-bit (RFC 6532)
            | BYTES,
            min_size=1,
            max_size=5,
        )
    )
    return b" ".join(pieces)


ADDRESS_VALUES = [
    b"Anna Nowak <anna@example.com>",
    b"anna@example.com",
    b"Jan Kowalski <jan@acme.pl>",
    b"jan@acme.pl, ewa@firma.pl",
    b'"anna@example.com" <evil@attacker.test>',
    b"anna@example.com)<evil@attacker.test>",
    b"=?utf-8?q?Anna_Nowak?= <anna@example.com>",
    b"<>",
    b"",
]


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["text/plain", "text/html", "application/zip", "image/png"]))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(["", "base64", "quoted-printable", "8bit", "x-unknown"]))
    body = draw(text_bits()).encode("utf-8", "replace") + draw(BYTES)
    if encoding == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    elif encoding == "quoted-printable" and draw(st.booleans()):
        body = quopri.encodestring(body).replace(b"\n", b"\r\n")
    head = f"Content-Type: {kind}" + (f"; charset={charset}" if charset else "")
    head += f"\r\nContent-Transfer-Encoding: {encoding}" if encoding else ""
    if draw(st.booleans()):
        head += '\r\nContent-Disposition: attachment; filename="=?utf-8?q?a=C5=BC?=.bin"'
    return head.encode() + b"\r\n\r\n" + body


def mime_tree(depth: int = 0) -> st.SearchStrategy[bytes]:
    if depth >= 3:
        return leaf()
    return leaf() | st.builds(
        _multipart,
        st.sampled_from(["mixed", "alternative", "related", "digest"]),
        st.text("abc123'()+_,-./:=?", min_size=1, max_size=10),
        st.lists(st.deferred(lambda: mime_tree(depth + 1)), max_size=4),
        st.booleans(),
    )


def _multipart(subtype: str, boundary: str, parts: list[bytes], closed: bool) -> bytes:
    tag = boundary.encode()
    out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\npreamble\r\n'.encode()
    for part in parts:
        out += b"--" + tag + b"\r\n" + part + b"\r\n"
    return out + (b"--" + tag + b"--\r\n" if closed else b"")


LINE_ENDINGS = [b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r"]


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, str, str]:
    marker = f"BODYMARK{secrets.token_hex(8)}"
    message_id = f"<fuzz-{secrets.token_hex(8)}@example.com>"
    headers = [
        b"From: " + draw(st.sampled_from(ADDRESS_VALUES[:3]) | st.sampled_from(ADDRESS_VALUES)),
        b"To: " + draw(st.sampled_from(ADDRESS_VALUES)),
        b"Subject: " + draw(header_value()),
        b"Message-ID: " + message_id.encode(),
    ]
    if draw(st.booleans()):
        headers.append(
            b"Date: "
            + draw(st.sampled_from([b"Mon, 02 Nov 2026 09:30:00 +0100", b"yesterday", b""]))
        )
    if draw(st.booleans()):
        headers.append(b"Cc: " + draw(header_value()))
    tree = draw(mime_tree())
    lines = b"\r\n".join(headers) + b"\r\nMIME-Version: 1.0\r\n" + tree
    lines += b"\r\n" + marker.encode() + b"\r\n"
    # CR/LF placement: most examples keep CRLF; some get bare CR, bare LF or mixes.
    if draw(st.integers(0, 3)) == 0:
        parts = lines.split(b"\r\n")
        endings = draw(
            st.lists(st.sampled_from(LINE_ENDINGS), min_size=len(parts), max_size=len(parts))
        )
        lines = b"".join(p + e for p, e in zip(parts, endings, strict=True))
    return lines, marker, message_id


@pytest.fixture(scope="module", params=["reject", "normalize"])
def fuzz_node(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Node]:
    """A node per ``[limits] bare_line_endings`` mode: bare CR/LF refused, or normalised and
    then read by the pipeline."""
    root = tmp_path_factory.mktemp("fuzz")
    with fresh_database("sqlite", root) as url:
        node = Node(root / "node", url, {"limits": {"bare_line_endings": request.param}})
        try:
            yield node.start()
        finally:
            node.stop()


@pytest.mark.scenario("Fuzz", "MIME structure, RFC 2047 headers and CR/LF placement over SMTP")
def test_fuzzed_messages_through_the_whole_pipeline(
    fuzz_node: Node, record: Callable[[str], None]
) -> None:
    node = fuzz_node
    normalize = "normalize" in node.config_path.read_text(encoding="utf-8")
    codes: dict[int, int] = {}
    actions: dict[str, int] = {}
    slowest = 0.0

    @settings(
        max_examples=sized(25, 300),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(messages())
    def one(example: tuple[bytes, str, str]) -> None:
        nonlocal slowest
        raw, marker, message_id = example
        started = time.monotonic()
        delivery = deliver(node, Built(raw, marker, message_id), budget=BUDGET)
        sent = delivery.sent
        codes[sent.code] = codes.get(sent.code, 0) + 1
        if sent.entry_id is None:
            assert (sent.code, sent.reply) in CATALOGUE, (sent.code, sent.reply, raw[:300])
            assert not (normalize and sent.code == 550), "bare line ends are normalised"
            return
        assert sent.code == 250
        assert delivery.action in ACCEPTED_OUTCOMES, delivery.action
        actions[delivery.action] = actions.get(delivery.action, 0) + 1
        slowest = max(slowest, delivery.seconds)
        assert time.monotonic() - started < BUDGET + 30

    one()
    node.drain()
    result = check(node)
    assert result.accepted == codes.get(250, 0)
    assert sum(actions.values()) == result.accepted
    assert result.logged + result.duplicate + result.dropped + result.held == result.accepted
    assert "message.quarantined" not in actions  # no message made the pipeline fail
    record(
        ("normalize: " if normalize else "reject: ")
        + f"{sum(codes.values())} messages: "
        + ", ".join(f"{code} ×{n}" for code, n in sorted(codes.items()))
        + "; "
        + ", ".join(f"{a} ×{n}" for a, n in sorted(actions.items()))
        + f"; slowest {slowest:.1f} s"
    )
