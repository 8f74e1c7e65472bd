"""The plugin interface: pluggy hook specifications (``bccrm_*``), the events they receive, and
the context every plugin gets. bccrm's own plugins (``plugins/``) use exactly this interface.

Two kinds of hooks:

- **In the pipeline** (``bccrm_message_parsed``, ``bccrm_privacy_rules``): called by the worker
  while a message is processed, inside its transaction. They must be fast and must not do I/O
  beyond the database session they are given. An exception is logged and counted and the
  message goes on as if the plugin were not there.
- **After the commit** (``bccrm_email_logged``, ``bccrm_contact_created``,
  ``bccrm_review_decided``, ``bccrm_legal_basis_flagged``; and ``bccrm_enrich_contact``, run
  for a contact just created): the event is written to the outbox in the same transaction as
  the change, and delivered once that transaction has committed — to each plugin, and each
  channel of a plugin, separately and in order per email. A plugin that raises
  :class:`RetryLater` is called again later with exponential backoff; any other exception
  marks that delivery failed (logged, counted, shown by ``bccrm plugins outbox``). Nothing a
  plugin does can lose or block the logging.

Every hook implementation may take any subset of its spec's arguments, by name.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import Config
from gateway.config_reader import Reader

if TYPE_CHECKING:
    from gateway.pipeline.context import MessageContext
    from gateway.privacy.rules import Rule

PROJECT = "bccrm"
ENTRY_POINT_GROUP = "bccrm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RetryLater(Exception):
    """Raised by an after-commit hook: "not now, call me again". ``after`` (seconds) overrides
    the backoff, e.g. from an HTTP ``Retry-After``. ``reason`` is shown in the delivery log:
    a short text with no message content ("HTTP 503", "connection refused")."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class DeliveryFailed(Exception):
    """Raised by an after-commit hook: the delivery cannot succeed as things are (an endpoint
    answered 410, a token was refused). ``reason`` is kept in the delivery log — short, with no
    message content; any other exception is logged by its class name only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- events: plain data, JSON-serialisable, delivered after the commit --------------------------


@dataclass(frozen=True)
class ContactRef:
    """A contact as events carry it. ``objecting`` (Art. 21) and ``subscription`` are there so
    workflow plugins can leave such people alone."""

    id: int
    email: str
    name: str
    company_id: int | None = None
    company_name: str = ""
    phones: tuple[str, ...] = ()
    objecting: bool = False
    subscription: str = "subscribed"
    owner_id: int | None = None


@dataclass(frozen=True)
class EmailLogged:
    """A new email is on the CRM timeline. ``reply_text`` is empty unless the email is stored
    at privacy level ``full``; the body is never included."""

    kind = "email_logged"
    email_id: int
    message_id: str
    subject: str
    direction: str
    received_at: str  # ISO 8601, UTC
    from_email: str
    from_name: str
    privacy_level: str
    reply_text: str = ""
    language: str = ""
    in_reply_to: str = ""
    recipients: tuple[str, ...] = ()
    contacts: tuple[ContactRef, ...] = ()
    company_ids: tuple[int, ...] = ()
    deal_ids: tuple[int, ...] = ()
    ticket_ids: tuple[int, ...] = ()
    loggers: tuple[str, ...] = ()  # the reps' primary addresses
    team_inbox: str = ""
    event_id: int = 0  # the outbox id, set when delivered: an idempotency key for receivers


@dataclass(frozen=True)
class ContactCreated:
    """bccrm created a contact (from mail, or approved in review)."""

    kind = "contact_created"
    contact: ContactRef
    first_name: str = ""
    last_name: str = ""
    title: str = ""
    domain: str = ""
    email_id: int | None = None
    team_inbox: str = ""
    event_id: int = 0


@dataclass(frozen=True)
class ReviewDecided:
    """A review item was approved or rejected (``applied``: what the decision changed, ids
    and field names only)."""

    kind = "review_decided"
    item_id: int
    item_kind: str
    status: str
    decided_by: str
    email_id: int | None = None
    contact_id: int | None = None
    applied: Mapping[str, Any] = field(default_factory=dict)
    event_id: int = 0


@dataclass(frozen=True)
class LegalBasisFlagged:
    """An outbound email went to someone without a confirmed legal basis, or unsubscribed."""

    kind = "legal_basis_flagged"
    check_id: int
    email_id: int
    contact_id: int
    reason: str
    event_id: int = 0


Event = EmailLogged | ContactCreated | ReviewDecided | LegalBasisFlagged
EVENT_TYPES: dict[str, type[Any]] = {
    t.kind: t for t in (EmailLogged, ContactCreated, ReviewDecided, LegalBasisFlagged)
}
# The hook each event is delivered to.
EVENT_HOOKS = {kind: f"bccrm_{kind}" for kind in EVENT_TYPES}


def event_payload(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data (``event_id`` left out: the outbox row's id is it)."""
    data = dataclasses.asdict(event)
    data.pop("event_id", None)
    return data


def event_from_payload(kind: str, payload: Mapping[str, Any], event_id: int) -> Event:
    """Rebuild an event stored by :func:`event_payload`; unknown keys (from a newer bccrm) are
    ignored, so an old outbox row never blocks delivery."""
    cls = EVENT_TYPES[kind]
    return _build(cls, {**payload, "event_id": event_id})  # type: ignore[no-any-return]


def _build(cls: type[Any], data: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name not in data:
            continue
        value = data[item.name]
        if item.name == "contact":
            value = _build(ContactRef, value)
        elif item.name == "contacts":
            value = tuple(_build(ContactRef, v) for v in value)
        elif isinstance(value, list):
            value = tuple(value)
        values[item.name] = value
    return cls(**values)


@dataclass(frozen=True)
class ContactDraft:
    """What ``bccrm_enrich_contact`` is asked about: a contact just created."""

    contact_id: int
    email: str
    first_name: str
    last_name: str
    title: str
    company_id: int | None
    company_name: str
    phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """What bccrm knew when it created the contact."""

    domain: str  # the address's domain ("" for free mail)
    email_id: int | None = None
    signature_company: str = ""


# Suggestions bccrm applies from bccrm_enrich_contact (only to empty fields):
ENRICH_FIELDS = (
    "title",
    "company.name",
    "company.industry",
    "company.size",
    "company.country",
)


@dataclass
class PluginContext:
    """What a plugin is given: its settings (``[plugin.<name>]``), the configuration, the
    database, a clock, a logger and a place to keep state between calls (``state``)."""

    name: str
    config: Config
    sessions: sessionmaker[Session]
    now: Callable[[], datetime]
    log: logging.Logger
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Reader:
        """A fresh reader over ``[plugin.<name>]``; call ``.finish()`` to reject unknown keys."""
        return self.config.plugins.reader(self.name)

    @property
    def actor(self) -> str:
        """Who the plugin is in the audit log."""
        return f"plugin:{self.name}"


# -- hook specifications --------------------------------------------------------------------------


class Specs:
    """The hooks bccrm calls. Names carry the ``bccrm_`` prefix."""

    @hookspec
    def bccrm_configure(self, context: PluginContext) -> None:
        """Once, when the host starts (``bccrm serve``, ``worker``, ``plugins list``): read and
        validate ``context.settings``. Raise ``ValueError`` (or ``ConfigError``) to refuse
        to start with a message naming the setting."""

    @hookspec
    def bccrm_message_parsed(self, ctx: MessageContext, context: PluginContext) -> None:
        """In the worker, after the parse stage and before the privacy rules, inside the
        message's transaction. ``ctx.parsed``, ``ctx.analysis``, ``ctx.participants`` and
        ``ctx.direction`` are set; a plugin may add notes (``ctx.note``). Return nothing."""

    @hookspec
    def bccrm_privacy_rules(self, context: PluginContext) -> list[Rule]:
        """When the pipeline is built: extra privacy rules (objects with ``name``,
        ``description`` and ``check(facts, verdict)``, see ``gateway.privacy.rules``). They
        run after the built-in rules and before ``nothing_left``."""
        raise NotImplementedError

    @hookspec
    def bccrm_enrich_contact(
        self, contact: ContactDraft, evidence: Evidence, context: PluginContext
    ) -> Mapping[str, str] | None:
        """After a contact was created and committed: field suggestions keyed by
        :data:`ENRICH_FIELDS` (``{"company.industry": "Software"}``). bccrm fills only fields
        that are empty, first suggestion wins, and audits what it set. Offline: no network."""
        raise NotImplementedError

    @hookspec
    def bccrm_channels(self, context: PluginContext) -> list[str]:
        """When the host starts: the names of the plugin's separate destinations (a webhook's
        endpoints). Each event is delivered once per channel, retried per channel; a plugin
        without this hook has one channel, ``""``."""
        raise NotImplementedError

    @hookspec
    def bccrm_email_logged(self, event: EmailLogged, channel: str, context: PluginContext) -> None:
        """After a new email was committed to the CRM."""

    @hookspec
    def bccrm_contact_created(
        self, event: ContactCreated, channel: str, context: PluginContext
    ) -> None:
        """After a contact bccrm created was committed."""

    @hookspec
    def bccrm_review_decided(
        self, event: ReviewDecided, channel: str, context: PluginContext
    ) -> None:
        """After a review item was approved or rejected."""

    @hookspec
    def bccrm_legal_basis_flagged(
        self, event: LegalBasisFlagged, channel: str, context: PluginContext
    ) -> None:
        """After a legal-basis check was opened for an outbound email."""

    @hookspec
    def bccrm_tick(self, now: datetime, context: PluginContext) -> None:
        """In the worker, about once a minute (and from ``bccrm plugins deliver``): time-based
        work such as "no reply in N days". Must be idempotent: it may run on several nodes."""


HOOK_NAMES = tuple(name for name in vars(Specs) if name.startswith("bccrm_"))
