"""The dashboard: mail volume, matching, backlog, spool and worker health on one screen.

Four panels read from one :class:`gateway.services.dashboard.DashboardService` summary, taken
in a thread worker every ``REFRESH_SECONDS`` while the screen is shown (the timer pauses while
another screen or the help is in front) and at once with ``g``. A failed refresh (the database
is down) is one notification; the panels keep the last numbers and the sub-title says since
when. Rep names and addresses and the reasons mail was dropped come from the database, so
they pass through :mod:`admin_tui.sanitize` and are shown as ``rich.text.Text``.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Sparkline, Static
from textual.worker import Worker, get_current_worker

from admin_tui.sanitize import clean
from gateway.app import App as GatewayApp
from gateway.services.dashboard import (
    Dashboard,
    DashboardService,
    RepReplies,
    format_age,
)

log = logging.getLogger("bccrm.admin")

REP_WIDTH = 40  # characters of a rep's name and of their address
MAX_REPS = 50  # rows of the reply-rate table
REASON_WIDTH = 60  # characters of a drop reason
HEALTH_STYLES = {
    "ok": "bold green",
    "idle": "green",
    "unknown": "bold yellow",
    "stalled": "bold red",
}


def clock() -> datetime | None:
    """The moment the dashboard is taken at; None means the current time. Tests replace this
    function to get the same numbers on every run."""
    return None


# -- rendering: plain functions of a Dashboard, every value a Text -------------------------------


def fit(value: object, width: int) -> str:
    """``value`` as one inert line of at most ``width`` characters (… when cut)."""
    shown = clean(value, width)
    return shown if len(shown) <= width else f"{shown[: width - 1]}…"


def _row(text: Text, label: str, *values: object, style: str = "bold") -> None:
    text.append(f"{label:<14}", style=style)
    text.append("".join(f"{value!s:>9}" for value in values))
    text.append("\n")


def render_mail(board: Dashboard) -> Text:
    """Today and 7 days, by outcome."""
    today, week = board.today, board.week
    text = Text(no_wrap=True, overflow="ellipsis")
    _row(text, "", "today", "7 days", style="dim")
    _row(text, "received", today.received, week.received)
    _row(text, "logged", today.logged, week.logged)
    _row(text, "duplicates", today.duplicates, week.duplicates)
    _row(text, "quarantined", today.quarantined, week.quarantined)
    _row(text, "dropped", today.dropped, week.dropped)
    text.rstrip()
    return text


def render_volume_label(board: Dashboard, daily: bool) -> Text:
    data = board.volume.daily if daily else board.volume.hourly
    span = f"last {len(data)} days, per day" if daily else f"last {len(data)} h, per hour"
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("volume ", style="bold")
    text.append(f"{span}: {sum(data)}, peak {max(data, default=0)}")
    return text


def render_dropped(board: Dashboard) -> Text:
    """Dropped by policy in the 7 days, per reason (reasons come from the database)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not board.dropped_by_reason:
        return text
    text.append("\ndropped, 7 days\n", style="bold")
    for reason, count in board.dropped_by_reason.items():
        text.append(f"{count:>6}  ")
        text.append(clean(reason, REASON_WIDTH))
        text.append("\n")
    text.rstrip()
    return text


def render_matching(board: Dashboard) -> Text:
    """Matching shares and the reply-rate table (numbers first, so a long name is what a
    narrow panel cuts)."""
    matching = board.matching
    share = matching.linked_without_help
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("linked without help  ", style="bold")
    text.append("—" if share is None else f"{share:.1%}")
    text.append(f"  ({matching.participants} people, 7 days)\n", style="dim")
    text.append("duplicate suggestions  ", style="bold")
    text.append(f"{matching.duplicate_suggestions}\n\n")
    text.append("reply rate per rep, 7 days\n", style="bold")
    if not matching.reply_rates:
        text.append("no inbound email logged by a rep", style="dim")
        return text
    text.append(" rate  replied  inbound  rep\n", style="dim")
    for rep in matching.reply_rates[:MAX_REPS]:
        text.append(f"{rep.rate:>5.0%}  {rep.replied:>7}  {rep.inbound:>7}  ")
        text.append(rep_label(rep))
        text.append("\n")
    if len(matching.reply_rates) > MAX_REPS:
        text.append(f"… {len(matching.reply_rates) - MAX_REPS} more reps", style="dim")
    text.rstrip()
    return text


def rep_label(rep: RepReplies) -> str:
    """``Name <address>``: both are email-derived, so both are made inert and cut."""
    name, address = clean(rep.name, REP_WIDTH), clean(rep.address, REP_WIDTH)
    if name and address:
        return f"{name} <{address}>"
    return name or address or f"user {rep.user_id}"


def render_backlog(board: Dashboard) -> Text:
    backlog = board.backlog
    text = Text(no_wrap=True, overflow="ellipsis")
    _row(text, "review items", backlog.review_total)
    for kind, count in backlog.review.items():
        _row(text, f"  {fit(kind, 12)}", count, style="" if count else "dim")
    _row(text, "legal checks", backlog.legal_checks, style=_alert(backlog.legal_checks))
    _row(text, "notices due", backlog.notices_due, style=_alert(backlog.notices_due))
    text.append(f"Art. 14 notices not done: {backlog.notices_pending}", style="dim")
    return text


def _alert(count: int) -> str:
    return "bold red" if count else "bold"


def render_spool(board: Dashboard) -> Text:
    spool, worker = board.spool, board.worker
    text = Text(no_wrap=True, overflow="ellipsis")
    if spool.available:
        _row(text, "waiting", spool.waiting)
        if spool.deferred:
            text.append(f"  of which {spool.deferred} deferred (retry later)\n", style="dim")
        _row(text, "processing", spool.processing)
        _row(text, "quarantined", spool.quarantined)
        oldest = "—" if spool.oldest_wait is None else format_age(spool.oldest_wait)
        _row(text, "oldest wait", oldest)
    else:
        text.append("spool not readable from here\n", style="dim")
    text.append(f"{'worker':<14}", style="bold")
    text.append(worker.state.upper(), style=HEALTH_STYLES.get(worker.state, "bold"))
    text.append(f"\n{worker.reason}\n")
    if worker.last_activity is not None:
        text.append(f"last activity {worker.last_activity:%Y-%m-%d %H:%M:%S} UTC", style="dim")
    text.rstrip()
    return text


# -- the screen -----------------------------------------------------------------------------------


class DashboardScreen(Screen[None]):
    """Mail, matching, backlog and spool panels, refreshed every ``REFRESH_SECONDS``."""

    TITLE = "Dashboard"
    REFRESH_SECONDS: ClassVar[float] = 5.0

    class Loaded(Message):
        """A summary was taken (posted by the loading thread)."""

        def __init__(self, board: Dashboard) -> None:
            super().__init__()
            self.board = board

    class LoadFailed(Message):
        """Taking a summary failed (posted by the loading thread)."""

        def __init__(self, error: Exception) -> None:
            super().__init__()
            self.error = error

    DEFAULT_CSS = """
    DashboardScreen #dash-grid {
        grid-size: 2 2;
        grid-columns: 1fr 1fr;
        grid-rows: 1fr 1fr;
        grid-gutter: 0 1;
    }
    DashboardScreen .dash-panel {
        border: round $primary;
        border-title-style: bold;
        padding: 0 1;
        height: 1fr;
    }
    DashboardScreen .dash-lines {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DashboardScreen #dash-volume {
        height: 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "refresh", "Refresh"),
        Binding("v", "toggle_volume", "Volume 24 h / 14 d"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor
        self.service = DashboardService(gateway.sessions, gateway.spool, gateway.config)
        self.board: Dashboard | None = None
        self.daily = False  # the sparkline shows 14 days per day instead of 24 h per hour
        self.loads = 0  # summaries shown so far
        self.failing = False  # the last refresh failed (told once, until one works again)
        self.loader: Worker[None] | None = None
        self.again = False  # ``g`` was pressed while a summary was being taken
        self.timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Grid(id="dash-grid"):
            with VerticalScroll(id="dash-mail-panel", classes="dash-panel"):
                yield Static(id="dash-mail", classes="dash-lines")
                yield Static(id="dash-volume-label", classes="dash-lines")
                yield Sparkline([], id="dash-volume")
                yield Static(id="dash-dropped", classes="dash-lines")
            with VerticalScroll(id="dash-matching-panel", classes="dash-panel"):
                yield Static(id="dash-matching", classes="dash-lines")
            with VerticalScroll(id="dash-backlog-panel", classes="dash-panel"):
                yield Static(id="dash-backlog", classes="dash-lines")
            with VerticalScroll(id="dash-spool-panel", classes="dash-panel"):
                yield Static(id="dash-spool")
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "#dash-mail-panel": "Mail",
            "#dash-matching-panel": "Matching",
            "#dash-backlog-panel": "Backlog",
            "#dash-spool-panel": "Spool & worker",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one("#dash-grid").loading = True
        self.timer = self.set_interval(self.REFRESH_SECONDS, self._tick, pause=True)

    # -- refreshing ---------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        if self.timer is not None:
            self.timer.resume()
        self.load()

    def on_screen_suspend(self) -> None:
        if self.timer is not None:
            self.timer.pause()

    def _tick(self) -> None:
        self.load()

    def action_refresh(self) -> None:
        self.load(now=True)

    def load(self, now: bool = False) -> None:
        """Take a new summary in a thread. While one is being taken, a timer tick is dropped
        and ``now`` (the ``g`` key) takes another as soon as it is done: never two at once."""
        if self.loader is not None and not self.loader.is_finished:
            self.again = self.again or now
            return
        self.again = False
        self.loader = self._load()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.loader and event.worker.is_finished and self.again:
            self.load()

    @work(thread=True, exclusive=True, group="dashboard-load")
    def _load(self) -> None:
        # Results go up as messages: posting never blocks, so a summary that finishes while
        # the app quits cannot hold the process open the way call_from_thread could.
        try:
            board = self.service.summary(clock())
        except Exception as exc:  # the database is down: tell once, keep the last numbers
            self._post(self.LoadFailed(exc))
            return
        if not get_current_worker().is_cancelled:  # cancelled: the screen or app is closing
            self._post(self.Loaded(board))

    def _post(self, message: Message) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop closed meanwhile
            self.post_message(message)

    def on_dashboard_screen_loaded(self, message: Loaded) -> None:
        self._show(message.board)

    def on_dashboard_screen_load_failed(self, message: LoadFailed) -> None:
        exc = message.error
        self.query_one("#dash-grid").loading = False
        at = clock() or datetime.now(UTC)
        shown = f"; showing {self.board.now:%H:%M:%S} UTC" if self.board else ""
        self.sub_title = f"update failed {at:%H:%M:%S} UTC{shown}"
        if self.failing:
            return
        self.failing = True
        log.exception("refreshing the dashboard failed", exc_info=exc)
        first_line = next(iter(str(exc).splitlines()), "")  # not the SQL that follows
        self.notify(
            clean(first_line) or type(exc).__name__,
            title="Refreshing the dashboard failed",
            severity="error",
        )

    def _show(self, board: Dashboard) -> None:
        self.failing = False
        self.board = board
        self.loads += 1
        self.query_one("#dash-grid").loading = False
        self.sub_title = f"updated {board.now:%H:%M:%S} UTC"
        self.query_one("#dash-mail", Static).update(render_mail(board))
        self._show_volume()
        self.query_one("#dash-dropped", Static).update(render_dropped(board))
        self.query_one("#dash-matching", Static).update(render_matching(board))
        self.query_one("#dash-backlog", Static).update(render_backlog(board))
        self.query_one("#dash-spool", Static).update(render_spool(board))

    def _show_volume(self) -> None:
        if self.board is None:
            return
        volume = self.board.volume
        data = volume.daily if self.daily else volume.hourly
        self.query_one("#dash-volume", Sparkline).data = list(data)
        label = render_volume_label(self.board, self.daily)
        self.query_one("#dash-volume-label", Static).update(label)

    def action_toggle_volume(self) -> None:
        self.daily = not self.daily
        self._show_volume()
