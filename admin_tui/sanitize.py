"""The one sanitiser every piece of email-derived text passes through before the TUI shows it.

Email is hostile: a subject can carry terminal escapes (CSI, OSC 52 that writes the clipboard,
OSC 8 hyperlinks), C1 controls that some terminals read as escapes, bidi overrides that reorder
what the admin reads, zero-width characters that hide differences, Rich markup, a 1 MB line or
a 100,000-line body. Here every such character becomes a visible, inert marker:

- C0 controls and DEL: their Unicode control pictures (``ESC`` → ``␛``, ``BEL`` → ``␇``);
- C1 controls, bidi and other format characters (zero-width, BOM), line and paragraph
  separators, surrogates and unassigned code points: ``⟨U+202E⟩``;

and the result is a :class:`rich.text.Text` (never a markup string), cut with an indicator
saying how much was left out. Only the kept part is scanned, so a 1 MB subject costs no more
than a short one.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

from rich.text import Text

MAX_LINE = 1_000  # characters of one line (a subject, a name, one line of a body)
MAX_LINES = 2_000  # lines of a body
TAB = "    "

_MARKED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@functools.cache
def _unsafe() -> re.Pattern[str]:
    """One character class of every code point that is shown as a marker. Built once: the
    ranges come from the running Python's Unicode database, so new format characters are
    covered when Python learns them."""
    ranges: list[tuple[int, int]] = []
    start = -1
    for code in range(sys.maxunicode + 1):
        marked = unicodedata.category(chr(code)) in _MARKED_CATEGORIES
        if marked and start < 0:
            start = code
        elif not marked and start >= 0:
            ranges.append((start, code - 1))
            start = -1
    if start >= 0:
        ranges.append((start, sys.maxunicode))
    parts = "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
    return re.compile(f"[{parts}]")


def marker(char: str) -> str:
    """The visible stand-in for one unsafe character."""
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟: ESC is ␛
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\u27e8U+{code:04X}\u27e9"  # ⟨U+202E⟩


def _mark(match: re.Match[str]) -> str:
    return marker(match.group())


def clean(value: object, limit: int = MAX_LINE) -> str:
    """``value`` as one inert line: newlines and other controls become markers, tabs a
    space, and text past ``limit`` characters is cut with ``… (+N chars)``. None is ""."""
    if value is None:
        return ""
    text = str(value)
    return _cut(text, 0, len(text), limit, " ")


def _cut(text: str, start: int, end: int, limit: int, tab: str) -> str:
    """``text[start:end]`` made inert, at most ``limit`` characters of it; only those are
    copied and scanned."""
    kept = text[start : min(end, start + limit)].replace("\t", tab)
    shown = _unsafe().sub(_mark, kept)
    extra = end - start - limit
    return f"{shown}… (+{extra:,} chars)" if extra > 0 else shown


def clean_block(value: object, max_lines: int = MAX_LINES, max_line: int = MAX_LINE) -> str:
    """``value`` as inert lines (a body, a header block): line breaks kept (CRLF read as one),
    tabs expanded, each line cut like :func:`clean`, and past ``max_lines`` one
    ``… (N more lines not shown)`` line. Lines past the limit are counted, never copied."""
    if value is None:
        return ""
    text = str(value)
    shown: list[str] = []
    position = 0
    while position <= len(text) and len(shown) < max_lines:
        end = text.find("\n", position)
        if end < 0:
            end = len(text)
        stop = end - 1 if end > position and text[end - 1] == "\r" else end
        shown.append(_cut(text, position, stop, max_line, TAB))
        position = end + 1
    if position <= len(text):
        hidden = text.count("\n", position) + 1
        shown.append(f"… ({hidden:,} more lines not shown)")
    return "\n".join(shown)


def plain(value: object, limit: int = MAX_LINE, style: str = "") -> Text:
    """:func:`clean` as a Rich ``Text``: what widgets get, so markup is never parsed."""
    return Text(clean(value, limit), style=style, no_wrap=True, overflow="ellipsis")


def plain_block(value: object, max_lines: int = MAX_LINES, max_line: int = MAX_LINE) -> Text:
    """:func:`clean_block` as a Rich ``Text``."""
    return Text(clean_block(value, max_lines, max_line))
