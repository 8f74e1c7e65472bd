"""The contacts screen driven with Pilot over a real, migrated database: contacts, emails,
deals and tickets are seeded through the ORM; consent changes and erasures made from the
keyboard are checked through LegalBasisService, ContactDirectory and ErasureService."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static

from admin_tui.app import AdminApp
from admin_tui.screens.contacts import DEBOUNCE, BasisScreen, ContactsScreen
from admin_tui.screens.help import HelpScreen
from admin_tui.widgets import ConfirmScreen
from gateway.app import App
from gateway.crm import Company, Contact
from gateway.services.contacts import ContactDirectory
from gateway.services.erasure import ErasureReport, ErasureService
from gateway.services.legal import LegalBasisService
from gateway.services.tasks import NewTask, TaskService, add_task
from tests.admin_tui import support
from tests.admin_tui.support import ACTOR, HOSTILE, drive, settle
from tests.gateway.test_contact_directory import (
    add_company,
    add_contact,
    add_deal,
    add_email,
    add_ticket,
)
from tests.support import add_user

LUKASZ = "lukasz.zolw@acme.pl"


def screen_of(tui: AdminApp) -> ContactsScreen:
    assert isinstance(tui.screen, ContactsScreen)
    return tui.screen


def listed(tui: AdminApp) -> list[int]:
    table: DataTable[Any] = screen_of(tui).query_one("#contacts-table", DataTable)
    return [int(str(key.value)) for key in table.rows]


def detail(tui: AdminApp) -> str:
    content = screen_of(tui).query_one("#contacts-detail", Static).content
    assert isinstance(content, Text)  # never a markup string
    return content.plain


def messages(tui: AdminApp) -> list[str]:
    return [n.message for n in tui._notifications]


def found(app: App, query: str) -> list[int]:
    return [row.id for row in ContactDirectory(app.sessions, app.config.organization).search(query)]


def dry_run(app: App, address: str) -> ErasureReport:
    return ErasureService(app.sessions, app.spool, app.config).erase(address, dry_run=True)


async def search(pilot: Pilot[int], query: str) -> None:
    """Type ``query`` into the search box and press enter (which searches at once)."""
    await pilot.press("slash", *query, "enter")
    await settle(pilot)


def seed(app: App) -> dict[str, int]:
    acme = add_company(app, "ACME")
    lukasz = add_contact(app, LUKASZ, "Łukasz", "Żółw", company_id=acme, phones=("+48601234567",))
    jan = add_contact(app, "jan@beta.pl", "Jan", "Kowalski")
    email = add_email(app, lukasz, "Oferta na wdrożenie", reason="exact address")
    deal = add_deal(app, "Wdrożenie CRM", contact_id=lukasz)
    ticket = add_ticket(app, "Reklamacja dostawy", lukasz)
    return {"lukasz": lukasz, "jan": jan, "email": email, "deal": deal, "ticket": ticket}


# -- tests ----------------------------------------------------------------------------------------


def test_typing_a_name_without_diacritics_finds_the_contact(app: App) -> None:
    ids = seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert sorted(listed(tui)) == sorted([ids["lukasz"], ids["jan"]])  # the newest first
        await pilot.press("slash", *"lukasz")
        await pilot.pause(DEBOUNCE + 0.2)  # typing stopped: the debounced search runs
        await settle(pilot)
        assert listed(tui) == [ids["lukasz"]]
        assert screen_of(tui).search_box.has_focus  # typing went on in the box
        assert "Łukasz Żółw" in support.screen_text(tui)
        await pilot.press("ctrl+u", *"+48 601", "enter")  # a phone number
        await settle(pilot)
        assert listed(tui) == [ids["lukasz"]]
        await pilot.press("slash", "ctrl+u", *"%", "enter")  # a wildcard is taken literally
        await settle(pilot)
        assert listed(tui) == []

    drive(app, scenario, start="contacts")


def test_enter_shows_the_timeline_with_emails_deals_and_tickets(app: App) -> None:
    ids = seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "Żółw")
        assert screen_of(tui).table.has_focus
        await pilot.press("enter")
        await settle(pilot)
        text = detail(tui)
        assert "Łukasz Żółw  contact" in text
        assert "company: ACME" in text
        assert f"addresses: {LUKASZ}" in text
        assert "phones: +48601234567" in text
        assert "Emails (1)" in text and "Oferta na wdrożenie" in text and "exact address" in text
        assert "Deals (1)" in text and f"#{ids['deal']} Wdrożenie CRM" in text
        assert "Tickets (1)" in text and f"#{ids['ticket']} Reklamacja dostawy" in text
        assert "legal basis: none" in text

    drive(app, scenario, start="contacts")


def test_the_timeline_shows_the_contacts_tasks_open_first(app: App) -> None:
    """Tasks made by the tasks plugin (seeded through the service) head the timeline: open
    ones with their due date and owner, closed ones after them; a hostile title stays inert."""
    ids = seed(app)
    anna = add_user(app, "anna@example.com", "Anna Nowak")
    due = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    with app.sessions.begin() as session:
        follow_up = add_task(
            session,
            NewTask(key="buying_signal:1", title=f"Follow up: {HOSTILE}", rule="buying_signal",
                    due_at=due, contact_id=ids["lukasz"]),
            "plugin:tasks",
            lambda _session: anna,
        )  # fmt: skip
        closed = add_task(
            session,
            NewTask(key="new_contact:1", title="New contact: Łukasz Żółw", rule="new_contact",
                    contact_id=ids["lukasz"]),
            "plugin:tasks",
        )  # fmt: skip
        add_task(
            session, NewTask(key="x", title="Jan's task", rule="r", contact_id=ids["jan"]), "t"
        )
        assert follow_up is not None and closed is not None
        follow_up_id, closed_id = follow_up.id, closed.id
    TaskService(app.sessions).done(closed_id)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "Żółw")
        await pilot.press("enter")
        await settle(pilot)
        text = detail(tui)
        assert "Tasks (1 open of 2)" in text
        head, _, rest = text.partition("Tasks (1 open of 2)")
        assert "Emails (1)" in rest and "Emails" not in head  # the tasks come first
        first, second = rest.strip().splitlines()[:2]
        assert first.startswith(f"#{follow_up_id} Follow up: ")
        assert first.endswith("open, due 2026-11-03 10:00, anna@example.com")
        assert second.startswith(f"#{closed_id} New contact: Łukasz Żółw  done 20")
        assert second.endswith(", no owner")
        assert "Jan's task" not in text
        assert "\x1b" not in text and "␛[2J" in text and "⟨U+202E⟩" in text
        support.assert_inert(tui)

    drive(app, scenario, start="contacts")


def test_b_sets_the_legal_basis_as_the_actor(app: App) -> None:
    ids = seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "lukasz")
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(tui.screen, BasisScreen)
        await pilot.press("enter", "down", "down", "enter")  # open the list, pick "contract"
        await pilot.pause()
        assert tui.screen.query_one("#basis-select", Select).value == "contract"
        await pilot.press("tab", *"umowa 12/2026", "enter")
        await settle(pilot)
        assert isinstance(tui.screen, ContactsScreen)
        assert any("legal basis contract confirmed" in m for m in messages(tui))
        assert "legal basis: contract (confirmed, from umowa 12/2026, by cli:tester" in detail(tui)

    drive(app, scenario, start="contacts")
    consent = LegalBasisService(app.sessions, app.config).consent(ids["lukasz"])
    assert (consent.legal_basis, consent.legal_basis_status) == ("contract", "confirmed")
    assert (consent.legal_basis_by, consent.legal_basis_source) == (ACTOR, "umowa 12/2026")


def test_escape_in_the_basis_modal_changes_nothing(app: App) -> None:
    ids = seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "lukasz")
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(tui.screen, BasisScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(tui.screen, ContactsScreen)

    drive(app, scenario, start="contacts")
    assert LegalBasisService(app.sessions, app.config).consent(ids["lukasz"]).legal_basis is None


def test_u_toggles_the_subscription(app: App) -> None:
    ids = seed(app)
    legal = LegalBasisService(app.sessions, app.config)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "lukasz")
        await pilot.press("u")
        await settle(pilot)
        assert legal.consent(ids["lukasz"]).subscription == "unsubscribed"
        assert "subscription: unsubscribed since" in detail(tui)
        await pilot.press("u")
        await settle(pilot)
        assert legal.consent(ids["lukasz"]).subscription == "subscribed"

    drive(app, scenario, start="contacts")
    consent = legal.consent(ids["lukasz"])
    assert consent.subscription == "subscribed"
    assert consent.unsubscribed_at is None


def test_x_shows_the_dry_run_report_and_n_keeps_the_contact(app: App) -> None:
    ids = seed(app)
    expected = dry_run(app, LUKASZ)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "lukasz")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(tui.screen, ConfirmScreen)
        body = tui.screen.body.plain
        assert f"Łukasz Żółw (contact {ids['lukasz']}, {LUKASZ})" in body
        assert "addresses: 1" in body
        assert "contacts erased: 1" in body
        assert f"emails emptied (only outside party): {len(expected.emails_emptied)}" in body
        assert "phones removed: 1" in body
        assert "suppression (keyed hash only): added" in body
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(tui.screen, ContactsScreen)
        assert f"contact {ids['lukasz']} was not erased" in messages(tui)

    drive(app, scenario, start="contacts")
    assert found(app, "lukasz") == [ids["lukasz"]]
    assert dry_run(app, LUKASZ).contacts == (ids["lukasz"],)


def test_x_then_y_erases_the_contact(app: App) -> None:
    ids = seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "lukasz")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(tui.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(tui.screen, ContactsScreen)
        assert any(f"contact {ids['lukasz']} erased: 1 contact(s)" in m for m in messages(tui))
        assert listed(tui) == []  # the search ran again
        assert f"Contact {ids['lukasz']} was erased." in detail(tui)

    drive(app, scenario, start="contacts")
    assert found(app, "lukasz") == []
    assert found(app, "") == [ids["jan"]]
    assert dry_run(app, LUKASZ).contacts == ()
    with app.sessions() as session:
        assert session.get_one(Contact, ids["lukasz"]).status == "erased"


def test_search_keeps_working_while_an_erasure_runs(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run is held until the test lets it go: typing and searching meanwhile work,
    and a second action is refused with a warning instead of queueing."""
    ids = seed(app)
    release = threading.Event()
    real = ErasureService.erase

    def held(self: ErasureService, address: str, dry_run: bool = False) -> ErasureReport:
        assert release.wait(30)
        return real(self, address, dry_run=dry_run)

    monkeypatch.setattr(ErasureService, "erase", held)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "lukasz")
        try:
            await pilot.press("x")
            await pilot.pause()
            assert screen_of(tui).query_one("#contacts-progress").display
            await pilot.press("slash", "ctrl+u", *"kowalski", "enter")
            for _ in range(100):
                await pilot.pause(0.05)
                if listed(tui) == [ids["jan"]]:
                    break
            assert listed(tui) == [ids["jan"]]
            await pilot.press("u")
            await pilot.pause()
            assert any("is still running" in m for m in messages(tui))
        finally:
            release.set()
        await settle(pilot)
        assert isinstance(tui.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert not screen_of(tui).query_one("#contacts-progress").display

    drive(app, scenario, start="contacts")
    assert found(app, "lukasz") == [ids["lukasz"]]


def test_an_erasure_the_service_refuses_is_a_warning(app: App) -> None:
    """A registered user's address is never erased: the screen says so and keeps running."""
    add_user(app, "anna@example.com", "Anna Nowak")
    anna = add_contact(app, "anna@example.com", "Anna", "Nowak")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(tui.screen, ContactsScreen)
        warnings = [n for n in tui._notifications if n.severity == "warning"]
        assert any("belongs to a registered user" in n.message for n in warnings)
        assert not screen_of(tui).busy

    drive(app, scenario, start="contacts")
    assert found(app, "anna") == [anna]


def test_hostile_names_and_subjects_stay_inert(app: App) -> None:
    with app.sessions.begin() as session:
        company = Company(name=HOSTILE, origin="manual")
        session.add(company)
        session.flush()
        company_id = company.id
    evil = add_contact(app, "evil@acme.pl", HOSTILE, HOSTILE, company_id=company_id)
    with app.sessions.begin() as session:
        session.get_one(Contact, evil).title = HOSTILE
    add_email(app, evil, HOSTILE, reason=HOSTILE)
    add_email(app, evil, "S" * 1_000_000)
    add_deal(app, HOSTILE, contact_id=evil)
    add_ticket(app, HOSTILE, evil)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        support.assert_inert(tui)
        table: DataTable[Any] = screen_of(tui).query_one("#contacts-table", DataTable)
        name = table.get_row_at(0)[1]
        assert isinstance(name, Text) and "[bold red]shout[/]" in name.plain
        await pilot.press("enter")
        await settle(pilot)
        text = detail(tui)
        assert "\x1b" not in text and "\u202e" not in text
        assert "␛[2J" in text and "⟨U+202E⟩" in text
        assert text.count("[bold red]shout[/]") >= 6  # name, title, company, subject, deal...
        assert "S" * 1_000 + "… (+999,000 chars)" in text
        assert "S" * 1_001 not in text
        support.assert_inert(tui)
        assert "␛[2J" in support.screen_text(tui)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(tui.screen, ConfirmScreen)
        assert "⟨U+202E⟩" in tui.screen.body.plain
        support.assert_inert(tui)
        await pilot.press("n")
        await settle(pilot)

    drive(app, scenario, start="contacts")


def test_slash_focuses_the_search_and_escape_leaves_it(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        screen = screen_of(tui)
        assert screen.table.has_focus
        await pilot.press("slash")
        assert screen.search_box.has_focus
        await pilot.press(*"xe")  # letters go into the box, not to the screen or the app
        await pilot.pause()
        assert screen.query_one("#contacts-search", Input).value == "xe"
        assert isinstance(tui.screen, ContactsScreen)
        await pilot.press("escape")
        assert screen.table.has_focus
        await settle(pilot)

    drive(app, scenario, start="contacts")


def test_help_lists_the_screen_keys(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(tui.screen, HelpScreen)
        content = tui.screen.query_one("#help-keys", Static).content
        assert isinstance(content, Text)
        for line in (
            "/  Search",
            "enter  Timeline",
            "b  Legal basis",
            "u  Subscribe/unsubscribe",
            "x  Erase",
            "g  Refresh",
        ):
            assert line in content.plain

    drive(app, scenario, start="contacts")


def test_a_database_error_is_a_notification_and_the_screen_keeps_running(app: App) -> None:
    ids = seed(app)
    with app.engine.begin() as connection:  # a real failure: the phones table is gone
        connection.exec_driver_sql("ALTER TABLE contact_phones RENAME TO contact_phones_gone")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await search(pilot, "601 234 567")
        errors = [n for n in tui._notifications if n.severity == "error"]
        assert [n.title for n in errors] == ["Search failed"]
        assert screen_of(tui).sub_title == "search failed: g tries again"
        assert tui.is_running
        await pilot.press("slash", "ctrl+u", *"lukasz", "enter")  # names need no phones
        await settle(pilot)
        assert listed(tui) == [ids["lukasz"]]

    drive(app, scenario, start="contacts")
