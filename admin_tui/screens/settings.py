"""Settings: the never-log lists (added to and removed from here, audited as the actor), the
users and their addresses, the team inboxes, and the matching and privacy settings.

Only the never-log lists live in the database; the rest comes from the config file and is
shown read-only with the file to edit. Secrets (passwords, logging tokens, the hash key)
never reach this screen: the service says only whether one is set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from admin_tui.sanitize import clean, plain
from admin_tui.widgets import ConfirmScreen
from gateway.app import App as GatewayApp
from gateway.services.never_log import NeverLogEntry, NeverLogError, parse_value
from gateway.services.settings import SettingsService, SettingsSnapshot, UserSummary

log = logging.getLogger("bccrm.admin")

TABS = (
    ("settings-never-log", "Never-log"),
    ("settings-users", "Users"),
    ("settings-inboxes", "Team inboxes"),
    ("settings-config", "Matching & privacy"),
)
ORG = "org"  # the never-log scope of the whole organisation


def _yes(value: bool) -> Text:
    return Text("yes" if value else "—")


def _cells(values: Iterable[str]) -> list[Text]:
    return [plain(value) for value in values]


def render_config(snapshot: SettingsSnapshot) -> Text:
    """The read-only settings, with the file to edit."""
    text = Text()
    path = clean(snapshot.config_path) or "the config file"
    text.append("Read-only: ", style="bold")
    text.append(f"edit {path} and restart bccrm to change these.\n", style="bold yellow")
    m, p = snapshot.matching, snapshot.privacy
    _section(text, "matching", [
        ("auto_link", f"{m.auto_link:.2f}", "link a fuzzy match without asking at or above"),
        ("suggest", f"{m.suggest:.2f}", 'ask "same person?" at or above; below, a new contact'),
        ("create_contacts", m.create_contacts, "auto, review (ask first) or never"),
        ("max_participants", str(m.max_participants), "outside people matched per message"),
        ("role_addresses", ", ".join(m.role_addresses), "never become contacts"),
    ])  # fmt: skip
    _section(text, "privacy", [
        ("level", p.level, "mail to the logging addresses"),
        ("log_internal", _word(p.log_internal), "log mail among colleagues only"),
        ("require_legal_basis", _word(p.require_legal_basis), "check outbound mail"),
        ("default_legal_basis", p.default_legal_basis, "proposed for contacts bccrm creates"),
        ("notice_days", str(p.notice_days), "days until the Art. 14 notice is due"),
        ("private_action", p.private_action, "what a private marker does"),
        ("private_subject_tags", ", ".join(p.private_subject_tags), ""),
        ("redact", ", ".join(p.redact), "replaced by [redacted:<kind>]"),
        ("hash_key", "set" if p.hash_key_configured else "generated, kept in the database", ""),
    ])  # fmt: skip
    _section(text, "organization", [("domains", ", ".join(snapshot.organization_domains), "")])
    _section(text, "logging", [("addresses", ", ".join(snapshot.logging_addresses), "")])
    return text


def _word(value: bool) -> str:
    return "true" if value else "false"


def _section(text: Text, name: str, rows: list[tuple[str, str, str]]) -> None:
    text.append(f"\n[{name}]\n", style="bold")
    for key, value, note in rows:
        text.append(f"  {key:<22}")
        text.append((clean(value) or "—").ljust(12))
        if note:
            text.append(f"  {note}", style="dim")
        text.append("\n")


# -- the add modal ------------------------------------------------------------------------------


class NeverLogAddScreen(ModalScreen[tuple[str, str | None] | None]):
    """Ask for an address or ``@domain`` and whose list it goes on (the organisation's or one
    user's); dismissed with (value, user address or None) or None. A value that is neither
    an address nor a domain is refused here, with a warning, and the modal stays open."""

    DEFAULT_CSS = """
    NeverLogAddScreen {
        align: center middle;
    }
    NeverLogAddScreen > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    NeverLogAddScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    NeverLogAddScreen Button {
        margin: 1 0 0 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, users: tuple[UserSummary, ...]) -> None:
        super().__init__()
        self.users = users

    def compose(self) -> ComposeResult:
        options: list[tuple[Text, str]] = [(Text("the whole organisation"), ORG)]
        for user in self.users:
            if user.emails:
                label = f"{clean(user.name, 60)} <{clean(user.emails[0], 120)}>"
                options.append((Text(f"only {label}'s mail"), user.emails[0]))
        with Vertical():
            yield Static(Text("Never log mail from or to", style="bold"))
            yield Input(placeholder="an address, or @domain for a whole domain", id="never-value")
            yield Select(options, value=ORG, allow_blank=False, id="never-scope")
            with Horizontal():
                yield Button("Cancel (esc)", id="never-cancel")
                yield Button("Add", id="never-add", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#never-value", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "never-add":
            self._add()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._add()

    def _add(self) -> None:
        value = self.query_one("#never-value", Input).value.strip()
        try:
            parse_value(value)
        except NeverLogError as exc:
            self.notify(clean(str(exc)), title="Not added", severity="warning")
            return
        scope = self.query_one("#never-scope", Select).value
        self.dismiss((value, None if scope == ORG else str(scope)))

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the screen ---------------------------------------------------------------------------------


class SettingsScreen(Screen[None]):
    """Never-log lists, users, team inboxes, matching and privacy settings, one tab each."""

    TITLE = "Settings"
    DEFAULT_CSS = """
    SettingsScreen TabbedContent {
        height: 1fr;
    }
    SettingsScreen TabPane {
        padding: 0;
    }
    SettingsScreen DataTable {
        height: 1fr;
    }
    SettingsScreen .settings-note {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    SettingsScreen #config-scroll {
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add never-log"),
        Binding("x", "remove", "Remove never-log"),
        Binding("g", "refresh", "Refresh"),
        *(
            Binding(str(number), f"tab('{tab_id}')", "Show a tab", show=False)
            for number, (tab_id, _) in enumerate(TABS, start=1)
        ),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor
        self.service = SettingsService(gateway.sessions, gateway.config, actor)
        self.snapshot: SettingsSnapshot | None = None
        self.busy = False  # a change is being saved

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial=TABS[0][0]):
            with TabPane(f"{TABS[0][1]} (1)", id=TABS[0][0]):
                yield Static(
                    Text("Mail from or to these is never logged.  a adds, x removes."),
                    classes="settings-note",
                )
                yield self._table(
                    "never-log-table",
                    ("scope", 30), ("kind", 8), ("value", 40), ("by", 20), ("at", 16),
                )  # fmt: skip
            with TabPane(f"{TABS[1][1]} (2)", id=TABS[1][0]):
                yield Static(
                    Text("Add users and set passwords with 'bccrm users' on the command line."),
                    classes="settings-note",
                )
                yield self._table(
                    "users-table",
                    ("id", 5), ("name", 28), ("addresses", 50), ("admin", 5),
                    ("password", 8), ("token", 5),
                )  # fmt: skip
            with TabPane(f"{TABS[2][1]} (3)", id=TABS[2][0]):
                yield Static(Text(""), id="inboxes-note", classes="settings-note")
                yield self._table(
                    "inboxes-table",
                    ("address", 28), ("mode", 7), ("owner", 24), ("privacy", 20),
                    ("route", 28), ("require", 14),
                )  # fmt: skip
            with TabPane(f"{TABS[3][1]} (4)", id=TABS[3][0]), VerticalScroll(id="config-scroll"):
                yield Static(Text(""), id="config-text")
        yield Footer()

    @staticmethod
    def _table(table_id: str, *columns: tuple[str, int]) -> DataTable[Text]:
        """A table of fixed-width columns: a 1 MB user name must not push the rest away."""
        table: DataTable[Text] = DataTable(id=table_id, cursor_type="row")
        for column, width in columns:
            table.add_column(column, width=width, key=column)
        return table

    def on_mount(self) -> None:
        self.table("never-log-table").focus()
        self.load()

    def table(self, table_id: str) -> DataTable[Text]:
        return self.query_one(f"#{table_id}", DataTable)

    @property
    def entries(self) -> tuple[NeverLogEntry, ...]:
        return self.snapshot.never_log if self.snapshot is not None else ()

    @property
    def current_entry(self) -> NeverLogEntry | None:
        row = self.table("never-log-table").cursor_row
        entries = self.entries
        return entries[row] if 0 <= row < len(entries) else None

    # -- loading --------------------------------------------------------------------------------

    def load(self) -> None:
        """Read everything again; the first time behind a loading indicator (later, the
        tables keep their rows, and the focus, until the new ones arrive)."""
        if self.snapshot is None:
            self.query_one(TabbedContent).loading = True
        self.sub_title = "loading…"
        self._load()

    @work(thread=True, exclusive=True, group="settings-load")
    def _load(self) -> None:
        try:
            snapshot = self.service.snapshot()
        except Exception as exc:
            log.exception("loading the settings failed")
            self.app.call_from_thread(self._failed, "Loading the settings failed", exc)
            return
        self.app.call_from_thread(self._show, snapshot)

    def _show(self, snapshot: SettingsSnapshot) -> None:
        self.query_one(TabbedContent).loading = False
        if self.focused is None:  # the loading indicator took it
            self.table("never-log-table").focus()
        self.snapshot = snapshot
        self._fill("never-log-table", [
            [e.scope if e.scope == ORG else f"user {e.scope}", e.kind, e.value, e.created_by,
             f"{e.created_at:%Y-%m-%d %H:%M}"]
            for e in snapshot.never_log
        ])  # fmt: skip
        self._fill("users-table", [
            [str(u.id), u.name, ", ".join(u.emails)] for u in snapshot.users
        ], [
            [_yes(u.is_admin), _yes(u.has_password), _yes(u.has_token)] for u in snapshot.users
        ])  # fmt: skip
        self._fill("inboxes-table", [
            [i.address, i.mode, i.owner or "—",
             f"{i.privacy} (from [privacy] level)" if i.privacy_inherited else i.privacy,
             i.route, i.require]
            for i in snapshot.team_inboxes
        ])  # fmt: skip
        where = clean(snapshot.config_path) or "the config file"
        note = "No [[team_inbox]] configured. " if not snapshot.team_inboxes else ""
        self.query_one("#inboxes-note", Static).update(
            Text(f"{note}Read-only: edit {where} and restart bccrm to change.")
        )
        self.query_one("#config-text", Static).update(render_config(snapshot))
        self.sub_title = f"{len(snapshot.never_log)} never-log entries, {len(snapshot.users)} users"

    def _fill(
        self, table_id: str, rows: list[list[str]], extra: list[list[Text]] | None = None
    ) -> None:
        table = self.table(table_id)
        row = table.cursor_row
        table.clear()
        for index, values in enumerate(rows):
            table.add_row(*_cells(values), *(extra[index] if extra else ()))
        if table.row_count:
            table.move_cursor(row=min(max(row, 0), table.row_count - 1))

    def _failed(self, what: str, exc: BaseException) -> None:
        self.query_one(TabbedContent).loading = False
        if self.sub_title == "loading…":
            self.sub_title = "loading failed: g tries again"
        self.busy = False
        severity: SeverityLevel = "warning" if isinstance(exc, ValueError) else "error"
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)

    # -- actions --------------------------------------------------------------------------------

    def action_tab(self, tab_id: str) -> None:
        self.query_one(TabbedContent).active = tab_id
        tables = self.query_one(f"#{tab_id}", TabPane).query(DataTable)
        if tables:
            tables.first().focus()

    def action_refresh(self) -> None:
        self.load()

    def action_add(self) -> None:
        if self._is_busy():
            return
        users = self.snapshot.users if self.snapshot is not None else ()

        def answered(answer: tuple[str, str | None] | None) -> None:
            if answer is not None:
                self.busy = True
                self._add(*answer)

        self.app.push_screen(NeverLogAddScreen(users), answered)

    @work(thread=True, group="settings-change")
    def _add(self, value: str, user: str | None) -> None:
        try:
            entry, created = self.service.add_never_log(value, user)
        except Exception as exc:
            if not isinstance(exc, ValueError):
                log.exception("adding a never-log entry failed")
            self.app.call_from_thread(self._failed, "Not added", exc)
            return
        said = "added to" if created else "already on"
        self.app.call_from_thread(self._changed, f"{entry.value} {said} {self._list(entry)}")

    def action_remove(self) -> None:
        if self._is_busy():
            return
        tabs = self.query_one(TabbedContent)
        if tabs.active != TABS[0][0]:
            tabs.active = TABS[0][0]
            self.notify("x removes the highlighted never-log entry: choose one here")
            return
        entry = self.current_entry
        if entry is None:
            self.notify("the never-log lists are empty", severity="warning")
            return
        body = Text()
        body.append(clean(entry.value), style="bold")
        body.append(f" ({clean(entry.kind)}) comes off {clean(self._list(entry))}.\n\n")
        body.append("Mail from and to it will be logged again.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.busy = True
                self._remove(entry)

        self.app.push_screen(ConfirmScreen("Remove never-log entry?", body, "Remove"), answered)

    @work(thread=True, group="settings-change")
    def _remove(self, entry: NeverLogEntry) -> None:
        try:
            removed = self.service.remove_never_log(entry.value, entry.scope)
        except Exception as exc:
            if not isinstance(exc, ValueError):
                log.exception("removing never-log entry %s failed", entry.id)
            self.app.call_from_thread(self._failed, "Not removed", exc)
            return
        said = "removed from" if removed else "was already gone from"
        self.app.call_from_thread(self._changed, f"{entry.value} {said} {self._list(entry)}")

    def _changed(self, message: str) -> None:
        self.busy = False
        self.notify(clean(message))
        self.load()

    def _is_busy(self) -> bool:
        if self.busy:
            self.notify("a change is still being saved", severity="warning")
        return self.busy

    @staticmethod
    def _list(entry: NeverLogEntry) -> str:
        return "the organisation's list" if entry.scope == ORG else f"{entry.scope}'s list"
