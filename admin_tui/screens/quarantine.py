"""Held mail: the messages the worker quarantined, why each was held, and releasing (another
run) or dropping them, each after a confirmation that says what will happen.

The screen shows the envelope, the reason and the header block, never the body (the service
does not read it). Headers are hostile text: every value passes through
:mod:`admin_tui.sanitize` and is shown as ``rich.text.Text``. Spool and database work runs in
thread workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from admin_tui.sanitize import clean, clean_block, plain
from admin_tui.widgets import ConfirmScreen
from gateway.app import App as GatewayApp
from gateway.services.quarantine import (
    QuarantinedMessage,
    QuarantinedMessageDetail,
    QuarantineError,
    QuarantineService,
)

log = logging.getLogger("bccrm.admin")

RELEASE = "release: the message is spooled again and logged without the check that held it"
DROP = "drop: deleted for good"
REPLAY = (
    "replay: every held message is spooled again and judged by the current rules, without "
    "an admin's override; what still breaks a rule is held again"
)


def when(moment: datetime | None) -> str:
    """A stored UTC time in the admin's local time; "-" for none."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def sender(message: QuarantinedMessage) -> Text:
    """The From header's address(es); without one, the envelope sender, marked as such."""
    if message.from_address:
        return plain(message.from_address)
    return Text(f"(env) {clean(message.mail_from) or '(none)'}", style="dim")


def summary(message: QuarantinedMessage) -> Text:
    """The message in a few lines, for the confirmations."""
    text = Text()
    _field(text, "id", clean(message.id))
    _field(text, "from", clean(message.from_address) or "(no From header)")
    _field(text, "mail from", clean(message.mail_from) or "(none)")
    _field(text, "subject", clean(message.subject) or "(no subject)")
    _field(text, "held for", clean(message.reason))
    return text


def render_detail(message: QuarantinedMessageDetail | None) -> Text:
    """The detail pane: why the message was held, its envelope and its header block."""
    text = Text()
    if message is None:
        text.append("Nothing is held.", style="dim")
        return text
    text.append(f"Held since {when(message.quarantined_at)}", style="bold")
    text.append(f"  ({message.attempts} attempt(s), entry {clean(message.id)})\n")
    text.append("Why: ", style="bold")
    text.append(clean(message.reason))
    text.append("\n\nEnvelope\n", style="bold")
    _field(text, "mail from", clean(message.mail_from) or "(none)")
    _field(text, "rcpt to", ", ".join(clean(rcpt) for rcpt in message.rcpt_tos) or "(none)")
    _field(text, "peer", clean(message.peer) or "-")
    _field(text, "transport", clean(message.transport) or "-")
    _field(text, "received", when(message.received_at))
    _field(text, "size", size_text(message.size))
    text.append("\nHeaders (the body is never shown)\n", style="bold")
    text.append(clean_block(message.headers) or "(no header block)")
    return text


def _field(text: Text, label: str, value: str) -> None:
    text.append(f"  {label:<10} ", style="bold")
    text.append(value)
    text.append("\n")


class QuarantineScreen(Screen[None]):
    """Held messages in a table, the highlighted one in detail below."""

    TITLE = "Held"
    AUTO_FOCUS = "#held-table"
    DEFAULT_CSS = """
    QuarantineScreen #held-table {
        height: 1fr;
        min-height: 5;
    }
    QuarantineScreen #held-detail-scroll {
        height: 2fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "release", "Release"),
        Binding("x", "drop", "Drop"),
        Binding("R", "replay", "Replay all", key_display="R"),
        Binding("g", "refresh", "Refresh"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.service = QuarantineService(gateway.spool, gateway.sessions, actor)
        self.messages: list[QuarantinedMessage] = []
        self.busy = False  # a release, drop or replay is running
        self.detail_of: str | None = None  # the entry shown (or being read) in the detail pane

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="held-table", cursor_type="row")
        with VerticalScroll(id="held-detail-scroll"):
            yield Static(render_detail(None), id="held-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        table.add_column("held since", key="since")
        table.add_column("reason", key="reason", width=28)
        table.add_column("from", key="from", width=22)
        table.add_column("subject", key="subject", width=24)
        table.add_column("size", key="size")
        table.add_column("tries", key="attempts")
        self.load()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#held-table", DataTable)

    @property
    def current(self) -> QuarantinedMessage | None:
        row = self.table.cursor_row
        return self.messages[row] if 0 <= row < len(self.messages) else None

    # -- loading --------------------------------------------------------------------------------

    def load(self, row: int | None = None) -> None:
        """Reload the held messages; then highlight ``row`` (clamped) or the same message."""
        current = self.current
        self.table.loading = True
        self._load(row, current.id if current is not None else None)

    @work(thread=True, exclusive=True, group="held-load")
    def _load(self, row: int | None, entry_id: str | None) -> None:
        try:
            messages = self.service.list()
        except Exception as exc:  # the spool is unreadable: tell, never crash
            log.exception("listing the quarantine failed")
            self.app.call_from_thread(self._failed, "Listing held mail failed", exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_messages, messages, row, entry_id)

    def _show_messages(
        self, messages: list[QuarantinedMessage], row: int | None, entry_id: str | None
    ) -> None:
        self.messages = messages
        self.detail_of = None  # read again: the entry may have changed
        table = self.table
        table.loading = False
        table.clear()
        for message in messages:
            table.add_row(
                Text(when(message.quarantined_at)),
                plain(message.reason),
                sender(message),
                plain(message.subject or "(no subject)"),
                Text(size_text(message.size), justify="right"),
                Text(str(message.attempts), justify="right"),
                key=message.id,
            )
        if row is None:
            ids = [message.id for message in messages]
            row = ids.index(entry_id) if entry_id in ids else 0
        target = min(row, len(messages) - 1)
        if target >= 0:
            table.move_cursor(row=target)
        self.sub_title = f"{len(messages)} held"
        self._load_detail()

    def _load_detail(self) -> None:
        """Show the highlighted entry's detail; it is read once per highlight, not once per
        event (a reload highlights the same row several times)."""
        message = self.current
        if message is None:
            self.detail_of = None
            self.query_one("#held-detail", Static).update(render_detail(None))
            return
        if message.id != self.detail_of:
            self.detail_of = message.id
            self._fetch_detail(message.id)

    @work(thread=True, exclusive=True, group="held-detail")
    def _fetch_detail(self, entry_id: str) -> None:
        try:
            text = render_detail(self.service.show(entry_id))  # sanitising 64 KiB: off the loop
        except QuarantineError as exc:
            text = Text(clean(str(exc)) + " (released or dropped meanwhile; g reloads)")
        except Exception:
            log.exception("reading quarantined message %s failed", entry_id)
            text = Text(f"reading {clean(entry_id)} failed; see the log", style="bold red")
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_detail, entry_id, text)

    def _show_detail(self, entry_id: str, text: Text) -> None:
        current = self.current
        if current is not None and current.id == entry_id:
            self.query_one("#held-detail", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._load_detail()

    def _failed(self, what: str, exc: BaseException) -> None:
        self.table.loading = False
        self.busy = False
        severity: SeverityLevel = "warning" if isinstance(exc, QuarantineError) else "error"
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)

    # -- actions --------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.load()

    def action_release(self) -> None:
        self._confirm("Release this message?", RELEASE, "Release", self._release)

    def action_drop(self) -> None:
        self._confirm("Drop this message?", DROP, "Drop", self._drop)

    def action_replay(self) -> None:
        if not self.messages or self._is_busy():
            return
        body = Text(f"{REPLAY}.\n\n{len(self.messages)} message(s) are held now.")
        row = self.table.cursor_row
        self.app.push_screen(
            ConfirmScreen("Replay all held messages?", body, "Replay"),
            lambda yes: self._start(yes, partial(self._replay, row)),
        )

    def _confirm(
        self, title: str, what: str, yes: str, run: Callable[[QuarantinedMessage, int], object]
    ) -> None:
        message = self.current
        if message is None or self._is_busy():
            return
        body = Text(f"{what}.\n\n")
        body.append_text(summary(message))
        row = self.table.cursor_row
        self.app.push_screen(
            ConfirmScreen(title, body, yes),
            lambda answer: self._start(answer, partial(run, message, row)),
        )

    def _start(self, confirmed: bool | None, run: Callable[[], object]) -> None:
        if confirmed and not self._is_busy():
            self.busy = True
            run()

    def _is_busy(self) -> bool:
        if self.busy:
            self.notify("a change to the quarantine is still running", severity="warning")
        return self.busy

    @work(thread=True, group="held-change")
    def _release(self, message: QuarantinedMessage, row: int) -> None:
        self._change(
            f"Cannot release {message.id}",
            lambda: f"released {message.id} as {self.service.release(message.id)}",
            row,
        )

    @work(thread=True, group="held-change")
    def _drop(self, message: QuarantinedMessage, row: int) -> None:
        def drop() -> str:
            self.service.drop(message.id)
            return f"dropped {message.id}"

        self._change(f"Cannot drop {message.id}", drop, row)

    @work(thread=True, group="held-change")
    def _replay(self, row: int) -> None:
        self._change(
            "Replay failed",
            lambda: f"released {len(self.service.replay())} message(s) for another run",
            row,
        )

    def _change(self, what: str, change: Callable[[], str], row: int) -> None:
        """Run ``change`` (in a worker), tell what it did or why not, and reload."""
        try:
            done = change()
        except Exception as exc:
            if not isinstance(exc, QuarantineError):
                log.exception("%s", what)
            self.app.call_from_thread(self._failed, what, exc)
        else:
            self.app.call_from_thread(self._changed, done)
        self.app.call_from_thread(self.load, row)

    def _changed(self, done: str) -> None:
        self.busy = False
        self.notify(clean(done))
