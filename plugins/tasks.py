"""The built-in **tasks** plugin: follow-up work in the CRM's ``tasks`` table.

Three rules, each idempotent through the task's unique ``key``:

- ``buying_signal:<email id>``: an inbound email whose reply text (privacy level ``full``
  only: other levels keep none) names a buying signal ("pricing", "wycena", "Angebot", …) →
  "Follow up: <subject>" for the sender's contact.
- ``new_contact:<contact id>``: bccrm created a contact → "New contact: <name>".
- ``no_reply:<email id>``: an outbound email sent ``no_reply_days`` ago that nobody answered
  (no later email in its thread: In-Reply-To/References, or the same subject with the same
  contact) → "No reply: <subject>", found by ``bccrm_tick``.

Contacts who object (Art. 21), and merged or erased ones, get no tasks. The owner comes from
the first ``route`` that matches (the contact's phone country, its address's top-level domain,
the team inbox), round-robin among the route's owners; else the contact's owner, else the rep
who logged the email (for a copy the org's MTA sent, the rep it was written to). Titles use
the thread's subject, without "Re:" or "Fwd:".

With ``notify`` on, the owner gets a short plain-text email (title, contact, due date: never
the mail's text) through the configured relay, after the task is committed: a relay that is
down costs the notification (a warning, counted, audited, and a minute's pause so a dead relay
does not hold up the worker for every task), never the task. Only before the task exists does
a database outage raise RetryLater: retrying after the commit would find the task by its key
and could not tell whether the owner was told.

Buying signals are matched as whole words, ignoring case and diacritics ("wycene" is
"wycenę"); a word ending in ``*`` is a stem and matches every word it begins ("wycen*":
wycena, wyceny, wycenę), which is how inflected Polish and German compounds are covered
without matching inside unrelated words ("price" never matches "pricewise").
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import String, Text, cast, exists, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased

from gateway.addresses import normalize_address
from gateway.config_reader import ConfigError, Reader
from gateway.crm import (
    Contact,
    Email,
    EmailAssociation,
    EmailLogger,
    Setting,
    Task,
    repo,
)
from gateway.errors import describe
from gateway.hooks import ContactCreated, EmailLogged, PluginContext, RetryLater, hookimpl
from gateway.services.tasks import NewTask, add_task, primary_addresses, task_title

# -- settings -------------------------------------------------------------------------------------

# Per language; "*" ends a stem. A [plugin.tasks] buying_signals table replaces the languages
# it names and keeps the others; an empty list switches a language off.
DEFAULT_SIGNALS: Mapping[str, tuple[str, ...]] = {
    "en": (
        "pricing", "price", "prices", "quote", "quotes", "quotation*",
        "proposal", "proposals", "purchase order",
    ),
    "pl": (
        "wycen*", "ofert*", "ofercie", "zamówi*", "cennik*", "cena", "ceny", "cenę",
        "kosztorys*",
    ),
    "de": ("angebot*", "preis*", "bestell*", "kostenvoranschlag*"),
    "fr": ("devis", "prix", "tarif*", "commande", "commandes", "commander", "offre", "offres"),
    "es": ("presupuesto*", "precio*", "cotización*", "tarifa*", "oferta*"),
}  # fmt: skip
ROUTE_KINDS = ("phone_country", "tld", "team_inbox")
GONE = ("merged", "erased")
MAX_TEXT = 100_000  # characters of a reply text searched for signals
MAX_TERM = 100
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Route:
    """``{ tld = "de", owners = [...] }``: ``number`` is its place in the list (1-based), which
    names its round-robin position in the settings table."""

    number: int
    kind: str  # one of ROUTE_KINDS
    values: frozenset[str]
    owners: tuple[str, ...]

    @property
    def turn_key(self) -> str:
        return f"tasks.round_robin.{self.number}"


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class Settings:
    signals: tuple[tuple[str, re.Pattern[str]], ...]
    buying_signal_due_days: int = 1
    no_reply_days: int = 3
    new_contact_task: bool = True
    new_contact_due_days: int = 1
    routes: tuple[Route, ...] = ()
    relay: Relay | None = None  # None: notify is off


def parse_settings(r: Reader, base_dir: Path | None = None) -> Settings:
    """``[plugin.tasks]``, checked; every problem names its key."""

    def days(key: str, default: int) -> int:
        return r.get(key, int, default, lambda v: 0 <= v <= 365, "must be 0..365 days")

    settings = Settings(
        signals=_signals(r.get("buying_signals", dict, {}), r.name("buying_signals")),
        buying_signal_due_days=days("buying_signal_due_days", 1),
        no_reply_days=days("no_reply_days", 3),
        new_contact_task=r.get("new_contact_task", bool, True),
        new_contact_due_days=days("new_contact_due_days", 1),
        routes=tuple(
            _route(number, item, f"{r.name('route')}[{number}]")
            for number, item in enumerate(r.get("route", list, []), 1)
        ),
        relay=_relay(r, base_dir),
    )
    r.finish()
    return settings


def _signals(table: Mapping[str, Any], name: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    merged: dict[str, Sequence[str]] = dict(DEFAULT_SIGNALS)
    for language, terms in table.items():
        if not _LANGUAGE.match(language):
            raise ConfigError(f"{name}.{language}: expected a language code such as pl or en")
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ConfigError(f"{name}.{language}: expected a list of words")
        merged[language] = terms
    compiled = []
    for language, terms in merged.items():
        alternatives = [_term(term, f"{name}.{language}") for term in terms]
        if alternatives:
            pattern = rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)"
            compiled.append((language, re.compile(pattern)))
    return tuple(compiled)


def _term(term: str, name: str) -> str:
    """A configured word or phrase as a regular expression over folded text."""
    stem = term.strip().endswith("*")
    words = fold(term.strip().removesuffix("*")).split()
    if not words or len(term) > MAX_TERM or "*" in " ".join(words):
        raise ConfigError(f"{name}: {term!r} is not a word (a '*' may only end one)")
    if stem and len(words[-1]) < 3:
        raise ConfigError(f"{name}: {term!r}: a stem needs at least 3 letters")
    return r"\s+".join(map(re.escape, words)) + (r"\w*" if stem else "")


def _route(number: int, item: object, name: str) -> Route:
    if not isinstance(item, Mapping):
        raise ConfigError(f'{name}: expected a table such as {{ tld = "de", owners = [...] }}')
    r = Reader(item, name)
    kinds = [kind for kind in ROUTE_KINDS if kind in item]
    if len(kinds) != 1:
        raise ConfigError(f"{name}: needs exactly one of {', '.join(ROUTE_KINDS)}")
    kind = kinds[0]
    raw = item[kind]
    r.used.add(kind)
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ConfigError(f"{name}.{kind}: expected a string or a list of strings")
    values = frozenset(_route_value(kind, text, f"{name}.{kind}") for text in texts)
    owners = tuple(_address(text, f"{name}.owners") for text in r.strings("owners", ()))
    if not owners:
        raise ConfigError(f"{name}.owners: name at least one user address")
    r.finish()
    return Route(number, kind, values, tuple(dict.fromkeys(owners)))


def _route_value(kind: str, text: str, name: str) -> str:
    if kind == "phone_country":
        region = text.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"{name}: {text!r} is not a country code such as DE")
        return region
    if kind == "tld":
        try:
            label = text.strip().lstrip(".").lower().encode("idna").decode("ascii")
        except UnicodeError:
            label = ""
        if not _LABEL.match(label):
            raise ConfigError(f"{name}: {text!r} is not a top-level domain such as de")
        return label
    return _address(text, name)


def _address(text: str, name: str) -> str:
    address = normalize_address(text)
    if address is None:
        raise ConfigError(f"{name}: {text!r} is not an email address")
    return address


def _relay(r: Reader, base_dir: Path | None) -> Relay | None:
    notify = r.get("notify", bool, False)
    where = r.get("relay", str, "")
    sender = r.get("from", str, "")
    username = r.get("username", str, "")
    starttls = r.get("starttls", bool, False)
    timeout = r.get("timeout", float, 10.0, lambda v: 0 < v <= 300, "must be 0..300 seconds")
    if "password" in r.data and not username:
        raise ConfigError(f"{r.name('password')}: needs a username")
    if not notify:
        r.used.add("password")  # not read (an unset variable must not matter), not unknown
        return None
    if not where:
        raise ConfigError(f"{r.name('relay')}: needed when notify = true (host:port)")
    host, port = _host_port(where, r.name("relay"))
    if not sender:
        raise ConfigError(f"{r.name('from')}: needed when notify = true (an email address)")
    local = host in ("localhost", "127.0.0.1", "::1")
    if username and not (starttls or local):
        raise ConfigError(
            f"{r.name('username')}: needs starttls = true, or the password crosses the network "
            "in clear"
        )
    return Relay(
        host=host,
        port=port,
        sender=_address(sender, r.name("from")),
        username=username,
        password=r.secret("password", "", base_dir) if username else "",
        starttls=starttls,
        timeout=timeout,
    )


_HOST_PORT = re.compile(
    r"(?:\[(?P<ip6>[0-9a-fA-F:.]+)\]|(?P<host>[^\s:\[\]/]+))(?::(?P<port>\d{1,5}))?"
)


def _host_port(text: str, name: str) -> tuple[str, int]:
    """``host:port``, ``host`` (port 25) or ``[::1]:2525``."""
    match = _HOST_PORT.fullmatch(text.strip())
    port = int(match["port"] or 25) if match else 0
    if match is None or not 1 <= port <= 65535:
        raise ConfigError(f"{name}: expected host:port, got {text!r}")
    return match["ip6"] or match["host"], port


def settings_of(context: PluginContext) -> Settings:
    settings = context.state.get("settings")
    if not isinstance(settings, Settings):
        settings = context.state["settings"] = parse_settings(
            context.settings, context.config.plugins.base_dir
        )
    return settings


def counts_of(context: PluginContext) -> Counter[str]:
    """Tasks created and notifications sent, failed or skipped, since the process started."""
    return context.state.setdefault("counts", Counter())  # type: ignore[no-any-return]


# -- buying signals -------------------------------------------------------------------------------

_SPECIAL = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "œ": "oe", "æ": "ae"})


def fold(text: str) -> str:
    """Case and diacritics dropped ("Wycenę" → "wycene", "Preisübersicht" → "preisubersicht",
    "Straße" → "strasse"); letters of other scripts are kept, lower-cased."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_SPECIAL)


def buying_signal(settings: Settings, text: str) -> str | None:
    """The language whose buying signal ``text`` names first, or None. Every language is
    looked for: detecting the language of a two-line reply is guesswork."""
    folded = fold(text[:MAX_TEXT])
    for language, pattern in settings.signals:
        if pattern.search(folded):
            return language
    return None


# -- owners ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What owner routing looks at."""

    countries: frozenset[str] = frozenset()
    tld: str = ""
    team_inbox: str = ""
    contact_owner: int | None = None
    reps: tuple[int, ...] = ()  # user ids of the reps who logged (or got) the email, in order

    def matches(self, route: Route) -> bool:
        if route.kind == "phone_country":
            return bool(self.countries & route.values)
        if route.kind == "tld":
            return self.tld in route.values
        return self.team_inbox in route.values


def facts_of(contact: Contact, team_inbox: str = "", reps: Sequence[int] = ()) -> Facts:
    countries = set()
    for phone in contact.phones:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(phone.e164, None))
        except phonenumbers.NumberParseException:
            continue
        if region:
            countries.add(region)
    emails = sorted(contact.emails, key=lambda e: (not e.is_primary, e.id))
    tld = emails[0].email.rpartition(".")[2] if emails else ""
    return Facts(
        countries=frozenset(countries),
        tld=tld,
        team_inbox=(normalize_address(team_inbox) or "") if team_inbox else "",
        contact_owner=contact.owner_id,
        reps=tuple(dict.fromkeys(reps)),
    )


def choose_owner(session: Session, settings: Settings, facts: Facts) -> int | None:
    """The first matching route's next owner in turn (owners who are not registered users
    are passed over); else the contact's owner; else the first rep who logged the email (or,
    for a copy nobody logged, the first rep it was written to)."""
    for route in settings.routes:
        if not facts.matches(route):
            continue
        found = repo.user_ids_by_address(session, route.owners)
        owners = [found[a] for a in route.owners if a in found]
        if owners:
            return owners[next_turn(session, route.turn_key, len(owners))]
    if facts.contact_owner is not None:
        return facts.contact_owner
    return facts.reps[0] if facts.reps else None


def next_turn(session: Session, key: str, count: int, attempts: int = 50) -> int:
    """Take the next turn of round-robin ``key`` among ``count`` owners: a counter in the
    settings table moved by compare-and-set, so two workers never take the same turn (the
    loser of a race reads the new value and tries again)."""
    for _ in range(attempts):
        current = session.scalar(select(Setting.value).where(Setting.key == key))
        if current is None:
            try:
                with session.begin_nested():
                    session.add(Setting(key=key, value="1"))
                    session.flush()
            except IntegrityError:
                continue  # another worker created it first
            return 0
        position = int(current) if current.isascii() and current.isdigit() else 0
        moved = session.execute(
            update(Setting)
            .where(Setting.key == key, Setting.value == current)
            .values(value=str(position + 1))
        )
        if getattr(moved, "rowcount", 0) == 1:
            return position % count
    raise RuntimeError(f"round robin {key}: too much contention")


# -- making a task --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    task: NewTask
    facts: Facts
    contact_name: str


@dataclass(frozen=True)
class Notice:
    """What the owner is told: no text of the email beyond its subject in the title."""

    task_id: int
    to: str
    title: str
    contact: str
    due_at: datetime | None


def make_task(
    context: PluginContext, plan: Callable[[Session], Planned | None], retry: bool
) -> int | None:
    """Plan and create a task in one transaction, then notify its owner. A database outage
    before the commit raises RetryLater when ``retry`` (an event: nothing exists yet, the
    outbox calls again); after the commit nothing is retried."""
    settings = settings_of(context)
    notice = None
    try:
        with context.sessions.begin() as session:
            planned = plan(session)
            if planned is None:
                return None
            task = add_task(
                session,
                planned.task,
                context.actor,
                owner=lambda s: choose_owner(s, settings, planned.facts),
            )
            if task is None:
                return None  # made before: a redelivery, or another node
            if task.owner_id is not None and settings.relay is not None:
                notice = _notice(session, task, planned.contact_name)
            task_id = task.id
    except OperationalError:
        if retry:
            raise RetryLater("database unavailable") from None
        raise
    counts_of(context)["created"] += 1
    context.log.info("task %s created (%s)", task_id, planned.task.rule)
    if notice is not None and settings.relay is not None:
        notify(context, settings.relay, notice)
    return task_id


def _notice(session: Session, task: Task, contact_name: str) -> Notice | None:
    assert task.owner_id is not None
    to = primary_addresses(session, [task.owner_id]).get(task.owner_id)
    if to is None:
        return None
    return Notice(task.id, to, task.title, contact_name, task.due_at)


def live_contact(session: Session, contact_id: int | None) -> Contact | None:
    """The contact, unless it is gone (merged, erased) or objects (Art. 21)."""
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    if contact is None or contact.status in GONE or contact.objecting:
        return None
    return contact


def _logger_ids(session: Session, email_id: int | None) -> list[int]:
    if email_id is None:
        return []
    return list(
        session.scalars(
            select(EmailLogger.user_id)
            .where(EmailLogger.email_id == email_id)
            .order_by(EmailLogger.logged_at, EmailLogger.user_id)
        )
    )


def _contact_name(contact: Contact) -> str:
    if contact.name:
        return contact.name
    emails = sorted(contact.emails, key=lambda e: (not e.is_primary, e.id))
    return emails[0].email if emails else f"contact {contact.id}"


def _due(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)


# -- hooks ----------------------------------------------------------------------------------------


@hookimpl
def bccrm_configure(context: PluginContext) -> None:
    context.state["settings"] = parse_settings(context.settings, context.config.plugins.base_dir)
    counts_of(context)


@hookimpl
def bccrm_email_logged(event: EmailLogged, context: PluginContext) -> None:
    """An inbound reply naming a buying signal → "Follow up: <subject>" for its sender."""
    settings = settings_of(context)
    if event.direction != "inbound" or event.privacy_level != "full" or not event.reply_text:
        return
    language = buying_signal(settings, event.reply_text)
    if language is None:
        return
    now = context.now()

    def plan(session: Session) -> Planned | None:
        email = session.get(Email, event.email_id)
        if email is None or _automatic(email):
            return None
        contact = _sender_contact(session, event)
        if contact is None:
            return None
        task = NewTask(
            key=f"buying_signal:{event.email_id}",
            title=task_title("Follow up: ", _subject(email)),
            rule="buying_signal",
            due_at=_due(now, settings.buying_signal_due_days),
            contact_id=contact.id,
            deal_id=event.deal_ids[0] if event.deal_ids else None,
            email_id=event.email_id,
        )
        facts = facts_of(contact, event.team_inbox, _reps(session, event))
        return Planned(task, facts, _contact_name(contact))

    make_task(context, plan, retry=True)


def _sender_contact(session: Session, event: EmailLogged) -> Contact | None:
    """The contact who wrote: the one owning the From address (none if it objects), else the
    first of the email's contacts who neither objects nor is gone."""
    if any(ref.objecting and ref.email == event.from_email for ref in event.contacts):
        return None
    sender = repo.contact_id_by_email(session, event.from_email)
    if sender is not None:
        return live_contact(session, sender)
    for ref in event.contacts:
        if not ref.objecting and (contact := live_contact(session, ref.id)) is not None:
            return contact
    return None


def _reps(session: Session, event: EmailLogged) -> list[int]:
    """The reps who logged the email, then the reps it was written to (a copy the org's MTA
    sent has no logger, but its customer wrote to someone)."""
    addresses = [*event.loggers, *event.recipients]
    found = repo.user_ids_by_address(session, addresses)
    return [found[a] for a in addresses if a in found]


def _subject(email: Email) -> str:
    """The thread's subject: without "Re:", "Fwd:" and their kin."""
    return email.normalized_subject or email.subject


def _automatic(email: Email) -> bool:
    flags = email.flags or {}
    return any(flags.get(name) for name in ("bulk", "auto_generated", "bounce"))


@hookimpl
def bccrm_contact_created(event: ContactCreated, context: PluginContext) -> None:
    """A new contact → "New contact: <name>" for its routed owner."""
    settings = settings_of(context)
    if not settings.new_contact_task or event.contact.objecting:
        return
    now = context.now()

    def plan(session: Session) -> Planned | None:
        contact = live_contact(session, event.contact.id)
        if contact is None:
            return None
        email_id = event.email_id or _first_email(session, contact.id)
        task = NewTask(
            key=f"new_contact:{contact.id}",
            title=task_title("New contact: ", _contact_name(contact)),
            rule="new_contact",
            due_at=_due(now, settings.new_contact_due_days),
            contact_id=contact.id,
            email_id=email_id,
        )
        facts = facts_of(contact, event.team_inbox, _logger_ids(session, email_id))
        return Planned(task, facts, _contact_name(contact))

    make_task(context, plan, retry=True)


def _first_email(session: Session, contact_id: int) -> int | None:
    """The email the contact was created from: its earliest (the event does not say)."""
    return session.scalar(
        select(func.min(EmailAssociation.email_id)).where(EmailAssociation.contact_id == contact_id)
    )


# -- no reply -------------------------------------------------------------------------------------

NO_REPLY_WINDOW = timedelta(days=14)  # emails older than no_reply_days + this are not looked at
CLOCK_SKEW = timedelta(days=1)  # a Date header this far ahead of its arrival still counts
SCAN_EVERY = timedelta(minutes=10)  # ticks come about once a minute; this rule needs no more
SCAN_PAGE = 200
MAX_PER_SCAN = 200  # tasks made by one scan (each may notify); the rest wait for the next one


@hookimpl
def bccrm_tick(now: datetime, context: PluginContext) -> None:
    """Outbound emails nobody answered in ``no_reply_days`` → "No reply: <subject>"."""
    settings = settings_of(context)
    if settings.no_reply_days == 0:
        return
    last = context.state.get("no_reply_scan")
    if isinstance(last, datetime) and last <= now < last + SCAN_EVERY:
        return
    context.state["no_reply_scan"] = now
    with context.sessions() as session:
        due = list(awaiting_reply(session, now, settings.no_reply_days))
    made = 0
    for email_id in due:
        if made >= MAX_PER_SCAN:
            break
        made += make_task(context, _no_reply_plan(email_id, now), retry=False) is not None


def _no_reply_plan(email_id: int, now: datetime) -> Callable[[Session], Planned | None]:
    def plan(session: Session) -> Planned | None:
        email = session.get(Email, email_id)
        if email is None:
            return None
        links = session.scalars(
            select(EmailAssociation)
            .where(EmailAssociation.email_id == email_id)
            .order_by(EmailAssociation.id)
        ).all()
        contacts = (live_contact(session, a.contact_id) for a in links if a.kind == "contact")
        contact = next((c for c in contacts if c is not None), None)
        if contact is None:
            return None
        deal_id = next((a.deal_id for a in links if a.kind == "deal"), None)
        task = NewTask(
            key=f"no_reply:{email_id}",
            title=task_title("No reply: ", _subject(email)),
            rule="no_reply",
            due_at=now,
            contact_id=contact.id,
            deal_id=deal_id,
            email_id=email_id,
        )
        facts = facts_of(contact, "", _logger_ids(session, email_id))
        return Planned(task, facts, _contact_name(contact))

    return plan


def awaiting_reply(session: Session, now: datetime, days: int) -> Iterator[int]:
    """Ids of outbound emails sent between ``days`` and ``days`` + 14 days before ``now`` to a
    contact (neither objecting nor gone), not on a ticket, not bulk or automatic, with no task
    yet and no later email in their thread: none answering them (In-Reply-To, References) and
    none with the same subject for one of their contacts (a reply, or the rep's own follow-up,
    which waits for its own answer)."""
    upper = now - timedelta(days=days)
    lower = upper - NO_REPLY_WINDOW
    oldest = lower - CLOCK_SKEW
    at = func.coalesce(Email.sent_at, Email.received_at)
    later = aliased(Email)
    mine, theirs = aliased(EmailAssociation), aliased(EmailAssociation)
    nearby = (later.id != Email.id, later.direction != "internal", later.received_at >= oldest)
    answered = exists().where(later.in_reply_to == Email.message_id, *nearby)
    same_contact = exists().where(
        mine.email_id == Email.id, theirs.email_id == later.id, theirs.contact_id == mine.contact_id
    )
    followed = exists().where(
        later.normalized_subject == Email.normalized_subject,
        func.coalesce(later.sent_at, later.received_at) > at,
        same_contact,
        *nearby,
    )
    reachable = exists().where(
        EmailAssociation.email_id == Email.id,
        Contact.id == EmailAssociation.contact_id,
        Contact.status.not_in(GONE),
        Contact.objecting.is_(False),
    )
    tasked = exists().where(Task.key == literal("no_reply:") + cast(Email.id, String))
    query = (
        select(Email.id, Email.message_id, Email.flags)
        .where(
            Email.direction == "outbound",
            Email.transactional.is_(False),
            Email.received_at >= oldest,
            at >= lower,
            at <= upper,
            or_(Email.message_id == "", ~answered),
            or_(Email.normalized_subject == "", ~followed),
            reachable,
            ~tasked,
        )
        .order_by(Email.id)
        .limit(SCAN_PAGE)
    )
    after = 0
    while True:
        rows = session.execute(query.where(Email.id > after)).tuples().all()
        for email_id, message_id, flags in rows:
            automatic = any((flags or {}).get(n) for n in ("bulk", "auto_generated", "bounce"))
            if not automatic and not _referenced(session, email_id, message_id, oldest):
                yield email_id
        if len(rows) < SCAN_PAGE:
            return
        after = rows[-1][0]


def _referenced(session: Session, email_id: int, message_id: str, oldest: datetime) -> bool:
    """A later email names ``message_id`` in its References (a reply to a reply). Stored as a
    JSON list: its text holds the id JSON-quoted, as json.dumps writes it."""
    if not message_id:
        return False
    needle = json.dumps(message_id).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    found = session.scalar(
        select(Email.id)
        .where(
            Email.id != email_id,
            Email.direction != "internal",
            Email.received_at >= oldest,
            cast(Email.references, Text).like(f"%{needle}%", escape="\\"),
        )
        .limit(1)
    )
    return found is not None


# -- notification ---------------------------------------------------------------------------------

RELAY_PAUSE = 60.0  # seconds without notification attempts after the relay failed
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def notify(context: PluginContext, relay: Relay, notice: Notice) -> bool:
    """Tell the owner by email; False when the relay failed or is paused after a failure (the
    worker must not wait on a dead relay for every task). Never raises for the relay."""
    counts = counts_of(context)
    paused_until = float(context.state.get("relay_paused_until", 0.0))
    if time.monotonic() < paused_until:
        counts["notify_skipped"] += 1
        context.log.warning("task %s: owner not notified: relay paused", notice.task_id)
        return False
    try:
        _send(relay, _message(relay, notice))
    except (OSError, smtplib.SMTPException) as exc:
        counts["notify_failed"] += 1
        context.state["relay_paused_until"] = time.monotonic() + RELAY_PAUSE
        context.log.warning("task %s: owner not notified: %s", notice.task_id, describe(exc))
        _audit(context, "task.notify_failed", notice.task_id, error=type(exc).__name__)
        return False
    counts["notified"] += 1
    _audit(context, "task.notified", notice.task_id)
    return True


def _message(relay: Relay, notice: Notice) -> EmailMessage:
    title = _CONTROL.sub("?", notice.title)
    due = f"{notice.due_at:%Y-%m-%d %H:%M} UTC" if notice.due_at else "no due date"
    msg = EmailMessage()
    msg["From"] = relay.sender
    msg["To"] = notice.to
    msg["Subject"] = f"Task #{notice.task_id}: {title}"[:250]
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(domain=relay.sender.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, no logging loops
    msg.set_content(
        f"A follow-up task for you in the CRM:\n\n"
        f"  {title}\n"
        f"  Contact: {_CONTROL.sub('?', notice.contact)}\n"
        f"  Due: {due}\n\n"
        f"bccrm tasks list --owner {notice.to}\n"
        f"bccrm tasks done {notice.task_id}\n"
    )
    return msg


def _send(relay: Relay, message: EmailMessage) -> None:
    with smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout) as smtp:
        if relay.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if relay.username:
            smtp.login(relay.username, relay.password)
        smtp.send_message(message)


def _audit(context: PluginContext, action: str, task_id: int, **details: Any) -> None:
    """Record what became of a notification; the task stands whatever happens here."""
    try:
        with context.sessions.begin() as session:
            repo.audit(session, context.actor, action, "task", task_id, **details)
    except OperationalError:
        context.log.warning("task %s: %s not audited (database unavailable)", task_id, action)
