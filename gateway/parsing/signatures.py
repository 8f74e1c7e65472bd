"""The sender's signature at the end of the newest text of a message.

CRM contacts stay empty because nobody types titles and phone numbers; signatures have them.
The input is the newest text of one message from one known sender (quoted history and
forwarded blocks already removed). Only the end of it is read: the last
:data:`~gateway.parsing.signature_lines.MAX_LINES` lines of at most 500 characters each.

Where the signature starts, in order of preference:

1. after the last delimiter line (``-- ``, ``--``, ``__``, ``—``), or after a closing
   ("Best regards", "Pozdrawiam", "Mit freundlichen Grüßen") just above that delimiter;
2. after the last closing line;
3. at the sender's name line (or, when the sender's name is unknown, at a line that looks like
   a personal name, opens a paragraph and is followed by a phone, address, link or title).

Below the signature, legal disclaimers, GDPR/RODO clauses, company registry lines and mobile
footers ("Sent from my iPhone") are cut off first; they are never part of the body or the
signature fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.parsing.message import Person
from gateway.parsing.quotes import is_reply_header
from gateway.parsing.signature_contacts import (
    address,
    emails,
    is_contact,
    phones,
    region_of,
    website,
)
from gateway.parsing.signature_lines import (
    Line,
    closing,
    footer_start,
    is_delimiter,
    is_mobile_footer,
    is_prose,
    segments,
    window,
)
from gateway.parsing.signature_people import (
    SenderKeys,
    company,
    domain_company,
    looks_like_name,
    name_candidate,
    sender_keys,
    title_in,
)

_QUOTED = re.compile(r"[ \t]{0,3}>")  # a quoted line, as gateway.parsing.quotes reads it
MAX_BLOCK_LINES = 20  # non-blank lines; a longer "signature" is body text
CLOSING_ABOVE_DELIMITER = 3  # non-blank lines between a closing and the "-- " below it
UNKNOWN_NAME_LINES = 4  # where a name is looked for when the sender's name is unknown


@dataclass(frozen=True)
class Signature:
    """What a signature says about the sender; empty strings for what it does not say."""

    name: str  # as written, NFC, without "Dr." / "mgr inż." prefixes
    title: str
    company: str
    phones: tuple[str, ...]  # E.164, sorted, unique, without extensions or fax numbers
    emails: tuple[str, ...]  # normalised, sorted, unique, as written in the signature
    website: str  # as written ("https://acme.pl", "www.acme.pl")
    address: str  # postal address parts joined with ", "


@dataclass(frozen=True)
class _Layout:
    cut: int  # first line that is not body (the closing or delimiter line)
    start: int  # first line of the signature block
    end: int  # first line of the footers
    lead: str = ""  # a name written on the closing line: "Thanks, Anna" → "Anna"


def split_signature(text: str, *, sender: Person | None = None) -> tuple[str, str]:
    """(body, signature block): the body is the text without the signature, closing line,
    legal disclaimer and mobile footers; the block is the signature lines only (no delimiter,
    closing, disclaimer or footer lines). ``sender``, when known, helps find an undelimited
    signature that starts with their name."""
    lines = window(text)
    layout = next(_layouts(lines, sender_keys(sender)))
    cut = lines[layout.cut].offset if layout.cut < len(lines) else len(text)
    block = [layout.lead, *(line.raw.rstrip() for line in _block(lines, layout))]
    return text[:cut].rstrip(), "\n".join(block).strip()


def parse_signature(text: str, sender: Person | None, default_region: str) -> Signature | None:
    """The signature of ``sender`` at the end of ``text`` (the newest text of their message),
    or None when there is none or it has no personal name. Never guesses a name."""
    lines = window(text)
    keys = sender_keys(sender)
    for layout in _layouts(lines, keys):
        texts = [layout.lead, *(_unclosed(line.text) for line in _block(lines, layout))]
        block = [t for t in texts if t][:MAX_BLOCK_LINES]
        found = _find_name(block, keys)
        if found is not None:
            return _signature(block[found[0] :], found[1], found[2], keys, default_region)
    return None


def _signature(
    own: list[str], name: str, rest: list[str], keys: SenderKeys, default_region: str
) -> Signature:
    """Fields from the name line (``own[0]``) and the lines below it."""
    return Signature(
        name=name,
        title=_title(rest, own[1:]),
        company=_company(own, keys),
        phones=phones(own, region_of(default_region)),
        emails=emails(own),
        website=website(own),
        address=address(own[1:]),
    )


def _layouts(lines: list[Line], keys: SenderKeys) -> Iterator[_Layout]:
    """Where the signature may start, best first; the last one is always "no signature".

    Footers recognised by their words alone count only when a signature starts above them.
    The RFC 3676 delimiter ``-- `` wins over look-alikes, which may also separate the
    signature from a footer: "Anna Kowalska / ______ / ACME Sp. z o.o., ul. ..."."""
    strict = footer_start(lines, below_signature=False)
    loose = footer_start(lines, below_signature=True)
    anchored = list(_anchored(lines, loose, keys))
    end = loose if anchored else strict
    if loose != strict and not anchored:
        anchored = list(_anchored(lines, strict, keys))
    yield from anchored
    yield _Layout(end, end, end)


def _anchored(lines: list[Line], end: int, keys: SenderKeys) -> Iterator[_Layout]:
    found = (_last_delimiter(lines, end, standard=True), _last_delimiter(lines, end, False))
    for index in dict.fromkeys(i for i in found if i is not None):
        above = _closing_above(lines, index)
        yield (
            _Layout(above[0], above[0] + 1, end, above[1])
            if above
            else _Layout(index, index + 1, end)
        )
    layout = _after_closing(lines, end)
    if layout is not None:
        yield layout
    layout = _at_name(lines, end, keys)
    if layout is not None:
        yield layout


def _block(lines: list[Line], layout: _Layout) -> list[Line]:
    """The signature's lines. It ends at quoted history left below it (an attribution line or
    a ``>`` line, kept when text follows the quote): those are someone else's words, and
    their phones and addresses are a third party's, never the sender's."""
    block = []
    for line in lines[layout.start : layout.end]:
        if _QUOTED.match(line.raw) or is_reply_header(line.raw):
            break
        if (
            not is_delimiter(line.text)
            and not is_mobile_footer(line.text)
            and closing(line.text) != ""
        ):
            block.append(line)
    return block


def _unclosed(text: str) -> str:
    """The name of a "Thanks, Anna Kowalska" line; other lines unchanged."""
    return closing(text) or text


def _last_delimiter(lines: list[Line], end: int, standard: bool) -> int | None:
    below = 0
    for i in range(end - 1, -1, -1):
        if is_delimiter(lines[i].text) and (not standard or lines[i].raw == "-- "):
            return i
        below += bool(lines[i].text)
        if below > MAX_BLOCK_LINES:
            return None
    return None


def _closing_above(lines: list[Line], delimiter: int) -> tuple[int, str] | None:
    seen = 0
    for i in range(delimiter - 1, -1, -1):
        if not lines[i].text:
            continue
        lead = closing(lines[i].text, _text_above(lines, i))
        if lead is not None:
            return i, lead
        seen += 1
        if seen >= CLOSING_ABOVE_DELIMITER:
            return None
    return None


def _after_closing(lines: list[Line], end: int) -> _Layout | None:
    below = 0
    for i in range(end - 1, -1, -1):
        lead = closing(lines[i].text, _text_above(lines, i)) if lines[i].text else None
        if lead is not None:
            return _Layout(i, i + 1, end, lead)
        below += bool(lines[i].text)
        if below > MAX_BLOCK_LINES:
            return None
    return None


def _at_name(lines: list[Line], end: int, keys: SenderKeys) -> _Layout | None:
    """A signature without delimiter or closing, starting at the signer's name."""
    below = 0
    for i in range(end - 1, -1, -1):
        text = lines[i].text
        if not text:
            continue
        below += 1
        if below > MAX_BLOCK_LINES or is_prose(text):
            return None
        name, _ = name_candidate(text)
        if _is_signer(name, keys) or (
            not keys.known and looks_like_name(name) and _opens_paragraph(lines, i, end)
        ):
            return _Layout(i, i, end)
    return None


def _opens_paragraph(lines: list[Line], i: int, end: int) -> bool:
    """A name line after a blank line with something only signatures have below it, and not
    announced by a colon ("Please contact:" introduces someone else's details)."""
    if i > 0 and lines[i - 1].text:
        return False
    above = next((line.text for line in reversed(lines[:i]) if line.text), "")
    if above.endswith(":"):
        return False
    return any(
        is_contact(x.text) or company(x.text) or any(map(title_in, segments(x.text)))
        for x in lines[i + 1 : end]
    )


def _text_above(lines: list[Line], i: int) -> bool:
    return lines[0].offset > 0 or any(line.text for line in lines[:i])


def _is_signer(name: str, keys: SenderKeys) -> bool:
    """The name matches the sender: fully (any capitalisation: "anna kowalska" counts), or by
    the one word known of them (then it must also look like a name)."""
    strength = keys.strength(name)
    if strength == 2:
        return looks_like_name(name, strict=False)
    return strength == 1 and looks_like_name(name)


def _find_name(block: list[str], keys: SenderKeys) -> tuple[int, str, list[str]] | None:
    """(line index, name, other parts of the name line) of the signer's name line."""
    for i, text in enumerate(block):
        name, rest = name_candidate(text)
        if _is_signer(name, keys):
            return i, name, rest
    if keys.known:
        return None
    for i, text in enumerate(block[:UNKNOWN_NAME_LINES]):
        name, rest = name_candidate(text)
        if looks_like_name(name):
            return i, name, rest
    return None


def _title(rest: list[str], following: list[str]) -> str:
    """A title on the name line, or on the lines below it before the phones and links."""
    for part in rest:
        if title := title_in(part):
            return title
    for text in following[:UNKNOWN_NAME_LINES]:
        if is_contact(text):
            break
        for part in (text, *segments(text)):  # "Sr. Manager - Procurement" is one title
            if title := title_in(part):
                return title
    return ""


def _company(own: list[str], keys: SenderKeys) -> str:
    for text in own:
        if found := company(text):
            return found
    for text in own[1:]:
        for part in segments(text):
            if found := domain_company(part, keys.domain_label):
                return found
    return ""
