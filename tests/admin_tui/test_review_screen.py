"""The review queue screen driven with Textual's Pilot over a real, migrated database: items
are opened with ``questions.ask`` (the pipeline's own call), decisions are checked through
ReviewService afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from admin_tui.app import AdminApp, run
from admin_tui.screens.help import HelpScreen
from admin_tui.screens.review import MAX_SHOWN, EditScreen, ReviewScreen
from gateway.app import App
from gateway.config import Config
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    Email,
    EmailAssociation,
    EmailParticipant,
    ReviewItem,
    questions,
)
from gateway.services.contacts import ContactService
from gateway.services.review import ReviewService
from gateway.spool import Envelope
from tests.admin_tui import support
from tests.conftest import ConfigFactory
from tests.support import LOG, add_user, drain, make_message

HOSTILE = "[bold red]x[/] \x1b]8;;http://evil\x1b\\link \u202e"
ACTOR = "cli:tester"

Scenario = Callable[[AdminApp, Pilot[int]], Awaitable[None]]
REVIEW = {"matching": {"create_contacts": "review"}}


@pytest.fixture
def settings() -> dict[str, Any]:
    """Config sections of the test; tests change them with ``parametrize("settings", ...)``."""
    return {}


@pytest.fixture
def config(make_config: ConfigFactory, settings: dict[str, Any]) -> Config:
    return make_config(**settings)


def add_email(app: App, subject: str = "Oferta", sender: str = "jan@acme.pl") -> int:
    with app.sessions.begin() as session:
        digest = hashlib.sha256(subject.encode()).hexdigest()
        email = Email(
            dedup_key=digest,
            message_id=f"<{digest[:12]}@acme.pl>",
            subject=subject,
            direction="inbound",
            from_email=sender,
            body_sha256=digest,
            size=100,
        )
        session.add(email)
        session.flush()
        return email.id


def ask(
    app: App,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    email_id: int | None = None,
) -> int:
    with app.sessions.begin() as session:
        item, created = questions.ask(session, kind, key, payload, email_id=email_id)
        assert created
        return item.id


def new_contact(app: App, address: str, first: str = "Jan", last: str = "Kowalski") -> int:
    fields = {"first_name": first, "last_name": last, "title": "", "company": "", "phones": []}
    return ask(
        app, "new_contact", questions.new_contact_key(address), {"email": address, "fields": fields}
    )


def which_deal(app: App) -> tuple[int, int, int, int]:
    """A which_deal item on a new email with two deals; (item, email, deal 1, deal 2)."""
    email_id = add_email(app, "Pytanie o wdrożenie")
    with app.sessions.begin() as session:
        newer = Deal(
            name="Szkolenia", stage="negocjacje", updated_at=datetime(2026, 11, 1, tzinfo=UTC)
        )
        older = Deal(name="Wdrożenie", stage="oferta", updated_at=datetime(2026, 10, 1, tzinfo=UTC))
        session.add_all([newer, older])
        session.flush()
        deals = (newer.id, older.id)
    choices = [
        {
            "deal_id": deals[0],
            "name": "Szkolenia",
            "stage": "negocjacje",
            "updated_at": "2026-11-01",
        },
        {"deal_id": deals[1], "name": "Wdrożenie", "stage": "oferta", "updated_at": "2026-10-01"},
    ]
    item_id = ask(
        app,
        "which_deal",
        questions.which_deal_key(email_id),
        {"choices": choices},
        email_id=email_id,
    )
    return item_id, email_id, *deals


def service(app: App) -> ReviewService:
    return ReviewService(app.sessions, app.config, "rita@example.com")


def status(app: App, item_id: int) -> str:
    return service(app).show(item_id).status


async def settle(pilot: Pilot[int]) -> None:
    """Let the thread workers finish and their results reach the screen."""
    for _ in range(5):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def drive(app: App, scenario: Scenario) -> None:
    async def main() -> None:
        tui = AdminApp(app, ACTOR, start="review")
        async with tui.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await scenario(tui, pilot)

    asyncio.run(main())


def screen_of(tui: AdminApp) -> ReviewScreen:
    assert isinstance(tui.screen, ReviewScreen)
    return tui.screen


def table_ids(tui: AdminApp) -> list[int]:
    table: DataTable[Any] = screen_of(tui).query_one("#review-table", DataTable)
    return [int(str(key.value)) for key in table.rows]


def detail_text(tui: AdminApp) -> str:
    content = screen_of(tui).query_one("#review-detail", Static).content
    assert isinstance(content, Text)  # a Text, never a markup string
    return content.plain


def selected_id(tui: AdminApp) -> int:
    info = screen_of(tui).current
    assert info is not None
    return info.id


# -- tests ------------------------------------------------------------------------------------


def test_the_queue_lists_the_open_items(app: App) -> None:
    first = new_contact(app, "jan@acme.pl")
    second = new_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    decided = new_contact(app, "old@acme.pl")
    service(app).reject(decided)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert tui.title == "bccrm admin"
        assert table_ids(tui) == [first, second]
        assert selected_id(tui) == first
        text = detail_text(tui)
        assert "new contact? Jan Kowalski <jan@acme.pl>" in text
        assert "first_name: Jan" in text
        assert "a approve: create a contact for jan@acme.pl" in text
        await pilot.press("n")
        await pilot.pause()
        assert selected_id(tui) == second
        assert "Ewa Nowak <ewa@acme.pl>" in detail_text(tui)

    drive(app, scenario)


def test_a_approves_the_selected_item_and_the_next_is_selected(app: App) -> None:
    first = new_contact(app, "jan@acme.pl")
    second = new_contact(app, "ewa@acme.pl", "Ewa", "Nowak")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("a")
        await settle(pilot)
        assert table_ids(tui) == [second]
        assert selected_id(tui) == second

    drive(app, scenario)
    info = service(app).show(first)
    assert (info.status, info.decided_by) == ("approved", ACTOR)
    assert status(app, second) == "open"


def test_2_then_a_approves_with_choice_2(app: App) -> None:
    item_id, email_id, _newer, older = which_deal(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        text = detail_text(tui)
        assert "Pytanie o wdrożenie" in text
        assert "1. Szkolenia (deal" in text and "2. Wdrożenie (deal" in text
        assert "put the email on choice 1: Szkolenia" in text
        await pilot.press("2")
        await pilot.pause()
        assert "put the email on choice 2: Wdrożenie" in detail_text(tui)
        await pilot.press("a")
        await settle(pilot)
        assert table_ids(tui) == []

    drive(app, scenario)
    info = service(app).show(item_id)
    assert info.status == "approved"
    assert info.payload["decision"]["choice"] == 2
    applied = info.payload["decision"]["applied"]
    assert (applied["deal_id"], applied["email_id"]) == (older, email_id)


def test_x_rejects(app: App) -> None:
    first = new_contact(app, "jan@acme.pl")
    second = new_contact(app, "ewa@acme.pl", "Ewa", "Nowak")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("n", "x")
        await settle(pilot)
        assert table_ids(tui) == [first]
        assert selected_id(tui) == first  # the last row went: the one before it

    drive(app, scenario)
    assert (status(app, first), status(app, second)) == ("open", "rejected")


def test_hostile_subject_and_name_render_as_literal_text(app: App) -> None:
    email_id = add_email(app, subject=HOSTILE)
    fields = {"first_name": HOSTILE, "last_name": "", "title": "", "company": "", "phones": []}
    ask(
        app,
        "new_contact",
        questions.new_contact_key("evil@acme.pl"),
        {"email": "evil@acme.pl", "fields": fields},
        email_id=email_id,
    )

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        text = detail_text(tui)
        assert text.count("[bold red]x[/]") >= 3  # summary, subject, first_name
        assert "\x1b" not in text
        assert "\u202e" not in text
        assert "\u241b]8;;http://evil\u241b\\link \u27e8U+202E\u27e9" in text
        table: DataTable[Any] = screen_of(tui).query_one("#review-table", DataTable)
        summary = table.get_row_at(0)[2]
        assert isinstance(summary, Text)
        assert "[bold red]x[/]" in summary.plain and "\x1b" not in summary.plain

    drive(app, scenario)


def test_help_opens_with_question_mark_and_closes_with_escape(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(tui.screen, HelpScreen)
        content = tui.screen.query_one("#help-keys", Static).content
        assert isinstance(content, Text)
        for line in (
            "a  Approve", "x  Reject", "i  Edit", "g  Refresh", "?  Help", "1-9  Select a choice",
        ):  # fmt: skip
            assert line in content.plain
        assert "^q, q  Quit" in content.plain  # one line per action
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(tui.screen, ReviewScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(tui.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(tui.screen, ReviewScreen)

    drive(app, scenario)


def test_a_review_error_is_a_notification_and_the_app_keeps_running(app: App) -> None:
    first = new_contact(app, "jan@acme.pl")
    second = new_contact(app, "ewa@acme.pl", "Ewa", "Nowak")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        service(app).approve(first)  # behind the TUI's back
        await pilot.press("a")
        await settle(pilot)
        messages = [n.message for n in tui._notifications]
        assert f"review item {first} is already approved" in messages
        assert tui.is_running
        assert table_ids(tui) == [second]  # reloaded
        await pilot.press("a")
        await settle(pilot)
        assert table_ids(tui) == []

    drive(app, scenario)
    assert (status(app, first), status(app, second)) == ("approved", "approved")
    assert service(app).show(first).decided_by == "rita@example.com"


def test_a_number_beyond_the_choices_is_refused(app: App) -> None:
    item_id, *_ = which_deal(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("3")
        await pilot.pause()
        assert "choose 1 to 2" in [n.message for n in tui._notifications]
        assert "put the email on choice 1: Szkolenia" in detail_text(tui)

    drive(app, scenario)
    assert status(app, item_id) == "open"


def test_q_quits(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("q")
        await pilot.pause()
        assert not tui.is_running

    drive(app, scenario)


@pytest.mark.parametrize("kind", ["same_person", "field_update", "merge"])
def test_other_kinds_show_their_choices(app: App, kind: str) -> None:
    payloads: dict[str, dict[str, Any]] = {
        "same_person": {
            "email": "a.k@gmail.com",
            "name": "Anna Kowalska",
            "candidates": [
                {
                    "contact_id": 7,
                    "name": "Anna Kowalska",
                    "confidence": 0.81,
                    "reasons": ["name 0.95"],
                },
                {"contact_id": 9, "name": "Anna Kowal", "confidence": 0.7, "reasons": []},
            ],
            "fields": {"first_name": "Anna", "last_name": "Kowalska"},
        },
        "field_update": {"field": "title", "current": "CFO", "proposed": "CEO", "email_id": None},
        "merge": {"keep": 3, "other": 4, "confidence": 0.9, "reasons": ["same phone"]},
    }
    expected = {
        "same_person": [
            "1. Anna Kowalska (contact 7) 0.81 — name 0.95",
            "2. Anna Kowal (contact 9) 0.70",
        ],
        "field_update": ["- CFO", "+ CEO", "a approve: set title to 'CEO'"],
        "merge": [
            "1. keep contact 3, merge contact 4 into it",
            "2. keep contact 4, merge contact 3 into it",
        ],
    }
    ask(app, kind, f"{kind}:test", payloads[kind])

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        text = detail_text(tui)
        for line in expected[kind]:
            assert line in text

    drive(app, scenario)


def test_run_builds_the_gateway_app_and_runs_as_the_login_actor(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []

    def fake_run(self: AdminApp) -> None:
        seen.append((self.actor, self.gateway.config.database.url))

    monkeypatch.setattr(AdminApp, "run", fake_run)
    monkeypatch.setattr("admin_tui.app.login_actor", lambda: "cli:someone")
    assert run(app.config) == 0
    assert seen == [("cli:someone", app.config.database.url)]


def test_a_one_megabyte_subject_is_cut_not_rendered_whole(app: App) -> None:
    email_id = add_email(app, subject="Z" * 1_000_000)
    ask(
        app,
        "new_contact",
        questions.new_contact_key("big@acme.pl"),
        {"email": "big@acme.pl", "fields": {"first_name": "Big"}},
        email_id=email_id,
    )

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        text = detail_text(tui)
        assert "Z" * MAX_SHOWN + "… (+999,000 chars)" in text
        assert "Z" * (MAX_SHOWN + 1) not in text
        await pilot.press("q")

    drive(app, scenario)


# -- the edit form, the side-by-side pane, the diff -------------------------------------------


def signed(name: str, title: str, company: str, phone: str) -> str:
    return (
        f"Dzień dobry,\n\nproszę o ofertę.\n\nPozdrawiam\n{name}\n{title}\n{company}\n"
        f"tel. {phone}\n"
    )


def deliver(app: App, sender: str, body: str) -> int:
    """A copy of an inbound message logged by a rep, through the real spool and pipeline;
    the id of the logged email."""
    add_user(app, "anna@example.com", "Anna Nowak")
    raw = make_message(sender=sender, to="Anna Nowak <anna@example.com>", body=body)
    app.spool.store(raw, Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True))
    assert drain(app)["logged"] == 1
    with app.sessions() as session:
        email_id = session.scalar(select(Email.id).order_by(Email.id.desc()))
        assert email_id is not None
        return email_id


def add_contact(
    app: App,
    first: str,
    last: str,
    emails: tuple[str, ...],
    *,
    title: str = "",
    company: str = "",
    phones: tuple[str, ...] = (),
    basis: str | None = None,
) -> int:
    with app.sessions.begin() as session:
        contact = Contact(
            first_name=first,
            last_name=last,
            title=title,
            origin="manual",
            status="active",
            legal_basis=basis,
            legal_basis_status="confirmed" if basis else "",
            company=Company(name=company, origin="manual") if company else None,
            emails=[ContactEmail(email=e, is_primary=i == 0) for i, e in enumerate(emails)],
            phones=[ContactPhone(e164=p) for p in phones],
        )
        session.add(contact)
        session.flush()
        return contact.id


def contact_links(app: App, email_id: int) -> list[int | None]:
    with app.sessions() as session:
        query = select(EmailAssociation.contact_id).where(
            EmailAssociation.email_id == email_id, EmailAssociation.kind == "contact"
        )
        return list(session.scalars(query))


def waiting(app: App, email_id: int, address: str) -> tuple[str, int | None]:
    with app.sessions() as session:
        row = session.execute(
            select(EmailParticipant.outcome, EmailParticipant.contact_id).where(
                EmailParticipant.email_id == email_id, EmailParticipant.email == address
            )
        ).one()
        return row.outcome, row.contact_id


def assert_inert(tui: AdminApp) -> None:
    """``support.assert_inert`` without its false alarm: Textual's full-screen update starts
    every line with a cursor move (ESC [ row ; 1 H), which support counts as content. Only
    that exact move, at the start of its own line, is taken out; then the same checks run."""
    width, height = tui.size
    lines, raw = support.render(tui)
    assert len(lines) == height, f"{len(lines)} lines on a {height}-line terminal"
    for number, line in enumerate(lines):
        cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
        assert cells <= width, f"line {number} is {cells} cells wide: {line!r}"
    rows = [r.removeprefix(f"\x1b[{n};1H") for n, r in enumerate(raw.split("\n"), start=1)]
    found = support._FORBIDDEN.findall(support._SGR.sub("", "".join(rows)))
    assert not found, f"reaches the terminal: {sorted({f'U+{ord(c):04X}' for c in found})}"


def form_of(tui: AdminApp) -> EditScreen:
    assert isinstance(tui.screen, EditScreen)
    return tui.screen


def form_values(tui: AdminApp) -> dict[str, str]:
    form = form_of(tui)
    return {field: form.input(field).value for field, _ in form.form.fields}


def side_texts(tui: AdminApp) -> tuple[Text, Text]:
    screen = screen_of(tui)
    left = screen.query_one("#review-left", Static).content
    right = screen.query_one("#review-right", Static).content
    assert isinstance(left, Text) and isinstance(right, Text)
    assert screen.query_one("#review-sides").display
    return left, right


def styles_of(text: Text, fragment: str) -> set[str]:
    """The styles of the spans covering the first occurrence of ``fragment``."""
    start = text.plain.index(fragment)
    return {str(s.style) for s in text.spans if s.start <= start < s.end}


async def type_into(pilot: Pilot[int], field: str, value: str) -> None:
    """Click the field, clear it as an admin would (end, ctrl+u) and type ``value``."""
    await pilot.click(f"#field-{field}")
    await pilot.press("end", "ctrl+u", *("space" if c == " " else c for c in value))


@pytest.mark.parametrize("settings", [REVIEW], ids=["review"])
def test_approve_a_suggestion_with_an_edited_title_and_see_the_email_re_associated(
    app: App,
) -> None:
    """The issue's Pilot test: mail from a new person waits for "new contact?"; the admin
    corrects the title with i and saves; the contact exists with that title and the waiting
    email is on its timeline."""
    body = signed("Jan Nowak", "Kierownik", "Nowak Trans Sp. z o.o.", "601 000 000")
    email_id = deliver(app, "Jan Nowak <jan@nowak-trans.pl>", body)
    [item] = service(app).list()
    assert (item.kind, item.email_id) == ("new_contact", email_id)
    assert waiting(app, email_id, "jan@nowak-trans.pl") == ("pending", None)
    assert contact_links(app, email_id) == []

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        assert form_values(tui) == {
            "first_name": "Jan",
            "last_name": "Nowak",
            "title": "Kierownik",
            "company": "Nowak Trans Sp. z o.o.",
            "phone": "+48601000000",
        }
        await type_into(pilot, "title", "Prezes Zarządu")  # d, e, r, s: app keys elsewhere
        assert form_values(tui)["title"] == "Prezes Zarządu"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(tui.screen, ReviewScreen)
        assert table_ids(tui) == []
        assert f"item {item.id} (new_contact) approved" in [n.message for n in tui._notifications]

    drive(app, scenario)
    decided = service(app).show(item.id)
    assert (decided.status, decided.decided_by) == ("approved", ACTOR)
    assert decided.payload["decision"]["set"] == {"title": "Prezes Zarządu"}  # only the change
    [contact_id] = contact_links(app, email_id)
    assert waiting(app, email_id, "jan@nowak-trans.pl") == ("reviewed", contact_id)
    with app.sessions() as session:
        jan = session.get_one(Contact, contact_id)
        assert (jan.first_name, jan.last_name, jan.title) == ("Jan", "Nowak", "Prezes Zarządu")


def test_approve_same_person_from_the_side_by_side_view(app: App, tmp_path: Path) -> None:
    """A "same person?" from the pipeline: both records side by side; a links the address
    and the waiting email to the candidate."""
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,last_name,title,company,phone\n"
        "anna.kowalska@acme.pl,Anna,Kowalska,Kierownik Zakupów,ACME,+48 601 234 567\n",
        encoding="utf-8",
    )
    assert ContactService(app.sessions, app.config.organization).import_csv(path).created == 1
    with app.sessions() as session:
        anna = session.scalars(select(Contact.id)).one()
    body = signed("Anna Kowalska", "Kierownik Zakupów", "ACME Sp. z o.o.", "602 999 888")
    email_id = deliver(app, "Anna Kowalska <a.k@gmail.com>", body)
    [item] = service(app).list()
    assert item.kind == "same_person"
    assert waiting(app, email_id, "a.k@gmail.com") == ("suggested", None)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        left, right = side_texts(tui)
        assert left.plain.splitlines() == [
            "This address (proposed)",
            "name        Anna Kowalska",
            "addresses   a.k@gmail.com",
            "company     ACME Sp. z o.o.",
            "title       Kierownik Zakupów",
            "phones      +48602999888",
            "emails      1 waiting",
            "legal basis —",
            "status      proposed",
        ]
        assert right.plain.splitlines() == [
            f"Choice 1: contact {anna}",
            "name        Anna Kowalska",
            "addresses   anna.kowalska@acme.pl",
            "company     ACME",
            "title       Kierownik Zakupów",
            "phones      +48601234567",
            "emails      0",
            "legal basis —",
            "status      active",
        ]
        assert "green" in styles_of(right, "Anna Kowalska")  # the same on both sides
        assert "green" not in styles_of(right, "anna.kowalska@acme.pl")
        await pilot.press("a")
        await settle(pilot)
        assert table_ids(tui) == []

    drive(app, scenario)
    assert contact_links(app, email_id) == [anna]
    assert waiting(app, email_id, "a.k@gmail.com") == ("reviewed", anna)


def test_the_chosen_candidate_is_on_the_right(app: App) -> None:
    first = add_contact(app, "Anna", "Kowalska", ("anna@acme.pl",), title="CFO")
    second = add_contact(app, "Anna", "Kowal", ("ak@globex.pl", "anna@globex.pl"), company="Globex")
    candidates = [
        {"contact_id": first, "name": "Anna Kowalska", "confidence": 0.8, "reasons": []},
        {"contact_id": second, "name": "Anna Kowal", "confidence": 0.7, "reasons": []},
    ]
    payload = {
        "email": "a.k@gmail.com",
        "name": "Anna Kowalska",
        "candidates": candidates,
        "fields": {"first_name": "Anna", "last_name": "Kowalska", "phones": []},
    }
    item_id = ask(app, "same_person", "same_person:a.k@gmail.com", payload)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        _, right = side_texts(tui)
        assert right.plain.startswith(f"Choice 1: contact {first}\nname        Anna Kowalska")
        assert "title       CFO" in right.plain
        await pilot.press("2")
        await pilot.pause()
        left, right = side_texts(tui)
        assert left.plain.startswith("This address (proposed)\nname        Anna Kowalska")
        assert right.plain.startswith(f"Choice 2: contact {second}\nname        Anna Kowal\n")
        assert "addresses   ak@globex.pl, anna@globex.pl" in right.plain
        assert "company     Globex" in right.plain
        await pilot.press("2", "a")
        await settle(pilot)

    drive(app, scenario)
    assert service(app).show(item_id).payload["decision"]["applied"]["contact_id"] == second


def test_a_merge_shows_the_contact_kept_on_the_right(app: App) -> None:
    keep = add_contact(
        app, "Jan", "Nowak", ("jan@acme.pl",), phones=("+48601000000",), basis="consent"
    )
    other = add_contact(app, "Jan", "Nowak", ("j.nowak@acme.pl",), phones=("+48601000000",))
    payload = {"keep": keep, "other": other, "confidence": 0.9, "reasons": ["same phone"]}
    ask(app, "merge", questions.merge_key(keep, other), payload)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        left, right = side_texts(tui)
        assert left.plain.splitlines()[:3] == [
            f"Merged away: contact {other}",
            "name        Jan Nowak",
            "addresses   j.nowak@acme.pl",
        ]
        assert right.plain.splitlines()[:3] == [
            f"Kept (choice 1): contact {keep}",
            "name        Jan Nowak",
            "addresses   jan@acme.pl",
        ]
        assert "green" in styles_of(left, "+48601000000")
        assert "legal basis consent (confirmed)" in right.plain.splitlines()
        assert "legal basis —" in left.plain.splitlines()
        await pilot.press("2")
        await pilot.pause()
        left, right = side_texts(tui)
        assert left.plain.startswith(f"Merged away: contact {keep}\n")
        assert right.plain.startswith(f"Kept (choice 2): contact {other}\n")

    drive(app, scenario)


def test_a_field_update_is_a_red_and_green_diff_with_its_contact_and_email(app: App) -> None:
    anna = add_contact(app, "Anna", "Kowalska", ("anna@acme.pl",), title="CFO")
    email_id = add_email(app, "Nowa stopka", sender="anna@acme.pl")
    payload = {"field": "title", "current": "CFO", "proposed": "CEO", "email_id": email_id}
    with app.sessions.begin() as session:
        questions.ask(
            session, "field_update", questions.field_key(anna, "title", "ceo"), payload,
            email_id=email_id, contact_id=anna,
        )  # fmt: skip

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        content = screen_of(tui).query_one("#review-detail", Static).content
        assert isinstance(content, Text)
        lines = content.plain.splitlines()
        diff = lines.index(f"Field title of Anna Kowalska (contact {anna})")
        assert lines[diff + 1 : diff + 4] == [
            "- CFO",
            "+ CEO",
            f"  from email #{email_id}: Nowa stopka <anna@acme.pl>",
        ]
        assert styles_of(content, "- CFO") == {"red"}
        assert styles_of(content, "+ CEO") == {"green"}
        assert not screen_of(tui).query_one("#review-sides").display

    drive(app, scenario)


def test_escape_cancels_the_form_and_decides_nothing(app: App) -> None:
    item_id = new_contact(app, "jan@acme.pl")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        await type_into(pilot, "first_name", "Zenon")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(tui.screen, ReviewScreen)
        assert table_ids(tui) == [item_id]
        await pilot.press("i")  # opens again with the payload's values, not what was typed
        await pilot.pause()
        assert form_values(tui)["first_name"] == "Jan"

    drive(app, scenario)
    assert status(app, item_id) == "open"
    with app.sessions() as session:
        assert session.scalars(select(Contact.id)).all() == []


def test_saving_an_unchanged_form_sends_nothing_and_the_next_item_is_selected(app: App) -> None:
    first = new_contact(app, "jan@acme.pl")
    second = new_contact(app, "ewa@acme.pl", "Ewa", "Nowak")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        await pilot.click("#edit-save")
        await settle(pilot)
        assert table_ids(tui) == [second]
        assert selected_id(tui) == second

    drive(app, scenario)
    info = service(app).show(first)
    assert (info.status, info.payload["decision"]["set"]) == ("approved", {})


def test_a_refused_correction_reopens_the_form_with_the_reason(app: App) -> None:
    item_id = new_contact(app, "jan@acme.pl")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        await type_into(pilot, "phone", "abc")  # c is the contacts screen elsewhere
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = form_of(tui).query_one("#edit-error", Static)
        assert error.display
        assert isinstance(error.content, Text)
        assert error.content.plain == "invalid phone number 'abc'"
        assert form_values(tui)["phone"] == "abc"  # what was typed is kept
        assert form_values(tui)["first_name"] == "Jan"
        await type_into(pilot, "phone", "602 333 444")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(tui.screen, ReviewScreen)
        assert table_ids(tui) == []

    drive(app, scenario)
    info = service(app).show(item_id)
    assert info.payload["decision"]["set"] == {"phone": "602 333 444"}
    contact_id = info.payload["decision"]["applied"]["contact_id"]
    with app.sessions() as session:
        phones = session.scalars(
            select(ContactPhone.e164).where(ContactPhone.contact_id == contact_id)
        )
        assert phones.all() == ["+48602333444"]


def test_i_on_a_field_update_edits_the_new_value(app: App) -> None:
    anna = add_contact(app, "Anna", "Kowalska", ("anna@acme.pl",), title="CFO")
    payload = {"field": "title", "current": "CFO", "proposed": "CEO", "email_id": None}
    with app.sessions.begin() as session:
        item, _ = questions.ask(session, "field_update", "field:t", payload, contact_id=anna)
        item_id = item.id

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        assert form_values(tui) == {"value": "CEO"}
        await type_into(pilot, "value", "Prezes")
        await pilot.press("ctrl+s")
        await settle(pilot)

    drive(app, scenario)
    assert service(app).show(item_id).payload["decision"]["set"] == {"value": "Prezes"}
    with app.sessions() as session:
        assert session.get_one(Contact, anna).title == "Prezes"


def test_i_on_same_person_rejects_into_a_corrected_new_contact(app: App) -> None:
    anna = add_contact(app, "Anna", "Kowalska", ("anna@acme.pl",))
    candidates = [{"contact_id": anna, "name": "Anna Kowalska", "confidence": 0.8, "reasons": []}]
    fields = {"first_name": "Anna", "last_name": "Kowalska", "title": "", "company": ""}
    payload = {"email": "a.k@gmail.com", "candidates": candidates, "fields": fields}
    item_id = ask(app, "same_person", "same_person:a.k@gmail.com", payload)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        heading = form_of(tui).query_one("#edit-heading", Static).content
        assert isinstance(heading, Text)
        assert heading.plain.startswith(f"Not the same person (#{item_id}): create a new contact")
        await type_into(pilot, "first_name", "Ania")
        await pilot.press("ctrl+s")
        await settle(pilot)

    drive(app, scenario)
    info = service(app).show(item_id)
    assert (info.status, info.payload["decision"]["set"]) == ("rejected", {"first_name": "Ania"})
    with app.sessions() as session:
        new = session.scalars(
            select(ContactEmail).where(ContactEmail.email == "a.k@gmail.com")
        ).one()
        assert new.contact_id != anna
        assert (new.contact.first_name, new.contact.last_name) == ("Ania", "Kowalska")


def test_i_on_a_kind_without_corrections_warns(app: App) -> None:
    item_id, *_ = which_deal(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(tui.screen, ReviewScreen)
        assert "a which_deal item has no fields to edit" in [n.message for n in tui._notifications]

    drive(app, scenario)
    assert status(app, item_id) == "open"


def test_hostile_payload_values_are_inert_in_the_form(app: App) -> None:
    email_id = add_email(app, subject="S" * 1_000_000)
    fields = {
        "first_name": support.HOSTILE,
        "last_name": "L" * 1_000_000,
        "title": support.HOSTILE_CASES["markup"],
        "company": support.HOSTILE_CASES["bidi"],
        "phones": [support.HOSTILE_CASES["c0"]],
    }
    address = "evil@acme.pl"
    item_id = ask(
        app, "new_contact", questions.new_contact_key(address),
        {"email": address, "fields": fields}, email_id=email_id,
    )  # fmt: skip

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert_inert(tui)
        await pilot.press("i")
        await pilot.pause()
        values = form_values(tui)
        for value in values.values():
            assert not any(c in value for c in "\x1b\x07\x9b\u202e\u200b\x00")
        assert values["first_name"].startswith("\u241b[2J\u241b[31mRED")  # ␛ markers
        assert values["last_name"] == "L" * MAX_SHOWN + "… (+999,000 chars)"
        assert values["title"] == support.HOSTILE_CASES["markup"]  # safe text is kept as is
        assert "\u27e8U+202E\u27e9" in values["company"]
        assert_inert(tui)
        assert "[bold red]shout[/]" in support.screen_text(tui)
        await type_into(pilot, "title", "CEO")
        await pilot.press("ctrl+s")
        await settle(pilot)

    drive(app, scenario)
    assert service(app).show(item_id).payload["decision"]["set"] == {"title": "CEO"}


def test_hostile_records_are_inert_side_by_side(app: App) -> None:
    hostile = support.HOSTILE
    first = add_contact(
        app, hostile, support.HOSTILE_CASES["markup"], (f"{support.HOSTILE_CASES['bidi']}@x.pl",),
        title="T" * 1_000_000, company=hostile, basis=support.HOSTILE_CASES["osc8"],
    )  # fmt: skip
    second = add_contact(app, "Zenon", hostile, ("zenon@x.pl",))
    candidates = [
        {"contact_id": first, "name": hostile, "confidence": 0.8, "reasons": [hostile]},
        {"contact_id": second, "name": hostile, "confidence": 0.7, "reasons": []},
    ]
    fields = {"first_name": hostile, "last_name": "", "title": hostile, "phones": [hostile]}
    payload = {"email": hostile, "name": hostile, "candidates": candidates, "fields": fields}
    ask(app, "same_person", "same_person:evil", payload, email_id=add_email(app, hostile))
    ask(app, "merge", "merge:evil", {"keep": first, "other": second, "reasons": [hostile]})

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        for _ in range(2):  # the same_person item, then the merge
            assert_inert(tui)
            left, right = side_texts(tui)
            for side in (left, right):
                assert "\x1b" not in side.plain and "\u202e" not in side.plain
            assert "\u241b[2J" in left.plain + right.plain
            assert "[bold red]shout[/]" in left.plain + right.plain
            assert "T" * (MAX_SHOWN + 1) not in left.plain + right.plain
            await pilot.press("2")
            await pilot.pause()
            assert_inert(tui)
            await pilot.press("n")
            await settle(pilot)
        assert "\u27e8U+202E\u27e9" in support.screen_text(tui)

    drive(app, scenario)


def test_prefill_keeps_safe_text_and_never_raw_escapes() -> None:
    from admin_tui.screens.review import prefill

    assert prefill("Zażółć [b]x[/b]") == "Zażółć [b]x[/b]"
    assert prefill(None) == ""
    assert prefill(601) == "601"
    assert prefill("a\x1b[2Jb\u202ec") == "a\u241b[2Jb\u27e8U+202E\u27e9c"
    assert prefill("tab\there") == "tab here"


def test_records_that_cannot_be_read_are_a_warning_not_a_crash(app: App) -> None:
    """The item went away behind the screen's back (its email was erased, say): comparing
    its people fails with a warning and the screen keeps working."""
    which_deal(app)
    anna = add_contact(app, "Anna", "Kowalska", ("anna@acme.pl",))
    candidates = [{"contact_id": anna, "name": "Anna Kowalska", "confidence": 0.8}]
    payload = {"email": "a.k@gmail.com", "candidates": candidates, "fields": {}}
    gone = ask(app, "same_person", "same_person:a.k@gmail.com", payload)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert not screen_of(tui).query_one("#review-sides").display  # which_deal: no people
        with app.sessions.begin() as session:
            session.delete(session.get_one(ReviewItem, gone))
        await pilot.press("n")
        await settle(pilot)
        assert selected_id(tui) == gone
        assert f"no review item {gone}" in [n.message for n in tui._notifications]
        left, _ = side_texts(tui)
        assert left.plain == "the records could not be loaded"
        await pilot.press("g")
        await settle(pilot)
        assert len(table_ids(tui)) == 1
        assert tui.is_running

    drive(app, scenario)
