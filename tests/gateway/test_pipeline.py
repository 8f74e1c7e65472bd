"""parse → match → log on real databases (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.app import App, build_app
from gateway.pipeline import Outcome
from gateway.services.contacts import ContactService
from gateway.services.export import export_all
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, add_user, make_message


def process(app: App, raw: bytes, mail_from: str = "anna@example.com") -> Outcome:
    """As the edge spools a copy from a trusted MTA."""
    envelope = Envelope(mail_from=mail_from, rcpt_tos=(LOG,), trusted_peer=True)
    return app.processor().process("test", raw, envelope)


@pytest.fixture(autouse=True)
def rep(app: App) -> int:
    """Anna, the rep whose mail most tests log."""
    return add_user(app, "anna@example.com", "Anna Nowak")


def exported(app: App) -> dict[str, Any]:
    return export_all(app.sessions)


def import_contacts(app: App, tmp_path: Path, csv_text: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(csv_text, encoding="utf-8")
    result = ContactService(app.sessions, app.config.organization).import_csv(path)
    assert result.errors == []


def test_outbound_copy_lands_on_the_existing_contact(app: App, tmp_path: Path) -> None:
    import_contacts(app, tmp_path, "email,first_name,last_name\njan@acme.pl,Jan,Kowalski\n")
    outcome = process(app, make_message(message_id="<m1@example.com>"))
    assert outcome.status == "logged"
    data = exported(app)
    [email] = data["emails"]
    [contact] = data["contacts"]
    assert email["direction"] == "outbound"
    assert email["message_id"] == "<m1@example.com>"
    assert email["from"] == {"email": "anna@example.com", "name": "Anna Nowak"}
    assert email["contact_ids"] == [contact["id"]]
    assert email["company_ids"] == [contact["company_id"]]
    assert email["logged_by"] == ["anna@example.com"]
    assert email["sent_at"] == "2026-11-02T09:30:00+00:00"
    assert {
        "kind": "contact",
        "id": contact["id"],
        "reason": "exact email",
        "confidence": 1.0,
    } in email["associations"]
    assert [p["role"] for p in email["participants"]] == ["from", "to"]
    assert email["participants"][1]["contact_id"] == contact["id"]


def test_secondary_email_and_case_match_the_same_contact(app: App, tmp_path: Path) -> None:
    import_contacts(
        app,
        tmp_path,
        "email,first_name,other_emails\njan@acme.pl,Jan,j.kowalski@acme.pl;jan@kowalski.pl\n",
    )
    process(app, make_message(to="Jan <J.Kowalski@ACME.pl>", message_id="<a@x>"))
    process(app, make_message(to="jan@kowalski.pl", message_id="<b@x>"))
    data = exported(app)
    assert len(data["contacts"]) == 1
    assert all(e["contact_ids"] == [data["contacts"][0]["id"]] for e in data["emails"])


def test_unknown_external_participant_becomes_contact_and_company(app: App) -> None:
    process(
        app,
        make_message(
            to='"Kowalska, Anna" <anna.k@newco.de>', cc="Piotr Wiśniewski <piotr@gmail.com>"
        ),
    )
    data = exported(app)
    by_email = {c["emails"][0]: c for c in data["contacts"]}
    anna, piotr = by_email["anna.k@newco.de"], by_email["piotr@gmail.com"]
    assert (anna["first_name"], anna["last_name"]) == ("Anna", "Kowalska")
    assert (piotr["first_name"], piotr["last_name"]) == ("Piotr", "Wiśniewski")
    assert anna["origin"] == piotr["origin"] == "gateway"
    assert anna["status"] == "active"
    assert piotr["company_id"] is None  # free-mail: no company
    [company] = data["companies"]
    assert company["domains"] == ["newco.de"] and anna["company_id"] == company["id"]


def test_org_users_and_logging_address_never_become_contacts(app: App) -> None:
    add_user(app, "bob@example.com", "Bob", "bob.private@gmail.com")
    process(
        app,
        make_message(
            to="bob.private@gmail.com, jan@acme.pl", cc=f"Log <{LOG}>, kasia@sales.example.com"
        ),
    )
    data = exported(app)
    assert [c["emails"] for c in data["contacts"]] == [["jan@acme.pl"]]
    emails = {p["email"] for p in data["emails"][0]["participants"]}
    assert LOG not in emails
    assert data["emails"][0]["direction"] == "outbound"


@pytest.mark.parametrize(
    ("sender", "to", "direction"),
    [
        ("jan@acme.pl", "anna@example.com", "inbound"),
        ("anna@example.com", "bob@example.com", "internal"),
        ("anna@sub.example.com", "jan@acme.pl", "outbound"),
        ("jan@example.com.evil.test", "anna@example.com", "inbound"),
    ],
)
def test_direction(make_config: ConfigFactory, sender: str, to: str, direction: str) -> None:
    # Internal mail is only logged with [privacy] log_internal (tests/gateway/privacy).
    app = build_app(make_config(privacy={"log_internal": True}))  # the rep's database
    try:
        if sender.startswith("anna@sub."):
            add_user(app, sender)
        process(app, make_message(sender=sender, to=to), mail_from=sender)
        assert exported(app)["emails"][0]["direction"] == direction
    finally:
        app.close()


def test_same_copy_twice_is_one_email(app: App) -> None:
    raw = make_message(message_id="<dup@example.com>")
    assert process(app, raw).status == "logged"
    assert process(app, raw).status == "duplicate"
    data = exported(app)
    assert len(data["emails"]) == 1
    assert data["emails"][0]["logged_by"] == ["anna@example.com"]
    assert len(data["contacts"]) == 1


def test_same_message_from_two_reps_lists_both_loggers(app: App) -> None:
    add_user(app, "bob@example.com")
    raw = make_message(
        sender="jan@acme.pl", to="anna@example.com, bob@example.com", message_id="<two@acme.pl>"
    )
    process(app, raw, mail_from="anna@example.com")
    # Bob's copy took another path: a relay added a header and the line endings differ.
    process(
        app, b"Received: from relay\n" + raw.replace(b"\r\n", b"\n"), mail_from="bob@example.com"
    )
    [email] = exported(app)["emails"]
    assert sorted(email["logged_by"]) == ["anna@example.com", "bob@example.com"]


def test_same_message_id_with_other_body_is_another_email(app: App) -> None:
    process(app, make_message(message_id="<same@x>", body="one"))
    process(app, make_message(message_id="<same@x>", body="two"))
    assert len(exported(app)["emails"]) == 2


def test_concurrent_copies_of_one_message_make_one_email(app: App) -> None:
    """Two workers, same message, same moment: the database constraint decides."""
    for rep in ("bob", "carl", "dora"):
        add_user(app, f"{rep}@example.com")
    raw = make_message(sender="jan@newco.pl", to="anna@example.com", message_id="<race@x>")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def deliver(rep: str) -> None:
        barrier.wait()
        outcomes.append(process(app, raw, mail_from=f"{rep}@example.com").status)

    threads = [threading.Thread(target=deliver, args=(r,)) for r in ("anna", "bob", "carl", "dora")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "logged"]
    data = exported(app)
    assert len(data["emails"]) == 1 and len(data["contacts"]) == 1
    assert len(data["companies"]) == 1
    assert len(data["emails"][0]["logged_by"]) == 4


def test_attachments_are_metadata_only(app: App) -> None:
    pdf = b"%PDF-1.4 fake"
    process(app, make_message(attachment=("oferta.pdf", pdf)))
    [attachment] = exported(app)["emails"][0]["attachments"]
    assert attachment["filename"] == "oferta.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(pdf)
    assert len(attachment["sha256"]) == 64


def test_nul_bytes_and_broken_charsets_are_stored_safely(app: App) -> None:
    """PostgreSQL rejects NUL in text; nothing may reach it."""
    raw = (
        b"From: jan@acme.pl\r\nTo: anna@example.com\r\nSubject: a\x00b\r\n"
        b"Message-ID: <nul@x>\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
        b"body \x00 \xff\xfe\r\n"
    )
    assert process(app, raw, mail_from="jan@acme.pl").status == "logged"
    [email] = exported(app)["emails"]
    assert "\x00" not in email["subject"]
    assert any("charset" in d for d in email["defects"])


def test_message_without_message_id_still_deduplicates(app: App) -> None:
    raw = b"From: jan@acme.pl\r\nTo: anna@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    assert process(app, raw, mail_from="").status == "logged"
    assert process(app, raw, mail_from="").status == "duplicate"


@pytest.mark.parametrize(
    "from_header",
    [
        b"From: a@acme.pl\r\nFrom: b@acme.pl",
        b"From: a@acme.pl, b@acme.pl",
        b"From: nobody",
        b'From: "a@acme.pl" <>',
        b"X-No-From: 1",
    ],
)
def test_message_without_exactly_one_author_is_held(app: App, from_header: bytes) -> None:
    raw = from_header + b"\r\nTo: anna@example.com\r\nSubject: x\r\n\r\nbody\r\n"
    outcome = process(app, raw)
    assert (outcome.status, outcome.reason) == ("held", "From is not exactly one valid address")
    data = exported(app)
    assert data["emails"] == [] and data["contacts"] == [] and data["companies"] == []


def test_a_forwarded_customer_mail_is_logged_under_the_customer(app: App) -> None:
    """Reps forward customer mail to the logging address: the email belongs to the customer,
    with the rep as forwarder and logger, and only the original's people become contacts."""
    forward = make_message(
        subject="Fwd: Zapytanie ofertowe",
        to="log@crm.example.com",
        body=(
            "Do wiadomości.\n\n---------- Forwarded message ---------\n"
            "From: Jan Kowalski <jan.kowalski@acme.pl>\n"
            "Date: Mon, Nov 2, 2026 at 9:30 AM\nSubject: Zapytanie ofertowe\n"
            "To: Anna Nowak <anna@example.com>\n\n"
            "Dzień dobry,\n\nproszę o ofertę. Kopia dla piotr@thirdparty.pl\n\n"
            "Pozdrawiam\nJan Kowalski\nKierownik Działu Zakupów\nACME Sp. z o.o.\n"
            "tel. 601 234 567\n\n"
            "On Sun, Nov 1, 2026 at 8:00 AM Ewa <ewa@quoted.pl> wrote:\n> stara wiadomość\n"
        ),
    )
    assert process(app, forward).status == "logged"
    data = exported(app)
    [email] = data["emails"]
    assert email["from"] == {"email": "jan.kowalski@acme.pl", "name": "Jan Kowalski"}
    assert email["forwarded_by"] == {"email": "anna@example.com", "name": "Anna Nowak"}
    assert email["logged_by"] == ["anna@example.com"]
    assert email["direction"] == "inbound"
    assert email["sent_at"] == "2026-11-02T09:30:00+00:00"
    assert "proszę o ofertę" in email["reply_text"] and "stara" not in email["reply_text"]
    assert [c["emails"] for c in data["contacts"]] == [["jan.kowalski@acme.pl"]]
