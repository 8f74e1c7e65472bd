"""The Held screen driven with Pilot over a real spool and database: messages are quarantined
the real way (the worker holds them), released, dropped and replayed through the screen, and
the effect is read back from the spool and the audit log."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from admin_tui.app import AdminApp
from admin_tui.screens.help import HelpScreen
from admin_tui.screens.quarantine import DROP, RELEASE, QuarantineScreen
from admin_tui.widgets import ConfirmScreen
from gateway.app import App
from gateway.services.quarantine import QuarantineService
from gateway.spool import Envelope
from tests.admin_tui.support import ACTOR, HOSTILE, assert_inert, drive, screen_text, settle
from tests.gateway.test_quarantine import (
    BODY,
    NO_FROM_REASON,
    audit_rows,
    hold,
    new_entries,
    no_from,
)
from tests.support import LOG, drain


def held(tui: AdminApp) -> QuarantineScreen:
    screens = [s for s in tui.screen_stack if isinstance(s, QuarantineScreen)]
    assert screens
    return screens[0]


def table_ids(tui: AdminApp) -> list[str]:
    table: DataTable[Any] = held(tui).query_one("#held-table", DataTable)
    return [str(key.value) for key in table.rows]


def detail_text(tui: AdminApp) -> str:
    content = held(tui).query_one("#held-detail", Static).content
    assert isinstance(content, Text)  # a Text, never a markup string
    return content.plain


def confirm_text(tui: AdminApp) -> str:
    assert isinstance(tui.screen, ConfirmScreen)
    content = tui.screen.query_one("#confirm-body", Static).content
    assert isinstance(content, Text)
    return content.plain


def messages(tui: AdminApp) -> list[str]:
    return [n.message for n in tui._notifications]


async def press(pilot: Pilot[int], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


# -- tests ------------------------------------------------------------------------------------


def test_held_messages_are_listed_with_reason_envelope_and_headers(app: App) -> None:
    """The table lists held mail longest held first; the pane shows the reason, the envelope
    and the header block, never the body."""
    first = hold(app, no_from("pierwsza"))
    second = hold(app, no_from("druga"))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert tui.screen.title == "Held"
        assert table_ids(tui) == [first, second]
        text = detail_text(tui)
        for part in (
            f"Why: {NO_FROM_REASON}",
            "mail from  anna@example.com",
            f"rcpt to    {LOG}",
            "peer       192.0.2.7",
            "Subject: pierwsza\nTo: jan@acme.pl",
        ):
            assert part in text
        assert BODY not in text
        table: DataTable[Any] = held(tui).query_one("#held-table", DataTable)
        cells = table.get_row(first)
        assert all(isinstance(cell, Text) for cell in cells)
        size = f"{len(no_from('pierwsza'))} B"
        assert [cell.plain for cell in cells[1:]] == [
            NO_FROM_REASON, "(env) anna@example.com", "pierwsza", size, "1",
        ]  # fmt: skip
        assert "pierwsza" in screen_text(tui)
        await press(pilot, "down")
        assert "Subject: druga" in detail_text(tui)

    drive(app, scenario, start="quarantine")


def test_release_a_quarantined_message(app: App) -> None:
    """a, then y: the message leaves quarantine, is spooled again marked released by the
    actor, and the release is audited."""
    entry_id = hold(app)
    other = hold(app, no_from("druga"))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await press(pilot, "a")
        body = confirm_text(tui)
        assert body.startswith(f"{RELEASE}.") and entry_id in body and NO_FROM_REASON in body
        await press(pilot, "y")
        assert isinstance(tui.screen, QuarantineScreen)
        assert table_ids(tui) == [other]
        [new_id] = new_entries(app)
        assert f"released {entry_id} as {new_id}" in messages(tui)

    drive(app, scenario, start="quarantine")
    assert app.spool.quarantined_ids() == [other]
    [new_id] = new_entries(app)
    envelope, raw = app.spool.peek(app.spool.new / new_id)
    assert (envelope.released_by, raw) == (ACTOR, no_from())
    [row] = audit_rows(app, "quarantine.released")
    assert (row.actor, row.object_id, row.details) == (ACTOR, entry_id, {"new_id": new_id})


def test_drop_asks_first_n_keeps_and_y_drops(app: App) -> None:
    """x asks; n (and escape) keep the message; y deletes it for good, audited."""
    entry_id = hold(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await press(pilot, "x")
        assert confirm_text(tui).startswith(f"{DROP}.")
        await press(pilot, "n")
        assert isinstance(tui.screen, QuarantineScreen)
        await press(pilot, "x", "escape")
        assert app.spool.quarantined_ids() == [entry_id]
        assert table_ids(tui) == [entry_id]
        await press(pilot, "x", "y")
        assert table_ids(tui) == []
        assert f"dropped {entry_id}" in messages(tui)
        assert "Nothing is held." in detail_text(tui)

    drive(app, scenario, start="quarantine")
    assert app.spool.quarantined_ids() == []
    assert new_entries(app) == []
    [row] = audit_rows(app, "quarantine.dropped")
    assert (row.actor, row.object_id, row.details) == (ACTOR, entry_id, {"reason": NO_FROM_REASON})


def test_release_cancelled_with_n_changes_nothing(app: App) -> None:
    entry_id = hold(app)

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await press(pilot, "a", "n")
        assert table_ids(tui) == [entry_id]

    drive(app, scenario, start="quarantine")
    assert app.spool.quarantined_ids() == [entry_id]
    assert new_entries(app) == []
    assert audit_rows(app, "quarantine.released") == []


def test_shift_r_replays_everything_under_current_rules(app: App) -> None:
    """R, then y: every held message is spooled again without an override, each audited."""
    held_ids = {hold(app), hold(app, no_from("druga"))}

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await press(pilot, "R")
        assert "2 message(s) are held now" in confirm_text(tui)
        await press(pilot, "y")
        assert table_ids(tui) == []
        assert "released 2 message(s) for another run" in messages(tui)

    drive(app, scenario, start="quarantine")
    assert app.spool.quarantined_ids() == []
    rows = audit_rows(app, "quarantine.replayed")
    assert {r.object_id for r in rows} == held_ids
    assert all(app.spool.peek(app.spool.new / n)[0].released_by is None for n in new_entries(app))


def test_a_message_gone_meanwhile_is_a_warning_and_the_list_reloads(app: App) -> None:
    """Releasing a message someone else dropped warns and reloads; the app keeps running."""
    entry_id = hold(app)
    other = hold(app, no_from("druga"))

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        QuarantineService(app.spool, app.sessions, "cli:other").drop(entry_id)  # behind our back
        await press(pilot, "a", "y")
        warnings = [n for n in tui._notifications if n.severity == "warning"]
        assert [n.message for n in warnings] == [f"no quarantined message {entry_id}"]
        assert tui.is_running
        assert table_ids(tui) == [other]
        await press(pilot, "a", "y")
        assert table_ids(tui) == []

    drive(app, scenario, start="quarantine")
    assert len(new_entries(app)) == 1


def test_help_lists_the_screens_keys(app: App) -> None:
    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        await press(pilot, "question_mark")
        assert isinstance(tui.screen, HelpScreen)
        content = tui.screen.query_one("#help-keys", Static).content
        assert isinstance(content, Text)
        for line in ("a  Release", "x  Drop", "R  Replay all", "g  Refresh"):
            assert line in content.plain

    drive(app, scenario, start="quarantine")


def test_a_hostile_header_block_renders_inert(app: App) -> None:
    """Escapes, C1 controls, bidi overrides and markup in the headers and the envelope, 1,500
    header lines and a 60,000-character line are shown as visible markers, cut; a message
    whose 1 MB Subject header passes the 64 KiB the service reads is listed too."""
    block = (
        f"Subject: {HOSTILE}\r\nX-Bidi: {HOSTILE}\r\n".encode()
        + b"".join(b"X-Pad-%04d: \x1b[2Jpad\r\n" % n for n in range(1500))
        + b"X-Long: "
        + b"L" * 30_000
        + b"\r\n\r\n"
        + BODY.encode()
    )
    envelope = Envelope(mail_from=HOSTILE, rcpt_tos=(LOG,), peer="192.0.2.7")
    evil = app.spool.store(block, envelope)
    assert drain(app)["quarantined"] == 1
    big = hold(app, b"Subject: " + b"S" * 1_000_000 + b"\r\n\r\nbody\r\n")
    assert set(app.spool.quarantined_ids()) == {evil, big}

    async def scenario(tui: AdminApp, pilot: Pilot[int]) -> None:
        assert set(table_ids(tui)) == {evil, big}
        await press(pilot, *["down"] * table_ids(tui).index(evil))
        text = detail_text(tui)
        assert "\x1b" not in text and "\u202e" not in text
        assert "Subject: ␛[2J␛[31mRED" in text and "⟨U+202E⟩" in text
        assert "mail from  ␛[2J␛[31mRED" in text
        assert "[bold red]shout[/]" in text
        assert "X-Pad-1499: ␛[2Jpad" in text
        assert "X-Long: " + "L" * 992 + "… (+29,008 chars)" in text  # 1,000 shown
        assert BODY not in text
        assert "␛[2J" in screen_text(tui)
        assert_inert(tui)
        await press(pilot, "a")
        assert "␛[2J" in confirm_text(tui)
        assert_inert(tui)
        await press(pilot, "n")
        await press(pilot, "up" if table_ids(tui).index(big) == 0 else "down")
        assert "(no header block)" in detail_text(tui)
        assert_inert(tui)

    drive(app, scenario, start="quarantine")
