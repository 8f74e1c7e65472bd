"""The email log screen driven with Textual's Pilot over a real, migrated SQLite database:
emails are seeded through the ORM, the effects of the screen's actions are checked through
EmailLogService afterwards."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from rich.text import Text
from sqlalchemy import insert
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Select, Static

from admin_tui.app import AdminApp
from admin_tui.screens.emails import EmailLogScreen, MoveScreen
from admin_tui.widgets import ConfirmScreen
from gateway.app import App
from gateway.crm import Deal, Email, EmailParticipant, linking, repo
from gateway.services.emails import EmailFilter, EmailLogService

from .support import ACTOR, HOSTILE, assert_inert, drive, screen_text, settle

T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
_serial = itertools.count(1)


def email_values(subject: str, at: dt.datetime, **fields: Any) -> dict[str, Any]:
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
    return values


def add_email(app: App, subject: str = "Oferta", at: dt.datetime = T0, **fields: Any) -> int:
    with app.sessions.begin() as session:
        email = Email(**email_values(subject, at, **fields))
        session.add(email)
        session.flush()
        return email.id


def add_emails(app: App, count: int, subject: str = "Wiadomość {i}") -> None:
    """``count`` emails a minute apart (the last is the newest), inserted in bulk."""
    rows = [
        email_values(subject.format(i=i), T0 + dt.timedelta(minutes=i), size=i)
        for i in range(count)
    ]
    with app.sessions.begin() as session:
        for start in range(0, count, 10_000):
            session.execute(insert(Email), rows[start : start + 10_000])


def add_contact(app: App, address: str, first: str, last: str) -> int:
    with app.sessions.begin() as session:
        contact = repo.create_contact(
            session, address, first_name=first, last_name=last, origin="manual"
        )
        return contact.id


def link_contact(app: App, email_id: int, contact_id: int, confidence: float = 0.93) -> None:
    with app.sessions.begin() as session:
        linking.link_contact(session, email_id, contact_id, "exact address", confidence)


def service(app: App) -> EmailLogService:
    return EmailLogService(app.sessions, app.config, "rita@example.com")


def screen_of(tui: AdminApp) -> EmailLogScreen:
    screen = tui.screen
    assert isinstance(screen, EmailLogScreen), type(screen)
    return screen


def table(tui: AdminApp) -> DataTable[Any]:
    return screen_of(tui).query_one("#email-table", DataTable)


def table_ids(tui: AdminApp) -> list[int]:
    return [int(str(key.value)) for key in table(tui).rows]


def detail_text(tui: AdminApp) -> str:
    content = screen_of(tui).query_one("#email-detail", Static).content
    assert isinstance(content, Text)  # a Text, never a markup string
    return content.plain


async def type_search(pilot: Pilot[int], text: str) -> None:
    """Type into the search box and wait out the debounce and the search."""
    await pilot.press("slash")
    search = pilot.app.screen.query_one("#email-search", Input)
    search.value = ""
    if text:
        await pilot.press(*text)
    await pilot.pause(0.5)
    await settle(pilot)


# -- listing and filtering --------------------------------------------------------------------


def test_the_table_lists_emails_newest_first(app: App) -> None:
    old = add_email(app, "Stara sprawa", at=T0)
    new = add_email(app, "Nowa sprawa", at=T0 + dt.timedelta(hours=2))
    mid = add_email(app, "Średnia sprawa", at=T0 + dt.timedelta(hours=1), direction="outbound")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert tui.screen.title == "Emails"
        assert table_ids(tui) == [new, mid, old]
        assert screen_of(tui).sub_title == "3 emails"
        cells = table(tui).get_row_at(1)
        assert all(isinstance(cell, Text) for cell in cells)
        assert [cell.plain for cell in cells[:4]] == [
            "2026-11-02 10:30", "out", "Jan Kowalski <jan@acme.pl>", "Średnia sprawa",
        ]  # fmt: skip
        assert cells[6].plain == "unlinked"
        assert "Nowa sprawa" in detail_text(tui)
        await pilot.press("down")
        await settle(pilot)
        assert "Średnia sprawa" in detail_text(tui)

    drive(app, scenario, start="emails")


def test_typing_in_the_search_filters_the_log(app: App) -> None:
    offer = add_email(app, "Oferta na wdrożenie", at=T0)
    add_email(app, "Faktura 11/2026", at=T0 + dt.timedelta(minutes=1))
    by_name = add_email(app, "Pytanie", at=T0 + dt.timedelta(minutes=2), from_name="Ewa Ofertowa")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert len(table_ids(tui)) == 3
        await type_search(pilot, "ofert")
        assert table_ids(tui) == [by_name, offer]
        assert screen_of(tui).sub_title == "2 emails"
        await type_search(pilot, "ofert dir:in status:unlinked since:2026-11-02")
        assert table_ids(tui) == [by_name, offer]
        await type_search(pilot, "100%")
        assert table_ids(tui) == []
        assert "No emails." in detail_text(tui)
        await type_search(pilot, "")
        assert len(table_ids(tui)) == 3

    drive(app, scenario, start="emails")


def test_a_bad_filter_is_shown_and_the_list_stays(app: App) -> None:
    add_email(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await type_search(pilot, "since:yesterday")
        screen = screen_of(tui)
        assert screen.sub_title == "since: expects a date, YYYY-MM-DD"
        assert screen.search_box.has_class("-invalid")
        assert len(table_ids(tui)) == 1
        await pilot.press("enter")
        await pilot.pause()
        assert "since: expects a date, YYYY-MM-DD" in [n.message for n in tui._notifications]
        assert tui.is_running

    drive(app, scenario, start="emails")


def test_direction_and_status_keys_cycle_the_filters(app: App) -> None:
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    linked_in = add_email(app, "a", at=T0)
    link_contact(app, linked_in, contact)
    plain_in = add_email(app, "b", at=T0 + dt.timedelta(minutes=1))
    out = add_email(app, "c", at=T0 + dt.timedelta(minutes=2), direction="outbound")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("i")  # any -> inbound
        await settle(pilot)
        assert table_ids(tui) == [plain_in, linked_in]
        await pilot.press("t")  # any -> linked
        await settle(pilot)
        assert table_ids(tui) == [linked_in]
        await pilot.press("t")  # linked -> unlinked
        await settle(pilot)
        assert table_ids(tui) == [plain_in]
        await pilot.press("i")  # inbound -> outbound
        await settle(pilot)
        assert table_ids(tui) == [out]
        assert "Outbound" in screen_text(tui) and "Unlinked" in screen_text(tui)

    drive(app, scenario, start="emails")


# -- the detail pane --------------------------------------------------------------------------


def test_the_detail_pane_shows_headers_links_privacy_and_the_reply(app: App) -> None:
    contact = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    email_id = add_email(
        app, "Oferta", from_name="Kowalski, Jan", reply_text="Dziękuję za ofertę.\nJan",
        body_text="x" * 1234,
        auth={"transport": "network", "dkim": {"result": "pass", "domain": "acme.pl"}},
        privacy={"level": "full", "excluded": 1, "redactions": {"iban": 2},
                 "rules": [{"rule": "never_log", "hit": False, "action": ""},
                           {"rule": "objection", "hit": True, "action": "metadata"}]},
    )  # fmt: skip
    with app.sessions.begin() as session:
        session.add(EmailParticipant(email_id=email_id, role="to", email="ewa@acme.pl",
                                     name="Ewa Nowak", outcome="pending",
                                     reason="new person"))  # fmt: skip
    link_contact(app, email_id, contact, 0.93)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        text = detail_text(tui)
        assert "From name: Kowalski, Jan\nFrom address: jan@acme.pl\n" in text
        assert "name: Ewa Nowak  address: ewa@acme.pl" in text
        assert "no contact, pending — new person" in text
        assert "transport: network" in text and "dkim: result=pass, domain=acme.pl" in text
        assert "rule hit: objection → metadata" in text
        assert "redactions: iban 2" in text and "people left out: 1" in text
        assert f"Jan Kowalski <jan@acme.pl> (contact {contact})  0.93  exact address" in text
        assert "Reply text (1,234 characters of body stored)\nDziękuję za ofertę.\nJan" in text
        row = table(tui).get_row_at(0)
        assert row[4].plain == "Jan Kowalski" and row[6].plain == "linked"

    drive(app, scenario, start="emails")


def test_slash_escape_and_enter_move_the_focus(app: App) -> None:
    add_email(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        screen = screen_of(tui)
        assert tui.focused is table(tui)
        await pilot.press("slash")
        assert tui.focused is screen.search_box
        await pilot.press("escape")
        assert tui.focused is table(tui)
        await pilot.press("enter")
        assert tui.focused is screen.query_one("#email-detail-scroll")
        await pilot.press("escape")
        assert tui.focused is table(tui)

    drive(app, scenario, start="emails")


# -- actions ----------------------------------------------------------------------------------


def test_m_moves_the_email_to_another_contact(app: App) -> None:
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowakowska")
    email_id = add_email(app)
    link_contact(app, email_id, jan)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(tui.screen, MoveScreen)
        await pilot.press(*"nowakow")
        await pilot.pause(0.5)
        await settle(pilot)
        options = tui.screen.query_one("#move-targets", OptionList)
        assert options.option_count == 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(tui.screen, EmailLogScreen)
        assert f"email #{email_id} moved to contact {ewa}" in [
            n.message for n in tui._notifications
        ]
        assert table(tui).get_row_at(0)[4].plain == "Ewa Nowakowska"
        assert "moved by admin" in detail_text(tui)

    drive(app, scenario, start="emails")
    links = [(a.kind, a.target_id, a.reason) for a in service(app).detail(email_id).associations]
    assert links == [("contact", ewa, "moved by admin")]
    assert service(app).page(EmailFilter(contact_id=jan)).rows == ()


def test_enter_right_after_typing_picks_from_the_matches_of_what_was_typed(app: App) -> None:
    """The matches shown first (every contact, Jan first) must not be what enter picks."""
    jan = add_contact(app, "jan@acme.pl", "Jan", "Kowalski")
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowakowska")
    email_id = add_email(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("m")
        await settle(pilot)
        options = tui.screen.query_one("#move-targets", OptionList)
        assert options.option_count == 2  # Kowalski, Nowakowska
        await pilot.press(*"nowakow", "enter")  # before the debounced search ran
        await settle(pilot)
        assert isinstance(tui.screen, EmailLogScreen)

    drive(app, scenario, start="emails")
    links = [(a.kind, a.target_id) for a in service(app).detail(email_id).associations]
    assert links == [("contact", ewa)] and jan != ewa


def test_a_move_to_a_deal_and_escape_cancels(app: App) -> None:
    email_id = add_email(app)
    with app.sessions.begin() as session:
        deal = Deal(name="Wdrożenie CRM", stage="oferta")
        session.add(deal)
        session.flush()
        deal_id = deal.id

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(tui.screen, EmailLogScreen)
        await pilot.press("m")
        await settle(pilot)
        move = tui.screen
        assert isinstance(move, MoveScreen)
        move.query_one("#move-kind", Select).value = "deal"
        await pilot.press(*"crm")
        await pilot.pause(0.5)
        await settle(pilot)
        options = move.query_one("#move-targets", OptionList)
        assert options.option_count == 1
        assert "deal" in str(options.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(tui.screen, EmailLogScreen)
        assert table(tui).get_row_at(0)[5].plain == "deal Wdrożenie CRM"

    drive(app, scenario, start="emails")
    assert [(a.kind, a.target_id) for a in service(app).detail(email_id).associations] == [
        ("deal", deal_id)
    ]


def test_p_marks_the_email_private_after_confirmation(app: App) -> None:
    email_id = add_email(app, "Wynagrodzenia", body_text="tajne", reply_text="tajne")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(tui.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(tui.screen, EmailLogScreen)
        assert "private" in table(tui).get_row_at(0)[6].plain
        assert "Privacy: metadata" in detail_text(tui)
        assert "marked private by: cli:tester" in detail_text(tui)

    drive(app, scenario, start="emails")
    detail = service(app).detail(email_id)
    assert (detail.privacy_level, detail.reply_text, detail.body_length) == ("metadata", "", 0)
    assert detail.marked_private_by == ACTOR


def test_x_deletes_after_confirmation_and_n_cancels(app: App) -> None:
    kept = add_email(app, "Zostaje", at=T0)
    doomed = add_email(app, "Do usunięcia", at=T0 + dt.timedelta(minutes=1))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(tui.screen, ConfirmScreen)
        assert "Do usunięcia" in screen_text(tui)
        await pilot.press("n")
        await settle(pilot)
        assert table_ids(tui) == [doomed, kept]
        assert service(app).count() == 2
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert table_ids(tui) == [kept]
        assert "Zostaje" in detail_text(tui)
        assert screen_of(tui).sub_title == "1 email"

    drive(app, scenario, start="emails")
    assert [row.id for row in service(app).page().rows] == [kept]


def test_an_action_on_an_email_deleted_meanwhile_is_a_warning(app: App) -> None:
    email_id = add_email(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        service(app).delete(email_id)  # behind the TUI's back
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert f"no email {email_id}" in [n.message for n in tui._notifications]
        assert tui.is_running
        await pilot.press("g")
        await settle(pilot)
        assert table_ids(tui) == []

    drive(app, scenario, start="emails")


# -- volume -----------------------------------------------------------------------------------


def test_moving_to_the_end_appends_the_next_pages(app: App) -> None:
    add_emails(app, 250)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert len(table_ids(tui)) == 100
        assert screen_of(tui).sub_title == "250 emails"
        await pilot.press("ctrl+end")  # the cursor to the last row
        await settle(pilot)
        assert len(table_ids(tui)) == 200
        await pilot.press("ctrl+end")
        await settle(pilot)
        ids = table_ids(tui)
        assert len(ids) == len(set(ids)) == 250
        assert ids == sorted(ids, reverse=True)  # newest (highest id) first, none twice
        await pilot.press("ctrl+end")
        await settle(pilot)
        assert len(table_ids(tui)) == 250
        assert "Wiadomość 0" in detail_text(tui)

    drive(app, scenario, start="emails")


def test_scrolling_to_the_end_with_the_mouse_appends_the_next_page(app: App) -> None:
    add_emails(app, 150)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert len(table_ids(tui)) == 100
        table(tui).scroll_end(animate=False)  # what the wheel or the scroll bar does
        await pilot.pause()
        await settle(pilot)
        assert len(table_ids(tui)) == 150
        assert table(tui).cursor_row == 0  # the cursor stayed where it was

    drive(app, scenario, start="emails")


def test_a_hundred_thousand_emails_open_on_one_page_and_search_narrows(app: App) -> None:
    add_emails(app, 100_000)
    add_email(app, "Zgubiony parasol", at=T0 - dt.timedelta(days=1))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert len(table_ids(tui)) == 100
        assert screen_of(tui).sub_title == "100,001 emails"
        assert "Wiadomość 99999" in detail_text(tui)
        await type_search(pilot, "parasol")
        assert len(table_ids(tui)) == 1
        assert screen_of(tui).sub_title == "1 email"
        await type_search(pilot, "Wiadomość 9999")
        assert len(table_ids(tui)) == 11  # 9999 and 99990-99999
        await type_search(pilot, "Wiadomość")
        assert len(table_ids(tui)) == 100
        assert screen_of(tui).sub_title == "10,000+ emails"

    drive(app, scenario, start="emails")


# -- hostile content --------------------------------------------------------------------------


def test_hostile_content_stays_inert_in_the_table_and_the_detail(app: App) -> None:
    contact = add_contact(app, "evil@acme.pl", HOSTILE[:150], "")
    hostile = add_email(
        app, HOSTILE, at=T0 + dt.timedelta(minutes=2), from_name=HOSTILE,
        from_email="evil\u202e@acme.pl", reply_text=f"{HOSTILE}\n{HOSTILE}",
        auth={"transport": HOSTILE}, privacy={"rules": [{"rule": HOSTILE, "hit": True,
                                                         "action": HOSTILE}]},
    )  # fmt: skip
    link_contact(app, hostile, contact)
    with app.sessions.begin() as session:
        session.add(EmailParticipant(email_id=hostile, role="to", email="x@acme.pl",
                                     name=HOSTILE, reason=HOSTILE[:300]))  # fmt: skip
        deal = Deal(name=HOSTILE[:300])
        session.add(deal)
        session.flush()
        linking.associate(session, hostile, "deal", deal.id, reason=HOSTILE, confidence=0.5)
    huge = add_email(app, "S" * 1_000_000, at=T0 + dt.timedelta(minutes=1))
    long = add_email(app, "Długa", at=T0, reply_text="linia\n" * 100_000)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert table_ids(tui) == [hostile, huge, long]
        assert_inert(tui)
        text = detail_text(tui)
        assert "\x1b" not in text and "\u202e" not in text
        assert "␛[2J" in text and "⟨U+202E⟩" in text
        assert "[bold red]shout[/]" in text  # markup shown as text
        assert "␛[2J" in screen_text(tui)
        subject = table(tui).get_row_at(0)[3]
        assert isinstance(subject, Text) and "␛[2J" in subject.plain
        await pilot.press("down")
        await settle(pilot)
        assert_inert(tui)
        assert table(tui).get_row_at(1)[3].plain == "S" * 300 + "… (+999,700 chars)"
        assert "S" * 1000 + "… (+999,000 chars)" in detail_text(tui)
        await pilot.press("down")
        await settle(pilot)
        assert_inert(tui)
        assert "… (98,001 more lines not shown)" in detail_text(tui)
        await pilot.press("enter", "end")  # scroll the detail pane to the bottom
        await pilot.pause()
        assert_inert(tui)
        assert "more lines not shown" in screen_text(tui)

    drive(app, scenario, start="emails")
