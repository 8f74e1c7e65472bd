"""Guard the guard: ``support.assert_inert`` must fail when content reaches the terminal
unsanitised, or every hostile-content test would pass vacuously."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from admin_tui.sanitize import plain

from .support import HOSTILE_CASES, assert_inert


class Shows(App[None]):
    def __init__(self, content: Text) -> None:
        super().__init__()
        self.content = content

    def compose(self) -> ComposeResult:
        yield Static(self.content)


def check(content: Text) -> None:
    async def main() -> None:
        app = Shows(content)
        async with app.run_test(size=(80, 10)) as pilot:
            await pilot.pause()
            assert_inert(app)

    asyncio.run(main())


@pytest.mark.parametrize("case", sorted(set(HOSTILE_CASES) - {"markup"}))
def test_raw_hostile_text_is_caught(case: str) -> None:
    with pytest.raises(AssertionError):
        check(Text(HOSTILE_CASES[case], no_wrap=True))


@pytest.mark.parametrize("case", sorted(HOSTILE_CASES))
def test_sanitised_text_passes(case: str) -> None:
    check(plain(HOSTILE_CASES[case]))
