"""PLACEHOLDER: replaced by the real Held screen in this change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from gateway.app import App as GatewayApp


class QuarantineScreen(Screen[None]):
    TITLE = "Held"

    def __init__(self, gateway: GatewayApp, actor: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.actor = actor

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("not built yet")
        yield Footer()
