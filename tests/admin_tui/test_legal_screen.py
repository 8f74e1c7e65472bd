"""The Legal-basis screen driven with Pilot over a real, migrated database: checks are opened
the way outbound mail opens them (``open_checks``), resolved through the form, and the effect
is read back through LegalBasisService."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.text import Text
from sqlalchemy import update
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RadioSet, Select, Static, TabbedContent

from admin_tui.app import AdminApp
from admin_tui.screens.help import HelpScreen
from admin_tui.screens.legal import ACTION_CHOICES, LegalScreen, ResolveScreen
from gateway.app import App
from gateway.config_privacy import LEGAL_BASES
from gateway.crm import Email
from gateway.services.legal import ACTIONS, LegalBasisService
from tests.admin_tui.support import ACTOR, HOSTILE, assert_inert, drive, screen_text, settle
from tests.gateway.test_legal import NOW, a_check, add_contact, add_email, run_checks

WHY = "Jan asked for this offer on the phone"


def service(app: App) -> LegalBasisService:
    return LegalBasisService(app.sessions, app.config, "rita@example.com")


def jan(app: App) -> int:
    return add_contact(app, "jan@acme.pl", status="proposed", basis="legitimate_interest_prospect")


def ewa(app: App, **fields: Any) -> int:
    return add_contact(
        app, "ewa@acme.pl", "Ewa", "Nowak", status="confirmed", subscription="unsubscribed",
        **fields,
    )  # fmt: skip


def legal(tui: AdminApp) -> LegalScreen:
    screens = [s for s in tui.screen_stack if isinstance(s, LegalScreen)]
    assert screens
    return screens[0]


def form(tui: AdminApp) -> ResolveScreen:
    assert isinstance(tui.screen, ResolveScreen)
    return tui.screen


def table_keys(tui: AdminApp, table_id: str) -> list[int]:
    table: DataTable[Any] = legal(tui).query_one(f"#{table_id}", DataTable)
    return [int(str(key.value)) for key in table.rows]


def detail_text(tui: AdminApp) -> str:
    content = legal(tui).query_one("#check-detail", Static).content
    assert isinstance(content, Text)  # a Text, never a markup string
    return content.plain


def form_error(tui: AdminApp) -> str:
    content = form(tui).query_one("#resolve-error", Static).content
    assert isinstance(content, Text)
    return content.plain


def selected_check(tui: AdminApp) -> int:
    detail = legal(tui).current_check
    assert detail is not None
    return detail.check.id


async def open_form(pilot: Pilot[int], key: str = "a") -> None:
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, ResolveScreen)


async def choose(pilot: Pilot[int], action: str) -> None:
    """Pick ``action`` in the focused radio set with the keyboard."""
    assert isinstance(pilot.app.focused, RadioSet)
    await pilot.press(*["down"] * ACTIONS.index(action), "enter")
    await pilot.pause()


async def type_text(pilot: Pilot[int], text: str) -> None:
    assert isinstance(pilot.app.focused, Input)
    await pilot.press(*text)


# -- tests ------------------------------------------------------------------------------------


def test_open_checks_are_listed_with_the_highlighted_one_in_detail(app: App) -> None:
    """The table lists open checks oldest first; the pane explains the highlighted one."""
    first = a_check(app, jan(app), subject="Oferta na wdrożenie")
    second = a_check(app, ewa(app, unsubscribed_at=NOW - timedelta(days=3)), subject="Faktura")
    done = a_check(app, add_contact(app, "ola@acme.pl", "Ola", "Lis"))
    service(app).resolve(done, "acknowledge", note="seen")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert tui.screen.title == "Legal basis"
        assert table_keys(tui, "checks-table") == [first, second]
        text = detail_text(tui)
        for part in (
            f"Check #{first}: no confirmed legal basis",
            "not confirmed (now: legitimate_interest_prospect (proposed))",
            "subject      Oferta na wdrożenie",
            "from         anna@example.com",
            "address      jan@acme.pl",
            "legal basis  legitimate_interest_prospect (proposed)",
            "subscription subscribed",
        ):
            assert part in text
        await pilot.press("down")
        await pilot.pause()
        text = detail_text(tui)
        assert f"Check #{second}: contact unsubscribed" in text
        assert "unsubscribed from marketing mail on " in text
        assert "legal basis  consent (confirmed)" in text
        assert "Checks (2)" in screen_text(tui)

    drive(app, scenario, start="legal")


def test_resolve_a_check_one_time_and_the_next_is_selected(app: App) -> None:
    """enter opens the form; one-time with an explanation resolves the check as the actor,
    records the explanation on the email and selects the next check."""
    contact = jan(app)
    first = a_check(app, contact, subject="Pierwsza")
    second = a_check(app, ewa(app), subject="Druga")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await open_form(pilot, "enter")
        assert "Resolve legal-basis check #" in screen_text(tui)
        await choose(pilot, "one-time")
        await type_text(pilot, WHY)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(tui.screen, LegalScreen)
        assert table_keys(tui, "checks-table") == [second]
        assert selected_check(tui) == second
        assert any("one-time basis recorded" in n.message for n in tui._notifications)

    drive(app, scenario, start="legal")
    info = service(app).show(first)
    assert (info.status, info.action, info.basis, info.note, info.resolved_by) == (
        "resolved", "one-time", "", WHY, ACTOR,
    )  # fmt: skip
    assert service(app).show(second).status == "open"
    assert service(app).consent(contact).legal_basis_status == "proposed"


def test_resolve_set_basis_confirms_it_and_closes_the_contacts_other_checks(app: App) -> None:
    """set-basis with a basis picked in the Select confirms the contact's basis; the contact's
    other checks leave the list too."""
    contact = jan(app)
    first = a_check(app, contact)
    other = a_check(app, contact)
    unrelated = a_check(app, ewa(app))
    basis = "contract"

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await open_form(pilot)
        await choose(pilot, "set-basis")
        assert isinstance(tui.focused, Select)
        # The overlay opens on the prompt (the blank choice); bases follow in LEGAL_BASES order.
        await pilot.press("enter", *["down"] * (LEGAL_BASES.index(basis) + 1), "enter")
        await pilot.pause()
        assert form(tui).query_one(Select).value == basis
        await type_text(pilot, "contract 2026/17")
        await pilot.press("enter")
        await settle(pilot)
        assert table_keys(tui, "checks-table") == [unrelated]
        assert "legal basis  consent (confirmed)" in detail_text(tui)

    drive(app, scenario, start="legal")
    info = service(app).show(first)
    assert (info.status, info.action, info.basis, info.note, info.resolved_by) == (
        "resolved", "set-basis", basis, "contract 2026/17", ACTOR,
    )  # fmt: skip
    assert service(app).show(other).status == "resolved"
    consent = service(app).consent(contact)
    assert (consent.legal_basis, consent.legal_basis_status, consent.legal_basis_by) == (
        basis, "confirmed", ACTOR,
    )  # fmt: skip


def test_resolve_acknowledge_with_the_mouse(app: App) -> None:
    """The form works with clicks: the radio button, the note field and the Resolve button."""
    check = a_check(app, ewa(app))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await open_form(pilot)
        assert await pilot.click("#action-acknowledge")
        await pilot.pause()
        assert await pilot.click("#resolve-text")
        await type_text(pilot, "an invoice, not marketing")
        assert await pilot.click("#resolve-submit")
        await settle(pilot)
        assert isinstance(tui.screen, LegalScreen)
        assert table_keys(tui, "checks-table") == []
        assert "No open legal-basis checks." in detail_text(tui)

    drive(app, scenario, start="legal")
    info = service(app).show(check)
    assert (info.status, info.action, info.note, info.resolved_by) == (
        "resolved", "acknowledge", "an invoice, not marketing", ACTOR,
    )  # fmt: skip


def test_the_form_says_what_is_missing_and_escape_cancels(app: App) -> None:
    """Nothing chosen, no basis, no explanation, no note: each is said in the form, which
    stays open with what was typed; escape closes it and the check stays open."""
    check = a_check(app, jan(app))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await open_form(pilot)
        assert await pilot.click("#resolve-submit")
        await settle(pilot)
        assert form_error(tui).startswith("choose what to do")
        await choose(pilot, "set-basis")
        assert form_error(tui) == ""
        assert await pilot.click("#resolve-submit")
        await settle(pilot)
        assert form_error(tui) == "choose the basis to set"
        assert await pilot.click("#action-one-time")
        await pilot.pause()
        assert form(tui).query_one(Select).disabled
        label = form(tui).query_one("#resolve-text-label").render()
        assert ACTION_CHOICES["one-time"][1] in str(label)
        await pilot.press("enter")  # in the empty explanation field
        await settle(pilot)
        assert form_error(tui).startswith("one-time needs an explanation")
        assert await pilot.click("#action-acknowledge")
        await pilot.pause()
        await type_text(pilot, "   ")
        await pilot.press("enter")
        await settle(pilot)
        assert form_error(tui) == "acknowledge needs a note"
        assert isinstance(tui.screen, ResolveScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(tui.screen, LegalScreen)
        assert table_keys(tui, "checks-table") == [check]

    drive(app, scenario, start="legal")
    assert service(app).show(check).status == "open"


def test_a_check_resolved_elsewhere_is_refused_in_the_form(app: App) -> None:
    """The service's refusal (already resolved) is shown in the form; after escape the list
    is reloaded without the check."""
    check = a_check(app, jan(app))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        service(app).resolve(check, "acknowledge", note="done by Rita")  # behind the TUI's back
        await open_form(pilot)
        await choose(pilot, "one-time")
        await type_text(pilot, WHY)
        await pilot.press("enter")
        await settle(pilot)
        assert form_error(tui) == f"legal-basis check {check} is already resolved (acknowledge)"
        await pilot.press("escape")
        await settle(pilot)
        assert table_keys(tui, "checks-table") == []
        assert tui.is_running

    drive(app, scenario, start="legal")
    assert service(app).show(check).resolved_by == "rita@example.com"


def test_notices_due_are_listed_and_m_marks_one_done(app: App) -> None:
    """t shows the notices due, soonest first; m marks the highlighted one done as the actor;
    a resolves nothing there."""
    now = datetime.now(UTC)
    late = add_contact(app, "ola@acme.pl", "Ola", "Lis", notice_due_at=now + timedelta(days=9))
    soon = add_contact(app, "ala@acme.pl", "Ala", "Kot", notice_due_at=now - timedelta(days=1))
    check = a_check(app, jan(app))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("t")
        await settle(pilot)
        assert legal(tui).query_one(TabbedContent).active == "notices"
        assert table_keys(tui, "notices-table") == [soon, late]
        lines = [line for line in screen_text(tui).splitlines() if "Ala Kot" in line]
        assert len(lines) == 1 and "ala@acme.pl" in lines[0] and "overdue" in lines[0]
        await pilot.press("a")  # the checks tab's key: nothing happens here
        await settle(pilot)
        assert isinstance(tui.screen, LegalScreen)
        await pilot.press("m")
        await settle(pilot)
        assert table_keys(tui, "notices-table") == [late]
        messages = [n.message for n in tui._notifications]
        assert f"information notice to Ala Kot (contact {soon}) marked done" in messages
        await pilot.press("t")
        await settle(pilot)
        assert legal(tui).query_one(TabbedContent).active == "checks"
        await pilot.press("m")  # the notices tab's key: nothing happens here
        await settle(pilot)

    drive(app, scenario, start="legal")
    done = {n.contact_id: n for n in service(app).notices(include_done=True)}
    assert done[soon].notice_done_at is not None
    assert done[late].notice_done_at is None
    assert service(app).show(check).status == "open"


def test_the_tabs_switch_with_a_click(app: App) -> None:
    """The tab headers take clicks."""
    add_contact(app, "ola@acme.pl", "Ola", "Lis", notice_due_at=NOW)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert await pilot.click("#--content-tab-notices")
        await settle(pilot)
        assert legal(tui).query_one(TabbedContent).active == "notices"
        assert "Ola Lis" in screen_text(tui)

    drive(app, scenario, start="legal")


def test_help_lists_the_screens_keys(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(tui.screen, HelpScreen)
        content = tui.screen.query_one("#help-keys", Static).content
        assert isinstance(content, Text)
        for line in ("a  Resolve", "t  Checks/Notices", "g  Refresh"):
            assert line in content.plain

    drive(app, scenario, start="legal")


def test_hostile_subject_sender_and_names_render_inert(app: App) -> None:
    """Escapes, bidi overrides and markup in a subject, a sender and a contact name are shown
    as visible markers on the list, in the detail, in the form and on the notices; a 1 MB
    subject is cut."""
    evil = add_contact(app, "evil@acme.pl", HOSTILE, HOSTILE, notice_due_at=NOW)
    email_id = add_email(app, evil, subject=HOSTILE)
    big = add_email(app, evil, subject="S" * 1_000_000)
    with app.sessions.begin() as session:
        session.execute(
            update(Email)
            .where(Email.id.in_((email_id, big)))
            .values(from_email=HOSTILE, from_name=HOSTILE)
        )
    run_checks(app, email_id)
    run_checks(app, big)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert_inert(tui)
        text = detail_text(tui)
        assert "\x1b" not in text and "\u202e" not in text
        # subject, sender name and address, first and last name
        assert text.count("␛[2J␛[31mRED") == 5
        assert "⟨U+202E⟩" in text and "[bold red]shout[/]" in text
        assert "␛[2J" in screen_text(tui)
        table: DataTable[Any] = legal(tui).query_one("#checks-table", DataTable)
        assert all(isinstance(cell, Text) for cell in table.get_row_at(0))
        await open_form(pilot)
        assert_inert(tui)
        assert "␛[2J" in screen_text(tui)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("down")
        await pilot.pause()
        assert "S" * 1000 + "… (+999,000 chars)" in detail_text(tui)
        assert_inert(tui)
        await pilot.press("t")
        await settle(pilot)
        assert_inert(tui)
        assert "␛[2J" in screen_text(tui)

    drive(app, scenario, start="legal")


def test_the_inert_check_catches_a_bidi_override_and_an_escape(app: App) -> None:
    """assert_inert is not blind here: raw text that skipped the sanitiser fails it."""

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert_inert(tui)
        detail = legal(tui).query_one("#check-detail", Static)
        for raw in ("invoice\u202efdp.exe", "\x1b]52;c;cm0=\x07"):
            detail.update(Text(raw))
            await pilot.pause()
            with pytest.raises(AssertionError):
                assert_inert(tui)

    drive(app, scenario, start="legal")


def test_the_form_offers_every_action_the_service_takes() -> None:
    assert tuple(ACTION_CHOICES) == ACTIONS
