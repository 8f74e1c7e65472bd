"""The header block of a forwarded message, as mail clients write it into the body.

Lines are looked at through :func:`view` (quote markers, odd spaces and zero-width characters
removed); :func:`read_block` reads ``Label: value`` lines in any of the languages our users'
clients write (bold ``*From:*`` from HTML conversion, French ``De :``, values wrapped onto the
next line, blank lines between headers as Apple Mail writes them). Every regex is per line,
anchored and bounded; values are capped before they are parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import decode_header, make_header

from gateway.addresses import normalize_address
from gateway.parsing.message import Person
from gateway.parsing.text import clean_text

MAX_VALUE = 10_000  # longer lines are never header lines
MAX_PEOPLE = 500
MAX_BLOCK_LINES = 40

SENDER, SENT, TO, CC, SUBJECT, OTHER = "sender", "sent", "to", "cc", "subject", "other"


@dataclass(frozen=True)
class ForwardedHeader:
    sender: Person | None  # From: of the forwarded message; name as written (NFC)
    sent: str  # the date text as written, "" if none
    to: tuple[Person, ...]
    cc: tuple[Person, ...]
    subject: str


EMPTY_HEADER = ForwardedHeader(None, "", (), (), "")

# Outlook, Gmail, Apple Mail and Thunderbird labels in en, pl, de, fr, es (Gmail keeps some
# English labels in other languages, so every language's set is accepted everywhere).
_LABELS: dict[str, tuple[str, ...]] = {
    SENDER: ("from", "od", "von", "de"),
    SENT: (
        "date",
        "sent",
        "data",
        "datum",
        "fecha",
        "wysłano",
        "wysłane",
        "gesendet",
        "envoyé",
        "enviado",
        "enviado el",
    ),
    TO: ("to", "do", "an", "à", "a", "para", "pour"),
    CC: ("cc", "dw", "kopia", "kopie", "kopie (cc)", "copie", "copie à"),
    SUBJECT: ("subject", "temat", "betreff", "objet", "sujet", "asunto"),
    OTHER: (
        "bcc",
        "udw",
        "reply-to",
        "odpowiedź do",
        "antwort an",
        "répondre à",
        "responder a",
        "importance",
        "ważność",
        "wichtigkeit",
        "priorität",
        "importancia",
        "attachments",
        "załączniki",
        "anlagen",
        "pièces jointes",
        "datos adjuntos",
    ),
}
_FIELD_OF = {label: field for field, labels in _LABELS.items() for label in labels}
_LABEL_RE = re.compile(
    r"^\*{0,2}(?P<label>"
    + "|".join(re.escape(x) for x in sorted(_FIELD_OF, key=len, reverse=True))
    + r")\*{0,2}[ \t]{0,3}\*{0,2}:\*{0,2}[ \t]*(?P<value>.*)$",
    re.IGNORECASE,
)
_QUOTE_RE = re.compile(r"^[ \t]{0,40}((?:>[ \t]?){1,30})")
_SPACES = str.maketrans(
    {
        "\u00a0": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u2009": " ",
        "\t": " ",
        "\u200b": None,
        "\u200e": None,
        "\u200f": None,
        "\ufeff": None,
    }
)
_FORWARD_PREFIX_RE = re.compile(
    r"^[ \t]{0,10}(?:\[[^\]\n]{1,40}\][ \t]{0,10})?"  # [EXTERNAL]
    r"(?:fwd?|pd|wg|tr|rv|enc)[ \t]?(?:\[\d{1,3}\])?[ \t]?:",
    re.IGNORECASE,
)

# Addresses: the local part and the domain without spaces, brackets, quotes or separators.
_ATOM = r"[^\s<>\[\]()\"',;:*@]"
_BRACKETED_RE = re.compile(
    rf"[<\[(][ \t]{{0,3}}(?:mailto:)?({_ATOM}{{1,64}}@{_ATOM}{{1,255}})", re.I
)
_BARE_RE = re.compile(rf"(?:mailto:)?({_ATOM}{{1,64}}@{_ATOM}{{1,255}})", re.I)
_NAME_JUNK = " \t*\"'“”„«»,;:"


def has_forward_prefix(subject: str) -> bool:
    """``Fwd:``, ``FW:``, ``PD:``, ``WG:``, ``TR :``, ``RV:``, ``Enc:``, after an optional tag."""
    return bool(_FORWARD_PREFIX_RE.match(subject[:300]))


def view(line: str) -> tuple[str, int]:
    """The line without quote markers and odd spaces, and its quote depth."""
    line = line.translate(_SPACES)
    match = _QUOTE_RE.match(line)
    if match is None:
        return line.strip(), 0
    return line[match.end() :].strip(), match.group(1).count(">")


def label_of(text: str) -> tuple[str, str] | None:
    """(field, value) when ``text`` (a view) is a ``Label: value`` header line."""
    if len(text) > MAX_VALUE:
        return None
    match = _LABEL_RE.match(text)
    if match is None:
        return None
    field = _FIELD_OF[match.group("label").lower()]
    return field, match.group("value").strip().strip("*").strip()


@dataclass(frozen=True)
class Block:
    header: ForwardedHeader
    fields: frozenset[str]
    end: int  # index of the first line after the block
    depth: int  # quote depth of the header lines

    @property
    def is_forward_header(self) -> bool:
        """A readable sender and at least one of date, subject or recipients."""
        return self.header.sender is not None and bool(self.fields & {SENT, SUBJECT, TO})


@dataclass(frozen=True)
class Lines:
    """The lines of a text with their views and header labels, each computed once."""

    raw: list[str]
    views: list[tuple[str, int]]
    labels: list[tuple[str, str] | None]

    @classmethod
    def of(cls, raw: list[str]) -> Lines:
        views = [view(line) for line in raw]
        return cls(raw, views, [label_of(text) if text else None for text, _ in views])


def read_block(lines: Lines, start: int) -> Block | None:
    """The header block whose first line is ``lines.views[start]``, or None."""
    views, labels = lines.views, lines.labels
    values: dict[str, str] = {}
    n, i, last, depth = len(views), start, "", -1
    stop = min(n, start + MAX_BLOCK_LINES)
    while i < stop:
        text, quote_depth = views[i]
        if not text:
            j = next((k for k in range(i + 1, min(n, i + 4)) if views[k][0]), None)
            if j is None or not values or not _new_label(labels[j], values):
                break
            i, last = j, ""
            continue
        found = labels[i]
        if found is not None:
            field, value = found
            if field != OTHER and field in values:
                break
            values[field] = value[:MAX_VALUE]
            depth = quote_depth if depth < 0 else depth
            last, i = field, i + 1
            continue
        if last and _continues(last, values, text, lines, i):
            values[last] = f"{values[last]} {text}".lstrip()[:MAX_VALUE]
            i += 1
            continue
        break
    if not values:
        return None
    header = ForwardedHeader(
        sender=parse_person(values.get(SENDER, "")),
        sent=clean_text(values.get(SENT, ""))[:300],
        to=parse_people(values.get(TO, "")),
        cc=parse_people(values.get(CC, "")),
        subject=clean_text(_decode(values.get(SUBJECT, "")))[:2000],
    )
    return Block(header, frozenset(values), i, max(depth, 0))


def _new_label(found: tuple[str, str] | None, values: dict[str, str]) -> bool:
    return found is not None and (found[0] == OTHER or found[0] not in values)


def _continues(field: str, values: dict[str, str], text: str, lines: Lines, i: int) -> bool:
    """Is ``text`` (not a label line) the wrapped rest of ``field``'s value?"""
    if not values[field]:
        return True  # "From:" with the value on the next line (HTML tables)
    if i + 1 < len(lines.labels) and _new_label(lines.labels[i + 1], values):
        return True  # sandwiched between two header lines
    if field not in (SENDER, TO, CC) or len(text) > 1000:
        return False
    value = values[field]
    if value.count("<") > value.count(">") or value.count('"') % 2 or value.endswith((",", ";")):
        return True
    if field == SENDER:
        return "@" in text and parse_person(value) is None
    return "@" in text


def _decode(value: str) -> str:
    """RFC 2047 encoded words, when a client copied a raw header."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # the stdlib decoder has many ways to fail on junk
        return value


def parse_person(value: str) -> Person | None:
    """One mailbox as clients write it: ``Name <a@b>``, ``Name [mailto:a@b]``, ``a@b`` ..."""
    value = _decode(value[:MAX_VALUE]).strip()
    if "@" not in value:
        return None
    email, name = None, ""
    for match in _BRACKETED_RE.finditer(value):
        email = normalize_address(match.group(1))
        if email is not None:
            name = value[: match.start()]
            break
    if email is None:
        for match in _BARE_RE.finditer(value):
            email = normalize_address(match.group(1))
            if email is not None:
                name = value[: match.start()] + " " + value[match.end() :]
                break
    if email is None:
        return None
    return Person(email, _clean_name(name, email))


def _clean_name(name: str, email: str) -> str:
    name = " ".join(clean_text(name).replace('\\"', '"').split()).strip(_NAME_JUNK)
    if "@" in name and normalize_address(name.strip("<>[]() ")) == email:
        return ""
    return name[:300]


def parse_people(value: str) -> tuple[Person, ...]:
    """A ``To:``/``Cc:`` list split on ``;`` (Outlook) or else ``,`` outside quotes and
    brackets; addresses are deduplicated, pieces without one are dropped."""
    people: list[Person] = []
    seen: set[str] = set()
    pending = ""
    value = _decode(value[:MAX_VALUE])
    semicolons = len(_split_list(value, ";")) > 1  # Outlook separates with "; "
    for piece in _split_list(value, ";" if semicolons else ","):
        if "@" not in piece:
            # "Kowalska, Anna <a@b>" split at its comma; Outlook's name-only ";" pieces go.
            pending = "" if semicolons else (f"{pending}, {piece}" if pending else piece)
            continue
        person = parse_person(f"{pending}, {piece}" if pending else piece)
        pending = ""
        if person is not None and person.email not in seen:
            seen.add(person.email)
            people.append(person)
            if len(people) >= MAX_PEOPLE:
                break
    return tuple(people)


def _split_list(value: str, separators: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted, nesting = False, 0
    for char in value:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "<[(":
            nesting += 1
        elif not quoted and char in ">])":
            nesting = max(0, nesting - 1)
        elif not quoted and not nesting and char in separators:
            pieces.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    pieces.append("".join(current).strip())
    return [p for p in pieces if p]
