"""Small text helpers for storage-bound strings."""

from __future__ import annotations

import unicodedata


def clean_text(text: str) -> str:
    """NFC-normalised text without NUL (PostgreSQL rejects NUL in text columns)."""
    return unicodedata.normalize("NFC", text.replace("\x00", "\ufffd"))
