"""Redaction of sensitive data in stored mail text: payment card numbers, IBANs (and Polish NRB
account numbers), PESEL numbers, US social security numbers and lines carrying passwords or
one-time codes. Each match is replaced by ``[redacted:<kind>]``.

Numbers are validated, not just pattern-matched: Luhn and a plausible IIN for cards, ISO 13616
mod-97 and the country's length for IBANs, checksum and a real birth date for PESEL, the issued
ranges for SSNs. An invoice number that happens to have 16 digits survives.

Input is hostile: the text is handled line by line with patterns free of nested unbounded
quantifiers, at most MAX_CHARS characters are examined (the rest is kept as is) and of each
line only its first MAX_LINE characters. Nothing here raises on content.

Order: secret lines first, then IBANs (their long digit runs would otherwise look like cards or
PESELs), cards, PESELs, SSNs. Replaced text is never matched again.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

KINDS = ("card", "iban", "pesel", "ssn", "secret")

MAX_CHARS = 1_000_000
MAX_LINE = 10_000


@dataclass(frozen=True)
class Redaction:
    text: str  # the redacted text
    counts: dict[str, int]  # kind -> how many were replaced (only kinds with hits)


def token(kind: str) -> str:
    """The replacement text for one redacted item of ``kind``."""
    return f"[redacted:{kind}]"


# --- validators -----------------------------------------------------------------------------


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum over a string of ASCII digits; False for anything else."""
    if len(digits) < 2 or not _ascii_digits(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(digits: str) -> bool:
    """A plausible payment card: 13-19 digits, major industry 2-6, Luhn."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


# ISO 13616 IBAN lengths by country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")


def iban_ok(text: str) -> bool:
    """An IBAN, compact or grouped with spaces, in either case: known country, that country's
    length, check digits 02-98 and ISO 7064 mod 97-10 == 1."""
    if len(text) > 64 or not text.isascii():
        return False
    compact = text.replace(" ", "").upper()
    if _IBAN_SHAPE.fullmatch(compact) is None:
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not 2 <= int(compact[2:4]) <= 98:
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_LETTER_VALUES)) % 97 == 1


# ISO 13616: A=10 ... Z=35 before mod 97.
_IBAN_LETTER_VALUES = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
# Month offset in a PESEL -> century of birth.
_PESEL_CENTURIES = {80: 1800, 0: 1900, 20: 2000, 40: 2100, 60: 2200}


def pesel_ok(digits: str) -> bool:
    """A Polish PESEL: 11 ASCII digits, valid check digit and a real birth date."""
    if len(digits) != 11 or not _ascii_digits(digits):
        return False
    total = sum(w * (ord(ch) - 48) for w, ch in zip(_PESEL_WEIGHTS, digits, strict=False))
    if (10 - total % 10) % 10 != ord(digits[10]) - 48:
        return False
    coded_month = int(digits[2:4])
    century = _PESEL_CENTURIES.get(coded_month - (coded_month - 1) % 20 - 1)
    if century is None:
        return False
    year, month, day = century + int(digits[:2]), (coded_month - 1) % 20 + 1, int(digits[4:6])
    return month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a not in (0, 666) and a < 900 and group != "00" and serial != "0000"


# --- finders: spans of one kind in one piece of text -----------------------------------------

Finder = Callable[[str], Iterator[tuple[int, int]]]


def _digits(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


# Cards: a run start, then the groupings tried longest first, so "4111 1111 1111 1111 123"
# (card and CVV) still yields the card when the 19-digit reading fails Luhn.
_CARD_START = re.compile(r"(?<![0-9])[0-9]{4}")
_CARD_SHAPES = tuple(
    re.compile(p)
    for p in (
        r"[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}\1[0-9]{1,3}(?![0-9])",  # 17-19 digits
        r"[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,4}(?![0-9])",  # 13-16 (4-4-4-4)
        r"[0-9]{4}([ -])[0-9]{6}\1[0-9]{4,5}(?![0-9])",  # Amex 4-6-5, Diners 4-6-4
        r"[0-9]{13,19}(?![0-9])",
    )
)


def _find_cards(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    while (m := _CARD_START.search(text, pos)) is not None:
        pos = m.end()
        for shape in _CARD_SHAPES:
            s = shape.match(text, m.start())
            if s is not None and _card_ok(_digits(s.group())):
                yield s.span()
                pos = s.end()
                break


# IBANs: two letters and two check digits, then exactly as many characters as the country's
# length needs, compact or in space-separated groups of four ("PL61 1090 ... 2874 PLN" ends
# before "PLN"). Boundaries are chosen so that redacting a neighbour never changes a decision
# (a second pass finds nothing new):
# - a letter right before blocks, a digit does not ("...4444CH93..." after a card is an IBAN);
# - a letter right after blocks, and a digit right after a final digit;
# - IBANs glued to each other are taken together, left to right.
_IBAN_START = re.compile(r"[A-Za-z]{2}[0-9]{2}")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ASCII_DIGITS = frozenset("0123456789")
_ASCII_ALNUM = _ASCII_LETTERS | _ASCII_DIGITS
_IBAN_MAX_SPAN = 34 + 8  # 34 characters and the blanks between groups


def _iban_shapes(length: int) -> tuple[re.Pattern[str], re.Pattern[str], int]:
    """Compact and grouped patterns for IBANs of ``length`` characters, and the grouped span."""
    groups, rest = divmod(length - 4, 4)
    last = f"(?: [A-Za-z0-9]{{{rest}}})" if rest else ""
    return (
        re.compile(f"[A-Za-z]{{2}}[0-9]{{2}}[A-Za-z0-9]{{{length - 4}}}"),
        re.compile(f"[A-Za-z]{{2}}[0-9]{{2}}(?: [A-Za-z0-9]{{4}}){{{groups}}}{last}"),
        length + (length - 1) // 4,
    )


_IBAN_SHAPES = {n: _iban_shapes(n) for n in set(IBAN_LENGTHS.values())}


def _iban_end(text: str, start: int) -> int | None:
    """The end of a valid IBAN starting at ``start``, whatever follows it, or None."""
    want = IBAN_LENGTHS.get(text[start : start + 2].upper())
    if want is None:
        return None
    compact, grouped, _ = _IBAN_SHAPES[want]
    m = (grouped if text[start + 4 : start + 5] == " " else compact).match(text, start)
    return m.end() if m is not None and iban_ok(m.group()) else None


def _iban_right_ok(text: str, end: int) -> bool:
    after = text[end : end + 1]
    return not (
        after in _ASCII_LETTERS or (after in _ASCII_DIGITS and text[end - 1] in _ASCII_DIGITS)
    )


def _iban_left_ok(text: str, start: int, last_end: int) -> bool:
    return start == last_end or text[start - 1 : start] not in _ASCII_LETTERS


def _iban_ending_at(text: str, end: int, floor: int) -> int | None:
    """The leftmost start of a valid IBAN that ends exactly at ``end`` (where another IBAN was
    just taken) and starts at or after ``floor``, or None."""
    for start in range(max(floor, end - _IBAN_MAX_SPAN), end - 14):
        want = IBAN_LENGTHS.get(text[start : start + 2].upper())
        if want is None or end - start not in (want, _IBAN_SHAPES[want][2]):
            continue
        if _iban_end(text, start) == end and _iban_left_ok(text, start, floor):
            return start
    return None


def _find_ibans(text: str) -> Iterator[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    last_end = pos = 0
    while (m := _IBAN_START.search(text, pos)) is not None:
        start, pos = m.start(), m.start() + 1
        if not _iban_left_ok(text, start, last_end):
            continue
        end = _iban_end(text, start)
        if end is None or not _iban_right_ok(text, end):
            continue
        # An IBAN glued before this one was blocked only by it: take it too, and so on leftwards.
        glued: list[tuple[int, int]] = []
        first = start
        while text[first - 1 : first] in _ASCII_ALNUM:
            before = _iban_ending_at(text, first, last_end)
            if before is None:
                break
            glued.append((before, first))
            first = before
        spans.extend(reversed(glued))
        spans.append((start, end))
        last_end = pos = end
    return iter(spans)


# Polish NRB: an IBAN without "PL", 26 digits, compact or grouped 2-4-4-4-4-4-4.
_NRB = re.compile(r"(?<![0-9])(?:[0-9]{26}|[0-9]{2} [0-9]{4}(?: [0-9]{4}){5})(?![0-9])")
_PESEL = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")
_SSN = re.compile(r"(?<![0-9])([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})(?![0-9])")


def _scan(pattern: re.Pattern[str], ok: Callable[[re.Match[str]], bool]) -> Finder:
    def find(text: str) -> Iterator[tuple[int, int]]:
        pos = 0
        while (m := pattern.search(text, pos)) is not None:
            if ok(m):
                yield m.span()
                pos = m.end()
            else:
                pos = m.start() + 1

    return find


_find_nrbs = _scan(_NRB, lambda m: iban_ok("PL" + m.group().replace(" ", "")))
_find_pesels = _scan(_PESEL, lambda m: pesel_ok(m.group()))
_find_ssns = _scan(_SSN, lambda m: _ssn_ok(m[1], m[3], m[4]))

# Kinds found inside the scanned part of a line, in order of application.
_LINE_RULES: tuple[tuple[str, Finder], ...] = (
    ("iban", _find_ibans),
    ("iban", _find_nrbs),
    ("card", _find_cards),
    ("pesel", _find_pesels),
    ("ssn", _find_ssns),
)

# --- secrets: a label, then a value up to the end of the line --------------------------------

_LABELS = (
    r"passwor[dt]",
    r"passwd",
    r"pwd",
    r"has[łl]o",
    r"pin(?:[- ]?(?:code|kod|number|nummer))?",
    r"kennwort",
    r"kod[ \t]+(?:weryfikacyjny|jednorazowy|sms|blik)",
    r"verification[ \t]+code",
    r"one[- ]?time[ \t]+(?:code|password|passcode)",
    r"otp",
    r"security[ \t]+code",
    r"best(?:ä|ae|a)tigungscode",
    r"mot[ \t]+de[ \t]+passe",
    r"code[ \t]+de[ \t]+v[ée]rification",
    r"contrase(?:ñ|n)a",
    r"c[óo]digo[ \t]+de[ \t]+verificaci[óo]n",
)
# Letter boundaries: "passwords" and "spin" are no labels, "db_password:" is one. Digits do not
# count, so redacting a number right before a label ("4111...Hasło:") cannot make a label
# appear on a second pass.
_LETTER = r"[^\W\d_]"
_SECRET_LABEL = re.compile(rf"(?<!{_LETTER})(?:{'|'.join(_LABELS)})(?!{_LETTER})", re.IGNORECASE)
_CONNECTOR = re.compile(rf"(?:is|to|jest|brzmi|lautet|ist|est|es)(?!{_LETTER})", re.IGNORECASE)
# "Hasło do konta: ...", "Password for your account: ...": up to three words, then a colon.
_WORDS_THEN_COLON = re.compile(r"(?:[ \t]{1,8}[^\W\d_]{1,20}){1,3}[ \t]{0,8}[:=：]")
_BLANKS = re.compile(r"[ \t]+")
_COLONS = ":=："
_DIGIT_CODE = re.compile(r"[0-9](?:[ -]?[0-9]){3}")  # at least four digits: "123 456"
_FIRST_TOKEN = re.compile(r"\S+")
_TOKEN_RUN = re.compile(r"\[redacted:[a-z]+\]")
_TRAILING_PUNCT = ".,;:!?)]}\"'»”"
_WORDISH = "-'’"


def _skip_blanks(content: str, pos: int) -> int:
    m = _BLANKS.match(content, pos)
    return pos if m is None else m.end()


def _credential_like(word: str) -> bool:
    """A value after "is"/"to" without a colon: "hunter2", "Tajne123!" yes; "wrong." no."""
    word = word.rstrip(_TRAILING_PUNCT)
    return len(word) >= 4 and any(not ch.isalpha() and ch not in _WORDISH for ch in word)


def _value_start(content: str, label_end: int) -> tuple[int, str] | None:
    """Where the value after a label starts and how it was introduced: "colon" (also after a
    connector word or a few words: "is:", "do konta:"), "connector" ("is", "to", "jest", ...)
    or "bare" (just a blank); None when the label is followed by no value syntax at all."""
    i = _skip_blanks(content, label_end)
    found: tuple[int, str] | None = None
    if i < len(content) and content[i] in _COLONS:
        found = _skip_blanks(content, i + 1), "colon"
    elif i > label_end and (c := _CONNECTOR.match(content, i)) is not None:
        j = _skip_blanks(content, c.end())
        if j < len(content) and content[j] in _COLONS:
            found = _skip_blanks(content, j + 1), "colon"
        elif j > c.end():
            found = j, "connector"
    elif (w := _WORDS_THEN_COLON.match(content, label_end)) is not None:
        found = _skip_blanks(content, w.end()), "colon"
    elif i > label_end:
        found = i, "bare"
    return found


def _tokens_from(content: str, end: int) -> int:
    """Where the run of ``[redacted:...]`` tokens (and blanks between them) that ends the line
    at ``end`` begins; ``end`` when the line does not end in a token. Linear: one pass back."""
    start = end
    while (k := content.rfind("[redacted:", 0, start)) >= 0:
        m = _TOKEN_RUN.match(content, k)
        if m is None or content[m.end() : start].strip():
            break
        start = k
    return len(content[:start].rstrip()) if start < end else end


def _secret_span(content: str, limit: int) -> tuple[int, int] | None:
    """The span of the secret value in one line (label within the first ``limit`` characters,
    value to the end of the line without trailing blanks), or None."""
    value_end = done_from = -1
    for label in _SECRET_LABEL.finditer(content, 0, limit):
        found = _value_start(content, label.end())
        if found is None:
            continue
        start, how = found
        if value_end < 0:
            value_end = len(content.rstrip())
            done_from = _tokens_from(content, value_end)
        if start >= value_end:
            continue
        # Only what is already redacted ("Hasło: [redacted:secret]") up to the end of the line:
        # this line was done before, and a later label must not start a new, earlier value.
        if start >= done_from:
            return None
        if how == "colon":
            return start, value_end
        if _DIGIT_CODE.match(content, start) is not None:
            return start, value_end
        if how == "connector":
            first = _FIRST_TOKEN.match(content, start, min(value_end, start + 256))
            if first is not None and _credential_like(first.group()):
                return start, value_end
    return None


# --- driver ---------------------------------------------------------------------------------

_Part = tuple[str, bool]  # (text, frozen): frozen text is a token or lies beyond the window
_LINE_ENDINGS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_TWO_DIGITS = re.compile(r"[0-9]{2}")  # every numeric kind has two adjacent digits
_NINE_DIGITS = re.compile(r"(?:[^0-9]*[0-9]){9}")  # anchored (match): linear


def _check_kinds(kinds: Iterable[str]) -> frozenset[str]:
    """The wanted kinds; a single name counts as one kind, not as its letters."""
    names = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in names:
        if kind not in KINDS:
            raise ValueError(f"unknown redaction kind {kind!r} (known: {', '.join(KINDS)})")
    return frozenset(names)


def _window(content: str) -> int:
    """How much of a line is examined: MAX_LINE characters, cut back to the last blank when
    the limit falls inside a word so a number is never judged on half of itself."""
    if len(content) <= MAX_LINE:
        return len(content)
    if content[MAX_LINE - 1].isspace() or content[MAX_LINE].isspace():
        return MAX_LINE
    blank = max(content.rfind(" ", 0, MAX_LINE), content.rfind("\t", 0, MAX_LINE))
    return blank if blank > 0 else MAX_LINE


def _apply(parts: list[_Part], kind: str, find: Finder, counts: dict[str, int]) -> list[_Part]:
    out: list[_Part] = []
    hits = 0
    for text, frozen in parts:
        if frozen or not text:
            out.append((text, frozen))
            continue
        last = 0
        for start, end in find(text):
            if start > last:
                out.append((text[last:start], False))
            out.append((token(kind), True))
            hits += 1
            last = end
        if last < len(text):
            out.append((text[last:], False))
    if hits:
        counts[kind] = counts.get(kind, 0) + hits
    return out


def _redact_line(line: str, wanted: frozenset[str], counts: dict[str, int]) -> str:
    if line.endswith("\r\n"):
        content, ending = line[:-2], "\r\n"
    elif line and line[-1] in _LINE_ENDINGS:
        content, ending = line[:-1], line[-1]
    else:
        content, ending = line, ""
    cut = _window(content)
    span = _secret_span(content, cut) if "secret" in wanted else None
    if span is not None:
        start, end = span
        counts["secret"] = counts.get("secret", 0) + 1
        scan = min(start, cut)
        parts: list[_Part] = [
            (content[:scan], False),
            (content[scan:start], True),
            (token("secret"), True),
            (content[end:], True),
        ]
    else:
        scan = cut
        parts = [(content[:cut], False), (content[cut:], True)]
    rules = _numeric_rules(content, scan, wanted)
    if not rules and span is None:
        return line
    for kind, find in rules:
        parts = _apply(parts, kind, find, counts)
    return "".join(text for text, _ in parts) + ending


def _numeric_rules(content: str, end: int, wanted: frozenset[str]) -> list[tuple[str, Finder]]:
    """The numeric rules worth running on ``content[:end]``, by a cheap and exact pre-check:
    cards, NRBs, PESELs and SSNs have at least nine digits; an IBAN has at least 15 characters
    and starts with two letters and two digits."""
    if _NINE_DIGITS.match(content, 0, end) is not None:
        return [rule for rule in _LINE_RULES if rule[0] in wanted]
    if "iban" in wanted and end >= 15 and _IBAN_START.search(content, 0, end) is not None:
        return [_LINE_RULES[0]]
    return []


def redact(text: str, kinds: Iterable[str] = KINDS) -> Redaction:
    """Replace sensitive data of the given kinds in ``text`` by ``[redacted:<kind>]``.

    Raises ValueError for an unknown kind; never raises on content. Only the first MAX_CHARS
    characters are examined, and of each line its first MAX_LINE characters.
    """
    wanted = _check_kinds(kinds)
    if not wanted or not text:
        return Redaction(text, {})
    head, rest = text[:MAX_CHARS], text[MAX_CHARS:]
    trigger = _trigger(wanted)
    if trigger.search(head) is None:
        return Redaction(text, {})
    counts: dict[str, int] = {}
    out: list[str] = []
    for line in head.splitlines(keepends=True):
        if trigger.search(line, 0, MAX_LINE) is None:
            out.append(line)
        else:
            out.append(_redact_line(line, wanted, counts))
    out.append(rest)
    return Redaction("".join(out), {k: counts[k] for k in KINDS if k in counts})


_TRIGGERS = {
    (True, True): re.compile(rf"[0-9]{{2}}|{_SECRET_LABEL.pattern}", re.IGNORECASE),
    (True, False): _TWO_DIGITS,
    (False, True): _SECRET_LABEL,
}


def _trigger(wanted: frozenset[str]) -> re.Pattern[str]:
    return _TRIGGERS[bool(wanted - {"secret"}), "secret" in wanted]
