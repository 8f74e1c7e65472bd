"""The tasks plugin (issue #8): buying signals in replies (English, Polish with its inflections,
German, …) and no false positives, new contacts, "no reply in N days" on an injected clock,
objecting contacts left alone, idempotency on redelivery, owner routing by phone country, TLD
and team inbox with round-robin (also between two workers), owner notification received by a
real aiosmtpd server on 127.0.0.1 and a relay that is down, ``bccrm tasks`` and the whole way
through ``bccrm ingest`` and ``bccrm plugins deliver`` — on SQLite, and PostgreSQL in CI."""

from __future__ import annotations

import functools
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

import plugins.tasks as tasks
from gateway.app import App, build_app
from gateway.crm import (
    AuditEntry,
    Contact,
    ContactPhone,
    PluginDelivery,
    PluginEvent,
    Setting,
    Task,
    repo,
)
from gateway.crm.db import upgrade
from gateway.events import emit_contact_created
from gateway.outbox import Dispatcher
from gateway.plugin_host import Installed, PluginError, PluginHost
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user

DATA = Path(__file__).parents[1] / "data" / "parsing"
START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
SALES = "sales@example.com"
SALES_ROUTE = "sales@crm.example.com"


class Clock:
    """The host's clock: fixed until a test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def installed() -> list[Installed]:
    return [Installed("tasks", tasks, "", True)]


Start = Callable[..., App]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start(app: App, make_config: ConfigFactory, clock: Clock) -> Iterator[Start]:
    """An app on the test's database whose only plugin is tasks with these ``[plugin.tasks]``
    settings (``route``: a list of tables), on ``clock``; the reps Anna, Hans, Petra and Otto
    are registered, and sales@ is a team inbox."""
    for address, name in (
        ("anna@example.com", "Anna Nowak"),
        ("hans@example.com", "Hans Weber"),
        ("petra@example.com", "Petra Lang"),
        ("otto@example.com", "Otto Brandt"),
    ):
        add_user(app, address, name)
    apps: list[App] = []

    def build(
        route: list[dict[str, Any]] | None = None,
        sections: dict[str, Any] | None = None,
        **settings: Any,
    ) -> App:
        tables: dict[str, Any] = {"plugin.tasks": settings, **(sections or {})}
        if route:
            tables["plugin.tasks.route"] = route
        config = make_config(
            plugins={"retry_base": 0},
            team_inbox=[{"address": SALES, "route": SALES_ROUTE, "mode": "log"}],
            **tables,
        )
        built = build_app(config)
        built._plugins = PluginHost(config, built.sessions, plugins=installed(), now=clock)
        apps.append(built)
        return built

    yield build
    for built in apps:
        built.close()


def mail(
    sender: str,
    to: str,
    subject: str,
    body: str = "Dzień dobry,\n\nprzesyłam informacje.\n",
    at: datetime = START,
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = make_msgid(domain="mail.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP_POLICY)


def log(app: App, raw: bytes, at: datetime = START, rcpt: str = LOG) -> int:
    """Log ``raw`` as the org's MTA copies it to bccrm (a trusted peer) at ``at``."""
    envelope = Envelope(
        mail_from="", rcpt_tos=(rcpt,), trusted_peer=True, received_at=at.timestamp()
    )
    outcome = app.processor().process(f"t-{make_msgid()}", raw, envelope)
    assert outcome.status == "logged", outcome
    assert outcome.email_id is not None
    return outcome.email_id


def reply(
    app: App,
    text: str,
    sender: str = "Jan Kowalski <jan@acme.pl>",
    to: str = "Anna Nowak <anna@example.com>",
    subject: str = "Re: Oferta",
    at: datetime = START,
    rcpt: str = LOG,
    **headers: str,
) -> int:
    """An inbound reply (to Anna unless ``to``) with ``text`` as its new text."""
    return log(app, mail(sender, to, subject, text, at=at, **headers), at=at, rcpt=rcpt)


def sent(app: App, to: str, subject: str, at: datetime, **headers: str) -> tuple[int, str]:
    """Anna's outbound email (id, Message-ID) sent at ``at``."""
    raw = mail("Anna Nowak <anna@example.com>", to, subject, at=at, **headers)
    message_id = str(message_from_bytes(raw)["Message-ID"])
    return log(app, raw, at=at), message_id


def deliver(app: App) -> None:
    stats = Dispatcher(app.plugins).run()
    assert stats.failed == 0, stats


def all_tasks(app: App) -> list[Task]:
    with app.sessions() as session:
        return list(session.scalars(select(Task).order_by(Task.id)))


def user_id(app: App, address: str) -> int:
    with app.sessions() as session:
        found = repo.user_by_address(session, address)
        assert found is not None
        return found.id


def contact_id(app: App, address: str) -> int:
    with app.sessions() as session:
        found = repo.contact_id_by_email(session, address)
        assert found is not None
        return found


def object_to_processing(app: App, address: str) -> None:
    with app.sessions.begin() as session:
        session.get_one(Contact, contact_id(app, address)).objecting = True


def new_contact(app: App, address: str, *phones: str) -> int:
    """A contact bccrm created (with its contact_created event), as matching does."""
    with app.sessions.begin() as session:
        contact = repo.create_contact(
            session, address, first_name="Kim", last_name=address[0].upper(), origin="gateway"
        )
        contact.phones.extend(ContactPhone(e164=p, kind="signature") for p in phones)
        emit_contact_created(session, contact)
        return contact.id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- buying signals ----------------------------------------------------------------------------

DEFAULTS = tasks.parse_settings(tasks.Reader({}, "plugin.tasks"))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Could you send us a quote for 40 licences?", "en"),
        ("What is your PRICING for the EU?", "en"),
        ("Please send the updated proposal.", "en"),
        ("We need a formal quotation.", "en"),
        ("Prosimy o wycenę wdrożenia.", "pl"),
        ("Czekamy na wyceny obu wariantów.", "pl"),
        ("Proszę o przygotowanie oferty.", "pl"),
        ("Akceptujemy ofertę nr 118/2026.", "pl"),
        ("Zgodnie z ofercie z marca", "pl"),
        ("Potwierdzamy ZAMÓWIENIE.", "pl"),
        ("chcemy zamowic 200 sztuk", "pl"),  # typed without diacritics
        ("Proszę o aktualny cennik.", "pl"),
        ("Bitte senden Sie uns ein Angebot.", "de"),
        ("Die Angebote liegen bei.", "de"),
        ("Die Preise für 2027 bitte.", "de"),
        ("Unsere Bestellung folgt.", "de"),
        ("Pourriez-vous nous envoyer un devis ?", "fr"),
        ("Solicitamos un presupuesto.", "es"),
    ],
)
def test_buying_signals_are_found_in_every_language(text: str, language: str) -> None:
    assert tasks.buying_signal(DEFAULTS, text) == language


@pytest.mark.parametrize(
    "text",
    [
        "We handle it pricewise next quarter.",
        "As quoted below, the meeting is on Monday.",
        "Thanks, that was priceless.",
        "Oferuję pomoc przy wdrożeniu.",  # "I offer": not ofert-
        "Trwa przecena zimowa.",  # a markdown: "cena" only ends the word
        "Dziękuję za spotkanie, do zobaczenia w piątek.",
        "Vielen Dank für das Gespräch.",
        "",
    ],
)
def test_no_buying_signal_inside_other_words_or_without_one(text: str) -> None:
    assert tasks.buying_signal(DEFAULTS, text) is None


def test_configured_words_replace_their_language_and_keep_the_others() -> None:
    reader = tasks.Reader(
        {"buying_signals": {"pl": ["faktur*"], "en": [], "it": ["preventivo"]}}, "plugin.tasks"
    )
    settings = tasks.parse_settings(reader)
    assert tasks.buying_signal(settings, "Prosimy o wycenę.") is None
    assert tasks.buying_signal(settings, "Czekamy na fakturę.") == "pl"
    assert tasks.buying_signal(settings, "Send a quote.") is None  # English switched off
    assert tasks.buying_signal(settings, "Ein Angebot bitte.") == "de"  # kept
    assert tasks.buying_signal(settings, "Un preventivo, per favore.") == "it"


@pytest.mark.parametrize(
    "text",
    [
        "Dzień dobry,\n\nprosimy o przesłanie wyceny.\n\nJan\n",
        "Hi Anna,\n\ncould you send us a quote for 40 licences?\n\nJan\n",
        "Guten Tag,\n\nbitte schicken Sie uns Ihr Angebot.\n\nJan\n",
    ],
    ids=["pl", "en", "de"],
)
def test_inbound_reply_with_a_buying_signal_makes_one_follow_up(start: Start, text: str) -> None:
    app = start(route=[{"tld": "pl", "owners": ["hans@example.com"]}])
    email = reply(app, text, subject="Re: CRM")
    deliver(app)
    follow_up = [t for t in all_tasks(app) if t.rule == "buying_signal"]
    assert len(follow_up) == 1
    task = follow_up[0]
    assert task.title == "Follow up: CRM"  # the thread's subject
    assert task.key == f"buying_signal:{email}" and task.email_id == email
    assert task.contact_id == contact_id(app, "jan@acme.pl")
    assert task.owner_id == user_id(app, "hans@example.com")
    assert task.due_at == START + timedelta(days=1) and task.status == "open"
    assert task.created_by == "plugin:tasks"


def test_no_follow_up_without_signal_for_outbound_or_without_reply_text(start: Start) -> None:
    app = start(new_contact_task=False)
    reply(app, "Dziękuję, do zobaczenia w piątek.")
    log(app, mail("Anna Nowak <anna@example.com>", "Jan <jan@acme.pl>", "Wycena", "Oto wycena."))
    deliver(app)
    assert all_tasks(app) == []
    # At privacy level metadata no reply text is kept: there is nothing to look in.
    metadata = start(sections={"privacy": {"level": "metadata"}}, new_contact_task=False)
    reply(metadata, "Prosimy o wycenę.", sender="Ewa Lis <ewa@gamma.pl>")
    deliver(metadata)
    assert all_tasks(metadata) == []


def test_objecting_contacts_get_no_tasks(start: Start, clock: Clock) -> None:
    """Art. 21: an objecting sender's buying signal, an objecting new contact and an
    unanswered email to an objecting contact all leave no task."""
    app = start()
    sent(app, "Jan Kowalski <jan@acme.pl>", "Harmonogram", at=START - timedelta(days=5))
    reply(app, "Prosimy o wycenę.", at=START - timedelta(days=4), subject="Inny temat")
    object_to_processing(app, "jan@acme.pl")
    kim = new_contact(app, "kim@beta.de")
    object_to_processing(app, "kim@beta.de")
    deliver(app)
    app.plugins.tick(clock())
    assert all_tasks(app) == []
    assert kim


def test_redelivery_makes_no_second_task(start: Start) -> None:
    """The same events delivered again (a crash after the hook, another node) find their tasks
    by key: still one task each, one audit entry each."""
    app = start()
    email = reply(app, "Please send your pricing.")
    deliver(app)
    first = [(t.id, t.key) for t in all_tasks(app)]
    jan = contact_id(app, "jan@acme.pl")
    assert sorted(key or "" for _, key in first) == [f"buying_signal:{email}", f"new_contact:{jan}"]
    with app.sessions.begin() as session:
        session.execute(update(PluginDelivery).values(status="pending", attempts=0))
    deliver(app)
    assert [(t.id, t.key) for t in all_tasks(app)] == first
    with app.sessions() as session:
        created = session.scalar(select(func.count()).where(AuditEntry.action == "task.created"))
    assert created == 2


def test_a_database_outage_before_the_task_exists_is_retried(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = start(new_contact_task=False)
    reply(app, "Ein Angebot, bitte.")

    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patch:
        patch.setattr(tasks, "add_task", down)
        Dispatcher(app.plugins).run()
    with app.sessions() as session:
        delivery = session.scalars(
            select(PluginDelivery)
            .join(PluginEvent, PluginEvent.id == PluginDelivery.event_id)
            .where(PluginEvent.kind == "email_logged")
        ).one()
        assert (delivery.status, delivery.last_error) == ("pending", "database unavailable")
    assert all_tasks(app) == []
    deliver(app)  # retry_base 0: due again at once
    assert [t.rule for t in all_tasks(app)] == ["buying_signal"]


# -- new contacts and owner routing -------------------------------------------------------------

ROUTES = [
    {"phone_country": "DE", "owners": ["hans@example.com"]},
    {
        "tld": ["de", "at"],
        "owners": ["petra@example.com", "nobody@example.com", "otto@example.com"],
    },
    {"team_inbox": SALES, "owners": ["hans@example.com"]},
]


def test_new_contacts_are_routed_round_robin(start: Start) -> None:
    """The first matching route wins (a German phone before the .de domain); owners take turns
    in order across tasks, an address that is no user is passed over, and the turn is kept in
    the settings table."""
    app = start(route=ROUTES, new_contact_due_days=2)
    ids = [new_contact(app, f"{name}@firma{n}.de") for n, name in enumerate("abcd")]
    phoned = new_contact(app, "e@firma.de", "+4930901820")
    austrian = new_contact(app, "f@firma.at")
    polish = new_contact(app, "g@firma.pl")
    deliver(app)
    owner_of = {t.contact_id: t.owner_id for t in all_tasks(app)}
    petra, otto = user_id(app, "petra@example.com"), user_id(app, "otto@example.com")
    assert [owner_of[i] for i in ids] == [petra, otto, petra, otto]
    assert owner_of[phoned] == user_id(app, "hans@example.com")
    assert owner_of[austrian] == petra
    assert owner_of[polish] is None  # no route, no contact owner, nobody logged an email
    with app.sessions() as session:
        assert session.get_one(Setting, "tasks.round_robin.2").value == "5"
        assert session.get_one(Setting, "tasks.round_robin.1").value == "1"
    task = next(t for t in all_tasks(app) if t.contact_id == ids[0])
    assert task.title == "New contact: Kim A" and task.key == f"new_contact:{ids[0]}"
    assert task.due_at == START + timedelta(days=2)


def test_team_inbox_route_and_the_rep_as_fallback(start: Start) -> None:
    """A buying signal through the sales@ team inbox goes to its route's owner; the same signal
    written to Anna directly matches no route and goes to her, the rep it was written to."""
    app = start(route=ROUTES, new_contact_task=False)
    via_inbox = reply(app, "Send a quote, please.", to=SALES, rcpt=SALES_ROUTE)
    direct = reply(app, "Send a quote, please.", sender="Ewa Lis <ewa@gamma.pl>")
    deliver(app)
    owner_of = {t.email_id: t.owner_id for t in all_tasks(app)}
    assert owner_of == {
        via_inbox: user_id(app, "hans@example.com"),
        direct: user_id(app, "anna@example.com"),
    }


def test_round_robin_turns_are_never_shared_between_workers(app: App) -> None:
    """Two workers taking turns at once: every turn is taken exactly once."""
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            with app.sessions.begin() as session:
                turn = tasks.next_turn(session, "tasks.round_robin.9", 3)
            with lock:
                taken.append(turn)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with app.sessions() as session:
        assert session.get_one(Setting, "tasks.round_robin.9").value == "20"
    assert sorted(taken) == sorted([n % 3 for n in range(20)])


# -- no reply -------------------------------------------------------------------------------------


def test_no_reply_after_n_days_on_the_injected_clock(start: Start, clock: Clock) -> None:
    """Only the email nobody answered gets a task: not the one answered by In-Reply-To, by
    the same subject from that contact, by References only (a reply to a reply), nor one the
    rep followed up (that one waits for its own answer), nor one too old to look at."""
    app = start(new_contact_task=False)
    t0 = START
    silent, _ = sent(app, "Jan Kowalski <jan@acme.pl>", "Oferta CRM", at=t0)
    answered, answered_id = sent(app, "Ewa Lis <ewa@gamma.pl>", "Umowa", at=t0)
    reply(app, "Dzięki.", sender="Ewa Lis <ewa@gamma.pl>", subject="Inny temat",
          at=t0 + timedelta(days=1), In_Reply_To=answered_id)  # fmt: skip
    same_subject, _ = sent(app, "Piotr Z <piotr@delta.pl>", "Harmonogram", at=t0)
    reply(app, "OK.", sender="Piotr Z <piotr@delta.pl>", subject="RE: Harmonogram",
          at=t0 + timedelta(days=1))  # fmt: skip
    referenced, referenced_id = sent(app, "Ola M <ola@eps.pl>", "Szkolenie", at=t0)
    reply(app, "Termin pasuje.", sender="Kasia W <kasia@eps.pl>", subject="Termin",
          at=t0 + timedelta(days=1), In_Reply_To="<elsewhere@eps.pl>",
          References=f"{referenced_id} <elsewhere@eps.pl>")  # fmt: skip
    _, followed_id = sent(app, "Tom B <tom@zeta.pl>", "Licencje", at=t0)
    follow_up, _ = sent(app, "Tom B <tom@zeta.pl>", "Re: Licencje", at=t0 + timedelta(hours=5),
                        In_Reply_To=followed_id)  # fmt: skip
    # Sent a month ago, logged now (an archive imported late): too old to chase.
    old = mail("Anna Nowak <anna@example.com>", "Old One <old@eta.pl>", "Dawno",
               at=t0 - timedelta(days=30))  # fmt: skip
    log(app, old, at=t0)
    deliver(app)

    clock.now = t0 + timedelta(days=2, hours=23)
    app.plugins.tick(clock())
    assert all_tasks(app) == []
    clock.now = t0 + timedelta(days=3, hours=6)
    app.plugins.tick(clock())
    made = {t.email_id: t for t in all_tasks(app)}
    assert sorted(made) == [silent, follow_up]
    task = made[silent]
    assert task.title == "No reply: Oferta CRM" and task.key == f"no_reply:{silent}"
    assert task.due_at == clock.now and task.rule == "no_reply"
    assert task.contact_id == contact_id(app, "jan@acme.pl")
    assert task.owner_id == user_id(app, "anna@example.com")  # the rep who sent it
    clock.now += timedelta(hours=1)  # a later tick (or another node): nothing new
    app.plugins.tick(clock())
    assert len(all_tasks(app)) == 2
    assert answered and same_subject and referenced


def test_no_reply_zero_days_switches_the_rule_off(start: Start, clock: Clock) -> None:
    app = start(no_reply_days=0, new_contact_task=False)
    sent(app, "Jan Kowalski <jan@acme.pl>", "Oferta", at=START)
    clock.now = START + timedelta(days=5)
    app.plugins.tick(clock())
    assert all_tasks(app) == []


# -- notification ---------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok"


@pytest.fixture
def relay() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def test_the_owner_is_told_by_email_without_the_mail_text(
    start: Start, relay: tuple[Inbox, int]
) -> None:
    inbox, port = relay
    app = start(
        route=[{"tld": "pl", "owners": ["petra@example.com"]}],
        notify=True,
        relay=f"127.0.0.1:{port}",
        **{"from": "crm@example.com"},
        new_contact_task=False,
    )
    reply(app, "Prosimy o wycenę. Budżet: 48 000 zł, poufne.", subject="Re: Regały")
    deliver(app)
    [task] = all_tasks(app)
    [(sender, rcpts, raw)] = inbox.messages
    assert (sender, rcpts) == ("crm@example.com", ["petra@example.com"])
    message = message_from_bytes(raw, policy=default_policy)
    assert message["Subject"] == f"Task #{task.id}: Follow up: Regały"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()  # type: ignore[attr-defined]
    assert "Contact: Jan Kowalski" in body and "Due: 2026-11-03 10:00 UTC" in body
    assert "48 000" not in body and "wycen" not in body  # never the reply text
    assert tasks.counts_of(app.plugins.contexts["tasks"])["notified"] == 1
    with app.sessions() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert "task.notified" in actions


def test_the_notification_goes_through_starttls_and_login(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay that requires STARTTLS before AUTH, with the password from the environment."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    trusted = ssl.create_default_context

    def trusting_our_ca(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = trusted(*args, **kwargs)
        ca.configure_trust(context)
        return context

    monkeypatch.setattr(tasks.ssl, "create_default_context", trusting_our_ca)
    monkeypatch.setenv("BCCRM_TEST_RELAY_PASSWORD", "s3cret-relay")
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append((data.login, data.password))
        return AuthResult(success=(data.login, data.password) == (b"crm", b"s3cret-relay"))

    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_tls,
        require_starttls=True, authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        app = start(
            route=[{"tld": "de", "owners": ["otto@example.com"]}],
            sections={"plugin.tasks.password": {"env": "BCCRM_TEST_RELAY_PASSWORD"}},
            notify=True, relay=f"127.0.0.1:{controller.port}", starttls=True, username="crm",
            **{"from": "crm@example.com"},
        )  # fmt: skip
        new_contact(app, "kim@firma.de")
        deliver(app)
    finally:
        controller.stop()
    assert logins == [(b"crm", b"s3cret-relay")]
    [(_, rcpts, raw)] = inbox.messages
    assert rcpts == ["otto@example.com"]
    assert b"New contact: Kim K" in raw


def test_a_relay_that_is_down_costs_the_notification_not_the_task(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    app = start(
        route=[{"tld": "pl", "owners": ["petra@example.com"]}],
        notify=True,
        relay=f"127.0.0.1:{free_port()}",  # nobody listens
        **{"from": "crm@example.com"},
    )
    caplog.set_level(logging.WARNING, logger="bccrm.plugins.tasks")
    reply(app, "Prosimy o ofertę na 200 sztuk.")
    deliver(app)  # both deliveries done: neither failed nor waiting for a retry
    assert sorted(t.rule for t in all_tasks(app)) == ["buying_signal", "new_contact"]
    with app.sessions() as session:
        assert set(session.scalars(select(PluginDelivery.status))) == {"done"}
    counts = tasks.counts_of(app.plugins.contexts["tasks"])
    # The first failure pauses the relay: the second task does not wait on it again.
    assert (counts["notify_failed"], counts["notify_skipped"], counts["notified"]) == (1, 1, 0)
    assert "owner not notified: connection failed" in caplog.text
    assert "200 sztuk" not in caplog.text


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"no_reply_days": -1}, "plugin.tasks.no_reply_days: must be 0..365 days"),
        ({"colour": "red"}, "plugin.tasks.colour: unknown option"),
        ({"notify": True}, "plugin.tasks.relay: needed when notify = true"),
        ({"notify": True, "relay": "smtp.example.com:587"}, "plugin.tasks.from: needed"),
        ({"notify": True, "relay": "mx:99999", "from": "a@example.com"}, "expected host:port"),
        (
            {"notify": True, "relay": "smtp.example.com:587", "from": "a@example.com",
             "username": "crm"},
            "plugin.tasks.username: needs starttls = true",
        ),
        ({"buying_signals": {"pl": ["a*"]}}, "a stem needs at least 3 letters"),
        ({"buying_signals": {"pl": ["of*ert"]}}, "'of*ert' is not a word"),
        ({"route": [{"owners": ["anna@example.com"]}]}, "route[1]: needs exactly one of"),
        ({"route": [{"tld": "de"}]}, "route[1].owners: name at least one user address"),
        (
            {"route": [{"tld": "de", "owners": ["a@example.com"]},
                       {"phone_country": "XX", "owners": ["a@example.com"]}]},
            "route[2].phone_country: 'XX' is not a country code",
        ),
        ({"route": [{"team_inbox": "sales", "owners": ["a@x.pl"]}]}, "'sales' is not an email"),
    ],
)  # fmt: skip
def test_bad_settings_stop_the_start(
    app: App, make_config: ConfigFactory, settings: dict[str, Any], problem: str
) -> None:
    tables: dict[str, Any] = {"plugin.tasks": dict(settings)}
    if "route" in settings:
        tables["plugin.tasks.route"] = tables["plugin.tasks"].pop("route")
    if "buying_signals" in settings:
        tables["plugin.tasks.buying_signals"] = tables["plugin.tasks"].pop("buying_signals")
    with pytest.raises(PluginError) as caught:
        PluginHost(make_config(**tables), app.sessions, plugins=installed())
    assert problem in str(caught.value)


def test_no_settings_section_loads_with_the_defaults(app: App, config: Any) -> None:
    host = PluginHost(config, app.sessions, plugins=installed())
    settings = tasks.settings_of(host.contexts["tasks"])
    assert (settings.no_reply_days, settings.new_contact_task, settings.relay) == (3, True, None)
    assert [language for language, _ in settings.signals] == ["en", "pl", "de", "fr", "es"]


# -- bccrm tasks, and end to end ------------------------------------------------------------------


def test_tasks_list_and_done(start: Start, capsys: pytest.CaptureFixture[str]) -> None:
    app = start(route=[{"tld": "de", "owners": ["hans@example.com"]}])
    german = new_contact(app, "kim@firma.de")
    polish = new_contact(app, "ola@firma.pl")
    deliver(app)
    cli = Cli(app.config, capsys)
    listed = cli.json("tasks", "list")
    assert [(t["contact_id"], t["owner_email"], t["status"]) for t in listed] == [
        (german, "hans@example.com", "open"),
        (polish, "", "open"),
    ]
    assert listed[0]["due_at"] == (START + timedelta(days=1)).isoformat()
    [hans] = cli.json("tasks", "list", "--owner", "HANS@example.com")
    assert hans["contact_id"] == german
    assert [t["contact_id"] for t in cli.json("tasks", "list", "--contact", str(polish))] == [
        polish
    ]
    code, out, err = cli("tasks", "list")
    assert code == 0, err
    assert "New contact: Kim K" in out and "hans@example.com" in out

    code, out, _ = cli("tasks", "done", str(hans["id"]), "--by", "hans@example.com")
    assert (code, out) == (0, f"task {hans['id']} done: New contact: Kim K\n")
    assert cli("tasks", "done", str(hans["id"]))[:2] == (0, f"task {hans['id']} was done already\n")
    assert [t["id"] for t in cli.json("tasks", "list", "--status", "done")] == [hans["id"]]
    assert len(cli.json("tasks", "list", "--status", "all")) == 2
    assert cli.json("tasks", "list", "--owner", "hans@example.com") == []
    with app.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "task.done")).one()
    assert (entry.actor, entry.object_id) == ("hans@example.com", str(hans["id"]))

    code, _, err = cli("tasks", "done", "999")
    assert code == 1 and "no task 999" in err
    code, _, err = cli("tasks", "list", "--owner", "nobody@example.com")
    assert code == 2 and "not a registered user address" in err


def test_ingest_then_deliver_makes_the_follow_up(
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rep's forward of a Polish request for an offer ("przygotowanie oferty") through
    ``bccrm ingest``; ``bccrm plugins deliver`` makes its follow-up and the new-contact task,
    both the rep's, and ``bccrm tasks list`` shows them."""
    monkeypatch.setattr("gateway.plugin_host.installed_plugins", installed)
    config = make_config(
        plugins={"retry_base": 0},
        organization={"domains": ["example.com", "example.pl"]},
        **{"plugin.tasks": {}},
    )
    app = build_app(config)
    try:
        upgrade(app.engine)
        add_user(app, "piotr.zielinski@example.pl", "Piotr Zieliński")
        cli = Cli(config, capsys)
        path = DATA / "fwd-gmail-pl-przekazana-dalej.eml"
        assert cli.json("ingest", str(path))["outcomes"] == {"logged": 1}
        code, _, err = cli("plugins", "deliver")
        assert code == 0, err
        listed = {t["rule"]: t for t in cli.json("tasks", "list")}
        assert set(listed) == {"buying_signal", "new_contact"}
        follow_up = listed["buying_signal"]
        assert "Zapytanie o dostawę regałów magazynowych" in follow_up["title"]
        assert follow_up["title"].startswith("Follow up: ")
        assert follow_up["contact_name"] == "Jan Kowalski"
        assert follow_up["owner_email"] == "piotr.zielinski@example.pl"
        assert listed["new_contact"]["title"] == "New contact: Jan Kowalski"
        code, _, err = cli("plugins", "deliver")  # again: nothing new
        assert code == 0, err
        assert len(cli.json("tasks", "list", "--status", "all")) == 2
    finally:
        app.close()


def test_ingest_then_deliver_finds_the_unanswered_offer(
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rep's own sent offer, forwarded to bccrm and ingested; ``bccrm plugins deliver``
    five days after it was sent (the clock of the command's plugin host) finds it unanswered."""
    monkeypatch.setattr("gateway.plugin_host.installed_plugins", installed)
    offer_sent = datetime(2026, 11, 4, 15, 2, tzinfo=UTC)  # its Date header
    clock = Clock()
    clock.now = offer_sent + timedelta(days=5)
    monkeypatch.setattr("gateway.app.PluginHost", functools.partial(PluginHost, now=clock))
    config = make_config(plugins={"retry_base": 0}, **{"plugin.tasks": {"new_contact_task": False}})
    app = build_app(config)
    try:
        upgrade(app.engine)
        add_user(app, "anna.nowak@example.com", "Anna Nowak")
        cli = Cli(config, capsys)
        path = DATA / "fwd-gmail-pl-own-sent-offer.eml"
        assert cli.json("ingest", str(path))["outcomes"] == {"logged": 1}
        code, _, err = cli("plugins", "deliver")
        assert code == 0, err
        [task] = cli.json("tasks", "list")
        assert task["rule"] == "no_reply"
        assert task["title"] == "No reply: Oferta na szkolenia BHP dla Stalmet S.A."
        assert task["owner_email"] == "anna.nowak@example.com"
        assert task["due_at"] == clock.now.isoformat()
    finally:
        app.close()


def test_a_new_contact_from_a_team_inbox_goes_to_its_route(start: Start) -> None:
    """A person bccrm meets through sales@ is a new contact whose task goes to the sales@
    route's owner: the event says which inbox the mail came through."""
    app = start(route=ROUTES[2:])
    reply(app, "Dzień dobry.", sender="Ewa Lis <ewa@gamma.pl>", to=SALES, rcpt=SALES_ROUTE)
    deliver(app)
    [task] = [t for t in all_tasks(app) if t.key and t.key.startswith("new_contact:")]
    assert task.owner_id == user_id(app, "hans@example.com")
    assert task.email_id is not None
