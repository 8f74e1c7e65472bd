"""Who signs: the personal name, the job title and the company in a signature.

Names are never guessed. A line is the sender's name when its words are the words of the
sender's display name or address ("anna.kowalska@" → "Anna Kowalska"), compared without case
or diacritics and in any order; only when the sender gives no personal name at all (no
display name, a shared mailbox such as ``biuro@``) is a line that merely looks like a
personal name accepted. Academic and courtesy prefixes ("mgr inż.", "Dr.", "Prof.") and
degrees after the name ("MBA") are not part of the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.addresses import domain_of
from gateway.parsing import signature_words as words
from gateway.parsing.message import Person
from gateway.parsing.signature_lines import NAME_TOKEN, fold, folded, segments, word_list

_LEGAL_FORM = re.compile(r"(?<![\w.])(?:" + "|".join(words.LEGAL_FORMS) + r")(?!\w)")
_COMPANY_START = re.compile(r"\s(?:at|bei|chez|@)\s", re.IGNORECASE)
_INITIAL = re.compile(r"[^\W\d_]\.")
_PARENS = re.compile(r"\([^()]{0,200}\)|\[[^\[\]]{0,200}\]")
_DISPLAY_CUT = re.compile(r"\s[|/@–—-]\s|\svia\s|\|")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
_TITLE_WORDS = folded(words.TITLE_WORDS)
_TITLE_STEMS = tuple(folded(words.TITLE_STEMS))
_NON_NAME = folded(words.NON_NAME_WORDS)
_PREFIXES = folded(words.NAME_PREFIXES)
_SUFFIXES = folded(words.NAME_SUFFIXES)
_PARTICLES = folded(words.NAME_PARTICLES)
_ROLES = folded(words.ROLE_MAILBOXES)
_SECOND_LEVEL = frozenset({"com", "co", "org", "net", "gov", "edu", "ac"})


def company(text: str) -> str:
    """The company with its legal form in a line: "ACME Sp. z o.o., ul. ..." → "ACME Sp. z o.o."."""
    parts = segments(text)
    for i, part in enumerate(parts):
        if "@" in part or "www." in part.lower() or "://" in part:
            continue
        joined = f"{parts[i - 1]}, {part}" if i and _LEGAL_FORM.fullmatch(part) else part
        match = _LEGAL_FORM.search(joined)  # "Globex, Inc." was split at its comma
        if match is None:
            continue
        name = _COMPANY_START.split(joined[: match.start()])[-1]
        if _LETTER.search(name) and len(name.split()) <= 8:
            return (name + match.group()).strip(" ,")
    return ""


def domain_company(text: str, label: str) -> str:
    """A line naming the sender's company without a legal form ("ACME" for acme.pl)."""
    if not label or _DIGIT.search(text) or len(text.split()) > 4:
        return ""
    compact = "".join(word_list(text))
    first = "".join(word_list(text.split(maxsplit=1)[0])) if text.split() else ""
    return text if label in (compact, first) else ""


def is_title(text: str) -> bool:
    """A job title: "Head of Procurement", "Kierownik ds. zakupów", "Einkaufsleiterin"."""
    if len(text) > 80 or _DIGIT.search(text) or "@" in text or "www." in text.lower():
        return False
    tokens = word_list(text)
    return any(t in _TITLE_WORDS or any(s in t for s in _TITLE_STEMS) for t in tokens)


def title_in(text: str) -> str:
    """The title in a segment, cut before a company ("Buyer at ACME Ltd" → "Buyer")."""
    if company(text):
        text = _COMPANY_START.split(text)[0].strip()
    return text if is_title(text) and not company(text) else ""


def name_candidate(text: str) -> tuple[str, list[str]]:
    """(name part, other parts) of a line: "Dr. Hans Müller · Geschäftsführer" →
    ("Hans Müller", ["Geschäftsführer"])."""
    parts = segments(text)
    if not parts:
        return "", []
    rest = [p for p in parts[1:] if _affix(p) not in _SUFFIXES]
    return _strip_affixes(parts[0].rstrip(",.;:")), rest


def _affix(token: str) -> str:
    return fold(token).strip(".,")


def _strip_affixes(text: str) -> str:
    tokens = text.split()
    while len(tokens) > 2 and _affix(tokens[0]) in _PREFIXES:
        tokens.pop(0)
    while len(tokens) > 2 and _affix(tokens[-1]) in _SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


def looks_like_name(text: str, strict: bool = True) -> bool:
    """2-4 name words (plus particles such as "von", "de la" and one initial), letters only;
    ``strict`` also wants capitals and no title, team, greeting or company words."""
    tokens = text.split()
    core = [t for t in tokens if fold(t) not in _PARTICLES]
    full = [t for t in core if not _INITIAL.fullmatch(t)]
    if not 2 <= len(full) <= 4 or len(tokens) > 6 or len(core) - len(full) > 1:
        return False
    if not all(NAME_TOKEN.fullmatch(t) for t in full):
        return False
    if not strict:
        return True
    if not all(t[0].isupper() for t in full) or _LEGAL_FORM.search(text) or is_title(text):
        return False
    return not any(w in _NON_NAME for w in word_list(text))


@dataclass(frozen=True)
class SenderKeys:
    """What is known of the sender's name: words of a personal display name, of the address's
    local part, and the company label of its domain ("acme" for anna@acme.com.pl)."""

    display: tuple[str, ...] = ()
    local: tuple[str, ...] = ()
    domain_label: str = ""

    @property
    def known(self) -> bool:
        """True when a name that does not match must be rejected."""
        return bool(self.display) or len(self.local) >= 2

    def strength(self, name: str) -> int:
        """2: the name matches the sender; 1: it shares the one word known of the sender's
        name (a display name "Anna", or a local part "akowalska" without a display name)."""
        tokens = [t for t in word_list(name) if t not in _PREFIXES]
        got, display = set(tokens), set(self.display)
        if len(got) < 2:
            return 0
        if len(display) >= 2 and (
            got <= display
            or (display < got and len(got - display) == 1)
            or _local_matches(self.display, tokens)  # "J. Smith" signs as "John Smith"
        ):
            return 2
        if len(self.local) >= 2 and _local_matches(self.local, tokens):
            return 2
        if len(display) == 1:
            return 1 if display <= got else 0
        if not display and len(self.local) == 1 and self.local[0] in _joined(tokens):
            return 1
        return 0


def sender_keys(sender: Person | None) -> SenderKeys:
    if sender is None:
        return SenderKeys()
    local = sender.email.rpartition("@")[0].partition("+")[0]
    local_words = tuple(word_list(local))
    if not local_words or len(local_words) > 4 or any(w in _ROLES for w in local_words):
        local_words = ()
    return SenderKeys(_display_words(sender.name), local_words, _domain_label(sender.email))


def _display_words(name: str) -> tuple[str, ...]:
    name = _DISPLAY_CUT.split(_PARENS.sub(" ", name))[0]
    if "@" in name or _DIGIT.search(name) or _LEGAL_FORM.search(name):
        return ()
    tokens = tuple(t for t in word_list(name) if t not in _PREFIXES)
    if len(tokens) > 5 or any(t in _NON_NAME or t in _ROLES for t in tokens):
        return ()
    return tokens


def _domain_label(address: str) -> str:
    labels = domain_of(address).split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 and len(labels[-2]) > 2 else ""


def _local_matches(local: tuple[str, ...], tokens: list[str]) -> bool:
    """Local parts ("anna.kowalska", "a.kowalska", "kowalska.anna") against a name's words."""
    remaining = list(tokens)
    for part in local:
        hit = next((t for t in remaining if t == part or (len(part) == 1 and t[0] == part)), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return len(remaining) <= 1 and any(len(part) > 1 for part in local)


def _joined(tokens: list[str]) -> set[str]:
    """How one-word local parts spell a name: "akowalska", "annak", "kowalska", "anna"."""
    first, last = tokens[0], tokens[-1]
    return {first, last, first + last, last + first, first[0] + last, first + last[0]}
