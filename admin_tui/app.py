"""The admin TUI's application: one screen per job, switched by a key, the command palette or
the mouse, plus a help screen; ``run`` is ``bccrm admin``.

The composition root (``run``) builds gateway's :class:`gateway.app.App` and hands it in; the
TUI never reads configuration files itself and talks to the database only through gateway's
service layer, from thread workers.

Keys: the screens own single letters for their actions; the app owns the screen keys below,
``?`` (help), ``ctrl+p`` (the command palette) and ``q`` (quit). Screens must not rebind
those letters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from admin_tui.screens.contacts import ContactsScreen
from admin_tui.screens.dashboard import DashboardScreen
from admin_tui.screens.emails import EmailLogScreen
from admin_tui.screens.help import HelpScreen, collect_bindings
from admin_tui.screens.legal import LegalScreen
from admin_tui.screens.quarantine import QuarantineScreen
from admin_tui.screens.review import ReviewScreen
from admin_tui.screens.settings import SettingsScreen
from gateway.app import App as GatewayApp
from gateway.app import login_actor, open_app
from gateway.config import Config


@dataclass(frozen=True)
class Section:
    mode: str  # Textual mode name
    key: str
    title: str
    help: str  # for the command palette
    screen: Callable[[GatewayApp, str], Screen[None]]


SECTIONS: tuple[Section, ...] = (
    Section("dashboard", "d", "Dashboard", "Volume, matching, backlog, spool", DashboardScreen),
    Section("emails", "e", "Emails", "The email log: search, filter, fix", EmailLogScreen),
    Section("review", "r", "Review", "Questions bccrm asked instead of guessing", ReviewScreen),
    Section("legal", "l", "Legal basis", "Open legal-basis checks, notices due", LegalScreen),
    Section("quarantine", "h", "Held", "Quarantined mail: release or drop", QuarantineScreen),
    Section("contacts", "c", "Contacts", "Search, timeline, consent, erase", ContactsScreen),
    Section(
        "settings", "s", "Settings", "Never-log lists, users, inboxes, thresholds", SettingsScreen
    ),
)
APP_KEYS = frozenset({*(s.key for s in SECTIONS), "question_mark", "q", "ctrl+p"})


class AdminApp(App[int]):
    """bccrm's admin terminal UI over a gateway app (``gateway``) acting as ``actor``."""

    TITLE = "bccrm admin"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(s.key, f"section('{s.mode}')", s.title) for s in SECTIONS),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str, start: str = "dashboard") -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor
        self.start = start
        for section in SECTIONS:
            self.add_mode(section.mode, partial(section.screen, gateway, actor))

    def on_mount(self) -> None:
        self.switch_mode(self.start)

    def action_section(self, mode: str) -> None:
        while isinstance(self.screen, HelpScreen):
            self.pop_screen()
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        keys = {s.key: f"section('{s.mode}')" for s in SECTIONS} | {"q": "quit"}
        self.push_screen(HelpScreen(collect_bindings(self), self.screen.title or "", keys))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette (ctrl+p) offers every screen next to Textual's own commands."""
        for section in SECTIONS:
            yield SystemCommand(
                f"Go to {section.title}",
                f"{section.help} (key {section.key})",
                partial(self.action_section, section.mode),
            )
        yield from super().get_system_commands(screen)


def run(config: Config) -> int:
    """``bccrm admin``: the TUI over the configured database; returns the exit code."""
    gateway = open_app(config)
    try:
        AdminApp(gateway, login_actor()).run()
    finally:
        gateway.close()
    return 0
