"""Contact matching through the real pipeline: exact and secondary addresses, fuzzy links with
confidence and reasons, "same person?" questions, the creation policy, signatures, bounces."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import App, build_app
from gateway.config import Config
from gateway.crm import AuditEntry, ContactEmail, ReviewItem
from gateway.crm.db import upgrade
from gateway.matching import records
from gateway.matching.directory import Directory
from gateway.matching.resolve import NewContact
from gateway.pipeline import Outcome
from gateway.services.contacts import ContactService
from gateway.services.export import export_all
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, add_user, make_message

SIGNATURE = (
    "Dzień dobry,\n\nproszę o wycenę.\n\nPozdrawiam\n{name}\n{title}\nACME Sp. z o.o.\n"
    "tel. {phone}\n"
)


def process(app: App, raw: bytes, mail_from: str = "anna@example.com") -> Outcome:
    envelope = Envelope(mail_from=mail_from, rcpt_tos=(LOG,), trusted_peer=True)
    return app.processor().process("test", raw, envelope)


def exported(app: App) -> dict[str, Any]:
    return export_all(app.sessions)


def import_contacts(app: App, tmp_path: Path, csv_text: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(csv_text, encoding="utf-8")
    result = ContactService(app.sessions, app.config.organization).import_csv(path)
    assert result.errors == []


def inbound(sender: str, body: str = "Dzień dobry,\n\nproszę o ofertę.\n", **kw: Any) -> bytes:
    return make_message(sender=sender, to="Anna Nowak <anna@example.com>", body=body, **kw)


def participant(app: App, address: str) -> dict[str, Any]:
    [email] = [
        e for e in exported(app)["emails"] if address in [p["email"] for p in e["participants"]]
    ]
    [found] = [p for p in email["participants"] if p["email"] == address]
    return found


def reviews(app: App, kind: str | None = None) -> list[ReviewItem]:
    with app.sessions() as session:
        query = select(ReviewItem).order_by(ReviewItem.id)
        if kind:
            query = query.where(ReviewItem.kind == kind)
        return list(session.scalars(query))


def audits(app: App, action: str) -> list[AuditEntry]:
    with app.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture(autouse=True)
def rep(app: App) -> int:
    return add_user(app, "anna@example.com", "Anna Nowak")


@pytest.fixture
def acme(app: App, tmp_path: Path) -> None:
    import_contacts(
        app,
        tmp_path,
        "email,first_name,last_name,title,company,phone\n"
        "anna.kowalska@acme.pl,Anna,Kowalska,Kierownik Zakupów,ACME,+48 601 234 567\n"
        "piotr.nowak@acme.pl,Piotr,Nowak,,ACME,\n",
    )


def test_exact_address_is_confidence_one(app: App, acme: None) -> None:
    assert process(app, inbound("Anna Kowalska <Anna.Kowalska@ACME.PL>")).status == "logged"
    found = participant(app, "anna.kowalska@acme.pl")
    assert found["match"] == {"outcome": "linked", "reason": "exact email", "confidence": 1.0}


def test_new_address_at_the_same_company_auto_links_and_is_added(app: App, acme: None) -> None:
    process(app, inbound("Anna Kowalska <a.kowalska@acme.pl>"))
    data = exported(app)
    anna = next(c for c in data["contacts"] if c["last_name"] == "Kowalska")
    assert anna["emails"] == ["anna.kowalska@acme.pl", "a.kowalska@acme.pl"]
    match = participant(app, "a.kowalska@acme.pl")["match"]
    assert match["outcome"] == "auto_linked"
    assert match["confidence"] >= 0.92
    assert match["reason"].startswith("name 1.00") and "same company domain" in match["reason"]
    [email] = data["emails"]
    [link] = [a for a in email["associations"] if a["kind"] == "contact"]
    assert (link["id"], link["confidence"]) == (anna["id"], match["confidence"])
    assert len(data["contacts"]) == 2  # no duplicate created
    assert len(audits(app, "contact.email_added")) == 1


def test_free_mail_with_the_same_phone_auto_links(app: App, acme: None) -> None:
    body = SIGNATURE.format(name="Anna Kowalska", title="Kierownik Zakupów", phone="601 234 567")
    process(app, inbound("Anna Kowalska <ania.k@gmail.com>", body=body))
    match = participant(app, "ania.k@gmail.com")["match"]
    assert match["outcome"] == "auto_linked"
    assert "same phone" in match["reason"]


def test_same_name_elsewhere_asks_same_person(app: App, acme: None) -> None:
    process(app, inbound("Anna Kowalska <anna.k@gmail.com>"))
    found = participant(app, "anna.k@gmail.com")
    assert found["contact_id"] is None
    assert found["match"]["outcome"] == "suggested"
    assert 0.6 <= found["match"]["confidence"] < 0.92
    [item] = reviews(app, "same_person")
    assert item.key == "same_person:anna.k@gmail.com"
    assert [c["name"] for c in item.payload["candidates"]] == ["Anna Kowalska"]
    assert item.payload["candidates"][0]["reasons"][0].startswith("name ")
    assert len(exported(app)["contacts"]) == 2  # nothing created while a person decides
    # A second email from the same address joins the open question instead of a new one.
    process(app, inbound("Anna Kowalska <anna.k@gmail.com>", subject="Drugie"))
    assert len(reviews(app, "same_person")) == 1


def test_two_equally_good_candidates_are_never_auto_linked(app: App, tmp_path: Path) -> None:
    import_contacts(
        app,
        tmp_path,
        "email,first_name,last_name\njan.kowalski@acme.pl,Jan,Kowalski\njk@acme.pl,Jan,Kowalski\n",
    )
    process(app, inbound("Jan Kowalski <kowalski.jan@acme.pl>"))
    assert participant(app, "kowalski.jan@acme.pl")["match"]["outcome"] == "suggested"
    [item] = reviews(app, "same_person")
    assert len(item.payload["candidates"]) == 2


def test_a_different_person_at_the_company_becomes_a_new_contact(app: App, acme: None) -> None:
    body = SIGNATURE.format(name="Ewa Zielińska", title="Dyrektor Finansowa", phone="602 111 222")
    process(app, inbound("Ewa Zielińska <ewa.zielinska@acme.pl>", body=body))
    data = exported(app)
    ewa = next(c for c in data["contacts"] if c["last_name"] == "Zielińska")
    anna = next(c for c in data["contacts"] if c["last_name"] == "Kowalska")
    assert ewa["origin"] == "gateway"
    assert (ewa["title"], ewa["phones"]) == ("Dyrektor Finansowa", ["+48602111222"])
    assert ewa["company_id"] == anna["company_id"]
    assert participant(app, "ewa.zielinska@acme.pl")["match"]["outcome"] == "created"


def test_new_company_takes_the_signature_name(app: App) -> None:
    body = SIGNATURE.format(name="Jan Wiśniewski", title="Prezes", phone="603 000 111")
    process(app, inbound("Jan Wiśniewski <jan@wisniewski-bud.pl>", body=body))
    [company] = exported(app)["companies"]
    assert (company["name"], company["domains"]) == ("ACME Sp. z o.o.", ["wisniewski-bud.pl"])


def test_free_mail_contacts_have_no_company(app: App) -> None:
    process(app, inbound("Jan Wiśniewski <jan.wisniewski@wp.pl>"))
    [contact] = exported(app)["contacts"]
    assert contact["company_id"] is None and exported(app)["companies"] == []


@pytest.mark.parametrize(
    ("sender", "headers", "reason"),
    [
        ("Biuro ACME <biuro@acme.pl>", {}, "role address"),
        ("ACME <noreply-orders@acme.pl>", {}, "role address"),
        ("Jan Nowak <jan@news.acme.pl>", {"List_Unsubscribe": "<mailto:u@acme.pl>"}, "bulk mail"),
        ("Jan Nowak <jan@acme.pl>", {"Auto_Submitted": "auto-replied"}, "auto-reply"),
    ],
)
def test_junk_never_becomes_a_contact(
    app: App, sender: str, headers: dict[str, str], reason: str
) -> None:
    assert process(app, inbound(sender, **headers)).status == "logged"
    data = exported(app)
    assert data["contacts"] == [] and data["companies"] == []
    [email] = data["emails"]
    [external] = [p for p in email["participants"] if p["role"] == "from"]
    assert external["match"] == {"outcome": "ignored", "reason": reason, "confidence": None}


def test_bulk_mail_from_a_known_contact_is_still_linked(app: App, acme: None) -> None:
    process(app, inbound("Anna Kowalska <anna.kowalska@acme.pl>", List_Id="<promo.acme.pl>"))
    assert participant(app, "anna.kowalska@acme.pl")["match"]["outcome"] == "linked"


def test_bounce_marks_the_address_and_creates_nothing(app: App, acme: None) -> None:
    dsn = (
        b"From: MAILER-DAEMON@mx.provider.net\r\nTo: anna@example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; piotr.nowak@acme.pl\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"Final-Recipient: rfc822; stranger@elsewhere.pl\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--B--\r\n"
    )
    assert process(app, dsn, mail_from="").status == "dropped"
    data = exported(app)
    assert data["emails"] == []
    assert len(data["contacts"]) == 2  # stranger@ did not become a contact
    piotr = next(c for c in data["contacts"] if c["last_name"] == "Nowak")
    assert piotr["bounced"] == ["piotr.nowak@acme.pl"]
    [dropped] = audits(app, "message.dropped")
    assert dropped.details["reason"] == "bounce"


@pytest.fixture
def review_app(make_config: ConfigFactory, tmp_path: Path) -> Any:
    def build(policy: str) -> App:
        config: Config = make_config(matching={"create_contacts": policy})
        instance = build_app(config)
        upgrade(instance.engine)
        instance.spool.ensure()
        return instance  # same database as ``app``: Anna the rep exists

    apps: list[App] = []

    def factory(policy: str) -> App:
        apps.append(build(policy))
        return apps[-1]

    yield factory
    for instance in apps:
        instance.close()


def test_review_policy_asks_before_creating(review_app: Any) -> None:
    app = review_app("review")
    body = SIGNATURE.format(name="Jan Nowak", title="Kierownik", phone="601 000 000")
    process(app, inbound("Jan Nowak <jan@nowak-trans.pl>", body=body))
    assert exported(app)["contacts"] == []
    [item] = reviews(app, "new_contact")
    assert item.payload == {
        "email": "jan@nowak-trans.pl",
        "fields": {
            "first_name": "Jan",
            "last_name": "Nowak",
            "title": "Kierownik",
            "company": "ACME Sp. z o.o.",
            "phones": ["+48601000000"],
        },
    }
    assert participant(app, "jan@nowak-trans.pl")["match"]["outcome"] == "pending"


def test_never_policy_only_links_known_people(review_app: Any) -> None:
    app = review_app("never")
    process(app, inbound("Jan Nowak <jan@nowak-trans.pl>"))
    assert exported(app)["contacts"] == [] and reviews(app) == []
    match = participant(app, "jan@nowak-trans.pl")["match"]
    assert match == {
        "outcome": "ignored",
        "reason": "contact creation disabled",
        "confidence": None,
    }


def test_signature_fills_empty_fields_and_asks_about_changes(app: App, acme: None) -> None:
    body = SIGNATURE.format(name="Piotr Nowak", title="Dyrektor Handlowy", phone="605 555 555")
    process(app, inbound("Piotr Nowak <piotr.nowak@acme.pl>", body=body))
    piotr = next(c for c in exported(app)["contacts"] if c["last_name"] == "Nowak")
    assert (piotr["title"], piotr["phones"]) == ("Dyrektor Handlowy", ["+48605555555"])
    assert reviews(app, "field_update") == []
    # Anna's signature says something new: a question per field, nothing overwritten.
    body = SIGNATURE.format(name="Anna Kowalska", title="Dyrektor Zakupów", phone="601 999 999")
    process(app, inbound("Anna Kowalska <anna.kowalska@acme.pl>", body=body))
    anna = next(c for c in exported(app)["contacts"] if c["last_name"] == "Kowalska")
    assert (anna["title"], anna["phones"]) == ("Kierownik Zakupów", ["+48601234567"])
    items = {i.payload["field"]: i.payload for i in reviews(app, "field_update")}
    assert items["title"]["proposed"] == "Dyrektor Zakupów"
    assert items["phone"]["proposed"] == "+48601999999"
    # The same signature again asks nothing new.
    process(app, inbound("Anna Kowalska <anna.kowalska@acme.pl>", body=body, subject="Re: x"))
    assert len(reviews(app, "field_update")) == 2


def test_a_signature_quoted_from_someone_else_is_not_used(app: App, acme: None) -> None:
    body = (
        "Dziękuję, przekażę dalej.\n\nAnna\n\n"
        "On Mon, Nov 2, 2026 at 9:00 AM Ewa <ewa@other.pl> wrote:\n"
        "> Pozdrawiam\n> Ewa Zielińska\n> Prezes Zarządu\n> tel. 609 999 999\n"
    )
    process(app, inbound("Anna Kowalska <anna.kowalska@acme.pl>", body=body))
    assert reviews(app, "field_update") == []
    anna = next(c for c in exported(app)["contacts"] if c["last_name"] == "Kowalska")
    assert anna["phones"] == ["+48601234567"]


def test_import_of_a_near_duplicate_opens_a_merge_question(
    app: App, acme: None, tmp_path: Path
) -> None:
    import_contacts(app, tmp_path, "email,first_name,last_name\nak@acme.pl,Anna,Kowalska\n")
    [item] = reviews(app, "merge")
    contacts = {c["emails"][0]: c["id"] for c in exported(app)["contacts"]}
    assert (item.payload["keep"], item.payload["other"]) == (
        contacts["anna.kowalska@acme.pl"],
        contacts["ak@acme.pl"],
    )


def test_address_domains_are_indexed(app: App, acme: None) -> None:
    with app.sessions() as session:
        domains = set(session.scalars(select(ContactEmail.domain)))
    assert domains == {"acme.pl"}


def run_together(*jobs: Callable[[], Outcome]) -> list[str]:
    """Start ``jobs`` in threads at the same moment (a barrier); their outcome statuses."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []

    def run(job: Callable[[], Outcome]) -> None:
        barrier.wait()
        outcomes.append(job().status)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(outcomes)


def test_two_workers_meeting_one_new_person_create_one_contact(app: App) -> None:
    """Different messages from the same unknown person, processed at the same moment: the
    unique address and company domain decide, the loser retries and links."""
    messages = [
        inbound("Jan Wiśniewski <jan@wisniewski-bud.pl>", subject=f"Zapytanie {i}")
        for i in range(4)
    ]
    jobs = [lambda raw=raw: process(app, raw) for raw in messages]
    assert run_together(*jobs) == ["logged"] * 4
    data = exported(app)
    assert len(data["contacts"]) == 1 and len(data["companies"]) == 1
    [contact] = data["contacts"]
    assert all(e["contact_ids"] == [contact["id"]] for e in data["emails"])


def test_bcc_and_team_inbox_copies_at_once_are_one_email(
    app: App, make_config: ConfigFactory
) -> None:
    route = "support@crm.example.com"
    support = build_app(
        make_config(
            team_inbox=[{"address": "support@example.com", "route": route, "mode": "tickets"}]
        )
    )
    try:
        raw = make_message(
            sender="Piotr Lis <piotr@delta.pl>",
            to="support@example.com",
            cc="Anna Nowak <anna@example.com>",
            subject="Awaria",
            message_id="<awaria-race@delta.pl>",
        )
        by_inbox = Envelope(mail_from="piotr@delta.pl", rcpt_tos=(route,), trusted_peer=True)
        outcomes = run_together(
            lambda: process(app, raw, mail_from="anna@example.com"),
            lambda: support.processor().process("inbox", raw, by_inbox),
        )
    finally:
        support.close()
    assert outcomes == ["duplicate", "logged"]
    [email] = exported(app)["emails"]
    assert email["logged_by"] == ["anna@example.com"]
    assert [a["reason"] for a in email["associations"] if a["kind"] == "ticket"] == [
        "new ticket from support@example.com"
    ]
    assert len(exported(app)["tickets"]) == 1


@pytest.mark.parametrize(
    "sender",
    [
        "Anna <a.kowalska@acme.pl>",
        "ANNA KOWALSKA (ACME) <a.kowalska@acme.pl>",
        "\"'Kowalska, Anna' via Zakupy\" <a.kowalska@acme.pl>",  # as Google Groups writes it
        "<kowalska.anna@acme.pl>",
    ],
)
def test_names_are_read_through_client_decorations(app: App, acme: None, sender: str) -> None:
    process(app, inbound(sender))
    data = exported(app)
    [email] = data["emails"]
    [external] = [p for p in email["participants"] if p["role"] == "from"]
    assert external["match"]["outcome"] == "auto_linked", external["match"]
    assert len(data["contacts"]) == 2


def test_a_shouted_new_name_is_stored_title_cased(app: App) -> None:
    process(app, inbound("JAN WIŚNIEWSKI <jan@wisniewski-bud.pl>"))
    [contact] = exported(app)["contacts"]
    assert (contact["first_name"], contact["last_name"]) == ("Jan", "Wiśniewski")


@pytest.mark.parametrize(("known_different", "merges"), [(False, 1), (True, 0)])
def test_a_person_said_not_the_same_so_no_merge_question(
    app: App, acme: None, known_different: bool, merges: int
) -> None:
    new = NewContact(
        email="ak@acme.pl", first_name="Anna", last_name="Kowalska", company_domain="acme.pl"
    )
    with app.sessions.begin() as session:
        anna = Directory(session, ()).exact("anna.kowalska@acme.pl")
        assert anna is not None
        records.create_contact(
            session,
            new,
            origin="review",
            actor="cli",
            free_mail=(),
            known_different=[anna] if known_different else [],
        )
    assert len(reviews(app, "merge")) == merges


def test_exact_match_compares_domains_in_idna_form(app: App, tmp_path: Path) -> None:
    import_contacts(app, tmp_path, "email,first_name,last_name\nanna@żółw.pl,Anna,Żółw\n")
    raw = (  # an internationalized (SMTPUTF8) header, and the A-label form in Cc
        "From: Anna <Anna@ŻÓŁW.PL>\r\nTo: anna@example.com\r\nCc: anna@XN--W-UGA1V8H.PL\r\n"
        "Subject: idn\r\nMessage-ID: <idn@x>\r\n\r\nDzień dobry\r\n"
    ).encode()
    assert process(app, raw).status == "logged"
    [email] = exported(app)["emails"]
    [contact] = exported(app)["contacts"]
    people = [(p["role"], p["email"], p["contact_id"]) for p in email["participants"]]
    assert [p for p in people if p[0] != "to"] == [
        ("from", "anna@xn--w-uga1v8h.pl", contact["id"]),
        ("cc", "anna@xn--w-uga1v8h.pl", contact["id"]),
    ]
    assert email["participants"][0]["match"]["outcome"] == "linked"


@pytest.mark.parametrize(
    ("sender", "created"),
    [
        ("Biuro Obsługi Klienta <bok@energopol.pl>", False),
        ("Energopol Customer Service <cs-team@energopol.pl>", False),
        ("Anna Lis - Office Manager <anna.lis@energopol.pl>", True),
    ],
)
def test_team_mailboxes_are_not_people(app: App, sender: str, created: bool) -> None:
    process(app, inbound(sender))
    assert len(exported(app)["contacts"]) == int(created)


def test_a_mass_mailing_matches_only_the_first_people(make_config: ConfigFactory) -> None:
    """A copy sent to hundreds of people is not a conversation: beyond
    matching.max_participants the recipients are ignored, neither linked nor created."""
    app = build_app(make_config(matching={"max_participants": 3}))  # the rep's database
    try:
        to = ", ".join(f"Osoba {i} <osoba{i}@firma{i}.pl>" for i in range(6))
        assert process(app, make_message(to=to)).status == "logged"
        data = exported(app)
        [email] = data["emails"]
        outcomes = [p["match"]["outcome"] for p in email["participants"] if p["role"] == "to"]
        assert outcomes == ["created"] * 3 + ["ignored"] * 3
        reasons = {p["match"]["reason"] for p in email["participants"][4:]}
        assert reasons == {"too many participants"}
        assert len(data["contacts"]) == 3
    finally:
        app.close()
