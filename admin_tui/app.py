"""The admin TUI's application: screens by key, a help screen, and ``run`` for ``bccrm admin``.

The composition root (``run``) builds gateway's :class:`gateway.app.App` and hands it in; the
TUI never reads configuration files itself and talks to the database only through gateway's
service layer, from thread workers.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from admin_tui.screens.help import HelpScreen, collect_bindings
from admin_tui.screens.review import ReviewScreen
from gateway.app import App as GatewayApp
from gateway.cli.common import close_apps, login_actor, open_app
from gateway.config import Config


class AdminApp(App[int]):
    """bccrm's admin terminal UI over a gateway app (``gateway``) acting as ``actor``."""

    TITLE = "bccrm admin"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "show_review", "Review"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor

    def on_mount(self) -> None:
        self.install_screen(ReviewScreen(self.gateway, self.actor), name="review")
        self.push_screen("review")

    def action_show_review(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            return
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        if not isinstance(self.screen, ReviewScreen):
            self.push_screen("review")

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen(collect_bindings(self), self.screen.title or ""))


def run(config: Config) -> int:
    """``bccrm admin``: the TUI over the configured database; returns the exit code."""
    gateway = open_app(config)
    try:
        AdminApp(gateway, login_actor()).run()
    finally:
        close_apps()
    return 0
