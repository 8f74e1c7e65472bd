"""Generate the parsing corpus in this folder: realistic .eml messages plus expected .json output.

Run from the repository root with the project's interpreter:

    .venv/bin/python tests/data/parsing/make_corpus.py           # write the corpus
    .venv/bin/python tests/data/parsing/make_corpus.py --check   # validate it, print counts

The output is deterministic (identifiers come from seeded generators), so running it twice
changes nothing. Each message is described once, as data (people, dates, texts, signatures,
quoted history, forwarded messages); a renderer per mail client turns that description into
the bytes that client sends (header order, MIME layout, separator lines, attribution lines,
date formats, HTML structure), and the expected parse result is derived from the same
description, not from any parser. See README.md for what each group covers.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import html
import json
import quopri
import random
import re
import textwrap
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CRLF = "\r\n"
ORG_DOMAINS = ("example.com", "example.pl")
LOGGING_DOMAIN = "crm.example.com"

# --------------------------------------------------------------------------------------------
# People, signatures, mails
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str | None
    email: str

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1].lower()


def sig_expect(
    name: str,
    title: str | None = None,
    company: str | None = None,
    phones: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    website: str | None = None,
    address: str | None = None,
) -> dict[str, object]:
    """The expected `signature` object (phones E.164 and sorted, emails lower-case)."""
    return {
        "name": name,
        "title": title,
        "company": company,
        "phones": sorted(phones),
        "emails": [e.lower() for e in emails],
        "website": website,
        "address": address,
    }


@dataclass(frozen=True)
class Signature:
    """A signature block as the sender's client shows it, and what it should parse to."""

    lines: tuple[str, ...]
    expect: dict[str, object] | None  # None: not a personal signature ("Sent from my iPhone")
    dashes: bool = False  # preceded by the "-- " delimiter line
    table: bool = False  # HTML: laid out in a table (signature generators, Outlook)
    gap: bool = False  # a blank line between the closing line and the signature
    logo: str | None = None  # Outlook: alt text of an inline logo (multipart/related)


@dataclass
class Mail:
    """One message: its own newest text plus history (quoted) or a forwarded message."""

    client: str
    locale: str
    sender: Person
    to: tuple[Person, ...]
    date: datetime
    subject: str
    text: str  # the newest text, exactly what reply_text should be
    cc: tuple[Person, ...] = ()
    closing: str | None = None
    sig: Signature | None = None
    disclaimer: str | None = None
    quoted: Mail | None = None  # reply history below the new text
    forward: Mail | None = None  # a message forwarded inline below the new text
    message_id: str = ""
    references: tuple[str, ...] | None = None  # None: derived from the quoted chain

    def __post_init__(self) -> None:
        if not self.message_id:
            self.message_id = make_message_id(self)


def when(day: int, hour: int, minute: int, second: int = 0, tz: float = 1, month: int = 11):
    """An aware datetime in 2026 (November by default: Central Europe is at +01:00)."""
    offset = timezone(timedelta(hours=tz))
    return datetime(2026, month, day, hour, minute, second, tzinfo=offset)


# --------------------------------------------------------------------------------------------
# Deterministic identifiers
# --------------------------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
OUTLOOK_CLIENTS = ("outlook", "outlook-plain", "owa", "outlook-ios")


def rng_for(*parts: object) -> random.Random:
    return random.Random("|".join(str(p) for p in parts))


def make_message_id(m: Mail) -> str:
    r = rng_for(m.sender.email, m.date.isoformat(), m.subject, m.text[:40])
    dom = m.sender.domain
    hexs = "".join(r.choice("0123456789abcdef") for _ in range(32))
    uid = uuid.UUID(int=r.getrandbits(128), version=4)
    if m.client == "gmail":
        body = "CA" + "".join(r.choice(ALNUM + "+_-") for _ in range(44)) + "=" + r.choice(ALNUM)
        return f"<{body}@mail.gmail.com>"
    if m.client in OUTLOOK_CLIENTS:
        srv = "{}{}PR{:02d}MB{}".format(
            r.choice(["AM", "DB", "VI", "PA"]),
            r.randint(5, 9),
            r.randint(1, 9),
            r.randint(1000, 9999),
        )
        return f"<{srv}{hexs.upper()[:28]}@{srv}.eurprd{r.randint(1, 9):02d}.prod.outlook.com>"
    if m.client in ("apple", "iphone"):
        return f"<{str(uid).upper()}@{dom}>"
    if m.client == "thunderbird":
        return f"<{uid}@{dom}>"
    if m.client == "gmx":
        stamp = int(m.date.timestamp() * 1000) + r.randint(0, 999)
        return f"<trinity-{uid}-{stamp}@3c-app-gmx-bs{r.randint(10, 70)}>"
    if m.client == "zimbra":
        return (
            f"<{r.randint(10**8, 10**9)}.{r.randint(10**5, 10**6)}.{int(m.date.timestamp())}"
            f"{r.randint(100, 999)}.JavaMail.zimbra@{dom}>"
        )
    return f"<{hexs[:24]}@{dom}>"


def boundary(client: str, seed: str, kind: str = "alt") -> str:
    r = rng_for("boundary", client, seed, kind)
    hexs = "".join(r.choice("0123456789abcdef") for _ in range(16))
    if client == "gmail":
        return "000000000000" + hexs
    if client in OUTLOOK_CLIENTS:
        code = {"alt": "000", "rel": "004", "mix": "005"}[kind]
        return f"_{code}_DB9PR03MB{hexs.upper()}DB9PR03MB7265eurp_"
    if client == "apple":
        return "Apple-Mail=_" + str(uuid.UUID(int=r.getrandbits(128), version=4)).upper()
    if client == "iphone":
        return "Apple-Mail-" + str(uuid.UUID(int=r.getrandbits(128), version=4)).upper()
    if client == "thunderbird":
        return "------------" + "".join(r.choice(ALNUM) for _ in range(24))
    return "=_" + hexs + "_" + kind


def thread_index_chain(m: Mail) -> bytes:
    """Outlook's Thread-Index: 22 bytes for a new conversation, plus 5 per reply."""
    q = m.quoted or m.forward
    if q is not None and q.client in OUTLOOK_CLIENTS:
        r = rng_for("ti", m.message_id)
        return thread_index_chain(q) + bytes(r.getrandbits(8) for _ in range(5))
    r = rng_for("ti", m.message_id)
    return b"\x01" + bytes(r.getrandbits(8) for _ in range(21))


def thread_index(m: Mail) -> str:
    return base64.b64encode(thread_index_chain(m)).decode()


# Clients that start a new thread when forwarding (no References / In-Reply-To).
FORWARD_WITHOUT_REFERENCES = ("apple", "iphone", "thunderbird")


def references(m: Mail) -> list[str]:
    if m.references is not None:
        return list(m.references)
    if m.forward is not None and m.client in FORWARD_WITHOUT_REFERENCES:
        return []
    q = m.quoted or m.forward
    if q is None:
        return []
    return [*references(q), q.message_id]


def in_reply_to(m: Mail) -> str | None:
    """In-Reply-To is written exactly when References is, naming its last entry."""
    refs = references(m)
    return refs[-1] if refs else None


# --------------------------------------------------------------------------------------------
# Localised dates and labels, per client
# --------------------------------------------------------------------------------------------

WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "pl": ["poniedziałek", "wtorek", "środa", "czwartek", "piątek", "sobota", "niedziela"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}
MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "pl": [
        "stycznia",
        "lutego",
        "marca",
        "kwietnia",
        "maja",
        "czerwca",
        "lipca",
        "sierpnia",
        "września",
        "października",
        "listopada",
        "grudnia",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
}
# Gmail's abbreviations (weekday, month) for the locales used here.
GMAIL_WD = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "pl": ["pon.", "wt.", "śr.", "czw.", "pt.", "sob.", "niedz."],
    "de": ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
    "fr": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
    "es": ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
}
GMAIL_MON = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "pl": ["sty", "lut", "mar", "kwi", "maj", "cze", "lip", "sie", "wrz", "paź", "lis", "gru"],
    "de": [
        "Jan.",
        "Feb.",
        "März",
        "Apr.",
        "Mai",
        "Juni",
        "Juli",
        "Aug.",
        "Sept.",
        "Okt.",
        "Nov.",
        "Dez.",
    ],
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
    "es": ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"],
}


def lang_of(locale: str) -> str:
    return locale.split("-", maxsplit=1)[0]


def in_tz(d: datetime, tz: timezone | None) -> datetime:
    return d.astimezone(tz) if tz is not None else d


def ampm(d: datetime, seconds: bool = False) -> str:
    h = d.hour % 12 or 12
    s = f":{d.second:02d}" if seconds else ""
    return f"{h}:{d.minute:02d}{s} {'AM' if d.hour < 12 else 'PM'}"


def rfc5322_date(d: datetime, comment: str = "") -> str:
    wd = GMAIL_WD["en"][d.weekday()]
    mon = GMAIL_MON["en"][d.month - 1]
    off = d.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    mins = abs(int(off.total_seconds())) // 60
    tail = f" ({comment})" if comment else ""
    return f"{wd}, {d.day} {mon} {d.year} {d:%H:%M:%S} {sign}{mins // 60:02d}{mins % 60:02d}{tail}"


def gmail_date(d: datetime, lang: str) -> str:
    wd, mon = GMAIL_WD[lang][d.weekday()], GMAIL_MON[lang][d.month - 1]
    return {
        "en": f"{wd}, {mon} {d.day}, {d.year} at {ampm(d)}",
        "pl": f"{wd}, {d.day} {mon} {d.year} o {d:%H:%M}",
        "de": f"{wd}, {d.day}. {mon} {d.year} um {d:%H:%M} Uhr",
        "fr": f"{wd} {d.day} {mon} {d.year} à {d:%H:%M}",
        "es": f"{wd}, {d.day} {mon} {d.year} a las {d:%H:%M}",
    }[lang]


def outlook_date(d: datetime, locale: str, seconds: bool = False) -> str:
    lang = lang_of(locale)
    wd, mon = WEEKDAYS[lang][d.weekday()], MONTHS[lang][d.month - 1]
    t = f"{d:%H:%M:%S}" if seconds else f"{d:%H:%M}"
    return {
        "en": f"{wd}, {mon} {d.day}, {d.year} {ampm(d, seconds)}",
        "en-GB": f"{d.day:02d} {mon} {d.year} {t}",
        "pl": f"{wd}, {d.day} {mon} {d.year} {t}",
        "de": f"{wd}, {d.day}. {mon} {d.year} {t}",
        "fr": f"{wd} {d.day} {mon} {d.year} {t}",
        "es": f"{wd}, {d.day} de {mon} de {d.year} {t}",
    }[locale]


APPLE_TZ = {
    ("en", 0): "GMT",
    ("en", 1): "CET",
    ("pl", 1): "CET",
    ("de", 1): "MEZ",
    ("fr", 1): "UTC+1",
    ("es", 1): "CET",
    ("en", -8): "PST",
    ("en", -5): "EST",
}


def apple_long_date(d: datetime, locale: str) -> str:
    """macOS Mail's date in the forwarded-message header block (with a time zone name)."""
    lang = lang_of(locale)
    off = int((d.utcoffset() or timedelta(0)).total_seconds() // 3600)
    tz = APPLE_TZ[(lang, off)]
    mon = MONTHS[lang][d.month - 1]
    t = f"{d:%H:%M:%S}"
    return {
        "en-GB": f"{d.day} {mon} {d.year} at {t} {tz}",
        "en": f"{mon} {d.day}, {d.year} at {ampm(d, True)} {tz}",
        "pl": f"{d.day} {mon} {d.year} o {t} {tz}",
        "de": f"{d.day}. {mon} {d.year} um {t} {tz}",
        "fr": f"{d.day} {mon} {d.year} à {t} {tz}",
        "es": f"{d.day} de {mon} de {d.year}, {t} {tz}",
    }[locale]


def apple_attribution(q: Mail, locale: str, tz: timezone | None) -> str:
    d = in_tz(q.date, tz)
    lang = lang_of(locale)
    who = f"{q.sender.name} <{q.sender.email}>"
    short = GMAIL_MON[lang][d.month - 1]
    return {
        "en-GB": f"On {d.day} {short} {d.year}, at {d:%H:%M}, {who} wrote:",
        "en": f"On {short} {d.day}, {d.year}, at {ampm(d)}, {who} wrote:",
        "pl": f"Wiadomość napisana przez {who} w dniu {d.day} {short} {d.year}, o godz. {d:%H:%M}:",
        "de": f"Am {d:%d.%m.%Y} um {d:%H:%M} schrieb {who}:",
        "fr": f"Le {d.day} {short} {d.year} à {d:%H:%M}, {who} a écrit :",
        "es": f"El {d.day} {short} {d.year}, a las {d:%H:%M}, {who} escribió:",
    }[locale]


def gmail_attribution(q: Mail, lang: str, tz: timezone | None) -> str:
    d = gmail_date(in_tz(q.date, tz), lang)
    n, e = q.sender.name, q.sender.email
    return {
        "en": f"On {d} {n} <{e}> wrote:",
        "pl": f"{d} {n} <{e}> napisał(a):",
        "de": f"Am {d} schrieb {n} <{e}>:",
        "fr": f"Le {d}, {n} <{e}> a écrit :",
        "es": f"El {d}, {n} (<{e}>) escribió:",
    }[lang]


def thunderbird_attribution(q: Mail, locale: str, tz: timezone | None) -> str:
    d = in_tz(q.date, tz)
    n = q.sender.name
    return {
        "en": f"On {d:%d/%m/%Y %H:%M}, {n} wrote:",
        "pl": f"W dniu {d.day}.{d.month}.{d.year} o {d:%H:%M}, {n} pisze:",
        "de": f"Am {d:%d.%m.%y} um {d:%H:%M} schrieb {n}:",
        "fr": f"Le {d:%d/%m/%Y} à {d:%H:%M}, {n} a écrit :",
        "es": f"El {d.day}/{d.month}/{d:%y} a las {d.hour}:{d:%M}, {n} escribió:",
    }[lang_of(locale)]


# Outlook's header block labels: From, Sent, To, Cc, Subject.
OUTLOOK_LABELS = {
    "en": ("From:", "Sent:", "To:", "Cc:", "Subject:"),
    "pl": ("Od:", "Wysłano:", "Do:", "DW:", "Temat:"),
    "de": ("Von:", "Gesendet:", "An:", "Cc:", "Betreff:"),
    "fr": ("De :", "Envoyé :", "À :", "Cc :", "Objet :"),
    "es": ("De:", "Enviado el:", "Para:", "CC:", "Asunto:"),
}
# Outlook on the web differs from the desktop client in two labels.
OWA_LABELS = {
    **OUTLOOK_LABELS,
    "pl": ("Od:", "Wysłane:", "Do:", "DW:", "Temat:"),
    "es": ("De:", "Enviado:", "Para:", "CC:", "Asunto:"),
}
ORIGINAL_MESSAGE = {
    "en": "-----Original Message-----",
    "pl": "-----Wiadomość oryginalna-----",
    "de": "-----Ursprüngliche Nachricht-----",
    "fr": "-----Message d'origine-----",
    "es": "-----Mensaje original-----",
}
GMAIL_FORWARD = {
    "en": ("---------- Forwarded message ---------", "From:"),
    "pl": ("---------- Wiadomość przekazana dalej ---------", "Od:"),
    "de": ("---------- Forwarded message ---------", "Von:"),
    "fr": ("---------- Forwarded message ---------", "De :"),
    "es": ("---------- Forwarded message ---------", "De:"),
}
# macOS Mail: intro line and labels From, Subject, Date, To, Cc.
APPLE_FORWARD = {
    "en": ("Begin forwarded message:", ("From:", "Subject:", "Date:", "To:", "Cc:")),
    "pl": ("Początek przekazywanej wiadomości:", ("Od:", "Temat:", "Data:", "Do:", "DW:")),
    "de": (
        "Anfang der weitergeleiteten Nachricht:",
        ("Von:", "Betreff:", "Datum:", "An:", "Kopie:"),
    ),
    "fr": ("Début du message réexpédié :", ("De:", "Objet:", "Date:", "À:", "Cc:")),
    "es": ("Inicio del mensaje reenviado:", ("De:", "Asunto:", "Fecha:", "Para:", "Cc:")),
}


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def para(s: str) -> str:
    """Dedent a text block; lines inside a paragraph are joined unless they are list items."""
    out: list[str] = []
    for block in textwrap.dedent(s).strip("\n").split("\n\n"):
        lines: list[str] = []
        for raw in block.split("\n"):
            line = raw.strip()
            if lines and not re.match(r"^(- |• |\d+[.)] |\w+: )", line) and not keep(lines):
                lines[-1] += " " + line
            else:
                lines.append(line)
        out.append("\n".join(lines))
    return "\n\n".join(out)


def keep(lines: list[str]) -> bool:
    """A greeting line such as 'Hi Anna,' stays on its own line when a paragraph follows."""
    return len(lines) == 1 and lines[0].endswith(",") and len(lines[0]) < 40


def fmt_addr(p: Person) -> str:
    return f"{p.name} <{p.email}>" if p.name else p.email


def fmt_addrs(people: tuple[Person, ...]) -> str:
    return ", ".join(fmt_addr(p) for p in people)


def quote_lines(text: str, style: str = "gmail") -> str:
    out = []
    for line in text.split("\n"):
        if style == "flowed":
            out.append(">" + line if line.startswith(">") else ("> " + line if line else ">"))
        elif style == "apple":
            out.append("> " + line)
        else:  # gmail, wp
            out.append(">" + (" " + line if not line.startswith(">") else line) if line else ">")
    return "\n".join(out)


def wrap_quoted(text: str, width: int, flowed: bool = False) -> str:
    """Hard-wrap long lines as Gmail (plain) or Thunderbird (format=flowed) do."""
    out = []
    for line in text.split("\n"):
        if len(line) <= width or line == "-- ":
            out.append(line)
            continue
        m = re.match(r"^((?:> ?)*)", line)
        prefix = m.group(1) if m else ""
        body = line[len(prefix) :]
        parts = textwrap.wrap(
            body, width=width - len(prefix), break_long_words=False, break_on_hyphens=False
        )
        if flowed:
            parts = [p + " " for p in parts[:-1]] + parts[-1:]
        out.extend(prefix + p for p in parts)
    return "\n".join(out)


def paragraphs(text: str) -> list[list[str]]:
    return [block.split("\n") for block in text.split("\n\n")] if text else []


def esc(s: str) -> str:
    return html.escape(s, quote=False)


def linkify(line: str) -> str:
    """Escape a signature line and turn addresses and web sites into links, as clients do."""
    out = esc(line)
    out = re.sub(r"([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", r'<a href="mailto:\1">\1</a>', out)
    return re.sub(r"(?<![/@\w.])(www\.[\w-]+(?:\.[\w-]+)+)", r'<a href="http://\1">\1</a>', out)


# --------------------------------------------------------------------------------------------
# Plain-text rendering
# --------------------------------------------------------------------------------------------


def own_text(m: Mail) -> str:
    """New text, closing line, signature and disclaimer of one message, as plain text."""
    chunks: list[str] = [m.text] if m.text else []
    sig = m.sig
    if sig is not None and sig.dashes:
        if m.closing:
            chunks.append(m.closing)
        chunks.append("-- \n" + "\n".join(sig.lines))
    elif sig is not None:
        lines = "\n".join(sig.lines)
        if m.closing:
            chunks.append(m.closing + ("\n\n" if sig.gap else "\n") + lines)
        else:
            chunks.append(lines)
    elif m.closing:
        chunks.append(m.closing)
    if m.disclaimer:
        chunks.append(m.disclaimer)
    return "\n\n".join(chunks)


def header_block_text(q: Mail, locale: str, labels: dict, date: str, mailto: bool = False) -> str:
    f, s, t, c, subj = labels[lang_of(locale)]
    sender = fmt_addr(q.sender)
    if mailto:
        sender = f"{q.sender.name} [mailto:{q.sender.email}]"
    lines = [f"{f} {sender} ", f"{s} {date}", f"{t} {fmt_addrs(q.to)}"]
    if q.cc:
        lines.append(f"{c} {fmt_addrs(q.cc)}")
    lines.append(f"{subj} {q.subject}")
    return "\n".join(lines)


def render_text(m: Mail, tz: timezone | None = None) -> str:
    """The text/plain body the client of `m` produces, including history below."""
    tz = tz or m.date.tzinfo  # a client shows dates in its user's time zone
    own = own_text(m)
    c, loc, lang = m.client, m.locale, lang_of(m.locale)
    hist = m.quoted or m.forward
    if hist is None:
        return own
    inner = render_text(hist)  # the history as its own client wrote it
    if c == "gmail":
        if m.forward:
            sep, frm = GMAIL_FORWARD[lang]
            h = hist
            block = [
                sep,
                f"{frm} {fmt_addr(h.sender)}",
                f"Date: {gmail_date(in_tz(h.date, tz), lang)}",
            ]
            block += [f"Subject: {h.subject}", f"To: {fmt_addrs(h.to)}"]
            if h.cc:
                block.append(f"Cc: {fmt_addrs(h.cc)}")
            out = own + "\n\n" + "\n".join(block) + "\n\n\n" + inner
        else:
            out = own + "\n\n" + gmail_attribution(hist, lang, tz) + "\n\n" + quote_lines(inner)
        return wrap_quoted(out, 76)
    if c in ("outlook", "outlook-plain", "owa", "outlook-ios"):
        labels = OUTLOOK_LABELS if c in ("outlook", "outlook-plain") else OWA_LABELS
        date = outlook_date(in_tz(hist.date, tz), loc, seconds=(c == "outlook-ios"))
        mailto = c == "outlook-plain" and getattr(m, "_mailto", False)
        block = header_block_text(hist, loc, labels, date, mailto=mailto)
        if c == "outlook-plain":
            block = ORIGINAL_MESSAGE[lang] + "\n" + block
        elif c in ("owa", "outlook-ios"):
            block = "________________________________\n" + block.replace(" \n", "\n", 1)
        return own + "\n\n" + block + "\n\n" + inner
    if c == "apple" and m.forward:
        intro, (lf, ls, ld, lt, lc) = APPLE_FORWARD[lang]
        h = hist
        block = [f"{lf} {fmt_addr(h.sender)}", f"{ls} {h.subject}"]
        block += [f"{ld} {apple_long_date(in_tz(h.date, tz), loc)}", f"{lt} {fmt_addrs(h.to)}"]
        if h.cc:
            block.append(f"{lc} {fmt_addrs(h.cc)}")
        return own + "\n\n" + intro + "\n\n" + "\n".join(block) + "\n\n" + inner
    if c == "iphone" and m.forward:
        intro, (lf, ls, ld, lt, lc) = APPLE_FORWARD[lang]
        h = hist
        block = [f"{lf} {fmt_addr(h.sender)}", f"{ld} {apple_long_date(in_tz(h.date, tz), loc)}"]
        block += [f"{lt} {fmt_addrs(h.to)}", f"{ls} {h.subject}", "", inner]
        return own + "\n\n" + intro + "\n\n" + quote_lines("\n".join(block), "apple")
    if c in ("apple", "iphone"):
        attr = apple_attribution(hist, loc, tz)
        return own + "\n\n" + quote_lines(attr + "\n\n" + inner, "apple")
    if c == "thunderbird":
        if m.forward:
            h = hist
            block = [
                "-------- Forwarded Message --------",
                f"Subject: \t{h.subject}",
                f"Date: \t{rfc5322_date(h.date)}",
                f"From: \t{fmt_addr(h.sender)}",
                f"To: \t{fmt_addrs(h.to)}",
            ]
            if h.cc:
                block.append(f"CC: \t{fmt_addrs(h.cc)}")
            out = own + "\n\n\n" + "\n".join(block) + "\n\n\n\n" + inner
        else:
            attr = thunderbird_attribution(hist, loc, tz)
            out = own + "\n\n" + attr + "\n" + quote_lines(inner, "flowed")
        return wrap_quoted(out, 72, flowed=True)
    if c == "gmx":
        d = in_tz(hist.date, tz)
        wd, mon = WEEKDAYS["de"][d.weekday()], MONTHS["de"][d.month - 1]
        block = [
            f"Gesendet: {wd}, {d:%d}. {mon} {d.year} um {d:%H:%M} Uhr",
            f'Von: "{hist.sender.name}" <{hist.sender.email}>',
            "An: " + ", ".join(f'"{p.name}" <{p.email}>' for p in hist.to),
            f"Betreff: {hist.subject}",
        ]
        return own + "\n \n \n\n" + "\n".join(block) + "\n" + inner
    if c == "wp":
        d = in_tz(hist.date, tz)
        attr = (
            f"Dnia {d.day} {MONTHS['pl'][d.month - 1]} {d.year} {d:%H:%M} {fmt_addr(hist.sender)}"
        )
        return own + "\n\n" + attr + " napisał(a):\n\n" + quote_lines(inner)
    raise ValueError(f"no text renderer for {c}")


# --------------------------------------------------------------------------------------------
# HTML rendering
# --------------------------------------------------------------------------------------------


def sig_table(sig: Signature, style: str) -> str:
    """A signature laid out as a table, the first line in bold, addresses as links."""
    rows = [linkify(line) for line in sig.lines]
    if style == "outlook":
        cells = "".join(
            '<p class="MsoNormal"><span style="font-size:9.0pt;color:#595959">'
            f"{'<b>' + r + '</b>' if i == 0 else r}<o:p></o:p></span></p>\n"
            for i, r in enumerate(rows)
        )
        logo = ""
        if sig.logo:
            logo = (
                '<td width="130" valign="top" style="width:97.5pt;padding:0cm 5.4pt 0cm 5.4pt">\n'
                '<p class="MsoNormal"><img width="120" height="48" style="width:1.25in;'
                f'height:.5in" id="Picture_x0020_1" src="cid:{LOGO_CID}" alt="{esc(sig.logo)}">'
                "<o:p></o:p></p>\n</td>\n"
            )
        return (
            '<table class="MsoNormalTable" border="0" cellspacing="0" cellpadding="0" '
            'style="border-collapse:collapse">\n<tr>\n'
            '<td width="320" valign="top" style="width:240.0pt;border:none;border-right:solid '
            '#1F3864 1.0pt;padding:0cm 5.4pt 0cm 5.4pt">\n'
            f"{cells}</td>\n{logo}</tr>\n</table>\n"
        )
    first, rest = rows[0], rows[1:]
    cells = f'<div style="font-size:14px;color:#1a1a1a"><b>{first}</b></div>' + "".join(
        f'<div style="font-size:12px;color:#555555">{r}</div>' for r in rest
    )
    return (
        '<table cellpadding="0" cellspacing="0" border="0" style="font-family:Arial,Helvetica,'
        'sans-serif;border-collapse:collapse"><tbody><tr>'
        '<td valign="top" style="padding:0 12px 0 0;border-right:2px solid #0b5394">'
        f"{cells}</td></tr></tbody></table>"
    )


def div_lines(text: str, tag: str = "div") -> str:
    """Paragraphs as Gmail/Apple write them: one div per paragraph, blank div between."""
    blocks = [f"<{tag}>{'<br>'.join(esc(x) for x in p)}</{tag}>" for p in paragraphs(text)]
    return f"<{tag}><br></{tag}>".join(blocks)


def gmail_own_html(m: Mail) -> str:
    parts = [div_lines(m.text)] if m.text else []
    sig = m.sig
    if m.closing and not (sig and not sig.dashes):
        parts.append(f"<div>{esc(m.closing)}</div>")
    if sig is not None and sig.dashes:
        body = sig_table(sig, "gmail") if sig.table else "<br>".join(esc(x) for x in sig.lines)
        parts.append(
            '<br clear="all"><div><br></div><span class="gmail_signature_prefix">-- </span><br>'
            '<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">'
            f'<div dir="ltr">{body}</div></div>'
        )
    elif sig is not None:
        gap = "<br><br>" if sig.gap else "<br>"
        closing = esc(m.closing) + gap if m.closing else ""
        parts.append(f"<div>{closing}{'<br>'.join(esc(x) for x in sig.lines)}</div>")
    if m.disclaimer:
        parts.append(
            '<div><br></div><div><font size="1" color="#888888">'
            + "<br><br>".join(esc(p) for p in m.disclaimer.split("\n\n"))
            + "</font></div>"
        )
    return '<div dir="ltr">' + "<div><br></div>".join(parts) + "</div>"


def mso_p(inner: str) -> str:
    return f'<p class="MsoNormal">{inner}<o:p></o:p></p>\n'


MSO_BLANK = '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n'


def outlook_own_html(m: Mail) -> str:
    out = ""
    for i, p in enumerate(paragraphs(m.text)):
        out += (MSO_BLANK if i else "") + "".join(mso_p(esc(x)) for x in p)
    if m.closing:
        out += MSO_BLANK + mso_p(esc(m.closing))
    sig = m.sig
    if sig is not None:
        if sig.dashes:
            out += MSO_BLANK + mso_p("-- ")
        elif sig.gap or not m.closing:
            out += MSO_BLANK
        if sig.table:
            out += sig_table(sig, "outlook")
        else:
            out += "".join(mso_p(linkify(x)) for x in sig.lines)
    if m.disclaimer:
        for p in m.disclaimer.split("\n\n"):
            out += MSO_BLANK + mso_p(f'<span style="font-size:7.5pt;color:gray">{esc(p)}</span>')
    return out


OWA_DIV = (
    '<div class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, '
    "Aptos_MSFontService, Calibri, Helvetica, sans-serif; font-size: 12pt; "
    'color: rgb(0, 0, 0);">'
)


def owa_own_html(m: Mail) -> str:
    out = []
    for i, p in enumerate(paragraphs(m.text)):
        if i:
            out.append(OWA_DIV + "<br></div>")
        out.extend(OWA_DIV + esc(x) + "</div>" for x in p)
    if m.closing:
        out.append(OWA_DIV + "<br></div>")
        out.append(OWA_DIV + esc(m.closing) + "</div>")
    if m.sig is not None:
        body = "<p>" + "<br>".join(linkify(x) for x in m.sig.lines) + "</p>"
        if m.sig.table:
            body = sig_table(m.sig, "gmail")
        out.append(f'<div id="Signature">{body}</div>')
    if m.disclaimer:
        out.append(f'<div style="font-size: 8pt; color: gray;">{esc(m.disclaimer)}</div>')
    return "\n".join(out) + "\n"


def apple_own_html(m: Mail) -> str:
    parts = [div_lines(m.text)] if m.text else []
    sig = m.sig
    tail = []
    if m.closing:
        tail.append(esc(m.closing))
    if sig is not None:
        if sig.table:
            tail.append(sig_table(sig, "apple"))
        else:
            if sig.gap or sig.dashes:
                tail.append("")
            if sig.dashes:
                tail.append("-- ")
            tail.extend(linkify(x) for x in sig.lines)
    if tail:
        parts.append("".join(f"<div>{t or '<br>'}</div>" for t in tail))
    if m.disclaimer:
        parts.append(f'<div style="font-size: 9px; color: gray;">{esc(m.disclaimer)}</div>')
    return "<div><br></div>".join(parts)


def render_html(m: Mail, tz: timezone | None = None) -> str:
    """The HTML body fragment (inside <body>) the client of `m` produces, with history."""
    tz = tz or m.date.tzinfo
    c, loc, lang = m.client, m.locale, lang_of(m.locale)
    hist = m.quoted or m.forward
    if c == "gmail":
        own = gmail_own_html(m)
        if hist is None:
            return own
        inner = render_html(hist)
        if m.forward:
            sep, frm = GMAIL_FORWARD[lang]
            h = hist
            to = ", ".join(
                f'{esc(p.name or "")} &lt;<a href="mailto:{p.email}">{p.email}</a>&gt;'
                for p in h.to
            )
            block = (
                f'{sep}<br>{frm} <strong class="gmail_sendername" dir="auto">'
                f'{esc(h.sender.name or "")}</strong> <span dir="auto">&lt;<a href="mailto:'
                f'{h.sender.email}">{h.sender.email}</a>&gt;</span><br>'
                f"Date: {esc(gmail_date(in_tz(h.date, tz), lang))}<br>"
                f"Subject: {esc(h.subject)}<br>To: {to}<br>"
            )
            if h.cc:
                block += (
                    "Cc: "
                    + ", ".join(
                        f'{esc(p.name or "")} &lt;<a href="mailto:{p.email}">{p.email}</a>&gt;'
                        for p in h.cc
                    )
                    + "<br>"
                )
            return (
                f'{own}<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" '
                f'class="gmail_attr">{block}</div><br><br>{inner}</div>'
            )
        attr = esc(gmail_attribution(hist, lang, tz))
        return (
            f'{own}<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" '
            f'class="gmail_attr">{attr}<br></div><blockquote class="gmail_quote" '
            'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
            f'padding-left:1ex">{inner}</blockquote></div>'
        )
    if c == "outlook":
        own = outlook_own_html(m)
        if hist is None:
            return own
        f, s, t, cc, subj = OUTLOOK_LABELS[lang]
        rows = [
            f"<b>{s}</b> {esc(outlook_date(in_tz(hist.date, tz), loc))}<br>\n",
            f"<b>{t}</b> {esc(fmt_addrs(hist.to))}<br>\n",
        ]
        if hist.cc:
            rows.append(f"<b>{cc}</b> {esc(fmt_addrs(hist.cc))}<br>\n")
        rows.append(f"<b>{subj}</b> {esc(hist.subject)}<o:p></o:p></span></p>\n")
        return (
            own + MSO_BLANK + '<div>\n<div style="border:none;border-top:solid #E1E1E1 1.0pt;'
            'padding:3.0pt 0cm 0cm 0cm">\n'
            f'<p class="MsoNormal"><b><span lang="{lang.upper()}">{f}</span></b>'
            f'<span lang="{lang.upper()}"> {esc(fmt_addr(hist.sender))} <br>\n'
            + "".join(rows)
            + "</div>\n</div>\n"
            + MSO_BLANK
            + render_html(hist)
        )
    if c in ("owa", "outlook-ios"):
        own = owa_own_html(m)
        if hist is None:
            return own
        f, s, t, cc, subj = OWA_LABELS[lang]
        date = outlook_date(in_tz(hist.date, tz), loc, seconds=(c == "outlook-ios"))
        block = (
            f"<b>{f}</b> {esc(fmt_addr(hist.sender))}<br>\n<b>{s}</b> {esc(date)}<br>\n"
            f"<b>{t}</b> {esc(fmt_addrs(hist.to))}<br>\n"
        )
        if hist.cc:
            block += f"<b>{cc}</b> {esc(fmt_addrs(hist.cc))}<br>\n"
        block += f"<b>{subj}</b> {esc(hist.subject)}"
        return (
            own + '<div id="appendonsend"></div>\n'
            '<hr style="display:inline-block;width:98%" tabindex="-1">\n'
            '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" '
            f'style="font-size:11pt" color="#000000">{block}</font>\n<div>&nbsp;</div>\n</div>\n'
            + render_html(hist)
        )
    if c in ("apple", "iphone"):
        own = apple_own_html(m)
        if hist is None:
            return own
        inner = render_html(hist)
        if m.forward:
            intro, (lf, ls, ld, lt, lc) = APPLE_FORWARD[lang]
            h = hist
            span = (
                '<span style="font-family: -webkit-system-font, Helvetica Neue, Helvetica, '
                'sans-serif;{}">{}</span>'
            )
            rows = [(lf, fmt_addr(h.sender)), (ls, h.subject)]
            rows += [(ld, apple_long_date(in_tz(h.date, tz), loc)), (lt, fmt_addrs(h.to))]
            if h.cc:
                rows.append((lc, fmt_addrs(h.cc)))
            block = "".join(
                '<div style="margin-top: 0px; margin-right: 0px; margin-bottom: 0px; '
                'margin-left: 0px;">'
                + span.format(" color:rgba(0, 0, 0, 1.0);", f"<b>{label} </b>")
                + span.format("", esc(value) + "<br>")
                + "</div>"
                for label, value in rows
            )
            fwd = (
                f"<div>{intro}</div>"
                f'<br class="Apple-interchange-newline">{block}<br><div>{inner}</div>'
            )
            if c == "iphone":
                fwd = f'<blockquote type="cite">{fwd}</blockquote>'
            return f"{own}<div><br>{fwd}</div>"
        attr = esc(apple_attribution(hist, loc, tz))
        return (
            f'{own}<div><br><blockquote type="cite"><div>{attr}</div><br '
            f'class="Apple-interchange-newline"><div>{inner}</div></blockquote></div><br>'
        )
    if c == "gmx":
        own = "".join(f"<div>{esc(x) or '&nbsp;'}</div>" for x in own_text(m).split("\n"))
        if hist is None:
            return own
        d = in_tz(hist.date, tz)
        wd, mon = WEEKDAYS["de"][d.weekday()], MONTHS["de"][d.month - 1]
        to = ", ".join(f"&quot;{esc(p.name or '')}&quot; &lt;{p.email}&gt;" for p in hist.to)
        block = (
            f"<b>Gesendet:</b>&nbsp;{wd}, {d:%d}. {mon} {d.year} um {d:%H:%M} Uhr<br/>"
            f"<b>Von:</b>&nbsp;&quot;{esc(hist.sender.name or '')}&quot; "
            f"&lt;{hist.sender.email}&gt;<br/><b>An:</b>&nbsp;{to}<br/>"
            f"<b>Betreff:</b>&nbsp;{esc(hist.subject)}"
        )
        return (
            f'{own}<div>&nbsp;</div><div>&nbsp;<div>&nbsp;<div name="quote" style="margin:10px '
            "5px 5px 10px; padding: 10px 0 10px 10px; border-left:2px solid #C3D9E5; "
            "word-wrap: break-word; -webkit-nbsp-mode: space; -webkit-line-break: "
            f'after-white-space;"><div style="margin:0 0 10px 0;">{block}</div>'
            f'<div name="quoted-content">{render_html(hist)}</div></div></div></div>'
        )
    # Clients that send plain text: their text as HTML (what another client quotes).
    return "<div>" + "<br>".join(esc(x) for x in render_text(m, tz).split("\n")) + "</div>"


OUTLOOK_HEAD = """\
<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" \
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset={charset}">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<!--[if !mso]><style>v\\:* {{behavior:url(#default#VML);}}
o\\:* {{behavior:url(#default#VML);}}
w\\:* {{behavior:url(#default#VML);}}
.shape {{behavior:url(#default#VML);}}
</style><![endif]--><style><!--
/* Font Definitions */
@font-face
\t{{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}}
@font-face
\t{{font-family:Calibri;
\tpanose-1:2 15 5 2 2 2 4 3 2 4;}}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{{margin:0cm;
\tfont-size:11.0pt;
\tfont-family:"Calibri",sans-serif;
\tmso-fareast-language:EN-US;}}
a:link, span.MsoHyperlink
\t{{mso-style-priority:99;
\tcolor:#0563C1;
\ttext-decoration:underline;}}
span.EmailStyle19
\t{{mso-style-type:personal-reply;
\tfont-family:"Calibri",sans-serif;
\tcolor:windowtext;}}
.MsoChpDefault
\t{{mso-style-type:export-only;
\tfont-size:10.0pt;
\tmso-ligatures:none;}}
@page WordSection1
\t{{size:612.0pt 792.0pt;
\tmargin:70.85pt 70.85pt 70.85pt 70.85pt;}}
div.WordSection1
\t{{page:WordSection1;}}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang="{lang}" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
"""


def html_document(m: Mail, charset: str) -> str:
    body = render_html(m)
    c = m.client
    if c == "gmail":
        return body + "\n"
    if c == "outlook":
        head = OUTLOOK_HEAD.format(charset=charset, lang=lang_of(m.locale).upper())
        return head + body + "</div>\n</body>\n</html>\n"
    if c in ("owa", "outlook-ios"):
        return (
            '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; '
            f'charset={charset}">\n<style type="text/css" style="display:none;"> P '
            '{margin-top:0;margin-bottom:0;} </style>\n</head>\n<body dir="ltr">\n'
            f"{body}</body>\n</html>\n"
        )
    if c in ("apple", "iphone"):
        style = (
            'dir="auto"'
            if c == "iphone"
            else 'style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            'line-break: after-white-space;"'
        )
        return (
            '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8">'
            f"</head><body {style}>{body}</body></html>"
        )
    if c == "gmx":
        return (
            '<html><head></head><body><div style="font-family: Verdana;font-size: 12.0px;">'
            f"{body}</div></body></html>"
        )
    # Other mailers (mailing platforms, web mail): a plain document around the text.
    return (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="{charset}">\n</head>\n<body>\n'
        f"{body}\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------
# MIME encoding
# --------------------------------------------------------------------------------------------


def encode_body(text: str, charset: str, cte: str) -> str:
    """Encode a text body; returns the transfer-encoded text with CRLF line ends."""
    data = text.replace("\r\n", "\n").encode(charset)
    if cte == "quoted-printable":
        return quopri.encodestring(data).decode("ascii").replace("\n", CRLF)
    if cte == "base64":
        raw = data.replace(b"\n", b"\r\n")
        return base64.encodebytes(raw).decode("ascii").replace("\n", CRLF)
    if cte in ("7bit", "8bit", ""):
        # The raw bytes in `charset`; build() writes surrogate escapes back as those bytes.
        return data.decode("utf-8", "surrogateescape").replace("\n", CRLF)
    raise ValueError(cte)


def encoded_word(text: str, charset: str = "utf-8", mode: str = "Q", lower_hex: bool = False):
    """RFC 2047 encoded words (each at most 75 characters), joined by folding whitespace."""
    words: list[str] = []
    current = ""

    def enc(chunk: str) -> str:
        raw = chunk.encode(charset)
        if mode == "B":
            return base64.b64encode(raw).decode()
        out = ""
        for b in raw:
            ch = chr(b)
            if ch == " ":
                out += "_"
            elif ch.isascii() and (ch.isalnum() or ch in "!*+-/"):
                out += ch
            else:
                out += f"={b:02x}" if lower_hex else f"={b:02X}"
        return out

    prefix = f"=?{charset}?{mode}?"
    for ch in text:
        if len(prefix) + len(enc(current + ch)) + 2 > 75:
            words.append(prefix + enc(current) + "?=")
            current = ch
        else:
            current += ch
    words.append(prefix + enc(current) + "?=")
    return (CRLF + " ").join(words)


def needs_encoding(s: str) -> bool:
    return not s.isascii()


def hdr_name(p: Person, style: str) -> str:
    """A display name as a client writes it in a header (RFC 2047 when not ASCII)."""
    name = p.name
    if name is None:
        return p.email
    if needs_encoding(name):
        if style == "outlook-b":
            enc = encoded_word(name, "utf-8", "B")
        elif style == "thunderbird":
            enc = encoded_word(name, "UTF-8", "Q", lower_hex=True)
        elif style.startswith("charset:"):
            enc = encoded_word(name, style.split(":", 1)[1], "Q")
        elif style == "gmail":
            enc = encoded_word(name, "UTF-8", "Q")
        else:
            enc = encoded_word(name, "utf-8", "Q")
        return f"{enc} <{p.email}>"
    if re.search(r"[,;:@()<>\"\[\].]", name) or style == "quoted":
        return f'"{name}" <{p.email}>'
    return f"{name} <{p.email}>"


def hdr_addrs(people: tuple[Person, ...], style: str) -> str:
    parts = [hdr_name(p, style) for p in people]
    out = parts[0] if parts else ""
    line = len(out)
    for p in parts[1:]:
        if line + len(p) > 70:
            out += "," + CRLF + "\t" + p
            line = len(p)
        else:
            out += ", " + p
            line += len(p) + 2
    return out


def hdr_subject(subject: str, style: str) -> str:
    if not needs_encoding(subject):
        return subject
    if style == "outlook-b":
        return encoded_word(subject, "utf-8", "B")
    if style == "thunderbird":
        return encoded_word(subject, "UTF-8", "Q", lower_hex=True)
    if style.startswith("charset:"):
        return encoded_word(subject, style.split(":", 1)[1], "Q")
    if style == "gmail":
        return encoded_word(subject, "UTF-8", "Q")
    if style == "split-b":
        return split_encoded_words(subject)
    return encoded_word(subject, "utf-8", "Q")


def split_encoded_words(text: str) -> str:
    """B-encoded words cut every n bytes, through the middle of a multi-byte character.

    RFC 2047 forbids it (each word must hold whole characters) but some mailers do it; a
    decoder that joins adjacent words of one charset before decoding reads it correctly.
    """
    raw = text.encode("utf-8")
    for size in range(7, 20):
        chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
        if any(c.decode("utf-8", "ignore").encode() != c for c in chunks):
            break
    else:
        raise AssertionError(f"no character is split in {text!r}")
    words = ["=?UTF-8?B?" + base64.b64encode(c).decode() + "?=" for c in chunks]
    return (CRLF + " ").join(words)


@dataclass
class Part:
    headers: list[tuple[str, str]]
    body: str  # already transfer-encoded, CRLF line ends

    def render(self) -> str:
        return "".join(f"{k}: {v}{CRLF}" for k, v in self.headers) + CRLF + self.body


def text_part(text: str, subtype: str, charset: str, cte: str, client: str) -> Part:
    body = encode_body(text, charset, cte)
    if client in ("apple", "iphone"):
        headers = [
            ("Content-Transfer-Encoding", cte),
            ("Content-Type", f"text/{subtype};{CRLF}\tcharset={charset}"),
        ]
    elif client == "thunderbird":
        flowed = "; format=flowed" if subtype == "plain" else ""
        headers = [
            ("Content-Type", f"text/{subtype}; charset={charset.upper()}{flowed}"),
            ("Content-Transfer-Encoding", cte),
        ]
    else:
        cs = charset.upper() if client == "gmail" else charset
        headers = [("Content-Type", f'text/{subtype}; charset="{cs}"')]
        if cte and not (client == "gmail" and cte == "7bit"):
            headers.append(("Content-Transfer-Encoding", cte))
    return Part(headers, body)


def multipart(subtype: str, parts: list[Part], bnd: str, extra: str = "") -> Part:
    body = ""
    for p in parts:
        body += f"--{bnd}{CRLF}{p.render()}"
        if not body.endswith(CRLF):
            body += CRLF
        body += CRLF
    body += f"--{bnd}--{CRLF}"
    return Part([("Content-Type", f'multipart/{subtype}; boundary="{bnd}"{extra}')], body)


def binary_part(ctype: str, name: str, data: bytes, client: str, inline_cid: str = "") -> Part:
    b64 = base64.encodebytes(data).decode().replace("\n", CRLF)
    if inline_cid:
        return Part(
            [
                ("Content-Type", f'{ctype}; name="{name}"'),
                ("Content-Description", name),
                ("Content-Disposition", f'inline; filename="{name}"; size={len(data)}'),
                ("Content-ID", f"<{inline_cid}>"),
                ("Content-Transfer-Encoding", "base64"),
            ],
            b64,
        )
    headers = [
        ("Content-Type", f'{ctype}; name="{name}"'),
        ("Content-Disposition", f'attachment; filename="{name}"'),
        ("Content-Transfer-Encoding", "base64"),
    ]
    if client == "gmail":
        r = rng_for("att", name)
        headers.append(("X-Attachment-Id", f"f_m{r.randint(10**6, 10**7)}0"))
        headers.append(("Content-ID", f"<f_m{r.randint(10**6, 10**7)}0>"))
    return Part(headers, b64)


LOGO_CID = "image001.png@01DB4E2A.3C5F1B70"
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def fake_pdf(title: str) -> bytes:
    body = (
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
        f"% {title}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return body.encode("ascii", "replace")


# --------------------------------------------------------------------------------------------
# Whole messages, per client
# --------------------------------------------------------------------------------------------


@dataclass
class Envelope:
    """How a message is sent: encodings, attachments and headers added on the way."""

    charset: str = "utf-8"
    text_cte: str = ""  # "" = the client's default
    html_cte: str = ""
    html: bool = True  # multipart/alternative with HTML
    text: bool = True  # False: HTML only
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (content type, file name, data)
    attached_messages: tuple[tuple[str, bytes], ...] = ()  # message/rfc822 (file name, bytes)
    trace: tuple[tuple[str, str], ...] = ()  # prepended by MTAs (Received, Delivered-To, ...)
    extra: tuple[tuple[str, str], ...] = ()  # added after the client's own headers
    header_style: str = ""  # override how names/subjects are encoded
    mailto: bool = False  # Outlook plain text: "From: Name [mailto:addr]"


def default_cte(client: str, text: str, charset: str, kind: str) -> str:
    ascii_only = text.isascii()
    if client == "thunderbird":
        return "7bit" if ascii_only else "8bit"
    if client in OUTLOOK_CLIENTS and charset.lower() == "utf-8":
        return "base64"
    if ascii_only and client == "gmail" and max(map(len, text.split("\n"))) <= 78:
        return "7bit"
    return "quoted-printable"


def body_part(m: Mail, env: Envelope) -> Part:
    """The message body: text, HTML or both, plus inline logo and attachments."""
    c, cs = m.client, env.charset
    parts: list[Part] = []
    seed = m.message_id
    if env.text:
        text = render_text(m)
        cte = env.text_cte or default_cte(c, text, cs, "plain")
        parts.append(text_part(text + "\n", "plain", cs, cte, c))
    if env.html:
        doc = html_document(m, cs)
        cte = env.html_cte or default_cte(c, doc, cs, "html")
        parts.append(text_part(doc, "html", cs, cte, c))
    body = parts[0] if len(parts) == 1 else multipart("alternative", parts, boundary(c, seed))
    if m.sig is not None and m.sig.logo and env.html:
        logo = binary_part("image/png", "image001.png", PNG_1PX, c, inline_cid=LOGO_CID)
        root = body.headers[0][1].split(";", 1)[0]
        body = multipart("related", [body, logo], boundary(c, seed, "rel"), f'; type="{root}"')
    extras = [binary_part(t, n, d, c) for t, n, d in env.attachments]
    for name, raw in env.attached_messages:
        if name.isascii():
            ct, cd = f'name="{name}"', f'filename="{name}"'
        else:  # RFC 2231
            pct = urllib.parse.quote(name, safe="")
            ct, cd = f"name*=UTF-8''{pct}", f"filename*=UTF-8''{pct}"
        headers = [("Content-Type", f"message/rfc822; {ct}")]
        if not raw.isascii():
            headers.append(("Content-Transfer-Encoding", "8bit"))
        headers.append(("Content-Disposition", f"attachment; {cd}"))
        extras.append(Part(headers, raw.decode("utf-8", "surrogateescape")))
    if extras:
        body = multipart("mixed", [body, *extras], boundary(c, seed, "mix"))
    return body


def client_headers(m: Mail, env: Envelope, ctype: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's own headers, in the order that client writes them."""
    c = m.client
    style = env.header_style or {
        "gmail": "gmail",
        "outlook": "outlook",
        "outlook-plain": "outlook",
        "owa": "outlook",
        "outlook-ios": "outlook",
        "thunderbird": "thunderbird",
        "gmx": "quoted",
    }.get(c, "utf-8")
    subj = hdr_subject(m.subject, "outlook-b" if style == "outlook" else style)
    frm, to = hdr_name(m.sender, style), hdr_addrs(m.to, style)
    cc = hdr_addrs(m.cc, style) if m.cc else None
    refs = references(m)
    irt = in_reply_to(m)
    ref_h = (CRLF + " ").join(refs) if refs else None
    date = rfc5322_date(m.date)
    h: list[tuple[str, str | None]]
    if c == "gmail":
        h = [("MIME-Version", "1.0"), ("References", ref_h), ("In-Reply-To", irt)]
        h += [("From", frm), ("Date", date), ("Message-ID", m.message_id)]
        h += [("Subject", subj), ("To", to), ("Cc", cc), *ctype]
    elif c in OUTLOOK_CLIENTS:
        topic = re.sub(r"^((RE|FW|AW|WG|TR|RV|Odp|PD|Fwd|Re) ?: ?)+", "", m.subject, flags=re.I)
        h = [("From", frm), ("To", to), ("CC", cc), ("Subject", subj)]
        h += [("Thread-Topic", hdr_subject(topic, "outlook-b")), ("Thread-Index", thread_index(m))]
        h += [("Date", date), ("Message-ID", m.message_id)]
        h += [("References", ref_h), ("In-Reply-To", irt)]
        lang = {"pl": "pl-PL", "de": "de-DE", "fr": "fr-FR", "es": "es-ES"}
        cl = lang.get(lang_of(m.locale), "en-US")
        accept = cl if cl == "en-US" else f"{cl}, en-US"
        h += [("Accept-Language", accept), ("Content-Language", cl)]
        attach = "yes" if env.attachments or env.attached_messages else ""
        h += [("X-MS-Has-Attach", attach), ("X-MS-TNEF-Correlator", "")]
        if c == "outlook-ios":
            h.append(("X-MS-Exchange-Organization-SCL", "-1"))
        h += [*ctype, ("MIME-Version", "1.0")]
    elif c in ("apple", "iphone"):
        ver = "1.0 (1.0)" if c == "iphone" else "1.0 (Mac OS X Mail 16.0 \\(3826.300.87.4.3\\))"
        mailer = "iPhone Mail (22B83)" if c == "iphone" else "Apple Mail (2.3826.300.87.4.3)"
        h = [("From", frm), *ctype, ("Mime-Version", ver), ("Subject", subj), ("Date", date)]
        h += [("In-Reply-To", irt), ("Cc", cc), ("To", to), ("References", ref_h)]
        h += [("Message-Id", m.message_id), ("X-Mailer", mailer)]
    elif c == "thunderbird":
        h = [("Message-ID", m.message_id), ("Date", date), ("MIME-Version", "1.0")]
        h += [("User-Agent", "Mozilla Thunderbird"), ("Subject", subj)]
        h += [("Content-Language", lang_of(m.locale)), ("To", to), ("Cc", cc)]
        h += [("References", ref_h), ("From", frm), ("In-Reply-To", irt), *ctype]
    elif c == "gmx":
        h = [("MIME-Version", "1.0"), ("Message-ID", m.message_id), *ctype]
        h += [("From", frm), ("To", to), ("Cc", cc), ("Subject", subj), ("Date", date)]
        h += [("In-Reply-To", irt), ("References", ref_h), ("Importance", "normal")]
        h += [("Sensitivity", "Normal"), ("X-Priority", "3"), ("X-UI-Message-Type", "mail")]
    else:
        h = [("Date", date), ("From", frm), ("To", to), ("Cc", cc), ("Message-ID", m.message_id)]
        h += [("Subject", subj), ("In-Reply-To", irt), ("References", ref_h)]
        h += [("MIME-Version", "1.0"), *ctype]
        if c == "wp":
            h.append(("X-Mailer", "Wirtualna Polska - http://poczta.wp.pl/"))
    return [(k, v) for k, v in h if v is not None]


def build(m: Mail, env: Envelope | None = None) -> bytes:
    env = env or Envelope()
    if m.client in ("thunderbird", "outlook-plain", "wp"):
        env.html = False if env.text else env.html
    if env.mailto:
        m._mailto = True  # type: ignore[attr-defined]
    part = body_part(m, env)
    ctype = list(part.headers)
    if m.client in ("apple", "iphone") and ctype[0][1].startswith("multipart"):
        v = ctype[0][1].replace("; boundary=", f";{CRLF}\tboundary=")
        ctype = [("Content-Type", v)]
    headers = list(env.trace) + client_headers(m, env, ctype) + list(env.extra)
    head = "".join(f"{k}: {v}{CRLF}" for k, v in headers)
    return (head + CRLF + part.body).encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------------------------
# Expected output
# --------------------------------------------------------------------------------------------


def is_org(email: str) -> bool:
    dom = email.rsplit("@", 1)[1].lower()
    return any(dom == d or dom.endswith("." + d) for d in ORG_DOMAINS)


def is_logging(email: str) -> bool:
    local, dom = email.lower().rsplit("@", 1)
    return dom == LOGGING_DOMAIN and (local == "log" or local.startswith("log+"))


def person(p: Person) -> dict[str, object]:
    name = unicodedata.normalize("NFC", p.name) if p.name else None
    return {"email": p.email.lower(), "name": name}


def participants(m: Mail) -> list[dict[str, object]]:
    out = []
    for role, people in (("from", (m.sender,)), ("to", m.to), ("cc", m.cc)):
        for p in people:
            if not is_logging(p.email):
                out.append({**person(p), "role": role})
    return out


def direction(m: Mail) -> str:
    if not is_org(m.sender.email):
        return "inbound"
    others = [p for p in (*m.to, *m.cc) if not is_logging(p.email)]
    return "internal" if all(is_org(p.email) for p in others) else "outbound"


PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|fwd?|fw|wg|tr|rv|odp|pd|réf\.?)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)",
    re.IGNORECASE,
)


# A tag a mail system puts in front of the subject of mail from outside.
EXTERNAL_TAG = re.compile(r"^\s*\[(?:external|ext|extern|externe|externo|zewnętrzny)\]\s*", re.I)


def normalize_subject(subject: str) -> str:
    s = subject.strip()
    while True:
        m = re.match(r"^\[(?:fwd?|fw)\s*:\s*(.*)\]$", s, re.IGNORECASE)
        if m:
            s = m.group(1).strip()
            continue
        new = EXTERNAL_TAG.sub("", s, count=1)
        new = PREFIX.sub("", new, count=1)
        if new == s:
            break
        s = new.strip()
    return re.sub(r"\s+", " ", s)


def iso(d: datetime | None) -> str | None:
    return None if d is None else d.astimezone(UTC).isoformat()


@dataclass
class Case:
    """One corpus message: its description, how it travels, and the flags it should raise."""

    name: str
    lang: str  # language of the original message's new text
    top: Mail
    env: Envelope = field(default_factory=Envelope)
    features: tuple[str, ...] = ()  # tags for the README and the --check table
    expect_direction: str = ""  # a guard: the derived direction must be this
    tokens: dict[str, object] | None = None  # None: derived from the addresses and subject
    log_addr: str = ""  # where the org's MTA delivered the copy ("" = the logging address)
    bulk: bool = False
    auto: bool = False
    bounce: bool = False
    attached: Mail | None = None  # forwarded as message/rfc822
    attached_env: Envelope = field(default_factory=Envelope)
    raw: bytes | None = None  # hand-built message (bounces)
    patch: Callable[[bytes], bytes] | None = None  # applied to the built bytes (broken mail)
    override: dict[str, object] = field(default_factory=dict)
    original_date_known: bool = True
    note: str = ""


def innermost(case: Case) -> Mail:
    m = case.attached or case.top
    while m.forward is not None:
        m = m.forward
    return m


TOKEN_TAGS = (
    ("deal", re.compile(r"^deal-(\d+)$", re.I)),
    ("ticket", re.compile(r"^ticket-(\d+)$", re.I)),
)


def derive_tokens(case: Case) -> dict[str, object]:
    """deal / ticket / private from log+...@ addresses (headers and delivery) and subject tags."""
    out: dict[str, object] = {"deal": None, "ticket": None, "private": False}
    addresses = [case.log_addr or "log@" + LOGGING_DOMAIN]
    addresses += [p.email for p in (*case.top.to, *case.top.cc)]
    for addr in addresses:
        if not is_logging(addr):
            continue
        local = addr.lower().rsplit("@", 1)[0]
        for tag in local.split("+")[1:]:
            if tag == "private":
                out["private"] = True
            for key, rx in TOKEN_TAGS:
                m = rx.match(tag)
                if m:
                    out[key] = int(m.group(1))
    m = re.search(r"\[deal-(\d+)\]", case.top.subject, re.I)
    if m:
        out["deal"] = int(m.group(1))
    m = re.search(r"\[#T-(\d+)\]", case.top.subject, re.I)
    if m:
        out["ticket"] = int(m.group(1))
    return out


def expected(case: Case) -> dict[str, object]:
    top, orig = case.top, innermost(case)
    fwd = orig is not top
    d = direction(orig)
    if case.expect_direction and case.expect_direction != d:
        raise AssertionError(f"{case.name}: direction {d} != {case.expect_direction}")
    refs = references(top)
    tokens = case.tokens if case.tokens is not None else derive_tokens(case)
    out: dict[str, object] = {
        "message_id": top.message_id,
        "subject": top.subject,
        "date": iso(top.date),
        "from": person(top.sender),
        "direction": d,
        "forwarded": fwd,
        "forwarded_by": person(top.sender) if fwd else None,
        "original_sender": person(orig.sender),
        "original_date": iso(orig.date) if case.original_date_known else None,
        "participants": participants(orig),
        "reply_text": orig.text.strip("\n"),
        "signature": orig.sig.expect if orig.sig is not None else None,
        "thread": {
            "message_id": top.message_id,
            "in_reply_to": in_reply_to(top),
            "references": refs,
            "thread_index": thread_index(top) if top.client in OUTLOOK_CLIENTS else None,
            "normalized_subject": normalize_subject(top.subject),
        },
        "tokens": {
            "deal": tokens.get("deal"),
            "ticket": tokens.get("ticket"),
            "private": bool(tokens.get("private", False)),
        },
        "bulk": case.bulk,
        "auto_generated": case.auto,
        "bounce": case.bounce,
        "language": case.lang,
        "defects": [],
    }
    for key, value in case.override.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            out[outer][inner] = value  # type: ignore[index]
        else:
            out[key] = value
    return nfc(out)


def nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [nfc(v) for v in value]
    if isinstance(value, dict):
        return {k: nfc(v) for k, v in value.items()}
    return value


def trace(
    to: str, seed: str, d: datetime, *, return_path: str, via: str = "mx1.example.com"
) -> tuple[tuple[str, str], ...]:
    """Headers the org's MTA prepends when it hands the copy to the gateway."""
    r = rng_for("trace", seed)
    qid = "".join(r.choice("0123456789ABCDEF") for _ in range(10))
    stamp = rfc5322_date((d + timedelta(seconds=r.randint(2, 40))).astimezone(UTC))
    return (
        ("Return-Path", f"<{return_path}>"),
        ("X-Original-To", to),
        ("Delivered-To", to),
        (
            "Received",
            f"from {via} ({via} [192.0.2.{r.randint(10, 200)}]){CRLF}\tby "
            f"{LOGGING_DOMAIN} (Postfix) with ESMTPS id {qid}{CRLF}\tfor <{to}>; {stamp}",
        ),
    )


def hash_hex(seed: str, n: int = 8) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


# --------------------------------------------------------------------------------------------
# The cast: the organisation (example.com, example.pl) and the people it writes with
# --------------------------------------------------------------------------------------------

LOG = Person(None, "log@crm.example.com")

# Reps (registered users) and colleagues.
ANNA = Person("Anna Nowak", "anna.nowak@example.com")
PIOTR = Person("Piotr Zieliński", "piotr.zielinski@example.pl")
HANS = Person("Hans Weber", "hans.weber@example.com")
KASIA = Person("Katarzyna Wójcik", "katarzyna.wojcik@example.pl")
MARTA = Person("Marta Lewandowska", "marta.lewandowska@example.com")
TOMASZ = Person("Tomasz Mazur", "tomasz.mazur@sales.example.com")  # a subdomain: still "us"
CLAIRE = Person("Claire Martin", "claire.martin@example.com")
JAVIER = Person("Javier Ruiz", "javier.ruiz@example.com")

# Customers and suppliers.
JAN = Person("Jan Kowalski", "jan.kowalski@acme.pl")
MALGORZATA = Person("Małgorzata Wiśniewska", "m.wisniewska@stalmet.pl")
KRZYSZTOF = Person("Krzysztof Dąbrowski", "krzysztof.dabrowski@gmail.com")
EWA = Person("Ewa Szymańska", "ewa.szymanska@wp.pl")
ZBIGNIEW = Person("Zbigniew Wróbel", "z.wrobel@drewbud.com.pl")
BOK = Person("Biuro Obsługi Klienta", "bok@energopol.pl")
KLAUS = Person("Klaus Becker", "k.becker@globex.de")
SABINE = Person("Sabine Müller", "sabine.mueller@nordlicht-logistik.de")
JUERGEN = Person("Jürgen Schäfer", "j.schaefer@alpen-maschinenbau.at")
MARIE = Person("Marie Dubois", "marie.dubois@initech.fr")
FRANCOIS = Person("François Lefèvre", "francois.lefevre@lumiere-conseil.fr")
CARLOS = Person("Carlos García", "carlos.garcia@umbrella.es")
LUCIA = Person("Lucía Fernández", "lucia.fernandez@solaris-energia.es")
JOHN = Person("John Smith", "john.smith@hooli.com")
EMILY = Person("Emily Clarke", "emily.clarke@brightwave.co.uk")


def sig(*lines: str, expect: dict[str, object] | None, **kw: Any) -> Signature:
    return Signature(tuple(lines), expect, **kw)


# Signatures: every line is exactly one of name, title, company, address, phone, e-mail, web
# site (or a fax line, which is not a phone), so the expectation is not a matter of taste.
SIG_ANNA_PL = sig(
    "Anna Nowak",
    "Specjalista ds. Sprzedaży",
    "Example Sp. z o.o.",
    "tel. +48 22 100 20 30",
    "kom. 600 100 200",
    "www.example.com",
    expect=sig_expect(
        "Anna Nowak",
        "Specjalista ds. Sprzedaży",
        "Example Sp. z o.o.",
        ("+48221002030", "+48600100200"),
        website="www.example.com",
    ),
)
SIG_ANNA_EN = sig(
    "Anna Nowak",
    "Sales Specialist",
    "Example Sp. z o.o.",
    "T: +48 22 100 20 30",
    "M: +48 600 100 200",
    expect=sig_expect(
        "Anna Nowak", "Sales Specialist", "Example Sp. z o.o.", ("+48221002030", "+48600100200")
    ),
)
SIG_PIOTR = sig(
    "Piotr Zieliński",
    "Key Account Manager",
    "Example Polska Sp. z o.o.",
    "kom. 605 400 300",
    "piotr.zielinski@example.pl",
    expect=sig_expect(
        "Piotr Zieliński",
        "Key Account Manager",
        "Example Polska Sp. z o.o.",
        ("+48605400300",),
        ("piotr.zielinski@example.pl",),
    ),
)
SIG_HANS_DE = sig(
    "Hans Weber",
    "Vertriebsleiter DACH",
    "Example GmbH",
    "Tel.: +49 30 2096 1180",
    "Mobil: +49 151 2345 6789",
    expect=sig_expect(
        "Hans Weber", "Vertriebsleiter DACH", "Example GmbH", ("+493020961180", "+4915123456789")
    ),
)
SIG_HANS_EN = sig(
    "Hans Weber",
    "Head of Sales DACH",
    "Example GmbH",
    "T: +49 30 2096 1180",
    "hans.weber@example.com",
    expect=sig_expect(
        "Hans Weber",
        "Head of Sales DACH",
        "Example GmbH",
        ("+493020961180",),
        ("hans.weber@example.com",),
    ),
)
SIG_JAN = sig(
    "Jan Kowalski",
    "Kierownik Działu Zakupów",
    "ACME Sp. z o.o.",
    "ul. Marszałkowska 84/92, 00-514 Warszawa",
    "tel. +48 22 628 14 50",
    "kom. 601 234 567",
    "www.acme.pl",
    expect=sig_expect(
        "Jan Kowalski",
        "Kierownik Działu Zakupów",
        "ACME Sp. z o.o.",
        ("+48226281450", "+48601234567"),
        website="www.acme.pl",
        address="ul. Marszałkowska 84/92, 00-514 Warszawa",
    ),
)
SIG_MALGORZATA = sig(
    "Małgorzata Wiśniewska | Dyrektor Handlowy",
    "Stalmet S.A.",
    "T: +48 32 256 11 00",
    "M: +48 502 345 678",
    "m.wisniewska@stalmet.pl",
    expect=sig_expect(
        "Małgorzata Wiśniewska",
        "Dyrektor Handlowy",
        "Stalmet S.A.",
        ("+48322561100", "+48502345678"),
        ("m.wisniewska@stalmet.pl",),
    ),
)
SIG_KRZYSZTOF = sig(
    "Krzysztof Dąbrowski",
    "tel. 512 345 678",
    dashes=True,
    expect=sig_expect("Krzysztof Dąbrowski", phones=("+48512345678",)),
)
SIG_ZBIGNIEW = sig(
    "Zbigniew Wróbel",
    "Prezes Zarządu",
    "Drewbud Sp. z o.o.",
    "ul. Przemysłowa 7, 62-023 Gądki",
    "tel. 61 852 44 10, fax 61 852 44 11",
    "kom. +48 698 765 432",
    expect=sig_expect(
        "Zbigniew Wróbel",
        "Prezes Zarządu",
        "Drewbud Sp. z o.o.",
        ("+48618524410", "+48698765432"),
        address="ul. Przemysłowa 7, 62-023 Gądki",
    ),
)
SIG_BOK = sig(  # a team mailbox: no person, so no signature
    "Biuro Obsługi Klienta",
    "Energopol Sp. z o.o.",
    "tel. 58 555 12 34",
    "bok@energopol.pl",
    expect=None,
)
SIG_KLAUS = sig(
    "Klaus Becker",
    "Leiter Einkauf",
    "Globex GmbH",
    "Industriestraße 12, 80939 München",
    "Tel.: +49 89 2190 4471",
    "Fax: +49 89 2190 4499",
    "Mobil: +49 171 2345678",
    "www.globex.de",
    expect=sig_expect(
        "Klaus Becker",
        "Leiter Einkauf",
        "Globex GmbH",
        ("+498921904471", "+491712345678"),
        website="www.globex.de",
        address="Industriestraße 12, 80939 München",
    ),
)
SIG_SABINE = sig(
    "Sabine Müller",
    "Teamleiterin Disposition",
    "Nordlicht Logistik GmbH",
    "Tel. +49 (0)40 3070 8800",
    "sabine.mueller@nordlicht-logistik.de",
    expect=sig_expect(
        "Sabine Müller",
        "Teamleiterin Disposition",
        "Nordlicht Logistik GmbH",
        ("+494030708800",),
        ("sabine.mueller@nordlicht-logistik.de",),
    ),
)
SIG_JUERGEN = sig(
    "Jürgen Schäfer",
    "Leiter Technischer Einkauf",
    "Alpen Maschinenbau GmbH",
    "Tel.: +43 1 5123456",
    dashes=True,
    expect=sig_expect(
        "Jürgen Schäfer", "Leiter Technischer Einkauf", "Alpen Maschinenbau GmbH", ("+4315123456",)
    ),
)
SIG_MARIE = sig(
    "Marie Dubois",
    "Directrice des achats",
    "Initech SAS",
    "12 rue de la Paix, 75002 Paris",
    "Tél. : +33 1 42 68 53 00",
    "Mobile : +33 6 12 34 56 78",
    expect=sig_expect(
        "Marie Dubois",
        "Directrice des achats",
        "Initech SAS",
        ("+33142685300", "+33612345678"),
        address="12 rue de la Paix, 75002 Paris",
    ),
)
SIG_FRANCOIS = sig(
    "François Lefèvre",
    "Responsable logistique",
    "Lumière Conseil SARL",
    "Tél. +33 4 72 10 30 30",
    "www.lumiere-conseil.fr",
    expect=sig_expect(
        "François Lefèvre",
        "Responsable logistique",
        "Lumière Conseil SARL",
        ("+33472103030",),
        website="www.lumiere-conseil.fr",
    ),
)
SIG_CARLOS = sig(
    "Carlos García",
    "Director de Compras",
    "Umbrella Consulting S.L.",
    "Calle de Alcalá 45, 28014 Madrid",
    "Tel.: +34 91 123 45 67",
    "Móvil: +34 612 345 678",
    expect=sig_expect(
        "Carlos García",
        "Director de Compras",
        "Umbrella Consulting S.L.",
        ("+34911234567", "+34612345678"),
        address="Calle de Alcalá 45, 28014 Madrid",
    ),
)
SIG_LUCIA = sig(
    "Lucía Fernández | Responsable de Proyectos",
    "Solaris Energía S.A.",
    "Móvil: +34 699 123 456",
    "www.solaris-energia.es",
    expect=sig_expect(
        "Lucía Fernández",
        "Responsable de Proyectos",
        "Solaris Energía S.A.",
        ("+34699123456",),
        website="www.solaris-energia.es",
    ),
)
SIG_JOHN = sig(
    "John Smith",
    "Head of Procurement",
    "Hooli Inc.",
    "T: +1 650 555 0142",
    "mobile: +1 415 555 0123",
    expect=sig_expect(
        "John Smith", "Head of Procurement", "Hooli Inc.", ("+14155550123", "+16505550142")
    ),
)
SIG_EMILY = sig(
    "Emily Clarke",
    "Operations Director",
    "Brightwave Ltd",
    "T: +44 20 7946 0958",
    "www.brightwave.co.uk",
    expect=sig_expect(
        "Emily Clarke",
        "Operations Director",
        "Brightwave Ltd",
        ("+442079460958",),
        website="www.brightwave.co.uk",
    ),
)
SIG_CLAIRE = sig(
    "Claire Martin",
    "Responsable grands comptes",
    "Example SAS",
    "Tél. : +33 1 84 88 20 00",
    expect=sig_expect(
        "Claire Martin", "Responsable grands comptes", "Example SAS", ("+33184882000",)
    ),
)
SIG_JAVIER = sig(
    "Javier Ruiz",
    "Ejecutivo de Cuentas",
    "Example Iberia S.L.",
    "Móvil: +34 655 443 322",
    expect=sig_expect(
        "Javier Ruiz", "Ejecutivo de Cuentas", "Example Iberia S.L.", ("+34655443322",)
    ),
)


def iphone_sig(lang: str) -> Signature:
    """The mobile client's line: not a personal signature."""
    line = {
        "en": "Sent from my iPhone",
        "pl": "Wysłane z iPhone'a",
        "de": "Von meinem iPhone gesendet",
        "fr": "Envoyé de mon iPhone",
        "es": "Enviado desde mi iPhone",
    }[lang]
    return sig(line, expect=None)


OUTLOOK_MOBILE_SIG = sig("Get Outlook for iOS", expect=None)

# Disclaimers and legal footers (below the signature; neither text nor signature).
RODO_ACME = (
    "Administratorem Pani/Pana danych osobowych jest ACME Sp. z o.o. z siedzibą w Warszawie. "
    "Dane są przetwarzane w celu prowadzenia korespondencji handlowej, na podstawie art. 6 "
    "ust. 1 lit. f RODO. Przysługuje Pani/Panu prawo dostępu do danych, ich sprostowania, "
    "usunięcia lub ograniczenia przetwarzania oraz prawo wniesienia skargi do Prezesa UODO."
    "\n\n"
    "Treść tej wiadomości jest poufna i prawnie chroniona. Jeżeli nie jest Pani/Pan jej "
    "adresatem, prosimy o powiadomienie nadawcy i usunięcie wiadomości."
)
KRS_STALMET = (
    "Stalmet S.A. z siedzibą w Katowicach, wpisana do rejestru przedsiębiorców Krajowego "
    "Rejestru Sądowego prowadzonego przez Sąd Rejonowy Katowice-Wschód w Katowicach, VIII "
    "Wydział Gospodarczy KRS, pod numerem KRS 0000123456, NIP 634-012-34-56, REGON 271234567, "
    "kapitał zakładowy 2 500 000 zł, wpłacony w całości."
)
KRS_DREWBUD = (
    "Drewbud Sp. z o.o., Sąd Rejonowy Poznań – Nowe Miasto i Wilda w Poznaniu, IX Wydział "
    "Gospodarczy KRS, KRS 0000654321, NIP 777-32-10-456, kapitał zakładowy 50 000 zł."
)
DISCLAIMER_EN = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended "
    "solely for the addressee. If you have received this e-mail in error, please notify the "
    "sender immediately and delete it. Any unauthorised use, disclosure or copying is "
    "prohibited."
)
DISCLAIMER_DE = (
    "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie "
    "nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren "
    "Sie bitte sofort den Absender und vernichten Sie diese Mail. Das unerlaubte Kopieren sowie "
    "die unbefugte Weitergabe dieser Mail sind nicht gestattet."
    "\n\n"
    "Globex GmbH · Sitz der Gesellschaft: München · Registergericht: Amtsgericht München, "
    "HRB 123456"
)
DISCLAIMER_FR = (
    "Ce message et ses pièces jointes sont confidentiels et destinés exclusivement à leurs "
    "destinataires. Si vous avez reçu ce message par erreur, merci d'en avertir immédiatement "
    "l'expéditeur et de le supprimer. Toute utilisation ou diffusion non autorisée est "
    "interdite."
)
DISCLAIMER_ES = (
    "AVISO LEGAL: Este mensaje y sus archivos adjuntos van dirigidos exclusivamente a su "
    "destinatario y pueden contener información confidencial. Si no es usted el destinatario "
    "indicado, le rogamos que lo comunique al remitente y proceda a su eliminación. En "
    "cumplimiento del Reglamento General de Protección de Datos, le informamos de que sus datos "
    "serán tratados con la finalidad de gestionar la relación comercial."
)


# --------------------------------------------------------------------------------------------
# The cases. Each batch returns its cases; names are "<group>-<client>-<lang>-<what>".
# --------------------------------------------------------------------------------------------


def batch_forwards_outlook() -> list[Case]:
    """Forwards from Gmail, Outlook desktop, Outlook on the web and Outlook in plain text."""
    cases: list[Case] = []

    # Gmail (EN) forwards an inquiry a US customer sent from Outlook at 09:42 -05:00; the
    # forwarded header block shows the forwarder's time (3:42 PM, +01:00) without a zone.
    orig = Mail(
        "outlook",
        "en",
        JOHN,
        (ANNA,),
        when(2, 9, 42, tz=-5),
        "Quote request: 40 licences for Q1",
        para("""
            Hi Anna,

            we are planning to roll out the platform to our EMEA sales team in January.
            Could you send us a quote for 40 user licences, including onboarding and the
            premium support package?

            We would need the quote by Friday, as our budget meeting is on Monday.
        """),
        closing="Best regards,",
        sig=SIG_JOHN,
        disclaimer=DISCLAIMER_EN,
    )
    top = Mail(
        "gmail",
        "en",
        ANNA,
        (LOG,),
        when(3, 8, 15),
        "Fwd: Quote request: 40 licences for Q1",
        "Logging this for the Hooli account.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-en-inbound-us-timezone",
            "en",
            top,
            expect_direction="inbound",
            features=("gmail-forward", "timezone-conversion", "disclaimer"),
        )
    )

    # Gmail in Polish: "Wiadomość przekazana dalej", the original from Outlook with a Cc,
    # a RODO clause under the signature.
    orig = Mail(
        "outlook",
        "pl",
        JAN,
        (PIOTR,),
        when(3, 10, 5),
        "Zapytanie o dostawę regałów magazynowych",
        para("""
            Dzień dobry,

            zwracam się z prośbą o przygotowanie oferty na dostawę i montaż 120 regałów
            paletowych do naszego magazynu w Pruszkowie.
            Termin realizacji: do końca lutego 2027 r.

            Proszę również o informację, czy w cenie jest uwzględniony transport.
        """),
        cc=(KASIA,),
        closing="Pozdrawiam",
        sig=SIG_JAN,
        disclaimer=RODO_ACME,
    )
    top = Mail(
        "gmail",
        "pl",
        PIOTR,
        (LOG,),
        when(3, 11, 20),
        "Fwd: Zapytanie o dostawę regałów magazynowych",
        "Do CRM – nowe zapytanie od ACME.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-pl-przekazana-dalej",
            "pl",
            top,
            expect_direction="inbound",
            features=("gmail-forward", "rodo"),
        )
    )

    # A rep forwards her own sent offer (she forgot to BCC the CRM): outbound, empty note.
    orig = Mail(
        "gmail",
        "pl",
        ANNA,
        (MALGORZATA,),
        when(4, 14, 30),
        "Oferta na szkolenia BHP dla Stalmet S.A.",
        para("""
            Dzień dobry Pani Małgorzato,

            w nawiązaniu do wczorajszej rozmowy przesyłam ofertę na szkolenia okresowe BHP
            dla 85 pracowników zakładu w Katowicach. Szkolenia możemy przeprowadzić w dwóch
            turach, w dniach 7 i 14 grudnia.

            Cena obejmuje materiały szkoleniowe oraz zaświadczenia dla uczestników.
        """),
        cc=(MARTA,),
        closing="Z poważaniem",
        sig=SIG_ANNA_PL,
    )
    top = Mail(
        "gmail",
        "pl",
        ANNA,
        (LOG,),
        when(4, 16, 2),
        "Fwd: Oferta na szkolenia BHP dla Stalmet S.A.",
        "",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-pl-own-sent-offer",
            "pl",
            top,
            expect_direction="outbound",
            env=Envelope(
                attachments=(("application/pdf", "Oferta_BHP_Stalmet.pdf", fake_pdf("Oferta BHP")),)
            ),
            features=("gmail-forward", "empty-note"),
        )
    )

    # Outlook desktop (EN) forwards a customer's reply that quotes the rep's earlier mail:
    # only the customer's new text is the reply text.
    earlier = Mail(
        "outlook",
        "en-GB",
        HANS,
        (EMILY,),
        when(5, 9, 10),
        "Warehouse scanners – revised delivery schedule",
        para("""
            Dear Emily,

            as discussed, we can deliver the first 60 scanners on 20 November and the
            remaining 40 in the first week of December. Please confirm that this works for
            your team.
        """),
        closing="Kind regards,",
        sig=SIG_HANS_EN,
    )
    reply = Mail(
        "outlook",
        "en-GB",
        EMILY,
        (HANS,),
        when(5, 13, 48),
        "RE: Warehouse scanners – revised delivery schedule",
        para("""
            Hi Hans,

            thank you, the split delivery works for us. Could you make sure the second
            batch comes with the charging cradles already configured? Our IT team will not
            be on site that week.
        """),
        cc=(MARTA,),
        closing="Many thanks,",
        sig=SIG_EMILY,
        quoted=earlier,
    )
    top = Mail(
        "outlook",
        "en-GB",
        HANS,
        (LOG,),
        when(5, 14, 2),
        "FW: RE: Warehouse scanners – revised delivery schedule",
        "For the record.",
        forward=reply,
    )
    cases.append(
        Case(
            "fwd-outlook-en-customer-reply",
            "en",
            top,
            expect_direction="inbound",
            features=("outlook-forward", "reply-inside-forward"),
        )
    )

    # Outlook desktop in Polish: "PD:", labels Od/Wysłano/Do/Temat; "Name | Title" signature
    # and a KRS/NIP footer.
    orig = Mail(
        "outlook",
        "pl",
        MALGORZATA,
        (PIOTR,),
        when(6, 8, 55),
        "Reklamacja dostawy nr 2026/11/0457",
        para("""
            Dzień dobry,

            w dostawie z dnia 4 listopada brakowało 12 kartonów profili aluminiowych, a trzy
            palety zostały uszkodzone w transporcie. W załączeniu przesyłam protokół
            szkody.

            Proszę o pilne uzupełnienie brakującego towaru.
        """),
        closing="Pozdrawiam serdecznie",
        sig=SIG_MALGORZATA,
        disclaimer=KRS_STALMET,
    )
    top = Mail(
        "outlook",
        "pl",
        PIOTR,
        (LOG,),
        when(6, 9, 12),
        "PD: Reklamacja dostawy nr 2026/11/0457",
        "Reklamacja – proszę o założenie zgłoszenia.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-pl-pd-krs-footer",
            "pl",
            top,
            expect_direction="inbound",
            features=("outlook-forward", "krs-footer", "name-pipe-title"),
        )
    )

    # Outlook desktop in German: "WG:", Von/Gesendet/An/Cc/Betreff; the original's signature
    # is a table, with a fax number that is not a phone.
    orig = Mail(
        "outlook",
        "de",
        KLAUS,
        (HANS,),
        when(9, 10, 30),
        "Anfrage Ersatzteile für Verpackungsanlage",
        para("""
            Sehr geehrter Herr Weber,

            für unsere Verpackungsanlage VX-400 benötigen wir kurzfristig zwei
            Antriebsriemen und einen Satz Dichtungen. Können Sie uns die Teile bis Ende
            nächster Woche liefern?

            Bitte senden Sie uns ein Angebot inklusive Versandkosten.
        """),
        cc=(SABINE,),
        closing="Mit freundlichen Grüßen",
        sig=Signature(SIG_KLAUS.lines, SIG_KLAUS.expect, table=True, gap=True),
        disclaimer=DISCLAIMER_DE,
    )
    top = Mail(
        "outlook",
        "de",
        HANS,
        (LOG,),
        when(9, 10, 41),
        "WG: Anfrage Ersatzteile für Verpackungsanlage",
        "Zur Ablage im CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-de-wg-table-signature",
            "de",
            top,
            expect_direction="inbound",
            features=("outlook-forward", "signature-table", "fax", "disclaimer"),
        )
    )

    # Outlook desktop in French: "TR :", De / Envoyé / À / Objet (space before the colon).
    orig = Mail(
        "outlook",
        "fr",
        MARIE,
        (CLAIRE,),
        when(9, 15, 20),
        "Demande de devis – maintenance annuelle",
        para("""
            Bonjour Madame Martin,

            nous souhaiterions recevoir un devis pour la maintenance annuelle de nos
            quatorze imprimantes industrielles, pièces et main-d'œuvre comprises.

            Pourriez-vous également nous indiquer vos délais d'intervention en cas de
            panne ?
        """),
        closing="Cordialement,",
        sig=SIG_MARIE,
        disclaimer=DISCLAIMER_FR,
    )
    top = Mail(
        "outlook",
        "fr",
        CLAIRE,
        (LOG,),
        when(9, 16, 5),
        "TR : Demande de devis – maintenance annuelle",
        "Pour le CRM, merci.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-fr-tr",
            "fr",
            top,
            expect_direction="inbound",
            features=("outlook-forward", "disclaimer"),
        )
    )

    # Outlook desktop in Spanish: "RV:", De / Enviado el / Para / Asunto.
    orig = Mail(
        "outlook",
        "es",
        CARLOS,
        (JAVIER,),
        when(10, 11, 0),
        "Solicitud de presupuesto para la renovación de licencias",
        para("""
            Buenos días, Javier:

            le escribo para solicitar un presupuesto para la renovación de las 25 licencias
            que vencen en enero. También nos interesa conocer el precio de cinco licencias
            adicionales para el nuevo equipo de Valencia.

            Quedo a la espera de su respuesta.
        """),
        closing="Saludos cordiales,",
        sig=SIG_CARLOS,
        disclaimer=DISCLAIMER_ES,
    )
    top = Mail(
        "outlook",
        "es",
        JAVIER,
        (LOG,),
        when(10, 11, 34),
        "RV: Solicitud de presupuesto para la renovación de licencias",
        "Para el CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-es-rv",
            "es",
            top,
            expect_direction="inbound",
            features=("outlook-forward", "disclaimer"),
        )
    )

    # Outlook on the web in Polish: "PD:", the "____" line, "Wysłane:"; the original from
    # Gmail with a "-- " signature and no company (a free-mail customer).
    orig = Mail(
        "gmail",
        "pl",
        KRZYSZTOF,
        (PIOTR,),
        when(10, 19, 47),
        "Pytanie o montaż pompy ciepła",
        para("""
            Dzień dobry,

            jestem zainteresowany montażem pompy ciepła w domu jednorodzinnym o powierzchni
            160 m². Czy mogliby Państwo przyjechać na oględziny w przyszłym tygodniu?

            Najlepiej pasowałby mi czwartek lub piątek po godzinie 15.
        """),
        closing="Pozdrawiam",
        sig=SIG_KRZYSZTOF,
    )
    top = Mail(
        "owa",
        "pl",
        PIOTR,
        (LOG,),
        when(11, 8, 3),
        "PD: Pytanie o montaż pompy ciepła",
        "Nowy klient indywidualny.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-owa-pl-pd-gmail-original",
            "pl",
            top,
            expect_direction="inbound",
            features=("owa-forward", "signature-dashes", "free-mail"),
        )
    )

    # Outlook on the web in German.
    orig = Mail(
        "gmail",
        "de",
        SABINE,
        (HANS,),
        when(11, 7, 58),
        "Rahmenvertrag Transporte 2027",
        para("""
            Guten Morgen Herr Weber,

            anbei wie besprochen unser Entwurf für den Rahmenvertrag 2027. Die Preise für
            die Touren nach Polen haben wir an die neuen Mautsätze angepasst.

            Über eine Rückmeldung bis zum 20. November würden wir uns freuen.
        """),
        closing="Viele Grüße",
        sig=SIG_SABINE,
    )
    top = Mail(
        "owa",
        "de",
        HANS,
        (LOG,),
        when(11, 9, 15),
        "WG: Rahmenvertrag Transporte 2027",
        "Bitte im CRM ablegen.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-owa-de-wg",
            "de",
            top,
            expect_direction="inbound",
            env=Envelope(
                attachments=(
                    (
                        "application/pdf",
                        "Rahmenvertrag_2027_Entwurf.pdf",
                        fake_pdf("Rahmenvertrag"),
                    ),
                )
            ),
            features=("owa-forward",),
        )
    )

    # Outlook on the web in French; the original from Apple Mail.
    orig = Mail(
        "apple",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(12, 14, 12),
        "Livraison des palettes – créneau de jeudi",
        para("""
            Bonjour Claire,

            notre entrepôt de Lyon ne pourra pas recevoir la livraison jeudi matin. Serait-il
            possible de la décaler à jeudi après-midi, entre 14 h et 17 h ?

            Merci d'avance pour votre aide.
        """),
        closing="Bien à vous,",
        sig=SIG_FRANCOIS,
    )
    top = Mail(
        "owa",
        "fr",
        CLAIRE,
        (LOG,),
        when(12, 14, 40),
        "TR: Livraison des palettes – créneau de jeudi",
        "",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-owa-fr-tr-apple-original",
            "fr",
            top,
            expect_direction="inbound",
            features=("owa-forward", "empty-note"),
        )
    )

    # Outlook on the web in Spanish; the original from Gmail, "Name | Title" signature.
    orig = Mail(
        "gmail",
        "es",
        LUCIA,
        (JAVIER,),
        when(12, 10, 25),
        "Instalación de paneles en la planta de Toledo",
        para("""
            Hola, Javier:

            le confirmo que la instalación de los paneles en la planta de Toledo empezará el
            lunes 23 de noviembre. Necesitaríamos que su técnico esté disponible durante la
            primera semana para la puesta en marcha.

            ¿Podría confirmarme su disponibilidad?
        """),
        closing="Un saludo,",
        sig=SIG_LUCIA,
    )
    top = Mail(
        "owa",
        "es",
        JAVIER,
        (LOG,),
        when(12, 11, 2),
        "RV: Instalación de paneles en la planta de Toledo",
        "Reenvío para el CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-owa-es-rv",
            "es",
            top,
            expect_direction="inbound",
            features=("owa-forward", "name-pipe-title"),
        )
    )

    # Outlook on the web in English; the subject carries the "[EXTERNAL]" tag the org's mail
    # filter put in front of it.
    orig = Mail(
        "gmail",
        "en",
        EMILY,
        (ANNA,),
        when(13, 9, 5),
        "[EXTERNAL] Pallet labels – sample files",
        para("""
            Hi Anna,

            please find attached the sample label files from our warehouse system. The
            barcodes are GS1-128 and the labels are printed at 300 dpi.

            Let me know if your team needs them in a different format.
        """),
        closing="Best wishes,",
        sig=SIG_EMILY,
    )
    top = Mail(
        "owa",
        "en",
        ANNA,
        (LOG,),
        when(13, 9, 30),
        "FW: [EXTERNAL] Pallet labels – sample files",
        "Adding to the Brightwave thread.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-owa-en-external-tag",
            "en",
            top,
            expect_direction="inbound",
            features=("owa-forward", "external-tag"),
        )
    )

    # Outlook in plain-text mode, old style: "-----Original Message-----" and
    # "From: Name [mailto:address]".
    orig = Mail(
        "gmail",
        "en",
        JOHN,
        (HANS,),
        when(13, 16, 20),
        "Training dates for the admin course",
        para("""
            Hello Hans,

            our administrators would like to attend the two-day admin course before the
            go-live. Would the 1st and 2nd of December work for your trainer?

            We can host the training at our Dublin office.
        """),
        closing="Regards,",
        sig=SIG_JOHN,
    )
    top = Mail(
        "outlook-plain",
        "en",
        HANS,
        (LOG,),
        when(13, 17, 2),
        "FW: Training dates for the admin course",
        "FYI - please log.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-plain-en-original-message-mailto",
            "en",
            top,
            env=Envelope(mailto=True),
            expect_direction="inbound",
            features=("original-message-separator", "mailto"),
        )
    )

    # Outlook in plain-text mode, German: "-----Ursprüngliche Nachricht-----"; the original is
    # a Thunderbird plain-text mail from Austria with a "-- " signature.
    orig = Mail(
        "thunderbird",
        "de",
        JUERGEN,
        (HANS,),
        when(16, 8, 40),
        "Lieferverzug Hydraulikzylinder",
        para("""
            Grüß Gott Herr Weber,

            leider verzögert sich die Lieferung der Hydraulikzylinder um etwa zwei Wochen,
            weil unser Zulieferer die Dichtungen nicht rechtzeitig bereitstellen kann.

            Wir melden uns, sobald wir einen verbindlichen Termin haben.
        """),
        closing="Mit besten Grüßen",
        sig=SIG_JUERGEN,
    )
    top = Mail(
        "outlook-plain",
        "de",
        HANS,
        (LOG,),
        when(16, 9, 5),
        "WG: Lieferverzug Hydraulikzylinder",
        "Zur Info.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-plain-de-urspruengliche-nachricht",
            "de",
            top,
            expect_direction="inbound",
            features=("original-message-separator", "signature-dashes"),
        )
    )
    return cases


def batch_forwards_other() -> list[Case]:
    """Apple Mail, iPhone, Thunderbird, Gmail in other languages, attached and nested forwards."""
    cases: list[Case] = []

    # Apple Mail (EN): "Begin forwarded message:", header block From/Subject/Date/To with a
    # time zone name; the original from Outlook (en-GB dates).
    orig = Mail(
        "outlook",
        "en-GB",
        EMILY,
        (ANNA,),
        when(16, 10, 20),
        "Onboarding plan for the Leeds depot",
        para("""
            Dear Anna,

            attached is our proposed onboarding plan for the Leeds depot. We would like to
            start with the goods-in team on 30 November and add the dispatch team a week
            later.

            Could you check whether your trainers are available on those dates?
        """),
        closing="Kind regards,",
        sig=SIG_EMILY,
        disclaimer=DISCLAIMER_EN,
    )
    top = Mail(
        "apple",
        "en",
        ANNA,
        (LOG,),
        when(16, 11, 5),
        "Fwd: Onboarding plan for the Leeds depot",
        "For the CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-apple-en-begin-forwarded-message",
            "en",
            top,
            expect_direction="inbound",
            features=("apple-forward", "disclaimer"),
        )
    )

    # Apple Mail in German: "Anfang der weitergeleiteten Nachricht:", Von/Betreff/Datum/An/Kopie.
    orig = Mail(
        "outlook",
        "de",
        KLAUS,
        (HANS,),
        when(16, 13, 10),
        "Wartungsvertrag Kompressoren",
        para("""
            Hallo Herr Weber,

            wir möchten den Wartungsvertrag für unsere drei Kompressoren um ein weiteres Jahr
            verlängern. Bitte schicken Sie uns die aktualisierten Konditionen für 2027.

            Die Wartungstermine sollten wie bisher im März und im September liegen.
        """),
        cc=(SABINE,),
        closing="Freundliche Grüße",
        sig=SIG_KLAUS,
        disclaimer=DISCLAIMER_DE,
    )
    top = Mail(
        "apple",
        "de",
        HANS,
        (LOG,),
        when(16, 13, 52),
        "Fwd: Wartungsvertrag Kompressoren",
        "Bitte ablegen.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-apple-de-anfang-der-weitergeleiteten-nachricht",
            "de",
            top,
            expect_direction="inbound",
            features=("apple-forward", "fax", "disclaimer"),
        )
    )

    # Apple Mail in French: "Début du message réexpédié :".
    orig = Mail(
        "gmail",
        "fr",
        MARIE,
        (CLAIRE,),
        when(17, 9, 0),
        "Commande n° 4471 – confirmation des quantités",
        para("""
            Bonjour Claire,

            je vous confirme la commande n° 4471 : 200 cartons de référence A-310 et 50
            cartons de référence B-120. La livraison doit se faire sur notre site de Nanterre.

            Merci de nous envoyer l'accusé de réception de commande.
        """),
        closing="Cordialement,",
        sig=SIG_MARIE,
    )
    top = Mail(
        "apple",
        "fr",
        CLAIRE,
        (LOG,),
        when(17, 9, 25),
        "Fwd: Commande n° 4471 – confirmation des quantités",
        "À enregistrer dans le CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-apple-fr-debut-du-message-reexpedie",
            "fr",
            top,
            expect_direction="inbound",
            features=("apple-forward",),
        )
    )

    # Apple Mail in Spanish: "Inicio del mensaje reenviado:"; the original from Thunderbird.
    orig = Mail(
        "thunderbird",
        "es",
        CARLOS,
        (JAVIER,),
        when(17, 12, 15),
        "Cambio de dirección de facturación",
        para("""
            Hola, Javier:

            a partir del 1 de diciembre nuestra dirección de facturación será Calle de
            Serrano 120, 28006 Madrid. Le ruego que actualice sus datos antes de emitir la
            próxima factura.

            Muchas gracias por su ayuda.
        """),
        closing="Atentamente,",
        sig=SIG_CARLOS,
    )
    top = Mail(
        "apple",
        "es",
        JAVIER,
        (LOG,),
        when(17, 12, 40),
        "Fwd: Cambio de dirección de facturación",
        "Para el CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-apple-es-inicio-del-mensaje-reenviado",
            "es",
            top,
            expect_direction="inbound",
            features=("apple-forward",),
        )
    )

    # Apple Mail in Polish: "Początek przekazywanej wiadomości:"; fax on the same line as the
    # phone, and a KRS/NIP footer.
    orig = Mail(
        "outlook",
        "pl",
        ZBIGNIEW,
        (ANNA,),
        when(17, 15, 30),
        "Zamówienie palet EUR – grudzień",
        para("""
            Dzień dobry Pani Anno,

            zamawiamy 600 palet EUR z dostawą do 10 grudnia na nasz magazyn w Gądkach.
            Proszę o potwierdzenie terminu oraz przesłanie faktury proforma.

            Płatność jak dotychczas, przelewem 14 dni.
        """),
        closing="Z poważaniem",
        sig=SIG_ZBIGNIEW,
        disclaimer=KRS_DREWBUD,
    )
    top = Mail(
        "apple",
        "pl",
        ANNA,
        (LOG,),
        when(17, 16, 0),
        "Fwd: Zamówienie palet EUR – grudzień",
        "Do zapisania w CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-apple-pl-poczatek-przekazywanej-wiadomosci",
            "pl",
            top,
            expect_direction="inbound",
            features=("apple-forward", "fax", "krs-footer"),
        )
    )

    # iPhone (EN): the forwarded message is quoted with "> "; no note, "Sent from my iPhone".
    orig = Mail(
        "gmail",
        "en",
        JOHN,
        (ANNA,),
        when(18, 7, 45),
        "Contract signed",
        para("""
            Hi Anna,

            good news: the contract is signed and our legal team has sent the scanned copy
            to your office. We can schedule the kick-off meeting for next Tuesday.

            Please send me an invitation with the agenda.
        """),
        closing="Cheers,",
        sig=SIG_JOHN,
    )
    top = Mail(
        "iphone",
        "en",
        ANNA,
        (LOG,),
        when(18, 8, 2),
        "Fwd: Contract signed",
        "",
        sig=iphone_sig("en"),
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-iphone-en-quoted-forward",
            "en",
            top,
            expect_direction="inbound",
            features=("iphone-forward", "empty-note"),
        )
    )

    # iPhone in Polish.
    orig = Mail(
        "outlook",
        "pl",
        JAN,
        (PIOTR,),
        when(18, 17, 10),
        "Akceptacja oferty nr 118/2026",
        para("""
            Dzień dobry,

            akceptujemy ofertę nr 118/2026 w wariancie z montażem. Prosimy o przesłanie
            umowy do podpisu oraz harmonogramu prac.

            Osobą do kontaktu w sprawach technicznych będzie pan Adam Nowicki.
        """),
        closing="Pozdrawiam",
        sig=SIG_JAN,
        disclaimer=RODO_ACME,
    )
    top = Mail(
        "iphone",
        "pl",
        PIOTR,
        (LOG,),
        when(18, 17, 31),
        "Fwd: Akceptacja oferty nr 118/2026",
        "Wygrana!",
        sig=iphone_sig("pl"),
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-iphone-pl-quoted-forward",
            "pl",
            top,
            expect_direction="inbound",
            features=("iphone-forward", "rodo"),
        )
    )

    # Thunderbird (EN UI): "-------- Forwarded Message --------" with Subject first and the
    # original's own RFC 5322 date (-0500, so readable without guessing).
    orig = Mail(
        "outlook",
        "en",
        JOHN,
        (HANS,),
        when(19, 11, 5, tz=-5),
        "Invoice 2026-1187 – payment schedule",
        para("""
            Hello Hans,

            our finance team asks whether invoice 2026-1187 could be paid in two
            instalments, the first on 30 November and the second on 31 December.

            Please let me know if that is acceptable.
        """),
        closing="Best regards,",
        sig=SIG_JOHN,
    )
    top = Mail(
        "thunderbird",
        "en",
        HANS,
        (LOG,),
        when(19, 17, 40),
        "Fwd: Invoice 2026-1187 – payment schedule",
        "Logging the payment request.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-thunderbird-en-subject-first",
            "en",
            top,
            expect_direction="inbound",
            features=("thunderbird-forward", "timezone-explicit"),
        )
    )

    # Thunderbird forwarding a Polish webmail message; the sender signs with her name only.
    orig = Mail(
        "wp",
        "pl",
        EWA,
        (KASIA,),
        when(19, 20, 15),
        "Pytanie o fakturę za październik",
        para("""
            Dzień dobry,

            nie otrzymałam jeszcze faktury za październik, a chciałabym ją rozliczyć przed
            końcem miesiąca. Czy mogłaby Pani przesłać ją ponownie na ten adres?
        """),
        closing="Pozdrawiam serdecznie",
        sig=sig("Ewa Szymańska", expect=sig_expect("Ewa Szymańska")),
    )
    top = Mail(
        "thunderbird",
        "pl",
        KASIA,
        (LOG,),
        when(20, 8, 5),
        "Fwd: Pytanie o fakturę za październik",
        "Do CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-thunderbird-pl-webmail-original",
            "pl",
            top,
            expect_direction="inbound",
            features=("thunderbird-forward", "free-mail", "signature-name-only"),
        )
    )

    # Gmail in German, French and Spanish: the English separator with a localised From label.
    orig = Mail(
        "outlook",
        "de",
        KLAUS,
        (HANS,),
        when(20, 10, 0),
        "Muster für die Messe in Hannover",
        para("""
            Hallo Herr Weber,

            für unseren Messestand in Hannover bräuchten wir bis zum 4. Dezember je zwei
            Muster der neuen Sensorgeneration. Ist das zeitlich machbar?

            Die Lieferadresse schicke ich Ihnen separat.
        """),
        closing="Beste Grüße",
        sig=SIG_KLAUS,
    )
    top = Mail(
        "gmail",
        "de",
        HANS,
        (LOG,),
        when(20, 10, 30),
        "Fwd: Muster für die Messe in Hannover",
        "Zur Ablage.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-de-forwarded-message",
            "de",
            top,
            expect_direction="inbound",
            features=("gmail-forward", "fax"),
        )
    )

    orig = Mail(
        "outlook",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(20, 14, 45),
        "Réclamation – colis endommagé",
        para("""
            Bonjour Madame Martin,

            le colis livré ce matin est arrivé endommagé : deux des six écrans sont fissurés.
            Vous trouverez les photos en pièce jointe.

            Pouvez-vous organiser un remplacement rapide ?
        """),
        closing="Meilleures salutations,",
        sig=SIG_FRANCOIS,
    )
    top = Mail(
        "gmail",
        "fr",
        CLAIRE,
        (LOG,),
        when(20, 15, 3),
        "Fwd: Réclamation – colis endommagé",
        "Réclamation client, pour le CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-fr-forwarded-message",
            "fr",
            top,
            expect_direction="inbound",
            features=("gmail-forward",),
        )
    )

    orig = Mail(
        "outlook",
        "es",
        LUCIA,
        (JAVIER,),
        when(23, 9, 20),
        "Visita técnica a la planta de Sevilla",
        para("""
            Buenos días, Javier:

            nos gustaría organizar una visita técnica a la planta de Sevilla la semana del
            30 de noviembre. ¿Podría indicarnos qué días tiene disponibles su equipo?

            Necesitaremos también los datos de las personas que asistirán.
        """),
        closing="Saludos,",
        sig=SIG_LUCIA,
        disclaimer=DISCLAIMER_ES,
    )
    top = Mail(
        "gmail",
        "es",
        JAVIER,
        (LOG,),
        when(23, 9, 48),
        "Fwd: Visita técnica a la planta de Sevilla",
        "Para el CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-es-forwarded-message",
            "es",
            top,
            expect_direction="inbound",
            features=("gmail-forward", "name-pipe-title", "disclaimer"),
        )
    )

    # Forwarded as an attachment (Outlook): the note, and the original as message/rfc822.
    orig = Mail(
        "gmail",
        "en",
        EMILY,
        (HANS,),
        when(23, 11, 10),
        "Revised pricing for the 2027 framework",
        para("""
            Hi Hans,

            thanks for the revised pricing. We can accept the new unit prices if the
            payment terms stay at 45 days. Could you update the framework agreement
            accordingly?

            I will be out of the office on Friday, so Thursday would be ideal for a call.
        """),
        cc=(MARTA,),
        closing="Best wishes,",
        sig=SIG_EMILY,
    )
    top = Mail(
        "outlook",
        "en",
        HANS,
        (LOG,),
        when(23, 11, 42),
        "FW: Revised pricing for the 2027 framework",
        "Emily's answer, attached for the CRM.",
        sig=SIG_HANS_EN,
    )
    cases.append(
        Case(
            "fwd-attached-outlook-en-rfc822",
            "en",
            top,
            attached=orig,
            expect_direction="inbound",
            features=("attached-forward",),
        )
    )

    # Forwarded as an attachment (Gmail, Polish), the original from Outlook.
    orig = Mail(
        "outlook",
        "pl",
        MALGORZATA,
        (ANNA,),
        when(23, 13, 0),
        "Harmonogram dostaw na I kwartał 2027",
        para("""
            Dzień dobry,

            przesyłam harmonogram dostaw na pierwszy kwartał 2027 roku. Prosimy o
            potwierdzenie, że jesteście Państwo w stanie dostarczać po 40 ton miesięcznie.

            W razie pytań jestem do dyspozycji.
        """),
        closing="Z pozdrowieniami",
        sig=SIG_MALGORZATA,
        disclaimer=KRS_STALMET,
    )
    top = Mail(
        "gmail",
        "pl",
        ANNA,
        (LOG,),
        when(23, 14, 20),
        "Fwd: Harmonogram dostaw na I kwartał 2027",
        "Przekazuję jako załącznik.",
    )
    cases.append(
        Case(
            "fwd-attached-gmail-pl-rfc822",
            "pl",
            top,
            attached=orig,
            expect_direction="inbound",
            features=("attached-forward", "name-pipe-title", "krs-footer"),
        )
    )

    # A forward of a forward: Sabine (Thunderbird) -> Marta forwards it to Hans (Outlook,
    # German) -> Hans forwards that to the CRM from Gmail. The innermost message wins.
    first = Mail(
        "thunderbird",
        "de",
        SABINE,
        (MARTA,),
        when(24, 8, 30),
        "Lieferung KW 49 – Rampenzeiten",
        para("""
            Hallo Frau Lewandowska,

            für die Lieferung in KW 49 stehen uns nur noch die Rampenzeiten am Dienstag
            zwischen 6 und 9 Uhr zur Verfügung. Bitte geben Sie das an Ihre Spedition weiter.

            Vielen Dank und einen schönen Tag.
        """),
        closing="Viele Grüße",
        sig=SIG_SABINE,
    )
    middle = Mail(
        "outlook",
        "de",
        MARTA,
        (HANS,),
        when(24, 9, 0),
        "WG: Lieferung KW 49 – Rampenzeiten",
        "Hans, kannst du das bitte mit der Spedition klären?",
        forward=first,
    )
    top = Mail(
        "gmail",
        "en",
        HANS,
        (LOG,),
        when(24, 9, 20),
        "Fwd: WG: Lieferung KW 49 – Rampenzeiten",
        "",
        forward=middle,
    )
    cases.append(
        Case(
            "fwd-of-fwd-gmail-outlook-de",
            "de",
            top,
            expect_direction="inbound",
            features=("forward-of-forward", "gmail-forward", "outlook-forward"),
        )
    )

    # A forward of a forward on Outlook on the web (Polish), the innermost from a team mailbox
    # whose signature names no person: signature null.
    first = Mail(
        "outlook",
        "pl",
        BOK,
        (KASIA,),
        when(24, 10, 15),
        "Zmiana terminu odczytu licznika",
        para("""
            Szanowna Pani,

            informujemy, że odczyt licznika w Państwa hali magazynowej został przesunięty na
            2 grudnia. Technik skontaktuje się telefonicznie dzień wcześniej.

            Za utrudnienia przepraszamy.
        """),
        closing="Z wyrazami szacunku",
        sig=SIG_BOK,
    )
    middle = Mail(
        "outlook",
        "pl",
        KASIA,
        (PIOTR,),
        when(24, 10, 40),
        "PD: Zmiana terminu odczytu licznika",
        "Piotrze, do Twojej wiadomości.",
        forward=first,
    )
    top = Mail(
        "owa",
        "pl",
        PIOTR,
        (LOG,),
        when(24, 11, 0),
        "PD: PD: Zmiana terminu odczytu licznika",
        "",
        forward=middle,
    )
    cases.append(
        Case(
            "fwd-of-fwd-owa-pl-team-mailbox",
            "pl",
            top,
            expect_direction="inbound",
            features=("forward-of-forward", "owa-forward", "signature-no-person"),
        )
    )

    # A forward to log+deal-42@: the deal token comes from the To address.
    orig = Mail(
        "outlook",
        "en-GB",
        EMILY,
        (ANNA,),
        when(24, 15, 5),
        "Purchase order PO-88231",
        para("""
            Dear Anna,

            please find attached purchase order PO-88231 for the second phase of the
            rollout. Delivery address and invoicing details are unchanged.

            We look forward to working with you.
        """),
        closing="Kind regards,",
        sig=SIG_EMILY,
    )
    top = Mail(
        "gmail",
        "en",
        ANNA,
        (Person(None, "log+deal-42@crm.example.com"),),
        when(24, 15, 30),
        "Fwd: Purchase order PO-88231",
        "PO for deal 42.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-gmail-en-token-deal",
            "en",
            top,
            expect_direction="inbound",
            features=("gmail-forward", "token-deal"),
        )
    )
    return cases


def batch_replies_a() -> list[Case]:
    """Replies: attribution lines in every language, Gmail/Apple/Thunderbird quoting."""
    cases: list[Case] = []

    # Gmail (EN): "On ... wrote:", "> " quoting, a "-- " signature; inbound.
    first = Mail(
        "gmail",
        "en",
        ANNA,
        (JOHN,),
        when(2, 9, 30),
        "Pilot project – next steps",
        para("""
            Hi John,

            thank you for the call this morning. As agreed, I am sending the summary of the
            pilot scope: two warehouses, 15 users, eight weeks.

            Could you confirm who will be the project owner on your side?
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
    )
    top = Mail(
        "gmail",
        "en",
        JOHN,
        (ANNA,),
        when(2, 16, 12),
        "Re: Pilot project – next steps",
        para("""
            Hi Anna,

            thanks for the summary, the scope looks right. The project owner on our side will
            be Sarah Lee from the logistics team; I have copied her on the kick-off invite.

            One question: can the pilot start on 16 November instead of the 23rd?
        """),
        closing="Thanks,",
        sig=Signature(SIG_JOHN.lines, SIG_JOHN.expect, dashes=True),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-gmail-en-on-wrote",
            "en",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-en", "signature-dashes"),
        )
    )

    # Gmail (PL): "... napisał(a):"; the quoted mail came from Outlook.
    first = Mail(
        "outlook",
        "pl",
        PIOTR,
        (KRZYSZTOF,),
        when(9, 10, 15),
        "Oględziny – pompa ciepła",
        para("""
            Dzień dobry Panie Krzysztofie,

            dziękuję za zainteresowanie naszą ofertą. Nasz technik może przyjechać na
            oględziny w czwartek 12 listopada o godzinie 16:00. Czy ten termin Panu
            odpowiada?
        """),
        closing="Pozdrawiam",
        sig=SIG_PIOTR,
    )
    top = Mail(
        "gmail",
        "pl",
        KRZYSZTOF,
        (PIOTR,),
        when(9, 18, 40),
        "Re: Oględziny – pompa ciepła",
        para("""
            Dzień dobry,

            termin w czwartek o 16:00 jak najbardziej mi odpowiada. Proszę tylko o telefon
            pół godziny przed przyjazdem, bo dojazd do domu jest od ulicy Leśnej.

            Dziękuję i do zobaczenia.
        """),
        closing="Pozdrawiam",
        sig=SIG_KRZYSZTOF,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-gmail-pl-napisal",
            "pl",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-pl", "signature-dashes", "free-mail"),
        )
    )

    # Thunderbird (PL): "W dniu ... pisze:", format=flowed, outbound.
    first = Mail(
        "outlook",
        "pl",
        JAN,
        (PIOTR,),
        when(10, 9, 12),
        "Montaż regałów – dostęp do hali",
        para("""
            Dzień dobry,

            czy ekipa montażowa będzie potrzebowała dostępu do hali również w weekend?
            Musimy to zgłosić ochronie z wyprzedzeniem.
        """),
        closing="Pozdrawiam",
        sig=SIG_JAN,
        disclaimer=RODO_ACME,
    )
    top = Mail(
        "thunderbird",
        "pl",
        PIOTR,
        (JAN,),
        when(10, 11, 3),
        "Re: Montaż regałów – dostęp do hali",
        para("""
            Dzień dobry Panie Janie,

            tak, prosimy o dostęp w sobotę 28 listopada w godzinach 7–15. Ekipa będzie
            liczyła czterech monterów, listę nazwisk prześlę do czwartku.
        """),
        closing="Pozdrawiam serdecznie",
        sig=Signature(SIG_PIOTR.lines, SIG_PIOTR.expect, dashes=True),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-thunderbird-pl-w-dniu-pisze",
            "pl",
            top,
            expect_direction="outbound",
            features=("reply", "attribution-pl", "signature-dashes"),
        )
    )

    # Gmail (DE): "Am ... schrieb ...:", inbound.
    first = Mail(
        "outlook",
        "de",
        HANS,
        (SABINE,),
        when(9, 14, 5),
        "Tourenplanung Dezember",
        para("""
            Hallo Frau Müller,

            können Sie uns bis Mittwoch die Tourenplanung für Dezember schicken? Wir müssen
            die Ladezeiten mit unserem Lager abstimmen.
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_HANS_DE,
    )
    top = Mail(
        "gmail",
        "de",
        SABINE,
        (HANS,),
        when(10, 8, 20),
        "Re: Tourenplanung Dezember",
        para("""
            Guten Morgen Herr Weber,

            die Tourenplanung für Dezember ist fast fertig. Sie bekommen sie spätestens
            morgen Mittag, sobald die letzten zwei Touren nach Breslau bestätigt sind.
        """),
        closing="Viele Grüße",
        sig=SIG_SABINE,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-gmail-de-am-schrieb",
            "de",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-de"),
        )
    )

    # Thunderbird (DE): "Am 10.11.26 um 08:15 schrieb Hans Weber:", inbound, "-- " signature.
    first = Mail(
        "gmail",
        "de",
        HANS,
        (JUERGEN,),
        when(10, 8, 15),
        "Ersatzteilliste Presse P-200",
        para("""
            Guten Morgen Herr Schäfer,

            anbei die Ersatzteilliste für die Presse P-200. Bitte prüfen Sie, welche Teile
            Sie auf Lager haben.
        """),
        closing="Beste Grüße",
        sig=SIG_HANS_DE,
    )
    top = Mail(
        "thunderbird",
        "de",
        JUERGEN,
        (HANS,),
        when(10, 13, 30),
        "Re: Ersatzteilliste Presse P-200",
        para("""
            Grüß Gott Herr Weber,

            von der Liste haben wir alle Positionen außer den Hydraulikschläuchen vorrätig.
            Die Schläuche können wir innerhalb von zehn Werktagen beschaffen.
        """),
        closing="Mit besten Grüßen",
        sig=SIG_JUERGEN,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-thunderbird-de-am-schrieb",
            "de",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-de", "signature-dashes"),
        )
    )

    # Gmail (FR): "Le ... a écrit :", inbound.
    first = Mail(
        "outlook",
        "fr",
        CLAIRE,
        (MARIE,),
        when(9, 11, 20),
        "Planning de maintenance 2027",
        para("""
            Bonjour Madame Dubois,

            je vous propose de fixer les visites de maintenance 2027 en mars et en
            septembre. Ces mois vous conviennent-ils ?
        """),
        closing="Bien cordialement,",
        sig=SIG_CLAIRE,
    )
    top = Mail(
        "gmail",
        "fr",
        MARIE,
        (CLAIRE,),
        when(9, 15, 2),
        "Re: Planning de maintenance 2027",
        para("""
            Bonjour Claire,

            mars nous convient, mais septembre est une période très chargée pour nous.
            Serait-il possible de prévoir la seconde visite début octobre ?

            Merci de me tenir informée.
        """),
        closing="Cordialement,",
        sig=SIG_MARIE,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-gmail-fr-a-ecrit",
            "fr",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-fr"),
        )
    )

    # Apple Mail (FR): "Le 10 nov. 2026 à 15:02, ... a écrit :", blockquote type=cite.
    first = Mail(
        "apple",
        "fr",
        CLAIRE,
        (FRANCOIS,),
        when(10, 15, 2),
        "Créneau de livraison",
        para("""
            Bonjour François,

            la livraison de jeudi peut être décalée à l'après-midi. Le transporteur passera
            entre 14 h et 16 h.
        """),
        closing="Bonne journée,",
        sig=SIG_CLAIRE,
    )
    top = Mail(
        "apple",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(10, 17, 25),
        "Re: Créneau de livraison",
        para("""
            Bonjour Claire,

            parfait, merci beaucoup. Je préviens l'équipe de l'entrepôt pour qu'un cariste
            soit disponible à partir de 14 h.
        """),
        closing="Bien à vous,",
        sig=SIG_FRANCOIS,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-apple-fr-a-ecrit",
            "fr",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-fr"),
        )
    )

    # Gmail (ES): "El ..., Javier Ruiz (<...>) escribió:".
    first = Mail(
        "outlook",
        "es",
        JAVIER,
        (LUCIA,),
        when(9, 12, 30),
        "Disponibilidad del técnico",
        para("""
            Hola, Lucía:

            nuestro técnico estará disponible del 23 al 27 de noviembre para la puesta en
            marcha en Toledo. ¿Le parece bien?
        """),
        closing="Saludos,",
        sig=SIG_JAVIER,
    )
    top = Mail(
        "gmail",
        "es",
        LUCIA,
        (JAVIER,),
        when(9, 17, 48),
        "Re: Disponibilidad del técnico",
        para("""
            Hola, Javier:

            perfecto, esas fechas nos vienen muy bien. Le enviaré mañana el plan de trabajo
            y los contactos del jefe de obra.

            Gracias por la rapidez.
        """),
        closing="Un saludo,",
        sig=SIG_LUCIA,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-gmail-es-escribio",
            "es",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-es", "name-pipe-title"),
        )
    )

    # Apple Mail (ES): "El 10 nov 2026, a las 16:45, ... escribió:".
    first = Mail(
        "gmail",
        "es",
        JAVIER,
        (CARLOS,),
        when(10, 16, 45),
        "Renovación de licencias – propuesta",
        para("""
            Buenas tardes, Carlos:

            le adjunto la propuesta para la renovación de las 25 licencias y las cinco
            adicionales para Valencia, con un descuento del 8 %.
        """),
        closing="Saludos cordiales,",
        sig=SIG_JAVIER,
    )
    top = Mail(
        "apple",
        "es",
        CARLOS,
        (JAVIER,),
        when(11, 9, 5),
        "Re: Renovación de licencias – propuesta",
        para("""
            Buenos días, Javier:

            gracias por la propuesta. La revisaremos con dirección esta semana y le daremos
            una respuesta antes del viernes.
        """),
        closing="Atentamente,",
        sig=SIG_CARLOS,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-apple-es-escribio",
            "es",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-es"),
        )
    )

    # Outlook desktop (EN): an Outlook reply header block under "RE:" - not a forward.
    first = Mail(
        "gmail",
        "en",
        JOHN,
        (ANNA,),
        when(11, 14, 0),
        "Pilot dates",
        para("""
            Hi Anna,

            could we move the pilot kick-off to Wednesday the 18th? Two of our team leads
            are travelling on Monday.
        """),
        closing="Thanks,",
        sig=SIG_JOHN,
    )
    top = Mail(
        "outlook",
        "en",
        ANNA,
        (JOHN,),
        when(11, 15, 20),
        "RE: Pilot dates",
        para("""
            Hi John,

            Wednesday the 18th works for us. I have moved the kick-off meeting and updated
            the invitation; the agenda stays the same.
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-outlook-en-header-block",
            "en",
            top,
            expect_direction="outbound",
            features=("reply", "outlook-reply-block"),
        )
    )

    # Outlook desktop (PL): "RE:" two levels deep; References carry both earlier messages.
    first = Mail(
        "outlook",
        "pl",
        PIOTR,
        (MALGORZATA,),
        when(6, 11, 0),
        "Reklamacja dostawy nr 2026/11/0457",
        para("""
            Dzień dobry Pani Małgorzato,

            bardzo przepraszamy za braki w dostawie. Brakujące kartony wyślemy w poniedziałek,
            a uszkodzone palety zostaną wymienione przy tej samej dostawie.
        """),
        closing="Pozdrawiam",
        sig=SIG_PIOTR,
    )
    second = Mail(
        "outlook",
        "pl",
        MALGORZATA,
        (PIOTR,),
        when(6, 13, 45),
        "RE: Reklamacja dostawy nr 2026/11/0457",
        para("""
            Dziękuję za szybką odpowiedź. Proszę jeszcze o korektę faktury za uszkodzony
            towar.
        """),
        closing="Pozdrawiam serdecznie",
        sig=SIG_MALGORZATA,
        disclaimer=KRS_STALMET,
        quoted=first,
    )
    top = Mail(
        "outlook",
        "pl",
        PIOTR,
        (MALGORZATA,),
        when(6, 15, 10),
        "RE: Reklamacja dostawy nr 2026/11/0457",
        para("""
            Pani Małgorzato,

            korektę faktury wystawimy jutro i prześlemy ją mailem do działu księgowości.
            Oryginał wyślemy pocztą razem z dokumentami dostawy.
        """),
        cc=(KASIA,),
        closing="Pozdrawiam",
        sig=SIG_PIOTR,
        quoted=second,
    )
    cases.append(
        Case(
            "reply-outlook-pl-re-two-levels",
            "pl",
            top,
            expect_direction="outbound",
            features=("reply", "outlook-reply-block"),
        )
    )

    # Outlook desktop (DE): "AW:", signature as a table with the company logo (related).
    first = Mail(
        "outlook",
        "de",
        KLAUS,
        (HANS,),
        when(12, 9, 40),
        "Angebot Antriebsriemen",
        para("""
            Sehr geehrter Herr Weber,

            vielen Dank für Ihr Angebot. Können Sie die Lieferung auch per Express
            veranlassen? Die Mehrkosten übernehmen wir.
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_KLAUS,
        disclaimer=DISCLAIMER_DE,
    )
    top = Mail(
        "outlook",
        "de",
        HANS,
        (KLAUS,),
        when(12, 10, 15),
        "AW: Angebot Antriebsriemen",
        para("""
            Sehr geehrter Herr Becker,

            selbstverständlich, die Teile gehen heute noch per Express raus und sind morgen
            Vormittag bei Ihnen. Die Sendungsnummer schicke ich Ihnen am Nachmittag.
        """),
        closing="Mit freundlichen Grüßen",
        sig=Signature(
            SIG_HANS_DE.lines, SIG_HANS_DE.expect, table=True, gap=True, logo="Example GmbH"
        ),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-outlook-de-aw-table-logo",
            "de",
            top,
            expect_direction="outbound",
            features=("reply", "outlook-reply-block", "signature-table", "inline-logo"),
        )
    )
    return cases


THOMAS = Person("Thomas Schneider", "thomas.schneider@gmx.de")
SIG_THOMAS = sig(
    "Thomas Schneider",
    "Mobil: +49 160 9876543",
    expect=sig_expect("Thomas Schneider", phones=("+491609876543",)),
)


def batch_replies_b() -> list[Case]:
    """Replies: Outlook and OWA blocks in FR/ES/PL, plain-text Outlook, mobile clients, GMX."""
    cases: list[Case] = []

    # Outlook desktop (FR): "RE :" with the French non-breaking habit of a space before ":".
    first = Mail(
        "gmail",
        "fr",
        MARIE,
        (CLAIRE,),
        when(12, 8, 50),
        "Devis maintenance – questions",
        para("""
            Bonjour Claire,

            merci pour le devis. Pouvez-vous me préciser si les déplacements du technicien
            sont inclus dans le forfait annuel ?
        """),
        closing="Cordialement,",
        sig=SIG_MARIE,
    )
    top = Mail(
        "outlook",
        "fr",
        CLAIRE,
        (MARIE,),
        when(12, 10, 5),
        "RE : Devis maintenance – questions",
        para("""
            Bonjour Madame Dubois,

            oui, les déplacements sont inclus dans le forfait, dans la limite de six
            interventions par an. Au-delà, chaque déplacement est facturé 90 euros HT.
        """),
        closing="Bien cordialement,",
        sig=SIG_CLAIRE,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-outlook-fr-re-header-block",
            "fr",
            top,
            expect_direction="outbound",
            features=("reply", "outlook-reply-block"),
        )
    )

    # Outlook desktop (ES): "RE:", De / Enviado el / Para / Asunto.
    first = Mail(
        "apple",
        "es",
        CARLOS,
        (JAVIER,),
        when(13, 9, 30),
        "Condiciones de pago",
        para("""
            Buenos días, Javier:

            ¿sería posible pagar la renovación en dos plazos, en enero y en marzo?
        """),
        closing="Atentamente,",
        sig=SIG_CARLOS,
    )
    top = Mail(
        "outlook",
        "es",
        JAVIER,
        (CARLOS,),
        when(13, 11, 15),
        "RE: Condiciones de pago",
        para("""
            Buenos días, Carlos:

            sí, no hay ningún problema. Emitiremos dos facturas, la primera con fecha 15 de
            enero y la segunda con fecha 15 de marzo.
        """),
        closing="Saludos cordiales,",
        sig=SIG_JAVIER,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-outlook-es-re-header-block",
            "es",
            top,
            expect_direction="outbound",
            features=("reply", "outlook-reply-block"),
        )
    )

    # Outlook on the web (PL): "RE:" with the "____" line; the quoted mail from WP webmail.
    ewa_first = Mail(
        "wp",
        "pl",
        EWA,
        (KASIA,),
        when(19, 20, 15),
        "Pytanie o fakturę za październik",
        para("""
            Dzień dobry,

            nie otrzymałam jeszcze faktury za październik, a chciałabym ją rozliczyć przed
            końcem miesiąca. Czy mogłaby Pani przesłać ją ponownie na ten adres?
        """),
        closing="Pozdrawiam serdecznie",
        sig=sig("Ewa Szymańska", expect=sig_expect("Ewa Szymańska")),
    )
    kasia_reply = Mail(
        "owa",
        "pl",
        KASIA,
        (EWA,),
        when(20, 9, 10),
        "RE: Pytanie o fakturę za październik",
        para("""
            Dzień dobry Pani Ewo,

            przesyłam fakturę za październik w załączniku. Przepraszamy za kłopot – faktura
            trafiła omyłkowo na stary adres e-mail.
        """),
        closing="Z pozdrowieniami",
        sig=sig(
            "Katarzyna Wójcik",
            "Asystentka Działu Sprzedaży",
            "Example Polska Sp. z o.o.",
            "tel. 22 100 20 45",
            expect=sig_expect(
                "Katarzyna Wójcik",
                "Asystentka Działu Sprzedaży",
                "Example Polska Sp. z o.o.",
                ("+48221002045",),
            ),
        ),
        quoted=ewa_first,
    )
    cases.append(
        Case(
            "reply-owa-pl-re",
            "pl",
            kasia_reply,
            expect_direction="outbound",
            env=Envelope(
                attachments=(("application/pdf", "FV_2026_10_0981.pdf", fake_pdf("Faktura")),)
            ),
            features=("reply", "owa-reply-block"),
        )
    )

    # WP webmail (PL): "Odp:" and "Dnia ... napisał(a):", plain text, nested history.
    top = Mail(
        "wp",
        "pl",
        EWA,
        (KASIA,),
        when(20, 12, 30),
        "Odp: RE: Pytanie o fakturę za październik",
        para("""
            Dzień dobry,

            dziękuję, faktura dotarła. Proszę o zaktualizowanie mojego adresu e-mail w
            Państwa systemie, żeby kolejne faktury przychodziły już na ten adres.
        """),
        closing="Pozdrawiam",
        sig=sig("Ewa Szymańska", expect=sig_expect("Ewa Szymańska")),
        quoted=kasia_reply,
    )
    cases.append(
        Case(
            "reply-wp-pl-odp-dnia-napisal",
            "pl",
            top,
            expect_direction="inbound",
            features=(
                "reply",
                "attribution-pl",
                "free-mail",
                "signature-name-only",
                "repeated-prefixes",
            ),
        )
    )

    # Outlook in plain-text mode (EN), "-----Original Message-----" under "RE:", and the subject
    # tagged "[EXTERNAL]" by the org's mail filter on the way in.
    first = Mail(
        "outlook",
        "en",
        ANNA,
        (EMILY,),
        when(13, 8, 20),
        "Workshop agenda",
        para("""
            Dear Emily,

            please find below the proposed agenda for the workshop on 26 November. Let me
            know if you would like to add any topics.
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
    )
    top = Mail(
        "outlook-plain",
        "en-GB",
        EMILY,
        (ANNA,),
        when(13, 12, 55),
        "[EXTERNAL] RE: Workshop agenda",
        para("""
            Hi Anna,

            the agenda looks good. Could we add a 30-minute slot on returns handling after
            lunch? Our warehouse manager would like to join for that part.
        """),
        closing="Kind regards,",
        sig=SIG_EMILY,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-outlook-plain-en-original-message-external-tag",
            "en",
            top,
            expect_direction="inbound",
            features=("reply", "original-message-separator", "external-tag"),
        )
    )

    # iPhone (EN): "Sent from my iPhone" only - no signature.
    first = Mail(
        "outlook",
        "en",
        ANNA,
        (JOHN,),
        when(16, 17, 5),
        "Kick-off on Wednesday",
        para("""
            Hi John,

            just a reminder that the kick-off is on Wednesday at 10:00 in your Dublin
            office. I will bring the printed project plan.
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
    )
    top = Mail(
        "iphone",
        "en",
        JOHN,
        (ANNA,),
        when(16, 18, 40),
        "Re: Kick-off on Wednesday",
        para("""
            Thanks Anna, see you on Wednesday. Reception will have your visitor badges ready,
            just give them your name at the front desk.
        """),
        sig=iphone_sig("en"),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-iphone-en-sent-from-my-iphone",
            "en",
            top,
            expect_direction="inbound",
            features=("reply", "mobile-signature"),
        )
    )

    # iPhone (DE): "Re: AW:" - repeated prefixes; "Von meinem iPhone gesendet".
    first = Mail(
        "outlook",
        "de",
        HANS,
        (KLAUS,),
        when(17, 10, 15),
        "AW: Angebot Antriebsriemen",
        para("""
            Sehr geehrter Herr Becker,

            die Sendung ist heute Morgen rausgegangen, die Sendungsnummer lautet 00340434
            1612 2045 78.
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_HANS_DE,
    )
    top = Mail(
        "iphone",
        "de",
        KLAUS,
        (HANS,),
        when(17, 11, 2),
        "Re: AW: Angebot Antriebsriemen",
        para("""
            Danke, Herr Weber. Die Ware ist soeben bei uns im Wareneingang angekommen und
            wird heute noch eingebaut.
        """),
        sig=iphone_sig("de"),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-iphone-de-von-meinem-iphone",
            "de",
            top,
            expect_direction="inbound",
            features=("reply", "mobile-signature", "repeated-prefixes"),
        )
    )

    # Thunderbird (EN): nested quoting (">" and "> >") three messages deep.
    first = Mail(
        "gmail",
        "en",
        EMILY,
        (HANS,),
        when(18, 9, 0),
        "Label printer firmware",
        para("""
            Hi Hans,

            two of the label printers in Leeds still run the old firmware. Can your
            technician update them remotely?
        """),
        closing="Best wishes,",
        sig=SIG_EMILY,
    )
    second = Mail(
        "gmail",
        "en",
        HANS,
        (EMILY,),
        when(18, 11, 30),
        "Re: Label printer firmware",
        para("""
            Hi Emily,

            yes, we can do that remotely. Would Thursday at 7:00 work, before your first
            shift starts?
        """),
        closing="Kind regards,",
        sig=SIG_HANS_EN,
        quoted=first,
    )
    top = Mail(
        "thunderbird",
        "en",
        EMILY,
        (HANS,),
        when(18, 14, 20),
        "Re: Label printer firmware",
        para("""
            Hi Hans,

            Thursday at 7:00 is fine. Our shift supervisor will make sure the printers are
            switched on and connected to the network.
        """),
        cc=(MARTA,),
        closing="Best wishes,",
        sig=SIG_EMILY,
        quoted=second,
    )
    cases.append(
        Case(
            "reply-thunderbird-en-nested-quotes",
            "en",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-en", "nested-quotes"),
        )
    )

    # GMX web mail (DE): "Aw:", the quoted mail under a "Gesendet: / Von: / An: / Betreff:"
    # block.
    first = Mail(
        "outlook",
        "de",
        HANS,
        (THOMAS,),
        when(19, 9, 45),
        "Ihre Anfrage zur Wärmepumpe",
        para("""
            Sehr geehrter Herr Schneider,

            vielen Dank für Ihre Anfrage. Für ein genaues Angebot benötigen wir noch die
            Wohnfläche und das Baujahr Ihres Hauses.
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_HANS_DE,
    )
    top = Mail(
        "gmx",
        "de",
        THOMAS,
        (HANS,),
        when(19, 19, 5),
        "Aw: Ihre Anfrage zur Wärmepumpe",
        para("""
            Hallo Herr Weber,

            die Wohnfläche beträgt 145 Quadratmeter, das Haus wurde 1998 gebaut. Die
            Heizkörper wurden vor fünf Jahren erneuert.
        """),
        closing="Viele Grüße",
        sig=SIG_THOMAS,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-gmx-de-gesendet-block",
            "de",
            top,
            expect_direction="inbound",
            features=("reply", "gmx-reply-block", "free-mail"),
        )
    )

    # A reply to a forward ("Re: Fwd:"): the history holds a forward, but this is a reply.
    inner = Mail(
        "outlook",
        "en",
        MARTA,
        (ANNA,),
        when(19, 8, 0),
        "Security questionnaire",
        para("""
            Hi Anna,

            here are our answers to the standard security questionnaire. Feel free to share
            them with customers who ask.
        """),
        closing="Best,",
        sig=sig(
            "Marta Lewandowska",
            "Information Security Officer",
            "Example Sp. z o.o.",
            expect=sig_expect(
                "Marta Lewandowska", "Information Security Officer", "Example Sp. z o.o."
            ),
        ),
    )
    fwd = Mail(
        "gmail",
        "en",
        ANNA,
        (JOHN,),
        when(19, 9, 30),
        "Fwd: Security questionnaire",
        "Hi John, as promised - our answers to the security questionnaire are below.",
        forward=inner,
    )
    top = Mail(
        "gmail",
        "en",
        JOHN,
        (ANNA,),
        when(19, 15, 10),
        "Re: Fwd: Security questionnaire",
        para("""
            Hi Anna,

            thanks, this covers everything our IT security team asked for. They will sign off
            on the vendor assessment this week.
        """),
        closing="Regards,",
        sig=Signature(SIG_JOHN.lines, SIG_JOHN.expect, dashes=True),
        quoted=fwd,
    )
    cases.append(
        Case(
            "reply-gmail-en-re-fwd-not-a-forward",
            "en",
            top,
            expect_direction="inbound",
            features=("reply", "re-fwd-subject", "forward-in-history"),
        )
    )

    # Outlook for iOS (EN): "Get Outlook for iOS" - no signature; seconds in the block date.
    first = Mail(
        "outlook",
        "en-GB",
        EMILY,
        (ANNA,),
        when(20, 7, 50),
        "Delivery notes",
        para("""
            Hi Anna,

            could you send us copies of the delivery notes for last week? Our accounts team
            needs them for the month-end close.
        """),
        closing="Kind regards,",
        sig=SIG_EMILY,
    )
    top = Mail(
        "outlook-ios",
        "en",
        ANNA,
        (EMILY,),
        when(20, 8, 35, 12),
        "RE: Delivery notes",
        para("""
            Hi Emily,

            I am on the road today, but I have asked our logistics team to send you all the
            delivery notes from last week before noon.
        """),
        sig=OUTLOOK_MOBILE_SIG,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-outlook-ios-en-get-outlook",
            "en",
            top,
            expect_direction="outbound",
            features=("reply", "mobile-signature", "owa-reply-block"),
        )
    )

    # Outlook on the web (FR) and (ES).
    first = Mail(
        "apple",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(23, 8, 40),
        "Facture de novembre",
        para("""
            Bonjour Claire,

            pourriez-vous nous envoyer la facture de novembre au format PDF ? Notre service
            comptable ne l'a pas reçue.
        """),
        closing="Bien à vous,",
        sig=SIG_FRANCOIS,
    )
    top = Mail(
        "owa",
        "fr",
        CLAIRE,
        (FRANCOIS,),
        when(23, 9, 55),
        "RE: Facture de novembre",
        para("""
            Bonjour François,

            vous trouverez la facture de novembre en pièce jointe. Je l'ai également envoyée
            à l'adresse de votre service comptable.
        """),
        closing="Bonne journée,",
        sig=SIG_CLAIRE,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-owa-fr-re",
            "fr",
            top,
            expect_direction="outbound",
            features=("reply", "owa-reply-block"),
        )
    )

    first = Mail(
        "gmail",
        "es",
        LUCIA,
        (JAVIER,),
        when(23, 10, 0),
        "Plan de trabajo Toledo",
        para("""
            Hola, Javier:

            le envío el plan de trabajo para la puesta en marcha en Toledo. Los contactos del
            jefe de obra están en la última página.
        """),
        closing="Un saludo,",
        sig=SIG_LUCIA,
    )
    top = Mail(
        "owa",
        "es",
        JAVIER,
        (LUCIA,),
        when(23, 12, 20),
        "RE: Plan de trabajo Toledo",
        para("""
            Hola, Lucía:

            muchas gracias. Nuestro técnico llegará a Toledo el domingo por la tarde para
            empezar el lunes a primera hora.
        """),
        closing="Saludos,",
        sig=SIG_JAVIER,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-owa-es-re",
            "es",
            top,
            expect_direction="outbound",
            features=("reply", "owa-reply-block"),
        )
    )

    # Thunderbird (FR) and (ES): "Le 12/11/2026 à 10:05, ... a écrit :" and
    # "El 12/11/26 a las 10:05, ... escribió:".
    first = Mail(
        "outlook",
        "fr",
        CLAIRE,
        (MARIE,),
        when(24, 10, 5),
        "Formation des opérateurs",
        para("""
            Bonjour Madame Dubois,

            nous pouvons organiser la formation de vos opérateurs le 8 ou le 9 décembre.
            Quelle date préférez-vous ?
        """),
        closing="Bien cordialement,",
        sig=SIG_CLAIRE,
    )
    top = Mail(
        "thunderbird",
        "fr",
        MARIE,
        (CLAIRE,),
        when(24, 14, 30),
        "Re: Formation des opérateurs",
        para("""
            Bonjour Claire,

            le 9 décembre nous convient mieux. Nous serons huit participants, tous de
            l'équipe de production de Nanterre.
        """),
        closing="Cordialement,",
        sig=Signature(SIG_MARIE.lines, SIG_MARIE.expect, dashes=True),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-thunderbird-fr-a-ecrit",
            "fr",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-fr", "signature-dashes"),
        )
    )

    first = Mail(
        "outlook",
        "es",
        JAVIER,
        (LUCIA,),
        when(24, 10, 5),
        "Acta de puesta en marcha",
        para("""
            Hola, Lucía:

            le adjunto el acta de puesta en marcha de la planta de Toledo para su firma.
        """),
        closing="Saludos,",
        sig=SIG_JAVIER,
    )
    top = Mail(
        "thunderbird",
        "es",
        LUCIA,
        (JAVIER,),
        when(24, 16, 45),
        "Re: Acta de puesta en marcha",
        para("""
            Hola, Javier:

            le devuelvo el acta firmada. Ha sido un placer trabajar con su equipo en este
            proyecto.
        """),
        closing="Un saludo,",
        sig=SIG_LUCIA,
        quoted=first,
    )
    cases.append(
        Case(
            "reply-thunderbird-es-escribio",
            "es",
            top,
            expect_direction="inbound",
            features=("reply", "attribution-es", "name-pipe-title"),
        )
    )

    # iPhone (FR) and (ES).
    first = Mail(
        "outlook",
        "fr",
        CLAIRE,
        (MARIE,),
        when(25, 9, 0),
        "Confirmation de la formation",
        para("""
            Bonjour Madame Dubois,

            je vous confirme la formation du 9 décembre à 9 h dans vos locaux de Nanterre.
        """),
        closing="Bien cordialement,",
        sig=SIG_CLAIRE,
    )
    top = Mail(
        "iphone",
        "fr",
        MARIE,
        (CLAIRE,),
        when(25, 9, 40),
        "Re: Confirmation de la formation",
        para("""
            Merci Claire, c'est noté. Je réserve la salle de réunion du rez-de-chaussée pour
            toute la journée.
        """),
        sig=iphone_sig("fr"),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-iphone-fr-envoye-de-mon-iphone",
            "fr",
            top,
            expect_direction="inbound",
            features=("reply", "mobile-signature"),
        )
    )

    first = Mail(
        "outlook",
        "es",
        JAVIER,
        (CARLOS,),
        when(25, 11, 0),
        "Primera factura de la renovación",
        para("""
            Buenos días, Carlos:

            le informo de que la primera factura de la renovación se emitirá el 15 de enero,
            tal como acordamos.
        """),
        closing="Saludos cordiales,",
        sig=SIG_JAVIER,
    )
    top = Mail(
        "iphone",
        "es",
        CARLOS,
        (JAVIER,),
        when(25, 12, 10),
        "Re: Primera factura de la renovación",
        para("""
            Perfecto, muchas gracias. Se lo comunico hoy mismo a nuestro departamento de
            contabilidad.
        """),
        sig=iphone_sig("es"),
        quoted=first,
    )
    cases.append(
        Case(
            "reply-iphone-es-enviado-desde-mi-iphone",
            "es",
            top,
            expect_direction="inbound",
            features=("reply", "mobile-signature"),
        )
    )
    return cases


AGNIESZKA = Person("Agnieszka Kamińska", "a.kaminska@meblex.pl")
JONAS = Person("Jonas Hoffmann", "jonas.hoffmann@example.com")
NOWICKI = Person("Nowicki, Adam", "adam.nowicki@acme.pl")  # "Last, First", quoted in headers

SIG_AGNIESZKA = sig(
    "Agnieszka Kamińska",
    "Specjalista ds. Zaopatrzenia",
    "Meblex Sp. z o.o.",
    "ul. Fabryczna 3, 43-300 Bielsko-Biała",
    "tel. 33 812 40 50 wew. 112",
    "kom. 691 222 333",
    expect=sig_expect(
        "Agnieszka Kamińska",
        "Specjalista ds. Zaopatrzenia",
        "Meblex Sp. z o.o.",
        ("+48338124050", "+48691222333"),
        address="ul. Fabryczna 3, 43-300 Bielsko-Biała",
    ),
)


def broken_charset(data: bytes) -> bytes:
    """The body is windows-1250 but the mailer labels it UTF-8 (seen from old ERP systems)."""
    old = b'charset="windows-1250"'
    if data.count(old) != 1:
        raise AssertionError("expected one windows-1250 label")
    return data.replace(old, b'charset="utf-8"')


def batch_new_messages() -> list[Case]:
    """New messages: charsets and transfer encodings, HTML only, signature layouts, internal
    mail, tokens."""
    cases: list[Case] = []

    # Outlook (PL) in ISO-8859-2, quoted-printable, headers encoded in ISO-8859-2; outbound.
    top = Mail(
        "outlook",
        "pl",
        PIOTR,
        (ZBIGNIEW,),
        when(25, 8, 30),
        "Oferta na palety EUR na 2027 rok",
        para("""
            Dzień dobry Panie Zbigniewie,

            w załączeniu przesyłam ofertę na dostawy palet EUR w 2027 roku. Przy zamówieniu
            powyżej 5000 sztuk rocznie możemy zaproponować rabat w wysokości 6%.

            Oferta jest ważna do 15 grudnia. Chętnie omówię szczegóły telefonicznie.
        """),
        closing="Z poważaniem",
        sig=SIG_PIOTR,
    )
    cases.append(
        Case(
            "new-outlook-pl-iso-8859-2-qp",
            "pl",
            top,
            expect_direction="outbound",
            env=Envelope(
                charset="iso-8859-2",
                header_style="charset:iso-8859-2",
                attachments=(("application/pdf", "Oferta_palety_2027.pdf", fake_pdf("Oferta")),),
            ),
        )
    )

    # Outlook (PL) in windows-1250 with Polish quotation marks and dashes; inbound, a fax on
    # the phone line.
    top = Mail(
        "outlook",
        "pl",
        ZBIGNIEW,
        (ANNA,),
        when(25, 10, 45),
        "Reklamacja – uszkodzone palety",
        para("""
            Pani Anno,

            w ostatniej dostawie 14 palet miało pęknięte deski środkowe. Zdjęcia i protokół
            z rozładunku przesyłam w załączeniu – proszę o „szybką ścieżkę” reklamacyjną.

            Do czasu wyjaśnienia wstrzymujemy płatność za tę dostawę.
        """),
        closing="Z poważaniem",
        sig=SIG_ZBIGNIEW,
        disclaimer=KRS_DREWBUD,
    )
    cases.append(
        Case(
            "new-outlook-pl-windows-1250",
            "pl",
            top,
            expect_direction="inbound",
            env=Envelope(charset="windows-1250", header_style="charset:windows-1250"),
            features=("fax", "krs-footer"),
        )
    )

    # Thunderbird (PL) in ISO-8859-2, 8bit, "wew." extension on the office number.
    top = Mail(
        "thunderbird",
        "pl",
        AGNIESZKA,
        (PIOTR,),
        when(25, 13, 20),
        "Zapytanie o okucia meblowe",
        para("""
            Dzień dobry,

            prosimy o ofertę na 20 000 kompletów zawiasów puszkowych oraz 8 000 prowadnic
            szufladowych. Dostawy miesięczne, od stycznia do czerwca 2027 r.

            Proszę także o informację o minimalnej wielkości zamówienia.
        """),
        closing="Pozdrawiam",
        sig=SIG_AGNIESZKA,
    )
    cases.append(
        Case(
            "new-thunderbird-pl-iso-8859-2-8bit",
            "pl",
            top,
            expect_direction="inbound",
            env=Envelope(charset="iso-8859-2", header_style="charset:iso-8859-2"),
            features=("phone-extension",),
        )
    )

    # Gmail (DE) with both parts in base64.
    top = Mail(
        "gmail",
        "de",
        SABINE,
        (HANS,),
        when(25, 15, 0),
        "Neue Ansprechpartnerin ab Dezember",
        para("""
            Hallo Herr Weber,

            ab dem 1. Dezember übernimmt meine Kollegin Frau Krüger die Disposition für Ihre
            Touren. Ich bleibe bis Jahresende für Rückfragen erreichbar.

            Vielen Dank für die gute Zusammenarbeit!
        """),
        closing="Herzliche Grüße",
        sig=SIG_SABINE,
    )
    cases.append(
        Case(
            "new-gmail-de-base64",
            "de",
            top,
            expect_direction="inbound",
            env=Envelope(text_cte="base64", html_cte="base64"),
        )
    )

    # HTML only (Outlook, DE): the signature is a table with the company logo.
    top = Mail(
        "outlook",
        "de",
        KLAUS,
        (HANS,),
        when(26, 9, 10),
        "Jahresgespräch 2027",
        para("""
            Sehr geehrter Herr Weber,

            gerne möchten wir Sie zu unserem Jahresgespräch am 14. Januar nach München
            einladen. Themen sind die Liefermengen für 2027 und die neuen Rahmenpreise.

            Bitte bestätigen Sie uns kurz Ihre Teilnahme.
        """),
        closing="Mit freundlichen Grüßen",
        sig=Signature(SIG_KLAUS.lines, SIG_KLAUS.expect, table=True, gap=True, logo="Globex GmbH"),
        disclaimer=DISCLAIMER_DE,
    )
    cases.append(
        Case(
            "html-only-outlook-de-table-logo",
            "de",
            top,
            expect_direction="inbound",
            env=Envelope(text=False),
            features=("signature-table", "inline-logo", "fax", "disclaimer"),
        )
    )

    # HTML only (Outlook on the web, EN): a signature-generator table.
    top = Mail(
        "owa",
        "en",
        EMILY,
        (ANNA,),
        when(26, 11, 30),
        "Returns process for damaged goods",
        para("""
            Hi Anna,

            we have drafted a returns process for goods damaged in transit. In short, our
            warehouse will photograph the damage, reject the pallet on the delivery note and
            email you the photos within 24 hours.

            Could you check whether this works with your carrier's claims procedure?
        """),
        closing="Kind regards,",
        sig=Signature(SIG_EMILY.lines, SIG_EMILY.expect, table=True),
    )
    cases.append(
        Case(
            "html-only-owa-en-signature-table",
            "en",
            top,
            expect_direction="inbound",
            env=Envelope(text=False),
            features=("signature-table",),
        )
    )

    # HTML only (Outlook, FR).
    top = Mail(
        "outlook",
        "fr",
        MARIE,
        (CLAIRE,),
        when(26, 14, 15),
        "Extension du contrat à notre site de Lille",
        para("""
            Bonjour Claire,

            nous envisageons d'étendre le contrat de maintenance à notre site de Lille, qui
            compte six imprimantes industrielles supplémentaires.

            Pourriez-vous nous adresser une proposition d'avenant avant la fin du mois ?
        """),
        closing="Bien cordialement,",
        sig=Signature(SIG_MARIE.lines, SIG_MARIE.expect, table=True),
        disclaimer=DISCLAIMER_FR,
    )
    cases.append(
        Case(
            "html-only-outlook-fr-signature-table",
            "fr",
            top,
            expect_direction="inbound",
            env=Envelope(text=False),
            features=("signature-table", "disclaimer"),
        )
    )

    # A broken body encoding: windows-1250 bytes labelled UTF-8 (headers are fine).
    top = Mail(
        "other",
        "pl",
        JAN,
        (ANNA,),
        when(26, 16, 5),
        "Potwierdzenie zamówienia nr ZK/2026/1182",
        para("""
            Dzień dobry,

            potwierdzamy przyjęcie zamówienia nr ZK/2026/1182. Towar zostanie wysłany z
            magazynu w Pruszkowie w ciągu trzech dni roboczych.

            Prosimy o sprawdzenie zgodności dostawy z dokumentem WZ przy odbiorze.
        """),
        closing="Pozdrawiam",
        sig=SIG_JAN,
    )
    cases.append(
        Case(
            "broken-charset-pl-windows-1250-labelled-utf-8",
            "pl",
            top,
            expect_direction="inbound",
            env=Envelope(charset="windows-1250", text_cte="8bit", html=False),
            patch=broken_charset,
            features=("broken-encoding",),
        )
    )

    # A subject whose encoded words cut multi-byte characters in two.
    top = Mail(
        "other",
        "es",
        LUCIA,
        (JAVIER,),
        when(26, 17, 30),
        "Ampliación de la instalación – fase dos",
        para("""
            Hola, Javier:

            tras el éxito de la primera fase, la dirección ha aprobado la ampliación de la
            instalación en Toledo. Nos gustaría empezar la segunda fase en febrero.

            ¿Podrían enviarnos una oferta actualizada?
        """),
        closing="Un saludo,",
        sig=SIG_LUCIA,
    )
    cases.append(
        Case(
            "split-encoded-words-es",
            "es",
            top,
            expect_direction="inbound",
            env=Envelope(header_style="split-b", html=False),
            features=("split-encoded-words", "name-pipe-title"),
        )
    )

    # Internal mail (Gmail, PL): everyone is in the org's domains.
    top = Mail(
        "gmail",
        "pl",
        ANNA,
        (PIOTR,),
        when(27, 8, 40),
        "Przekazanie klienta Stalmet",
        para("""
            Cześć Piotrze,

            od grudnia przejmujesz obsługę Stalmetu. Wszystkie otwarte tematy są w CRM, a
            najważniejsza jest reklamacja z listopada i negocjacje cen na 2027 rok.

            Umówmy się w poniedziałek na krótkie przekazanie.
        """),
        cc=(KASIA,),
        closing="Pozdrawiam",
        sig=SIG_ANNA_PL,
    )
    cases.append(Case("internal-gmail-pl", "pl", top, expect_direction="internal"))

    # Internal mail (Outlook, DE) with a colleague on a subdomain (sales.example.com).
    top = Mail(
        "outlook",
        "de",
        HANS,
        (JONAS,),
        when(27, 9, 15),
        "Übergabe Globex",
        para("""
            Hallo Jonas,

            ab Januar betreust du Globex. Die Jahresgespräche sind für den 14. Januar in
            München angesetzt, die Unterlagen liegen im Teamordner.

            Tomasz aus Warschau unterstützt dich bei den Lieferplänen.
        """),
        cc=(TOMASZ,),
        closing="Viele Grüße",
        sig=SIG_HANS_DE,
    )
    cases.append(
        Case(
            "internal-outlook-de-subdomain",
            "de",
            top,
            expect_direction="internal",
            features=("subdomain",),
        )
    )

    # BCC to log+private@: private.
    top = Mail(
        "gmail",
        "pl",
        ANNA,
        (JAN,),
        when(27, 12, 0),
        "Kolacja w przyszły czwartek",
        para("""
            Panie Janie,

            bardzo dziękuję za zaproszenie na kolację. Z przyjemnością dołączę w czwartek o
            19:00, proszę tylko o adres restauracji.
        """),
        closing="Pozdrawiam serdecznie",
        sig=SIG_ANNA_PL,
    )
    cases.append(
        Case(
            "token-private-bcc-gmail-pl",
            "pl",
            top,
            expect_direction="outbound",
            log_addr="log+private@crm.example.com",
            features=("token-private", "bcc"),
        )
    )

    # A ticket tag in the subject ([#T-7]) on a customer's reply.
    first = Mail(
        "outlook",
        "pl",
        KASIA,
        (JAN,),
        when(27, 10, 20),
        "Awaria czytnika kodów [#T-7]",
        para("""
            Dzień dobry,

            przyjęliśmy zgłoszenie awarii czytnika kodów. Serwisant skontaktuje się z Panem
            jutro do godziny 12.
        """),
        closing="Pozdrawiam",
        sig=sig(
            "Katarzyna Wójcik",
            "Koordynatorka Serwisu",
            "Example Polska Sp. z o.o.",
            expect=sig_expect(
                "Katarzyna Wójcik", "Koordynatorka Serwisu", "Example Polska Sp. z o.o."
            ),
        ),
    )
    top = Mail(
        "outlook",
        "pl",
        JAN,
        (KASIA,),
        when(27, 14, 50),
        "RE: Awaria czytnika kodów [#T-7]",
        para("""
            Dzień dobry,

            dziękuję. Czytnik nie odczytuje kodów z etykiet termicznych, skaner ręczny
            działa bez zarzutu. Będę dostępny jutro od 8:00.
        """),
        closing="Pozdrawiam",
        sig=SIG_JAN,
        disclaimer=RODO_ACME,
        quoted=first,
    )
    cases.append(
        Case(
            "token-ticket-subject-tag-outlook-pl",
            "pl",
            top,
            expect_direction="inbound",
            features=("token-ticket", "subject-tag", "reply", "outlook-reply-block", "rodo"),
        )
    )

    # A deal tag in the subject ([deal-42]).
    top = Mail(
        "outlook",
        "en",
        ANNA,
        (JOHN,),
        when(27, 16, 30),
        "Proposal – phase two [deal-42]",
        para("""
            Hi John,

            please find attached our proposal for phase two, covering the remaining five
            warehouses. The licence price per user stays the same as in phase one.

            I am happy to walk your team through it on a call next week.
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
    )
    cases.append(
        Case(
            "token-deal-subject-tag-outlook-en",
            "en",
            top,
            expect_direction="outbound",
            env=Envelope(
                attachments=(("application/pdf", "Proposal_phase_two.pdf", fake_pdf("Proposal")),)
            ),
            features=("token-deal", "subject-tag"),
        )
    )

    # BCC to log+ticket-7@ (the address is only in Delivered-To / X-Original-To).
    top = Mail(
        "outlook",
        "de",
        HANS,
        (KLAUS,),
        when(30, 9, 0),
        "Reparatur der Verpackungsanlage",
        para("""
            Sehr geehrter Herr Becker,

            unser Servicetechniker kommt am Mittwoch um 8 Uhr zu Ihnen, um den Antrieb der
            Verpackungsanlage zu reparieren. Bitte stellen Sie sicher, dass die Anlage dann
            außer Betrieb ist.
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_HANS_DE,
    )
    cases.append(
        Case(
            "token-ticket-bcc-outlook-de",
            "de",
            top,
            expect_direction="outbound",
            log_addr="log+ticket-7@crm.example.com",
            features=("token-ticket", "bcc"),
        )
    )

    # Outlook (FR) in windows-1252, quoted-printable (œ and the euro sign).
    top = Mail(
        "outlook",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(30, 10, 30),
        "Devis pour le cœur de réseau",
        para("""
            Bonjour Claire,

            suite à notre échange, le budget maximal pour le remplacement du cœur de réseau
            est de 18 000 € HT. Pouvez-vous adapter votre devis en conséquence ?

            Nous souhaitons une installation avant les congés de fin d'année.
        """),
        closing="Bien à vous,",
        sig=SIG_FRANCOIS,
    )
    cases.append(
        Case(
            "new-outlook-fr-windows-1252",
            "fr",
            top,
            expect_direction="inbound",
            env=Envelope(charset="windows-1252", header_style="charset:windows-1252"),
        )
    )

    # Thunderbird (ES) in ISO-8859-1, 8bit.
    top = Mail(
        "thunderbird",
        "es",
        CARLOS,
        (JAVIER,),
        when(30, 12, 15),
        "Formación para el nuevo equipo de Valencia",
        para("""
            Hola, Javier:

            ¿sería posible organizar una formación para el nuevo equipo de Valencia en la
            segunda quincena de enero? Serían seis personas.

            Nos vendría mejor una sesión presencial en nuestras oficinas.
        """),
        closing="Saludos,",
        sig=Signature(SIG_CARLOS.lines, SIG_CARLOS.expect, dashes=True),
    )
    cases.append(
        Case(
            "new-thunderbird-es-iso-8859-1-8bit",
            "es",
            top,
            expect_direction="inbound",
            env=Envelope(charset="iso-8859-1", header_style="charset:iso-8859-1"),
            features=("signature-dashes",),
        )
    )

    # A "Fwd:" subject that is not a forward: the sender deleted the forwarded text and kept
    # only the attachments and the subject.
    top = Mail(
        "gmail",
        "pl",
        KRZYSZTOF,
        (PIOTR,),
        when(30, 13, 40),
        "Fwd: Dokumenty do umowy",
        para("""
            Dzień dobry,

            w załączniku przesyłam skany dokumentów potrzebnych do umowy: dowód własności
            działki i projekt instalacji elektrycznej. Oryginały mogę pokazać technikowi
            przy montażu.
        """),
        closing="Pozdrawiam",
        sig=SIG_KRZYSZTOF,
        references=(),
    )
    cases.append(
        Case(
            "fwd-subject-not-a-forward-gmail-pl",
            "pl",
            top,
            expect_direction="inbound",
            env=Envelope(
                attachments=(("application/pdf", "dokumenty_umowa.pdf", fake_pdf("Dokumenty")),)
            ),
            features=("fwd-subject-not-forward", "free-mail"),
        )
    )

    # A display name written "Last, First" (quoted in the header), To and Cc.
    top = Mail(
        "outlook",
        "pl",
        JAN,
        (ANNA,),
        when(30, 15, 5),
        "Spotkanie w sprawie rozbudowy magazynu",
        para("""
            Dzień dobry,

            w imieniu zarządu zapraszam na spotkanie w sprawie rozbudowy magazynu w Pruszkowie.
            Proponujemy 8 grudnia o 10:00 w naszej siedzibie. Z naszej strony będzie także
            pan Adam Nowicki, który odpowiada za inwestycje.
        """),
        cc=(NOWICKI, PIOTR),
        closing="Pozdrawiam",
        sig=SIG_JAN,
        disclaimer=RODO_ACME,
    )
    cases.append(
        Case(
            "names-last-first-outlook-pl",
            "pl",
            top,
            expect_direction="inbound",
            features=("last-first-name", "rodo"),
        )
    )
    return cases


DAVID = Person("David Byrne", "david.byrne@northwind.ie")
FORUM = Person("Supply Chain Forum", "supply-chain-forum@lists.logisticsforum.org")
NEWSLETTER = Person("Logistyka Dziś", "newsletter@logistykadzis.pl")
DAEMON = Person("Mail Delivery System", "Mailer-Daemon@mx2.hooli.com")


def case_by_name(batch: Callable[[], list[Case]], name: str) -> Case:
    return next(c for c in batch() if c.name == name)


def dsn_bounce(m: Mail, bounced: Mail, failed: str) -> bytes:
    """An Exim delivery status notification (multipart/report, headers of the returned mail)."""
    bnd = f"{int(m.date.timestamp())}-eximdsn-1804289383"
    local_id = m.message_id.strip("<>").split("@")[0][1:]
    stamp = rfc5322_date(m.date)
    returned = build(bounced, Envelope(html=False)).split(b"\r\n\r\n", 1)[0].decode("ascii")
    text = m.text.replace("\n", CRLF)
    lines = [
        "Return-Path: <>",
        "X-Original-To: log@crm.example.com",
        "Delivered-To: log@crm.example.com",
        "Received: from mx2.hooli.com (mx2.hooli.com [198.51.100.25])",
        "\tby mx1.example.com (Postfix) with ESMTPS id 7F2C1A0B3D",
        f"\tfor <{bounced.sender.email}>; {stamp}",
        "Received: from mailnull by mx2.hooli.com with local (Exim 4.98)",
        f"\tid {local_id}",
        f"\tfor {bounced.sender.email}; {stamp}",
        f"X-Failed-Recipients: {failed}",
        "Auto-Submitted: auto-replied",
        f"From: {m.sender.name} <{m.sender.email}>",
        f"To: {bounced.sender.email}",
        f"Content-Type: multipart/report; report-type=delivery-status; boundary={bnd}",
        "MIME-Version: 1.0",
        f"Subject: {m.subject}",
        f"Message-Id: {m.message_id}",
        f"Date: {stamp}",
        "",
        f"--{bnd}",
        "Content-type: text/plain; charset=us-ascii",
        "",
        text,
        "",
        f"--{bnd}",
        "Content-type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx2.hooli.com",
        "",
        "Action: failed",
        f"Final-Recipient: rfc822;{failed}",
        "Status: 5.0.0",
        "Remote-MTA: dns; mx2.hooli.com",
        "Diagnostic-Code: smtp; 550 5.1.1 No such user here",
        "",
        f"--{bnd}",
        "Content-type: text/rfc822-headers",
        "",
        returned,
        "",
        f"--{bnd}--",
        "",
    ]
    return CRLF.join(lines).encode("ascii")


def batch_automated() -> list[Case]:
    """Newsletters and lists, out-of-office replies, a bounce; a few more clients."""
    cases: list[Case] = []

    # A newsletter: List-Id, List-Unsubscribe (one-click) and Precedence: bulk.
    top = Mail(
        "other",
        "pl",
        NEWSLETTER,
        (ANNA,),
        when(26, 6, 0),
        "Logistyka Dziś – przegląd tygodnia nr 47",
        para("""
            Dzień dobry,

            w tym tygodniu piszemy o nowych przepisach dotyczących e-faktur w transporcie, o
            rosnących stawkach najmu powierzchni magazynowych w Polsce centralnej oraz o tym,
            jak automatyzacja kompletacji skraca czas realizacji zamówień.

            Zapraszamy także na bezpłatny webinar „Magazyn 2027”, który odbędzie się 10
            grudnia o godzinie 11:00.
        """),
        closing="Pozdrawiamy,",
        sig=sig("Redakcja Logistyka Dziś", expect=None),
    )
    extra = (
        ("List-Id", "Logistyka Dzis <newsletter.logistykadzis.pl>"),
        (
            "List-Unsubscribe",
            "<https://logistykadzis.pl/wypisz?u=8f3a2c91>,"
            f"{CRLF} <mailto:wypisz@logistykadzis.pl?subject=unsubscribe>",
        ),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
        ("X-Mailer", "Newsletter Engine 4.2"),
    )
    cases.append(
        Case(
            "bulk-newsletter-pl",
            "pl",
            top,
            expect_direction="inbound",
            bulk=True,
            env=Envelope(extra=extra),
            features=("newsletter", "signature-no-person"),
        )
    )

    # A mailing-list post: List-Id and Precedence: list; To is the list.
    top = Mail(
        "other",
        "en",
        DAVID,
        (FORUM,),
        when(26, 19, 20),
        "RFID tags on returnable crates",
        para("""
            Hello all,

            has anyone here run RFID tags on returnable plastic crates at scale? We are
            seeing read rates of around 92% at our dock doors and would like to know whether
            that is typical or a sign of a bad antenna setup.

            Any experience with tag placement would be much appreciated.
        """),
        closing="Thanks in advance,",
        sig=sig(
            "David Byrne",
            "Warehouse Systems Lead",
            "Northwind Logistics Ltd",
            "T: +353 1 437 0192",
            expect=sig_expect(
                "David Byrne",
                "Warehouse Systems Lead",
                "Northwind Logistics Ltd",
                ("+35314370192",),
            ),
        ),
    )
    extra = (
        ("List-Id", "Supply Chain Forum <supply-chain-forum.lists.logisticsforum.org>"),
        ("List-Post", "<mailto:supply-chain-forum@lists.logisticsforum.org>"),
        (
            "List-Unsubscribe",
            "<mailto:supply-chain-forum-leave@lists.logisticsforum.org>",
        ),
        ("Precedence", "list"),
    )
    cases.append(
        Case(
            "bulk-mailing-list-en",
            "en",
            top,
            expect_direction="inbound",
            bulk=True,
            env=Envelope(extra=extra, html=False),
            features=("mailing-list",),
        )
    )

    # Out of office (PL), a Sieve vacation responder: Auto-Submitted: auto-replied (vacation).
    offer = case_by_name(batch_new_messages, "new-outlook-pl-iso-8859-2-qp").top
    top = Mail(
        "other",
        "pl",
        ZBIGNIEW,
        (PIOTR,),
        when(25, 8, 31),
        "Nieobecność w biurze do 30 listopada",
        para("""
            Dzień dobry,

            do 30 listopada przebywam na urlopie i mam ograniczony dostęp do poczty. W pilnych
            sprawach proszę o kontakt z biurem firmy pod numerem 61 852 44 10.
        """),
        closing="Pozdrawiam",
        sig=sig("Zbigniew Wróbel", expect=sig_expect("Zbigniew Wróbel")),
        references=(offer.message_id,),
    )
    cases.append(
        Case(
            "auto-out-of-office-pl-vacation",
            "pl",
            top,
            expect_direction="inbound",
            auto=True,
            env=Envelope(html=False, extra=(("Auto-Submitted", "auto-replied (vacation)"),)),
            features=("out-of-office", "signature-name-only"),
        )
    )

    # Out of office (DE), Gmail's vacation responder: Auto-Submitted: auto-replied.
    top = Mail(
        "gmail",
        "de",
        SABINE,
        (HANS,),
        when(30, 9, 1),
        "Abwesenheitsnotiz: bis 4. Dezember nicht im Büro",
        para("""
            Vielen Dank für Ihre Nachricht.

            Ich bin bis einschließlich 4. Dezember nicht im Büro und habe keinen Zugriff auf
            meine E-Mails. In dringenden Fällen wenden Sie sich bitte an unsere Disposition
            unter dispo@nordlicht-logistik.de.
        """),
        closing="Viele Grüße",
        sig=sig("Sabine Müller", expect=sig_expect("Sabine Müller")),
        references=(
            make_message_id(
                Mail(
                    "outlook",
                    "de",
                    HANS,
                    (SABINE,),
                    when(30, 9, 0),
                    "Tourenplanung Januar",
                    "Hallo Frau Müller,",
                )
            ),
        ),
    )
    cases.append(
        Case(
            "auto-out-of-office-de-gmail-vacation",
            "de",
            top,
            expect_direction="inbound",
            auto=True,
            env=Envelope(extra=(("Auto-Submitted", "auto-replied"),)),
            features=("out-of-office", "signature-name-only"),
        )
    )

    # Out of office (FR) flagged only with X-Autoreply.
    top = Mail(
        "other",
        "fr",
        MARIE,
        (CLAIRE,),
        when(30, 11, 12),
        "Absence jusqu'au 7 décembre",
        para("""
            Bonjour,

            je suis absente jusqu'au 7 décembre inclus, avec un accès limité à mes e-mails.
            Pour toute demande urgente, merci de contacter le service achats.
        """),
        closing="Cordialement,",
        sig=sig("Marie Dubois", expect=sig_expect("Marie Dubois")),
    )
    cases.append(
        Case(
            "auto-out-of-office-fr-x-autoreply",
            "fr",
            top,
            expect_direction="inbound",
            auto=True,
            env=Envelope(html=False, extra=(("X-Autoreply", "yes"),)),
            features=("out-of-office", "signature-name-only"),
        )
    )

    # Out of office (ES) flagged only with X-Autorespond.
    top = Mail(
        "other",
        "es",
        CARLOS,
        (JAVIER,),
        when(30, 16, 40),
        "Fuera de la oficina hasta el 9 de diciembre",
        para("""
            Buenas tardes:

            estaré fuera de la oficina hasta el 9 de diciembre. Durante mi ausencia, para
            cualquier asunto urgente, pueden dirigirse a mi compañera Elena Torres.
        """),
        closing="Un saludo,",
        sig=sig("Carlos García", expect=sig_expect("Carlos García")),
    )
    cases.append(
        Case(
            "auto-out-of-office-es-x-autorespond",
            "es",
            top,
            expect_direction="inbound",
            auto=True,
            env=Envelope(html=False, extra=(("X-Autorespond", "yes"),)),
            features=("out-of-office", "signature-name-only"),
        )
    )

    # A bounce (DSN) from MAILER-DAEMON: multipart/report; report-type=delivery-status.
    bounced = Mail(
        "gmail",
        "en",
        ANNA,
        (Person("John Smith", "j.smith@hooli.com"),),
        when(24, 15, 2),
        "Pilot project – follow-up",
        "Hi John, a short follow-up on the pilot scope.",
    )
    text = (
        "This message was created automatically by mail delivery software.\n"
        "\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n"
        "\n"
        "  j.smith@hooli.com\n"
        "    No such user here"
    )
    top = Mail(
        "exim",
        "en",
        DAEMON,
        (Person(None, ANNA.email),),
        when(24, 14, 2, 41, tz=0),
        "Mail delivery failed: returning message to sender",
        text,
        message_id="<E1vKx2p-0004Qd-3T@mx2.hooli.com>",
        references=(),
    )
    cases.append(
        Case(
            "bounce-dsn-mailer-daemon-en",
            "en",
            top,
            expect_direction="inbound",
            auto=True,
            bounce=True,
            raw=dsn_bounce(top, bounced, "j.smith@hooli.com"),
            features=("dsn",),
        )
    )

    # Outlook in plain-text mode (PL): "-----Wiadomość oryginalna-----" under "PD:".
    orig = Mail(
        "thunderbird",
        "pl",
        AGNIESZKA,
        (PIOTR,),
        when(30, 8, 10),
        "Próbki zawiasów",
        para("""
            Dzień dobry,

            dziękujemy za przesłane próbki. Zawiasy przeszły nasze testy wytrzymałościowe,
            natomiast prowadnice wymagają jeszcze sprawdzenia przy pełnym obciążeniu.

            Wyniki przekażę do końca tygodnia.
        """),
        closing="Pozdrawiam",
        sig=SIG_AGNIESZKA,
    )
    top = Mail(
        "outlook-plain",
        "pl",
        PIOTR,
        (LOG,),
        when(30, 8, 45),
        "PD: Próbki zawiasów",
        "Do CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-outlook-plain-pl-wiadomosc-oryginalna",
            "pl",
            top,
            expect_direction="inbound",
            features=("original-message-separator", "phone-extension"),
        )
    )

    # Outlook desktop (EN), three messages deep: Thread-Index grows by 5 bytes per reply.
    first = Mail(
        "outlook",
        "en",
        ANNA,
        (JOHN,),
        when(27, 9, 0),
        "Phase two – licence count",
        para("""
            Hi John,

            before we finalise the phase two proposal, could you confirm the number of users
            per warehouse?
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
    )
    second = Mail(
        "outlook",
        "en",
        JOHN,
        (ANNA,),
        when(27, 11, 40),
        "RE: Phase two – licence count",
        para("""
            Hi Anna,

            it is 12 users per warehouse, except Rotterdam, which needs 20.
        """),
        closing="Best regards,",
        sig=SIG_JOHN,
        quoted=first,
    )
    top = Mail(
        "outlook",
        "en",
        ANNA,
        (JOHN,),
        when(27, 12, 5),
        "RE: Phase two – licence count",
        para("""
            Thanks John, that makes 68 users in total. I will send the updated proposal
            tomorrow morning.
        """),
        closing="Best regards,",
        sig=SIG_ANNA_EN,
        quoted=second,
    )
    cases.append(
        Case(
            "reply-outlook-en-thread-index-three-deep",
            "en",
            top,
            expect_direction="outbound",
            features=("reply", "outlook-reply-block"),
        )
    )

    # Apple Mail (FR), new message with a "-- " signature; Apple (ES), HTML with the signature
    # in a table.
    top = Mail(
        "apple",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(30, 17, 5),
        "Inventaire de fin d'année",
        para("""
            Bonjour Claire,

            notre inventaire de fin d'année aura lieu du 28 au 30 décembre. Aucune livraison
            ne pourra être réceptionnée sur notre site de Lyon pendant ces trois jours.

            Merci d'en tenir compte dans vos plannings.
        """),
        closing="Bien à vous,",
        sig=Signature(SIG_FRANCOIS.lines, SIG_FRANCOIS.expect, dashes=True),
    )
    cases.append(
        Case(
            "new-apple-fr-signature-dashes",
            "fr",
            top,
            expect_direction="inbound",
            features=("signature-dashes",),
        )
    )
    top = Mail(
        "apple",
        "es",
        LUCIA,
        (JAVIER,),
        when(30, 17, 45),
        "Calendario de mantenimiento 2027",
        para("""
            Hola, Javier:

            le propongo fijar las revisiones de mantenimiento de 2027 en abril y en octubre,
            fuera de los meses de mayor producción.

            ¿Le parece bien?
        """),
        closing="Un saludo,",
        sig=Signature(SIG_LUCIA.lines, SIG_LUCIA.expect, table=True),
        disclaimer=DISCLAIMER_ES,
    )
    cases.append(
        Case(
            "new-apple-es-signature-table",
            "es",
            top,
            expect_direction="inbound",
            features=("signature-table", "name-pipe-title", "disclaimer"),
        )
    )
    return cases


def batch_more() -> list[Case]:
    """A visible logging address, a signature without a closing line, more forwards."""
    cases: list[Case] = []

    # Internal (OWA, EN) with the logging address visible in Cc: not a participant.
    top = Mail(
        "owa",
        "en",
        ANNA,
        (HANS,),
        when(30, 13, 0),
        "Hooli – handover notes",
        para("""
            Hi Hans,

            as agreed, here are my notes on the Hooli account before my holiday. Phase two is
            waiting for their legal review, and John Smith expects the revised proposal on
            Monday.

            Everything else is up to date in the CRM.
        """),
        cc=(LOG,),
        closing="Thanks,",
        sig=SIG_ANNA_EN,
    )
    cases.append(
        Case(
            "internal-owa-en-logging-address-in-cc",
            "en",
            top,
            expect_direction="internal",
            features=("logging-address-visible",),
        )
    )

    # A signature straight under the text, with no closing line (Outlook, EN).
    top = Mail(
        "outlook",
        "en-GB",
        EMILY,
        (ANNA,),
        when(30, 14, 25),
        "Leeds go-live checklist",
        para("""
            Hi Anna,

            attached is our go-live checklist for Leeds. Items 4 and 7 are still open on our
            side; everything else has been signed off by the site manager.

            Please add anything we have missed.
        """),
        cc=(MARTA,),
        sig=SIG_EMILY,
    )
    cases.append(
        Case(
            "new-outlook-en-signature-without-closing",
            "en",
            top,
            expect_direction="inbound",
            env=Envelope(
                attachments=(
                    ("application/pdf", "Leeds_go-live_checklist.pdf", fake_pdf("Checklist")),
                )
            ),
            features=("signature-without-closing",),
        )
    )

    # iPhone (ES): "Inicio del mensaje reenviado:" quoted with "> ".
    orig = Mail(
        "gmail",
        "es",
        LUCIA,
        (JAVIER,),
        when(26, 8, 15),
        "Pedido de repuestos para los inversores",
        para("""
            Buenos días, Javier:

            necesitamos cuatro ventiladores de repuesto para los inversores de la planta de
            Toledo. ¿Podrían enviarlos esta misma semana?

            Le adjunto las referencias de las piezas.
        """),
        closing="Un saludo,",
        sig=SIG_LUCIA,
    )
    top = Mail(
        "iphone",
        "es",
        JAVIER,
        (LOG,),
        when(26, 8, 50),
        "Fwd: Pedido de repuestos para los inversores",
        "Para el CRM.",
        sig=iphone_sig("es"),
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-iphone-es-quoted-forward",
            "es",
            top,
            expect_direction="inbound",
            features=("iphone-forward", "name-pipe-title"),
        )
    )

    # A rep forwards his own sent reply (OWA, DE, "WG: AW:"): the innermost message is his
    # reply, outbound; its quoted history is not reply text.
    first = Mail(
        "outlook",
        "de",
        KLAUS,
        (HANS,),
        when(27, 8, 30),
        "Lieferzeiten 2027",
        para("""
            Guten Morgen Herr Weber,

            mit welchen Lieferzeiten müssen wir im ersten Quartal 2027 für die Sensoren
            rechnen?
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_KLAUS,
    )
    reply = Mail(
        "outlook",
        "de",
        HANS,
        (KLAUS,),
        when(27, 10, 5),
        "AW: Lieferzeiten 2027",
        para("""
            Guten Morgen Herr Becker,

            im ersten Quartal liegen die Lieferzeiten bei etwa sechs Wochen. Wenn Sie bis
            Mitte Dezember bestellen, können wir die Lieferung für Ende Januar zusagen.
        """),
        closing="Mit freundlichen Grüßen",
        sig=SIG_HANS_DE,
        quoted=first,
    )
    top = Mail(
        "owa",
        "de",
        HANS,
        (LOG,),
        when(27, 10, 20),
        "WG: AW: Lieferzeiten 2027",
        "",
        forward=reply,
    )
    cases.append(
        Case(
            "fwd-owa-de-own-reply-outbound",
            "de",
            top,
            expect_direction="outbound",
            features=("owa-forward", "reply-inside-forward", "empty-note"),
        )
    )

    # Thunderbird forwarding a French Outlook message.
    orig = Mail(
        "outlook",
        "fr",
        FRANCOIS,
        (CLAIRE,),
        when(27, 9, 10),
        "Nouvelle adresse de livraison",
        para("""
            Bonjour Claire,

            à partir du 1er janvier, merci de livrer nos commandes à notre nouvel entrepôt :
            ZI des Béthunes, 95310 Saint-Ouen-l'Aumône. L'ancienne adresse de Lyon reste
            valable jusqu'à la fin de l'année.
        """),
        closing="Bien à vous,",
        sig=SIG_FRANCOIS,
    )
    top = Mail(
        "thunderbird",
        "fr",
        CLAIRE,
        (LOG,),
        when(27, 9, 40),
        "Fwd: Nouvelle adresse de livraison",
        "Pour le CRM.",
        forward=orig,
    )
    cases.append(
        Case(
            "fwd-thunderbird-fr-subject-first",
            "fr",
            top,
            expect_direction="inbound",
            features=("thunderbird-forward",),
        )
    )
    return cases


# --------------------------------------------------------------------------------------------
# Generation and checks
# --------------------------------------------------------------------------------------------

BATCHES: list[Callable[[], list[Case]]] = [
    batch_forwards_outlook,
    batch_forwards_other,
    batch_replies_a,
    batch_replies_b,
    batch_new_messages,
    batch_automated,
    batch_more,
]

JSON_KEYS = [
    "message_id",
    "subject",
    "date",
    "from",
    "direction",
    "forwarded",
    "forwarded_by",
    "original_sender",
    "original_date",
    "participants",
    "reply_text",
    "signature",
    "thread",
    "tokens",
    "bulk",
    "auto_generated",
    "bounce",
    "language",
    "defects",
]
SIGNATURE_KEYS = ["name", "title", "company", "phones", "emails", "website", "address"]
THREAD_KEYS = ["message_id", "in_reply_to", "references", "thread_index", "normalized_subject"]
TOKEN_KEYS = ["deal", "ticket", "private"]
LANGUAGES = ("pl", "en", "de", "fr", "es")


def all_cases() -> list[Case]:
    cases = [c for batch in BATCHES for c in batch()]
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise AssertionError(f"duplicate case names: {sorted(dupes)}")
    ids = [c.top.message_id for c in cases]
    if len(set(ids)) != len(ids):
        raise AssertionError("two cases share a Message-ID")
    for case in cases:
        sanity(case)
    return cases


FORWARD_PREFIX = re.compile(r"^(?:\[EXTERNAL\] )?(?:Fwd?|FW|Fw|WG|TR|RV|PD) ?:", re.I)
REPLY_PREFIX = re.compile(r"^(?:\[EXTERNAL\] )?(?:Re|RE|AW|Odp|Réf) ?:", re.I)


def sanity(case: Case) -> None:
    """Guards against describing something a client would not send."""
    top = case.top
    chain = [top]
    while chain[-1].forward is not None or chain[-1].quoted is not None:
        nxt = chain[-1].forward or chain[-1].quoted
        assert nxt is not None
        chain.append(nxt)
    for m in chain:
        if m.forward is not None and not FORWARD_PREFIX.match(m.subject):
            raise AssertionError(f"{case.name}: a forward without a forward prefix: {m.subject}")
        if m.quoted is not None and not REPLY_PREFIX.match(m.subject):
            raise AssertionError(f"{case.name}: a reply without a reply prefix: {m.subject}")
        if m.forward is not None and m.forward.date.second:
            raise AssertionError(f"{case.name}: forwarded dates are shown without seconds")
        if m.sig is not None and any(len(x) > 70 for x in m.sig.lines):
            raise AssertionError(f"{case.name}: a signature line would be wrapped")
        if m.sig is not None:
            check_signature(m.sig, case.name)
        if (m.quoted or m.forward) and (m.quoted or m.forward).date >= m.date:  # type: ignore[union-attr]
            raise AssertionError(f"{case.name}: history newer than the message")
    if case.lang not in LANGUAGES:
        raise AssertionError(f"{case.name}: language {case.lang}")


def render_case(case: Case) -> bytes:
    if case.raw is not None:
        data = case.raw
    else:
        env = case.env
        if case.attached is not None:
            inner = build(case.attached, case.attached_env)
            name = re.sub(r"[^\w\- .]", "", case.attached.subject).strip() + ".eml"
            env.attached_messages = ((name, inner),)
        if not env.trace:
            logs = [p.email for p in (*case.top.to, *case.top.cc) if is_logging(p.email)]
            to = case.log_addr or (logs[0] if logs else "log@" + LOGGING_DOMAIN)
            env.trace = trace(to, case.name, case.top.date, return_path=case.top.sender.email)
        data = build(case.top, env)
    if case.patch is not None:
        data = case.patch(data)
    return data


def generate(out: Path = HERE) -> list[Case]:
    cases = all_cases()
    keep = set()
    for case in cases:
        data = render_case(case)
        (out / f"{case.name}.eml").write_bytes(data)
        doc = json.dumps(expected(case), ensure_ascii=False, indent=2) + "\n"
        (out / f"{case.name}.json").write_text(doc, encoding="utf-8")
        keep |= {f"{case.name}.eml", f"{case.name}.json"}
    for stale in [*out.glob("*.eml"), *out.glob("*.json")]:
        if stale.name not in keep:
            stale.unlink()
    return cases


PHONE_RX = re.compile(r"(?<![\w+])(\+|00)?\(?\d[\d ()./-]{6,}\d")


def sig_phones(line: str) -> list[tuple[str, bool]]:
    """Phone numbers in one signature line, each with whether a fax label precedes it."""
    import phonenumbers

    out = []
    for m in PHONE_RX.finditer(line):
        label = line[: m.start()].lower()
        label = re.split(r"[,|;]", label)[-1]
        number = phonenumbers.parse(m.group(), "PL")
        if not phonenumbers.is_valid_number(number):
            raise AssertionError(f"invalid phone number in signature: {line!r}")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        out.append((e164, "fax" in label))
    return out


def check_signature(s: Signature, where: str) -> None:
    """The expected signature fields really are in the signature lines."""
    text = "\n".join(s.lines)
    phones = sorted(p for line in s.lines for p, fax in sig_phones(line) if not fax)
    if s.expect is None:
        return
    if phones != s.expect["phones"]:
        raise AssertionError(f"{where}: phones {phones} != {s.expect['phones']}")
    for key in ("name", "title", "company", "website", "address"):
        value = s.expect[key]
        if value is not None and str(value) not in text:
            raise AssertionError(f"{where}: signature {key} {value!r} not in the lines")
    for e in s.expect["emails"]:  # type: ignore[attr-defined]
        if e not in text.lower():
            raise AssertionError(f"{where}: signature e-mail {e} not in the lines")


class _Text(HTMLParser):
    """HTML to text for the checks: tags become spaces, scripts and styles are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self.skip += 1
        self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self.skip -= 1
        self.out.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def collapse(s: str) -> str:
    return " ".join(s.split())


def body_texts(msg: EmailMessage) -> list[str]:
    """Every text part (including inside attached messages) as collapsed text, quotes removed."""
    out = []
    for part in msg.walk():
        if part.get_content_maintype() != "text" or part.get_content_subtype() not in (
            "plain",
            "html",
        ):
            continue
        raw = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        try:
            text = raw.decode(charset)
        except UnicodeDecodeError:
            text = raw.decode("windows-1250")  # the deliberately mislabelled message
        if part.get_content_subtype() == "html":
            p = _Text()
            p.feed(text)
            text = "".join(p.out)
        text = "\n".join(re.sub(r"^(?:> ?)+", "", line) for line in text.splitlines())
        out.append(collapse(text))
    return out


def check(out: Path = HERE) -> int:
    """Validate the corpus on disk; print counts. Returns the number of problems."""
    cases = {c.name: c for c in all_cases()}
    problems: list[str] = []
    emls = sorted(out.glob("*.eml"))
    jsons = sorted(out.glob("*.json"))
    if {p.stem for p in emls} != {p.stem for p in jsons}:
        problems.append("every .eml needs its .json and the other way round")
    if {p.stem for p in emls} != set(cases):
        problems.append("the files on disk are not the cases of this script: regenerate")
    parser = BytesParser(policy=policy.default)
    by_lang: dict[str, int] = {}
    features: dict[str, int] = {}

    def feature(name: str) -> None:
        features[name] = features.get(name, 0) + 1

    for path in emls:
        name = path.stem
        data = path.read_bytes()
        if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
            problems.append(f"{name}: not CRLF throughout")
        if any(len(line) > 998 for line in data.split(b"\r\n")):
            problems.append(f"{name}: a line longer than 998 octets")
        try:
            msg = parser.parsebytes(data)
            headers = {k.lower(): str(v) for k, v in msg.items()}
            texts = body_texts(msg)  # type: ignore[arg-type]
        except Exception as exc:
            problems.append(f"{name}: does not parse: {exc!r}")
            continue
        for defect in msg.defects:
            problems.append(f"{name}: MIME defect {defect!r}")
        doc = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        if list(doc) != JSON_KEYS:
            problems.append(f"{name}: keys {list(doc)}")
            continue
        if list(doc["thread"]) != THREAD_KEYS or list(doc["tokens"]) != TOKEN_KEYS:
            problems.append(f"{name}: thread or tokens keys")
        if doc["signature"] is not None and list(doc["signature"]) != SIGNATURE_KEYS:
            problems.append(f"{name}: signature keys")
        for p in doc["participants"]:
            if list(p) != ["email", "name", "role"] or p["role"] not in ("from", "to", "cc"):
                problems.append(f"{name}: participant {p}")
        # The expectation agrees with what the standard library reads in the headers.
        if headers.get("message-id") != doc["message_id"]:
            problems.append(f"{name}: Message-ID")
        if headers.get("subject") != doc["subject"]:
            problems.append(f"{name}: Subject {headers.get('subject')!r}")
        date = email.utils.parsedate_to_datetime(headers["date"]).astimezone(UTC).isoformat()
        if date != doc["date"]:
            problems.append(f"{name}: Date {date} != {doc['date']}")
        sender = msg["from"].addresses[0]
        if [sender.addr_spec.lower(), sender.display_name or None] != list(doc["from"].values()):
            problems.append(f"{name}: From {sender}")
        refs = headers.get("references", "").split()
        if refs != doc["thread"]["references"]:
            problems.append(f"{name}: References")
        if headers.get("in-reply-to") != doc["thread"]["in_reply_to"]:
            problems.append(f"{name}: In-Reply-To")
        if headers.get("thread-index") != doc["thread"]["thread_index"]:
            problems.append(f"{name}: Thread-Index")
        if not doc["forwarded"]:
            people = []
            for role in ("from", "to", "cc"):
                for a in getattr(msg[role], "addresses", ()) if msg[role] else ():
                    if not is_logging(a.addr_spec):
                        people.append([a.addr_spec.lower(), a.display_name or None, role])
            if people != [list(p.values()) for p in doc["participants"]]:
                problems.append(f"{name}: participants differ from the headers")
            if doc["original_date"] != doc["date"] or doc["original_sender"] != doc["from"]:
                problems.append(f"{name}: original_* of a message that is not a forward")
        else:
            body = " ".join(texts).lower() + data.decode("ascii", "replace").lower()
            for p in doc["participants"]:
                if p["email"] not in body:
                    problems.append(f"{name}: participant {p['email']} not in the body")
        reply = collapse(doc["reply_text"])
        if reply and not any(reply in t for t in texts):
            problems.append(f"{name}: reply_text not found in any body part")
        # Counts.
        case = cases.get(name)
        by_lang[doc["language"]] = by_lang.get(doc["language"], 0) + 1
        feature(f"direction: {doc['direction']}")
        feature("forwarded" if doc["forwarded"] else "not forwarded")
        if doc["signature"] is None:
            feature("signature: null")
        if doc["thread"]["thread_index"]:
            feature("Thread-Index")
        if doc["thread"]["in_reply_to"]:
            feature("In-Reply-To")
        for key in ("bulk", "auto_generated", "bounce"):
            if doc[key]:
                feature(key)
        if doc["tokens"] != {"deal": None, "ticket": None, "private": False}:
            feature("tokens")
        if case is not None:
            feature(f"client: {case.top.client}")
            for f in case.features:
                feature(f)
        types = {p.get_content_type() for p in msg.walk()}
        if "text/html" in types and "text/plain" not in types:
            feature("MIME: HTML only")
        if "text/plain" in types and "text/html" not in types:
            feature("MIME: text/plain only")
        if any(p.get_content_disposition() == "attachment" for p in msg.walk()):
            feature("MIME: attachment")
        if any(p.get_param("format") == "flowed" for p in msg.walk()):
            feature("MIME: format=flowed")
        plain = [p for p in msg.walk() if p.get_content_type() == "text/plain"]
        html_parts = [p for p in msg.walk() if p.get_content_type() == "text/html"]
        if any(re.search(r"(?m)^>", str(p.get_content())) for p in plain):
            feature("quoting: > lines")
        if any("<blockquote" in str(p.get_content()) for p in html_parts):
            feature("quoting: HTML blockquote")
        if any(p["role"] == "cc" for p in doc["participants"]):
            feature("participants: cc")
        if "multipart/alternative" in types:
            feature("MIME: multipart/alternative")
        if "message/rfc822" in types:
            feature("MIME: message/rfc822")
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                cte = str(part.get("content-transfer-encoding", "7bit")).lower()
                feature(f"CTE: {cte}")
                cs = (part.get_content_charset() or "us-ascii").lower()
                feature(f"charset: {cs}")
    total = len(emls)
    print(f"{total} messages")
    print("\nper language")
    for lang in LANGUAGES:
        n = by_lang.get(lang, 0)
        print(f"  {lang}  {n:3d}")
        if n < 12:
            problems.append(f"only {n} messages in {lang}")
    print("\nper feature (messages; CTE and charset count text parts)")
    for key in sorted(features):
        print(f"  {features[key]:3d}  {key}")
    if total < 90:
        problems.append(f"only {total} messages")
    for p in problems:
        print("PROBLEM:", p)
    print("\nOK" if not problems else f"\n{len(problems)} problems")
    return len(problems)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--check", action="store_true", help="validate the files on disk, no writing")
    args = ap.parse_args(argv)
    if args.check:
        return 1 if check() else 0
    cases = generate()
    print(f"wrote {len(cases)} messages to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
