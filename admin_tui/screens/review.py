"""The review queue: the questions bccrm asked instead of guessing, answered from the keyboard.

Everything the screen shows comes from email (subjects, names, payloads), so every value is
passed through :mod:`admin_tui.sanitize` and rendered as ``rich.text.Text``: markup, terminal
escapes and bidi overrides stay inert. Service calls run in thread workers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from admin_tui.sanitize import MAX_LINE, clean
from gateway.app import App as GatewayApp
from gateway.services.review import ReviewDecision, ReviewError, ReviewInfo, ReviewService

log = logging.getLogger("bccrm.admin")

# Kinds whose approval takes a 1-based choice (the service's default is 1 when there is one).
CHOICE_KINDS = frozenset({"same_person", "merge", "which_deal"})
LIST_LIMIT = 500


MAX_SHOWN = MAX_LINE  # characters of any one value: a 1 MB subject must not stall the screen


def safe(value: object) -> str:
    """A payload value as one inert line ("" for None), cut at MAX_SHOWN characters."""
    return clean(value, MAX_SHOWN)


def choices_of(info: ReviewInfo) -> list[str]:
    """One plain line per numbered choice of ``info`` (empty when the kind has none)."""
    payload = info.payload
    if info.kind == "same_person":
        lines = []
        for candidate in _dicts(payload.get("candidates")):
            name = safe(candidate.get("name")) or "(no name)"
            confidence = _float(candidate.get("confidence"))
            reasons = _joined(candidate.get("reasons"))
            line = f"{name} (contact {safe(candidate.get('contact_id'))}) {confidence:.2f}"
            lines.append(f"{line} — {reasons}" if reasons else line)
        return lines
    if info.kind == "which_deal":
        lines = []
        for deal in _dicts(payload.get("choices")):
            details = ", ".join(
                part for part in (safe(deal.get("stage")), _updated(deal.get("updated_at"))) if part
            )
            line = f"{safe(deal.get('name')) or '(no name)'} (deal {safe(deal.get('deal_id'))})"
            lines.append(f"{line} — {details}" if details else line)
        return lines
    if info.kind == "merge":
        keep, other = safe(payload.get("keep")), safe(payload.get("other"))
        return [
            f"keep contact {keep}, merge contact {other} into it",
            f"keep contact {other}, merge contact {keep} into it",
        ]
    return []


def outcome(info: ReviewInfo, choice: int | None, create_contacts: str) -> tuple[str, str]:
    """What approving (with ``choice``) and rejecting ``info`` would do, in words."""
    payload = info.payload
    address = safe(payload.get("email"))
    options = choices_of(info)
    chosen = (choice or 1) - 1
    picked = options[chosen] if 0 <= chosen < len(options) else "(no such choice)"
    if info.kind == "new_contact":
        return (
            f"create a contact for {address} with the fields above "
            "(or link to the contact that owns the address by now)",
            f"create no contact; emails waiting for {address} are ignored",
        )
    if info.kind == "same_person":
        reject = (
            f"ignore the emails waiting for {address} (matching.create_contacts is 'never')"
            if create_contacts == "never"
            else f"not the same person: create a new contact for {address}"
        )
        return f"add {address} to choice {chosen + 1}: {picked}", reject
    if info.kind == "field_update":
        field = safe(payload.get("field"))
        return (
            f"set {field} to '{safe(payload.get('proposed'))}'",
            f"keep {field} as '{safe(payload.get('current'))}'",
        )
    if info.kind == "merge":
        return f"choice {chosen + 1}: {picked}", "keep both contacts apart"
    if info.kind == "which_deal":
        return f"put the email on choice {chosen + 1}: {picked}", "put the email on no deal"
    return "approve", "reject"


def render_detail(info: ReviewInfo | None, choice: int | None, create_contacts: str) -> Text:
    """The detail pane for ``info``; hostile values are plain text, never markup."""
    text = Text()
    if info is None:
        text.append("No open review items.", style="dim")
        return text
    text.append(f"#{info.id} {safe(info.kind)}", style="bold")
    text.append("  ")
    text.append(safe(info.summary))
    text.append("\n\n")
    _field(text, "created", info.created_at.strftime("%Y-%m-%d %H:%M"))
    if info.email_id is not None:
        _field(text, "subject", safe(info.email_subject) or "(no subject)")
        _field(text, "from", safe(info.email_from))
    if info.contact_id is not None:
        _field(text, "contact", f"{safe(info.contact_name) or '(no name)'} ({info.contact_id})")
    if info.payload.get("email"):
        _field(text, "address", safe(info.payload.get("email")))
    text.append("\n")
    _render_payload(text, info)
    _render_choices(text, info, choice)
    approve, reject = outcome(info, choice, create_contacts)
    text.append("a approve: ", style="bold green")
    text.append(approve)
    text.append("\n")
    text.append("x reject:  ", style="bold red")
    text.append(reject)
    text.append("\n")
    return text


class ReviewScreen(Screen[None]):
    """Open review items in a table; the highlighted one in detail below."""

    TITLE = "Review queue"
    DEFAULT_CSS = """
    ReviewScreen #review-table {
        height: 1fr;
        min-height: 5;
    }
    ReviewScreen #review-detail-scroll {
        height: 1fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject"),
        Binding("n,down", "next", "Next"),
        Binding("g", "refresh", "Refresh"),
        *(
            Binding(str(number), f"choose({number})", "Select a choice", show=False)
            for number in range(1, 10)
        ),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.service = ReviewService(gateway.sessions, gateway.config, actor)
        self.items: list[ReviewInfo] = []
        self.choice: int | None = None
        self.busy = False  # a decision is running: further decisions wait for it

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text | str] = DataTable(id="review-table", cursor_type="row")
        yield table
        with VerticalScroll(id="review-detail-scroll"):
            yield Static(render_detail(None, None, ""), id="review-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        table.add_column("id", key="id")
        table.add_column("kind", key="kind")
        table.add_column("summary", key="summary")
        table.add_column("created", key="created")
        table.focus()
        self.load()

    @property
    def table(self) -> DataTable[Text | str]:
        return self.query_one("#review-table", DataTable)

    @property
    def detail(self) -> Static:
        return self.query_one("#review-detail", Static)

    @property
    def current(self) -> ReviewInfo | None:
        row = self.table.cursor_row
        if not self.items or not 0 <= row < len(self.items):
            return None
        return self.items[row]

    # -- loading --------------------------------------------------------------------------------

    def load(self, row: int | None = None) -> None:
        """Reload the open items; then highlight ``row`` (clamped) or the same item as before."""
        current = self.current
        self.table.loading = True
        self._load(row, current.id if current is not None else None)

    @work(thread=True, exclusive=True, group="review-load")
    def _load(self, row: int | None, item_id: int | None) -> None:
        try:
            items = self.service.list(limit=LIST_LIMIT)
        except Exception as exc:  # the database is down, a ReviewError: tell, never crash
            log.exception("loading the review queue failed")
            self.app.call_from_thread(self._failed, "Loading the review queue failed", exc)
            return
        if get_current_worker().is_cancelled:  # a newer load replaced this one
            return
        self.app.call_from_thread(self._show_items, items, row, item_id)

    def _show_items(self, items: list[ReviewInfo], row: int | None, item_id: int | None) -> None:
        table = self.table
        table.loading = False
        self.items = items
        table.clear()
        for info in items:
            table.add_row(
                Text(str(info.id)),
                Text(safe(info.kind)),
                Text(safe(info.summary), no_wrap=True, overflow="ellipsis"),
                Text(info.created_at.strftime("%Y-%m-%d %H:%M")),
                key=str(info.id),
            )
        if row is None and item_id is not None:
            row = next((i for i, info in enumerate(items) if info.id == item_id), 0)
        target = min(row or 0, len(items) - 1)
        if target >= 0:
            table.move_cursor(row=target)
        self.sub_title = f"{len(items)} open" + (" (first 500)" if len(items) >= LIST_LIMIT else "")
        self.choice = None
        self._render_detail()

    def _failed(self, what: str, exc: BaseException) -> None:
        self.table.loading = False
        self.busy = False
        severity: SeverityLevel = "warning" if isinstance(exc, ReviewError) else "error"
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)

    def _render_detail(self) -> None:
        config = self.gateway.config.matching.create_contacts
        self.detail.update(render_detail(self.current, self.choice, config))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.choice = None
        self._render_detail()

    # -- actions --------------------------------------------------------------------------------

    def action_next(self) -> None:
        table = self.table
        if table.row_count and table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_refresh(self) -> None:
        self.load()

    def action_choose(self, number: int) -> None:
        info = self.current
        if info is None:
            return
        count = len(choices_of(info))
        if count == 0:
            self.notify(f"a {info.kind} item has no choices", severity="warning")
            return
        if not 1 <= number <= count:
            self.notify(f"choose 1 to {count}", severity="warning")
            return
        self.choice = number
        self._render_detail()

    def action_approve(self) -> None:
        info = self.current
        if info is None or self._is_busy():
            return
        choice = (self.choice or 1) if info.kind in CHOICE_KINDS else None
        self.busy = True
        self._decide(info.id, "approve", choice, self.table.cursor_row)

    def action_reject(self) -> None:
        info = self.current
        if info is None or self._is_busy():
            return
        self.busy = True
        self._decide(info.id, "reject", None, self.table.cursor_row)

    def _is_busy(self) -> bool:
        if self.busy:
            self.notify("a decision is still being saved", severity="warning")
        return self.busy

    @work(thread=True, group="review-decide")
    def _decide(self, item_id: int, verb: str, choice: int | None, row: int) -> None:
        try:
            if verb == "approve":
                decision = self.service.approve(item_id, choice=choice)
            else:
                decision = self.service.reject(item_id)
        except Exception as exc:
            if not isinstance(exc, ReviewError):
                log.exception("deciding review item %s failed", item_id)
            self.app.call_from_thread(self._failed, f"Cannot {verb} item {item_id}", exc)
            self.app.call_from_thread(self.load, row)
            return
        self.app.call_from_thread(self._decided, decision, row)

    def _decided(self, decision: ReviewDecision, row: int) -> None:
        self.busy = False
        self.notify(f"item {decision.id} ({decision.kind}) {decision.status}")
        self.load(row)  # the decided item leaves the list: the next one takes its row


# -- helpers ------------------------------------------------------------------------------------


def _field(text: Text, label: str, value: str) -> None:
    text.append(f"{label}: ", style="bold")
    text.append(value)
    text.append("\n")


def _dicts(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def _joined(value: object) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(safe(v) for v in value)
    return safe(value)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _updated(value: object) -> str:
    text = safe(value)
    return f"updated {text[:10]}" if text else ""


def _render_payload(text: Text, info: ReviewInfo) -> None:
    """The kind's own part: proposed fields, a field's diff, a merge's evidence."""
    payload = info.payload
    if info.kind in ("new_contact", "same_person"):
        fields = payload.get("fields")
        if isinstance(fields, Mapping) and fields:
            text.append("Proposed fields\n", style="bold underline")
            for key in ("first_name", "last_name", "title", "company"):
                if fields.get(key):
                    _field(text, f"  {key}", safe(fields.get(key)))
            if fields.get("phones"):
                _field(text, "  phones", _joined(fields.get("phones")))
            text.append("\n")
    elif info.kind == "field_update":
        text.append(f"Field {safe(payload.get('field'))}\n", style="bold underline")
        text.append(f"- {safe(payload.get('current'))}\n", style="red")
        text.append(f"+ {safe(payload.get('proposed'))}\n", style="green")
        text.append("\n")
    elif info.kind == "merge" and payload.get("confidence") is not None:
        _field(text, "confidence", f"{_float(payload.get('confidence')):.2f}")
        reasons = _joined(payload.get("reasons"))
        if reasons:
            _field(text, "reasons", reasons)
        text.append("\n")


def _render_choices(text: Text, info: ReviewInfo, choice: int | None) -> None:
    options = choices_of(info)
    if not options:
        return
    title = {"same_person": "Candidates", "which_deal": "Deals"}.get(info.kind, "Choices")
    text.append(f"{title} (1-9 selects)\n", style="bold underline")
    selected = choice or 1
    for number, line in enumerate(options, start=1):
        marker = "▶" if number == selected else " "
        style = "bold reverse" if number == selected else ""
        text.append(f"{marker} {number}. ", style=style)
        text.append(line, style=style)
        text.append("\n")
    text.append("\n")
