"""Small classifications of a parsed message: thread keys, tokens, flags and language."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import getaddresses
from typing import Any

from gateway.addresses import base_address, normalize_address
from gateway.parsing.message import ParsedMessage

# Reply and forward prefixes in the languages of our users (and the ones their mail clients
# write): Re, Fwd, Fw, Odp (pl), PD (pl "przekazanie dalej"), AW/WG (de), TR/Réf (fr),
# RV (es), SV/VS (nordic), Antw (nl); also "Re[2]:" and "RE: RE:" chains.
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|odp|pd|aw|wg|tr|réf|ref|rv|sv|vs|antw|enc)"
    r"\s?(?:\[\d{1,3}\])?\s?:\s*",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(r"^\s*(?:fwd?|pd|wg|tr|rv|enc|vs)\s?:", re.IGNORECASE)
_LEADING_TAG = re.compile(
    r"^\s*\[(?:external|ext|zewnętrzny|extern|externe|externo)\]\s*", re.IGNORECASE
)
# Deal ids are the CRM's (imported "id" column): digits or letters, dashes, dots.
_DEAL_ID = r"([a-z0-9][a-z0-9_.-]{0,63})"
_DEAL_TAG = re.compile(r"\[deal-" + _DEAL_ID + r"\]", re.IGNORECASE)
_TICKET_TAG = re.compile(r"\[#T-(\d{1,12})\]", re.IGNORECASE)
_PLUS_DEAL = re.compile(r"^deal-" + _DEAL_ID + "$")
_PLUS_TICKET = re.compile(r"^ticket-(\d{1,12})$")
# Auto-replies that carry no Auto-Submitted header (some Exchange and webmail set-ups).
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office"
    r"|odpowied[zź] automatyczna|automatyczna odpowied[zź]|autoodpowied[zź]"
    r"|abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|respuesta autom[aá]tica"
    r"|nieobecno[sś][cć] w biurze)\b",
    re.IGNORECASE,
)

STOPWORDS = {
    "pl": {
        "i",
        "w",
        "z",
        "na",
        "nie",
        "się",
        "jest",
        "do",
        "że",
        "to",
        "dzień",
        "dobry",
        "pozdrawiam",
        "dziękuję",
        "proszę",
        "oraz",
        "jak",
        "czy",
        "dla",
        "jestem",
        "mam",
    },
    "en": {
        "the",
        "and",
        "to",
        "of",
        "is",
        "you",
        "for",
        "we",
        "thanks",
        "please",
        "hi",
        "regards",
        "with",
        "this",
        "that",
        "will",
        "are",
        "be",
        "on",
        "it",
    },
    "de": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "sie",
        "ich",
        "mit",
        "für",
        "wir",
        "grüße",
        "vielen",
        "dank",
        "bitte",
        "haben",
        "ein",
        "eine",
        "zu",
        "auf",
    },
    "fr": {
        "le",
        "la",
        "les",
        "et",
        "est",
        "pas",
        "vous",
        "je",
        "nous",
        "pour",
        "avec",
        "bonjour",
        "merci",
        "cordialement",
        "une",
        "des",
        "du",
        "en",
        "que",
        "sur",
    },
    "es": {
        "el",
        "la",
        "los",
        "las",
        "y",
        "es",
        "no",
        "usted",
        "yo",
        "para",
        "con",
        "hola",
        "gracias",
        "saludos",
        "una",
        "que",
        "por",
        "del",
        "muy",
        "le",
    },
}
_WORD = re.compile(r"[^\W\d_]{1,30}")


def normalized_subject(subject: str) -> str:
    """The subject without reply/forward prefixes (repeated) and [EXTERNAL]-style tags."""
    text = subject.strip()[:1000]
    for _ in range(20):
        stripped = _LEADING_TAG.sub("", _PREFIX.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split())


def has_forward_prefix(subject: str) -> bool:
    return bool(_FORWARD_PREFIX.match(_LEADING_TAG.sub("", subject)))


def thread(parsed: ParsedMessage) -> dict[str, Any]:
    return {
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": list(parsed.references),
        "thread_index": parsed.headers.get("thread-index", "")[:200],
        "normalized_subject": normalized_subject(parsed.subject),
    }


def tokens(
    parsed: ParsedMessage,
    logging_addresses: Iterable[str],
    envelope_recipients: Iterable[str] = (),
) -> dict[str, Any]:
    """Deal and ticket ids and the private marker, from plus-addresses (in the headers or the
    envelope: a BCC to ``log+deal-42@`` is only in the envelope) and subject tags."""
    found: dict[str, Any] = {"deal": None, "ticket": None, "private": False}
    bases = set(logging_addresses)
    for tag in _plus_tags(parsed, bases, envelope_recipients):
        if match := _PLUS_DEAL.match(tag):
            found["deal"] = found["deal"] or match.group(1)
        elif match := _PLUS_TICKET.match(tag):
            found["ticket"] = found["ticket"] or match.group(1)
        elif tag == "private":
            found["private"] = True
    if found["deal"] is None and (match := _DEAL_TAG.search(parsed.subject)):
        found["deal"] = match.group(1)
    if found["ticket"] is None and (match := _TICKET_TAG.search(parsed.subject)):
        found["ticket"] = match.group(1)
    return found


def _plus_tags(
    parsed: ParsedMessage, bases: set[str], envelope_recipients: Iterable[str]
) -> list[str]:
    addresses = [*list(envelope_recipients)[:100], *(p.email for p in parsed.participants)]
    for header in ("delivered-to", "x-original-to"):
        if value := parsed.headers.get(header):
            addresses.extend(addr for _, addr in getaddresses([value])[:10])
    tags: list[str] = []
    for text in addresses:
        address = normalize_address(text)
        if address is None:
            continue
        base, tag = base_address(address)
        if tag and (not bases or base in bases):
            tags.extend(part for part in tag.lower().split("+") if part)
    return tags


def flags(parsed: ParsedMessage) -> dict[str, bool]:
    headers = parsed.headers
    precedence = headers.get("precedence", "").strip().lower()
    auto = headers.get("auto-submitted", "").strip().lower()
    sender = parsed.sender.email if parsed.sender else ""
    local = sender.partition("@")[0]
    return {
        "bulk": bool(headers.get("list-id") or headers.get("list-unsubscribe"))
        or precedence in ("bulk", "list", "junk"),
        "auto_generated": (bool(auto) and not auto.startswith("no"))
        or "x-autoreply" in headers
        or "x-autorespond" in headers
        or precedence == "auto_reply"
        or bool(_AUTO_REPLY_SUBJECT.match(parsed.subject)),
        "bounce": (
            parsed.content_type == "multipart/report" and parsed.report_type == "delivery-status"
        )
        or local in ("mailer-daemon", "postmaster"),
    }


def language(text: str) -> str:
    """The most likely of pl/en/de/fr/es by stopwords and letters; "" when nothing matches."""
    words = [w.lower() for w in _WORD.findall(text[:20_000])]
    scores = {lang: sum(1 for w in words if w in stop) for lang, stop in STOPWORDS.items()}
    letters = set(text[:20_000].lower())
    scores["pl"] += 3 * len(letters & set("ąćęłńśźż"))
    scores["de"] += 3 * len(letters & set("äöüß"))
    scores["fr"] += 2 * len(letters & set("àâçèêëîïôûœ"))
    scores["es"] += 3 * len(letters & set("ñ¿¡"))
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] > 0 else ""
