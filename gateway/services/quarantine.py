"""Messages the worker held back: list them, see why, release them for another run, drop them.

Admins see the envelope, the reason and the header block, never the body: they need to know
why a message was held, not what it says. Release and drop lock the entry (two admins cannot
release one message twice) and open the database transaction first, so that a database that
is down stops the change instead of leaving it unaudited.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from typing import Any, BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from gateway.crm import repo
from gateway.spool import Spool, SpoolError

log = logging.getLogger("bccrm.quarantine")

HEADERS_LIMIT = 64 * 1024
SUBJECT_LIMIT = 200
ADDRESS_LIMIT = 320
# What the email package takes for a header line (its feedparser's headerRE): the first line
# that is neither a field nor a continuation starts the body, even without a blank line.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
_BLANK_LINES = (b"\r\n", b"\n", b"\r")


class QuarantineError(ValueError):
    """A quarantine operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class QuarantinedMessage:
    id: str
    reason: str
    attempts: int
    quarantined_at: datetime
    received_at: datetime | None  # None when the entry itself is unreadable
    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str
    transport: str
    size: int
    subject: str
    from_address: str


@dataclass(frozen=True)
class QuarantinedMessageDetail(QuarantinedMessage):
    headers: str  # the header block as received, at most HEADERS_LIMIT bytes; never the body


class QuarantineService:
    def __init__(self, spool: Spool, sessions: sessionmaker[Session], actor: str) -> None:
        self.spool = spool
        self.sessions = sessions
        self.actor = actor

    def list(self) -> list[QuarantinedMessage]:
        """Every quarantined message, the longest held first."""
        found = []
        for entry_id in self.spool.quarantined_ids():
            try:
                found.append(self._describe(entry_id)[0])
            except QuarantineError:
                continue  # released or dropped while we looked
        return sorted(found, key=lambda m: (m.quarantined_at, m.id))

    def show(self, entry_id: str) -> QuarantinedMessageDetail:
        """One message with its header block (not its body)."""
        message, block = self._describe(entry_id)
        return QuarantinedMessageDetail(**vars(message), headers=_text(block))

    def release(self, entry_id: str, *, override: bool = True) -> str:
        """Spool the message again and return its new id. With ``override`` (an admin's
        release) it is marked ``released_by`` this actor and logged without the checks that
        held it; without (a replay after a rule change) it is judged again by today's rules."""
        with self._held(entry_id) as handle, self._audited() as audit:
            try:
                envelope, raw = self.spool.read_entry(handle)
            except (ValueError, UnicodeError, TypeError):
                raise QuarantineError(
                    f"quarantined message {entry_id} is not a readable spool entry; drop it"
                ) from None
            try:
                marked = replace(envelope, released_by=self.actor if override else None)
                new_id = self.spool.store(raw, marked)
            except SpoolError as exc:
                raise QuarantineError(f"cannot release {entry_id}: {exc}") from None
            # Only now that the copy is durable may the original go: a crash in between leaves
            # two copies, and the log stage is idempotent; the other order could lose the mail.
            self.spool.remove_quarantined(entry_id)
            action = "quarantine.released" if override else "quarantine.replayed"
            audit(action, entry_id, new_id=new_id)
        log.info("entry %s: released from quarantine as %s", entry_id, new_id)
        return new_id

    def drop(self, entry_id: str) -> None:
        """Delete the message and its note for good."""
        with self._held(entry_id), self._audited() as audit:
            reason = _reason(self.spool.quarantine_note(entry_id) or {})
            self.spool.remove_quarantined(entry_id)
            audit("quarantine.dropped", entry_id, reason=reason)
        log.info("entry %s: dropped from quarantine", entry_id)

    def replay(self) -> builtins.list[str]:
        """Run every message quarantined now through the pipeline again, under the current
        rules and without an admin's override (after a rule change); return the new ids.

        Messages that cannot be released (unreadable, or someone else holds them) stay where
        they are and are logged; mail quarantined again while this runs is not replayed twice.
        """
        released = []
        for entry_id in self.spool.quarantined_ids():
            try:
                released.append(self.release(entry_id, override=False))
            except QuarantineError as exc:
                log.warning("entry %s: not replayed: %s", entry_id, exc)
        return released

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _held(self, entry_id: str) -> Iterator[BinaryIO]:
        with ExitStack() as stack:
            try:
                handle = stack.enter_context(self.spool.open_quarantined(entry_id))
            except (ValueError, FileNotFoundError):
                raise QuarantineError(f"no quarantined message {entry_id}") from None
            except BlockingIOError:
                raise QuarantineError(
                    f"quarantined message {entry_id} is being changed by someone else; try again"
                ) from None
            yield handle

    @contextmanager
    def _audited(self) -> Iterator[Callable[..., None]]:
        # The connection (and SQLite's write lock) is taken before the files change, the audit
        # entry committed after: an unreachable database stops the change before it happens.
        with self.sessions.begin() as session:
            session.connection()

            def audit(action: str, entry_id: str, **details: Any) -> None:
                repo.audit(session, self.actor, action, "spool", entry_id, **details)

            yield audit

    def _describe(self, entry_id: str) -> tuple[QuarantinedMessage, bytes]:
        try:
            with self.spool.quarantine_path(entry_id).open("rb") as handle:
                stat = os.fstat(handle.fileno())
                size, changed = stat.st_size, stat.st_ctime
                try:
                    envelope, head = self.spool.read_entry(handle, HEADERS_LIMIT)
                    size -= handle.tell() - len(head)  # the message, without the envelope line
                except (ValueError, UnicodeError, TypeError):
                    envelope, head = None, b""
        except (ValueError, FileNotFoundError):
            raise QuarantineError(f"no quarantined message {entry_id}") from None
        note = self.spool.quarantine_note(entry_id) or {}
        block = _header_block(head, complete=len(head) < HEADERS_LIMIT)
        subject, sender = _summary(block)
        message = QuarantinedMessage(
            id=entry_id,
            reason=_reason(note),
            attempts=int(_number(note.get("attempts")) or 0),
            # Without a note, the inode's change time is when the entry was renamed here.
            quarantined_at=_moment(note.get("quarantined_at")) or _time(changed),
            received_at=_moment(envelope.received_at) if envelope else None,
            mail_from=envelope.mail_from if envelope else "",
            rcpt_tos=envelope.rcpt_tos if envelope else (),
            peer=envelope.peer if envelope else "",
            transport=envelope.transport if envelope else "",
            size=size,
            subject=subject,
            from_address=sender,
        )
        return message, block


def _reason(note: dict[str, Any]) -> str:
    reason = note.get("reason")
    return reason if isinstance(reason, str) and reason else "unknown"


def _number(value: object) -> float | None:
    # A note is ours, but may be half-written or edited by hand; bool is an int too.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _moment(value: object) -> datetime | None:
    """A stored timestamp as an aware datetime; None when it is not a usable one."""
    number = _number(value)
    try:
        return None if number is None else _time(number)
    except (OverflowError, ValueError, OSError):
        return None


def _header_block(head: bytes, complete: bool) -> bytes:
    """The header lines at the start of ``head``: up to the blank line, or up to the first line
    the email package would take for the body. A line cut off by the size limit is left out."""
    lines = head.splitlines(keepends=True)
    if lines and not complete and not lines[-1].endswith((b"\n", b"\r")):
        lines.pop()
    block = []
    for line in lines:
        if line in _BLANK_LINES or not _HEADER_LINE.match(line):
            break
        block.append(line)
    return b"".join(block)


def _summary(block: bytes) -> tuple[str, str]:
    """Subject and From address(es) of a header block; "" for what does not parse."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(block)
    except Exception:  # the email package raises many kinds of errors on broken input
        return "", ""
    subject = _field(lambda: str(headers.get("Subject", "")))
    sender = _field(lambda: _addresses(headers.get("From")))
    return subject[:SUBJECT_LIMIT], sender[:ADDRESS_LIMIT]


def _addresses(header: Any) -> str:
    if header is None:
        return ""
    addresses = getattr(header, "addresses", ())
    return ", ".join(a.addr_spec for a in addresses) if addresses else str(header)


def _field(read: Callable[[], str]) -> str:
    try:
        return read()
    except Exception:  # policy.default parses a header's value when it is read
        return ""


def _text(block: bytes) -> str:
    return block.decode("utf-8", "replace")
