"""Lines at the end of a message, and what each one is: closing, delimiter, footer, prose.

Every check looks at one line (or one paragraph) of at most :data:`MAX_LINE_CHARS`
characters, and only the last :data:`MAX_LINES` lines of at most :data:`MAX_INPUT_CHARS`
characters are ever read, so the work is bounded whatever the input: signatures live at the
end of a message. The regular expressions are compiled once and have no nested unbounded
repetition, so none of them can backtrack catastrophically.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from gateway.parsing import signature_words as words

MAX_INPUT_CHARS = 200_000
MAX_LINES = 60
MAX_LINE_CHARS = 500

# C0/C1 controls become spaces; bidi overrides, zero-width characters and soft hyphens go.
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060"
_INVISIBLE += "\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
_CLEAN = str.maketrans(
    {chr(c): " " for c in (*range(32), *range(0x7F, 0xA0))} | {c: None for c in _INVISIBLE}
)
# Letters without a Unicode decomposition to a base letter.
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ı": "i"})
_WORD = re.compile(r"[^\W\d_]+")
NAME_TOKEN = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+){0,3}")
_SEPARATOR = re.compile(r"\s*[|·•▪●]\s*|\s[-–—/]\s|,\s|;\s?")
_DELIMITER = re.compile(r"^(?:-{2,80}|_{2,80}|[—–]{1,3})$")
_TRAILING_PUNCT = re.compile(r"[\s,.!:;…]{1,20}$")
_MOBILE = tuple(re.compile(p) for p in words.MOBILE_FOOTERS)
_REGISTRY = re.compile(
    r"(?<![\w.-])(?:" + "|".join(re.escape(a) for a in words.REGISTRY_ACRONYMS) + r")(?![\w-])"
)


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower case without diacritics, for comparisons only ("Łukasz Żółw" → "lukasz zolw").
    Cached: the same few lines are compared many times while the signature is located."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def folded(entries: tuple[str, ...]) -> frozenset[str]:
    """A vocabulary table ready for comparison with :func:`fold` output."""
    return frozenset(fold(entry) for entry in entries)


def word_list(text: str) -> list[str]:
    """Folded words (letters only) of ``text``."""
    return _WORD.findall(fold(text))


_CLOSINGS = folded(words.CLOSINGS)
_THANKS = folded(words.THANKS)
_DISCLAIMER_WORDS = tuple(folded(words.DISCLAIMER_WORDS))
_DISCLAIMER_OPENERS = tuple(folded(words.DISCLAIMER_OPENERS))
_REGISTRY_PHRASES = tuple(folded(words.REGISTRY_PHRASES))


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the window."""

    offset: int  # where the line starts in the input
    raw: str  # as written, capped, without the line break
    text: str  # cleaned: see clean()


def clean(text: str) -> str:
    """NFC text without controls, bidi overrides or zero-width characters, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", text.translate(_CLEAN)).split())


def window(text: str) -> list[Line]:
    """The last lines of ``text`` (bounded in count, length and characters read)."""
    base = max(0, len(text) - MAX_INPUT_CHARS)
    pieces = text[base:].rsplit("\n", MAX_LINES)
    if len(pieces) > MAX_LINES:
        pieces = pieces[1:]
    offset = len(text) - sum(len(p) + 1 for p in pieces) + 1
    lines = []
    for piece in pieces:
        raw = piece[:MAX_LINE_CHARS].rstrip("\r")
        lines.append(Line(offset, raw, clean(raw)))
        offset += len(piece) + 1
    return lines


def segments(text: str) -> list[str]:
    """Parts of a signature line: "Anna Kowalska | Head of Procurement" → two parts."""
    return [part.strip() for part in _SEPARATOR.split(text) if part.strip()]


def is_delimiter(text: str) -> bool:
    """The signature delimiter ``-- `` and the lines people use instead (``__``, ``—``)."""
    return bool(_DELIMITER.match(text))


def closing(text: str, below_text: bool = True) -> str | None:
    """For a closing line ("Best regards,", "Thanks, Anna") the name after it ("" or "Anna");
    ``None`` for any other line. "Thanks!" alone is a message, not a closing, unless
    ``below_text``."""
    if len(text) > 80:
        return None
    key = _TRAILING_PUNCT.sub("", fold(text))
    if key in _CLOSINGS:
        return "" if below_text or key not in _THANKS else None
    if "/" in key and all(part.strip() in _CLOSINGS for part in key.split("/")):
        return ""  # "Mit freundlichen Grüßen / Best regards"
    return _closing_with_name(text)


def _closing_with_name(text: str) -> str | None:
    head, comma, rest = text.partition(",")
    tokens = text.split()
    splits = [(head, rest)] if comma else []
    splits += [(" ".join(tokens[:k]), " ".join(tokens[k:])) for k in range(1, min(len(tokens), 5))]
    for lead, after in splits:
        name = _TRAILING_PUNCT.sub("", after.strip())
        if _TRAILING_PUNCT.sub("", fold(lead)) in _CLOSINGS and _signoff_name(name):
            return name
    return None


def _signoff_name(text: str) -> bool:
    tokens = text.split()
    return 0 < len(tokens) <= 4 and all(t[0].isupper() and NAME_TOKEN.fullmatch(t) for t in tokens)


def is_mobile_footer(text: str) -> bool:
    """A mail app's footer: "Sent from my iPhone", "Wysłane z iPhone'a", "Von meinem ..."."""
    key = fold(text)
    return len(text) <= 120 and any(p.search(key) for p in _MOBILE)


def is_registry(text: str) -> bool:
    """A company registry, tax or bank line: "KRS 0000123456", "Amtsgericht Berlin HRB 1"."""
    if _REGISTRY.search(text):
        return True
    key = fold(text)
    return any(p in key for p in _REGISTRY_PHRASES)


def is_prose(text: str) -> bool:
    """A sentence rather than a signature line."""
    tokens = text.split()
    lower = sum(1 for t in tokens if t[:1].islower())
    return len(text) > 120 or (len(tokens) >= 7 and lower * 5 >= len(tokens) * 2)


def is_disclaimer(paragraph: str, below_signature: bool = True) -> bool:
    """A legal disclaimer, GDPR/RODO clause or "think before you print" paragraph.

    Words alone ("confidential", "danych osobowych") are enough only ``below_signature``:
    a customer's last paragraph may well ask about their personal data. Elsewhere the
    paragraph must also open like boilerplate ("This e-mail and any attachments ...")."""
    key = " ".join(fold(paragraph[:3000]).split())
    hits = sum(1 for w in _DISCLAIMER_WORDS if w in key)
    if hits >= 2 and key.startswith(_DISCLAIMER_OPENERS):
        return True
    return below_signature and (hits >= 2 or (hits == 1 and len(key) >= 150))


def is_footer_line(text: str) -> bool:
    """Lines that are never part of the signature proper."""
    return is_delimiter(text) or is_mobile_footer(text) or is_registry(text)


def footer_start(lines: list[Line], below_signature: bool) -> int:
    """Index of the first line of the footers at the end of ``lines``: disclaimers, registry
    lines, mobile footers and separators (``len(lines)`` if none). Without
    ``below_signature`` only what cannot be a customer's own words counts: boilerplate
    disclaimers, mobile footers, separators and registry blocks of two or more entries."""
    end = _before_blanks(lines, len(lines))
    while end > 0:
        top = _paragraph_top(lines, end)
        paragraph = [line.text for line in lines[top:end]]
        if all(is_footer_line(t) for t in paragraph) and (
            below_signature or _registry_mentions(paragraph) != 1
        ):
            end = _before_blanks(lines, top)
            continue
        if is_disclaimer(" ".join(paragraph), below_signature):
            kept = _disclaimer_top(paragraph)
            end = _before_blanks(lines, top + kept)
            if kept == 0:
                continue
        while end > 0 and _trailing_footer(lines[end - 1].text, below_signature):
            end -= 1  # "Sent from my iPhone" right under the signature
        break
    return _before_blanks(lines, end)


def _registry_mentions(paragraph: list[str]) -> int:
    """How many registry entries a paragraph names ("our VAT number is ..." names one)."""
    folded_text = fold(" ".join(paragraph))
    acronyms = sum(len(_REGISTRY.findall(t)) for t in paragraph)
    return acronyms + sum(1 for p in _REGISTRY_PHRASES if p in folded_text)


def _trailing_footer(text: str, below_signature: bool) -> bool:
    if below_signature:
        return is_footer_line(text)
    return is_delimiter(text) or is_mobile_footer(text)


def _before_blanks(lines: list[Line], end: int) -> int:
    while end > 0 and not lines[end - 1].text:
        end -= 1
    return end


def _paragraph_top(lines: list[Line], end: int) -> int:
    top = end
    while top > 0 and lines[top - 1].text:
        top -= 1
    return top


def _disclaimer_top(paragraph: list[str]) -> int:
    """Where a disclaimer starts in a paragraph that may begin with the signature (or even
    the body: quick replies often have no blank line at all). It is the first line with a
    disclaimer word after which no contact line follows, widened up over the sentence lines
    that lead into it; ``len(paragraph)`` when there is no such line."""
    for k, text in enumerate(paragraph):
        if _disclaimer_signal(text) and not any(_short_fact(t) for t in paragraph[k + 1 :]):
            top = k
            while top > 0 and is_prose(paragraph[top - 1]):
                top -= 1
            return top
    return len(paragraph)


def _disclaimer_signal(text: str) -> bool:
    key = fold(text)
    return key.startswith(_DISCLAIMER_OPENERS) or any(w in key for w in _DISCLAIMER_WORDS)


def _short_fact(text: str) -> bool:
    """A phone, address or link line (not a sentence that happens to contain one)."""
    lowered = text.lower()
    contact = "@" in text or "www." in lowered or "http" in lowered
    return not is_prose(text) and (contact or sum(c.isdigit() for c in text) >= 7)
