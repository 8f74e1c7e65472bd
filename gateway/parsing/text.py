"""Small text helpers for storage-bound strings."""

from __future__ import annotations

import unicodedata


def clean_text(text: str) -> str:
    """NFC-normalised text without NUL (PostgreSQL rejects NUL in text columns)."""
    return unicodedata.normalize("NFC", text.replace("\x00", "\ufffd"))


# Line breaks of every kind become a space; other C0/C1 controls (ESC, BEL, CSI…) and DEL become
# U+FFFD, as NUL does: a one-line field (a subject, a name) decoded from RFC 2047 encoded-words
# may carry any of them, and no consumer of a stored subject expects a line break or an escape.
_LINE_BREAKS = "\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"
_ONE_LINE = {ord(ch): " " for ch in _LINE_BREAKS} | {
    code: "\ufffd"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
    if chr(code) not in _LINE_BREAKS
}


def clean_line(text: str) -> str:
    """:func:`clean_text` for one-line fields: no line breaks, no control characters."""
    return clean_text(text.translate(_ONE_LINE))
