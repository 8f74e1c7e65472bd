"""Legal basis: the checks bccrm opened for outbound mail to people without a confirmed legal
basis (or who unsubscribed), resolved through a form, and the Art. 14 information notices due.

Subjects, names, addresses and notes come from email or from people, so every value passes
through :mod:`admin_tui.sanitize` and is shown as ``rich.text.Text``. Service calls run in
thread workers; the resolve form runs its own, so a refusal (an explanation missing) is shown
in the form and nothing typed is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on, work
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
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TabbedContent,
    TabPane,
)
from textual.worker import get_current_worker

from admin_tui.sanitize import clean, plain
from gateway.app import App as GatewayApp
from gateway.config_privacy import LEGAL_BASES
from gateway.services.legal import (
    CheckDetail,
    CheckInfo,
    LegalBasisError,
    LegalBasisService,
    NoticeInfo,
)

log = logging.getLogger("bccrm.admin")
T = TypeVar("T")

LIST_LIMIT = 500
CHECKS, NOTICES = "checks", "notices"
REASONS = {
    "no_confirmed_basis": "no confirmed legal basis",
    "unsubscribed": "contact unsubscribed",
}
SUMMARY_SUBJECT = 200  # characters of the subject in the form's heading
FORM_KEYS = "tab: next field · enter in the text field: resolve · escape: cancel"
SHORT_REASONS = {"no_confirmed_basis": "no confirmed basis", "unsubscribed": "unsubscribed"}
# The resolve form's choices, one per service action: (label, what the text field is for).
ACTION_CHOICES: dict[str, tuple[str, str]] = {
    "one-time": (
        "One-time basis: this email had a legal basis (say why below)",
        "Explanation (required): why this email had a legal basis",
    ),
    "set-basis": (
        "Set the contact's basis: confirmed; closes its other checks without a basis too",
        "Note (optional)",
    ),
    "acknowledge": (
        "Acknowledge: noted, nothing else changes",
        "Note (required)",
    ),
}


def when(moment: datetime | None) -> str:
    """A stored UTC time in the admin's local time; "-" for none."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def reason_words(reason: str) -> str:
    return REASONS.get(reason, clean(reason) or "unknown reason")


def contact_label(name: str, contact_id: int) -> str:
    return f"{clean(name) or '(no name)'} (contact {contact_id})"


def sender(detail: CheckDetail) -> str:
    address = clean(detail.email_from) or "(no address)"
    name = clean(detail.email_from_name)
    return f"{name} <{address}>" if name else address


def basis_words(detail: CheckDetail) -> str:
    if not detail.legal_basis:
        return "none"
    status = clean(detail.legal_basis_status) or "not confirmed"
    return f"{clean(detail.legal_basis)} ({status})"


def explain(detail: CheckDetail) -> str:
    """Why the check was opened, in words."""
    check = detail.check
    if check.reason == "unsubscribed":
        since = f" on {when(detail.unsubscribed_at)}" if detail.unsubscribed_at else ""
        return (
            f"This email went to a contact who unsubscribed from marketing mail{since}. "
            "If it was not marketing (a reply, an invoice), record why with a one-time basis "
            "or acknowledge it with a note."
        )
    if check.reason == "no_confirmed_basis":
        return (
            "This email went to a contact whose legal basis for processing is not confirmed "
            f"(now: {basis_words(detail)}). Decide: this one email had a basis (one-time, "
            "with the reason), the contact has a basis (set it), or acknowledge it."
        )
    return f"bccrm opened this check because: {clean(check.reason)}."


def render_check(detail: CheckDetail | None) -> Text:
    """The detail pane for one open check: the reason in words, the email, the contact."""
    text = Text()
    if detail is None:
        text.append("No open legal-basis checks.", style="dim")
        return text
    check = detail.check
    text.append(f"Check #{check.id}: {reason_words(check.reason)}", style="bold")
    text.append(f"  (open since {when(check.created_at)})\n")
    text.append(explain(detail))
    text.append("\n\n")
    text.append(f"Email #{check.email_id} ({clean(detail.email_direction)})\n", style="bold")
    _field(text, "subject", clean(check.email_subject) or "(no subject)")
    _field(text, "from", sender(detail))
    _field(text, "date", when(check.email_sent_at))
    text.append(f"Contact #{check.contact_id}\n", style="bold")
    _field(text, "name", clean(check.contact_name) or "(no name)")
    _field(text, "address", clean(detail.contact_email) or "(none)")
    _field(text, "legal basis", basis_words(detail))
    subscription = clean(detail.subscription)
    if detail.unsubscribed_at is not None:
        subscription += f" (since {when(detail.unsubscribed_at)})"
    _field(text, "subscription", subscription)
    text.append("\nenter or a: resolve (one-time basis, set the contact's basis, acknowledge)")
    return text


def _field(text: Text, label: str, value: str) -> None:
    text.append(f"  {label:<13}", style="bold")
    text.append(value)
    text.append("\n")


@dataclass(frozen=True)
class Resolution:
    """What the form asks the service to do; ``text`` is the explanation or the note."""

    action: str
    basis: str
    text: str

    def problem(self) -> tuple[str, str]:
        """What is missing before the service is asked, and the id of the field to fix;
        ("", "") when nothing is. The service checks the explanation and the note itself
        (its message is shown the same way, with the text field to fix)."""
        if not self.action:
            return (
                "choose what to do: one-time basis, set the contact's basis or acknowledge",
                "resolve-action",
            )
        if self.action == "set-basis" and not self.basis:
            return "choose the basis to set", "resolve-basis"
        return "", ""


class ResolveScreen(ModalScreen[CheckInfo | None]):
    """Resolve one check: the action, the basis (set-basis) and an explanation or note.
    Submitted with enter in the text field or the Resolve button; escape cancels. Dismissed
    with the resolved check, or None."""

    DEFAULT_CSS = """
    ResolveScreen {
        align: center middle;
    }
    ResolveScreen > Vertical {
        width: 96;
        max-width: 100%;
        height: auto;
        max-height: 95%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    ResolveScreen Label {
        margin-top: 1;
        text-style: bold;
    }
    ResolveScreen RadioSet {
        width: 100%;
    }
    ResolveScreen #resolve-error {
        color: $error;
        height: auto;
    }
    ResolveScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    ResolveScreen Button {
        margin: 1 0 0 2;
    }
    """
    AUTO_FOCUS = "#resolve-action"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, service: LegalBasisService, detail: CheckDetail) -> None:
        super().__init__()
        self.service = service
        self.detail = detail
        self.busy = False

    def compose(self) -> ComposeResult:
        check = self.detail.check
        with Vertical():
            yield Static(Text(f"Resolve legal-basis check #{check.id}", style="bold"))
            summary = Text(f"{reason_words(check.reason)}: ")
            summary.append(contact_label(check.contact_name, check.contact_id))
            summary.append(", email ")
            summary.append(clean(check.email_subject, SUMMARY_SUBJECT) or "(no subject)")
            yield Static(summary, id="resolve-summary")
            yield Label("What happened?")
            with RadioSet(id="resolve-action"):
                for action, (label, _) in ACTION_CHOICES.items():
                    yield RadioButton(Text(label), id=f"action-{action}")
            yield Label("Basis (set the contact's basis)")
            yield Select(
                [(Text(basis), basis) for basis in LEGAL_BASES],
                prompt="choose a basis",
                id="resolve-basis",
                disabled=True,
            )
            yield Label("Explanation or note", id="resolve-text-label")
            yield Input(placeholder="choose what happened first", id="resolve-text")
            yield Static("", id="resolve-error")
            yield Static(Text(FORM_KEYS, style="dim"))
            with Horizontal():
                yield Button("Cancel", id="resolve-cancel")
                yield Button("Resolve", id="resolve-submit", variant="primary")

    @property
    def action(self) -> str:
        """The chosen action ("" for none yet), read from the pressed button's id."""
        pressed = self.query_one(RadioSet).pressed_button
        return (pressed.id or "").removeprefix("action-") if pressed is not None else ""

    def resolution(self) -> Resolution:
        value = self.query_one("#resolve-basis", Select).value
        basis = value if isinstance(value, str) and self.action == "set-basis" else ""
        return Resolution(self.action, basis, self.query_one("#resolve-text", Input).value)

    @on(RadioSet.Changed)
    def _action_chosen(self) -> None:
        action = self.action
        select = self.query_one("#resolve-basis", Select)
        select.disabled = action != "set-basis"
        label = ACTION_CHOICES[action][1] if action else "Explanation or note"
        self.query_one("#resolve-text-label", Label).update(Text(label))
        field = self.query_one("#resolve-text", Input)
        field.placeholder = label.lower()
        self.show_error("")
        (select if action == "set-basis" else field).focus()

    @on(Select.Changed, "#resolve-basis")
    def _basis_chosen(self) -> None:
        self.show_error("")
        self.query_one("#resolve-text", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#resolve-submit")
    def _submit(self) -> None:
        if self.busy:
            return
        resolution = self.resolution()
        problem, field = resolution.problem()
        if problem:
            self.show_error(problem)
            self.query_one(f"#{field}").focus()
            return
        self.busy = True
        self.show_error("")
        self._resolve(resolution)

    @on(Button.Pressed, "#resolve-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def show_error(self, message: str) -> None:
        self.query_one("#resolve-error", Static).update(Text(clean(message)))

    @work(thread=True, exclusive=True, group="legal-resolve")
    def _resolve(self, resolution: Resolution) -> None:
        check_id = self.detail.check.id
        try:
            info = self.service.resolve(
                check_id,
                resolution.action,
                explanation=resolution.text if resolution.action == "one-time" else "",
                basis=resolution.basis,
                note=resolution.text if resolution.action != "one-time" else "",
            )
        except LegalBasisError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        except Exception as exc:  # the database is down: tell, keep the form and its text
            log.exception("resolving legal-basis check %s failed", check_id)
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._done, info)

    def _refused(self, message: str) -> None:
        self.busy = False
        self.show_error(message)
        self.query_one("#resolve-text", Input).focus()

    def _failed(self, exc: Exception) -> None:
        self.busy = False
        message = clean(str(exc)) or type(exc).__name__
        self.notify(message, title="Resolving the check failed", severity="error")

    def _done(self, info: CheckInfo) -> None:
        self.dismiss(info)


class LegalScreen(Screen[None]):
    """Open legal-basis checks with the highlighted one in detail, and the notices due."""

    TITLE = "Legal basis"
    AUTO_FOCUS = "#checks-table"  # not the tab headers: arrows move through the checks
    DEFAULT_CSS = """
    LegalScreen TabbedContent, LegalScreen TabPane {
        height: 1fr;
    }
    LegalScreen #checks-table {
        height: 1fr;
        min-height: 5;
    }
    LegalScreen #check-detail-scroll {
        height: 1fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    LegalScreen #notices-table {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "resolve", "Resolve"),
        Binding("m", "mark_done", "Notice done"),
        Binding("t", "toggle_tab", "Checks/Notices"),
        Binding("g", "refresh", "Refresh"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.service = LegalBasisService(gateway.sessions, gateway.config, actor)
        self.checks: list[CheckDetail] = []
        self.notices: list[NoticeInfo] = []
        self.marking = False  # a notice is being marked done

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="legal-tabs", initial=CHECKS):
            with TabPane("Checks", id=CHECKS):
                yield DataTable(id="checks-table", cursor_type="row")
                with VerticalScroll(id="check-detail-scroll"):
                    yield Static(render_check(None), id="check-detail")
            with TabPane("Notices due", id=NOTICES):
                yield DataTable(id="notices-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        checks = self.checks_table
        checks.add_column("id", key="id")
        checks.add_column("created", key="created")
        checks.add_column("reason", key="reason")
        checks.add_column("contact", key="contact", width=22)
        checks.add_column("subject", key="subject", width=24)
        checks.add_column("from", key="from", width=22)
        notices = self.notices_table
        notices.add_column("contact", key="contact", width=26)
        notices.add_column("address", key="address", width=28)
        notices.add_column("basis", key="basis", width=28)
        notices.add_column("due", key="due")
        notices.add_column("", key="overdue")
        self.load_checks()
        self.load_notices()

    @property
    def checks_table(self) -> DataTable[Text]:
        return self.query_one("#checks-table", DataTable)

    @property
    def notices_table(self) -> DataTable[Text]:
        return self.query_one("#notices-table", DataTable)

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active

    @property
    def current_check(self) -> CheckDetail | None:
        return _at(self.checks, self.checks_table.cursor_row)

    @property
    def current_notice(self) -> NoticeInfo | None:
        return _at(self.notices, self.notices_table.cursor_row)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``a`` acts on the checks tab, ``m`` on the notices tab."""
        if action == "resolve":
            return self.tab == CHECKS
        if action == "mark_done":
            return self.tab == NOTICES
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        table = self.checks_table if event.pane.id == CHECKS else self.notices_table
        table.focus()
        self.refresh_bindings()

    # -- loading --------------------------------------------------------------------------------

    def load_checks(self, row: int | None = None) -> None:
        """Reload the open checks; then highlight ``row`` (clamped) or the same check."""
        current = self.current_check
        self.checks_table.loading = True
        self._load_checks(row, current.check.id if current is not None else None)

    @work(thread=True, exclusive=True, group="legal-checks")
    def _load_checks(self, row: int | None, check_id: int | None) -> None:
        try:
            checks = self.service.check_details(limit=LIST_LIMIT)
        except Exception as exc:
            log.exception("loading the legal-basis checks failed")
            self.app.call_from_thread(self._failed, "Loading the checks failed", exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_checks, checks, row, check_id)

    def _show_checks(
        self, checks: list[CheckDetail], row: int | None, check_id: int | None
    ) -> None:
        self.checks = checks
        table = self.checks_table
        table.loading = False
        table.clear()
        for detail in checks:
            check = detail.check
            table.add_row(
                Text(str(check.id)),
                Text(when(check.created_at)),
                Text(SHORT_REASONS.get(check.reason, clean(check.reason, 18))),
                plain(contact_label(check.contact_name, check.contact_id)),
                plain(check.email_subject or "(no subject)"),
                plain(detail.email_from),
                key=str(check.id),
            )
        if row is None:
            ids = [detail.check.id for detail in checks]
            row = ids.index(check_id) if check_id in ids else 0
        _move(table, row)
        more = " (first 500)" if len(checks) >= LIST_LIMIT else ""
        self.query_one(TabbedContent).get_tab(CHECKS).label = f"Checks ({len(checks)}{more})"
        self._render_check()

    def load_notices(self, row: int | None = None) -> None:
        self.notices_table.loading = True
        self._load_notices(row if row is not None else self.notices_table.cursor_row)

    @work(thread=True, exclusive=True, group="legal-notices")
    def _load_notices(self, row: int) -> None:
        try:
            notices = self.service.notices(limit=LIST_LIMIT)
        except Exception as exc:
            log.exception("loading the notices due failed")
            self.app.call_from_thread(self._failed, "Loading the notices failed", exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_notices, notices, row)

    def _show_notices(self, notices: list[NoticeInfo], row: int) -> None:
        self.notices = notices
        table = self.notices_table
        table.loading = False
        table.clear()
        for notice in notices:
            table.add_row(
                plain(contact_label(notice.name, notice.contact_id)),
                plain(notice.email or "(no address)"),
                plain(notice.legal_basis or "none"),
                Text(when(notice.notice_due_at)),
                Text("overdue", style="bold red") if notice.overdue else Text(""),
                key=str(notice.contact_id),
            )
        _move(table, row)
        self.query_one(TabbedContent).get_tab(NOTICES).label = f"Notices due ({len(notices)})"

    def _failed(self, what: str, exc: BaseException) -> None:
        self.checks_table.loading = False
        self.notices_table.loading = False
        self.marking = False
        severity: SeverityLevel = "warning" if isinstance(exc, LegalBasisError) else "error"
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)

    def _render_check(self) -> None:
        self.query_one("#check-detail", Static).update(render_check(self.current_check))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.checks_table:
            self._render_check()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self.checks_table:  # enter or a click on the highlighted row
            self.action_resolve()

    # -- actions --------------------------------------------------------------------------------

    def action_toggle_tab(self) -> None:
        self.query_one(TabbedContent).active = NOTICES if self.tab == CHECKS else CHECKS

    def action_refresh(self) -> None:
        self.load_checks()
        self.load_notices()

    def action_resolve(self) -> None:
        detail = self.current_check
        if detail is None:
            return
        row = self.checks_table.cursor_row
        self.app.push_screen(
            ResolveScreen(self.service, detail), lambda info: self._resolved(info, row)
        )

    def _resolved(self, info: CheckInfo | None, row: int) -> None:
        if info is None:  # cancelled: the check may have been resolved elsewhere meanwhile
            self.load_checks()
            return
        self.notify(clean(resolved_message(info)))
        self.load_checks(row)  # the resolved check leaves the list: the next takes its row

    def action_mark_done(self) -> None:
        notice = self.current_notice
        if notice is None:
            return
        if self.marking:
            self.notify("a notice is still being marked done", severity="warning")
            return
        self.marking = True
        self._mark_done(notice.contact_id, self.notices_table.cursor_row)

    @work(thread=True, group="legal-notice-done")
    def _mark_done(self, contact_id: int, row: int) -> None:
        try:
            notice = self.service.mark_notice_done(contact_id)
        except Exception as exc:
            if not isinstance(exc, LegalBasisError):
                log.exception("marking the notice to contact %s done failed", contact_id)
            self.app.call_from_thread(self._failed, "Cannot mark the notice done", exc)
            self.app.call_from_thread(self.load_notices, row)
            return
        self.app.call_from_thread(self._marked, notice, row)

    def _marked(self, notice: NoticeInfo, row: int) -> None:
        self.marking = False
        who = contact_label(notice.name, notice.contact_id)
        self.notify(f"information notice to {who} marked done")
        self.load_notices(row)


def resolved_message(info: CheckInfo) -> str:
    """What resolving did, in words (as ``bccrm legal-basis resolve`` says it)."""
    if info.action == "set-basis":
        text = f"contact {info.contact_id}'s legal basis is now {info.basis} (confirmed)"
        if info.also_resolved:
            text += f"; also resolved check(s) {', '.join(map(str, info.also_resolved))}"
    elif info.action == "one-time":
        text = f"one-time basis recorded on email {info.email_id}"
    else:
        text = "acknowledged; nothing else changed"
    return f"check {info.id} resolved: {text}"


def _at(items: list[T], row: int) -> T | None:
    return items[row] if 0 <= row < len(items) else None


def _move(table: DataTable[Text], row: int) -> None:
    target = min(row, table.row_count - 1)
    if target >= 0:
        table.move_cursor(row=target)
