"""The one sanitiser: every unsafe character becomes a visible marker, nothing is lost
silently, and cutting is said out loud."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from admin_tui.sanitize import clean, clean_block, marker, plain, plain_block

from .support import HOSTILE_CASES


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred", "␛[31mred"),
        ("\x1b]52;c;AAAA\x07", "␛]52;c;AAAA␇"),
        ("\x1b]8;;http://x\x1b\\y", "␛]8;;http://x␛\\y"),
        ("\x9b2J\x85", "⟨U+009B⟩2J⟨U+0085⟩"),
        ("a\u202eb\u2066c\u200bd\ufeff", "a⟨U+202E⟩b⟨U+2066⟩c⟨U+200B⟩d⟨U+FEFF⟩"),
        ("line\nnext\r", "line␊next␍"),
        ("tab\there", "tab here"),
        ("nul\x00del\x7f", "nul␀del␡"),
        ("\u2028\u2029", "⟨U+2028⟩⟨U+2029⟩"),
        ("[bold]x[/]", "[bold]x[/]"),
        ("Zażółć gęślą jaźń", "Zażółć gęślą jaźń"),
        (None, ""),
        (42, "42"),
    ],
)
def test_clean_marks_what_a_terminal_would_act_on(raw: object, shown: str) -> None:
    assert clean(raw) == shown


@given(st.text())
def test_nothing_unsafe_survives_and_safe_text_is_untouched(raw: str) -> None:
    out = clean(raw, limit=10_000)
    unsafe = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    assert not [c for c in out if unicodedata.category(c) in unsafe]
    if not [c for c in raw if unicodedata.category(c) in unsafe or c == "\t"]:
        assert out == raw


def test_markers_are_visible_characters() -> None:
    assert marker("\x1b") == "␛"
    assert marker("\x7f") == "␡"
    assert marker("\u202e") == "⟨U+202E⟩"


def test_a_long_line_is_cut_with_the_count_of_what_is_left_out() -> None:
    assert clean("x" * 1_000_000, limit=10) == "xxxxxxxxxx… (+999,990 chars)"
    assert clean("x" * 10, limit=10) == "x" * 10


def test_a_block_keeps_lines_and_says_how_many_are_hidden() -> None:
    body = "\n".join(f"line {i}\x1b[2J" for i in range(100_000))
    out = clean_block(body, max_lines=3)
    assert out.split("\n") == [
        "line 0␛[2J",
        "line 1␛[2J",
        "line 2␛[2J",
        "… (99,997 more lines not shown)",
    ]


def test_a_block_reads_crlf_as_one_break_and_cuts_each_line() -> None:
    assert clean_block("a\r\nb\tc\r\n" + "y" * 50, max_line=10) == (
        "a\nb    c\nyyyyyyyyyy… (+40 chars)"
    )
    assert clean_block(None) == ""
    assert clean_block("") == ""


def test_a_block_of_few_enormous_lines_is_cut_in_each_line() -> None:
    out = clean_block(("y" * 5_000 + "\n") * 3, max_lines=2, max_line=20).split("\n")
    assert out == [
        "y" * 20 + "… (+4,980 chars)",
        "y" * 20 + "… (+4,980 chars)",
        "… (2 more lines not shown)",
    ]


@pytest.mark.parametrize("case", sorted(HOSTILE_CASES))
def test_texts_for_widgets_are_rich_text_never_markup(case: str) -> None:
    for text in (plain(HOSTILE_CASES[case]), plain_block(HOSTILE_CASES[case])):
        assert isinstance(text, Text)
        assert not text.spans  # markup was not parsed into styles
        assert "\x1b" not in text.plain
