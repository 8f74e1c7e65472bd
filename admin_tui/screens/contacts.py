"""Contacts: search as you type, a contact's timeline (card, follow-up tasks, emails, deals,
tickets), its legal basis and subscription, and erasure (GDPR/RODO Art. 17) after a dry run
shows what goes.

Names, subjects, addresses and reasons come from email: every value passes through
:mod:`admin_tui.sanitize` and is shown as ``rich.text.Text``. Database work runs in thread
workers; an erasure can take a while (it scans the spool), so it shows a progress bar and the
search keeps answering meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
)
from textual.worker import get_current_worker

from admin_tui.sanitize import clean, plain
from admin_tui.widgets import ConfirmScreen
from gateway.app import App as GatewayApp
from gateway.config_privacy import LEGAL_BASES
from gateway.services.contacts import (
    SEARCH_LIMIT,
    ContactDirectory,
    ContactRow,
    ContactTimeline,
)
from gateway.services.erasure import REPORT_LINES, ErasureReport, ErasureService
from gateway.services.legal import ContactConsent, LegalBasisService
from gateway.services.tasks import TaskInfo

log = logging.getLogger("bccrm.admin")

DEBOUNCE = 0.3  # seconds of quiet typing before the search runs
SEARCHING = "searching…"
DIRECTIONS = {"outbound": "out", "inbound": "in", "internal": "int"}


# -- rendering ----------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else ""


def _field(text: Text, label: str, value: str) -> None:
    text.append(f"{label}: ", style="bold")
    text.append(value)
    text.append("\n")


def _basis(timeline: ContactTimeline) -> str:
    card = timeline.contact
    if not card.legal_basis:
        return "none"
    details = [card.legal_basis_status or "unconfirmed"]
    if card.legal_basis_source:
        details.append(f"from {clean(card.legal_basis_source)}")
    if card.legal_basis_by:
        details.append(f"by {clean(card.legal_basis_by)}")
    if card.legal_basis_at:
        details.append(_when(card.legal_basis_at))
    return f"{clean(card.legal_basis)} ({', '.join(details)})"


def render_card(timeline: ContactTimeline) -> Text:
    """The contact's card: who, where, and what the CRM may do with their data."""
    card = timeline.contact
    text = Text()
    text.append(clean(card.name) or "(no name)", style="bold")
    text.append(f"  contact {card.id}, {clean(card.status)}, from {clean(card.origin)}\n")
    if card.merged_into_id is not None:
        text.append(f"merged into contact {card.merged_into_id}\n", style="bold yellow")
    if card.title:
        _field(text, "title", clean(card.title))
    if card.company:
        _field(text, "company", clean(card.company))
    _field(text, "addresses", ", ".join(clean(e) for e in card.emails) or "none")
    if card.phones:
        _field(text, "phones", ", ".join(clean(p) for p in card.phones))
    _field(text, "legal basis", _basis(timeline))
    subscription = clean(card.subscription)
    if card.unsubscribed_at:
        subscription += f" since {_when(card.unsubscribed_at)}"
    _field(text, "subscription", subscription)
    _field(text, "objecting (Art. 21)", "yes" if card.objecting else "no")
    if card.notice_due_at:
        done = f", done {_when(card.notice_done_at)}" if card.notice_done_at else ", not done"
        _field(text, "Art. 14 notice", f"due {_when(card.notice_due_at)}{done}")
    return text


def _subject(subject: str, chars: int) -> str:
    """The subject as one inert line; the service cut a long one, this says by how much."""
    shown = clean(subject) or "(no subject)"
    return f"{shown}… (+{chars - len(subject):,} chars)" if chars > len(subject) else shown


def render_tasks(text: Text, tasks: tuple[TaskInfo, ...]) -> None:
    """The contact's tasks: open ones first (soonest due first), closed ones dimmed."""
    still_open = sum(task.status == "open" for task in tasks)
    text.append(f"\nTasks ({still_open} open of {len(tasks)})\n", style="bold underline")
    for task in tasks:
        is_open = task.status == "open"
        text.append(f"#{task.id} ", style="" if is_open else "dim")
        text.append(clean(task.title) or "(no title)", style="bold" if is_open else "dim")
        if is_open:
            when = f"due {_when(task.due_at)}" if task.due_at else "no due date"
        else:
            when = f"{clean(task.status)} {_when(task.done_at)}".rstrip()
        owner = clean(task.owner_email) or "no owner"
        text.append(f"  {'open, ' if is_open else ''}{when}, {owner}\n", style="dim")


def render_timeline(timeline: ContactTimeline) -> Text:
    """The card, then the tasks (when there are any), the emails (newest first), deals and
    tickets, as plain text."""
    text = render_card(timeline)
    if timeline.tasks:
        render_tasks(text, timeline.tasks)
    shown = len(timeline.emails)
    count = (
        f"{shown}"
        if shown == timeline.email_total
        else f"newest {shown} of {timeline.email_total:,}"
    )
    text.append(f"\nEmails ({count})\n", style="bold underline")
    for email in timeline.emails:
        text.append(f"{_when(email.at)}  {DIRECTIONS.get(email.direction, '?'):<3}  ")
        text.append(_subject(email.subject, email.subject_chars))
        sure = f" {email.confidence:.2f}" if email.confidence is not None else ""
        text.append(f"  — {clean(email.reason) or 'linked'}{sure}", style="dim")
        text.append("\n")
    text.append(f"\nDeals ({len(timeline.deals)})\n", style="bold underline")
    for deal in timeline.deals:
        via = "own" if deal.via == "contact" else "company's"
        text.append(f"#{deal.id} ")
        text.append(clean(deal.name) or "(no name)")
        text.append(f"  {clean(deal.stage)}, {clean(deal.status)}, {via}", style="dim")
        text.append(f", updated {_when(deal.updated_at)}\n", style="dim")
    text.append(f"\nTickets ({len(timeline.tickets)})\n", style="bold underline")
    for ticket in timeline.tickets:
        text.append(f"#{ticket.id} ")
        text.append(clean(ticket.subject) or "(no subject)")
        text.append(f"  {clean(ticket.status)}, {clean(ticket.inbox)}", style="dim")
        text.append(f", opened {_when(ticket.created_at)}\n", style="dim")
    return text


def render_report(row: ContactRow, report: ErasureReport) -> Text:
    """What erasing ``row`` removes, from the dry run: counts, never the content."""
    text = Text()
    text.append(f"{clean(row.name) or '(no name)'} ", style="bold")
    text.append(f"(contact {row.id}, {clean(row.email)}) and everything that names them:\n\n")
    _field(text, "  addresses", str(report.addresses))
    for label, name in REPORT_LINES:
        value = getattr(report, name)
        _field(text, f"  {label}", str(len(value) if isinstance(value, tuple) else value))
    suppression = "added" if report.suppression_added else "already present"
    _field(text, "  suppression (keyed hash only)", suppression)
    text.append("\nThis cannot be undone.", style="bold red")
    return text


# -- the legal-basis modal ----------------------------------------------------------------------


class BasisScreen(ModalScreen[tuple[str, str] | None]):
    """Pick a legal basis (and where it comes from) for one contact; dismissed with
    (basis, source) or None."""

    DEFAULT_CSS = """
    BasisScreen {
        align: center middle;
    }
    BasisScreen > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    BasisScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    BasisScreen Button {
        margin: 1 0 0 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: Text, current: str | None) -> None:
        super().__init__()
        self.heading = title
        self.current = current if current in LEGAL_BASES else LEGAL_BASES[0]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.heading, id="basis-title")
            yield Select(
                [(basis, basis) for basis in LEGAL_BASES],
                value=self.current,
                allow_blank=False,
                id="basis-select",
            )
            yield Input(
                placeholder="source: where the basis comes from (manual)", id="basis-source"
            )
            with Horizontal():
                yield Button("Cancel (esc)", id="basis-cancel")
                yield Button("Save", id="basis-save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#basis-select", Select).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "basis-save":
            self._save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def _save(self) -> None:
        basis = self.query_one("#basis-select", Select).value
        source = self.query_one("#basis-source", Input).value.strip() or "manual"
        self.dismiss((str(basis), source))

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the screen ---------------------------------------------------------------------------------


class ContactsScreen(Screen[None]):
    """A search box, the contacts found, and the timeline of the one opened."""

    TITLE = "Contacts"
    DEFAULT_CSS = """
    ContactsScreen #contacts-search {
        margin: 0 0;
    }
    ContactsScreen #contacts-progress {
        height: 1;
        display: none;
        padding: 0 1;
    }
    ContactsScreen #contacts-progress-label {
        width: auto;
        margin-right: 2;
    }
    ContactsScreen #contacts-table {
        height: 1fr;
        min-height: 5;
    }
    ContactsScreen #contacts-detail-scroll {
        height: 2fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/"),
        Binding("escape", "leave_search", "Back to the results", show=False),
        # priority: the table's and the search box's own enter would hide it from the footer
        Binding("enter", "open", "Timeline", key_display="enter", priority=True),
        Binding("b", "basis", "Legal basis"),
        Binding("u", "subscription", "Subscribe/unsubscribe"),
        Binding("x", "erase", "Erase"),
        Binding("g", "refresh", "Refresh"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor
        self.directory = ContactDirectory(gateway.sessions, gateway.config.organization)
        self.legal = LegalBasisService(gateway.sessions, gateway.config, actor)
        self.erasure = ErasureService(gateway.sessions, gateway.spool, gateway.config, actor)
        self.rows: list[ContactRow] = []
        self.query_text: str | None = None  # the search the table shows (None: none yet)
        self.timeline: ContactTimeline | None = None  # the one the detail pane shows
        self.busy = ""  # a change or erasure is running: what, for the warning
        self._debounce: Timer | None = None

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Search: name, company, address or phone (/)", id="contacts-search")
        with Horizontal(id="contacts-progress"):
            yield Label("", id="contacts-progress-label")
            yield ProgressBar(
                total=None, show_eta=False, show_percentage=False, id="contacts-progress-bar"
            )
        table: DataTable[Text] = DataTable(id="contacts-table", cursor_type="row")
        yield table
        with VerticalScroll(id="contacts-detail-scroll"):
            yield Static(self._hint(), id="contacts-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        for label, width in (
            ("id", 7), ("name", 28), ("address", 32), ("company", 20),
            ("emails", 6), ("deals", 5), ("tickets", 7),
        ):  # fmt: skip
            table.add_column(label, width=width, key=label)
        table.focus()
        self.search("")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#contacts-table", DataTable)

    @property
    def search_box(self) -> Input:
        return self.query_one("#contacts-search", Input)

    @property
    def detail(self) -> Static:
        return self.query_one("#contacts-detail", Static)

    @property
    def current(self) -> ContactRow | None:
        """The highlighted contact: the one b, u, x and enter act on."""
        row = self.table.cursor_row
        if not self.rows or not 0 <= row < len(self.rows):
            return None
        return self.rows[row]

    @staticmethod
    def _hint() -> Text:
        return Text("Highlight a contact and press enter to see its timeline.", style="dim")

    # -- searching ------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "contacts-search":
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self._typed)

    def _typed(self) -> None:
        self._debounce = None
        if self.search_box.value != self.query_text:
            self.search(self.search_box.value)

    def _search_now(self) -> None:
        """enter in the search box: search without waiting, then go to the results."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        self.search(self.search_box.value)
        self.table.focus()

    def search(self, query: str) -> None:
        """Run ``query`` in a worker; a newer search cancels this one. The table keeps its
        rows (and the focus: a loading widget cannot have it) until the results arrive."""
        self.query_text = query
        self.sub_title = SEARCHING
        self._search(query)

    @work(thread=True, exclusive=True, group="contacts-search")
    def _search(self, query: str) -> None:
        try:
            rows = self.directory.search(query, limit=SEARCH_LIMIT)
        except Exception as exc:
            log.exception("searching contacts failed")
            self.app.call_from_thread(self._failed, "Search failed", exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_rows, rows)

    def _show_rows(self, rows: list[ContactRow]) -> None:
        table = self.table
        current = self.current
        self.rows = rows
        table.clear()
        for row in rows:
            table.add_row(
                Text(str(row.id)),
                plain(row.name or "(no name)"),
                plain(row.email),
                plain(row.company),
                Text(str(row.emails), justify="right"),
                Text(str(row.deals), justify="right"),
                Text(str(row.tickets), justify="right"),
                key=str(row.id),
            )
        if current is not None:
            index = next((i for i, row in enumerate(rows) if row.id == current.id), 0)
            table.move_cursor(row=index)
        more = " (first 50: type to narrow)" if len(rows) >= SEARCH_LIMIT else ""
        self.sub_title = f"{len(rows)} contact{'s' if len(rows) != 1 else ''}{more}"

    # -- the timeline ---------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "contacts-table":  # a click on a row
            self.action_open()

    def action_open(self) -> None:
        if self.search_box.has_focus:
            self._search_now()
            return
        row = self.current
        if row is not None:
            self.open(row.id)

    def open(self, contact_id: int) -> None:
        self.detail.loading = True
        self._timeline(contact_id)

    @work(thread=True, exclusive=True, group="contacts-timeline")
    def _timeline(self, contact_id: int) -> None:
        try:
            timeline = self.directory.timeline(contact_id)
        except Exception as exc:
            if not isinstance(exc, ValueError):
                log.exception("loading the timeline of contact %s failed", contact_id)
            self.app.call_from_thread(self._failed, "Cannot show the contact", exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_timeline, timeline)

    def _show_timeline(self, timeline: ContactTimeline) -> None:
        self.detail.loading = False
        self.timeline = timeline
        self.detail.update(render_timeline(timeline))

    # -- legal basis and subscription -----------------------------------------------------------

    def action_basis(self) -> None:
        row = self._target()
        if row is None:
            return
        current = None
        if self.timeline is not None and self.timeline.contact.id == row.id:
            current = self.timeline.contact.legal_basis
        title = Text("Legal basis of ", style="bold")
        title.append(f"{clean(row.name) or '(no name)'} (contact {row.id})")

        def chosen(answer: tuple[str, str] | None) -> None:
            if answer is not None:
                self._start(f"setting the legal basis of contact {row.id}")
                self._set_basis(row.id, *answer)

        self.app.push_screen(BasisScreen(title, current), chosen)

    @work(thread=True, group="contacts-change")
    def _set_basis(self, contact_id: int, basis: str, source: str) -> None:
        try:
            consent = self.legal.set_basis(contact_id, basis, source)
        except Exception as exc:
            self._change_failed(f"Cannot set the legal basis of contact {contact_id}", exc)
            return
        self.app.call_from_thread(self._changed, consent, f"legal basis {basis} confirmed")

    def action_subscription(self) -> None:
        row = self._target()
        if row is not None:
            self._start(f"changing the subscription of contact {row.id}")
            self._toggle_subscription(row.id)

    @work(thread=True, group="contacts-change")
    def _toggle_subscription(self, contact_id: int) -> None:
        try:
            subscribed = self.legal.consent(contact_id).subscription == "subscribed"
            consent = self.legal.set_subscription(contact_id, not subscribed)
        except Exception as exc:
            self._change_failed(f"Cannot change the subscription of contact {contact_id}", exc)
            return
        self.app.call_from_thread(self._changed, consent, consent.subscription)

    def _changed(self, consent: ContactConsent, what: str) -> None:
        self._stop()
        self.notify(f"{clean(consent.name) or 'contact'} (contact {consent.contact_id}): {what}")
        self.open(consent.contact_id)

    # -- erasure --------------------------------------------------------------------------------

    def action_erase(self) -> None:
        row = self._target()
        if row is None:
            return
        if not row.email:
            self.notify(
                f"contact {row.id} has no address: there is nothing to erase it by",
                severity="warning",
            )
            return
        self._start(f"checking what erasing contact {row.id} removes")
        self._dry_run(row)

    @work(thread=True, group="contacts-erase")
    def _dry_run(self, row: ContactRow) -> None:
        # One address is enough: the service erases the person owning it with all their
        # addresses and the contacts merged into theirs.
        try:
            report = self.erasure.erase(row.email, dry_run=True)
        except Exception as exc:
            self._change_failed(f"Cannot erase contact {row.id}", exc)
            return
        self.app.call_from_thread(self._confirm_erase, row, report)

    def _confirm_erase(self, row: ContactRow, report: ErasureReport) -> None:
        self._stop()

        def answered(yes: bool | None) -> None:
            if yes:
                self._start(f"erasing contact {row.id}")
                self._erase(row)
            else:
                self.notify(f"contact {row.id} was not erased")

        title = f"Erase contact {row.id}? (dry run: nothing changed yet)"
        self.app.push_screen(ConfirmScreen(title, render_report(row, report), "Erase"), answered)

    @work(thread=True, group="contacts-erase")
    def _erase(self, row: ContactRow) -> None:
        try:
            report = self.erasure.erase(row.email, dry_run=False)
        except Exception as exc:
            self._change_failed(f"Erasing contact {row.id} failed", exc)
            return
        self.app.call_from_thread(self._erased, row, report)

    def _erased(self, row: ContactRow, report: ErasureReport) -> None:
        self._stop()
        counts = report.counts()
        self.notify(
            f"contact {row.id} erased: {counts['contacts']} contact(s), "
            f"{counts['emails_emptied']} email(s) emptied, {counts['emails_redacted']} redacted"
        )
        if self.timeline is not None and self.timeline.contact.id in report.contacts:
            self.timeline = None
            self.detail.update(Text(f"Contact {row.id} was erased.", style="dim"))
        self.search(self.query_text or "")

    # -- shared ---------------------------------------------------------------------------------

    def _target(self) -> ContactRow | None:
        """The highlighted contact, unless a change is running (then a warning)."""
        if self.busy:
            self.notify(f"wait: {self.busy} is still running", severity="warning")
            return None
        row = self.current
        if row is None:
            self.notify("no contact highlighted: search for one first", severity="warning")
        return row

    def _start(self, what: str) -> None:
        self.busy = what
        self.query_one("#contacts-progress-label", Label).update(
            Text(what[:1].upper() + what[1:] + "…")
        )
        self.query_one("#contacts-progress").display = True

    def _stop(self) -> None:
        self.busy = ""
        self.query_one("#contacts-progress").display = False

    def _change_failed(self, what: str, exc: BaseException) -> None:
        """From a worker: tell the admin (a ValueError is the service saying no)."""
        if not isinstance(exc, ValueError):
            log.exception("%s", what)
        self.app.call_from_thread(self._stop)
        self.app.call_from_thread(self._failed, what, exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.detail.loading = False
        if self.sub_title == SEARCHING:
            self.sub_title = "search failed: g tries again"
        severity: SeverityLevel = "warning" if isinstance(exc, ValueError) else "error"
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)

    # -- keys -----------------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.search_box.focus()

    def action_leave_search(self) -> None:
        self.table.focus()

    def action_refresh(self) -> None:
        self.search(self.search_box.value)
        if self.timeline is not None:
            self.open(self.timeline.contact.id)
