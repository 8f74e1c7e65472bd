"""The review queue screen driven with Textual's Pilot over a real, migrated database: items
are opened with ``questions.ask`` (the pipeline's own call), decisions are checked through
ReviewService afterwards."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from admin_tui.app import AdminApp, run
from admin_tui.screens.help import HelpScreen
from admin_tui.screens.review import MAX_SHOWN, ReviewScreen
from gateway.app import App
from gateway.crm import Deal, Email, questions
from gateway.services.review import ReviewService

HOSTILE = "[bold red]x[/] \x1b]8;;http://evil\x1b\\link \u202e"
ACTOR = "cli:tester"

Scenario = Callable[[AdminApp, Pilot[int]], Awaitable[None]]


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
        for line in ("a  Approve", "x  Reject", "g  Refresh", "?  Help", "1-9  Select a choice"):
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
