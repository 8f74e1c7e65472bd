"""Driving the admin TUI in tests: run it headless with Pilot, wait for its thread workers,
read back what the terminal would show, and check hostile text stayed inert."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from textual.app import App as TextualApp
from textual.pilot import Pilot

from admin_tui.app import AdminApp
from gateway.app import App

ACTOR = "cli:tester"
SIZE = (120, 36)

Scenario = Callable[[AdminApp, Pilot[int]], Awaitable[None]]

# RELIABILITY.md's TUI list: ANSI/OSC escapes, C1 controls, markup-looking text, bidi overrides,
# zero-width characters. A 1 MB subject and a 100,000-line body are built by the tests.
HOSTILE_CASES = {
    "csi": "\x1b[2J\x1b[31mRED\x1b[0m\x1b[10;10H",
    "osc52": "\x1b]52;c;cm0gLXJmIH4=\x07clipboard",
    "osc8": "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "c1": "\x9b31m\x9d0;title\x9c\x85next",
    "markup": "[bold red]shout[/] [link=http://evil.example]x[/link] [@click=app.quit]q[/]",
    "bidi": "invoice\u202efdp.exe\u202c \u2066iso\u2069",
    "zero_width": "pay\u200bpal\u200d\ufeff",
    "c0": "bell\x07 back\x08space nul\x00 del\x7f",
}
HOSTILE = " | ".join(HOSTILE_CASES.values())

# What may reach the terminal after rendering: line positioning and SGR styling only. Anything
# else from the content (an OSC, a cursor move, a C1 control, a bidi override) would be the
# content acting.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_ROW_START = re.compile(r"\x1b\[(\d+);1H")
_FORBIDDEN = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


async def settle(pilot: Pilot[int]) -> None:
    """Let the thread workers finish and their results reach the screen."""
    for _ in range(5):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def drive(
    app: App, scenario: Scenario, start: str = "dashboard", size: tuple[int, int] = SIZE
) -> None:
    """Run the TUI headless on ``app`` at ``size``, opened on screen ``start``."""

    async def main() -> None:
        tui = AdminApp(app, ACTOR, start=start)
        async with tui.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(tui, pilot)

    asyncio.run(main())


def render(tui: TextualApp[Any]) -> tuple[list[str], str]:
    """The screen as plain lines and as the bytes a terminal would receive."""
    width, height = tui.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(tui.screen._compositor.render_update(full=True))
    raw = console.export_text(clear=False, styles=True)
    lines = console.export_text(styles=False).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, raw


def screen_text(tui: TextualApp[Any]) -> str:
    return "\n".join(render(tui)[0])


def assert_inert(tui: TextualApp[Any]) -> list[str]:
    """What would be written to the terminal has no escape but Textual's own line positioning
    and SGR styling, no control character and no bidi or zero-width character; and the layout
    holds: exactly the terminal's height, the footer (with the palette hint) still on the last
    line of the admin app. Returns the lines."""
    height = tui.size.height
    lines, raw = render(tui)
    assert len(lines) == height, f"{len(lines)} lines on a {height}-line terminal"
    if isinstance(tui, AdminApp):
        assert "^p" in lines[-1], f"the footer is not on the last line: {lines[-1]!r}"
    # Textual positions each line with one cursor move, ESC[<row>;1H, rows 1..height in order;
    # an unsanitised cursor move from the content would break that sequence.
    rows = _ROW_START.findall(raw)
    assert rows == [str(row) for row in range(1, height + 1)], f"cursor moves: {rows}"
    leftover = _SGR.sub("", _ROW_START.sub("", raw)).replace("\n", "")
    found = _FORBIDDEN.findall(leftover)
    assert not found, f"reaches the terminal: {sorted({f'U+{ord(c):04X}' for c in found})}"
    return lines
