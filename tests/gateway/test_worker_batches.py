"""The worker processes waiting messages in batches, one transaction each ([worker]
batch_size): all or nothing, and a message that fails, is held or was tried before is
processed on its own, so that no other message pays for it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from gateway.app import App, build_app
from gateway.crm import (
    AuditEntry,
    Deal,
    DealContact,
    Email,
    EmailLogger,
    PluginEvent,
    ReviewItem,
    questions,
    repo,
    txcache,
)
from gateway.crm.db import upgrade
from gateway.hooks import EmailLogged, event_from_payload, hookimpl
from gateway.pipeline import DEFAULT_STAGES, STAGES, MessageContext, MessageProcessor, Pipeline
from gateway.plugin_host import Installed, PluginHost
from gateway.services.contacts import ContactService
from gateway.services.deals import DealService
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


DEALS = """id,name,stage,status,company_domain,contact_emails,owner_email,updated_at
101,ACME wdrożenie,proposal,open,acme.pl,anna.kowalska@acme.pl,,2026-10-01
102,Beta licencje,negotiation,open,beta.pl,jan.nowak@beta.pl,,2026-10-01
103,Beta serwis,proposal,open,beta.pl,jan.nowak@beta.pl,,2026-11-01
104,Gamma projekt,discovery,open,gamma.pl,,,2026-09-01
"""


@pytest.fixture
def with_deals(batch_app: App, tmp_path: Path) -> dict[str, int]:
    """DEALS imported; their ids by external id."""
    path = tmp_path / "deals.csv"
    path.write_text(DEALS, encoding="utf-8")
    DealService(batch_app.sessions, batch_app.config.organization).import_csv(path)
    return {d["external_id"]: d["id"] for d in export_all(batch_app.sessions)["deals"]}


def deal_queries(app: App) -> list[str]:
    """The queries of open deals made from now on."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM deals" in statement and "deals.status" in statement:
            seen.append(statement)

    event.listen(app.engine, "before_cursor_execute", count)
    return seen


def deal_links(app: App) -> dict[str, list[tuple[int, str]]]:
    return {
        e["subject"]: [(a["id"], a["reason"]) for a in e["associations"] if a["kind"] == "deal"]
        for e in export_all(app.sessions)["emails"]
    }


def test_a_batch_reads_the_open_deals_of_its_known_people_up_front(
    batch_app: App, with_deals: dict[str, int]
) -> None:
    """One query for the people the batch knows and their companies; a person it creates has
    no deals to read, and a company nobody in the batch was known to belong to is read when
    it comes. The rules give what they give one message at a time."""
    for to, subject in (
        ("anna.kowalska@acme.pl", "Harmonogram"),
        ("jan.nowak@beta.pl", "Pytanie"),
        ("Ewa Lis <ewa.lis@gamma.pl>", "Spotkanie"),
        ("Piotr Nowy <piotr.nowy@acme.pl>", "Oferta"),
    ):
        batch_app.spool.store(make_message(to=to, subject=subject), ENVELOPE)
    queries = deal_queries(batch_app)
    counter = commits(batch_app)
    assert drain(batch_app.worker())["logged"] == 4
    assert counter[0] == 1
    assert len(queries) == 2  # up front, and Gamma's when Ewa Lis is linked to it
    assert deal_links(batch_app) == {
        "Harmonogram": [(with_deals["101"], "contact's only open deal")],
        "Pytanie": [],  # two open deals: a "which deal?" question
        "Spotkanie": [(with_deals["104"], "company's only open deal")],
        "Oferta": [(with_deals["101"], "company's only open deal")],
    }


class OpenDeal:
    """A stage (after verify) opening a deal with an existing contact in the batch's
    transaction, before the message whose subject holds ``word`` is matched."""

    name = "open-deal"
    description = "a deal opened in the middle of a batch"

    def __init__(self, word: str, contact_email: str) -> None:
        self.word, self.contact_email = word, contact_email

    def process(self, ctx: MessageContext) -> None:
        if self.word in ctx.require_parsed().subject:
            contact_id = repo.contact_id_by_email(ctx.session, self.contact_email)
            deal = Deal(name="Nowa umowa", stage="proposal", status="open")
            deal.contacts = [DealContact(contact_id=contact_id)]
            ctx.session.add(deal)
            ctx.session.flush()


def test_a_deal_written_in_the_batch_is_seen_by_its_later_messages(
    batch_app: App, with_deals: dict[str, int]
) -> None:
    stages = [STAGES[name](batch_app.config) for name in DEFAULT_STAGES]
    stages.insert(DEFAULT_STAGES.index("verify") + 1, OpenDeal("Druga", "anna.kowalska@acme.pl"))
    worker = batch_app.worker()
    worker.processor = MessageProcessor(Pipeline(stages), batch_app.sessions)
    for subject in ("Pierwsza", "Druga"):
        batch_app.spool.store(make_message(to="anna.kowalska@acme.pl", subject=subject), ENVELOPE)
    counter = commits(batch_app)
    assert drain(worker)["logged"] == 2
    assert counter[0] == 1
    links = deal_links(batch_app)
    assert links["Pierwsza"] == [(with_deals["101"], "contact's only open deal")]
    assert links["Druga"] == []  # now two open deals: a question, not deal 101


def test_a_question_is_read_once_per_batch_and_joined_by_the_later_messages(
    batch_app: App, tmp_path: Path
) -> None:
    """Matching asks whether a person was asked about, logging asks again to open the
    question: in a batch the answer is kept, and the second message joins the question the
    first opened. The candidates' names come from the directory's read."""
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,last_name,company\nanna.kowalska@acme.pl,Anna,Kowalska,ACME\n",
        encoding="utf-8",
    )
    ContactService(batch_app.sessions, batch_app.config.organization).import_csv(path)
    for subject in ("Pierwsza", "Druga"):
        raw = make_message(
            sender="Anna Kowalska <anna.k@gmail.com>",
            to="Anna Nowak <anna@example.com>",
            subject=subject,
        )
        batch_app.spool.store(raw, ENVELOPE)
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM review_items" in statement:
            reads.append(statement)

    event.listen(batch_app.engine, "before_cursor_execute", count)
    counter = commits(batch_app)
    assert drain(batch_app.worker())["logged"] == 2
    assert counter[0] == 1 and len(reads) == 1
    with batch_app.sessions() as session:
        [item] = session.scalars(select(ReviewItem)).all()
    assert item.key == "same_person:anna.k@gmail.com"
    assert [c["name"] for c in item.payload["candidates"]] == ["Anna Kowalska"]


def test_a_question_opened_in_a_rolled_back_savepoint_is_asked_again(batch_app: App) -> None:
    key = questions.new_contact_key("ewa@zielinska.pl")
    with batch_app.sessions() as session:
        txcache.enable(session)
        with session.begin():
            assert questions.existing(session, key) is None
            savepoint = session.begin_nested()
            first, created = questions.ask(session, "new_contact", key, {"email": "x"})
            assert created and questions.existing(session, key) is first
            savepoint.rollback()
            assert questions.existing(session, key) is None
            second, created = questions.ask(session, "new_contact", key, {"email": "x"})
            assert created
    with batch_app.sessions() as session:
        assert session.scalars(select(ReviewItem.id)).all() == [second.id]
