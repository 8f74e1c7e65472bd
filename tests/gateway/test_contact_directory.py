"""ContactDirectory: searching contacts by name (diacritics and case ignored), address, company
and phone, with LIKE wildcards in the query taken literally; a contact's timeline of emails,
deals and tickets. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gateway.app import App
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    DealContact,
    Email,
    EmailAssociation,
    EmailParticipant,
    Ticket,
    TicketContact,
    repo,
)
from gateway.crm.merge import merge_contacts
from gateway.services.contacts import (
    SUBJECT_CHARS,
    ContactDirectory,
    ContactError,
    ContactRow,
)

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
_serial = itertools.count(1)


def directory(app: App) -> ContactDirectory:
    return ContactDirectory(app.sessions, app.config.organization)


def add_company(app: App, name: str) -> int:
    with app.sessions.begin() as session:
        company = Company(name=name, origin="manual")
        session.add(company)
        session.flush()
        return company.id


def add_contact(
    app: App,
    address: str,
    first: str,
    last: str,
    *,
    company_id: int | None = None,
    phones: tuple[str, ...] = (),
    others: tuple[str, ...] = (),
) -> int:
    with app.sessions.begin() as session:
        contact = repo.create_contact(
            session, address, first_name=first, last_name=last, origin="manual",
            company_id=company_id, title="Kierownik",
        )  # fmt: skip
        contact.phones.extend(ContactPhone(e164=p, kind="work") for p in phones)
        contact.emails.extend(ContactEmail(email=o, is_primary=False) for o in others)
        return contact.id


def add_email(
    app: App,
    contact_id: int | None,
    subject: str,
    *,
    at: datetime = T0,
    direction: str = "inbound",
    reason: str = "exact address",
    confidence: float = 1.0,
    participant: int | None = None,
    associate: bool = True,
) -> int:
    """An email on ``contact_id``'s timeline (an association, kind contact) and, with
    ``participant``, with that contact as its sender."""
    digest = hashlib.sha256(f"{next(_serial)}{subject}".encode()).hexdigest()
    with app.sessions.begin() as session:
        email = Email(
            dedup_key=digest,
            message_id=f"<{digest[:16]}@acme.pl>",
            subject=subject,
            direction=direction,
            sent_at=at,
            from_email="sender@acme.pl",
            body_sha256=digest,
            size=100,
        )
        session.add(email)
        session.flush()
        if associate and contact_id is not None:
            session.add(
                EmailAssociation(
                    email_id=email.id, kind="contact", contact_id=contact_id,
                    reason=reason, confidence=confidence,
                )
            )  # fmt: skip
        if participant is not None:
            session.add(
                EmailParticipant(
                    email_id=email.id, role="from", email="sender@acme.pl",
                    contact_id=participant, outcome="linked", reason="participant reason",
                )
            )  # fmt: skip
        return email.id


def add_deal(
    app: App, name: str, contact_id: int | None = None, company_id: int | None = None, days: int = 0
) -> int:
    with app.sessions.begin() as session:
        deal = Deal(
            name=name, stage="oferta", company_id=company_id, updated_at=T0 + timedelta(days=days)
        )
        session.add(deal)
        session.flush()
        if contact_id is not None:
            session.add(DealContact(deal_id=deal.id, contact_id=contact_id))
        return deal.id


def add_ticket(app: App, subject: str, contact_id: int, days: int = 0) -> int:
    with app.sessions.begin() as session:
        ticket = Ticket(
            subject=subject, inbox="support@example.com", created_at=T0 + timedelta(days=days)
        )
        session.add(ticket)
        session.flush()
        session.add(TicketContact(ticket_id=ticket.id, contact_id=contact_id))
        return ticket.id


def ids(rows: list[ContactRow]) -> list[int]:
    return [row.id for row in rows]


# -- search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["lukasz", "Łuk", "łUKASZ", "luk", "zolw", "ŻÓŁW", "Lukasz Zolw", "zolw łukasz", " łukasz  "],
)
def test_a_name_is_found_without_its_diacritics_and_in_any_case(app: App, query: str) -> None:
    lukasz = add_contact(app, "l.z@acme.pl", "Łukasz", "Żółw")
    add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    assert ids(directory(app).search(query)) == [lukasz]


@pytest.mark.parametrize("query", ["lukasz nowak", "łukaszz", "zolwik", "kowalska"])
def test_every_word_of_the_query_must_match(app: App, query: str) -> None:
    add_contact(app, "l.z@acme.pl", "Łukasz", "Żółw")
    add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    assert directory(app).search(query) == []


def test_a_decomposed_or_cyrillic_name_is_found(app: App) -> None:
    """Names from headers may be stored NFD ("o" + U+0301); SQLite's lower() is ASCII-only."""
    decomposed = add_contact(app, "nfd@acme.pl", "Lukasz", "Z\u0307o\u0301\u0142w")
    ivan = add_contact(app, "ivan@acme.pl", "Иван", "Петров")
    assert ids(directory(app).search("żółw")) == [decomposed]
    assert ids(directory(app).search("иван")) == [ivan]
    assert ids(directory(app).search("ПЕТРОВ")) == [ivan]


def test_a_contact_is_found_by_any_address_part_of_it(app: App) -> None:
    anna = add_contact(app, "anna.kowalska@acme.pl", "Anna", "Kowalska", others=("ak@gmail.com",))
    jan = add_contact(app, "jan@beta.pl", "Jan", "Nowak")
    found = directory(app)
    assert ids(found.search("anna.kowalska@acme.pl")) == [anna]
    assert ids(found.search("ANNA.Kowalska@ACME.pl")) == [anna]
    assert ids(found.search("ak@gmail")) == [anna]  # a secondary address
    assert ids(found.search("@beta.pl")) == [jan]
    row = found.search("ak@gmail.com")[0]
    assert row.email == "anna.kowalska@acme.pl"  # the primary address is shown


def test_a_contact_is_found_by_company_name(app: App) -> None:
    acme = add_company(app, "ACME Sp. z o.o.")
    zabka = add_company(app, "Żabka Polska")
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska", company_id=acme)
    jan = add_contact(app, "jan@zabka.pl", "Jan", "Nowak", company_id=zabka)
    add_contact(app, "ewa@gmail.com", "Ewa", "Lis")
    found = directory(app)
    assert ids(found.search("acme")) == [anna]
    assert ids(found.search("zabka")) == [jan]
    assert ids(found.search("jan żabka")) == [jan]  # a name word and a company word
    assert found.search("acme")[0].company == "ACME Sp. z o.o."


@pytest.mark.parametrize("query", ["+48 601 234 567", "601-234-567", "601234567", "0048601234567"])
def test_a_contact_is_found_by_phone(app: App, query: str) -> None:
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska", phones=("+48601234567",))
    add_contact(app, "jan@acme.pl", "Jan", "Nowak", phones=("+48501000000",))
    assert ids(directory(app).search(query)) == [anna]


def test_a_phone_query_that_matches_nobody_finds_nobody(app: App) -> None:
    add_contact(app, "anna@acme.pl", "Anna", "Kowalska", phones=("+48601234567",))
    assert directory(app).search("+48 700 000 000") == []
    assert directory(app).search("12") == []  # too few digits to mean a phone


@pytest.mark.parametrize(
    "query", ["%", "_", "\\", "%%", "a%b", "__@acme.pl", "' OR 1=1 --", "[bold]x[/]", "\x00%"]
)
def test_like_wildcards_and_hostile_queries_are_taken_literally(app: App, query: str) -> None:
    add_contact(app, "axb@acme.pl", "Anna", "Kowalska")
    add_contact(app, "ab@acme.pl", "Jan", "Nowak")
    assert directory(app).search(query) == []


def test_control_characters_in_a_query_are_spaces(app: App) -> None:
    """SQLite would end a pattern at a NUL (matching everything), PostgreSQL refuses one."""
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska")
    jan = add_contact(app, "jan@acme.pl", "Jan", "Nowak")
    assert ids(directory(app).search("anna\x00kowalska")) == [anna]
    assert ids(directory(app).search("\tkowalska\x1b")) == [anna]
    assert ids(directory(app).search("\x00")) == [jan, anna]  # nothing left: the newest


def test_an_underscore_in_a_query_matches_only_an_underscore(app: App) -> None:
    underscore = add_contact(app, "a_b@acme.pl", "Anna", "Kowalska")
    add_contact(app, "axb@acme.pl", "Jan", "Nowak")
    assert ids(directory(app).search("a_b@")) == [underscore]


def test_merged_and_erased_contacts_are_left_out(app: App) -> None:
    keep = add_contact(app, "anna@acme.pl", "Anna", "Kowalska")
    other = add_contact(app, "anna.k@old.pl", "Anna", "Kowalska")
    erased = add_contact(app, "gone@acme.pl", "Anna", "Kowalska")
    with app.sessions.begin() as session:
        merge_contacts(session, keep, other, "cli:test")
        session.get_one(Contact, erased).status = "erased"
    assert ids(directory(app).search("kowalska")) == [keep]
    assert ids(directory(app).search("anna.k@old.pl")) == [keep]  # the address moved to keep
    assert other not in ids(directory(app).search(""))


def test_an_empty_query_lists_the_newest_contacts_up_to_the_limit(app: App) -> None:
    made = [add_contact(app, f"p{n}@acme.pl", f"Person{n}", "Test") for n in range(5)]
    assert ids(directory(app).search("", limit=3)) == made[::-1][:3]
    assert len(directory(app).search("test", limit=2)) == 2


def test_results_are_ordered_by_last_then_first_name(app: App) -> None:
    zenon = add_contact(app, "z@acme.pl", "Zenon", "Adamski")
    anna = add_contact(app, "a@acme.pl", "Anna", "Nowak")
    adam = add_contact(app, "ad@acme.pl", "Adam", "Adamski")
    assert ids(directory(app).search("@acme.pl")) == [adam, zenon, anna]


def test_rows_count_emails_deals_and_tickets(app: App) -> None:
    acme = add_company(app, "ACME")
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska", company_id=acme)
    jan = add_contact(app, "jan@acme.pl", "Jan", "Nowak")
    add_email(app, anna, "one")
    add_email(app, anna, "two", participant=anna)  # linked and a participant: one email
    add_email(app, None, "three", participant=anna, associate=False)
    add_deal(app, "own", contact_id=anna)
    add_deal(app, "own and company's", contact_id=anna, company_id=acme)
    add_deal(app, "company's", company_id=acme)
    add_ticket(app, "help", anna)
    rows = {row.id: row for row in directory(app).search("@acme.pl")}
    assert (rows[anna].emails, rows[anna].deals, rows[anna].tickets) == (3, 3, 1)
    assert (rows[jan].emails, rows[jan].deals, rows[jan].tickets) == (0, 0, 0)
    assert rows[anna].name == "Anna Kowalska"
    assert rows[anna].status == "active"


# -- timeline -------------------------------------------------------------------------------------


def test_the_timeline_holds_the_card_emails_deals_and_tickets(app: App) -> None:
    acme = add_company(app, "ACME")
    anna = add_contact(
        app, "anna@acme.pl", "Anna", "Kowalska", company_id=acme, phones=("+48601234567",),
        others=("ak@gmail.com",),
    )  # fmt: skip
    jan = add_contact(app, "jan@acme.pl", "Jan", "Nowak")
    old = add_email(app, anna, "Stara oferta", at=T0, reason="exact address", confidence=1.0)
    new = add_email(
        app, anna, "Nowa oferta", at=T0 + timedelta(days=2), direction="outbound",
        reason="fuzzy name", confidence=0.93,
    )  # fmt: skip
    only_participant = add_email(
        app, None, "Jako uczestnik", at=T0 + timedelta(days=1), participant=anna, associate=False
    )
    add_email(app, jan, "Nie jej")
    own = add_deal(app, "Wdrożenie", contact_id=anna, days=1)
    company_deal = add_deal(app, "Szkolenia", company_id=acme, days=3)
    add_deal(app, "Cudzy", contact_id=jan)
    ticket = add_ticket(app, "Reklamacja", anna)

    timeline = directory(app).timeline(anna)
    card = timeline.contact
    assert (card.id, card.name, card.title, card.company) == (
        anna, "Anna Kowalska", "Kierownik", "ACME",
    )  # fmt: skip
    assert card.emails == ("anna@acme.pl", "ak@gmail.com")
    assert card.phones == ("+48601234567",)
    assert (card.subscription, card.objecting, card.status) == ("subscribed", False, "active")
    assert [e.id for e in timeline.emails] == [new, only_participant, old]
    assert timeline.email_total == 3
    newest = timeline.emails[0]
    assert (newest.subject, newest.direction, newest.reason, newest.confidence) == (
        "Nowa oferta", "outbound", "fuzzy name", 0.93,
    )  # fmt: skip
    assert newest.at == T0 + timedelta(days=2)
    assert timeline.emails[1].reason == "participant reason"
    assert timeline.emails[1].confidence is None
    assert [(d.id, d.name, d.via) for d in timeline.deals] == [
        (company_deal, "Szkolenia", "company"),
        (own, "Wdrożenie", "contact"),
    ]
    assert [(t.id, t.subject, t.status) for t in timeline.tickets] == [
        (ticket, "Reklamacja", "open")
    ]


def test_the_timeline_is_capped_and_counts_the_rest(app: App) -> None:
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska")
    made = [add_email(app, anna, f"mail {n}", at=T0 + timedelta(hours=n)) for n in range(5)]
    timeline = directory(app).timeline(anna, limit=2)
    assert [e.id for e in timeline.emails] == made[::-1][:2]
    assert timeline.email_total == 5


def test_a_one_megabyte_subject_is_cut_by_the_database(app: App) -> None:
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska")
    add_email(app, anna, "S" * 1_000_000)
    email = directory(app).timeline(anna).emails[0]
    assert email.subject == "S" * SUBJECT_CHARS
    assert email.subject_chars == 1_000_000


def test_a_merged_contact_shows_where_it_went(app: App) -> None:
    keep = add_contact(app, "anna@acme.pl", "Anna", "Kowalska")
    other = add_contact(app, "anna.k@old.pl", "Anna", "Kowalska")
    add_email(app, other, "Ze starego adresu")
    with app.sessions.begin() as session:
        merge_contacts(session, keep, other, "cli:test")
    assert directory(app).timeline(other).contact.merged_into_id == keep
    assert [e.subject for e in directory(app).timeline(keep).emails] == ["Ze starego adresu"]


def test_an_unknown_contact_is_an_error(app: App) -> None:
    with pytest.raises(ContactError, match="no contact 999"):
        directory(app).timeline(999)


def test_an_address_query_does_not_match_names(app: App) -> None:
    """ "p.lis@" is an address: the letters left after folding ("p lis") are no name query."""
    piotr = add_contact(app, "p.lis@acme.pl", "Piotr", "Lis")
    add_contact(app, "jan@acme.pl", "Paweł", "Lis")
    assert ids(directory(app).search("p.lis@")) == [piotr]
