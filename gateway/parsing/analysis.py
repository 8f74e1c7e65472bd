"""What a careful assistant reads in a message: who really wrote it, what is new in it, and the
sender's signature. The result is the ``bccrm parse --json`` document and feeds the pipeline.

Composition only; the work is in :mod:`~gateway.parsing.forwards` (forwarded messages, the
innermost author wins), :mod:`~gateway.parsing.quotes` (quoted history),
:mod:`~gateway.parsing.signatures`, and :mod:`~gateway.parsing.classify` (threads, tokens,
bulk/auto/bounce flags, language). Every step works on bounded input; a message that takes
longer than the time budget keeps what was found so far and is flagged with a defect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.addresses import base_address
from gateway.parsing import classify
from gateway.parsing.forwards import Forward, parse_sent, unwrap_forwards
from gateway.parsing.message import ParsedMessage, Participant, Person, parse_message
from gateway.parsing.people import direction, is_internal
from gateway.parsing.quotes import strip_quotes
from gateway.parsing.signatures import Signature, parse_signature, split_signature

TIME_BUDGET = 0.5  # seconds of parsing per message before the rest is skipped


@dataclass
class Analysis:
    parsed: ParsedMessage
    sender: Person | None  # the outer author (the forwarder, for a forward)
    original_sender: Person | None
    original_date: datetime | None
    participants: list[Participant]  # of the original message
    forwarded: bool
    direction: str
    reply_text: str
    signature: Signature | None
    thread: dict[str, Any]
    tokens: dict[str, Any]
    flags: dict[str, bool]
    language: str
    defects: list[str] = field(default_factory=list)

    @property
    def forwarded_by(self) -> Person | None:
        return self.sender if self.forwarded else None


@dataclass(frozen=True)
class _Original:
    sender: Person | None
    date: datetime | None
    participants: list[Participant]
    body: str
    forwarded: bool


def analyze(
    raw: bytes,
    org_domains: tuple[str, ...],
    default_region: str,
    logging_addresses: tuple[str, ...] = (),
    envelope_recipients: tuple[str, ...] = (),
) -> Analysis:
    """Analyse ``raw`` (bytes as received). Never raises on message content.
    ``envelope_recipients`` (RCPT TO) may carry ``log+deal-<id>@`` tokens."""
    started = time.monotonic()
    parsed = parse_message(raw)
    defects = list(parsed.defects)
    original = _original(parsed, defects, org_domains)
    reply_text, signature = parsed.body_text, None
    if time.monotonic() - started < TIME_BUDGET:
        newest = strip_quotes(original.body, subject_hint=parsed.subject)
        reply_text, _ = split_signature(newest)
        signature = parse_signature(newest, original.sender, default_region)
    else:
        defects.append("parse time budget exceeded; body left unparsed")
    # The logging address is plumbing, not a participant of the conversation.
    logging = set(logging_addresses)
    participants = [p for p in original.participants if base_address(p.email)[0] not in logging]
    others = [p.email for p in participants if p.role != "from"]
    sender_email = original.sender.email if original.sender else ""
    return Analysis(
        parsed=parsed,
        sender=parsed.sender,
        original_sender=original.sender,
        original_date=original.date,
        participants=participants,
        forwarded=original.forwarded,
        direction=direction(sender_email, others, org_domains) if sender_email else "inbound",
        reply_text=reply_text.strip(),
        signature=signature,
        thread=classify.thread(parsed),
        tokens=classify.tokens(parsed, logging_addresses, envelope_recipients),
        flags=classify.flags(parsed),
        language=classify.language(reply_text),
        defects=defects,
    )


def _original(parsed: ParsedMessage, defects: list[str], org_domains: tuple[str, ...]) -> _Original:
    """The innermost forwarded message, or the message itself.

    Only a forward by one of our own people (the author in ``org_domains``) is unwrapped: the
    inner From of anyone else's "forward" is unverified text, and taking it as the author
    would let a stranger write history for a rep (a Fwd: to Anna whose inner From is Anna).
    """
    if parsed.sender is None or not is_internal(parsed.sender.email, org_domains):
        return _itself(parsed)
    attached = _attached_forward(parsed)
    if attached is not None:
        return attached
    chain = unwrap_forwards(parsed.body_text, parsed.subject)
    if not chain:
        return _itself(parsed)
    inner = chain[-1]
    if inner.header.sender is None:
        defects.append("forwarded message without a readable sender")
        return _itself(parsed)
    return _Original(
        inner.header.sender,
        parse_sent(inner.header.sent, parsed.date_offset),
        _forward_participants(inner),
        inner.body,
        forwarded=True,
    )


def _itself(parsed: ParsedMessage) -> _Original:
    """The message as received: not a forward, or one that cannot be unwrapped."""
    return _Original(
        parsed.sender, parsed.sent_at, list(parsed.participants), parsed.body_text, False
    )


def _attached_forward(parsed: ParsedMessage) -> _Original | None:
    """A forward sent as a message/rfc822 attachment (Outlook "forward as attachment")."""
    if not parsed.attached_messages or not classify.has_forward_prefix(parsed.subject):
        return None
    inner = parse_message(parsed.attached_messages[0])
    if inner.sender is None:
        return None
    chain = unwrap_forwards(inner.body_text, inner.subject)
    if chain and chain[-1].header.sender is not None:
        last = chain[-1]
        return _Original(
            last.header.sender,
            parse_sent(last.header.sent, inner.date_offset),
            _forward_participants(last),
            last.body,
            forwarded=True,
        )
    return _Original(
        inner.sender, inner.sent_at, list(inner.participants), inner.body_text, forwarded=True
    )


def _forward_participants(forward: Forward) -> list[Participant]:
    header = forward.header
    people = [("from", p) for p in filter(None, [header.sender])]
    people += [("to", p) for p in header.to] + [("cc", p) for p in header.cc]
    seen: set[tuple[str, str]] = set()
    result = []
    for role, person in people:
        if (role, person.email) not in seen:
            seen.add((role, person.email))
            result.append(Participant(person.email, person.name, role))
    return result


def to_json(analysis: Analysis, file: str = "") -> dict[str, Any]:
    """The ``bccrm parse --json`` document (stable keys; more may be added, none removed)."""
    parsed = analysis.parsed
    return {
        "file": file,
        "message_id": parsed.message_id,
        "subject": parsed.subject,
        "date": _iso(parsed.sent_at),
        "from": _person(parsed.sender),
        "direction": analysis.direction,
        "forwarded": analysis.forwarded,
        "forwarded_by": _person(analysis.forwarded_by) if analysis.forwarded else None,
        "original_sender": _person(analysis.original_sender),
        "original_date": _iso(analysis.original_date),
        "participants": [
            {"email": p.email, "name": p.name, "role": p.role} for p in analysis.participants
        ],
        "reply_text": analysis.reply_text,
        "signature": _signature(analysis.signature),
        "thread": analysis.thread,
        "tokens": analysis.tokens,
        "bulk": analysis.flags["bulk"],
        "auto_generated": analysis.flags["auto_generated"],
        "bounce": analysis.flags["bounce"],
        "language": analysis.language,
        "defects": analysis.defects,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person(person: Person | None) -> dict[str, str] | None:
    return {"email": person.email, "name": person.name} if person else None


def _signature(signature: Signature | None) -> dict[str, Any] | None:
    if signature is None:
        return None
    return {
        "name": signature.name,
        "title": signature.title,
        "company": signature.company,
        "phones": list(signature.phones),
        "emails": list(signature.emails),
        "website": signature.website,
        "address": signature.address,
    }
