"""The settings screen driven with Pilot: never-log entries and users are seeded through the
services, team inboxes and thresholds through the config file; entries added and removed
from the keyboard are checked through NeverLogService and the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static, TabbedContent

from admin_tui.app import AdminApp
from admin_tui.screens.settings import NeverLogAddScreen, SettingsScreen
from admin_tui.widgets import ConfirmScreen
from gateway.app import App
from gateway.config import Config
from gateway.crm import AuditEntry
from gateway.services.never_log import NeverLogService
from gateway.services.users import CredentialService
from tests.admin_tui import support
from tests.admin_tui.support import ACTOR, HOSTILE, drive, settle
from tests.conftest import ConfigFactory
from tests.support import add_user

SUPPORT = {
    "address": "support@example.com",
    "route": "support-route@crm.example.com",
    "mode": "tickets",
    "owner": "anna@example.com",
    "privacy": "metadata",
}
SALES = {"address": "sales@example.com", "route": "sales-route@crm.example.com"}


@pytest.fixture
def config(make_config: ConfigFactory) -> Config:
    return make_config(
        team_inbox=[SUPPORT, SALES],
        matching={"auto_link": 0.95, "suggest": 0.7, "create_contacts": "review"},
        privacy={"level": "metadata", "require_legal_basis": True, "hash_key": "sekret-klucz"},
    )


def screen_of(tui: AdminApp) -> SettingsScreen:
    assert isinstance(tui.screen, SettingsScreen)
    return tui.screen


def rows(tui: AdminApp, table_id: str) -> list[list[str]]:
    table: DataTable[Any] = screen_of(tui).query_one(f"#{table_id}", DataTable)
    found = []
    for index in range(table.row_count):
        cells = table.get_row_at(index)
        assert all(isinstance(cell, Text) for cell in cells)  # never markup strings
        found.append([cell.plain for cell in cells])
    return found


def config_text(tui: AdminApp) -> str:
    content = screen_of(tui).query_one("#config-text", Static).content
    assert isinstance(content, Text)
    return content.plain


def messages(tui: AdminApp, severity: str | None = None) -> list[str]:
    return [n.message for n in tui._notifications if severity in (None, n.severity)]


def entries(app: App) -> list[tuple[str, str]]:
    return [(e.scope, e.value) for e in NeverLogService(app.sessions).list(everything=True)]


def audited(app: App, action: str) -> list[str]:
    with app.sessions() as session:
        return list(session.scalars(select(AuditEntry.actor).where(AuditEntry.action == action)))


def seed(app: App) -> None:
    add_user(app, "anna@example.com", "Anna Nowak", "anna.n@example.com")
    add_user(app, "piotr@example.com", "Piotr Lis")
    CredentialService(app.sessions).set_password("anna@example.com", "correct horse battery")
    never = NeverLogService(app.sessions, "cli:seed")
    never.add("@competitor.pl")
    never.add("wife@gmail.com", user="anna@example.com")


# -- tests ----------------------------------------------------------------------------------------


def test_the_tabs_show_entries_users_inboxes_and_thresholds(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        never = rows(tui, "never-log-table")
        assert [row[:4] for row in never] == [
            ["org", "domain", "competitor.pl", "cli:seed"],
            ["user anna@example.com", "address", "wife@gmail.com", "cli:seed"],
        ]
        await pilot.press("2")
        await pilot.pause()
        assert screen_of(tui).query_one(TabbedContent).active == "settings-users"
        assert rows(tui, "users-table") == [
            ["1", "Anna Nowak", "anna@example.com, anna.n@example.com", "—", "yes", "—"],
            ["2", "Piotr Lis", "piotr@example.com", "—", "—", "—"],
        ]
        await pilot.press("3")
        await pilot.pause()
        assert rows(tui, "inboxes-table") == [
            ["support@example.com", "tickets", "anna@example.com", "metadata",
             "support-route@crm.example.com", "transport"],
            ["sales@example.com", "log", "—", "metadata (from [privacy] level)",
             "sales-route@crm.example.com", "transport"],
        ]  # fmt: skip
        assert app.config.source is not None
        path = str(app.config.source.resolve())
        assert f"edit {path} and restart bccrm" in support.screen_text(tui)
        await pilot.press("4")
        await pilot.pause()
        text = config_text(tui)
        assert f"Read-only: edit {path} and restart bccrm to change these." in text
        for line in (
            "auto_link             0.95",
            "suggest               0.70",
            "create_contacts       review",
            "max_participants      50",
            "level                 metadata",
            "log_internal          false",
            "require_legal_basis   true",
            "hash_key              set",
            "domains               example.com",
        ):
            assert line in text
        assert "sekret-klucz" not in support.screen_text(tui) + text

    drive(app, scenario, start="settings")


def test_a_adds_an_entry_for_the_organisation_as_the_actor(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(tui.screen, NeverLogAddScreen)
        await pilot.press(*"@Rival.PL", "enter")
        await settle(pilot)
        assert isinstance(tui.screen, SettingsScreen)
        assert "rival.pl added to the organisation's list" in messages(tui)
        assert ["org", "domain", "rival.pl", ACTOR] in [r[:4] for r in rows(tui, "never-log-table")]

    drive(app, scenario, start="settings")
    assert ("org", "rival.pl") in entries(app)
    assert audited(app, "never_log.added") == ["cli:seed", "cli:seed", ACTOR]


def test_a_adds_an_entry_to_one_users_list(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"mom@gmail.com")
        select = tui.screen.query_one("#never-scope", Select)
        select.value = "piotr@example.com"
        await pilot.click("#never-add")
        await settle(pilot)
        assert isinstance(tui.screen, SettingsScreen)

    drive(app, scenario, start="settings")
    assert ("piotr@example.com", "mom@gmail.com") in entries(app)


@pytest.mark.parametrize("value", ["not an address", "", "@", "a@@b"])
def test_an_invalid_value_is_a_warning_and_nothing_is_added(app: App, value: str) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*value, "enter")
        await settle(pilot)
        assert isinstance(tui.screen, NeverLogAddScreen)  # still open: fix or escape
        assert any("neither an address nor a domain" in m or "not a valid address" in m
                   for m in messages(tui, "warning"))  # fmt: skip
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(tui.screen, SettingsScreen)

    drive(app, scenario, start="settings")
    assert len(entries(app)) == 2
    assert audited(app, "never_log.added") == ["cli:seed", "cli:seed"]


def test_x_removes_the_highlighted_entry_after_confirmation(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("down", "x")  # the second entry: anna's
        await pilot.pause()
        assert isinstance(tui.screen, ConfirmScreen)
        assert "wife@gmail.com (address) comes off anna@example.com's list" in (
            tui.screen.body.plain
        )
        await pilot.press("n")
        await settle(pilot)
        assert len(entries(app)) == 2
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert "wife@gmail.com removed from anna@example.com's list" in messages(tui)
        assert [r[2] for r in rows(tui, "never-log-table")] == ["competitor.pl"]

    drive(app, scenario, start="settings")
    assert entries(app) == [("org", "competitor.pl")]
    assert audited(app, "never_log.removed") == [ACTOR]


def test_x_on_another_tab_goes_to_the_never_log_tab_and_removes_nothing(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("2", "x")
        await pilot.pause()
        assert isinstance(tui.screen, SettingsScreen)
        assert screen_of(tui).query_one(TabbedContent).active == "settings-never-log"

    drive(app, scenario, start="settings")
    assert len(entries(app)) == 2


def test_a_hostile_user_name_stays_inert(app: App) -> None:
    add_user(app, "evil@example.com", HOSTILE)
    add_user(app, "big@example.com", "N" * 1_000_000)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("2")
        await pilot.pause()
        names = [row[1] for row in rows(tui, "users-table")]
        assert "\x1b" not in names[0] and "␛[2J" in names[0] and "⟨U+202E⟩" in names[0]
        assert names[1] == "N" * 1_000 + "… (+999,000 chars)"
        support.assert_inert(tui)
        assert "␛[2J" in support.screen_text(tui)
        await pilot.press("a")
        await pilot.pause()
        support.assert_inert(tui)  # the user choice in the add modal
        await pilot.press("escape")
        await settle(pilot)

    drive(app, scenario, start="settings")


def test_the_add_modal_offers_each_users_list(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("a")
        await pilot.pause()
        select: Select[str] = tui.screen.query_one("#never-scope", Select)
        values = [value for _, value in select._options]
        assert values == ["org", "anna@example.com", "piotr@example.com"]
        assert tui.screen.query_one("#never-value", Input).has_focus

    drive(app, scenario, start="settings")


def test_a_database_error_is_a_notification_and_the_screen_keeps_running(app: App) -> None:
    seed(app)
    with app.engine.begin() as connection:  # a real failure: the never-log table is gone
        connection.exec_driver_sql("ALTER TABLE never_log RENAME TO never_log_gone")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        errors = [n for n in tui._notifications if n.severity == "error"]
        assert [n.title for n in errors] == ["Loading the settings failed"]
        assert screen_of(tui).sub_title == "loading failed: g tries again"
        assert tui.is_running
        await pilot.press("a", *"x@gmail.com", "enter")
        await settle(pilot)
        assert [n.title for n in tui._notifications if n.severity == "error"][-1] == "Not added"

    drive(app, scenario, start="settings")
