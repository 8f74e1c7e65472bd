"""The help screen: the keys of the app and of the screen it was opened from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from admin_tui.sanitize import clean


@dataclass(frozen=True)
class KeyHelp:
    group: str  # "app", "screen" or a widget's name
    key: str  # as shown: "?", "a", "ctrl+p"
    description: str


def collect_bindings(app: App[Any]) -> list[KeyHelp]:
    """The bindings active on the current screen (app, screen and focused widget) in that
    order, keys with the same description on one line ("^q, q  Quit"); bindings without a
    description are internal and left out."""
    keys: dict[tuple[str, str], list[str]] = {}
    for active in app.active_bindings.values():
        binding = active.binding
        if not binding.description:
            continue
        node = active.node
        if node is app:
            group = "app"
        elif node is app.screen:
            group = "screen"
        else:
            group = type(node).__name__
        key = binding.key_display or app.get_key_display(binding)
        shown = keys.setdefault((group, binding.description), [])
        if key not in shown:
            shown.append(key)
    order = {"app": 0, "screen": 1}
    found = [
        KeyHelp(group, _keys_text(shown), description)
        for (group, description), shown in keys.items()
    ]
    found.sort(key=lambda k: order.get(k.group, 2))
    return found


def _keys_text(keys: list[str]) -> str:
    """``1-9`` for a run of digits, else the keys joined."""
    if len(keys) > 2 and all(len(k) == 1 and k.isdigit() for k in keys):
        return f"{min(keys)}-{max(keys)}"
    return ", ".join(keys)


def render_help(keys: list[KeyHelp], screen_title: str) -> Text:
    text = Text()
    text.append("Keys", style="bold")
    if screen_title:
        text.append(" — ")
        text.append(clean(screen_title))
    text.append("\n")
    group = None
    for entry in keys:
        if entry.group != group:
            group = entry.group
            text.append(f"\n{group}\n", style="bold underline")
        text.append(f"  {clean(entry.key):>14}  ", style="bold cyan")
        text.append(clean(entry.description))
        text.append("\n")
    text.append("\nescape or ? closes this help", style="dim")
    return text


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; ``escape`` or ``?`` closes it. A modal screen hides the app's
    bindings, so the keys in ``passthrough`` (key → app action) close the help and run their
    action: a screen key pressed over the help goes to that screen."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?", show=False),
    ]

    def __init__(
        self,
        keys: list[KeyHelp],
        screen_title: str = "",
        passthrough: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.keys = keys
        self.screen_title = screen_title
        self.passthrough = dict(passthrough or {})

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(render_help(self.keys, self.screen_title), id="help-keys")

    def action_close(self) -> None:
        self.dismiss()

    async def on_key(self, event: events.Key) -> None:
        action = self.passthrough.get(event.key)
        if action is None:
            return
        event.stop()
        await self.app.run_action(action)  # the app's section action closes this help
