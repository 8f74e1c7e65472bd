"""The dashboard screen driven with Pilot over a real, migrated database: audit entries,
emails, review items and spool files are seeded through the ORM with fixed times, and the
screen's clock is fixed, so the numbers on screen are known."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Sparkline, Static

from admin_tui.app import AdminApp
from admin_tui.screens import dashboard
from admin_tui.screens.dashboard import DashboardScreen
from admin_tui.screens.help import HelpScreen
from gateway.app import App
from gateway.config import DatabaseConfig
from gateway.crm.db import make_engine, session_factory
from gateway.services.dashboard import DashboardService
from tests.gateway.test_dashboard_service import (
    add_contact,
    add_email,
    add_rep,
    add_review,
    audit,
    spool_entry,
)

from .support import HOSTILE, assert_inert, drive, screen_text, settle

NOW = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
RECEIVED = "received"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(dashboard, "clock", lambda: NOW)
    yield


def seed(app: App) -> None:
    """Mail today and this week, a rep with replies, backlog, and a stalled spool."""
    for minutes in (10, 20, 30):
        audit(app, "email.logged", NOW - timedelta(minutes=minutes))
    audit(app, "email.duplicate", NOW - timedelta(hours=2))
    audit(app, "message.held", NOW - timedelta(hours=3), reason="no transport proof")
    audit(app, "message.dropped", NOW - timedelta(days=2), reason="bounce")
    audit(app, "email.logged", NOW - timedelta(days=3))
    rita = add_rep(app, "Rita Rep", "rita@example.com")
    for replied in (True, True, False, False):
        mid = add_email(app, "inbound", NOW - timedelta(days=1), rita)
        if replied:
            add_email(app, "outbound", NOW - timedelta(hours=5), rita, in_reply_to=mid)
    add_review(app, "new_contact")
    add_review(app, "same_person")
    add_review(app, "same_person")
    add_contact(app, notice_due_at=NOW - timedelta(days=1))
    spool_entry(app, NOW - timedelta(minutes=8))


def screen_of(tui: AdminApp) -> DashboardScreen:
    assert isinstance(tui.screen, DashboardScreen)
    return tui.screen


def panel(tui: AdminApp, name: str) -> str:
    content = screen_of(tui).query_one(f"#dash-{name}", Static).content
    assert isinstance(content, Text)  # a Text, never a markup string
    return content.plain


def line(tui: AdminApp, name: str, label: str) -> list[str]:
    """The words of the line starting with ``label`` in panel ``name``."""
    [found] = [row for row in panel(tui, name).splitlines() if row.startswith(label)]
    return found.split()


async def until(pilot: Pilot[int], done: Callable[[], bool]) -> None:
    """Pause until ``done()`` is true (a refresh arrived); gives up after ~10 s."""
    for _ in range(200):
        if done():
            return
        await pilot.pause(0.05)


# -- tests ----------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_seeded_numbers(app: App) -> None:
    seed(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        screen = screen_of(tui)
        assert screen.sub_title == "updated 12:30:00 UTC"
        assert line(tui, "mail", RECEIVED) == [RECEIVED, "5", "7"]
        assert line(tui, "mail", "logged") == ["logged", "3", "4"]
        assert line(tui, "mail", "quarantined") == ["quarantined", "1", "1"]
        assert line(tui, "mail", "dropped") == ["dropped", "0", "1"]
        assert "bounce" in panel(tui, "dropped")
        sparkline = screen.query_one("#dash-volume", Sparkline)
        assert sparkline.data == [0] * 20 + [1, 1, 0, 3]  # held 09:30, duplicate 10:30, 3 at 12:xx
        assert line(tui, "backlog", "review items") == ["review", "items", "3"]
        assert line(tui, "backlog", "  same_person") == ["same_person", "2"]
        assert line(tui, "backlog", "notices due") == ["notices", "due", "1"]
        assert line(tui, "spool", "waiting") == ["waiting", "1"]
        assert line(tui, "spool", "oldest wait") == ["oldest", "wait", "8m", "00s"]
        assert line(tui, "spool", "worker") == ["worker", "STALLED"]
        assert line(tui, "matching", "  50%") == [
            "50%",
            "2",
            "4",
            "Rita",
            "Rep",
            "<rita@example.com>",
        ]
        text = screen_text(tui)
        for shown in ("Mail", "Matching", "Backlog", "Spool & worker", "STALLED", "50%"):
            assert shown in text

    drive(app, scenario)


def test_worker_health_is_coloured(app: App) -> None:
    audit(app, "email.logged", NOW - timedelta(seconds=30))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        content = screen_of(tui).query_one("#dash-spool", Static).content
        assert isinstance(content, Text)
        [span] = [s for s in content.spans if content.plain[s.start : s.end] == "OK"]
        assert "green" in str(span.style)

    drive(app, scenario)


def test_v_switches_the_sparkline_between_24_hours_and_14_days(app: App) -> None:
    audit(app, "email.logged", NOW - timedelta(minutes=1))
    audit(app, "email.logged", NOW - timedelta(days=13))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        sparkline = screen_of(tui).query_one("#dash-volume", Sparkline)
        assert sparkline.data == [0] * 23 + [1]
        assert "last 24 h, per hour: 1" in panel(tui, "volume-label")
        await pilot.press("v")
        await pilot.pause()
        assert sparkline.data == [1] + [0] * 12 + [1]
        assert "last 14 days, per day: 2" in panel(tui, "volume-label")

    drive(app, scenario)


def test_it_refreshes_itself(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DashboardScreen, "REFRESH_SECONDS", 0.05)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert line(tui, "mail", RECEIVED) == [RECEIVED, "0", "0"]
        audit(app, "email.logged", NOW - timedelta(minutes=1))
        audit(app, "email.logged", NOW - timedelta(days=1))
        await until(pilot, lambda: line(tui, "mail", RECEIVED) != [RECEIVED, "0", "0"])
        assert line(tui, "mail", RECEIVED) == [RECEIVED, "1", "2"]

    drive(app, scenario)


def test_g_refreshes_now(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DashboardScreen, "REFRESH_SECONDS", 3600)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert line(tui, "backlog", "review items") == ["review", "items", "0"]
        loads = screen_of(tui).loads
        add_review(app, "merge")
        await pilot.pause()
        assert line(tui, "backlog", "review items") == ["review", "items", "0"]
        await pilot.press("g")
        await settle(pilot)
        assert screen_of(tui).loads == loads + 1
        assert line(tui, "backlog", "review items") == ["review", "items", "1"]
        assert line(tui, "backlog", "  merge") == ["merge", "1"]

    drive(app, scenario)


def test_refreshing_pauses_while_another_screen_is_in_front(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DashboardScreen, "REFRESH_SECONDS", 0.05)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        screen = screen_of(tui)
        await until(pilot, lambda: screen.loads >= 2)  # the timer runs while shown
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(tui.screen, HelpScreen)
        loads = screen.loads
        audit(app, "email.logged", NOW - timedelta(minutes=1))
        for _ in range(6):  # several refresh periods
            await pilot.pause(0.05)
        await settle(pilot)
        assert screen.loads == loads
        await pilot.press("escape")
        await settle(pilot)
        assert screen_of(tui) is screen
        assert screen.loads > loads  # shown again: refreshed at once
        assert line(tui, "mail", RECEIVED) == [RECEIVED, "1", "1"]

    drive(app, scenario)


def test_a_database_outage_is_one_notification_and_the_numbers_stay(app: App) -> None:
    audit(app, "email.logged", NOW - timedelta(minutes=1))
    down = make_engine(DatabaseConfig(url="postgresql+psycopg://nobody@127.0.0.1:1/none"))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        screen = screen_of(tui)
        working = screen.service
        screen.service = DashboardService(session_factory(down), app.spool, app.config)
        for _ in range(2):
            await pilot.press("g")
            await settle(pilot)
        failures = [n for n in tui._notifications if n.title == "Refreshing the dashboard failed"]
        assert len(failures) == 1
        assert failures[0].severity == "error"
        assert "\n" not in failures[0].message and "[SQL" not in failures[0].message
        assert tui.is_running
        assert screen.sub_title == "update failed 12:30:00 UTC; showing 12:30:00 UTC"
        assert line(tui, "mail", RECEIVED) == [RECEIVED, "1", "1"]
        screen.service = working
        await pilot.press("g")
        await settle(pilot)
        assert screen.sub_title == "updated 12:30:00 UTC"

    try:
        drive(app, scenario)
    finally:
        down.dispose()


def test_hostile_rep_names_addresses_and_reasons_render_inert(app: App) -> None:
    evil = add_rep(app, HOSTILE, HOSTILE)
    big = add_rep(app, "S" * 1_000_000, "s@example.com")
    for rep in (evil, big):
        add_email(app, "inbound", NOW - timedelta(hours=1), rep)
    audit(app, "message.dropped", NOW - timedelta(hours=1), reason=HOSTILE)
    add_review(app, HOSTILE)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert_inert(tui)
        matching = panel(tui, "matching")
        assert "\x1b" not in matching and "\u202e" not in matching
        assert "   0%        0        1  \u241b[2J\u241b[31mRED\u241b[0m" in matching
        assert "S" * 40 + "… (+999,960 chars) <s@example.com>" in matching
        assert "S" * 41 not in matching
        assert "\u241b[2J" in panel(tui, "dropped")
        assert "\u241b[2J" in panel(tui, "backlog")
        assert "\u241b[2J" in screen_text(tui)

    drive(app, scenario)


def test_at_80_by_24_the_layout_holds(app: App) -> None:
    seed(app)
    add_rep(app, HOSTILE, "long.address." * 20 + "@example.com")

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        lines = assert_inert(tui)
        text = "\n".join(lines)
        for title in ("Mail", "Matching", "Backlog", "Spool & worker"):
            assert title in text
        assert "received" in text and "STALLED" in text

    drive(app, scenario, size=(80, 24))


def test_assert_inert_catches_unsanitised_text_on_this_screen(app: App) -> None:
    """Guard against a hostile test that finds nothing: raw email text in a panel fails."""

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert_inert(tui)
        screen_of(tui).query_one("#dash-dropped", Static).update(Text(HOSTILE))
        await pilot.pause()
        with pytest.raises(AssertionError, match=r"reaches the terminal|cells wide|cursor moves"):
            assert_inert(tui)

    drive(app, scenario)
