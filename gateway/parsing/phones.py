"""Phone numbers to E.164 with phonenumbers (Google's libphonenumber metadata)."""

from __future__ import annotations

import phonenumbers


def to_e164(text: str, default_region: str) -> str | None:
    """E.164 form of ``text`` (national numbers read in ``default_region``), extension dropped;
    ``None`` when it is not a valid number."""
    if len(text) > 64:
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    number.extension = None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
