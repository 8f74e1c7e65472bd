"""EmailLogService, the admin's email log, on both backends: keyset pages that neither repeat
nor skip, every filter (hostile search text taken literally), the detail of one email, and the
three audited actions (move, mark private, delete). Emails are seeded through the ORM, one
through the real pipeline."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.app import App
from gateway.crm import (
    AuditEntry,
    Contact,
    Deal,
    Email,
    EmailAssociation,
    EmailAttachment,
    EmailLogger,
    EmailParticipant,
    ReviewItem,
    Ticket,
    TicketContact,
    linking,
    questions,
    repo,
)
from gateway.services.emails import (
    COUNT_CAP,
    MOVED_REASON,
    SUBJECT_CHARS,
    EmailFilter,
    EmailLogError,
    EmailLogService,
    EmailRow,
    parse_query,
)
from gateway.spool import Envelope
from tests.support import LOG, add_user, drain, make_message

T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
ACTOR = "rita@example.com"
_serial = itertools.count(1)


def service(app: App) -> EmailLogService:
    return EmailLogService(app.sessions, app.config, ACTOR)


def add_email(app: App, subject: str = "Oferta", at: dt.datetime = T0, **fields: Any) -> int:
    """An email stored as the log stage stores one; ``fields`` override columns."""
    number = next(_serial)
    values: dict[str, Any] = {
        "dedup_key": f"{number:064d}",
        "message_id": f"<{number}@acme.pl>",
        "subject": subject,
        "direction": "inbound",
        "received_at": at,
        "from_email": "jan@acme.pl",
        "from_name": "Jan Kowalski",
        "body_sha256": "0" * 64,
        "size": 100,
    }
    values.update(fields)
    with app.sessions.begin() as session:
        email = Email(**values)
        session.add(email)
        session.flush()
        return email.id


def add_contact(app: App, address: str, first: str, last: str, company: str = "") -> int:
    with app.sessions.begin() as session:
        company_id = None
        if company:
            domain = address.rpartition("@")[2]
            company_id = repo.create_company(session, company, domain, "manual").id
        contact = repo.create_contact(
            session, address, first_name=first, last_name=last, origin="manual",
            company_id=company_id,
        )  # fmt: skip
        return contact.id


def link(app: App, email_id: int, kind: str, target_id: int, reason: str = "exact address") -> None:
    with app.sessions.begin() as session:
        if kind == "contact":
            linking.link_contact(session, email_id, target_id, reason, 0.93)
        else:
            linking.associate(session, email_id, kind, target_id, reason=reason, confidence=0.8)


def add_deal(app: App, name: str) -> int:
    with app.sessions.begin() as session:
        deal = Deal(name=name, stage="oferta")
        session.add(deal)
        session.flush()
        return deal.id


def add_ticket(app: App, subject: str) -> int:
    with app.sessions.begin() as session:
        ticket = Ticket(subject=subject)
        session.add(ticket)
        session.flush()
        return ticket.id


def ids(rows: tuple[EmailRow, ...] | list[EmailRow]) -> list[int]:
    return [row.id for row in rows]


def listed(app: App, **fields: Any) -> list[int]:
    return ids(service(app).page(EmailFilter(**fields)).rows)


def audits(app: App, action: str) -> list[AuditEntry]:
    with app.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def links_of(app: App, email_id: int) -> list[tuple[str, int, str, float]]:
    with app.sessions() as session:
        rows = session.scalars(
            select(EmailAssociation)
            .where(EmailAssociation.email_id == email_id)
            .order_by(EmailAssociation.kind, EmailAssociation.id)
        )
        return [(a.kind, a.target_id, a.reason, a.confidence) for a in rows]


def all_pages(app: App, limit: int, **fields: Any) -> Iterator[list[int]]:
    after = None
    while True:
        page = service(app).page(EmailFilter(**fields), after=after, limit=limit)
        yield ids(page.rows)
        if page.next_cursor is None:
            return
        after = page.next_cursor


# -- listing ----------------------------------------------------------------------------------


def test_pages_cover_every_email_once_newest_first_with_ties_broken_by_id(app: App) -> None:
    # 23 emails in 5 instants: pages of 4 end inside groups of equal timestamps.
    made = [add_email(app, f"e{i}", at=T0 + dt.timedelta(minutes=i % 5)) for i in range(23)]
    expected = sorted(made, key=lambda i: ((made.index(i) % 5), i), reverse=True)
    pages = list(all_pages(app, limit=4))
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 3]
    assert [email_id for page in pages for email_id in page] == expected


def test_a_new_email_arriving_between_pages_does_not_shift_the_next_page(app: App) -> None:
    older = [add_email(app, f"e{i}", at=T0 + dt.timedelta(minutes=i)) for i in range(6)]
    first = service(app).page(limit=3)
    assert ids(first.rows) == older[:2:-1]
    add_email(app, "late", at=T0 + dt.timedelta(hours=1))
    second = service(app).page(after=first.next_cursor, limit=3)
    assert ids(second.rows) == older[2::-1]
    assert second.next_cursor is None


def test_an_exactly_full_last_page_has_no_cursor(app: App) -> None:
    for i in range(4):
        add_email(app, f"e{i}", at=T0 + dt.timedelta(minutes=i))
    first = service(app).page(limit=2)
    second = service(app).page(after=first.next_cursor, limit=2)
    assert len(second.rows) == 2 and second.next_cursor is None
    assert service(app).page().next_cursor is None


def test_a_row_has_its_people_links_and_statuses_and_a_cut_subject(app: App) -> None:
    email_id = add_email(
        app, "S" * 1_000_000, direction="outbound", from_email="anna@example.com",
        from_name="Anna Nowak", privacy_level="metadata",
    )  # fmt: skip
    people = [
        add_contact(app, f"p{i}@acme.pl", f"Osoba{i}", "Nowak", company="Acme" if i == 0 else "")
        for i in range(4)
    ]
    nameless = add_contact(app, "x@acme.pl", "", "")
    for contact_id in [*people, nameless]:
        link(app, email_id, "contact", contact_id)
    deal = add_deal(app, "Wdrożenie CRM")
    ticket = add_ticket(app, "Awaria drukarki")
    link(app, email_id, "deal", deal, "deal token")
    link(app, email_id, "ticket", ticket, "ticket tag")
    with app.sessions.begin() as session:
        questions.ask(session, "which_deal", questions.which_deal_key(email_id), {"choices": []},
                      email_id=email_id)  # fmt: skip

    (row,) = service(app).page().rows
    assert (row.id, row.direction, row.from_name, row.from_email) == (
        email_id, "outbound", "Anna Nowak", "anna@example.com",
    )  # fmt: skip
    assert row.subject == "S" * SUBJECT_CHARS
    assert row.subject_length == 1_000_000
    assert row.contacts == ("Osoba0 Nowak", "Osoba1 Nowak", "Osoba2 Nowak")
    assert row.more_contacts == 2
    assert row.deals == ("Wdrożenie CRM",)
    assert row.tickets == (f"#{ticket} Awaria drukarki",)
    assert row.status == ("linked", "review", "private", "deal", "ticket")
    assert row.received_at == T0


def test_an_email_without_links_is_unlinked(app: App) -> None:
    add_email(app)
    (row,) = service(app).page().rows
    assert (row.contacts, row.deals, row.tickets, row.status) == ((), (), (), ("unlinked",))


def test_row_reads_one_email_as_the_list_shows_it(app: App) -> None:
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    email_id = add_email(app, "Oferta")
    add_email(app, "Inna", at=T0 + dt.timedelta(minutes=1))
    assert service(app).row(email_id).status == ("unlinked",)
    link(app, email_id, "contact", contact)
    row = service(app).row(email_id)
    assert (row.id, row.subject, row.contacts, row.status) == (
        email_id, "Oferta", ("Jan Kowalski",), ("linked",),
    )  # fmt: skip
    assert row == service(app).page().rows[1]
    with pytest.raises(EmailLogError, match="no email 404"):
        service(app).row(404)


# -- filters ----------------------------------------------------------------------------------


def test_text_searches_subject_and_author_case_insensitively(app: App) -> None:
    by_subject = add_email(app, "Oferta na WDROŻENIE systemu")
    by_name = add_email(app, "Pytanie", from_name="Ewa Wdrożeniowa")
    by_address = add_email(app, "Inne", from_email="wdroz@acme.pl")
    add_email(app, "Faktura", at=T0 - dt.timedelta(days=1))
    assert sorted(listed(app, text="wdroż")) == [by_subject, by_name]
    assert sorted(listed(app, text="WDROŻ")) == [by_subject, by_name]
    assert listed(app, text="WDROZ@") == [by_address]
    assert listed(app, text="oFeRtA") == [by_subject]
    assert listed(app, text="ewa wdrożeniowa") == [by_name]
    assert listed(app, text="nothing like it") == []


@pytest.mark.parametrize(
    ("needle", "subject"),
    [
        ("%", "100% gotowe"),
        ("_", "plik_a"),
        ("\\", "C:\\dane"),
        ("'", "O'Brien"),
        ('"', 'powiedz "tak"'),
        ("/", "a/b"),
        ("%_\\", "x%_\\y"),
        ("'; DROP TABLE emails; --", "'; DROP TABLE emails; --"),
    ],
)
def test_hostile_search_text_is_taken_literally(app: App, needle: str, subject: str) -> None:
    """Wildcards and the escape characters match themselves; quotes are only text."""
    decoys = ["100 procent", "plikxa", "C:dane", "OBrien", "powiedz tak", "ab", "x y", "abc"]
    for decoy in decoys:
        add_email(app, decoy)
    wanted = add_email(app, subject)
    assert listed(app, text=needle) == [wanted]
    assert service(app).count(EmailFilter(text=needle)) == 1
    assert len(service(app).page().rows) == len(decoys) + 1  # the table is still there


def test_direction_filter(app: App) -> None:
    inbound = add_email(app, direction="inbound")
    outbound = add_email(app, direction="outbound")
    internal = add_email(app, direction="internal")
    assert listed(app, direction="inbound") == [inbound]
    assert listed(app, direction="outbound") == [outbound]
    assert listed(app, direction="internal") == [internal]


def test_rep_filter_lists_what_that_user_logged(app: App) -> None:
    anna = add_user(app, "anna@example.com", "Anna Nowak", "a.nowak@example.com")
    piotr = add_user(app, "piotr@example.com", "Piotr Wiśniewski")
    annas = add_email(app, "a", at=T0)
    both = add_email(app, "b", at=T0 + dt.timedelta(minutes=1))
    piotrs = add_email(app, "c", at=T0 + dt.timedelta(minutes=2))
    with app.sessions.begin() as session:
        session.add_all(
            [
                EmailLogger(email_id=annas, user_id=anna),
                EmailLogger(email_id=both, user_id=anna),
                EmailLogger(email_id=both, user_id=piotr),
                EmailLogger(email_id=piotrs, user_id=piotr),
            ]
        )
    assert listed(app, rep="anna@example.com") == [both, annas]
    assert listed(app, rep="A.Nowak@Example.com") == [both, annas]  # any of her addresses
    assert listed(app, rep="piotr@example.com") == [piotrs, both]
    assert listed(app, rep="nobody@example.com") == []


def test_contact_filter(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    first = add_email(app, at=T0)
    second = add_email(app, at=T0 + dt.timedelta(minutes=1))
    link(app, first, "contact", jan)
    link(app, second, "contact", jan)
    link(app, second, "contact", ewa)
    assert listed(app, contact_id=jan) == [second, first]
    assert listed(app, contact_id=ewa) == [second]
    assert listed(app, contact_id=999) == []


def test_status_filters(app: App) -> None:
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    linked = add_email(app, "linked", at=T0)
    link(app, linked, "contact", contact)
    plain = add_email(app, "plain", at=T0 + dt.timedelta(minutes=1))
    private = add_email(app, "private", at=T0 + dt.timedelta(minutes=2), privacy_level="anonymous")
    on_deal = add_email(app, "deal", at=T0 + dt.timedelta(minutes=3))
    link(app, on_deal, "deal", add_deal(app, "D"))
    on_ticket = add_email(app, "ticket", at=T0 + dt.timedelta(minutes=4))
    link(app, on_ticket, "ticket", add_ticket(app, "T"))
    asked = add_email(app, "asked", at=T0 + dt.timedelta(minutes=5))
    answered = add_email(app, "answered", at=T0 + dt.timedelta(minutes=6))
    with app.sessions.begin() as session:
        questions.ask(session, "new_contact", "k1", {"email": "a@b.pl"}, email_id=asked)
        item, _ = questions.ask(session, "new_contact", "k2", {"email": "c@d.pl"},
                                email_id=answered)  # fmt: skip
        item.status = "approved"
    assert listed(app, status="linked") == [linked]
    assert listed(app, status="unlinked") == [answered, asked, on_ticket, on_deal, private, plain]
    assert listed(app, status="private") == [private]
    assert listed(app, status="deal") == [on_deal]
    assert listed(app, status="ticket") == [on_ticket]
    assert listed(app, status="review") == [asked]


def test_since_and_until_are_whole_utc_days_both_included(app: App) -> None:
    day = dt.date(2026, 11, 2)
    before = add_email(app, at=dt.datetime(2026, 11, 1, 23, 59, 59, tzinfo=dt.UTC))
    start = add_email(app, at=dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC))
    end = add_email(app, at=dt.datetime(2026, 11, 3, 23, 59, 59, tzinfo=dt.UTC))
    after = add_email(app, at=dt.datetime(2026, 11, 4, 0, 0, tzinfo=dt.UTC))
    assert listed(app, since=day) == [after, end, start]
    assert listed(app, until=day + dt.timedelta(days=1)) == [end, start, before]
    assert listed(app, since=day, until=day + dt.timedelta(days=1)) == [end, start]


def test_filters_combine_and_page(app: App) -> None:
    wanted = [
        add_email(app, f"oferta {i}", at=T0 + dt.timedelta(minutes=i // 2), direction="outbound")
        for i in range(7)
    ]
    add_email(app, "oferta in", direction="inbound")
    add_email(app, "faktura", direction="outbound")
    pages = list(all_pages(app, limit=3, text="OFERTA", direction="outbound"))
    assert [i for page in pages for i in page] == sorted(
        wanted, key=lambda i: (wanted.index(i) // 2, i), reverse=True
    )


def test_count_is_exact_without_a_filter_and_capped_with_one(app: App) -> None:
    for i in range(5):
        add_email(app, f"oferta {i}")
    add_email(app, "faktura")
    assert service(app).count() == 6
    assert service(app).count(EmailFilter(text="oferta")) == 5
    assert service(app).count(EmailFilter(text="oferta"), cap=3) == 4  # "3+"
    assert service(app).count(EmailFilter(text="brak")) == 0
    assert COUNT_CAP == 10_000


def test_parse_query_reads_keys_and_leaves_the_rest_as_text() -> None:
    parsed = parse_query(
        "rep:ann@x.pl  oferta contact:12 since:2026-11-01 until:2026-11-30 dir:in "
        "status:LINKED re:umowa"
    )
    assert parsed == EmailFilter(
        text="oferta re:umowa",
        direction="inbound",
        rep="ann@x.pl",
        contact_id=12,
        status="linked",
        since=dt.date(2026, 11, 1),
        until=dt.date(2026, 11, 30),
    )
    assert parse_query("dir:out").direction == "outbound"
    assert parse_query("dir:internal").direction == "internal"
    assert parse_query("", status="review") == EmailFilter(status="review")
    assert parse_query("status:private", status="review").status == "private"
    assert parse_query("contact: 50%").text == "contact: 50%"  # no value: text
    assert parse_query("").is_empty


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("contact:abc", "contact: expects a number"),
        ("contact:99999999999", "contact: expects a number"),
        ("since:2026-13-01", "since: expects a date"),
        ("until:yesterday", "until: expects a date"),
        ("dir:sideways", "unknown direction 'sideways'"),
        ("status:lost", "unknown status 'lost'"),
    ],
)
def test_parse_query_errors_say_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(EmailLogError, match=message):
        parse_query(query)


def test_page_limit_is_checked(app: App) -> None:
    with pytest.raises(EmailLogError, match="limit must be 1 to 1000"):
        service(app).page(limit=0)


# -- detail -----------------------------------------------------------------------------------


def test_detail_has_headers_people_verdicts_links_and_the_reply(app: App) -> None:
    rep = add_user(app, "anna@example.com", "Anna Nowak")
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski", company="Acme")
    deal = add_deal(app, "Wdrożenie CRM")
    privacy = {
        "level": "full",
        "rules": [
            {"rule": "never_log", "hit": False, "action": ""},
            {"rule": "private_marker", "hit": True, "action": "metadata", "detail": "x"},
        ],
        "excluded": 1,
        "redactions": {"card": 2, "iban": 1},
    }
    email_id = add_email(
        app, "Oferta", from_email="jan@acme.pl", from_name="Kowalski, Jan",
        forwarded_by_email="anna@example.com", forwarded_by_name="Anna Nowak",
        reply_text="Dziękuję,\nJan", body_text="B" * 5_000, language="pl",
        auth={"transport": "network", "dkim": {"result": "pass"}}, privacy=privacy,
        sent_at=T0 - dt.timedelta(minutes=3), size=4321,
    )  # fmt: skip
    with app.sessions.begin() as session:
        email = session.get_one(Email, email_id)
        email.participants = [
            EmailParticipant(role="from", email="jan@acme.pl", name="Kowalski, Jan",
                             contact_id=contact, outcome="linked", reason="exact address",
                             confidence=1.0),
            EmailParticipant(role="cc", email="ewa@acme.pl", name="Ewa", outcome="pending",
                             reason="new person", confidence=None),
        ]  # fmt: skip
        email.attachments = [
            EmailAttachment(filename="oferta.pdf", content_type="application/pdf", size=1234,
                            sha256="1" * 64),
        ]  # fmt: skip
        session.add(EmailLogger(email_id=email_id, user_id=rep))
        item, _ = questions.ask(session, "new_contact", "k", {"email": "ewa@acme.pl"},
                                email_id=email_id)  # fmt: skip
        item_id = item.id
    link(app, email_id, "contact", contact)
    link(app, email_id, "deal", deal, "deal token")

    detail = service(app).detail(email_id)
    assert (detail.from_name, detail.from_email) == ("Kowalski, Jan", "jan@acme.pl")
    assert (detail.forwarded_by_name, detail.forwarded_by_email) == (
        "Anna Nowak", "anna@example.com",
    )  # fmt: skip
    assert (detail.subject, detail.direction, detail.size, detail.language) == (
        "Oferta", "inbound", 4321, "pl",
    )  # fmt: skip
    assert (detail.received_at, detail.sent_at) == (T0, T0 - dt.timedelta(minutes=3))
    assert [(p.role, p.name, p.email, p.contact_id, p.outcome, p.reason, p.confidence)
            for p in detail.participants] == [
        ("from", "Kowalski, Jan", "jan@acme.pl", contact, "linked", "exact address", 1.0),
        ("cc", "Ewa", "ewa@acme.pl", None, "pending", "new person", None),
    ]  # fmt: skip
    assert [(lg.user_id, lg.name, lg.email) for lg in detail.loggers] == [
        (rep, "Anna Nowak", "anna@example.com")
    ]
    assert detail.auth == {"transport": "network", "dkim": {"result": "pass"}}
    assert [(r.rule, r.hit, r.action) for r in detail.privacy_rules] == [
        ("never_log", False, ""), ("private_marker", True, "metadata"),
    ]  # fmt: skip
    assert (detail.privacy_level, detail.redactions, detail.excluded) == (
        "full", {"card": 2, "iban": 1}, 1,
    )  # fmt: skip
    assert detail.marked_private_by == ""
    assert [(a.kind, a.target_id, a.label, a.reason, a.confidence)
            for a in detail.associations] == [
        ("contact", contact, "Jan Kowalski <jan@acme.pl>", "exact address", 0.93),
        ("company", detail.associations[1].target_id, "Acme", "contact's company", 0.93),
        ("deal", deal, "Wdrożenie CRM (oferta, open)", "deal token", 0.8),
    ]  # fmt: skip
    assert [(a.filename, a.content_type, a.size) for a in detail.attachments] == [
        ("oferta.pdf", "application/pdf", 1234)
    ]
    assert (detail.reply_text, detail.body_length) == ("Dziękuję,\nJan", 5_000)
    assert detail.open_reviews == ((item_id, "new_contact"),)
    assert detail.status == ("linked", "review", "deal")


def test_detail_of_an_email_logged_by_the_pipeline(app: App) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    raw = make_message(
        sender="Anna Nowak <anna@example.com>",
        to='"Kowalski, Jan" <jan@acme.pl>',
        body="Dzień dobry,\n\nprzesyłam ofertę.\n\nAnna\n",
        attachment=("oferta.pdf", b"%PDF-1.4"),
    )
    envelope = Envelope(
        mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True,
        received_at=T0.timestamp(),
    )  # fmt: skip
    app.spool.store(raw, envelope)
    assert drain(app)["logged"] == 1
    (row,) = service(app).page().rows
    detail = service(app).detail(row.id)
    assert detail.from_email == "anna@example.com" and detail.direction == "outbound"
    assert detail.auth["transport"] == envelope.transport
    to = [p for p in detail.participants if p.role == "to"]
    assert [(p.name, p.email) for p in to] == [("Kowalski, Jan", "jan@acme.pl")]
    assert to[0].outcome in linking.OUTCOMES
    assert [a.filename for a in detail.attachments] == ["oferta.pdf"]
    assert "przesyłam ofertę" in detail.reply_text and detail.body_length > 0
    assert [r.rule for r in detail.privacy_rules]  # the verdict was recorded
    assert [lg.email for lg in detail.loggers] == ["anna@example.com"]


def test_detail_of_a_missing_email_is_an_error(app: App) -> None:
    with pytest.raises(EmailLogError, match="no email 404"):
        service(app).detail(404)


# -- move ----------------------------------------------------------------------------------


def test_move_to_another_contact_replaces_the_link_and_its_company(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski", company="Acme")
    jan2 = add_contact(app, "jan.k@other.pl", "Jan", "Kowalczyk", company="Other")
    email_id = add_email(app)
    with app.sessions.begin() as session:
        session.add(EmailParticipant(email_id=email_id, role="from", email="jan@acme.pl",
                                     contact_id=jan, outcome="auto_linked", reason="name 0.91",
                                     confidence=0.91))  # fmt: skip
    link(app, email_id, "contact", jan)
    with app.sessions() as session:
        acme, other = (session.get_one(Contact, c).company_id for c in (jan, jan2))
    assert acme is not None and other is not None

    result = service(app).move(email_id, "contact", jan2)
    assert (result.from_ids, result.to_id) == ((jan,), jan2)
    assert links_of(app, email_id) == [
        ("company", other, "contact's company", 1.0),
        ("contact", jan2, MOVED_REASON, 1.0),
    ]
    (participant,) = service(app).detail(email_id).participants
    assert (participant.contact_id, participant.outcome, participant.reason) == (
        jan2, "reviewed", MOVED_REASON,
    )  # fmt: skip
    assert listed(app, contact_id=jan) == [] and listed(app, contact_id=jan2) == [email_id]
    (entry,) = audits(app, "email.moved")
    assert (entry.actor, entry.object_kind, entry.object_id) == (ACTOR, "email", str(email_id))
    assert entry.details == {"kind": "contact", "from_ids": [jan], "to_id": jan2}


def test_move_names_the_contact_to_replace_when_there_are_several(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    eva = add_contact(app, "eva@other.pl", "Eva", "Novak")
    email_id = add_email(app)
    link(app, email_id, "contact", jan)
    link(app, email_id, "contact", ewa)
    with pytest.raises(EmailLogError, match=f"is on 2 contacts \\({jan}, {ewa}\\)"):
        service(app).move(email_id, "contact", eva)
    with pytest.raises(EmailLogError, match=f"is not on contact {eva}"):
        service(app).move(email_id, "contact", jan, from_id=eva)
    service(app).move(email_id, "contact", eva, from_id=ewa)
    assert [(k, t, r) for k, t, r, _ in links_of(app, email_id)] == [
        ("contact", jan, "exact address"),
        ("contact", eva, MOVED_REASON),
    ]
    assert not audits(app, "email.moved")[1:]  # the refused moves wrote nothing


def test_move_onto_a_contact_already_linked_keeps_one_link(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    email_id = add_email(app)
    link(app, email_id, "contact", jan)
    link(app, email_id, "contact", ewa)
    service(app).move(email_id, "contact", ewa, from_id=jan)
    assert links_of(app, email_id) == [("contact", ewa, MOVED_REASON, 1.0)]
    with pytest.raises(EmailLogError, match=f"already on contact {ewa}"):
        service(app).move(email_id, "contact", ewa)


def test_move_an_unlinked_email_adds_the_link(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    email_id = add_email(app)
    assert service(app).move(email_id, "contact", jan).from_ids == ()
    assert links_of(app, email_id) == [("contact", jan, MOVED_REASON, 1.0)]


def test_move_to_another_deal(app: App) -> None:
    old, new = add_deal(app, "Stary"), add_deal(app, "Nowy")
    email_id = add_email(app)
    link(app, email_id, "deal", old, "contact's only open deal")
    service(app).move(email_id, "deal", new)
    assert links_of(app, email_id) == [("deal", new, MOVED_REASON, 1.0)]
    assert audits(app, "email.moved")[0].details == {
        "kind": "deal", "from_ids": [old], "to_id": new,
    }  # fmt: skip


def test_move_to_a_ticket_makes_the_email_transactional_and_adds_its_contacts(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    ticket = add_ticket(app, "Awaria")
    email_id = add_email(app)
    link(app, email_id, "contact", jan)
    service(app).move(email_id, "ticket", ticket)
    assert ("ticket", ticket, MOVED_REASON, 1.0) in links_of(app, email_id)
    with app.sessions() as session:
        assert session.get_one(Email, email_id).transactional
        assert session.get(TicketContact, (ticket, jan)) is not None


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("company", 1, "cannot move an email to a 'company'"),
        ("contact", 999, "no contact 999"),
        ("deal", 999, "no deal 999"),
        ("ticket", 999, "no ticket 999"),
    ],
)
def test_move_refuses_unknown_kinds_and_targets(
    app: App, kind: str, target: int, message: str
) -> None:
    email_id = add_email(app)
    with pytest.raises(EmailLogError, match=message):
        service(app).move(email_id, kind, target)
    assert audits(app, "email.moved") == []


def test_move_refuses_merged_and_erased_contacts_and_missing_emails(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    merged = add_contact(app, "j.k@acme.pl", "J", "K")
    erased = add_contact(app, "gone@acme.pl", "Gone", "")
    with app.sessions.begin() as session:
        session.get_one(Contact, merged).status = "merged"
        session.get_one(Contact, merged).merged_into_id = jan
        session.get_one(Contact, erased).status = "erased"
    email_id = add_email(app)
    with pytest.raises(EmailLogError, match=f"merged into contact {jan}"):
        service(app).move(email_id, "contact", merged)
    with pytest.raises(EmailLogError, match="was erased"):
        service(app).move(email_id, "contact", erased)
    with pytest.raises(EmailLogError, match="no email 404"):
        service(app).move(404, "contact", jan)
    with pytest.raises(EmailLogError, match="to itself"):
        service(app).move(email_id, "contact", jan, from_id=jan)


def test_targets_find_contacts_deals_and_tickets_by_name_address_or_number(app: App) -> None:
    anna = add_contact(app, "anna@acme.pl", "Anna", "Kowalska")
    ania = add_contact(app, "ak@gmail.com", "Ania", "Kowalska-Nowak")
    gone = add_contact(app, "old@acme.pl", "Anna", "Kowalska")
    with app.sessions.begin() as session:
        session.get_one(Contact, gone).status = "erased"
    deal = add_deal(app, "Wdrożenie 100%")
    add_deal(app, "Wdrożenie 1000")
    ticket = add_ticket(app, "Awaria drukarki")
    log = service(app)
    assert [t.id for t in log.targets("contact", "anna kowal")] == [anna]
    assert [t.id for t in log.targets("contact", "kowalska")] == [anna, ania]
    assert [t.label for t in log.targets("contact", "GMAIL")] == [
        "Ania Kowalska-Nowak <ak@gmail.com>"
    ]
    assert [t.id for t in log.targets("contact", str(ania))] == [ania]
    assert [t.id for t in log.targets("deal", "100%")] == [deal]
    assert [t.label for t in log.targets("deal", "100%")] == ["Wdrożenie 100% (oferta, open)"]
    assert [t.label for t in log.targets("ticket", "drukark")] == [
        f"#{ticket} Awaria drukarki (open)"
    ]
    assert [t.id for t in log.targets("ticket", f"#{ticket}")] == [ticket]
    assert len(log.targets("contact", "", limit=1)) == 1
    with pytest.raises(EmailLogError, match="cannot move an email to a 'user'"):
        log.targets("user", "x")


# -- mark private, delete ---------------------------------------------------------------------


def test_mark_private_keeps_metadata_only_and_records_who(app: App) -> None:
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    email_id = add_email(
        app, "Tajne: wynagrodzenia", body_text="pensje: ...", reply_text="pensje",
        privacy={"level": "full", "rules": [{"rule": "never_log", "hit": False, "action": ""}],
                 "excluded": 0, "redactions": {"iban": 1}},
    )  # fmt: skip
    with app.sessions.begin() as session:
        session.add(EmailAttachment(email_id=email_id, filename="pensje.xlsx",
                                    content_type="application/vnd.ms-excel", size=10,
                                    sha256="2" * 64))  # fmt: skip
    link(app, email_id, "contact", contact)

    service(app).mark_private(email_id)
    detail = service(app).detail(email_id)
    assert (detail.privacy_level, detail.reply_text, detail.body_length) == ("metadata", "", 0)
    assert [(a.filename, a.size) for a in detail.attachments] == [("", 10)]
    assert detail.subject == "Tajne: wynagrodzenia"  # metadata keeps the subject
    assert [a.kind for a in detail.associations] == ["contact"]  # and the links
    assert detail.marked_private_by == ACTOR
    assert detail.redactions == {"iban": 1} and detail.privacy_rules  # the verdict stays
    assert "private" in detail.status and listed(app, status="private") == [email_id]
    (entry,) = audits(app, "email.marked_private")
    assert (entry.actor, entry.object_id) == (ACTOR, str(email_id))
    assert entry.details == {
        "level": "metadata", "body": True, "reply": True, "attachments": 1,
    }  # fmt: skip
    assert "pensje" not in json.dumps(entry.details)
    with pytest.raises(EmailLogError, match=f"email {email_id} is already metadata-only"):
        service(app).mark_private(email_id)
    with pytest.raises(EmailLogError, match="no email 404"):
        service(app).mark_private(404)


def test_delete_removes_the_email_and_what_hangs_off_it(app: App) -> None:
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    kept = add_email(app, "kept")
    email_id = add_email(app, "gone")
    with app.sessions.begin() as session:
        session.add(EmailParticipant(email_id=email_id, role="from", email="jan@acme.pl"))
        session.add(EmailAttachment(email_id=email_id, filename="a.pdf", content_type="x",
                                    size=1, sha256="3" * 64))  # fmt: skip
        questions.ask(session, "new_contact", "k", {"email": "x@y.pl"}, email_id=email_id)
    link(app, email_id, "contact", contact)

    service(app).delete(email_id)
    assert listed(app) == [kept]
    with app.sessions() as session:
        for model in (EmailParticipant, EmailAssociation, EmailAttachment, ReviewItem):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model
        assert session.get(Contact, contact) is not None
    (entry,) = audits(app, "email.deleted")
    assert (entry.actor, entry.object_id) == (ACTOR, str(email_id))
    assert entry.details == {"participants": 1, "associations": 1, "attachments": 1}
    with pytest.raises(EmailLogError, match=f"no email {email_id}"):
        service(app).delete(email_id)
    with pytest.raises(EmailLogError, match=f"no email {email_id}"):
        service(app).detail(email_id)
