"""The typed context every pipeline stage reads and extends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from gateway.crm import repo
from gateway.parsing import ParsedMessage, Participant, Person
from gateway.parsing.analysis import Analysis
from gateway.spool import Envelope

if TYPE_CHECKING:
    from gateway.crm import Email
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
    # The row ``email_id`` names, kept by the log stage for the stages after it (the session's
    # identity map holds its objects weakly: without this, each stage would read it again).
    email: Email | None = None
    # The associations of a new email as (kind, target id), in the order the log stage made
    # them; None when they must be read from the database (another copy of an email).
    links: list[tuple[str, int]] | None = None
    # A new email's participant addresses but its author's, ordered by (role, address); None
    # when they must be read from the database (another copy of an email).
    recipients: list[str] | None = None
    outcome: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    # The enabled plugins (their in-pipeline hooks); None when none are loaded.
    plugins: PluginHost | None = None
    # Registered-user lookups already made for this message (address -> user id or None):
    # verify, privacy and match ask about the same people, in one transaction.
    known_users: dict[str, int | None] = field(default_factory=dict, repr=False)
    user_primaries: dict[int, tuple[str, ...]] = field(default_factory=dict, repr=False)
    # ... and contact lookups by address (read before this message's writes: the log stage
    # adds addresses, so only the stages before it may use them).
    known_owners: dict[str, repo.AddressOwner | None] = field(default_factory=dict, repr=False)

    def user_ids(self, emails: Iterable[str]) -> dict[str, int]:
        """:func:`gateway.crm.repo.user_ids_by_address`, asking the database only about
        addresses not looked up yet for this message (and remembering the users' primary
        addresses in :attr:`user_primaries`)."""
        wanted = list(dict.fromkeys(emails))
        missing = [e for e in wanted if e not in self.known_users]
        if missing:
            found = repo.users_by_address(self.session, missing)
            for email in missing:
                user_id, primaries = found.get(email, (None, ()))
                self.known_users[email] = user_id
                if user_id is not None:
                    self.user_primaries[user_id] = primaries
        return {e: uid for e in wanted if (uid := self.known_users[e]) is not None}

    def owners(self, emails: Iterable[str]) -> dict[str, repo.AddressOwner]:
        """:func:`gateway.crm.repo.address_owners`, asking the database only about addresses
        not looked up yet for this message (privacy asks about objections, match about the
        same people's contacts)."""
        wanted = list(dict.fromkeys(emails))
        missing = [e for e in wanted if e not in self.known_owners]
        if missing:
            found = repo.address_owners(self.session, missing)
            self.known_owners.update((e, found.get(e)) for e in missing)
        return {e: owner for e in wanted if (owner := self.known_owners[e]) is not None}

    def note(self, stage: str, text: str) -> None:
        """Record a decision so "why was this logged like that?" has an answer."""
        self.notes.append((stage, text))

    def require_parsed(self) -> ParsedMessage:
        if self.parsed is None:
            raise RuntimeError("the parse stage must run first")
        return self.parsed


class Stage(Protocol):
    """A pipeline stage. A stage class may also say ``uses_database = False`` (parsing): the
    leading stages that do run before the message's transaction begins."""

    name: str
    description: str

    def process(self, ctx: MessageContext) -> None: ...
