"""The app shell: every screen is one key away, in the command palette and in the help screen;
screens keep their state when the admin switches away and back."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot

from admin_tui.app import APP_KEYS, SECTIONS, AdminApp
from admin_tui.screens.help import HelpScreen
from gateway.app import App

from .support import drive, screen_text, settle


def test_the_app_opens_on_the_dashboard(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert tui.current_mode == "dashboard"
        assert tui.screen.title == "Dashboard"

    drive(app, scenario)


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.mode)
def test_each_screen_key_switches_to_its_screen(app: App, section: object) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        start = "review" if section.mode == "dashboard" else "dashboard"  # type: ignore[attr-defined]
        tui.action_section(start)
        await pilot.pause()
        await pilot.press(section.key)  # type: ignore[attr-defined]
        await pilot.pause()
        assert tui.current_mode == section.mode  # type: ignore[attr-defined]
        assert type(tui.screen) is section.screen  # type: ignore[attr-defined]

    drive(app, scenario)


def test_screen_keys_are_distinct() -> None:
    keys = [s.key for s in SECTIONS]
    assert len(keys) == len(set(keys))
    assert {"q", "question_mark", "ctrl+p"} <= APP_KEYS


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.mode)
def test_no_screen_rebinds_an_app_key(section: object) -> None:
    """A screen binding one of the app's letters would make that screen a dead end."""
    bindings = section.screen.BINDINGS  # type: ignore[attr-defined]
    keys = set()
    for binding in bindings:
        key = binding.key if hasattr(binding, "key") else binding[0]
        keys.update(k.strip() for k in key.split(","))
    assert not keys & APP_KEYS


def test_question_mark_opens_help_listing_screen_and_app_keys(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(tui.screen, HelpScreen)
        text = screen_text(tui)
        assert "Approve" in text and "Reject" in text
        for section in SECTIONS:
            assert f"{section.key}  {section.title}" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(tui.screen, HelpScreen)
        assert tui.current_mode == "review"

    drive(app, scenario)


def test_a_screen_key_closes_help_and_switches(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(tui.screen, HelpScreen)
        await pilot.press("r")
        await pilot.pause()
        assert tui.current_mode == "review"
        assert not isinstance(tui.screen, HelpScreen)

    drive(app, scenario)


def test_the_command_palette_goes_to_a_screen(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(tui.screen, CommandPalette)
        await pilot.press(*"go to review")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert tui.current_mode == "review"

    drive(app, scenario)


def test_clicking_a_footer_key_switches_screens(app: App) -> None:
    """Mouse support: the footer's keys are buttons."""

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        keys = [k for k in tui.screen.query("FooterKey") if getattr(k, "key", "") == "r"]
        assert keys, "the footer shows the Review key"
        await pilot.click(keys[0])
        await settle(pilot)
        assert tui.current_mode == "review"

    drive(app, scenario)
