"""The worker processes waiting messages in batches, one transaction each ([worker]
batch_size): all or nothing, and a message that fails, is held or was tried before is
processed on its own, so that no other message pays for it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from gateway.app import App, build_app
from gateway.crm import AuditEntry, Email, EmailLogger, PluginEvent
from gateway.crm.db import upgrade
from gateway.hooks import EmailLogged, event_from_payload, hookimpl
from gateway.pipeline import DEFAULT_STAGES, STAGES, MessageContext, MessageProcessor, Pipeline
from gateway.plugin_host import Installed, PluginHost
from gateway.services.export import export_all
from gateway.spool import Envelope
from gateway.worker import Worker
from tests.conftest import ConfigFactory
from tests.support import LOG, add_user, make_message

ENVELOPE = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)


@pytest.fixture
def batch_app(make_config: ConfigFactory, request: pytest.FixtureRequest) -> Iterator[App]:
    size = getattr(request, "param", 32)
    instance = build_app(make_config(worker={"batch_size": size}))
    upgrade(instance.engine)
    instance.spool.ensure()
    add_user(instance, "anna@example.com", "Anna Nowak")
    add_user(instance, "piotr@example.com", "Piotr Wiśniewski")
    yield instance
    instance.close()


class Trap:
    """A stage after verify that does ``action`` to messages whose subject holds ``word``."""

    name = "trap"
    description = "a stand-in for a bug, an outage or a hold, on chosen messages"

    def __init__(self, word: str, action: Callable[[], None]) -> None:
        self.word, self.action = word, action

    def process(self, ctx: MessageContext) -> None:
        if self.word in ctx.require_parsed().subject:
            self.action()


def with_trap(app: App, trap: Trap) -> Worker:
    stages = [STAGES[name](app.config) for name in DEFAULT_STAGES]
    stages.insert(DEFAULT_STAGES.index("verify") + 1, trap)
    worker = app.worker()
    worker.processor = MessageProcessor(Pipeline(stages), app.sessions)
    return worker


def commits(app: App) -> list[int]:
    """A counter of the engine's commits from now on."""
    counter = [0]

    def count(_conn: Any) -> None:
        counter[0] += 1

    event.listen(app.engine, "commit", count)
    return counter


def store(app: App, *subjects: str) -> list[str]:
    return [
        app.spool.store(make_message(subject=s, message_id=f"<{s}@example.com>"), ENVELOPE)
        for s in subjects
    ]


def drain(worker: Worker) -> dict[str, int]:
    while worker.drain_once():
        pass
    return worker.stats


def logged_entries(app: App) -> list[str]:
    """The spool entries audited as logged, one item per audit entry."""
    with app.sessions() as session:
        details = session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "email.logged")
        ).all()
    return sorted(d["entry"] for d in details)


def subjects(app: App) -> list[str]:
    with app.sessions() as session:
        return sorted(session.scalars(select(Email.subject)))


@pytest.mark.parametrize(
    ("batch_app", "expected"), [(32, 1), (2, 3), (1, 5)], indirect=["batch_app"]
)
def test_waiting_messages_are_logged_in_batches_of_batch_size(
    batch_app: App, expected: int
) -> None:
    entries = store(batch_app, *(f"m{n}" for n in range(5)))
    counter = commits(batch_app)
    stats = drain(batch_app.worker())
    assert stats["logged"] == 5
    assert counter[0] == expected
    assert logged_entries(batch_app) == sorted(entries)
    assert list(batch_app.spool.cur.iterdir()) == list(batch_app.spool.new.iterdir()) == []


def test_a_held_message_is_quarantined_alone_and_the_rest_of_its_batch_logged_once(
    batch_app: App,
) -> None:
    first = store(batch_app, "m0", "m1")
    held = batch_app.spool.store(b"Subject: no sender\r\n\r\nbody\r\n", ENVELOPE)
    last = store(batch_app, "m3", "m4")
    stats = drain(batch_app.worker())
    assert (stats["logged"], stats["held"], stats["retried"]) == (4, 1, 0)
    [note] = batch_app.spool.quarantined()
    assert (note["id"], note["attempts"]) == (held, 1)
    # The first attempt of the batch was rolled back: each message audited exactly once.
    assert logged_entries(batch_app) == sorted(first + last)
    assert subjects(batch_app) == ["m0", "m1", "m3", "m4"]


def test_a_failing_message_counts_attempts_for_itself_only(batch_app: App) -> None:
    def boom() -> None:
        raise ValueError("boom")

    worker = with_trap(batch_app, Trap("POISON", boom))
    entries = store(batch_app, "m0", "POISON", "m2", "m3")
    stats = drain(worker)
    max_attempts = batch_app.config.worker.max_attempts
    assert (stats["logged"], stats["quarantined"]) == (3, 1)
    assert stats["retried"] == max_attempts - 1
    [note] = batch_app.spool.quarantined()
    assert (note["id"], note["attempts"]) == (entries[1], max_attempts)
    assert logged_entries(batch_app) == sorted(entries[:1] + entries[2:])


def test_the_database_failing_mid_batch_puts_the_batch_back_without_counting(
    batch_app: App,
) -> None:
    def outage() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    worker = with_trap(batch_app, Trap("m2", outage))
    entries = store(batch_app, "m0", "m1", "m2", "m3")
    assert worker.drain_once() == 4
    assert worker.degraded
    assert worker.stats["logged"] == 0
    assert sorted(batch_app.spool.pending()) == sorted(entries)  # no ".aN": nothing counted
    assert subjects(batch_app) == []
    assert drain(batch_app.worker())["logged"] == 4
    assert logged_entries(batch_app) == sorted(entries)


def test_a_message_tried_before_is_processed_in_its_own_transaction(batch_app: App) -> None:
    fresh = store(batch_app, "m0", "m1", "m2")
    [again] = store(batch_app, "m3")
    os.rename(batch_app.spool.new / again, batch_app.spool.new / f"{again}.a1")  # one failure
    counter = commits(batch_app)
    assert drain(batch_app.worker())["logged"] == 4
    assert counter[0] == 2  # the three fresh ones together, the retried one alone
    assert logged_entries(batch_app) == sorted([*fresh, again])


def test_two_copies_of_one_email_in_a_batch_make_one_email_with_both_loggers(
    batch_app: App,
) -> None:
    raw = make_message(message_id="<same@example.com>", to="Jan <jan@acme.pl>")
    batch_app.spool.store(raw, ENVELOPE)
    batch_app.spool.store(raw, Envelope("piotr@example.com", (LOG,), trusted_peer=True))
    stats = drain(batch_app.worker())
    assert (stats["logged"], stats["duplicate"]) == (1, 1)
    with batch_app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Email)) == 1
        assert session.scalar(select(func.count()).select_from(EmailLogger)) == 2


def test_a_person_created_by_one_message_is_known_to_the_next_in_the_batch(
    batch_app: App,
) -> None:
    """The batch reads its people's contacts at once; the contact the first message creates
    (and the address it adds) must not be missed by the second: one contact, both emails on
    it, and no rolled-back attempt (one commit)."""
    sender = "Jan Wiśniewski <jan@wisniewski-bud.pl>"
    for n in range(2):
        raw = make_message(
            sender=sender, to="Anna Nowak <anna@example.com>", subject=f"Zapytanie {n}"
        )
        batch_app.spool.store(raw, ENVELOPE)
    counter = commits(batch_app)
    assert drain(batch_app.worker())["logged"] == 2
    assert counter[0] == 1
    data = export_all(batch_app.sessions)
    [contact] = data["contacts"]
    assert [e["contact_ids"] for e in data["emails"]] == [[contact["id"]]] * 2
    outcomes = [
        p["match"]["outcome"]
        for e in data["emails"]
        for p in e["participants"]
        if p["role"] == "from"
    ]
    assert outcomes == ["created", "linked"]  # the second by its address, not by its name


class EmailLoggedListener:
    """A plugin receiving email_logged (so that the worker records those events)."""

    @hookimpl
    def bccrm_email_logged(self, event: EmailLogged, channel: str) -> None:
        pass


def test_the_contacts_of_a_batchs_email_logged_events_are_read_once_as_it_commits(
    batch_app: App,
) -> None:
    """Each email_logged event describes its own contacts, in the order of the messages, as
    they are when the batch commits: a phone the second message's signature adds is in the
    first message's event too. One query reads them for the whole batch."""
    batch_app.spool.store(
        make_message(to="Jan Wiśniewski <jan@wisniewski-bud.pl>", subject="Oferta"), ENVELOPE
    )
    batch_app.spool.store(
        make_message(
            sender="Jan Wiśniewski <jan@wisniewski-bud.pl>",
            to="Anna Nowak <anna@example.com>",
            subject="Re: Oferta",
            body="Dziękuję.\n\n--\nJan Wiśniewski\nWiśniewski Bud\ntel. +48 601 234 567\n",
        ),
        ENVELOPE,
    )
    batch_app.spool.store(make_message(to="Ewa Zielińska <ewa@zielinska.pl>"), ENVELOPE)
    reads = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "LEFT OUTER JOIN contact_phones" in statement:
            reads.append(statement)

    event.listen(batch_app.engine, "before_cursor_execute", count)
    listener = [Installed("listener", EmailLoggedListener())]
    batch_app._plugins = PluginHost(batch_app.config, batch_app.sessions, listener)
    counter = commits(batch_app)
    assert drain(batch_app.worker())["logged"] == 3
    assert counter[0] == 1 and len(reads) == 1
    with batch_app.sessions() as session:
        rows = session.execute(
            select(PluginEvent.id, PluginEvent.payload)
            .where(PluginEvent.kind == "email_logged")
            .order_by(PluginEvent.id)
        ).all()
    events = [event_from_payload("email_logged", payload, event_id) for event_id, payload in rows]
    assert [e.subject for e in events] == ["Oferta", "Re: Oferta", "Oferta na wdrożenie"]
    assert [[(c.email, c.name) for c in e.contacts] for e in events] == [
        [("jan@wisniewski-bud.pl", "Jan Wiśniewski")],
        [("jan@wisniewski-bud.pl", "Jan Wiśniewski")],
        [("ewa@zielinska.pl", "Ewa Zielińska")],
    ]
    assert events[0].contacts[0].phones == events[1].contacts[0].phones == ("+48601234567",)
