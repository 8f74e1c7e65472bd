"""The email log: every logged email, newest first, searched as you type, with one email in
detail below and the fixes an admin makes (move, mark private, delete).

The list is read a page (100 emails) at a time: the first page when the filter changes,
the next one, in a worker, when the cursor nears the last loaded row; so 100,000 emails cost
what 100 do. The search box takes free text (subject, author's name or address) and
``key:value`` words: ``rep:ann@x.pl`` (emails that user logged), ``contact:12``,
``since:2026-11-01``, ``until:2026-11-30``, ``dir:in|out|internal`` and ``status:`` one of
:data:`gateway.services.emails.STATUSES` (the Direction and Status selects set the last two;
words typed win). Everything shown that comes from email passes through
:mod:`admin_tui.sanitize` and is a ``rich.text.Text``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from admin_tui.sanitize import clean, clean_block
from admin_tui.widgets import ConfirmScreen
from gateway.app import App as GatewayApp
from gateway.services.emails import (
    COUNT_CAP,
    MOVE_KINDS,
    STATUSES,
    EmailDetail,
    EmailFilter,
    EmailLogError,
    EmailLogService,
    EmailPage,
    EmailRow,
    PageCursor,
    Target,
    parse_query,
)

log = logging.getLogger("bccrm.admin")

DEBOUNCE = 0.3  # seconds of quiet typing before the list is searched again
NEAR_END = 5  # rows before the last loaded one at which the next page is fetched
ANY = "any"
DIRECTION_OPTIONS = [("Any direction", ANY), ("Inbound", "inbound"), ("Outbound", "outbound"),
                     ("Internal", "internal")]  # fmt: skip
STATUS_OPTIONS = [("Any status", ANY), *((name.capitalize(), name) for name in STATUSES)]
COLUMNS = (  # key, label, width: 104 cells and the cells' padding fit 120 columns
    ("time", "time (UTC)", 16),
    ("dir", "dir", 3),
    ("from", "from", 20),
    ("subject", "subject", 28),
    ("contacts", "contacts", 14),
    ("records", "deal/ticket", 12),
    ("status", "status", 11),
)
DIRECTION_MARKS = {"inbound": "in", "outbound": "out", "internal": "int"}
SEARCH_HELP = "Search… or rep:ann@x.pl contact:12 since:2026-11-01 dir:in status:linked"


# -- rendering --------------------------------------------------------------------------------


def row_cells(row: EmailRow) -> list[Text]:
    """The table's cells for ``row``; every value sanitised, every cell a ``Text``."""
    sender = clean(row.from_name)
    sender = f"{sender} <{clean(row.from_email)}>" if sender else clean(row.from_email)
    subject = clean(row.subject)
    if row.subject_length > len(row.subject):
        subject += f"… (+{row.subject_length - len(row.subject):,} chars)"
    contacts = ", ".join(clean(name) for name in row.contacts)
    if row.more_contacts:
        contacts += f" +{row.more_contacts}"
    records = [f"deal {clean(name)}" for name in row.deals]
    records += [f"ticket {clean(label)}" for label in row.tickets]
    values = (
        row.received_at.strftime("%Y-%m-%d %H:%M"),
        DIRECTION_MARKS.get(row.direction, clean(row.direction)),
        sender,
        subject or "(no subject)",
        contacts,
        "; ".join(records),
        " ".join(row.status),
    )
    return [Text(value, no_wrap=True, overflow="ellipsis") for value in values]


def render_detail(detail: EmailDetail | None, note: str = "") -> Text:
    """The detail pane: headers (display name and address on their own lines), the
    verification verdict, privacy, links with reason and confidence, attachments and the
    reply text. Values from email are sanitised; nothing is markup."""
    text = Text()
    if detail is None:
        text.append(note or "No email selected.", style="dim")
        return text
    text.append(f"#{detail.id} ", style="bold")
    text.append(clean(detail.subject) or "(no subject)", style="bold")
    text.append("\n\n")
    _headers(text, detail)
    _people(text, detail)
    _verification(text, detail.auth)
    _privacy(text, detail)
    _links(text, detail)
    _attachments(text, detail)
    _section(text, f"Reply text ({detail.body_length:,} characters of body stored)")
    text.append(clean_block(detail.reply_text) or "(none)")
    text.append("\n")
    return text


def _field(text: Text, label: str, value: str) -> None:
    text.append(f"{label}: ", style="bold")
    text.append(value)
    text.append("\n")


def _section(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def _headers(text: Text, detail: EmailDetail) -> None:
    _field(text, "From name", clean(detail.from_name) or "(none)")
    _field(text, "From address", clean(detail.from_email))
    if detail.forwarded_by_email:
        _field(text, "Forwarded by name", clean(detail.forwarded_by_name) or "(none)")
        _field(text, "Forwarded by address", clean(detail.forwarded_by_email))
    _field(text, "Received", detail.received_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    if detail.sent_at is not None:
        _field(text, "Sent", detail.sent_at.strftime("%Y-%m-%d %H:%M:%S UTC"))
    _field(text, "Direction", clean(detail.direction))
    _field(text, "Message-ID", clean(detail.message_id))
    _field(text, "Size", f"{detail.size:,} bytes" + (f", {clean(detail.language)}"
                                                     if detail.language else ""))  # fmt: skip
    _field(text, "Status", " ".join(detail.status))
    if detail.open_reviews:
        items = ", ".join(f"#{item_id} {clean(kind)}" for item_id, kind in detail.open_reviews)
        _field(text, "Open review questions", items)


def _people(text: Text, detail: EmailDetail) -> None:
    _section(text, "People")
    for person in detail.participants:
        text.append(f"  {clean(person.role):<4} ", style="bold")
        text.append("name: ", style="dim")
        text.append(clean(person.name) or "(none)")
        text.append("  address: ", style="dim")
        text.append(clean(person.email))
        text.append("\n       ")
        contact = f"contact {person.contact_id}" if person.contact_id else "no contact"
        confidence = f" {person.confidence:.2f}" if person.confidence is not None else ""
        text.append(f"{contact}, {clean(person.outcome) or 'not matched'}{confidence}")
        if person.reason:
            text.append(f" — {clean(person.reason)}")
        text.append("\n")
    if not detail.participants:
        text.append("  (none stored)\n", style="dim")
    for logger in detail.loggers:
        when = logger.logged_at.strftime("%Y-%m-%d %H:%M")
        text.append("  logged by ", style="bold")
        text.append(f"{clean(logger.name)} <{clean(logger.email)}> at {when}\n")


def _verification(text: Text, auth: dict[str, Any]) -> None:
    _section(text, "Verification")
    if not auth:
        text.append("  (no verdict recorded)\n", style="dim")
    for key, value in auth.items():
        _field(text, f"  {clean(key)}", _flat(value))


def _flat(value: object) -> str:
    """A verdict value on one line: dicts as ``k=v``, lists joined."""
    if isinstance(value, dict):
        return ", ".join(f"{clean(k)}={_flat(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_flat(v) for v in value)
    return clean(value)


def _privacy(text: Text, detail: EmailDetail) -> None:
    _section(text, f"Privacy: {clean(detail.privacy_level)}")
    hits = [rule for rule in detail.privacy_rules if rule.hit]
    for rule in hits:
        action = f" → {clean(rule.action)}" if rule.action else ""
        text.append(f"  rule hit: {clean(rule.rule)}{action}\n")
    missed = len(detail.privacy_rules) - len(hits)
    if detail.privacy_rules:
        text.append(f"  {missed} rule(s) checked without a hit\n", style="dim")
    if detail.redactions:
        found = ", ".join(f"{clean(kind)} {count}" for kind, count in detail.redactions.items())
        _field(text, "  redactions", found)
    if detail.excluded:
        _field(text, "  people left out", str(detail.excluded))
    if detail.marked_private_by:
        _field(text, "  marked private by", clean(detail.marked_private_by))


def _links(text: Text, detail: EmailDetail) -> None:
    _section(text, "Links")
    for link in detail.associations:
        text.append(f"  {clean(link.kind):<8}", style="bold")
        text.append(f"{clean(link.label) or link.target_id} ({link.kind} {link.target_id})")
        text.append(f"  {link.confidence:.2f}  ")
        text.append(clean(link.reason), style="italic")
        text.append("\n")
    if not detail.associations:
        text.append("  (none)\n", style="dim")


def _attachments(text: Text, detail: EmailDetail) -> None:
    if not detail.attachments:
        return
    _section(text, "Attachments")
    for attachment in detail.attachments:
        name = clean(attachment.filename) or "(name not kept)"
        text.append(f"  {name}  {clean(attachment.content_type)}  {attachment.size:,} bytes\n")


# -- the move dialog ------------------------------------------------------------------------


def _line(value: str) -> Text:
    """An already sanitised label kept to one line."""
    return Text(value, no_wrap=True, overflow="ellipsis")


@dataclass(frozen=True)
class MoveChoice:
    kind: str
    to_id: int
    from_id: int | None


class MoveScreen(ModalScreen[MoveChoice | None]):
    """Where to move an email: the kind, a search for the target (enter picks the
    highlighted one) and, when the email is on several records of the kind, which to
    replace. Escape cancels."""

    DEFAULT_CSS = """
    MoveScreen {
        align: center middle;
    }
    MoveScreen > Vertical {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    MoveScreen Horizontal {
        height: auto;
    }
    MoveScreen #move-kind, MoveScreen #move-from {
        width: 1fr;
    }
    MoveScreen #move-targets {
        height: 12;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "next_target", "Next match", show=False),
        Binding("up", "previous_target", "Previous match", show=False),
    ]

    def __init__(self, service: EmailLogService, detail: EmailDetail) -> None:
        super().__init__()
        self.service = service
        self.detail = detail
        self.targets: list[Target] = []
        self.shown_for: tuple[str, str] | None = None  # (kind, query) of the shown matches
        self.pick_when_shown = False  # enter came before the matches of what was typed
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            title = f"Move email #{self.detail.id} to another contact, deal or ticket"
            yield Static(Text(title, style="bold"))
            with Horizontal():
                kinds = [(kind.capitalize(), kind) for kind in MOVE_KINDS]
                yield Select(kinds, value="contact", allow_blank=False, id="move-kind")
                yield Select(self._current("contact"), allow_blank=False, id="move-from")
            yield Input(placeholder="name, address or number", id="move-query")
            yield OptionList(id="move-targets")
            yield Static(Text("enter picks, escape cancels", style="dim"), id="move-help")

    def on_mount(self) -> None:
        self._update_from()
        self.query_one("#move-query", Input).focus()
        self.search()

    def _current(self, kind: str) -> list[tuple[Text, int]]:
        """The email's links of ``kind``: the one to replace is chosen among them."""
        found = [
            (_line(f"instead of {clean(link.label) or link.target_id}"), link.target_id)
            for link in self.detail.associations
            if link.kind == kind
        ]
        return found or [(_line(f"(on no {kind}: a link is added)"), 0)]

    def _update_from(self) -> None:
        choice = self.query_one("#move-from", Select)
        choice.set_options(self._current(self.kind))
        choice.disabled = len(self._current(self.kind)) < 2  # nothing to choose

    @property
    def kind(self) -> str:
        value = self.query_one("#move-kind", Select).value
        return value if isinstance(value, str) else "contact"

    @on(Select.Changed, "#move-kind")
    def _kind_changed(self) -> None:
        self._update_from()
        self.search()

    @on(Input.Changed, "#move-query")
    def _query_changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.search)

    @property
    def wanted(self) -> tuple[str, str]:
        return self.kind, self.query_one("#move-query", Input).value

    def search(self) -> None:
        self._search(*self.wanted)

    @work(thread=True, exclusive=True, group="email-move-targets")
    def _search(self, kind: str, query: str) -> None:
        try:
            targets = self.service.targets(kind, query)
        except Exception as exc:
            expected = isinstance(exc, EmailLogError)
            if not expected:
                log.exception("searching move targets failed")
            self.app.call_from_thread(
                self.notify, clean(str(exc)), severity="warning" if expected else "error"
            )
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_targets, (kind, query), targets)

    def _show_targets(self, searched: tuple[str, str], targets: list[Target]) -> None:
        if searched != self.wanted:  # typing went on: a newer search is coming
            return
        self.targets, self.shown_for = targets, searched
        options = self.query_one("#move-targets", OptionList)
        options.clear_options()
        kind = searched[0]
        options.add_options(
            [Option(_line(f"{kind} {t.id}: {clean(t.label)}"), id=str(t.id)) for t in targets]
        )
        if targets:
            options.highlighted = 0
        if self.pick_when_shown:
            self.pick_when_shown = False
            self._submitted()

    def action_next_target(self) -> None:
        self.query_one("#move-targets", OptionList).action_cursor_down()

    def action_previous_target(self) -> None:
        self.query_one("#move-targets", OptionList).action_cursor_up()

    @on(Input.Submitted, "#move-query")
    def _submitted(self) -> None:
        if self.shown_for != self.wanted:  # never pick from the matches of an older query
            if self._debounce is not None:
                self._debounce.stop()
            self.pick_when_shown = True
            self.search()
            return
        highlighted = self.query_one("#move-targets", OptionList).highlighted
        if highlighted is None or not 0 <= highlighted < len(self.targets):
            self.notify("no match to move the email to", severity="warning")
            return
        self._pick(self.targets[highlighted].id)

    @on(OptionList.OptionSelected, "#move-targets")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(int(event.option.id or 0))

    def _pick(self, to_id: int) -> None:
        replaced = self.query_one("#move-from", Select).value
        from_id = replaced if isinstance(replaced, int) and replaced else None
        self.dismiss(MoveChoice(self.kind, to_id, from_id))

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the screen -----------------------------------------------------------------------------


class EmailLogScreen(Screen[None]):
    """Logged emails in a table, filtered as the admin types; the highlighted one below."""

    TITLE = "Emails"
    AUTO_FOCUS = "#email-table"  # not the search box: the keys work from the start
    DEFAULT_CSS = """
    EmailLogScreen #email-filters {
        height: auto;
    }
    EmailLogScreen #email-search {
        width: 1fr;
    }
    EmailLogScreen #email-search.-invalid {
        border: tall $error;
    }
    EmailLogScreen #email-direction, EmailLogScreen #email-status {
        width: 22;
    }
    EmailLogScreen #email-table {
        height: 1fr;
        min-height: 5;
    }
    EmailLogScreen #email-detail-scroll {
        height: 1fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    EmailLogScreen #email-detail-scroll:focus {
        border-top: thick $accent;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/"),
        Binding("escape", "back", "Back to the table"),
        Binding("enter", "toggle_detail", "Detail"),
        Binding("m", "move", "Move"),
        Binding("p", "mark_private", "Mark private"),
        Binding("x", "delete", "Delete"),
        Binding("i", "cycle('direction')", "Direction"),
        Binding("t", "cycle('status')", "Status"),
        Binding("g", "refresh", "Refresh"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor
        self.service = EmailLogService(gateway.sessions, gateway.config, actor)
        self.rows: list[EmailRow] = []
        self.filter = EmailFilter()
        self.next_cursor: PageCursor | None = None
        self.generation = 0  # bumped by every reload: late results of older ones are dropped
        self.fetching = False  # the next page is being read
        self.total: int | None = None
        self.shown_id: int | None = None  # the email the detail pane shows (or loads)
        self.detail: EmailDetail | None = None
        self.busy = False  # an action is being saved
        self._debounce: Timer | None = None
        self.filter_error = ""  # why the search box is not a filter ("" when it is)

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="email-filters"):
            yield Input(placeholder=SEARCH_HELP, id="email-search")
            yield Select(DIRECTION_OPTIONS, value=ANY, allow_blank=False, id="email-direction")
            yield Select(STATUS_OPTIONS, value=ANY, allow_blank=False, id="email-status")
        table: DataTable[Text] = DataTable(id="email-table", cursor_type="row")
        yield table
        with VerticalScroll(id="email-detail-scroll"):
            yield Static(render_detail(None), id="email-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        for key, label, width in COLUMNS:
            table.add_column(label, width=width, key=key)
        self.watch(table, "scroll_y", self._scrolled, init=False)
        self.reload()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#email-table", DataTable)

    @property
    def search_box(self) -> Input:
        return self.query_one("#email-search", Input)

    @property
    def current(self) -> EmailRow | None:
        row = self.table.cursor_row
        return self.rows[row] if self.rows and 0 <= row < len(self.rows) else None

    # -- the filter ------------------------------------------------------------------------------

    def _read_filter(self) -> EmailFilter | None:
        """The filter the search box and the selects describe; None (and the error shown)
        when the box holds something that is not one."""
        base: dict[str, Any] = {}
        for name, select_id in (("direction", "#email-direction"), ("status", "#email-status")):
            value = self.query_one(select_id, Select).value
            if isinstance(value, str) and value != ANY:
                base[name] = value
        try:
            found = parse_query(self.search_box.value, **base)
        except EmailLogError as exc:
            self.search_box.add_class("-invalid")
            self.filter_error = self.sub_title = clean(str(exc))
            return None
        self.search_box.remove_class("-invalid")
        self.filter_error = ""
        return found

    @on(Input.Changed, "#email-search")
    def _search_changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.reload)

    @on(Input.Submitted, "#email-search")
    def _search_submitted(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        if self._read_filter() is None:
            self.notify(self.filter_error, title="Not a filter", severity="warning")
            return
        self.reload()
        self.table.focus()

    @on(Select.Changed, "#email-direction")
    @on(Select.Changed, "#email-status")
    def _select_changed(self) -> None:
        # A select also reports its first value when it is mounted: nothing changed then.
        if self.generation and self._read_filter() == self.filter:
            return
        self.reload()

    def action_cycle(self, which: str) -> None:
        """Step the direction or status select to its next value."""
        select: Select[str] = self.query_one(f"#email-{which}", Select)
        options = DIRECTION_OPTIONS if which == "direction" else STATUS_OPTIONS
        values = [value for _, value in options]
        current = select.value if select.value in values else ANY
        select.value = values[(values.index(str(current)) + 1) % len(values)]

    # -- loading ---------------------------------------------------------------------------------

    def reload(self, keep: int | None = None) -> None:
        """Read the first page of the current filter again (and its count); then highlight
        email ``keep`` if it is on that page."""
        found = self._read_filter()
        if found is None:
            return
        self.filter = found
        self.generation += 1
        self.fetching = False
        self.table.loading = True
        self.sub_title = "loading…"
        self._load_first(found, self.generation, keep)
        self._count(found, self.generation)

    @work(thread=True, exclusive=True, group="email-load")
    def _load_first(self, where: EmailFilter, generation: int, keep: int | None) -> None:
        try:
            page = self.service.page(where)
        except Exception as exc:
            self._report(exc, "Loading the email log failed")
            self.app.call_from_thread(self._loaded_nothing, generation)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_first, page, generation, keep)

    def _loaded_nothing(self, generation: int) -> None:
        if generation == self.generation:
            self.table.loading = False
            self.fetching = False

    def _show_first(self, page: EmailPage, generation: int, keep: int | None) -> None:
        if generation != self.generation:
            return
        table = self.table
        table.loading = False
        table.clear()
        self.rows = []
        self.shown_id = None
        self._append(page)
        row = next((i for i, r in enumerate(self.rows) if r.id == keep), 0)
        if self.rows:
            table.move_cursor(row=row)
        self._update_detail()
        self._update_sub_title()

    def _append(self, page: EmailPage) -> None:
        table = self.table
        for row in page.rows:
            table.add_row(*row_cells(row), key=str(row.id))
        self.rows.extend(page.rows)
        self.next_cursor = page.next_cursor

    @work(thread=True, exclusive=True, group="email-count")
    def _count(self, where: EmailFilter, generation: int) -> None:
        try:
            total = self.service.count(where)
        except Exception as exc:
            self._report(exc, "Counting emails failed")
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_count, total, generation)

    def _show_count(self, total: int, generation: int) -> None:
        if generation == self.generation:
            self.total = total
            self._update_sub_title()

    def _update_sub_title(self) -> None:
        if self.total is None:
            shown = f"{len(self.rows):,} shown"
        elif self.total > COUNT_CAP and not self.filter.is_empty:
            shown = f"{COUNT_CAP:,}+ emails"
        else:
            shown = f"{self.total:,} email" + ("" if self.total == 1 else "s")
        if self.fetching:
            shown += " — loading more…"
        self.sub_title = shown

    def _scrolled(self) -> None:
        """Scrolled with the mouse wheel or the scroll bar: near the end, the next page."""
        table = self.table
        if table.scroll_y >= table.max_scroll_y - NEAR_END:
            self._fetch_more(anyway=True)

    def _fetch_more(self, anyway: bool = False) -> None:
        """The next page, when the cursor is near the end of what is loaded (or ``anyway``)."""
        table = self.table
        if self.fetching or self.next_cursor is None or table.loading:
            return
        if not anyway and table.cursor_row < len(self.rows) - NEAR_END:
            return
        self.fetching = True
        self._update_sub_title()
        self._load_more(self.filter, self.next_cursor, self.generation)

    @work(thread=True, exclusive=True, group="email-more")
    def _load_more(self, where: EmailFilter, after: PageCursor, generation: int) -> None:
        try:
            page = self.service.page(where, after=after)
        except Exception as exc:
            self._report(exc, "Loading more emails failed")
            self.app.call_from_thread(self._loaded_nothing, generation)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_more, page, after, generation)

    def _show_more(self, page: EmailPage, after: PageCursor, generation: int) -> None:
        if generation != self.generation or after != self.next_cursor:
            return
        self.fetching = False
        self._append(page)
        self._update_sub_title()
        self._fetch_more()  # the cursor may have reached the new end already

    # -- the detail pane -------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_detail()
        self._fetch_more()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_toggle_detail()

    def _update_detail(self, force: bool = False) -> None:
        row = self.current
        if row is None:
            self.shown_id, self.detail = None, None
            self.query_one("#email-detail", Static).update(render_detail(None, "No emails."))
            return
        if row.id == self.shown_id and not force:
            return
        self.shown_id = row.id
        self.query_one("#email-detail", Static).update(
            render_detail(None, f"Loading email #{row.id}…")
        )
        self._load_detail(row.id)

    @work(thread=True, exclusive=True, group="email-detail")
    def _load_detail(self, email_id: int) -> None:
        try:
            detail = self.service.detail(email_id)
        except Exception as exc:
            self._report(exc, f"Loading email {email_id} failed")
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_detail, detail)

    def _show_detail(self, detail: EmailDetail) -> None:
        if detail.id != self.shown_id:
            return
        self.detail = detail
        self.query_one("#email-detail", Static).update(render_detail(detail))

    # -- navigation ------------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.search_box.focus()

    def action_back(self) -> None:
        self.table.focus()

    def action_toggle_detail(self) -> None:
        scroll = self.query_one("#email-detail-scroll", VerticalScroll)
        if scroll.has_focus:
            self.table.focus()
        else:
            scroll.focus()

    def action_refresh(self) -> None:
        current = self.current
        self.reload(keep=current.id if current else None)

    # -- actions ---------------------------------------------------------------------------------

    def _target(self) -> EmailDetail | None:
        """The email an action applies to: the highlighted one, once its detail is here."""
        if self.busy:
            self.notify("an action is still being saved", severity="warning")
            return None
        row = self.current
        if row is None:
            return None
        if self.detail is None or self.detail.id != row.id:
            self.notify("the email is still loading", severity="warning")
            return None
        return self.detail

    def action_move(self) -> None:
        detail = self._target()
        if detail is None:
            return

        def chosen(choice: MoveChoice | None) -> None:
            if choice is not None:
                self._start("move", detail.id, choice)

        self.app.push_screen(MoveScreen(self.service, detail), chosen)

    def action_mark_private(self) -> None:
        detail = self._target()
        if detail is None:
            return
        body = Text()
        body.append(clean(detail.subject) or "(no subject)", style="bold")
        body.append(
            "\n\nThe body, the reply text and the attachment names are deleted for good; the "
            "subject, the people, the dates and the links stay."
        )
        self._confirm(
            detail.id, f"Mark email #{detail.id} private?", body, "Mark private", "private"
        )

    def action_delete(self) -> None:
        detail = self._target()
        if detail is None:
            return
        body = Text()
        body.append(clean(detail.subject) or "(no subject)", style="bold")
        body.append(f"\nfrom {clean(detail.from_email)}")
        body.append(
            "\n\nThe email, its people, links and review questions are deleted for good. "
            "Contacts, deals and tickets stay."
        )
        self._confirm(detail.id, f"Delete email #{detail.id}?", body, "Delete", "delete")

    def _confirm(self, email_id: int, title: str, body: Text, yes: str, verb: str) -> None:
        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._start(verb, email_id, None)

        self.app.push_screen(ConfirmScreen(title, body, yes=yes), answered)

    def _start(self, verb: str, email_id: int, choice: MoveChoice | None) -> None:
        self.busy = True
        self._act(verb, email_id, choice)

    @work(thread=True, group="email-act")
    def _act(self, verb: str, email_id: int, choice: MoveChoice | None) -> None:
        try:
            if verb == "move" and choice is not None:
                self.service.move(email_id, choice.kind, choice.to_id, choice.from_id)
                message = f"email #{email_id} moved to {choice.kind} {choice.to_id}"
            elif verb == "private":
                self.service.mark_private(email_id)
                message = f"email #{email_id} is metadata-only now"
            else:
                self.service.delete(email_id)
                message = f"email #{email_id} deleted"
            row = None if verb == "delete" else self.service.row(email_id)
        except Exception as exc:
            self._report(exc, f"Cannot {verb} email {email_id}")
            self.app.call_from_thread(self._done, email_id, None, None)
            return
        self.app.call_from_thread(self._done, email_id, row, message)

    def _done(self, email_id: int, row: EmailRow | None, message: str | None) -> None:
        self.busy = False
        if message is None:
            return
        self.notify(message)
        index = next((i for i, r in enumerate(self.rows) if r.id == email_id), None)
        if index is None:
            return
        table = self.table
        if row is None:  # deleted
            table.remove_row(str(email_id))
            del self.rows[index]
            if self.total is not None:
                self.total = max(0, self.total - 1)
            self._update_sub_title()
        else:
            self.rows[index] = row
            for (key, _, _), cell in zip(COLUMNS, row_cells(row), strict=True):
                table.update_cell(str(email_id), key, cell)
        self._update_detail(force=True)

    def _report(self, exc: BaseException, what: str) -> None:
        """From a worker: a service's refusal is a warning, anything else an error (logged)."""
        if isinstance(exc, EmailLogError):
            severity: SeverityLevel = "warning"
        else:
            severity = "error"
            log.exception(what)
        message = clean(str(exc)) or type(exc).__name__
        self.app.call_from_thread(self.notify, message, title=what, severity=severity)
