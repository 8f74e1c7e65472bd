"""Erasure (Art. 17) and access (Art. 15) of one person: mail about Anna Kowalska is delivered
through the real pipeline (logged, shared, forwarded, held in quarantine, still waiting in the
spool), then she is erased, and the database (its rows, and on SQLite its files), the spool,
the quarantine and the log are searched for her addresses."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text

from gateway.app import App
from gateway.config import Config
from gateway.crm import (
    AuditEntry,
    Base,
    Contact,
    ContactEmail,
    ContactNameKey,
    ContactPhone,
    Deal,
    DealContact,
    Email,
    EmailAttachment,
    LegalBasisCheck,
    ReviewItem,
    Setting,
    Suppression,
    Ticket,
    TicketContact,
)
from gateway.crm.merge import merge_contacts
from gateway.privacy.keys import address_hash, hash_key
from gateway.services.contacts import ContactService
from gateway.services.erasure import (
    ErasureError,
    ErasureReport,
    ErasureService,
    secure_delete,
)
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, drain, make_message

ANNA = "anna.kowalska@acme.pl"
OLD = "anna.k@old-acme.pl"  # her address on a contact merged into hers
ADDRESSES = (ANNA, OLD)
ENVELOPE = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
SIGNATURE = "Pozdrawiam\nAnna Kowalska\nKierownik Zakupów\nACME Sp. z o.o.\ntel. 601 234 567\n"


LEGAL = {"privacy": {"require_legal_basis": True}}
NEVER = {"matching": {"create_contacts": "never"}}


@pytest.fixture
def settings() -> dict[str, Any]:
    """Config sections of the test; tests change them with ``parametrize("settings", ...)``."""
    return LEGAL


@pytest.fixture
def config(make_config: ConfigFactory, settings: dict[str, Any]) -> Config:
    return make_config(**settings)


@pytest.fixture(autouse=True)
def rep(app: App) -> int:
    return add_user(app, "anna@example.com", "Anna Nowak")


def deliver(app: App, raw: bytes) -> dict[str, int]:
    app.spool.store(raw, ENVELOPE)
    return drain(app)


def newest_email(app: App) -> int:
    with app.sessions() as session:
        newest = session.scalar(select(func.max(Email.id)))
        assert newest is not None
        return newest


def base64_message(sender: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "anna@example.com"
    msg["Subject"] = "Kontakt"
    msg["Message-ID"] = "<b64@acme.pl>"
    msg.set_content(body, cte="base64")
    return msg.as_bytes(policy=SMTP_POLICY)


@dataclasses.dataclass
class World:
    anna: int  # her contact
    old: int  # the contact merged into hers
    other: int  # Piotr, another outside person
    solo: int  # inbound, she is the only outside party
    shared: int  # inbound, Piotr in copy
    forward: int  # a rep forwarded her mail
    outbound: int  # a rep wrote to her (opens a legal-basis check)
    from_old: int  # mail from her old address
    gmail: int  # "Anna Kowalska <a.k@gmail.com>": a same_person question about her contact
    unrelated: int  # mail that has nothing to do with her
    held: str  # her mail in quarantine (two From addresses)
    waiting: str  # her mail in new/, its body in base64
    waiting_other: str  # someone else's mail in new/
    deal: int
    ticket: int


def build_world(app: App, tmp_path: Path) -> World:
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "email,first_name,last_name,title,company,phone\n"
        f"{ANNA},Anna,Kowalska,Kierownik Zakupów,ACME,+48 601 234 567\n"
        f"{OLD},Anna,Kowalska,,,\n",
        encoding="utf-8",
    )
    result = ContactService(app.sessions, app.config.organization).import_csv(csv)
    assert (result.created, result.errors) == (2, [])
    with app.sessions() as session:
        anna = session.scalars(select(ContactEmail.contact_id).where(ContactEmail.email == ANNA))
        old = session.scalars(select(ContactEmail.contact_id).where(ContactEmail.email == OLD))
        anna_id, old_id = anna.one(), old.one()
    deliver(
        app,
        make_message(
            sender=f"Anna Kowalska <{OLD}>",
            to="Anna Nowak <anna@example.com>",
            subject="Stary adres",
            body=f"Dzień dobry,\n\npiszę ze starego adresu.\n\n{SIGNATURE}",
        ),
    )
    from_old = newest_email(app)
    with app.sessions.begin() as session:
        merge_contacts(session, anna_id, old_id, "cli:test")
    deliver(
        app,
        make_message(
            sender=f"Anna Kowalska <{ANNA}>",
            to="Anna Nowak <anna@example.com>",
            subject=f"Zamówienie od {ANNA.upper()}",
            body=(
                f"Dzień dobry,\n\nproszę o ofertę. Odpowiedź na {ANNA}.\n\n"
                + SIGNATURE.replace("Kierownik", "Dyrektor")  # a new title: a review question
            ),
            attachment=("anna-kowalska-zamowienie.pdf", b"%PDF-1.4 zamowienie"),
        ),
    )
    solo = newest_email(app)
    deliver(
        app,
        make_message(
            sender=f"Anna Kowalska <{ANNA}>",
            to="Anna Nowak <anna@example.com>",
            cc="Piotr Zieliński <piotr@thirdparty.pl>",
            subject="Spotkanie",
            body=(
                "Piotrze, Anno,\n\nspotkajmy się we wtorek. Piotr ma mój adres "
                f"<{ANNA}>, a Anna   Kowalska potwierdzi salę.\n\n{SIGNATURE}"
            ),
        ),
    )
    shared = newest_email(app)
    deliver(
        app,
        make_message(
            sender="Anna Nowak <anna@example.com>",
            to=LOG,
            subject="Fwd: Reklamacja",
            body=(
                "Do wiadomości.\n\n---------- Forwarded message ---------\n"
                f"From: Anna Kowalska <{ANNA}>\n"
                "Date: Mon, Nov 2, 2026 at 9:30 AM\nSubject: Reklamacja\n"
                "To: Anna Nowak <anna@example.com>\n\n"
                f"Dzień dobry,\n\nreklamuję dostawę.\n\n{SIGNATURE}"
            ),
        ),
    )
    forward = newest_email(app)
    deliver(
        app,
        make_message(
            sender="Anna Nowak <anna@example.com>",
            to=f"Anna Kowalska <{ANNA}>",
            subject="Oferta",
            body="Pani Anno,\n\nw załączeniu oferta.\n\nAnna Nowak\n",
        ),
    )
    outbound = newest_email(app)
    deliver(
        app,
        make_message(
            sender="Anna Kowalska <a.k@gmail.com>",
            to="Anna Nowak <anna@example.com>",
            body=(
                "Dzień dobry,\n\nproszę o ofertę.\n\nPozdrawiam\nAnna Kowalska\n"
                "Kierownik Zakupów\nACME Sp. z o.o.\ntel. 602 999 888\n"
            ),
        ),
    )
    gmail = newest_email(app)
    deliver(
        app,
        make_message(
            sender="Jan Nowicki <jan@nowicki.pl>",
            to="Anna Nowak <anna@example.com>",
            subject="Inna sprawa",
            body="Dzień dobry,\n\nto nie dotyczy nikogo z ACME.\n",
        ),
    )
    unrelated = newest_email(app)
    held_stats = deliver(
        app,
        make_message(
            sender=f"{ANNA}, jan@acme.pl",
            to="anna@example.com",
            subject="Dwóch nadawców",
            body="Treść od dwóch osób.\n",
        ),
    )
    assert held_stats["quarantined"] == 1
    [held] = app.spool.quarantined_ids()
    waiting = app.spool.store(
        base64_message("Jan <jan@acme.pl>", f"Proszę pisać do {ANNA} w tej sprawie.\n"),
        ENVELOPE,
    )
    assert ANNA.encode() not in (app.spool.new / waiting).read_bytes().lower()
    waiting_other = app.spool.store(make_message(sender="Jan <jan@nowicki.pl>"), ENVELOPE)
    with app.sessions.begin() as session:
        [other] = session.scalars(
            select(ContactEmail.contact_id).where(ContactEmail.email == "piotr@thirdparty.pl")
        )
        deal = Deal(name="Wdrożenie ACME")
        ticket = Ticket(subject=f"Reklamacja dostawy ({ANNA})", inbox="support@example.com")
        session.add_all([deal, ticket])
        session.flush()
        session.add_all(
            [
                DealContact(deal_id=deal.id, contact_id=anna_id),
                TicketContact(ticket_id=ticket.id, contact_id=anna_id),
            ]
        )
        deal_id, ticket_id = deal.id, ticket.id
    return World(
        anna=anna_id,
        old=old_id,
        other=other,
        solo=solo,
        shared=shared,
        forward=forward,
        outbound=outbound,
        from_old=from_old,
        gmail=gmail,
        unrelated=unrelated,
        held=held,
        waiting=waiting,
        waiting_other=waiting_other,
        deal=deal_id,
        ticket=ticket_id,
    )


@pytest.fixture
def world(app: App, tmp_path: Path) -> World:
    return build_world(app, tmp_path)


def service(app: App, **kwargs: Any) -> ErasureService:
    return ErasureService(app.sessions, app.spool, app.config, actor="cli:test", **kwargs)


def rows_mentioning(app: App, needles: tuple[str, ...] = ADDRESSES) -> list[str]:
    """Every row of every table whose values mention one of ``needles`` (ignoring case)."""
    found = []
    with app.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                blob = json.dumps([str(v) for v in row], ensure_ascii=False).lower()
                if any(n.lower() in blob for n in needles):
                    found.append(f"{table.name}: {row}")
    return found


def files_mentioning(root: Path, needles: tuple[str, ...] = ADDRESSES) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and any(n.encode() in path.read_bytes().lower() for n in needles)
    )


def database_files(app: App) -> list[Path]:
    path = Path(app.config.database.url.partition(":///")[2])
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def snapshot(app: App) -> dict[str, Any]:
    """Every row and every spool file, to show that nothing changed."""
    with app.sessions() as session:
        tables = {
            t.name: sorted(repr(tuple(r)) for r in session.execute(select(t)))
            for t in Base.metadata.sorted_tables
        }
    files = {
        str(p.relative_to(app.spool.root)): p.read_bytes()
        for p in sorted(app.spool.root.rglob("*"))
        if p.is_file()
    }
    return {"tables": tables, "files": files}


def the_email(app: App, email_id: int) -> Email:
    with app.sessions() as session:
        email = session.get_one(Email, email_id)
        _ = email.participants, email.attachments
        return email


# -- erase --------------------------------------------------------------------------------------


@pytest.fixture(params=["secure_delete_off", "secure_delete_on"])
def sqlite_build(request: pytest.FixtureRequest, app: App) -> str:
    """SQLite libraries built with SECURE_DELETE (Debian) zero freed space anyway; others leave
    old row versions of the worker's writes in free pages. The ``off`` case makes every
    connection of the app behave like such a build."""
    if app.engine.dialect.name == "sqlite":
        value = "OFF" if request.param == "secure_delete_off" else "ON"

        @event.listens_for(app.engine, "connect")
        def _build(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA secure_delete={value}")

        app.engine.dispose()
    elif request.param == "secure_delete_off":
        pytest.skip("a SQLite setting")
    return str(request.param)


def test_erase_removes_her_everywhere(
    app: App, tmp_path: Path, sqlite_build: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w = build_world(app, tmp_path)
    # The world is what the test says it is.
    with app.sessions() as session:
        assert session.get_one(Contact, w.old).merged_into_id == w.anna
        assert session.scalars(
            select(ContactPhone.e164).where(ContactPhone.contact_id == w.anna)
        ).all()
        checks = session.scalars(
            select(LegalBasisCheck).where(LegalBasisCheck.contact_id == w.anna)
        ).all()
        assert [c.email_id for c in checks] == [w.outbound]
        items = {i.kind: i for i in session.scalars(select(ReviewItem))}
        assert items["field_update"].contact_id == w.anna
        assert items["same_person"].email_id == w.gmail
    assert the_email(app, w.forward).forwarded_by_email == "anna@example.com"
    assert the_email(app, w.forward).from_email == ANNA
    assert the_email(app, w.solo).attachments
    if app.engine.dialect.name == "sqlite":
        raw = app.engine.raw_connection()  # no BEGIN: a checkpoint cannot run in one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        assert any(ANNA.encode() in p.read_bytes() for p in database_files(app))
    assert rows_mentioning(app)
    assert files_mentioning(app.spool.root)

    report = service(app).erase("Anna.Kowalska@ACME.pl ")

    # The report.
    with app.sessions() as session:
        key = hash_key(session, app.config.privacy)
    assert report.dry_run is False
    assert report.subject_hash == address_hash(key, ANNA)
    assert report.addresses == 2
    assert report.contacts == (w.anna, w.old)
    assert report.emails_emptied == (w.from_old, w.solo, w.forward, w.outbound)
    assert report.emails_redacted == (w.shared,)
    assert report.participants_removed == 5
    assert report.phones_removed == 1
    assert len(report.review_items_removed) == 2
    assert len(report.legal_basis_checks_removed) == 1
    assert report.spool_entries_removed == (w.waiting,)
    assert report.quarantine_entries_removed == (w.held,)
    assert report.suppression_added is True
    assert json.loads(json.dumps(report.to_json()))["contacts"] == [w.anna, w.old]

    # Her contacts: tombstones without anything about her.
    with app.sessions() as session:
        for contact_id in (w.anna, w.old):
            contact = session.get_one(Contact, contact_id)
            assert contact.status == "erased"
            assert (contact.first_name, contact.last_name, contact.title) == ("", "", "")
            assert (contact.company_id, contact.owner_id, contact.merged_into_id) == (
                None,
                None,
                None,
            )
            assert contact.legal_basis is None
            assert (contact.legal_basis_status, contact.legal_basis_source) == ("", "")
            assert (contact.legal_basis_at, contact.legal_basis_by) == (None, "")
        ids = (w.anna, w.old)
        for table in (ContactEmail, ContactPhone, ContactNameKey, DealContact, TicketContact):
            count = session.scalar(
                select(func.count()).select_from(table).where(table.contact_id.in_(ids))
            )
            assert count == 0, table
        assert session.scalar(select(func.count()).select_from(LegalBasisCheck)) == 0
        assert session.scalars(select(ReviewItem.id)).all() == []
        assert session.get_one(Deal, w.deal).name == "Wdrożenie ACME"
        assert session.get_one(Ticket, w.ticket).subject == "Reklamacja dostawy ([erased])"
        # Piotr is untouched.
        assert session.get_one(Contact, w.other).status == "active"
        assert session.scalars(
            select(ContactEmail.email).where(ContactEmail.contact_id == w.other)
        ).all() == ["piotr@thirdparty.pl"]
        hashes = set(
            session.scalars(select(Suppression.address_hash).where(Suppression.reason == "erased"))
        )
        assert hashes == {address_hash(key, a) for a in ADDRESSES}
        [audit] = session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
        assert (audit.actor, audit.object_kind, audit.object_id) == (
            "cli:test",
            "subject",
            report.subject_hash,
        )
        assert audit.details == report.counts()

    # Mail where she was the only outside party: metadata only.
    for email_id in report.emails_emptied:
        email = the_email(app, email_id)
        assert (email.subject, email.normalized_subject, email.body_text, email.reply_text) == (
            "",
            "",
            "",
            "",
        )
        assert email.attachments == []
        assert email.privacy_level == "metadata"
        assert email.privacy["erased"] is True
        assert all(p.email not in ADDRESSES and p.contact_id not in ids for p in email.participants)
    solo = the_email(app, w.solo)
    assert (solo.from_email, solo.from_name) == ("erased@invalid", "")
    assert [p.email for p in solo.participants] == ["anna@example.com"]
    forward = the_email(app, w.forward)
    assert (forward.from_email, forward.forwarded_by_email) == (
        "erased@invalid",
        "anna@example.com",
    )
    assert the_email(app, w.outbound).from_email == "anna@example.com"
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EmailAttachment)) == 0

    # Shared mail: Piotr's part stays, hers is gone.
    shared = the_email(app, w.shared)
    assert (shared.from_email, shared.from_name) == ("erased@invalid", "")
    assert sorted(p.email for p in shared.participants) == [
        "anna@example.com",
        "piotr@thirdparty.pl",
    ]
    assert shared.privacy_level == "full" and "erased" not in shared.privacy
    assert "Piotr ma mój adres <[erased]>, a [erased] potwierdzi salę." in shared.body_text
    assert "Kowalska" not in shared.body_text and "Kowalska" not in shared.reply_text
    assert shared.subject == "Spotkanie"

    # Other people's mail is untouched: a same-named stranger, and Jan.
    gmail = the_email(app, w.gmail)
    assert gmail.from_email == "a.k@gmail.com" and "Anna Kowalska" in gmail.body_text
    assert the_email(app, w.unrelated).body_text.startswith("Dzień dobry")

    # Nowhere: rows, database files, spool, quarantine, log.
    assert rows_mentioning(app) == []
    if app.engine.dialect.name == "sqlite":
        # Connections still open (a worker keeps its own), then all closed.
        for moment in ("open", "disposed"):
            if moment == "disposed":
                app.engine.dispose()
            for path in database_files(app):
                data = path.read_bytes().lower()
                for address in ADDRESSES:
                    assert address.encode() not in data, (moment, path.name, address)
    assert files_mentioning(app.spool.root) == []
    assert (app.spool.new / w.waiting_other).exists()
    assert app.spool.quarantined_ids() == []
    assert not list(app.spool.quarantine_dir.iterdir())
    logged = caplog.text.lower()
    assert caplog.records
    for address in ADDRESSES:
        assert address not in logged


def test_dry_run_changes_nothing_and_says_what_erase_would_do(app: App, world: World) -> None:
    before = snapshot(app)
    dry = service(app).erase(ANNA, dry_run=True)
    assert snapshot(app) == before
    assert dry.dry_run is True
    real = service(app).erase(ANNA)
    assert dataclasses.replace(dry, dry_run=False) == real
    assert snapshot(app) != before


def test_erase_again_finds_nothing_more(app: App, world: World) -> None:
    service(app).erase(ANNA)
    again = service(app).erase(OLD)
    assert again.contacts == ()
    assert (again.emails_emptied, again.emails_redacted) == ((), ())
    assert again.spool_entries_removed == again.quarantine_entries_removed == ()
    assert again.suppression_added is False
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 2
        audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
        assert len(audits.all()) == 2


@pytest.mark.parametrize("settings", [NEVER])
def test_an_address_without_a_contact_is_erased_from_mail(app: App) -> None:
    """With create_contacts = never nobody owns the address; her mail is still found."""
    deliver(
        app,
        make_message(sender=f"Anna Kowalska <{ANNA}>", to="anna@example.com", subject="Pytanie"),
    )
    email_id = newest_email(app)
    with app.sessions() as session:
        assert session.scalars(select(Contact)).all() == []
    report = service(app).erase(ANNA)
    assert (report.contacts, report.emails_emptied) == ((), (email_id,))
    assert report.participants_removed == 1
    assert rows_mentioning(app, (ANNA,)) == []


def test_a_mention_in_colleagues_mail_is_redacted(app: App) -> None:
    raw = make_message(
        sender="Anna Nowak <anna@example.com>",
        to="Jan Nowicki <jan@nowicki.pl>",
        subject="Kontakt",
        body=f"Janie, napisz do ala@żółw.pl albo {ANNA}.\n",
    )
    deliver(app, raw)
    email_id = newest_email(app)
    report = service(app).erase("Ala@xn--w-uga1v8h.pl")
    assert report.emails_redacted == (email_id,) and report.emails_emptied == ()
    body = the_email(app, email_id).body_text
    assert "napisz do [erased] albo" in body and ANNA in body


def test_invalid_and_users_addresses_are_refused(app: App, world: World) -> None:
    before = snapshot(app)
    with pytest.raises(ErasureError, match="not a valid email address"):
        service(app).erase("not an address")
    with pytest.raises(ErasureError, match="registered user"):
        service(app).erase("ANNA@example.com")
    assert snapshot(app) == before


def test_a_file_a_worker_holds_is_waited_for(app: App, world: World) -> None:
    """A worker processing her mail holds it locked in cur/: the erasure waits for it and,
    when it does not let go in time, stops before the database changes (the files it could
    remove are gone); run again, it finishes."""
    claimed = app.spool.cur / f"{world.waiting}.a1"
    os.rename(app.spool.new / world.waiting, claimed)
    before = snapshot(app)
    with claimed.open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ErasureError, match="being processed"):
            service(app, lock_timeout=0.3).erase(ANNA)
        assert snapshot(app)["tables"] == before["tables"]
        assert claimed.exists() and app.spool.quarantined_ids() == []
    report = service(app, lock_timeout=0.3).erase(ANNA)
    assert report.spool_entries_removed == (world.waiting,)
    assert not claimed.exists()


# -- export-subject -------------------------------------------------------------------------------


def test_export_subject_holds_everything_about_her(app: App, world: World) -> None:
    data = service(app).export_subject(OLD)
    assert data["address"] == OLD
    assert data["addresses"] == sorted(ADDRESSES)
    assert data["suppressed"] is False
    contacts = {c["id"]: c for c in data["contacts"]}
    assert set(contacts) == {world.anna, world.old}
    anna = contacts[world.anna]
    assert (anna["first_name"], anna["last_name"], anna["title"]) == (
        "Anna",
        "Kowalska",
        "Kierownik Zakupów",
    )
    assert sorted(e["email"] for e in anna["emails"]) == sorted(ADDRESSES)
    assert [p["e164"] for p in anna["phones"]] == ["+48601234567"]
    assert set(anna["legal_basis"]) == {"basis", "status", "source", "at", "by"}
    assert anna["subscription"] == "subscribed" and anna["objecting"] is False
    assert anna["deal_ids"] == [world.deal] and anna["ticket_ids"] == [world.ticket]
    assert contacts[world.old]["status"] == "merged"
    emails = {e["id"]: e for e in data["emails"]}
    assert set(emails) == {
        world.from_old, world.solo, world.shared, world.forward, world.outbound
    }  # fmt: skip
    assert "proszę o ofertę" in emails[world.solo]["body_text"]
    assert emails[world.solo]["associations"]
    assert [d["id"] for d in data["deals"]] == [world.deal]
    assert [t["id"] for t in data["tickets"]] == [world.ticket]
    assert {r["kind"] for r in data["review_items"]} == {"field_update", "same_person"}
    assert [c["email_id"] for c in data["legal_basis_checks"]] == [world.outbound]
    actions = {a["action"] for a in data["audit"]}
    assert {"contact.merged", "contact.updated"} <= actions
    json.dumps(data)

    service(app).erase(ANNA)
    after = service(app).export_subject(ANNA)
    assert after["suppressed"] is True and after["suppression_reason"] == "erased"
    for key in ("contacts", "emails", "deals", "tickets", "review_items", "legal_basis_checks"):
        assert after[key] == [], key


def test_export_subject_of_an_unknown_person(app: App) -> None:
    data = service(app).export_subject("nikt@nigdzie.pl")
    assert data["suppressed"] is False and data["addresses"] == ["nikt@nigdzie.pl"]
    for key in (
        "contacts",
        "emails",
        "deals",
        "tickets",
        "review_items",
        "legal_basis_checks",
        "audit",
    ):
        assert data[key] == [], key


# -- command line ---------------------------------------------------------------------------------


@pytest.fixture
def cli(app: App, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(app.config, capsys)


def test_cli_erase_dry_run_then_erase(app: App, world: World, cli: Cli) -> None:
    code, out, err = cli("erase", ANNA, "--dry-run")
    assert code == 0 and "bccrm:" not in err
    assert out.startswith(f"would erase {ANNA} (dry run: nothing changed)\n")
    assert f"contacts erased                        2  ({world.anna}, {world.old})" in out
    assert f"quarantined messages removed           1  ({world.held})" in out
    assert "suppression                            would be added" in out
    with app.sessions() as session:
        assert session.get_one(Contact, world.anna).status == "active"
    report = cli.json("erase", ANNA)
    assert report["dry_run"] is False
    assert report["contacts"] == [world.anna, world.old]
    assert report["spool_entries_removed"] == [world.waiting]
    assert report["suppression_added"] is True
    assert set(report) == {f.name for f in dataclasses.fields(ErasureReport)}
    code, out, _ = cli("erase", ANNA)
    assert code == 0 and "suppression                            already present" in out
    with app.sessions() as session:
        assert session.get_one(Contact, world.anna).status == "erased"
        audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
        assert [a.actor.startswith("cli:") for a in audits] == [True, True]


def test_cli_erase_refusals(app: App, cli: Cli) -> None:
    code, out, err = cli("erase", "nie-adres")
    assert (code, out) == (2, "") and "not a valid email address" in err
    code, out, err = cli("erase", "anna@example.com")
    assert (code, out) == (1, "") and "registered user" in err


def test_cli_export_subject(app: App, world: World, cli: Cli) -> None:
    code, out, err = cli("export-subject", ANNA)
    assert code == 0 and "bccrm:" not in err
    data = json.loads(out)
    assert {c["id"] for c in data["contacts"]} == {world.anna, world.old}
    code, out, _ = cli("export-subject", "nikt@nigdzie.pl")
    assert code == 0 and json.loads(out)["contacts"] == []
    code, out, err = cli("export-subject", "@@")
    assert (code, out) == (2, "") and "not a valid email address" in err


@pytest.fixture
def no_connections(app: App) -> Iterator[None]:
    yield
    app.engine.dispose()


def test_sqlite_secure_delete_is_restored_on_pooled_connections(
    app: App, world: World, no_connections: None
) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite setting")
    with app.engine.connect() as conn:
        default = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    service(app).erase(ANNA)
    with app.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == default
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def checkpoint(app: App) -> None:
    raw = app.engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


@pytest.mark.parametrize("sqlite_build", ["secure_delete_off"], indirect=True)
def test_secure_delete_zeroes_what_the_transaction_deletes(app: App, sqlite_build: str) -> None:
    """Without it, a deleted row stays in the file of a SQLite built without SECURE_DELETE."""
    [path] = [p for p in database_files(app) if p.suffix == ".db"]
    for key, secure in (("plain", False), ("secure", True)):
        needle = f"needle-{key}-7f3a9c"
        with app.sessions.begin() as session:
            session.add(Setting(key=key, value=needle))
        with app.sessions.begin() as session, contextlib.ExitStack() as stack:
            if secure:
                assert stack.enter_context(secure_delete(session)) is False  # not by default
            session.execute(delete(Setting).where(Setting.key == key))
        checkpoint(app)
        assert (needle.encode() in path.read_bytes()) is not secure, key
    with app.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 0  # restored
