"""Pure parsing of raw messages: no database, no network, bounded work."""

from gateway.parsing.message import (
    Attachment,
    ParsedMessage,
    Participant,
    Person,
    body_hash,
    parse_message,
)
from gateway.parsing.people import clean_display_name, direction, is_internal, split_name

__all__ = [
    "Attachment",
    "ParsedMessage",
    "Participant",
    "Person",
    "body_hash",
    "clean_display_name",
    "direction",
    "is_internal",
    "parse_message",
    "split_name",
]
