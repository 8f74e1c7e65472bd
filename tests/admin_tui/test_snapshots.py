"""Screenshots (SVG) of every screen at 120x36 over the fixed CRM in ``seed.py``, compared
with the ones under ``__snapshots__``. After an intended change of a screen, look at the
report pytest prints, then rewrite them with ``pytest tests/admin_tui/test_snapshots.py
--snapshot-update`` and review the new files in the diff."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

import admin_tui.screens.dashboard as dashboard
from admin_tui.app import SECTIONS, AdminApp
from gateway.app import App

from . import seed
from .support import ACTOR, settle

SIZE = (120, 36)
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _fixed_clock_and_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Screens show local time and the dashboard counts back from now: pin both."""
    monkeypatch.setattr(dashboard, "clock", lambda: seed.NOW)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def keys(*pressed: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("mode", [s.mode for s in SECTIONS])
def test_screen(app: App, snap_compare: SnapCompare, mode: str) -> None:
    seed.seed(app)
    tui = AdminApp(app, ACTOR, start=mode)
    assert snap_compare(tui, terminal_size=SIZE, run_before=keys())


def test_review_same_person_side_by_side(app: App, snap_compare: SnapCompare) -> None:
    seed.seed(app)
    tui = AdminApp(app, ACTOR, start="review")
    assert snap_compare(tui, terminal_size=SIZE, run_before=keys("n"))


def test_contact_timeline(app: App, snap_compare: SnapCompare) -> None:
    seed.seed(app)
    tui = AdminApp(app, ACTOR, start="contacts")
    assert snap_compare(tui, terminal_size=SIZE, run_before=keys("down", "down", "enter"))


def test_help(app: App, snap_compare: SnapCompare) -> None:
    seed.seed(app)
    tui = AdminApp(app, ACTOR, start="emails")
    assert snap_compare(tui, terminal_size=SIZE, run_before=keys("escape", "question_mark"))
