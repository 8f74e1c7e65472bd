"""What the privacy verdict does to an email before it is stored: people left out are masked
wherever their address appears, ``metadata`` and ``anonymous`` keep no body and no attachment
names, ``anonymous`` keeps participants only as keyed hashes, and ``full`` text is redacted
(:mod:`gateway.privacy.redact`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from gateway.config_privacy import PrivacyConfig
from gateway.crm import Email
from gateway.privacy.keys import address_hash
from gateway.privacy.redact import redact
from gateway.privacy.rules import Verdict

EXCLUDED_ADDRESS = "excluded@invalid"
EXCLUDED_TEXT = "[excluded]"
# Every stored field that holds text from the message.
TEXT_FIELDS = ("subject", "normalized_subject", "body_text", "reply_text")


class Person(Protocol):
    """A participant row of an email not yet stored."""

    email: str
    name: str


P = TypeVar("P", bound=Person)


class Named(Protocol):
    """An attachment row of an email not yet stored."""

    filename: str


def protect(
    email: Email,
    participants: list[P],
    attachments: Sequence[Named],
    verdict: Verdict,
    *,
    privacy: PrivacyConfig,
    key: Callable[[], bytes],
) -> list[P]:
    """Apply ``verdict`` to ``email``, its ``participants`` and ``attachments`` (none of them
    stored yet); records the verdict on the email. Returns the participants to store."""
    participants = _mask(email, participants, verdict.excluded)
    level = verdict.level
    if level in ("metadata", "anonymous"):
        email.body_text = email.reply_text = ""
        for attachment in attachments:
            attachment.filename = ""
    if level == "anonymous":
        secret = key()

        def anonymous(address: str) -> str:
            return f"anon-{address_hash(secret, address)[:24]}@invalid"

        email.from_email, email.from_name = anonymous(email.from_email), ""
        if email.forwarded_by_email:
            email.forwarded_by_email = anonymous(email.forwarded_by_email)
            email.forwarded_by_name = ""
        for participant in participants:
            participant.email, participant.name = anonymous(participant.email), ""
    if level == "full" and privacy.redact:
        for name in TEXT_FIELDS:
            result = redact(getattr(email, name), privacy.redact)
            setattr(email, name, result.text)
            for kind, count in result.counts.items():
                # The reply text is part of the body, the thread subject part of the subject:
                # count each finding once.
                if name in ("subject", "body_text"):
                    verdict.redactions[kind] = verdict.redactions.get(kind, 0) + count
    email.privacy_level = level
    email.privacy = verdict.to_json()
    return participants


def _mask(email: Email, participants: list[P], excluded: set[str]) -> list[P]:
    if not excluded:
        return participants
    if email.from_email in excluded:
        email.from_email, email.from_name = EXCLUDED_ADDRESS, ""
    if email.forwarded_by_email in excluded:
        email.forwarded_by_email, email.forwarded_by_name = EXCLUDED_ADDRESS, ""
    pattern = re.compile("|".join(re.escape(a) for a in sorted(excluded)), re.IGNORECASE)
    for name in TEXT_FIELDS:
        setattr(email, name, pattern.sub(EXCLUDED_TEXT, getattr(email, name)))
    return [p for p in participants if p.email not in excluded]
