"""How to reach the signer: phones, e-mail addresses, website and postal address.

Phones are found by libphonenumber's matcher (leniency VALID) in each line, national numbers
read in the organisation's region, and kept in E.164 without extensions. A number is not a
phone when the nearest label before it says fax ("Fax", "Telefax", "faks", "F:") or a
registry ("NIP", "KRS", "REGON", "USt-IdNr", "HRB", "SIREN", "IBAN" ...): fax numbers are
left out because nobody calls them and they would pollute the contact's phone list. Dates,
bank account numbers, e-mail addresses and links are blanked before matching.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from gateway.addresses import normalize_address
from gateway.parsing import signature_words as words
from gateway.parsing.phones import to_e164
from gateway.parsing.signature_lines import fold, folded, is_registry, segments, word_list

MAX_PHONES = 10
MAX_EMAILS = 10
MAX_ADDRESS_PARTS = 5

EMAIL = re.compile(r"[^\s@<>()\[\],;:\"'/]{1,64}@[^\s@<>()\[\],;:\"'/]{1,253}")
URL = re.compile(r"(?<![\w@.])(?:https?://|www\.)[^\s<>()\"']{1,200}", re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"(?:[a-z0-9-]{1,63}\.){1,4}[a-z]{2,24}", re.IGNORECASE)
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_SCHEME = re.compile(r"^(?:https?://)?(?:www\.)?")
_WEB_LABEL = re.compile(
    r"^(?:web|www|website|site|site web|internet|homepage|strona|strona www|página web|"
    r"sitio web|url)\s?:\s?",
    re.IGNORECASE,
)
_REGISTRY_LABEL = "|".join(re.escape(a) for a in words.REGISTRY_ACRONYMS)
_EVENT = re.compile(
    r"(?P<phone>(?i:tel(?:efon)?\.?\s?(?:/|&|\+|i|und|y|et)\s?fa[xk]s?))"  # "Tel./Fax"
    r"|(?P<fax>(?i:(?<!\w)(?:tele)?fa[xk]s?(?!\w))|(?<!\w)F\s?:)"
    r"|(?P<label>(?i:(?<!\w)(?:tel|tél|telefon|teléfono|telefono|téléphone|phone|mob|mobile|"
    r"mobil|móvil|movil|cell|handy|kom|komórka|portable|fixe|direct|direkt|durchwahl|office|"
    r"zentrale|centrala)(?!\w))|(?<!\w)[TMPDOH]\s?:)"
    rf"|(?P<registry>(?<![\w.-])(?:{_REGISTRY_LABEL})(?![\w-]))"
    r"|(?P<separator>\s[|·•/]\s|[|·•;]|,\s)"
)
_MASKS = (
    # dates: 12.03.2024, 2024-03-12 (not 601.234.567 or 01.23.45.67.89)
    re.compile(
        r"(?<![\d./-])(?:\d{1,2}[./-]\d{1,2}[./-]\d{4}|\d{4}[./-]\d{1,2}[./-]\d{1,2})"
        r"(?![./-]?\d)"
    ),
    re.compile(r"(?<![\w+])[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,8}(?:\s?[A-Z0-9]{1,3})?"),  # IBAN
    re.compile(r"(?<![\d+])\d(?:[\s.-]?\d){15,40}"),  # bank accounts, long references
    EMAIL,
    URL,
)
_POSTAL = re.compile(
    r"(?<![\d+])(?:\d{2}-\d{3}(?![\d-])|(?:[A-Z]{1,2}-)?\d{5}(?=\s[^\W\d_])"
    r"|\d{4}(?=\s(?:[A-Z]{2}\s)?[^\W\d_]{3}))"
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"  # UK: SW1A 1AA
    r"|\b[A-Z]{2}\s\d{5}(?:-\d{4})?\b"  # US: CA 94105
)
_HOUSE_NUMBER = re.compile(r"(?<![\d.,])\d{1,4}[a-zA-Z]?(?:/\d{1,4})?(?![\d.,]\d)")
_STREET_WORDS = folded(words.STREET_WORDS)
_STREET_SUFFIXES = tuple(folded(words.STREET_SUFFIXES))
_COUNTRIES = folded(words.COUNTRIES)
_SOCIAL = tuple(words.SOCIAL_SITES)


def region_of(default_region: str) -> str:
    """``default_region`` when libphonenumber knows it, else "ZZ" (international numbers only)."""
    region = default_region.strip().upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else "ZZ"


def phones(lines: list[str], region: str) -> tuple[str, ...]:
    """E.164 numbers in ``lines``, sorted and unique; fax and registry numbers left out."""
    found: set[str] = set()
    for text in lines:
        if sum(c.isdigit() for c in text) >= 6:
            found.update(_line_phones(_masked(text), region))
    return tuple(sorted(found))[:MAX_PHONES]


def _masked(text: str) -> str:
    for mask in _MASKS:
        text = mask.sub(lambda m: " " * len(m.group()), text)
    return text


def _line_phones(text: str, region: str) -> list[str]:
    events = [(m.end(), m.lastgroup) for m in _EVENT.finditer(text)]
    found = []
    for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID, max_tries=20):
        kinds = [kind for end, kind in events if end <= match.start]
        if kinds and kinds[-1] in ("fax", "registry"):
            continue
        if sum(c.isdigit() for c in match.raw_string) >= 7:
            number = to_e164(match.raw_string, region)
            if number is not None:
                found.append(number)
    return found


def emails(lines: list[str]) -> tuple[str, ...]:
    """Normalised addresses written in ``lines``, sorted and unique."""
    found = {
        address
        for text in lines
        if "@" in text
        for match in EMAIL.finditer(text)
        if (address := normalize_address(match.group().rstrip(".")))
        and _TLD.fullmatch(address.rpartition(".")[2])  # not "[cid:image001.png@01D9...]"
    }
    return tuple(sorted(found))[:MAX_EMAILS]


def website(lines: list[str]) -> str:
    """The first link or "www." address as written; profiles (LinkedIn ...) do not count."""
    for text in lines:
        candidates = [m.group().rstrip(".,;:!?") for m in URL.finditer(text)]
        for part in segments(text):
            bare = _WEB_LABEL.sub("", part)
            if (bare != part or part == text) and _BARE_DOMAIN.fullmatch(bare):
                candidates.append(bare)
        for link in candidates:
            if not _is_social(link):
                return link
    return ""


def _is_social(link: str) -> bool:
    host = _SCHEME.sub("", link.lower()).partition("/")[0].partition(":")[0]
    return any(host == site or host.endswith("." + site) for site in _SOCIAL)


def address(lines: list[str]) -> str:
    """Postal address parts (street, postal code and city, country) joined with ", "."""
    found: list[str] = []
    previous = ""
    for text in lines:
        for part in segments(text):
            kind = _address_kind(part)
            if kind == "postal" and previous and previous not in found and _street_like(previous):
                found.append(previous)  # "Marszałkowska 1, 00-001 Warszawa"
            if kind in ("street", "postal") or (kind == "country" and previous in found):
                found.append(part)
            previous = part
    return ", ".join(dict.fromkeys(found[:MAX_ADDRESS_PARTS]))


def _address_kind(part: str) -> str:
    if fold(part) in _COUNTRIES:
        return "country"
    digits = sum(c.isdigit() for c in part)
    if not digits or digits > 9 or "@" in part or URL.search(part) or is_registry(part):
        return ""
    if _has_label(part):
        return ""
    if _POSTAL.search(part):
        return "postal"
    tokens = word_list(part)
    street = any(t in _STREET_WORDS or _compound_street(t) for t in tokens)
    return "street" if street and _HOUSE_NUMBER.search(part) else ""


def _has_label(part: str) -> bool:
    return any(m.lastgroup in ("phone", "fax", "label") for m in _EVENT.finditer(part))


def _compound_street(token: str) -> bool:
    return any(token.endswith(s) and len(token) > len(s) + 2 for s in _STREET_SUFFIXES)


def _street_like(part: str) -> bool:
    return (
        len(part.split()) <= 5
        and bool(_HOUSE_NUMBER.search(part))
        and any(len(t) >= 3 for t in word_list(part))
        and sum(c.isdigit() for c in part) <= 6
        and "@" not in part
        and not _has_label(part)
    )


def is_contact(text: str) -> bool:
    """A line that only a signature has: an e-mail address, a link or a phone-like number."""
    return "@" in text or bool(URL.search(text)) or sum(c.isdigit() for c in text) >= 7
