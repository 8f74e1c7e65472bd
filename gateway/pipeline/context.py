"""The typed context every pipeline stage reads and extends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from gateway.parsing import ParsedMessage, Participant, Person
from gateway.parsing.analysis import Analysis
from gateway.spool import Envelope

if TYPE_CHECKING:
    from gateway.matching.resolve import Decision
    from gateway.plugin_host import PluginHost
    from gateway.privacy.rules import Verdict

OUTCOMES = ("logged", "duplicate", "dropped")


class HoldMessage(Exception):
    """A stage decided the message must not be logged and goes to quarantine for a person.

    ``reason`` is shown to admins: a short sentence with no message content in it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class MessageContext:
    entry_id: str
    raw: bytes
    envelope: Envelope
    session: Session
    parsed: ParsedMessage | None = None
    analysis: Analysis | None = None
    # The original message's author and people (for a forward: the forwarded message's), with
    # the logging addresses left out. ``parsed`` keeps the outer message, which verify checks.
    author: Person | None = None
    participants: list[Participant] = field(default_factory=list)
    direction: str = ""
    auth: dict[str, Any] = field(default_factory=dict)
    logger_ids: list[int] = field(default_factory=list)
    # What the privacy rules decided (None when the pipeline has no privacy stage).
    privacy: Verdict | None = None
    # One decision per external address (gateway.matching.resolve), applied by the log stage.
    matches: list[Decision] = field(default_factory=list)
    # The id of the email this message already is (same Message-ID and body): another copy.
    duplicate_of: int | None = None
    email_id: int | None = None
    outcome: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    # The enabled plugins (their in-pipeline hooks); None when none are loaded.
    plugins: PluginHost | None = None

    def note(self, stage: str, text: str) -> None:
        """Record a decision so "why was this logged like that?" has an answer."""
        self.notes.append((stage, text))

    def require_parsed(self) -> ParsedMessage:
        if self.parsed is None:
            raise RuntimeError("the parse stage must run first")
        return self.parsed


class Stage(Protocol):
    name: str
    description: str

    def process(self, ctx: MessageContext) -> None: ...
