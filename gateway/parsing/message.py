"""Turn raw message bytes into a :class:`ParsedMessage`: pure, bounded, never raising.

Header values are read through ``email.policy.default`` header objects, each access guarded:
the stdlib parser has known crashes on hostile headers, and a broken header is a *defect* on
the message, never an exception in the worker. Text destined for storage is cleaned of NUL
(PostgreSQL rejects it in text columns; SQLite would store it silently).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.policy import default as default_policy
from typing import Any

from gateway.addresses import normalize_address
from gateway.parsing.html import html_to_text
from gateway.parsing.text import clean_line, clean_text

MAX_PARTS = 1000
MAX_DEPTH = 50
MAX_ATTACHED_MESSAGES = 3
MAX_FIELD = 16_384  # bytes of one header field, continuation lines included
MAX_FIELDS = 1_000
MAX_HEADER_SCAN = 4_000_000  # where the header block must have ended
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_UNFOLD = re.compile(r"[\r\n]")
# The stdlib parses a message/delivery-status body as one header block per blank line, in
# quadratic time (a 2 MB report of blank lines takes ~20 s). bccrm reads reports with
# gateway.parsing.dsn instead, so the parser is told they are opaque text.
_STATUS_TYPE = re.compile(
    rb"(?i)(content-type:[ \t]*(?:\r?\n[ \t]+)?)message/(global-)?delivery-status"
)
# Headers the analysis reads besides the addresses (flags, tokens, threading).
EXTRA_HEADERS = (
    "List-Id",
    "List-Unsubscribe",
    "Precedence",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Autorespond",
    "Thread-Index",
    "Delivered-To",
    "X-Original-To",
    "X-CRM-Log",
)
MAX_BODY_CHARS = 1_000_000
ROLES = ("from", "to", "cc")


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Participant:
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass
class ParsedMessage:
    message_id: str
    subject: str
    sent_at: datetime | None
    sender: Person | None
    participants: list[Participant]
    body_text: str
    body_sha256: str
    size: int
    attachments: list[Attachment] = field(default_factory=list)
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    defects: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # EXTRA_HEADERS present, lower-case
    date_offset: int = 0  # minutes east of UTC written in the Date header
    content_type: str = "text/plain"
    report_type: str = ""
    attached_messages: list[bytes] = field(default_factory=list)  # message/rfc822 parts

    @property
    def dedup_key(self) -> str:
        """Message-ID + body hash; without a Message-ID, sender, date and subject stand in."""
        ident = self.message_id or "\x1f".join(
            (
                self.sender.email if self.sender else "",
                self.sent_at.isoformat() if self.sent_at else "",
                self.subject,
            )
        )
        return hashlib.sha256(f"{ident}\x1e{self.body_sha256}".encode()).hexdigest()


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw`` (bytes exactly as received).

    The MIME structure is read with the ``compat32`` policy (plain string headers: four times
    faster), and only the headers bccrm reads become ``policy.default`` header objects, built
    once each: the addresses (the parser with the CVE-2023-27043 fixes), the date, RFC 2047.
    """
    defects: list[str] = []
    bounded = _STATUS_TYPE.sub(rb"\1text/x-delivery-status", bound_headers(raw, defects))
    try:
        msg = BytesParser(policy=compat32).parsebytes(bounded)
    except (RecursionError, MemoryError):
        # Deeply nested MIME breaks the stdlib parser; keep the headers, flag the body.
        msg = BytesParser(policy=compat32).parsebytes(bounded, headersonly=True)
        defects.append("mime structure too deep to parse")
    reader = _HeaderReader(msg, defects)
    walk = _Walk(defects)
    walk.visit(msg, 0)
    headers = {
        name.lower(): clean_text(reader.text(name))[:2000]
        for name in EXTRA_HEADERS
        if reader.header(name) is not None
    }
    return ParsedMessage(
        message_id=clean_text(reader.text("Message-ID").strip())[:998],
        subject=clean_line(reader.text("Subject"))[:5000],
        sent_at=reader.date("Date"),
        date_offset=reader.offset("Date"),
        sender=_single_sender(reader),
        participants=_participants(reader),
        body_text=walk.body_text(),
        body_sha256=body_hash(raw),
        size=len(raw),
        attachments=walk.attachments,
        in_reply_to=clean_text(reader.text("In-Reply-To").strip())[:998],
        references=tuple(clean_text(reader.text("References")).split())[:100],
        defects=defects,
        headers=headers,
        content_type=msg.get_content_type(),
        report_type=str(msg.get_param("report-type", "") or "").lower()[:50],
        attached_messages=walk.attached_messages,
    )


def bound_headers(raw: bytes, defects: list[str]) -> bytes:
    """``raw`` with each header field cut to MAX_FIELD bytes and at most MAX_FIELDS fields.

    CPython's header decoding is quadratic in some inputs (a Subject of 40,000 encoded-words
    takes ~20 s), and the edge's header-block limit does not protect ``ingest`` or
    ``bccrm parse``. Real fields are far below these limits; only hostile ones are cut.
    """
    match = _HEADER_END.search(raw, 0, MAX_HEADER_SCAN)
    end = match.start() if match else min(len(raw), MAX_HEADER_SCAN)
    head = raw[:end]
    if len(head) <= MAX_FIELD and head.count(b"\n") < MAX_FIELDS:
        return raw
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            if len(fields[-1]) + len(line) <= MAX_FIELD:
                fields[-1] += line
            continue
        if len(fields) >= MAX_FIELDS:
            break
        fields.append(_cut_field(line) if len(line) > MAX_FIELD else line)
    bounded = b"".join(f if f.endswith(b"\n") else f + b"\r\n" for f in fields)
    if len(bounded) < len(head):
        defects.append("oversized header fields truncated")
    return bounded + raw[end:]


def _cut_field(line: bytes) -> bytes:
    """An overlong field cut to MAX_FIELD bytes at its last comma (else its last space), so an
    address list keeps whole addresses: the stdlib's address parser raises on a list that ends
    in a partial address (``…, jan@``), which would lose every address of the field."""
    cut = line[:MAX_FIELD]
    start = cut.find(b":") + 1
    for separator in (b",", b" "):
        at = cut.rfind(separator, start)
        if at > start:
            return cut[:at]
    return cut


def body_hash(raw: bytes) -> str:
    """Hash of the body section, insensitive to CRLF/LF and trailing blank lines, so copies of
    one message that took different paths (SMTP, pipe, a relay adding headers) hash the same."""
    match = re.search(rb"\r?\n\r?\n", raw)
    body = raw[match.end() :] if match else b""
    return hashlib.sha256(body.replace(b"\r\n", b"\n").rstrip(b"\n")).hexdigest()


class _HeaderReader:
    """Guarded, cached access to structured headers; every failure becomes a defect string."""

    def __init__(self, msg: Message, defects: list[str]) -> None:
        self.defects = defects
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(name.lower(), []).append(value)
        self._all: dict[str, list[Any]] = {}
        self._failed: dict[str, list[str]] = {}  # raw values the stdlib could not parse

    def header(self, name: str) -> Any:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[Any]:
        key = name.lower()
        if key not in self._all:
            self._all[key] = [self._structured(name, v) for v in self.raw.get(key, [])[:50]]
            self._all[key] = [v for v in self._all[key] if v is not None]
        return self._all[key]

    def _structured(self, name: str, value: str) -> Any:
        if any("\udc80" <= ch <= "\udcff" for ch in value):  # raw 8-bit: RFC 6532 UTF-8
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        try:
            return default_policy.header_factory(name, _UNFOLD.sub("", value))
        except Exception:  # the stdlib's header parsing has known crashes on hostile input
            self.defects.append(f"unparseable {name} header")
            self._failed.setdefault(name.lower(), []).append(value)
            return None

    def text(self, name: str) -> str:
        value = self.header(name)
        return "" if value is None else str(value)

    def date(self, name: str) -> datetime | None:
        value = self.header(name)
        stamp = getattr(value, "datetime", None)
        if stamp is None:
            if value is not None:
                self.defects.append(f"invalid {name} header")
            return None
        assert isinstance(stamp, datetime)
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)

    def offset(self, name: str) -> int:
        """Minutes east of UTC of a date header as written (0 when absent or naive)."""
        stamp = getattr(self.header(name), "datetime", None)
        delta = stamp.utcoffset() if isinstance(stamp, datetime) else None
        return int(delta.total_seconds() // 60) if delta is not None else 0

    def addresses(self, name: str) -> list[Address]:
        found: list[Address] = []
        for value in self.all(name):
            if getattr(value, "defects", None):
                self.defects.append(f"defective {name} header")
            found.extend(getattr(value, "addresses", ()))
        if name.lower() in _RECOVERABLE and self._failed.get(name.lower()):
            # A recipient field the stdlib refuses (an encoded line break in one display name
            # is enough) must not lose every recipient: the copy would look internal and be
            # dropped. Take the plain addresses, without names. Never done for From.
            recovered = [a for raw in self._failed[name.lower()] for a in _bare_addresses(raw)]
            if recovered:
                self.defects.append(f"addresses recovered from an unparseable {name} header")
            found.extend(recovered)
        return found


_RECOVERABLE = ("to", "cc")
_ANGLED = re.compile(r"<([^<>\s@]{1,64}@[^<>\s@]{1,253})>")
_BARE = re.compile(r"(?<![^\s,;:])([^<>\s@,;:\"]{1,64}@[^<>\s@,;:\"]{1,253})(?![^\s,;])")


def _bare_addresses(raw: str, limit: int = 500) -> list[Address]:
    """The addr-specs in a raw recipient field: ``<…>`` ones if any, else bare tokens."""
    value = _UNFOLD.sub(" ", raw)[:100_000]
    specs = _ANGLED.findall(value) or _BARE.findall(value)
    found = []
    for spec in specs[:limit]:
        with contextlib.suppress(Exception):  # the stdlib validates; hostile ones are skipped
            found.append(Address(addr_spec=spec))
    return found


def _person(address: Address) -> Person | None:
    email = normalize_address(address.addr_spec)
    if email is None:
        return None
    name = clean_line(address.display_name).strip()
    return Person(email, "" if normalize_address(name) == email else name[:300])


def _single_sender(reader: _HeaderReader) -> Person | None:
    """The author, only when there is exactly one From header with exactly one address.

    Two From headers are an attack on DKIM (``msg['From']`` is the first, DKIM signs the last),
    and CVE-2023-27043 payloads show up as defects: both leave the message without a sender.
    """
    headers = reader.all("From")
    addresses = reader.addresses("From")
    if len(headers) != 1 or len(addresses) != 1 or getattr(headers[0], "defects", None):
        reader.defects.append("From is not exactly one valid address")
        return None
    person = _person(addresses[0])
    if person is None:
        reader.defects.append("From is not exactly one valid address")
    return person


def _participants(reader: _HeaderReader) -> list[Participant]:
    seen: set[tuple[str, str]] = set()
    result: list[Participant] = []
    for role, header in (("from", "From"), ("to", "To"), ("cc", "Cc")):
        for address in reader.addresses(header)[:500]:
            person = _person(address)
            if person is None or (role, person.email) in seen:
                continue
            seen.add((role, person.email))
            result.append(Participant(person.email, person.name, role))
    return result


class _Walk:
    """One bounded pass over the MIME tree: the body text (plain preferred over HTML), the
    attachments' metadata, and messages attached as message/rfc822 (not descended into: their
    text is another message's, read separately when the analysis needs it)."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self.plain: Message | None = None
        self.html: Message | None = None
        self.attachments: list[Attachment] = []
        self.attached_messages: list[bytes] = []
        self.parts = 0

    def visit(self, part: Message, depth: int) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS or depth > MAX_DEPTH:
            if self.parts == MAX_PARTS + 1 or depth == MAX_DEPTH + 1:
                self.defects.append("too many MIME parts; the rest is ignored")
            return
        kind = part.get_content_type()
        if part.is_multipart() and kind != "message/rfc822":
            for child in part.get_payload() or []:
                if isinstance(child, Message):
                    self.visit(child, depth + 1)
        elif kind == "message/rfc822":
            self._attached_message(part)
        elif kind in ("text/plain", "text/html") and not _is_attachment(part):
            if kind == "text/plain" and self.plain is None:
                self.plain = part
            elif kind == "text/html" and self.html is None:
                self.html = part
        elif depth > 0 or _is_attachment(part):
            self.attachments.append(_attachment(part))

    def _attached_message(self, part: Message) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message) and len(self.attached_messages) < MAX_ATTACHED_MESSAGES:
            try:
                self.attached_messages.append(inner.as_bytes())
            except (RecursionError, ValueError, LookupError, TypeError, AttributeError):
                self.defects.append("attached message could not be read")
        self.attachments.append(_attachment(part))

    def body_text(self) -> str:
        part = self.plain or self.html
        if part is None:
            return ""
        try:
            return _part_text(part, self.defects)[:MAX_BODY_CHARS]
        except (RecursionError, ValueError, LookupError, TypeError, AttributeError):
            self.defects.append("body could not be decoded")
            return ""


# Bytes of Polish letters in windows-1250 that are not letters in windows-1252: mislabelled
# Central European mail (common from old Polish mail programs) then reads right.
_CP1250_HINTS = frozenset(b"\xb9\xa5\x9c\x8c\x9f\x8f\xea\xca\xb3\xa3\xbf\xaf")


def _guess_decode(payload: bytes) -> str:
    """UTF-8 if it is valid, else windows-1250 when its Polish letters show, else windows-1252."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        pass
    legacy = "cp1250" if _CP1250_HINTS.intersection(payload) else "cp1252"
    return payload.decode(legacy, errors="replace")


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    return disposition == "attachment"


def _part_text(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        text = payload.decode(charset, errors="strict")
    except LookupError:
        defects.append(f"unknown charset {charset[:40]!r}")
        text = _guess_decode(payload)
    except UnicodeDecodeError:
        if charset in ("utf-8", "utf8", "us-ascii", "ascii"):
            defects.append(f"body is not {charset}; decoded as a legacy charset")
            text = _guess_decode(payload)
        else:
            text = payload.decode(charset, errors="replace")
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return clean_text(text)


def _attachment(part: Message) -> Attachment:
    payload = part.get_payload(decode=True) if not part.is_multipart() else None
    data = payload if isinstance(payload, bytes) else b""
    return Attachment(
        filename=_filename(part),
        content_type=part.get_content_type()[:200],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _filename(part: Message) -> str:
    """The attachment's name, RFC 2231 and RFC 2047 decoded."""
    name = part.get_filename() or ""
    if "=?" in name:
        # A broken encoded-word leaves the name as it was written.
        with contextlib.suppress(Exception):
            name = str(default_policy.header_factory("X-Filename", name))
    return clean_text(name)[:500]
