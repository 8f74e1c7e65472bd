"""The review queue: the questions bccrm asked instead of guessing, answered from the keyboard.

Everything the screen shows comes from email (subjects, names, payloads), so every value is
passed through :mod:`admin_tui.sanitize` and rendered as ``rich.text.Text``: markup, terminal
escapes and bidi overrides stay inert. Service calls run in thread workers.

``a``/``x`` decide the highlighted item, ``1``-``9`` pick among its choices, ``i`` opens a form
to correct the fields the decision sets before deciding (:class:`EditScreen`); "same person?"
and merge items show both people side by side, the chosen candidate on the right.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static
from textual.worker import get_current_worker

from admin_tui.sanitize import MAX_LINE, clean
from gateway.app import App as GatewayApp
from gateway.services.review import (
    APPROVE_SETS,
    REJECT_SETS,
    PersonRecord,
    ReviewDecision,
    ReviewError,
    ReviewInfo,
    ReviewRecords,
    ReviewService,
)

log = logging.getLogger("bccrm.admin")

# Kinds whose approval takes a 1-based choice (the service's default is 1 when there is one).
CHOICE_KINDS = frozenset({"same_person", "merge", "which_deal"})
# Kinds shown as two people side by side (ReviewService.records).
SIDE_KINDS = frozenset({"same_person", "merge"})
LIST_LIMIT = 500
MAX_LISTED = 10  # addresses or phones of one person shown; the rest are counted


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


# -- the edit form (key i) ----------------------------------------------------------------------


@dataclass(frozen=True)
class EditForm:
    """What ``i`` edits on one item: the fields its decision accepts, prefilled."""

    item_id: int
    verb: str  # "approve" or "reject": what saving the form does
    title: str  # plain, sanitised
    action: str  # the save button's label
    fields: tuple[tuple[str, str], ...]  # (field, prefill) in the service's order


def prefill(value: object) -> str:
    """A payload value for an Input: the raw text when showing it is safe, else the
    sanitised text (markers instead of escapes, cut when huge), so no ESC or bidi override
    reaches the terminal. What the admin submits is what the Input then holds."""
    raw = "" if value is None else str(value)
    shown = safe(raw)
    return raw if shown == raw else shown


def edit_form(info: ReviewInfo, create_contacts: str) -> EditForm | None:
    """The form for ``info``, or None when its decisions take no corrections: approving
    takes them (new_contact's fields, field_update's value) or, for same_person, rejecting
    (the new contact it creates, unless matching.create_contacts is "never")."""
    kind = info.kind
    address = safe(info.payload.get("email"))
    if APPROVE_SETS.get(kind):
        verb, keys = "approve", APPROVE_SETS[kind]
    elif REJECT_SETS.get(kind) and create_contacts != "never":
        verb, keys = "reject", REJECT_SETS[kind]
    else:
        return None
    if kind == "field_update":
        field = safe(info.payload.get("field"))
        title, action = f"Approve #{info.id}: set {field} to the value below", "Approve"
    elif verb == "approve":
        title, action = f"Approve #{info.id}: create a contact for {address}", "Approve"
    else:
        title = f"Not the same person (#{info.id}): create a new contact for {address}"
        action = "Create contact"
    values = _form_values(info)
    fields = tuple((key, prefill(values.get(key))) for key in keys)
    return EditForm(info.id, verb, title, action, fields)


def _form_values(info: ReviewInfo) -> dict[str, object]:
    """The payload's values by ``sets`` key."""
    payload = info.payload
    if info.kind == "field_update":
        return {"value": payload.get("proposed")}
    fields = payload.get("fields")
    if not isinstance(fields, Mapping):
        return {}
    values: dict[str, object] = dict(fields)
    phones = fields.get("phones")
    if isinstance(phones, Sequence) and not isinstance(phones, str) and phones:
        values["phone"] = phones[0]
    return values


FORM_HINT = "Only the fields you change are sent. ctrl+s saves, enter moves on, escape cancels."


class EditScreen(ModalScreen[dict[str, str] | None]):
    """One Input per field of ``form``; ctrl+s (or the save button) dismisses with the
    fields whose value differs from the prefill, escape with None. ``typed`` restores what
    the admin typed when the service refused it, with ``error`` (sanitised) above."""

    DEFAULT_CSS = """
    EditScreen {
        align: center middle;
    }
    EditScreen > Vertical {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    EditScreen VerticalScroll {
        height: auto;
        max-height: 24;
    }
    EditScreen #edit-error {
        color: $error;
    }
    EditScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    EditScreen Button {
        margin: 1 0 0 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save and decide"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self, form: EditForm, typed: Mapping[str, str] | None = None, error: str = ""
    ) -> None:
        super().__init__()
        self.form = form
        self.typed = dict(typed or {})
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.form.title, style="bold"), id="edit-heading")
            yield Static(Text(FORM_HINT, style="dim"))
            yield Static(Text(self.error), id="edit-error")
            with VerticalScroll():
                for field, value in self.form.fields:
                    yield Label(Text(field))
                    yield Input(self.typed.get(field, value), id=f"field-{field}")
            with Horizontal():
                yield Button("Cancel (esc)", id="edit-cancel")
                yield Button(f"{self.form.action} (ctrl+s)", id="edit-save", variant="success")

    def on_mount(self) -> None:
        self.query_one("#edit-error", Static).display = bool(self.error)
        self.query(Input).first().focus()

    def input(self, field: str) -> Input:
        return self.query_one(f"#field-{field}", Input)

    def changed(self) -> dict[str, str]:
        """The fields the admin changed: only these go to the service."""
        values = {field: self.input(field).value for field, _ in self.form.fields}
        return {f: values[f] for f, shown in self.form.fields if values[f] != shown}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()  # enter moves on; saving is ctrl+s or the button

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "edit-save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        self.dismiss(self.changed())

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the side-by-side pane ----------------------------------------------------------------------

Side = tuple[str, PersonRecord | None]


def sides_of(records: ReviewRecords, choice: int | None) -> tuple[Side, Side]:
    """(heading, person) for the left and right column: same_person has the address's person
    left and the chosen candidate right; merge the contact merged away left, the one kept
    right (choice 1 keeps the first)."""
    index = (choice or 1) - 1
    people = records.candidates
    picked = people[index] if 0 <= index < len(people) else None
    if records.kind == "merge":
        other = people[1 - index] if len(people) == 2 and index in (0, 1) else None
        return (
            (f"Merged away: contact {_id(other)}", other),
            (f"Kept (choice {index + 1}): contact {_id(picked)}", picked),
        )
    return (
        ("This address (proposed)", records.proposed),
        (f"Choice {index + 1}: contact {_id(picked)}", picked),
    )


def render_person(heading: str, person: PersonRecord | None, other: PersonRecord | None) -> Text:
    """One column: ``person``'s values (sanitised), green where they match ``other``."""
    text = Text(no_wrap=False)
    text.append(f"{heading}\n", style="bold underline")
    if person is None:
        text.append("(no such choice)", style="dim")
        return text
    if person.status == "missing":
        text.append("this contact no longer exists", style="dim")
        return text
    for label, value, same in _person_rows(person, other):
        text.append(f"{label:<12}", style="bold")
        text.append(value or "—", style="green" if same else ("dim" if not value else ""))
        text.append("\n")
    text.rstrip()
    return text


def _person_rows(person: PersonRecord, other: PersonRecord | None) -> list[tuple[str, str, bool]]:
    """(label, shown value, same as ``other``) per line of a column."""
    o = other or PersonRecord(None, "", "", (), "", "", (), 0, "", "")
    emails = f"{person.email_count} waiting" if person.contact_id is None else person.email_count
    basis = safe(person.legal_basis)
    if basis and person.legal_basis_status:
        basis += f" ({safe(person.legal_basis_status)})"
    status = safe(person.status)
    if person.merged_into_id is not None:
        status += f" into contact {person.merged_into_id}"
    return [
        ("name", safe(person.name), _same(person.name, o.name)),
        (
            "addresses",
            _listed(person.addresses),
            bool(_fold(person.addresses) & _fold(o.addresses)),
        ),
        ("company", safe(person.company), _same(person.company, o.company)),
        ("title", safe(person.title), _same(person.title, o.title)),
        ("phones", _listed(person.phones), bool(_fold(person.phones) & _fold(o.phones))),
        ("emails", str(emails), False),
        ("legal basis", basis, False),
        ("status", status, False),
    ]


def _same(a: str, b: str) -> bool:
    return bool(a) and a.casefold() == b.casefold()


def _fold(values: tuple[str, ...]) -> set[str]:
    return {v.casefold() for v in values}


def _listed(values: tuple[str, ...]) -> str:
    shown = ", ".join(safe(v) for v in values[:MAX_LISTED])
    extra = len(values) - MAX_LISTED
    return f"{shown} … (+{extra} more)" if extra > 0 else shown


def _id(person: PersonRecord | None) -> str:
    return "?" if person is None or person.contact_id is None else str(person.contact_id)


class ReviewScreen(Screen[None]):
    """Open review items in a table; the highlighted one in detail below."""

    TITLE = "Review queue"
    DEFAULT_CSS = """
    ReviewScreen #review-table {
        height: 1fr;
        min-height: 5;
    }
    ReviewScreen #review-detail-scroll {
        height: 2fr;
        border-top: solid $primary;
        padding: 0 1;
    }
    ReviewScreen #review-sides {
        height: auto;
    }
    ReviewScreen #review-sides Static {
        width: 1fr;
        height: auto;
        border: round $primary;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject"),
        Binding("i", "edit", "Edit"),
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
        self.records: dict[int, ReviewRecords] = {}  # side-by-side data by item id
        self.records_pending: int | None = None  # the item whose records are loading

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text | str] = DataTable(id="review-table", cursor_type="row")
        yield table
        with VerticalScroll(id="review-detail-scroll"):
            yield Static(render_detail(None, None, ""), id="review-detail")
            with Horizontal(id="review-sides"):
                yield Static(Text(), id="review-left")
                yield Static(Text(), id="review-right")
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
        self.records.clear()  # a decision may have changed the people: read them again
        self._render_detail()

    def _failed(self, what: str, exc: BaseException) -> None:
        self.table.loading = False
        self.busy = False
        severity: SeverityLevel = "warning" if isinstance(exc, ReviewError) else "error"
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)

    def _render_detail(self) -> None:
        config = self.gateway.config.matching.create_contacts
        self.detail.update(render_detail(self.current, self.choice, config))
        self._render_sides()

    # -- side by side ---------------------------------------------------------------------------

    def _render_sides(self) -> None:
        info = self.current
        sides = self.query_one("#review-sides", Horizontal)
        sides.display = info is not None and info.kind in SIDE_KINDS
        if info is None or not sides.display:
            return
        records = self.records.get(info.id)
        if records is None:
            self._set_sides(Text("loading…", style="dim"), Text())
            if self.records_pending != info.id:
                self.records_pending = info.id
                self._load_records(info.id)
            return
        (left_title, left), (right_title, right) = sides_of(records, self.choice)
        self._set_sides(
            render_person(left_title, left, right), render_person(right_title, right, left)
        )

    def _set_sides(self, left: Text, right: Text) -> None:
        self.query_one("#review-left", Static).update(left)
        self.query_one("#review-right", Static).update(right)

    @work(thread=True, exclusive=True, group="review-records")
    def _load_records(self, item_id: int) -> None:
        try:
            records = self.service.records(item_id)
        except Exception as exc:
            if not isinstance(exc, ReviewError):
                log.exception("loading the records of review item %s failed", item_id)
            self.app.call_from_thread(self._records_failed, item_id, exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_records, records)

    def _show_records(self, records: ReviewRecords) -> None:
        self.records[records.item_id] = records
        if self.records_pending == records.item_id:
            self.records_pending = None
        current = self.current
        if current is not None and current.id == records.item_id:
            self._render_sides()

    def _records_failed(self, item_id: int, exc: BaseException) -> None:
        if self.records_pending == item_id:
            self.records_pending = None
        severity: SeverityLevel = "warning" if isinstance(exc, ReviewError) else "error"
        what = f"Cannot compare the people of item {item_id}"  # not _failed: a decision may run
        self.notify(clean(str(exc)) or type(exc).__name__, title=what, severity=severity)
        self._set_sides(Text("the records could not be loaded", style="dim"), Text())

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

    def action_edit(self) -> None:
        info = self.current
        if info is None or self._is_busy():
            return
        form = edit_form(info, self.gateway.config.matching.create_contacts)
        if form is None:
            self.notify(f"a {clean(info.kind)} item has no fields to edit", severity="warning")
            return
        self._open_form(form)

    def _open_form(
        self, form: EditForm, typed: Mapping[str, str] | None = None, error: str = ""
    ) -> None:
        self.app.push_screen(EditScreen(form, typed, error), partial(self._form_saved, form))

    def _form_saved(self, form: EditForm, sets: dict[str, str] | None) -> None:
        if sets is None or self._is_busy():  # escape: nothing is decided
            return
        self.busy = True
        self._decide(form.item_id, form.verb, None, self.table.cursor_row, sets=sets, form=form)

    def _form_refused(self, form: EditForm, sets: dict[str, str], exc: ReviewError) -> None:
        """The service refused the corrections (a bad phone number ...): the form opens
        again with what was typed and why."""
        self.busy = False
        message = clean(str(exc))
        self.notify(message, title=f"Cannot {form.verb} item {form.item_id}", severity="warning")
        self._open_form(form, sets, message)

    def _is_busy(self) -> bool:
        if self.busy:
            self.notify("a decision is still being saved", severity="warning")
        return self.busy

    @work(thread=True, group="review-decide")
    def _decide(
        self,
        item_id: int,
        verb: str,
        choice: int | None,
        row: int,
        *,
        sets: dict[str, str] | None = None,
        form: EditForm | None = None,
    ) -> None:
        try:
            if verb == "approve":
                decision = self.service.approve(item_id, choice=choice, sets=sets)
            else:
                decision = self.service.reject(item_id, sets=sets)
        except Exception as exc:
            if form is not None and isinstance(exc, ReviewError) and self._still_open(item_id):
                self.app.call_from_thread(self._form_refused, form, sets or {}, exc)
                return
            if not isinstance(exc, ReviewError):
                log.exception("deciding review item %s failed", item_id)
            self.app.call_from_thread(self._failed, f"Cannot {verb} item {item_id}", exc)
            self.app.call_from_thread(self.load, row)
            return
        self.app.call_from_thread(self._decided, decision, row)

    def _still_open(self, item_id: int) -> bool:
        """In a worker: whether the item is still open (so a refused form is worth
        reopening); False when that cannot be read either."""
        try:
            return self.service.show(item_id).status == "open"
        except Exception:
            log.exception("reading review item %s failed", item_id)
            return False

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
    if info.kind == "new_contact":  # same_person's fields are in the side-by-side pane
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
        _render_diff(text, info)
    elif info.kind == "merge" and payload.get("confidence") is not None:
        _field(text, "confidence", f"{_float(payload.get('confidence')):.2f}")
        reasons = _joined(payload.get("reasons"))
        if reasons:
            _field(text, "reasons", reasons)
        text.append("\n")


def _render_diff(text: Text, info: ReviewInfo) -> None:
    """A field update as a diff (old red, new green), with the contact it is about and the
    email the new value came from."""
    payload = info.payload
    text.append(f"Field {safe(payload.get('field'))}", style="bold underline")
    if info.contact_id is not None:
        text.append(f" of {safe(info.contact_name) or '(no name)'} (contact {info.contact_id})")
    text.append("\n")
    text.append(f"- {safe(payload.get('current'))}\n", style="red")
    text.append(f"+ {safe(payload.get('proposed'))}\n", style="green")
    source = payload.get("email_id")
    if info.email_id is not None and source in (None, info.email_id):
        subject = safe(info.email_subject) or "(no subject)"
        text.append(f"  from email #{info.email_id}: {subject} <{safe(info.email_from)}>\n")
    elif source is not None:
        text.append(f"  from email #{safe(source)}\n")
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
