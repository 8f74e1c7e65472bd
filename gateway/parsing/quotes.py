"""Quoted reply history in a message body, and the newest text above it.

:func:`strip_quotes` keeps the lines above the first *history marker*:

* an attribution line, "On <date>, Anna <anna@acme.pl> wrote:" and its Polish, German, French
  and Spanish forms (:func:`is_reply_header`), also when a mail client wrapped it over two
  lines (Gmail breaks long ones, often right after the ``<`` of the address);
* an Outlook-style header block: "From:/Od:/Von:/De :" followed within a few lines by
  "Sent:/Wysłano:/Gesendet:/Envoyé :/Enviado:" (or by a date, or by to and subject lines,
  when the sender has an address; or by a subject equal to ``subject_hint``), optionally
  below an underscore rule; also GMX/web.de's "Gesendet: <date>" right above "Von:";
* a separator line such as "-----Original Message-----" in one of the five languages (and,
  as a safety net, a forwarded-message separator: forwards are normally unwrapped before this
  module is called).

Then a *trailing* run of ``>`` lines (blank lines inside the run allowed) is removed together
with the attribution line just above it, which may be a loose one without a date
("Anna Kowalska wrote:"). HTML mail arrives here with ``<blockquote>`` text as ``> `` lines
(:mod:`~gateway.parsing.html`), so the same rule applies to it.

Inline answers: ``>`` lines followed further down by the writer's own unquoted text are
answers point by point and are kept, as is everything else up to the first marker; only the
trailing ``>`` run goes. An attribution line directly followed by ``>`` lines and then by
the writer's own text (bottom-posting, "On ... wrote:" on top and the answers below) is not
a marker either, unless what follows the quote is a footer rule (``-- ``, ``____``) or another
marker: mailing-list footers such as Google Groups' come after a ``-- `` line.

The work is bounded: at most :data:`MAX_CHARS` characters and :data:`MAX_LINES` lines are
read, every line is looked at a bounded number of times, headers are only matched on lines of
at most :data:`MAX_HEADER_CHARS` characters, and the regular expressions are anchored and have
no nested unbounded repetition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.parsing.classify import normalized_subject

MAX_CHARS = 200_000
MAX_LINES = 5_000
MAX_HEADER_CHARS = 500  # an attribution or header line longer than this is ordinary text
_HEADER_WINDOW = 6  # lines below "From:" that may hold "Sent:" and friends
_SEPARATOR_LOOKAHEAD = 3  # lines below an underscore rule that may hold "From:"

_QUOTED = re.compile(r"[ \t]{0,3}>")
# A date or a time: what every real attribution line has ("On Monday Anna wrote:" has none).
_DATEISH = re.compile(r"\d{1,2}:\d{2}|(?<!\d)(?:19|20)\d{2}(?!\d)|\d{1,4}[./-]\d{1,2}[./-]\d{2,4}")
_SENTENCE_END = re.compile(r"[.!?]$")


@dataclass(frozen=True, slots=True)
class _Rule:
    """One attribution format: how it starts, how it ends, and what it must contain."""

    start: re.Pattern[str]
    end: re.Pattern[str]
    middle: re.Pattern[str] | None = None
    dated: bool = True
    wraps: bool = True  # its start is specific enough to join it with the next line


def _rule(
    start: str, end: str, middle: str | None = None, dated: bool = True, wraps: bool = True
) -> _Rule:
    compiled = re.compile(middle) if middle else None
    return _Rule(re.compile(start), re.compile(end), compiled, dated, wraps)


_PL_WROTE = r"(?:pisze|napisał|napisała|napisał\(a\)|napisał/a|napisali)"
_RULES = (
    # en: Gmail "On Mon, Nov 2, 2026 at 9:30 AM Anna <anna@acme.pl> wrote:", Thunderbird
    # "On 02/11/2026 09:30, Anna wrote:", Apple Mail "On 2 Nov 2026, at 09:30, Anna wrote:",
    # Yahoo "On Monday, November 2, 2026, 09:30:00 AM GMT+1, Anna wrote:".
    _rule(r"On\s", r"\s(?:wrote|writes)\s?:$"),
    # Zoho: "---- On Mon, 02 Nov 2026 09:30:00 +0100 Anna <anna@acme.pl> wrote ----".
    _rule(r"-{2,8}\s?On\s", r"\swrote\s?-{2,8}$"),
    # pl: Thunderbird "W dniu 2.11.2026 o 09:30, Anna pisze:", Gmail "W dniu pon., 2 lis 2026
    # o 09:30 Anna <anna@acme.pl> napisał(a):", older webmail "Dnia 2.11.2026 Anna napisał(a):".
    _rule(r"(?:W\sdniu|Dnia)\s", r"\s" + _PL_WROTE + r"\s?:$"),
    # pl: Gmail "pon., 2 lis 2026 o 09:30 Anna Kowalska <anna@acme.pl> napisał(a):".
    _rule(r"(?:pon|wt|śr|czw|pt|sob|niedz|ndz|nd)\.?,?\s", r"\snapisał\(a\)\s?:$"),
    # pl: old Thunderbird "Użytkownik Anna Kowalska <anna@acme.pl> napisał:".
    _rule(r"Użytkownik\s", r"\s" + _PL_WROTE + r"\s?:$", dated=False),
    # de: Thunderbird "Am 02.11.2026 um 09:30 schrieb Anna <anna@acme.pl>:", Gmail
    # "Am Mo., 2. Nov. 2026 um 09:30 Uhr schrieb Anna <anna@acme.pl>:".
    _rule(r"Am\s", r":$", middle=r"\sschrieb\s"),
    _rule(r"Am\s", r"\sgeschrieben\s?:$"),
    # de: older clients "Anna Kowalska <anna@acme.pl> schrieb am 02.11.2026 um 09:30:".
    _rule(r"\S", r":$", middle=r"\sschrieb\sam\s", wraps=False),
    # en: Lotus Notes "Anna Kowalska/ACME wrote on 02/11/2026 09:30:47:".
    _rule(r"\S", r":$", middle=r"\swrote\son\s", wraps=False),
    # fr: Gmail "Le lun. 2 nov. 2026 à 09:30, Anna <anna@acme.pl> a écrit :" (often with a
    # no-break space before the colon), Thunderbird "Le 02/11/2026 à 09:30, Anna a écrit :".
    _rule(r"Le\s", r"\sa\sécrit\s?:$"),
    # es: Gmail "El lun, 2 nov 2026 a las 9:30, Anna (<anna@acme.pl>) escribió:".
    _rule(r"El\s", r"\sescribi[óo]\s?:$"),
)
_STARTS = tuple(rule.start for rule in _RULES if rule.wraps)

# Attribution lines without a date, accepted only right above ">" lines.
_LOOSE_END = re.compile(
    r"\s(?:wrote|writes|" + _PL_WROTE + r"|schrieb|a\sécrit|escribi[óo])\s?:$"
    r"|\sschrieb\s[^:]{1,300}:$"
)
_QUOTING = re.compile(r"(?:Quoting|Zitat\svon|Cytowanie|Citation|Citando\sa?)\s", re.IGNORECASE)

_KEY_TAIL = r"\s{0,2}:(?:\*{1,2})?\s{0,4}"
_FROM_KEY = re.compile(r"[ \t]{0,4}\*{0,2}(?:From|Od|Von|De)" + _KEY_TAIL, re.IGNORECASE)
_HEADER_KEY = re.compile(
    r"[ \t]{0,4}\*{0,2}(?:"
    r"(?P<sent>Sent|Wysłano|Wysłane|Gesendet|Envoyé|Enviado\sel|Enviado|Enviada)"
    r"|(?P<date>Date|Data|Datum|Fecha)"
    r"|(?P<to>To|Do|An|À|Para)"
    r"|(?P<subject>Subject|Temat|Betreff|Objet|Asunto)"
    r")" + _KEY_TAIL,
    re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"\s{0,4}-{2,20}\s{0,3}(?:"
    r"Original\sMessage|Ursprüngliche\sNachricht|Original-?Nachricht|Message\sd'origine"
    r"|Mensaje\soriginal|Wiadomość\soryginalna|Oryginalna\swiadomość"
    r"|Forwarded\smessage|Weitergeleitete\sNachricht|Message\stransféré|Mensaje\sreenviado"
    r"|Wiadomość\sprzekazana\sdalej|Przekazana\swiadomość"
    r")\s{0,3}-{2,20}\s*$",
    re.IGNORECASE,
)
_BEGIN_FORWARD = re.compile(
    r"\s{0,4}(?:Begin\sforwarded\smessage|Anfang\sder\sweitergeleiteten\sNachricht"
    r"|Début\sdu\smessage\sréexpédié|Inicio\sdel\smensaje\sreenviado"
    r"|Początek\sprzekazywanej\swiadomości|Początek\sprzekazanej\swiadomości)\s?:\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"\s{0,4}_{10,200}\s*$")
# A rule below quoted text: a signature delimiter or a mailing-list footer, not an answer.
_FOOTER_RULE = re.compile(r"\s{0,4}(?:[-_=*~]{2,200}\s*$|--\s)")


def is_reply_header(line: str) -> bool:
    """True for a one-line "On ... wrote:"-style attribution line in any supported language."""
    text = line.strip()
    if not text or len(text) > MAX_HEADER_CHARS:
        return False
    for rule in _RULES:
        if (
            rule.start.match(text)
            and rule.end.search(text)
            and (rule.middle is None or rule.middle.search(text))
            and (not rule.dated or _DATEISH.search(text))
        ):
            return True
    return False


def _is_loose_attribution(line: str) -> bool:
    """An attribution with or without a date ("Anna Kowalska wrote:")."""
    text = line.strip()
    if not text or len(text) > MAX_HEADER_CHARS or text.startswith(">"):
        return False
    if _LOOSE_END.search(text) or is_reply_header(text):
        return True
    return bool(_QUOTING.match(text)) and text.endswith(":")


def strip_quotes(text: str, subject_hint: str = "") -> str:
    """The newest text of a message: everything above the first quoted-history marker, with
    trailing whitespace and trailing empty lines removed."""
    body = _Body(text, subject_hint)
    return "\n".join(body.lines[: body.newest_end()]).rstrip()


class _Body:
    def __init__(self, text: str, subject_hint: str) -> None:
        text = text[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
        self.lines = text.split("\n", MAX_LINES)[:MAX_LINES]
        self.blank = [not line.strip() for line in self.lines]
        self.quoted = [bool(_QUOTED.match(line)) for line in self.lines]
        self.subject = normalized_subject(subject_hint).casefold()

    def newest_end(self) -> int:
        """How many lines are new: above the first marker, without a trailing quote."""
        return self._trailing_quote_start(self._first_marker())

    def _first_marker(self) -> int:
        lines, n = self.lines, len(self.lines)
        i = 0
        while i < n:
            if self.blank[i] or self.quoted[i]:
                i += 1
                continue
            span = self._attribution(i)
            loose = not span and _is_loose_attribution(lines[i])
            if span or loose:
                after = self._quote_run_end(i + (span or 1))
                if after is None:
                    if span:
                        return i
                    i += 1
                    continue
                if after < n and not self._ends_quote(after):
                    i = after  # answers below the quote: bottom-posting or inline
                    continue
                return i
            if self._header_block(i) or self._separator(i):
                return i
            i += 1
        return n

    def _attribution(self, i: int) -> int:
        """Lines (1 or 2) of a dated attribution starting at line ``i``; 0 if there is none."""
        line = self.lines[i]
        if is_reply_header(line):
            return 1
        first = line.strip()
        if (
            i + 1 >= len(self.lines)
            or self.blank[i + 1]
            or self.quoted[i + 1]
            or len(first) > MAX_HEADER_CHARS
            or _SENTENCE_END.search(first)
            or not any(start.match(first) for start in _STARTS)
        ):
            return 0
        second = self.lines[i + 1].strip()
        if len(second) > MAX_HEADER_CHARS:
            return 0
        return 2 if is_reply_header(f"{first} {second}") else 0

    def _quote_run_end(self, j: int) -> int | None:
        """If the next non-blank line from ``j`` is quoted: the line after that quoted run."""
        n = len(self.lines)
        while j < n and self.blank[j]:
            j += 1
        if j >= n or not self.quoted[j]:
            return None
        while j < n and (self.quoted[j] or self.blank[j]):
            j += 1
        return j

    def _ends_quote(self, k: int) -> bool:
        """Line ``k`` (unquoted, below a quote) is a marker or a footer, not an answer."""
        line = self.lines[k]
        if len(line) <= MAX_HEADER_CHARS and _FOOTER_RULE.match(line):
            return True
        if self._attribution(k) or self._header_block(k) or self._separator(k):
            return True
        return _is_loose_attribution(line) and self._quote_run_end(k + 1) is not None

    def _header_block(self, i: int) -> bool:
        """An Outlook-style "From: / Sent: / To: / Subject:" block starts at line ``i``."""
        line = self.lines[i]
        match = _FROM_KEY.match(line)
        if match is None:
            return self._sent_first_block(i)
        value = line[match.end() :].strip()
        if not value or value[0].isdigit():
            return False
        address = "@" in value
        keys: set[str] = set()
        hinted = False
        for j in range(i + 1, min(len(self.lines), i + 1 + _HEADER_WINDOW)):
            key = _HEADER_KEY.match(self.lines[j])
            if key is None or key.lastgroup is None:
                continue
            keys.add(key.lastgroup)
            if key.lastgroup == "subject" and self.subject:
                subject = self.lines[j][key.end() : key.end() + 1000]
                hinted = hinted or normalized_subject(subject).casefold() == self.subject
        if "sent" in keys or hinted:
            return True
        return address and ("date" in keys or {"to", "subject"} <= keys)

    def _sent_first_block(self, i: int) -> bool:
        """GMX and web.de put the date first: "Gesendet: <date>" right above "Von: <sender>"."""
        line = self.lines[i]
        key = _HEADER_KEY.match(line)
        if (
            key is None
            or key.lastgroup != "sent"
            or not _DATEISH.search(line[key.end() : key.end() + 100])
        ):
            return False
        for j in range(i + 1, min(len(self.lines), i + 3)):
            sender = _FROM_KEY.match(self.lines[j])
            if sender is not None:
                value = self.lines[j][sender.end() :].strip()
                return bool(value) and not value[0].isdigit()
        return False

    def _separator(self, i: int) -> bool:
        """An "-----Original Message-----"-style line, or an underscore rule above "From:"."""
        line = self.lines[i]
        if len(line) > MAX_HEADER_CHARS:
            return False
        if _ORIGINAL.match(line) or _BEGIN_FORWARD.match(line):
            return True
        if not _UNDERSCORES.match(line):
            return False
        for j in range(i + 1, min(len(self.lines), i + 1 + _SEPARATOR_LOOKAHEAD)):
            if not self.blank[j]:
                return self._header_block(j)
        return False

    def _trailing_quote_start(self, end: int) -> int:
        """``end`` without a trailing run of quoted lines and the attribution just above it."""
        while end > 0 and self.blank[end - 1]:
            end -= 1
        if end == 0 or not self.quoted[end - 1]:
            return end
        start = end
        while start > 0 and (self.quoted[start - 1] or self.blank[start - 1]):
            start -= 1
        if start >= 2 and self._attribution(start - 2) == 2:
            return start - 2
        if start >= 1 and _is_loose_attribution(self.lines[start - 1]):
            wrapped = start >= 2 and self.lines[start - 2].rstrip().endswith("<")
            return start - 2 if wrapped else start - 1
        return start
