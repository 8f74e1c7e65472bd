"""Forwarded messages inside a body: who really wrote the message a rep forwarded.

Reps forward customer mail to the logging address; the CRM logs it under the ORIGINAL sender.
:func:`find_forward` finds the first forwarded block in already-decoded text and reads its
header (:mod:`~gateway.parsing.forward_headers`); :func:`unwrap_forwards` follows forwards of
forwards; :func:`parse_sent` reads the date text as the clients write it.

The first structure met in the text decides:

* an explicit forward marker (Gmail ``---------- Forwarded message ---------``, Apple Mail
  ``Begin forwarded message:``, Thunderbird ``-------- Forwarded Message --------``, localized)
  is a forward;
* an ``-----Original Message-----``-style separator, or an Outlook header block (``From:``
  with an address, then ``Sent:``/``To:``/``Subject:``), is a forward only when the subject
  has a forward prefix (``Fwd:``, ``FW:``, ``PD:``, ``WG:``, ``TR:``, ``RV:``, ``Enc:``);
  otherwise it is quoted reply history and there is no forward;
* a reply attribution (``On Mon, ... wrote:``) means what follows is reply history.

Pure functions over bounded input: at most 200,000 characters and 5,000 lines are read, every
regex is per line and bounded, and nothing here raises on content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from gateway.parsing.forward_headers import (
    CC,
    EMPTY_HEADER,
    SENDER,
    SENT,
    SUBJECT,
    TO,
    Block,
    ForwardedHeader,
    Lines,
    has_forward_prefix,
    read_block,
    view,
)

__all__ = [
    "Forward",
    "ForwardedHeader",
    "find_forward",
    "has_forward_prefix",
    "parse_sent",
    "unwrap_forwards",
]

MAX_CHARS = 200_000
MAX_LINES = 5_000
MAX_DEPTH = 20
_MAX_MARKER = 200  # longer lines are never markers or attributions


@dataclass(frozen=True)
class Forward:
    note: str  # text the forwarder wrote above the forwarded block
    header: ForwardedHeader
    body: str  # the forwarded message's text (may itself contain a forward)


def _alternatives(*phrases: str) -> str:
    return "|".join(re.escape(p) for p in phrases).replace("'", "['’]")


_DASHES = r"[-–—=]"
_FORWARD_MARKER_RE = re.compile(
    rf"^{_DASHES}{{2,40}}[ ]{{0,5}}(?:"
    + _alternatives(
        "forwarded message",  # Gmail, Thunderbird, Yahoo, Zimbra
        "wiadomość przekazana dalej",  # Gmail pl
        "przekazana wiadomość",  # Thunderbird pl
        "wiadomość przekazana",
        "weitergeleitete nachricht",  # de
        "message transféré",  # fr
        "mail transféré",  # Zimbra fr
        "mensaje reenviado",  # es
        "messaggio inoltrato",  # it
        "doorgestuurd bericht",  # nl
        "mensagem encaminhada",  # pt
    )
    + rf")[ ]{{0,5}}:?[ ]{{0,5}}{_DASHES}{{0,40}}$",
    re.IGNORECASE,
)
_APPLE_MARKER_RE = re.compile(
    "^(?:"
    + _alternatives(
        "begin forwarded message",
        "anfang der weitergeleiteten nachricht",
        "début du message réexpédié",
        "début du message transféré",
        "inicio del mensaje reenviado",
        "początek przekazanej wiadomości",
        "początek przekazywanej wiadomości",
        "inizio messaggio inoltrato",
        "begin doorgestuurd bericht",
        "início da mensagem reencaminhada",
    )
    + ")[ ]{0,3}:?$",
    re.IGNORECASE,
)
_ORIGINAL_MARKER_RE = re.compile(
    rf"^{_DASHES}{{2,40}}[ ]{{0,5}}(?:"
    + _alternatives(
        "original message",
        "ursprüngliche nachricht",
        "originalnachricht",
        "message d'origine",
        "mensaje original",
        "wiadomość oryginalna",
        "oryginalna wiadomość",
        "oorspronkelijk bericht",
        "messaggio originale",
        "mensagem original",
        "mail original",
    )
    + rf")[ ]{{0,5}}{_DASHES}{{0,40}}$",
    re.IGNORECASE,
)
_RULE_RE = re.compile(r"^_{8,200}$")  # Outlook's separator above a header block
# "On Mon, ... Anna <a@b> wrote:", "Am ... schrieb Anna <a@b>:", "W dniu ... pisze:" ...
_ATTRIBUTION_RE = re.compile(
    r"(?<![^\W\d_])(?:wrote|schrieb|a écrit|escribió|napisał|napisała|pisze|escreveu|"
    r"scrisse|schreef)(?![^\W\d_])",
    re.IGNORECASE,
)


def find_forward(text: str, subject_hint: str = "") -> Forward | None:
    """The first forwarded message in ``text``, or None."""
    lines = Lines.of(_split(text))
    hinted = has_forward_prefix(subject_hint)
    for i, (line, _) in enumerate(lines.views):
        if not line:
            continue
        found = lines.labels[i]
        if found is None and len(line) <= _MAX_MARKER:
            if _FORWARD_MARKER_RE.match(line) or _APPLE_MARKER_RE.match(line):
                return _after_marker(lines, i)
            if _ORIGINAL_MARKER_RE.match(line):
                return _after_marker(lines, i) if hinted else None
            if _is_attribution(lines.views, i):
                return None
        if found is None or found[0] != SENDER:
            continue
        start = _block_start(lines, i)
        block = read_block(lines, start)
        if block is None or not (block.is_forward_header or _is_history(block)):
            continue  # "From: me" or office hours "Od: 8:00 / Do: 16:00" in the note
        if not hinted or not block.is_forward_header:
            return None  # quoted reply history, or a header without a readable sender
        return _forward(lines, _note_end(lines.views, start), block)
    return None


def unwrap_forwards(text: str, subject_hint: str = "", max_depth: int = 5) -> list[Forward]:
    """Forwards of forwards, outermost first; the last holds the innermost original.

    A nested forward whose sender cannot be read ends the chain, so the last element names
    the innermost author that is known."""
    chain: list[Forward] = []
    hint = subject_hint
    for _ in range(min(max_depth, MAX_DEPTH)):
        forward = find_forward(text, hint)
        if forward is None or (chain and forward.header.sender is None):
            break
        chain.append(forward)
        text, hint = forward.body, forward.header.subject
    return chain


def _split(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text[:MAX_CHARS])
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n", MAX_LINES)[:MAX_LINES]


def _after_marker(lines: Lines, marker: int) -> Forward:
    start, views = marker + 1, lines.views
    while start < len(views) and start <= marker + 4 and not views[start][0]:
        start += 1
    block = read_block(lines, start) if start < len(views) else None
    if block is None or (len(block.fields) < 2 and SENDER not in block.fields):
        block = Block(EMPTY_HEADER, frozenset(), marker + 1, views[marker][1])
    return _forward(lines, marker, block)


def _forward(lines: Lines, note_end: int, block: Block) -> Forward:
    body = [_unquote(line, block.depth) for line in lines.raw[block.end :]]
    return Forward(
        note="\n".join(lines.raw[:note_end]).strip(),
        header=block.header,
        body="\n".join(body).strip("\n").rstrip(),
    )


def _unquote(line: str, depth: int) -> str:
    for _ in range(depth):
        stripped = line.lstrip(" \t")
        if not stripped.startswith(">"):
            break
        line = stripped[2:] if stripped.startswith("> ") else stripped[1:]
    return line


def _block_start(lines: Lines, sender: int) -> int:
    """Thunderbird-style blocks put Subject and Date above From: walk back over them."""
    start = sender
    while start > 0 and sender - start < 12:
        found = lines.labels[start - 1]
        if found is None or found[0] == SENDER:
            break
        start -= 1
    return start


def _note_end(views: list[tuple[str, int]], start: int) -> int:
    """The block start, or the Outlook separator line just above it."""
    above = start - 1
    while above >= 0 and not views[above][0]:
        above -= 1
    if above >= 0 and (
        _RULE_RE.match(views[above][0]) or _ORIGINAL_MARKER_RE.match(views[above][0])
    ):
        return above
    return start


def _is_history(block: Block) -> bool:
    """An Outlook reply header whose sender has no address (Exchange names only)."""
    named = block.fields & {SENDER, SENT, TO, CC, SUBJECT}
    return SENDER in named and len(named) >= 3 and bool(named & {SENT, SUBJECT})


def _is_attribution(views: list[tuple[str, int]], i: int) -> bool:
    """A reply attribution line: a verb, ends with ':', a date or address on it or above."""
    line = views[i][0]
    if not line.endswith(":") or not _ATTRIBUTION_RE.search(line):
        return False
    nearby = line + (views[i - 1][0][:_MAX_MARKER] if i > 0 else "")
    return "@" in nearby or any(c.isdigit() for c in nearby)


# ---------------------------------------------------------------------------- dates

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan styczeń styczen stycznia sty januar jänner jän janvier janv enero ene",
        "february feb luty lutego lut februar février fevrier févr fevr febrero",
        "march mar marzec marca märz maerz mär mrz mars marzo",
        "april apr kwiecień kwiecien kwietnia kwi avril avr abril abr",
        "may maj maja mai mayo",
        "june jun czerwiec czerwca cze juni juin junio",
        "july jul lipiec lipca lip juli juillet juil julio",
        "august aug sierpień sierpien sierpnia sie août aout agosto ago",
        "september sep sept wrzesień wrzesien września wrzesnia wrz septembre septiembre "
        "setiembre set",
        "october oct październik pazdziernik października pazdziernika paź paz oktober okt "
        "octobre octubre",
        "november nov listopad listopada lis novembre noviembre",
        "december dec grudzień grudzien grudnia gru dezember dez décembre decembre déc "
        "diciembre dic",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

# Zone names clients print after the time, in minutes east of UTC.
_ZONE_TABLE = (
    "ut=0 utc=0 gmt=0 z=0 wet=0 west=60 bst=60 cet=60 mez=60 cest=120 mesz=120 eet=120 "
    "eest=180 msk=180 est=-300 edt=-240 cst=-360 cdt=-300 mst=-420 mdt=-360 pst=-480 pdt=-420"
)
_ZONES: dict[str, int] = {}
for _item in _ZONE_TABLE.split():
    _zone, _, _minutes = _item.partition("=")
    _ZONES[_zone] = int(_minutes)
_TIME_RE = re.compile(
    r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d{1,6})?(?![\d:])"
    r"(?:[ ]?([ap])\.?[ ]?m\b\.?)?",
    re.IGNORECASE,
)
_OFFSET_RE = re.compile(r"(?<![\w])(?:gmt|utc|ut)?[ ]?([+\-\u2212])(\d{1,2})(?::?(\d{2}))?(?!\d)")
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_NUMERIC_DATE_RE = re.compile(r"(?<![\d.])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\d])")
_ZONE_WORD_RE = re.compile(r"(?<![a-z])[a-z]{1,4}(?![a-z])")
_TOKEN_RE = re.compile(r"[^\W\d_]{1,20}|\d{1,4}")


def parse_sent(text: str, default_offset: int = 0) -> datetime | None:
    """The date of a forwarded header as an aware UTC datetime; None when it cannot be read.
    Never raises. Mail clients print forwarded dates in the forwarder's local time without a
    zone: ``default_offset`` (minutes east of UTC, e.g. the outer Date header's) is used then.
    """
    try:
        return _parse_sent(text, default_offset)
    except (ValueError, OverflowError):
        return None


def _parse_sent(text: str, default_offset: int = 0) -> datetime | None:
    text = view(unicodedata.normalize("NFC", text[:300]))[0].lower()
    if not text:
        return None
    hour = minute = second = 0
    offset: int | None = None
    time = _TIME_RE.search(text)
    twelve_hour = bool(time and time[4])
    if time is not None:
        hour, minute, second = int(time[1]), int(time[2]), int(time[3] or 0)
        if twelve_hour:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if time[4] == "p" else 0)
        rest = text[time.end() :]
        offset, rest = _offset(rest)
        text = text[: time.start()] + " " + rest
    day_month_year = _date(text, twelve_hour)
    if day_month_year is None:
        return None
    day, month, year = day_month_year
    if not 1970 <= year <= 2100:  # numeric forms; month-name forms only take such years
        return None
    zone = timezone(timedelta(minutes=default_offset if offset is None else offset))
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)


def _offset(rest: str) -> tuple[int | None, str]:
    """Minutes east of UTC from the text after the time, and that text without the zone."""
    match = _OFFSET_RE.search(rest)
    if match is not None:
        sign = -1 if match[1] in "-\u2212" else 1
        hours, minutes = int(match[2]), int(match[3] or 0)
        if hours > 14 or minutes > 59:
            raise ValueError("offset out of range")
        return sign * (hours * 60 + minutes), rest[: match.start()] + " " + rest[match.end() :]
    for word in _ZONE_WORD_RE.findall(rest):
        if word in _ZONES:
            return _ZONES[word], rest
    return None, rest


def _date(text: str, twelve_hour: bool) -> tuple[int, int, int] | None:
    """(day, month, year) from ISO, numeric (day first) or month-name text."""
    iso = _ISO_DATE_RE.search(text)
    if iso is not None:
        return int(iso[3]), int(iso[2]), int(iso[1])
    numeric = _NUMERIC_DATE_RE.search(text)
    if numeric is not None:
        first, second, year = int(numeric[1]), int(numeric[3]), int(numeric[4])
        year += 2000 if year < 100 else 0
        # "/" with a 12-hour clock or a second number over 12 is the US month-first order.
        if numeric[2] == "/" and (second > 12 or (twelve_hour and first <= 12)):
            first, second = second, first
        return first, second, year
    tokens = [(m.group(), m.start()) for m in _TOKEN_RE.finditer(text)]
    years = [k for k, (t, _) in enumerate(tokens) if t.isdigit() and 1970 <= int(t) <= 2100]
    if not years:
        return None
    year_at = years[0]
    months = [k for k, (t, _) in enumerate(tokens) if t in _MONTHS]
    if not months:
        return None
    before = [k for k in months if k < year_at]
    month_at = before[-1] if before else months[0]  # "mar., 3 nov." is Tuesday, November
    days = [
        k
        for k, (t, _) in enumerate(tokens)
        if t.isdigit() and len(t) <= 2 and 1 <= int(t) <= 31 and k != year_at
    ]
    if not days:
        return None
    day_at = min(days, key=lambda k: abs(k - month_at))  # "Nov 2, 2026", "2. November 2026"
    return int(tokens[day_at][0]), _MONTHS[tokens[month_at][0]], int(tokens[year_at][0])
