"""RELIABILITY.md's TUI list on every screen at once: the fixed CRM of ``seed.py`` with its
email-derived text replaced by escapes, C1 controls, markup, bidi overrides, a 1 MB subject
and a 100,000-line body. Each screen (and its detail pane) must render inert with the layout
intact. The per-screen test files hold the finer cases."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from textual.pilot import Pilot

from admin_tui.app import SECTIONS, AdminApp
from gateway.app import App
from gateway.crm import Contact, Email, EmailParticipant, ReviewItem, User

from . import seed
from .support import HOSTILE, assert_inert, drive, screen_text

BIG_SUBJECT = "S" * 1_000_000
BIG_BODY = "\n".join(f"{i} \x1b[2J\x1b]52;c;AAAA\x07 \u202e" for i in range(100_000))
# What opens each screen's detail view after loading, if a key is needed.
OPEN_DETAIL = {"contacts": ("down", "down", "enter"), "review": ("n",), "settings": ("2",)}


def poison(app: App) -> None:
    seed.seed(app)
    with app.sessions.begin() as session:
        session.execute(update(Contact).values(first_name=HOSTILE[:150], title=HOSTILE[:200]))
        session.execute(update(User).values(name=HOSTILE[:300]))
        session.execute(update(EmailParticipant).values(name=HOSTILE[:300]))
        session.execute(
            update(Email).values(subject=HOSTILE + BIG_SUBJECT, from_name=HOSTILE[:300])
        )
        session.execute(update(Email).where(Email.id == 1).values(reply_text=BIG_BODY))
        for item in session.query(ReviewItem):
            payload = dict(item.payload)
            payload["email"] = f"{HOSTILE}@x.pl"
            payload["name"] = HOSTILE
            item.payload = payload
    held = app.spool.quarantine_dir / seed.QUARANTINE_ID
    data = held.read_bytes()
    hostile_header = f"Subject: {HOSTILE}{'S' * 60_000}\r\n".encode("utf-8", "surrogateescape")
    held.write_bytes(data.replace(b"Subject: ", hostile_header + b"X-Was-Subject: ", 1))


@pytest.mark.parametrize("mode", [s.mode for s in SECTIONS])
def test_every_screen_renders_hostile_text_inert(app: App, mode: str) -> None:
    poison(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert_inert(tui)
        for key in OPEN_DETAIL.get(mode, ()):
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert_inert(tui)
        shown = screen_text(tui)
        if mode in ("emails", "review", "contacts", "legal", "quarantine", "settings"):
            assert "␛" in shown or "⟨U+" in shown, "the hostile text is shown as markers"

    drive(app, scenario, start=mode)
