"""The review queue: questions the real pipeline opens, approved and rejected through
ReviewService and the ``bccrm review`` command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import App
from gateway.config import Config
from gateway.crm import (
    AuditEntry,
    Company,
    Contact,
    Deal,
    DealContact,
    EmailAssociation,
    ReviewItem,
    questions,
)
from gateway.services.contacts import ContactService
from gateway.services.export import export_all
from gateway.services.review import PersonRecord, ReviewError, ReviewRecords, ReviewService
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, add_user, bccrm, drain, make_message

REVIEW = {"matching": {"create_contacts": "review"}}
NEVER = {"matching": {"create_contacts": "never"}}
# Thresholds no fuzzy match reaches: every new person is created, and a near-duplicate of a
# known contact opens a merge question instead of a "same person?" one.
STRICT = {"matching": {"suggest": 0.99, "auto_link": 0.99}}


def signed(name: str, title: str, company: str, phone: str) -> str:
    return (
        f"Dzień dobry,\n\nproszę o ofertę.\n\nPozdrawiam\n{name}\n{title}\n{company}\n"
        f"tel. {phone}\n"
    )


@pytest.fixture
def settings() -> dict[str, Any]:
    """Config sections of the test; tests change them with ``parametrize("settings", ...)``."""
    return {}


@pytest.fixture
def config(make_config: ConfigFactory, settings: dict[str, Any]) -> Config:
    return make_config(**settings)


@pytest.fixture(autouse=True)
def rep(app: App) -> int:
    return add_user(app, "anna@example.com", "Anna Nowak")


@pytest.fixture
def anna(app: App, tmp_path: Path) -> int:
    """Anna Kowalska of ACME, imported; her contact id."""
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,last_name,title,company,phone\n"
        "anna.kowalska@acme.pl,Anna,Kowalska,Kierownik Zakupów,ACME,+48 601 234 567\n",
        encoding="utf-8",
    )
    result = ContactService(app.sessions, app.config.organization).import_csv(path)
    assert (result.created, result.errors) == (1, [])
    with app.sessions() as session:
        return session.scalars(select(Contact.id)).one()


def deliver(
    app: App, sender: str, body: str = "Dzień dobry,\n\nproszę o ofertę.\n", **kw: Any
) -> int:
    """A copy of an inbound message, spooled as the edge spools it and drained through the
    real pipeline; the id of the logged email."""
    raw = make_message(sender=sender, to="Anna Nowak <anna@example.com>", body=body, **kw)
    app.spool.store(raw, Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True))
    assert drain(app)["logged"] == 1
    return max(int(e["id"]) for e in export_all(app.sessions)["emails"])


def service(app: App, actor: str = "rita@example.com") -> ReviewService:
    return ReviewService(app.sessions, app.config, actor)


def items(app: App, kind: str | None = None) -> list[ReviewItem]:
    with app.sessions() as session:
        query = select(ReviewItem).order_by(ReviewItem.id)
        if kind:
            query = query.where(ReviewItem.kind == kind)
        return list(session.scalars(query))


def the_item(app: App, kind: str) -> ReviewItem:
    [item] = items(app, kind)
    return item


def email_of(app: App, email_id: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        e for e in export_all(app.sessions)["emails"] if e["id"] == email_id
    ]
    [email] = found
    return email


def participant(app: App, email_id: int, address: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = email_of(app, email_id)["participants"]
    [found] = [p for p in rows if p["email"] == address]
    return found


def contacts(app: App) -> dict[str, dict[str, Any]]:
    """Exported contacts by their primary address."""
    return {c["emails"][0]: c for c in export_all(app.sessions)["contacts"]}


def audits(app: App, action: str) -> list[AuditEntry]:
    with app.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


# -- same_person ------------------------------------------------------------------------------


def same_person_item(app: App) -> tuple[int, ReviewItem]:
    body = signed("Anna Kowalska", "Kierownik Zakupów", "ACME Sp. z o.o.", "602 999 888")
    email_id = deliver(app, "Anna Kowalska <a.k@gmail.com>", body=body)
    return email_id, the_item(app, "same_person")


def test_same_person_is_listed_with_a_summary(app: App, anna: int) -> None:
    email_id, item = same_person_item(app)
    assert item.email_id == email_id
    [candidate] = item.payload["candidates"]
    assert (candidate["contact_id"], candidate["name"]) == (anna, "Anna Kowalska")
    [info] = service(app).list()
    assert info.id == item.id
    assert (info.kind, info.status, info.decided_at, info.decided_by) == (
        "same_person", "open", None, None,
    )  # fmt: skip
    assert (info.email_id, info.email_from, info.email_subject) == (
        email_id, "a.k@gmail.com", "Oferta na wdrożenie",
    )  # fmt: skip
    assert (info.contact_id, info.contact_name) == (None, "")
    confidence = candidate["confidence"]
    assert info.summary == f"same person? a.k@gmail.com → Anna Kowalska ({confidence:.2f})"
    assert info.payload == item.payload
    assert service(app).show(item.id) == info
    assert service(app).counts() == {
        "new_contact": 0, "same_person": 1, "field_update": 0, "merge": 0, "which_deal": 0,
    }  # fmt: skip
    assert service(app).list(kind="merge") == []
    assert service(app).list(status="approved") == []


def test_approving_same_person_links_the_address_and_the_waiting_email(app: App, anna: int) -> None:
    email_id, item = same_person_item(app)
    assert participant(app, email_id, "a.k@gmail.com")["match"]["outcome"] == "suggested"

    decision = service(app).approve(item.id)

    assert (decision.id, decision.kind, decision.status) == (item.id, "same_person", "approved")
    assert decision.applied == {
        "contact_id": anna,
        "candidate_contact_id": anna,
        "address_added": True,
        "emails_linked": [email_id],
    }
    assert contacts(app)["anna.kowalska@acme.pl"]["emails"] == [
        "anna.kowalska@acme.pl",
        "a.k@gmail.com",
    ]
    found = participant(app, email_id, "a.k@gmail.com")
    assert found["contact_id"] == anna
    assert found["match"] == {
        "outcome": "reviewed",
        "reason": "same person (reviewed)",
        "confidence": 1.0,
    }
    email = email_of(app, email_id)
    assert email["contact_ids"] == [anna]
    assert {
        "kind": "contact",
        "id": anna,
        "reason": "same person (reviewed)",
        "confidence": 1.0,
    } in email["associations"]
    assert email["company_ids"] == [contacts(app)["anna.kowalska@acme.pl"]["company_id"]]

    [stored] = items(app)
    assert stored.status == "approved"
    assert stored.decided_by == "rita@example.com"
    assert stored.decided_at is not None
    assert stored.payload["decision"] == {
        "status": "approved",
        "choice": None,
        "set": {},
        "applied": decision.applied,
    }
    assert stored.payload["candidates"] == item.payload["candidates"]  # the question is kept
    [entry] = audits(app, "review.approved")
    assert (entry.actor, entry.object_kind, entry.object_id) == (
        "rita@example.com", "review", str(item.id),
    )  # fmt: skip
    assert entry.details == {"kind": "same_person"}
    [added] = audits(app, "contact.email_added")
    assert added.object_id == str(anna)

    # The next email from that address is an exact match; nobody is asked again.
    later = deliver(app, "Anna Kowalska <a.k@gmail.com>", subject="Drugie")
    assert participant(app, later, "a.k@gmail.com")["match"]["outcome"] == "linked"
    assert len(items(app)) == 1
    assert service(app).list() == []
    [info] = service(app).list(status="approved")
    assert (info.status, info.decided_by) == ("approved", "rita@example.com")


def test_rejecting_same_person_creates_a_new_contact(app: App, anna: int) -> None:
    email_id, item = same_person_item(app)

    decision = service(app).reject(item.id)

    new = contacts(app)["a.k@gmail.com"]
    assert new["id"] != anna
    assert decision.applied == {
        "contact_id": new["id"],
        "created": True,
        "emails_linked": [email_id],
    }
    assert (new["first_name"], new["last_name"], new["title"]) == (
        "Anna", "Kowalska", "Kierownik Zakupów",
    )  # fmt: skip
    assert new["phones"] == ["+48602999888"]
    assert new["origin"] == "review"
    assert new["company_id"] is None  # free mail, and nobody typed a company
    found = participant(app, email_id, "a.k@gmail.com")
    assert found["contact_id"] == new["id"]
    assert found["match"]["reason"] == "new contact (reviewed)"
    assert contacts(app)["anna.kowalska@acme.pl"]["emails"] == ["anna.kowalska@acme.pl"]
    assert the_item(app, "same_person").status == "rejected"
    [entry] = audits(app, "review.rejected")
    assert entry.details == {"kind": "same_person"}
    # The rejected question is not asked again: the address is the new contact's now.
    later = deliver(app, "Anna Kowalska <a.k@gmail.com>", subject="Drugie")
    assert participant(app, later, "a.k@gmail.com")["contact_id"] == new["id"]
    assert len(items(app)) == 1


def test_rejecting_same_person_with_corrections(app: App, anna: int) -> None:
    _, item = same_person_item(app)
    service(app).reject(item.id, sets={"first_name": "Ania", "company": "Kowalska Consulting"})
    new = contacts(app)["a.k@gmail.com"]
    assert (new["first_name"], new["last_name"]) == ("Ania", "Kowalska")
    with app.sessions() as session:
        company = session.get_one(Company, new["company_id"])
        assert (company.name, company.origin) == ("Kowalska Consulting", "review")


@pytest.mark.parametrize("settings", [NEVER], ids=["never"])
def test_rejecting_same_person_without_creation_leaves_the_address_alone(
    app: App, anna: int
) -> None:
    email_id, item = same_person_item(app)
    decision = service(app).reject(item.id)
    assert decision.applied == {"email": "a.k@gmail.com", "ignored": True}
    assert list(contacts(app)) == ["anna.kowalska@acme.pl"]
    assert participant(app, email_id, "a.k@gmail.com")["match"] == {
        "outcome": "ignored",
        "reason": "not the same person",
        "confidence": None,
    }
    later = deliver(app, "Anna Kowalska <a.k@gmail.com>", subject="Drugie")
    assert participant(app, later, "a.k@gmail.com")["match"]["outcome"] == "ignored"
    assert len(items(app)) == 1


def test_same_person_choice_picks_a_candidate(app: App, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,last_name\njan.kowalski@acme.pl,Jan,Kowalski\njk@acme.pl,Jan,Kowalski\n",
        encoding="utf-8",
    )
    ContactService(app.sessions, app.config.organization).import_csv(path)
    email_id = deliver(app, "Jan Kowalski <kowalski.jan@acme.pl>")
    item = the_item(app, "same_person")
    first, second = (c["contact_id"] for c in item.payload["candidates"])
    with pytest.raises(ReviewError, match=r"^choice 3 is out of range: choose 1 to 2$"):
        service(app).approve(item.id, choice=3)
    decision = service(app).approve(item.id, choice=2)
    assert decision.applied["contact_id"] == second != first
    assert participant(app, email_id, "kowalski.jan@acme.pl")["contact_id"] == second
    assert the_item(app, "same_person").payload["decision"]["choice"] == 2


def test_same_person_candidate_merged_since_is_followed(app: App, anna: int) -> None:
    from gateway.crm.merge import merge_contacts

    email_id, item = same_person_item(app)
    with app.sessions.begin() as session:
        other = Contact(first_name="Anna", last_name="K", origin="manual", status="active")
        session.add(other)
        session.flush()
        merge_contacts(session, other.id, anna, "test")
        keep = other.id
    decision = service(app).approve(item.id)
    assert decision.applied["contact_id"] == keep
    assert decision.applied["candidate_contact_id"] == anna
    assert participant(app, email_id, "a.k@gmail.com")["contact_id"] == keep


# -- new_contact ------------------------------------------------------------------------------


def new_contact_item(app: App) -> tuple[int, ReviewItem]:
    body = signed("Jan Nowak", "Kierownik", "Nowak Trans Sp. z o.o.", "601 000 000")
    email_id = deliver(app, "Jan Nowak <jan@nowak-trans.pl>", body=body)
    return email_id, the_item(app, "new_contact")


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_approving_new_contact_with_a_correction(app: App) -> None:
    email_id, item = new_contact_item(app)
    assert contacts(app) == {}
    [info] = service(app).list()
    assert info.summary == "new contact? Jan Nowak <jan@nowak-trans.pl>"

    decision = service(app).approve(item.id, sets={"title": "Prezes Zarządu"})

    [jan] = contacts(app).values()
    assert decision.applied == {
        "contact_id": jan["id"],
        "created": True,
        "emails_linked": [email_id],
    }
    assert (jan["first_name"], jan["last_name"], jan["title"]) == ("Jan", "Nowak", "Prezes Zarządu")
    assert (jan["phones"], jan["origin"], jan["status"]) == (["+48601000000"], "review", "active")
    [company] = export_all(app.sessions)["companies"]
    assert (company["name"], company["domains"]) == ("Nowak Trans Sp. z o.o.", ["nowak-trans.pl"])
    assert jan["company_id"] == company["id"]
    found = participant(app, email_id, "jan@nowak-trans.pl")
    assert found["contact_id"] == jan["id"]
    assert found["match"] == {
        "outcome": "reviewed",
        "reason": "new contact (reviewed)",
        "confidence": 1.0,
    }
    assert email_of(app, email_id)["company_ids"] == [company["id"]]
    stored = the_item(app, "new_contact")
    assert stored.payload["decision"]["set"] == {"title": "Prezes Zarządu"}
    [created] = audits(app, "contact.created")
    assert (created.actor, created.details) == ("rita@example.com", {"origin": "review"})
    later = deliver(app, "Jan Nowak <jan@nowak-trans.pl>", subject="Drugie")
    assert participant(app, later, "jan@nowak-trans.pl")["match"]["outcome"] == "linked"
    assert len(items(app)) == 1


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_new_contact_phone_correction_is_normalised(app: App) -> None:
    _, item = new_contact_item(app)
    with pytest.raises(ReviewError, match=r"^invalid phone number 'abc'$"):
        service(app).approve(item.id, sets={"phone": "abc"})
    with pytest.raises(
        ReviewError, match=rf"^review item {item.id} \(new_contact\) has no choices$"
    ):
        service(app).approve(item.id, choice=1)
    assert the_item(app, "new_contact").status == "open"  # nothing was decided
    assert contacts(app) == {}
    service(app).approve(item.id, sets={"phone": "602 333 444"})
    assert contacts(app)["jan@nowak-trans.pl"]["phones"] == ["+48602333444"]


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_new_contact_links_to_a_contact_created_meanwhile(app: App, tmp_path: Path) -> None:
    email_id, item = new_contact_item(app)
    path = tmp_path / "contacts.csv"
    path.write_text("email,first_name,last_name\njan@nowak-trans.pl,Janek,Nowak\n", "utf-8")
    ContactService(app.sessions, app.config.organization).import_csv(path)
    [jan] = contacts(app).values()
    decision = service(app).approve(item.id)
    assert decision.applied == {
        "contact_id": jan["id"],
        "created": False,
        "emails_linked": [email_id],
    }
    assert len(contacts(app)) == 1 and contacts(app)["jan@nowak-trans.pl"]["first_name"] == "Janek"


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_rejecting_new_contact_is_final(app: App) -> None:
    email_id, item = new_contact_item(app)
    decision = service(app).reject(item.id)
    assert decision.applied == {"email": "jan@nowak-trans.pl", "ignored": True}
    assert contacts(app) == {}
    assert participant(app, email_id, "jan@nowak-trans.pl")["match"] == {
        "outcome": "ignored",
        "reason": "rejected in review",
        "confidence": None,
    }
    later = deliver(app, "Jan Nowak <jan@nowak-trans.pl>", subject="Drugie")
    assert contacts(app) == {}
    assert [i.id for i in items(app)] == [item.id]  # no new question
    assert participant(app, later, "jan@nowak-trans.pl")["match"] == {
        "outcome": "ignored",
        "reason": "rejected in review",
        "confidence": None,
    }


# -- field_update -----------------------------------------------------------------------------


def field_item(
    app: App, title: str, company: str = "ACME", phone: str = "601 234 567"
) -> ReviewItem:
    body = signed("Anna Kowalska", title, company, phone)
    deliver(app, "Anna Kowalska <anna.kowalska@acme.pl>", body=body)
    return the_item(app, "field_update")


def test_approving_a_new_title(app: App, anna: int) -> None:
    item = field_item(app, "Dyrektor Handlowy")
    assert item.contact_id == anna
    assert item.payload == {
        "field": "title",
        "current": "Kierownik Zakupów",
        "proposed": "Dyrektor Handlowy",
        "email_id": item.email_id,
    }
    [info] = service(app).list()
    assert info.summary == "update title: 'Kierownik Zakupów' → 'Dyrektor Handlowy'"
    assert (info.contact_id, info.contact_name) == (anna, "Anna Kowalska")

    decision = service(app).approve(item.id)

    assert decision.applied == {"contact_id": anna, "field": "title", "value": "Dyrektor Handlowy"}
    assert contacts(app)["anna.kowalska@acme.pl"]["title"] == "Dyrektor Handlowy"
    [entry] = [a for a in audits(app, "contact.updated") if a.details.get("source") == "review"]
    assert (entry.actor, entry.object_id, entry.details["fields"]) == (
        "rita@example.com", str(anna), ["title"],
    )  # fmt: skip


def test_approving_a_title_with_another_value(app: App, anna: int) -> None:
    item = field_item(app, "Dyrektor Handlowy")
    with pytest.raises(ReviewError, match=r"allowed: value\)$"):
        service(app).approve(item.id, sets={"title": "CEO"})
    service(app).approve(item.id, sets={"value": "Dyrektor Sprzedaży"})
    assert contacts(app)["anna.kowalska@acme.pl"]["title"] == "Dyrektor Sprzedaży"


def test_rejecting_a_new_title_changes_nothing_and_is_not_asked_again(app: App, anna: int) -> None:
    item = field_item(app, "Dyrektor Handlowy")
    decision = service(app).reject(item.id)
    assert (decision.status, decision.applied) == ("rejected", {})
    assert contacts(app)["anna.kowalska@acme.pl"]["title"] == "Kierownik Zakupów"
    body = signed("Anna Kowalska", "Dyrektor Handlowy", "ACME", "601 234 567")
    deliver(app, "Anna Kowalska <anna.kowalska@acme.pl>", body=body, subject="Drugie")
    assert [i.id for i in items(app)] == [item.id]


def test_approving_a_new_phone_adds_it(app: App, anna: int) -> None:
    item = field_item(app, "Kierownik Zakupów", phone="602 111 000")
    assert (item.payload["field"], item.payload["proposed"]) == ("phone", "+48602111000")
    service(app).approve(item.id)
    assert contacts(app)["anna.kowalska@acme.pl"]["phones"] == ["+48601234567", "+48602111000"]


def test_approving_a_new_company_finds_it_by_name(app: App, anna: int) -> None:
    with app.sessions.begin() as session:
        session.add(Company(name="GLOBEX S.A.", origin="import"))
    item = field_item(app, "Kierownik Zakupów", company="Globex S.A.")
    assert (item.payload["field"], item.payload["current"]) == ("company", "ACME")
    decision = service(app).approve(item.id)
    with app.sessions() as session:
        globex = session.scalars(select(Company).where(Company.name == "GLOBEX S.A.")).one()
        assert decision.applied == {
            "contact_id": anna, "field": "company", "value": "Globex S.A.", "company_id": globex.id,
        }  # fmt: skip
        assert session.get_one(Contact, anna).company_id == globex.id
        assert session.scalars(select(Company.name).order_by(Company.id)).all() == [
            "ACME",
            "GLOBEX S.A.",
        ]


def test_approving_an_unknown_company_creates_it(app: App, anna: int) -> None:
    item = field_item(app, "Kierownik Zakupów", company="Initech S.A.")
    decision = service(app).approve(item.id)
    with app.sessions() as session:
        company = session.get_one(Company, decision.applied["company_id"])
        assert (company.name, company.origin) == ("Initech S.A.", "review")
        assert session.get_one(Contact, anna).company_id == company.id


# -- merge ------------------------------------------------------------------------------------


def merge_item(app: App) -> tuple[int, ReviewItem]:
    """A new address at Anna's company with her name: with STRICT thresholds a new contact,
    which looks like a duplicate of Anna."""
    email_id = deliver(app, "Anna Kowalska <a.kowalska@acme.pl>")
    return email_id, the_item(app, "merge")


@pytest.mark.parametrize("settings", [STRICT], ids=["strict"])
def test_approving_a_merge_keeps_the_older_contact(app: App, anna: int) -> None:
    email_id, item = merge_item(app)
    new = contacts(app)["a.kowalska@acme.pl"]
    assert (item.payload["keep"], item.payload["other"], item.contact_id) == (
        anna, new["id"], new["id"],
    )  # fmt: skip
    [info] = service(app).list()
    assert info.summary == f"merge contact {new['id']} into {anna}?"

    decision = service(app).approve(item.id)

    assert decision.applied["keep_id"] == anna
    assert decision.applied["other_id"] == new["id"]
    assert decision.applied["emails_moved"] == 1
    by_id = {c["id"]: c for c in export_all(app.sessions)["contacts"]}
    assert by_id[new["id"]]["status"] == "merged"
    assert by_id[anna]["emails"] == ["anna.kowalska@acme.pl", "a.kowalska@acme.pl"]
    assert participant(app, email_id, "a.kowalska@acme.pl")["contact_id"] == anna
    assert email_of(app, email_id)["contact_ids"] == [anna]
    assert len(audits(app, "contact.merged")) == 1


@pytest.mark.parametrize("settings", [STRICT], ids=["strict"])
def test_merge_choice_two_keeps_the_other_contact(app: App, anna: int) -> None:
    _, item = merge_item(app)
    new = contacts(app)["a.kowalska@acme.pl"]["id"]
    decision = service(app).approve(item.id, choice=2)
    assert (decision.applied["keep_id"], decision.applied["other_id"]) == (new, anna)
    by_id = {c["id"]: c for c in export_all(app.sessions)["contacts"]}
    assert (by_id[anna]["status"], by_id[new]["status"]) == ("merged", "active")
    with pytest.raises(ReviewError, match=r"^review item \d+ is already approved$"):
        service(app).approve(item.id, choice=1)


@pytest.mark.parametrize("settings", [STRICT], ids=["strict"])
def test_rejecting_a_merge_keeps_both(app: App, anna: int) -> None:
    _, item = merge_item(app)
    assert service(app).reject(item.id).applied == {}
    statuses = [c["status"] for c in export_all(app.sessions)["contacts"]]
    assert statuses == ["active", "active"]
    assert audits(app, "contact.merged") == []


def test_importing_a_near_duplicate_asks_for_a_merge(app: App, anna: int, tmp_path: Path) -> None:
    path = tmp_path / "more.csv"
    path.write_text("email,first_name,last_name\nak@acme.pl,Anna,Kowalska\n", encoding="utf-8")
    assert ContactService(app.sessions, app.config.organization).import_csv(path).created == 1
    item = the_item(app, "merge")
    duplicate = contacts(app)["ak@acme.pl"]["id"]
    assert (item.payload["keep"], item.payload["other"]) == (anna, duplicate)
    decision = service(app).approve(item.id)
    assert (decision.applied["keep_id"], decision.applied["other_id"]) == (anna, duplicate)
    assert decision.applied["fields_filled"] == []
    by_id = {c["id"]: c for c in export_all(app.sessions)["contacts"]}
    assert by_id[anna]["emails"] == ["anna.kowalska@acme.pl", "ak@acme.pl"]
    assert (by_id[duplicate]["status"], by_id[duplicate]["emails"]) == ("merged", [])


def test_merge_of_a_contact_merged_meanwhile_fails(app: App, anna: int) -> None:
    with app.sessions.begin() as session:
        a = Contact(first_name="Jan", last_name="Nowak", origin="manual", status="active")
        b = Contact(first_name="Jan", last_name="Nowak", origin="manual", status="merged")
        session.add_all([a, b])
        session.flush()
        b.merged_into_id = anna
        item, created = questions.ask(
            session, "merge", questions.merge_key(a.id, b.id),
            {"keep": a.id, "other": b.id, "confidence": 0.9, "reasons": ["name 1.00"]},
            contact_id=b.id,
        )  # fmt: skip
        assert created
        item_id, b_id = item.id, b.id
    with pytest.raises(
        ReviewError, match=rf"^contact {b_id} is already merged into contact {anna}$"
    ):
        service(app).approve(item_id)
    [stored] = items(app)
    assert (stored.status, stored.decided_at, "decision" in stored.payload) == ("open", None, False)


# -- which_deal -------------------------------------------------------------------------------


def two_deals(app: App, contact_id: int) -> tuple[int, int]:
    """An older and a newer open deal of the contact, and a won one."""
    with app.sessions.begin() as session:
        older = Deal(
            name="Wdrożenie CRM", stage="oferta", updated_at=datetime(2026, 10, 1, tzinfo=UTC)
        )
        newer = Deal(
            name="Szkolenia", stage="negocjacje", updated_at=datetime(2026, 11, 1, tzinfo=UTC)
        )
        won = Deal(name="Licencje", status="won", updated_at=datetime(2026, 11, 5, tzinfo=UTC))
        session.add_all([older, newer, won])
        session.flush()
        session.add_all(
            DealContact(deal_id=d.id, contact_id=contact_id) for d in (older, newer, won)
        )
        return older.id, newer.id


def deal_links(app: App, email_id: int) -> list[tuple[int | None, str]]:
    with app.sessions() as session:
        rows = session.execute(
            select(EmailAssociation.deal_id, EmailAssociation.reason).where(
                EmailAssociation.email_id == email_id, EmailAssociation.kind == "deal"
            )
        )
        return [(deal_id, reason) for deal_id, reason in rows]


def test_which_deal_choice_puts_the_email_on_that_deal(app: App, anna: int) -> None:
    older, newer = two_deals(app, anna)
    email_id = deliver(app, "Anna Kowalska <anna.kowalska@acme.pl>")
    item = the_item(app, "which_deal")
    assert item.email_id == email_id
    assert [(c["deal_id"], c["name"], c["stage"]) for c in item.payload["choices"]] == [
        (newer, "Szkolenia", "negocjacje"),
        (older, "Wdrożenie CRM", "oferta"),
    ]
    [info] = service(app).list()
    assert info.summary == "which deal? 2 open deals"
    assert deal_links(app, email_id) == []

    with pytest.raises(ReviewError, match=r"^choose a deal with --choice N$"):
        service(app).approve(item.id)
    with pytest.raises(ReviewError, match=r"^choice 3 is out of range: choose 1 to 2$"):
        service(app).approve(item.id, choice=3)
    decision = service(app).approve(item.id, choice=2)

    assert decision.applied == {"deal_id": older, "email_id": email_id, "linked": True}
    assert deal_links(app, email_id) == [(older, "deal chosen in review")]
    assert email_of(app, email_id)["deal_ids"] == [older]
    [entry] = audits(app, "review.approved")
    assert entry.details == {"kind": "which_deal", "choice": 2}


def test_rejecting_which_deal_links_no_deal(app: App, anna: int) -> None:
    two_deals(app, anna)
    email_id = deliver(app, "Anna Kowalska <anna.kowalska@acme.pl>")
    item = the_item(app, "which_deal")
    with pytest.raises(ReviewError, match=r"allowed: none\)$"):
        service(app).reject(item.id, sets={"value": "x"})
    assert service(app).reject(item.id).applied == {}
    assert deal_links(app, email_id) == []
    assert service(app).counts()["which_deal"] == 0
    with pytest.raises(ReviewError, match=rf"^review item {item.id} is already rejected$"):
        service(app).reject(item.id)


def test_which_deal_with_one_choice_and_a_deal_deleted_since(app: App, anna: int) -> None:
    email_id = deliver(app, "Anna Kowalska <anna.kowalska@acme.pl>")
    with app.sessions.begin() as session:
        kept, gone = Deal(name="Serwis", status="won"), Deal(name="Stary", status="lost")
        session.add_all([kept, gone])
        session.flush()
        ids = []
        for key, deal in (("which_deal:gone", gone), ("which_deal:one", kept)):
            choice = {"deal_id": deal.id, "name": deal.name, "stage": "", "updated_at": ""}
            item, _ = questions.ask(
                session, "which_deal", key, {"choices": [choice]}, email_id=email_id
            )
            ids.append(item.id)
        session.delete(gone)
        gone_item, one_item, kept_id, gone_id = *ids, kept.id, gone.id
    assert [i.id for i in service(app).list()] == [gone_item, one_item]  # oldest first
    assert [i.id for i in service(app).list(limit=1)] == [gone_item]
    assert service(app).show(one_item).summary == "which deal? 1 open deal"
    with pytest.raises(ReviewError, match=rf"^deal {gone_id} no longer exists$"):
        service(app).approve(gone_item)
    with pytest.raises(
        ReviewError,
        match=r"^cannot set value when you approve a which_deal item \(allowed: none\)$",
    ):
        service(app).approve(one_item, sets={"value": "1"})
    decision = service(app).approve(one_item)  # one choice: no --choice needed
    assert decision.applied == {"deal_id": kept_id, "email_id": email_id, "linked": True}
    assert deal_links(app, email_id) == [(kept_id, "deal chosen in review")]


# -- errors -----------------------------------------------------------------------------------


def test_unknown_items_and_bad_answers(app: App, anna: int) -> None:
    with pytest.raises(ReviewError, match=r"^no review item 999$"):
        service(app).show(999)
    with pytest.raises(ReviewError, match=r"^no review item 999$"):
        service(app).approve(999)
    with pytest.raises(ReviewError, match=r"^no review item 999$"):
        service(app).reject(999)
    _, item = same_person_item(app)
    with pytest.raises(
        ReviewError,
        match=r"^cannot set title when you approve a same_person item \(allowed: none\)$",
    ):
        service(app).approve(item.id, sets={"title": "CEO"})
    with pytest.raises(ReviewError, match=r"^choice 0 is out of range: choose 1 to 1$"):
        service(app).approve(item.id, choice=0)
    with pytest.raises(ReviewError, match=r"allowed: first_name, last_name, title, company, phone"):
        service(app).reject(item.id, sets={"email": "x@y.pl"})
    with pytest.raises(ReviewError, match=r"^unknown review kind 'nope'"):
        service(app).list(kind="nope")
    with pytest.raises(ReviewError, match=r"^unknown status 'closed'"):
        service(app).list(status="closed")
    assert the_item(app, "same_person").status == "open"
    service(app).approve(item.id)
    with pytest.raises(ReviewError, match=rf"^review item {item.id} is already approved$"):
        service(app).approve(item.id)
    with pytest.raises(ReviewError, match=rf"^review item {item.id} is already approved$"):
        service(app).reject(item.id)
    assert len(audits(app, "review.approved")) == 1 and audits(app, "review.rejected") == []


# -- command line -----------------------------------------------------------------------------


def test_cli_list_show_and_approve(app: App, anna: int) -> None:
    email_id, item = same_person_item(app)
    config = app.config

    listed = bccrm(config, "review", "list")
    assert listed.returncode == 0, listed.stderr
    assert "same_person" in listed.stdout
    assert "same person? a.k@gmail.com → Anna Kowalska" in listed.stdout

    as_json = bccrm(config, "review", "list", "--json", "--kind", "same_person")
    assert as_json.returncode == 0, as_json.stderr
    [data] = json.loads(as_json.stdout)
    assert (data["id"], data["kind"], data["status"], data["email_id"]) == (
        item.id, "same_person", "open", email_id,
    )  # fmt: skip
    assert datetime.fromisoformat(data["created_at"]).tzinfo is not None
    assert data["decided_at"] is None
    assert data["payload"] == item.payload
    assert json.loads(bccrm(config, "review", "list", "--json", "--kind", "merge").stdout) == []

    shown = bccrm(config, "review", "show", str(item.id))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"review item {item.id}: same_person, open"
    assert lines[1].startswith("same person? a.k@gmail.com → Anna Kowalska (")
    assert any(line.startswith(f"  1. contact {anna} Anna Kowalska (") for line in lines)
    assert '"email": "a.k@gmail.com"' in shown.stdout

    approved = bccrm(config, "review", "approve", str(item.id), "--choice", "1")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout == (
        f"approved {item.id} (same_person): contact {anna}: address added, 1 email(s) linked\n"
    )
    stored = the_item(app, "same_person")
    assert stored.status == "approved"
    assert stored.decided_by is not None and stored.decided_by.startswith("cli:")

    again = bccrm(config, "review", "reject", str(item.id))
    assert again.returncode == 1
    assert again.stderr == f"bccrm: review item {item.id} is already approved\n"

    shown = json.loads(bccrm(config, "review", "show", str(item.id), "--json").stdout)
    assert shown["status"] == "approved" and shown["decided_at"] is not None
    listed = bccrm(config, "review", "list")
    assert listed.stdout == "no open review items\n"


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_cli_approve_with_set_and_reject(app: App) -> None:
    _, item = new_contact_item(app)
    config = app.config
    bad = bccrm(config, "review", "approve", str(item.id), "--set", "title")
    assert bad.returncode == 2
    assert "expected FIELD=VALUE, got 'title'" in bad.stderr
    wrong = bccrm(config, "review", "approve", str(item.id), "--set", "email=x@y.pl")
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "bccrm: cannot set email when you approve a new_contact item "
        "(allowed: first_name, last_name, title, company, phone)\n"
    )
    approved = bccrm(
        config, "review", "approve", str(item.id), "--set", "title=Head of Sales", "--json",
        "--by", "anna@example.com",
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    decision = json.loads(approved.stdout)
    jan = contacts(app)["jan@nowak-trans.pl"]
    assert decision == {
        "id": item.id,
        "kind": "new_contact",
        "status": "approved",
        "applied": {"contact_id": jan["id"], "created": True, "emails_linked": [item.email_id]},
    }
    assert jan["title"] == "Head of Sales"
    assert the_item(app, "new_contact").decided_by == "anna@example.com"

    body = signed("Ewa Lis", "Prezes", "Lis Sp. z o.o.", "603 000 111")
    deliver(app, "Ewa Lis <ewa@lis.pl>", body=body)
    ewa = next(i for i in items(app, "new_contact") if i.status == "open")
    rejected = bccrm(config, "review", "reject", str(ewa.id))
    assert rejected.returncode == 0, rejected.stderr
    assert (
        rejected.stdout == f"rejected {ewa.id} (new_contact): ewa@lis.pl stays without a contact\n"
    )
    listed = bccrm(config, "review", "list", "--status", "all")
    assert "approved" in listed.stdout and "rejected" in listed.stdout
    missing = bccrm(config, "review", "show", "999")
    assert (missing.returncode, missing.stderr) == (1, "bccrm: no review item 999\n")
    nobody = bccrm(config, "review", "reject", "999", "--by", "zenon@example.com")
    assert nobody.returncode == 2


# -- records side by side (the admin TUI's comparison pane) ----------------------------------


def test_records_of_same_person_show_the_address_and_the_candidate(app: App, anna: int) -> None:
    """The proposed person comes from the payload with the emails waiting for the address;
    the candidate is the contact as the database holds it."""
    email_id, item = same_person_item(app)
    records = service(app).records(item.id)
    assert (records.item_id, records.kind) == (item.id, "same_person")
    assert records.proposed == PersonRecord(
        contact_id=None, status="proposed", name="Anna Kowalska", addresses=("a.k@gmail.com",),
        company="ACME Sp. z o.o.", title="Kierownik Zakupów", phones=("+48602999888",),
        email_count=1, legal_basis="", legal_basis_status="",
    )  # fmt: skip
    [candidate] = records.candidates
    assert candidate == PersonRecord(
        contact_id=anna, status="active", name="Anna Kowalska",
        addresses=("anna.kowalska@acme.pl",), company="ACME", title="Kierownik Zakupów",
        phones=("+48601234567",), email_count=0, legal_basis=candidate.legal_basis,
        legal_basis_status=candidate.legal_basis_status,
    )  # fmt: skip

    service(app).approve(item.id)
    after = service(app).records(item.id)  # decided items can still be compared
    assert after.proposed is not None and after.proposed.email_count == 0  # nothing waits
    [linked] = after.candidates
    assert linked.addresses == ("anna.kowalska@acme.pl", "a.k@gmail.com")
    assert linked.email_count == 1
    assert email_of(app, email_id)["contact_ids"] == [anna]


@pytest.mark.parametrize("settings", [STRICT], ids=["strict"])
def test_records_of_a_merge_are_both_contacts_in_choice_order(app: App, anna: int) -> None:
    _, item = merge_item(app)
    new = contacts(app)["a.kowalska@acme.pl"]["id"]
    records = service(app).records(item.id)
    assert records.proposed is None
    keep, other = records.candidates
    assert (keep.contact_id, other.contact_id) == (anna, new)  # choice 1 keeps the first
    assert (keep.email_count, other.email_count) == (0, 1)
    assert other.addresses == ("a.kowalska@acme.pl",)
    assert (other.legal_basis, other.legal_basis_status) == (
        app.config.privacy.default_legal_basis, "proposed",
    )  # fmt: skip
    assert other.company == keep.company == "ACME"
    service(app).approve(item.id)
    keep, other = service(app).records(item.id).candidates
    assert (other.status, other.merged_into_id, other.addresses) == ("merged", anna, ())
    assert keep.addresses == ("anna.kowalska@acme.pl", "a.kowalska@acme.pl")


def test_records_of_contacts_gone_or_ids_that_are_not_ids(app: App, anna: int) -> None:
    with app.sessions.begin() as session:
        gone = Contact(first_name="Jan", last_name="Nowak", origin="manual", status="active")
        session.add(gone)
        session.flush()
        gone_id = gone.id
        payload = {"email": "x@y.pl", "name": "X", "candidates": [
            {"contact_id": gone_id}, {"contact_id": "7; DROP"}, {"contact_id": 10**12},
            {"contact_id": anna}, "not a dict",
        ]}  # fmt: skip
        item, _ = questions.ask(session, "same_person", "same_person:x@y.pl", payload)
        merge, _ = questions.ask(session, "merge", "merge:t", {"keep": anna, "other": None})
        ids = (item.id, merge.id)
        session.delete(gone)
    records = service(app).records(ids[0])
    assert [(c.contact_id, c.status) for c in records.candidates] == [
        (gone_id, "missing"), (None, "missing"), (None, "missing"), (anna, "active"),
    ]  # fmt: skip
    assert records.proposed is not None
    assert (records.proposed.name, records.proposed.addresses) == ("X", ("x@y.pl",))
    assert records.proposed.phones == () and records.proposed.email_count == 0
    merge_records = service(app).records(ids[1])
    assert [c.status for c in merge_records.candidates] == ["active", "missing"]


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_records_of_a_new_contact_and_kinds_without_people(app: App, anna: int) -> None:
    _, item = new_contact_item(app)
    records = service(app).records(item.id)
    assert records == ReviewRecords(item.id, "new_contact", records.proposed, ())
    assert records.proposed is not None
    assert (records.proposed.name, records.proposed.email_count) == ("Jan Nowak", 1)
    field = field_item(app, "Dyrektor Handlowy")
    with pytest.raises(ReviewError, match=rf"^review item {field.id} \(field_update\) compares"):
        service(app).records(field.id)
    with pytest.raises(ReviewError, match=r"^no review item 999$"):
        service(app).records(999)
