"""Turn raw message bytes into a :class:`ParsedMessage`: pure, bounded, never raising.

Header values are read through ``email.policy.default`` header objects, each access guarded:
the stdlib parser has known crashes on hostile headers, and a broken header is a *defect* on
the message, never an exception in the worker. Text destined for storage is cleaned of NUL
(PostgreSQL rejects it in text columns; SQLite would store it silently).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

from gateway.addresses import normalize_address
from gateway.parsing.text import clean_text, html_to_text

MAX_PARTS = 1000
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
    """Parse ``raw`` (bytes exactly as received)."""
    defects: list[str] = []
    try:
        msg = BytesParser(policy=default_policy).parsebytes(raw)
    except (RecursionError, MemoryError):
        # Deeply nested MIME breaks the stdlib parser; keep the headers, flag the body.
        msg = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
        defects.append("mime structure too deep to parse")
    assert isinstance(msg, EmailMessage)
    reader = _HeaderReader(msg, defects)
    sender = _single_sender(reader)
    participants = _participants(reader)
    body, attachments = _body_and_attachments(msg, defects)
    return ParsedMessage(
        message_id=clean_text(reader.text("Message-ID").strip())[:998],
        subject=clean_text(reader.text("Subject"))[:5000],
        sent_at=reader.date("Date"),
        sender=sender,
        participants=participants,
        body_text=body,
        body_sha256=body_hash(raw),
        size=len(raw),
        attachments=attachments,
        in_reply_to=clean_text(reader.text("In-Reply-To").strip())[:998],
        references=tuple(clean_text(reader.text("References")).split())[:100],
        defects=defects,
    )


def body_hash(raw: bytes) -> str:
    """Hash of the body section, insensitive to CRLF/LF and trailing blank lines, so copies of
    one message that took different paths (SMTP, pipe, a relay adding headers) hash the same."""
    match = re.search(rb"\r?\n\r?\n", raw)
    body = raw[match.end() :] if match else b""
    return hashlib.sha256(body.replace(b"\r\n", b"\n").rstrip(b"\n")).hexdigest()


class _HeaderReader:
    """Guarded header access; every failure becomes a defect string."""

    def __init__(self, msg: EmailMessage, defects: list[str]) -> None:
        self.msg, self.defects = msg, defects

    def header(self, name: str) -> Any:
        try:
            return self.msg.get(name)
        except Exception:
            self.defects.append(f"unparseable {name} header")
            return None

    def all(self, name: str) -> list[Any]:
        try:
            return list(self.msg.get_all(name) or [])
        except Exception:
            self.defects.append(f"unparseable {name} header")
            return []

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

    def addresses(self, name: str) -> list[Address]:
        found: list[Address] = []
        for value in self.all(name):
            if getattr(value, "defects", None):
                self.defects.append(f"defective {name} header")
            found.extend(getattr(value, "addresses", ()))
        return found


def _person(address: Address) -> Person | None:
    email = normalize_address(address.addr_spec)
    if email is None:
        return None
    name = clean_text(address.display_name).strip()
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


def _body_and_attachments(msg: EmailMessage, defects: list[str]) -> tuple[str, list[Attachment]]:
    text = ""
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            text = _part_text(body, defects)
    except (RecursionError, ValueError, LookupError, TypeError, AttributeError):
        defects.append("body could not be decoded")
    attachments: list[Attachment] = []
    try:
        for count, part in enumerate(msg.iter_attachments()):
            if count >= MAX_PARTS:
                defects.append("too many attachments")
                break
            attachments.append(_attachment(part))
    except (RecursionError, ValueError, LookupError, TypeError, AttributeError):
        defects.append("attachments could not be listed")
    return text[:MAX_BODY_CHARS], attachments


def _part_text(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        text = payload.decode(charset, errors="replace")
    except LookupError:
        defects.append(f"unknown charset {charset[:40]!r}")
        text = payload.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return clean_text(text)


def _attachment(part: Message) -> Attachment:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return Attachment(
        filename=clean_text(part.get_filename() or "")[:500],
        content_type=part.get_content_type()[:200],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
