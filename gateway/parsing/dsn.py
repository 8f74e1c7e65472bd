"""Which recipients a bounce says permanently failed: pure, bounded, never raising.

Two machine-written sources only: the per-recipient groups of an RFC 3464 delivery status
notification (``multipart/report; report-type=delivery-status``) whose ``Action`` is
``failed``, and the ``X-Failed-Recipients`` header Exim writes on its bounces. The free text
of a bounce ("The following address failed: ...") is never read: a wrong guess would mark a
working contact as undeliverable. ``delayed``, ``delivered``, ``relayed`` and ``expanded``
recipients are not failures.

The stdlib parser hands a ``message/delivery-status`` body over as a list of ``Message``
objects, one per field group; a body it could not split (a payload left as a string, or one
sent base64 or quoted-printable encoded) is split into groups here, at blank lines. Of a
report only the first MAX_REPORT_BYTES are parsed (the status comes before the returned
message), and at most MAX_GROUPS field groups are read.
"""

from __future__ import annotations

import binascii
import contextlib
import email
import quopri
import re
from collections.abc import Iterator, Mapping, Sequence
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from itertools import islice

from gateway.addresses import normalize_address
from gateway.parsing.message import bound_headers

MAX_GROUPS = 200  # per-recipient field groups read, over all delivery-status parts
MAX_GROUP_FIELDS = 50  # fields read in one group
MAX_VALUE = 1_000  # characters of one DSN field; longer ones are not addresses
MAX_FAILED_HEADERS = 20  # X-Failed-Recipients fields read
MAX_FAILED_VALUE = 16_384  # characters of one X-Failed-Recipients field
MAX_REPORT_PARTS = 20  # direct children of the report looked at
MAX_STATUS_TEXT = 1_000_000  # characters of a delivery-status body split by hand
MAX_TOP_FIELDS = 1_000  # top-level header fields looked at
MAX_REPORT_BYTES = 512_000  # of a report parsed for its parts; see _parse

_FAILED_HEADER = "x-failed-recipients"
_ACTION = re.compile(r"\s*([A-Za-z-]{1,20})")
# "rfc822; anna@acme.pl": the address type, then the address (RFC 3464 section 2.3.2).
_TYPED = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9.+-]{0,30})\s*;(.*)", re.DOTALL)
_ADDRESS_TYPES = frozenset({"rfc822", "utf-8"})  # utf-8: RFC 6533 (internationalised mail)
_COMMENT = re.compile(r"\([^()]*\)")
_LINE = re.compile(r"\r\n|\r|\n")
_ENCODED = frozenset({"base64", "quoted-printable"})
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BLANK_RUN = re.compile(rb"(?:\r?\n){3,}")


def bounced_recipients(raw: bytes, limit: int = 50) -> tuple[str, ...]:
    """Normalised addresses whose delivery permanently failed, per ``raw``.

    In order of appearance (``X-Failed-Recipients`` first: headers precede the body), each
    once, at most ``limit``. A message that is not a bounce, or cannot be read, gives ``()``.
    """
    if limit <= 0:
        return ()
    found: dict[str, None] = {}
    # Hostile input: whatever fails, keep what was read before the failure.
    with contextlib.suppress(Exception):
        msg = _parse(raw)
        if msg is None:
            return ()
        for address in _failed_header(msg):
            found.setdefault(address, None)
            if len(found) >= limit:
                break
        else:
            for address in _dsn_recipients(msg):
                found.setdefault(address, None)
                if len(found) >= limit:
                    break
    return tuple(found)


def _parse(raw: bytes) -> Message | None:
    """The top-level header alone, or, for a delivery-status report, its MIME structure too.

    Only the report is parsed whole, and only its first MAX_REPORT_BYTES (cut at a blank line,
    so no field group is cut), with runs of blank lines squeezed: the stdlib turns every blank
    line of a delivery-status body into a group, and megabytes of them take minutes. The parts
    read come first in a report; the returned original message, last, is not needed.
    """
    try:
        bounded = bound_headers(bytes(raw), [])
        end = _HEADER_END.search(bounded)
        header = BytesParser(policy=compat32).parsebytes(
            bounded[: end.end()] if end else bounded, headersonly=True
        )
    except Exception:
        return None
    window = _report_window(bounded) if _is_delivery_report(header) else None
    if window is not None:
        # Deeply nested MIME breaks the stdlib parser; the header alone is still read then.
        with contextlib.suppress(Exception):
            return email.message_from_bytes(window, policy=compat32)
    return header


def _is_delivery_report(msg: Message) -> bool:
    if msg.get_content_type() != "multipart/report":
        return False
    report_type = msg.get_param("report-type", "")
    return isinstance(report_type, str) and report_type.strip().lower() == "delivery-status"


def _report_window(data: bytes) -> bytes | None:
    if len(data) > MAX_REPORT_BYTES:
        cut = max(
            data.rfind(b"\n\n", 0, MAX_REPORT_BYTES), data.rfind(b"\n\r\n", 0, MAX_REPORT_BYTES)
        )
        if cut < 0:
            return None
        data = data[: cut + 1]
    return _BLANK_RUN.sub(b"\r\n\r\n", data)


def _text(value: object) -> str:
    """A header value as text, folds and runs of whitespace collapsed to single spaces."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            return ""
    if any("\udc80" <= ch <= "\udcff" for ch in value):  # raw 8-bit bytes: read as UTF-8
        try:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeError:
            return ""
    return " ".join(value.split())


def _normalise(candidate: str) -> str | None:
    if not candidate or "\ufffd" in candidate:  # undecodable bytes: not a real address
        return None
    return normalize_address(candidate)


def _failed_header(msg: Message) -> Iterator[str]:
    """Addresses listed in Exim's ``X-Failed-Recipients`` fields of the top-level message."""
    seen = 0
    for name, value in islice(msg.raw_items(), MAX_TOP_FIELDS):
        if str(name).strip().lower() != _FAILED_HEADER:
            continue
        seen += 1
        if seen > MAX_FAILED_HEADERS:
            return
        text = _text(value)
        if len(text) > MAX_FAILED_VALUE:  # the last item would be cut: drop it
            text = text[:MAX_FAILED_VALUE].rpartition(",")[0]
        for item in text.split(","):
            address = _normalise(item.strip())
            if address is not None:
                yield address


def _dsn_recipients(msg: Message) -> Iterator[str]:
    """Failed recipients of an RFC 3464 report, in group order."""
    if not _is_delivery_report(msg):
        return
    parts = msg.get_payload()
    if not isinstance(parts, list):
        return
    groups = 0
    for part in parts[:MAX_REPORT_PARTS]:
        if not isinstance(part, Message) or part.get_content_type() != "message/delivery-status":
            continue
        for fields in _status_groups(part):
            groups += 1
            if groups > MAX_GROUPS:
                return
            address = _group_recipient(fields)
            if address is not None:
                yield address


def _status_groups(part: Message) -> Iterator[dict[str, str]]:
    """The field groups of one ``message/delivery-status`` part, per-message group included."""
    encoding = _text(part.get("Content-Transfer-Encoding", "")).lower()
    payload = part.get_payload()
    if isinstance(payload, list) and encoding not in _ENCODED:
        for block in payload[:MAX_GROUPS]:
            if isinstance(block, Message):
                yield _block_fields(block)
    else:
        yield from _split_groups(_decoded_body(part, encoding))


def _block_fields(block: Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in islice(block.raw_items(), MAX_GROUP_FIELDS):
        fields.setdefault(str(name).strip().lower(), _text(value))
    return fields


def _decoded_body(part: Message, encoding: str) -> str:
    """The text of a delivery-status body the parser could not split into groups."""
    payload = part.get_payload()
    data: bytes
    if isinstance(payload, str):
        decoded = part.get_payload(decode=True)
        data = decoded if isinstance(decoded, bytes) else b""
    else:
        # Encoded, so the parser split the still-encoded text: put it back together, decode.
        body = _rejoin_blocks(payload if isinstance(payload, list) else [])
        try:
            data = binascii.a2b_base64(body) if encoding == "base64" else quopri.decodestring(body)
        except (binascii.Error, ValueError):
            data = b""
    return data[: MAX_STATUS_TEXT * 4].decode("utf-8", "replace")[:MAX_STATUS_TEXT]


def _rejoin_blocks(blocks: Sequence[object]) -> bytes:
    """The text the parser split into ``blocks``, as written: each block's fields (values keep
    their folds) and then its body (the lines from the first one that is not a field), blocks
    separated by the blank line that ended them."""
    chunks: list[str] = []
    size = 0
    for block in blocks[:MAX_GROUPS]:
        if not isinstance(block, Message):
            continue
        lines = [f"{name}: {value}\n" for name, value in islice(block.raw_items(), 1_000)]
        body = block.get_payload()
        if isinstance(body, str):
            lines.append(body)
        chunks.append("".join(lines))
        size += len(chunks[-1])
        if size > MAX_STATUS_TEXT * 4:
            break
    try:
        return "\n".join(chunks).encode("utf-8", "surrogateescape")
    except UnicodeError:
        return b""


def _split_groups(text: str) -> Iterator[dict[str, str]]:
    """Field groups separated by blank lines; folded lines joined, the first field of a name
    kept, lines that are not fields skipped."""
    fields: dict[str, str] = {}
    current: str | None = None
    groups = 0
    for line in _LINE.split(text[:MAX_STATUS_TEXT]):
        if not line.strip():
            if fields:
                groups += 1
                yield fields
                if groups >= MAX_GROUPS:
                    return
            fields, current = {}, None
        elif line[0] in " \t" and current is not None:
            if len(fields[current]) <= MAX_VALUE:
                fields[current] = f"{fields[current]} {line.strip()}"
        else:
            name, sep, value = line.partition(":")
            name = name.strip().lower()
            if not sep or not name or name in fields or len(fields) >= MAX_GROUP_FIELDS:
                current = None
                continue
            fields[name] = " ".join(value.split())  # an oversized value is refused later
            current = name
    if fields:
        yield fields


def _group_recipient(fields: Mapping[str, str]) -> str | None:
    """The recipient of a group whose ``Action`` is ``failed``: ``Final-Recipient``, or
    ``Original-Recipient`` when that is missing or not a usable address."""
    action = _ACTION.match(fields.get("action", ""))
    if action is None or action.group(1).lower() != "failed":
        return None
    for name in ("final-recipient", "original-recipient"):
        address = _recipient_address(fields.get(name, ""))
        if address is not None:
            return address
    return None


def _recipient_address(value: str) -> str | None:
    """``rfc822; anna@acme.pl`` -> ``anna@acme.pl``, normalised; other address types (x400,
    unknown) give ``None``. A value without a type is read as a plain address."""
    text = " ".join(value.split())
    if not text or len(text) > MAX_VALUE:
        return None
    text = _COMMENT.sub(" ", text)
    typed = _TYPED.match(text)
    if typed is not None:
        if typed.group(1).lower() not in _ADDRESS_TYPES:
            return None
        text = typed.group(2)
    return _normalise(text.strip())
