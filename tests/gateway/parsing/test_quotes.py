"""Quoted reply history: the newest text of a message and nothing below it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.parsing.html import html_to_text
from gateway.parsing.quotes import MAX_LINES, is_reply_header, strip_quotes

GMAIL_EN = "On Mon, Nov 2, 2026 at 9:30 AM Anna Kowalska <anna@acme.pl> wrote:"
THUNDERBIRD_EN = "On 02/11/2026 09:30, Anna wrote:"
APPLE_EN = "On 2 Nov 2026, at 09:30, Anna Kowalska <anna@acme.pl> wrote:"
YAHOO_EN = "On Monday, November 2, 2026, 09:30:00 AM GMT+1, Anna Kowalska <anna@acme.pl> wrote:"
ZOHO_EN = "---- On Mon, 02 Nov 2026 09:30:00 +0100 Anna Kowalska <anna@acme.pl> wrote ----"
THUNDERBIRD_PL = "W dniu 2.11.2026 o 09:30, Anna Kowalska pisze:"
GMAIL_PL = "W dniu pon., 2 lis 2026 o 09:30 Anna Kowalska <anna@acme.pl> napisał(a):"
GMAIL_PL_SHORT = "pon., 2 lis 2026 o 09:30 Anna Kowalska <anna@acme.pl> napisał(a):"
THUNDERBIRD_DE = "Am 02.11.2026 um 09:30 schrieb Anna Kowalska <anna@acme.pl>:"
GMAIL_DE = "Am Mo., 2. Nov. 2026 um 09:30 Uhr schrieb Anna Kowalska <anna@acme.pl>:"
GMAIL_FR = "Le lun. 2 nov. 2026 à 09:30, Anna Kowalska <anna@acme.pl> a écrit :"
GMAIL_FR_NNBSP = "Le lun. 2 nov. 2026 à 09:30, Anna Kowalska <anna@acme.pl> a écrit\u202f:"
THUNDERBIRD_FR = "Le 02/11/2026 à 09:30, Anna Kowalska a écrit :"
GMAIL_ES = "El lun, 2 nov 2026 a las 9:30, Anna Kowalska (<anna@acme.pl>) escribió:"
THUNDERBIRD_ES = "El 2/11/26 a las 9:30, Anna Kowalska escribió:"

ATTRIBUTIONS = [
    GMAIL_EN,
    THUNDERBIRD_EN,
    APPLE_EN,
    YAHOO_EN,
    ZOHO_EN,
    THUNDERBIRD_PL,
    GMAIL_PL,
    GMAIL_PL_SHORT,
    "Dnia 2.11.2026 o 09:30 Anna Kowalska <anna@acme.pl> napisał(a):",
    "Użytkownik Anna Kowalska <anna@acme.pl> napisał:",
    THUNDERBIRD_DE,
    GMAIL_DE,
    "Anna Kowalska <anna@acme.pl> schrieb am 02.11.2026 um 09:30:",
    "Am 02.11.2026 um 09:30 hat Anna Kowalska geschrieben:",
    "Am Montag, den 02.11.2026, 09:30 +0100 schrieb Anna Kowalska:",
    GMAIL_FR,
    GMAIL_FR_NNBSP,
    THUNDERBIRD_FR,
    GMAIL_ES,
    THUNDERBIRD_ES,
    "Anna Kowalska/ACME wrote on 02/11/2026 09:30:47:",
]

# Where a client wraps a long attribution: (first line, second line).
WRAPPED = [
    ("On Mon, Nov 2, 2026 at 9:30 AM Anna Kowalska <", "anna@acme.pl> wrote:"),
    ("On Mon, Nov 2, 2026 at 9:30 AM Anna Kowalska-Wiśniewska", "<anna@acme.pl> wrote:"),
    ("W dniu pon., 2 lis 2026 o 09:30 Anna Kowalska <", "anna@acme.pl> napisał(a):"),
    ("pon., 2 lis 2026 o 09:30 Anna Kowalska-Wiśniewska <", "anna@acme.pl> napisał(a):"),
    ("Am Mo., 2. Nov. 2026 um 09:30 Uhr schrieb Anna Kowalska <", "anna@acme.pl>:"),
    ("Le lun. 2 nov. 2026 à 09:30, Anna Kowalska <", "anna@acme.pl> a écrit :"),
    ("El lun, 2 nov 2026 a las 9:30, Anna Kowalska (<", "anna@acme.pl>) escribió:"),
]

QUOTE = "> Hi Jan,\n>\n> could you send the offer?\n>\n> Anna"


def history(attribution: str) -> str:
    return f"{attribution}\n{QUOTE}\n"


# --- attribution lines -------------------------------------------------------------------------


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_is_reply_header_in_every_language(attribution: str) -> None:
    assert is_reply_header(attribution)
    assert is_reply_header(f"  {attribution}  ")


@pytest.mark.parametrize(
    "line",
    [
        "On Monday we will meet.",
        "On Monday, Anna wrote:",  # no date: only a loose attribution above quoted lines
        "On 2 occasions the client wrote:",
        "W dniu wczorajszym rozmawialiśmy o ofercie.",
        "W dniu 2.11.2026 o 09:30 spotkanie w biurze.",
        "Am 02.11.2026 um 09:30 treffen wir uns.",
        "Le 2 novembre nous avons écrit au client.",
        "El lunes escribió el cliente:",
        "From: the sales team",
        "> " + GMAIL_EN,
        "-----",
        "",
        "On " + "x" * 600 + " 2026 wrote:",
    ],
)
def test_is_reply_header_rejects_ordinary_text(line: str) -> None:
    assert not is_reply_header(line)


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_attribution_with_quote_is_history(attribution: str) -> None:
    text = f"Dzień dobry,\n\noferta w załączniku.\n\n{history(attribution)}"
    assert strip_quotes(text) == "Dzień dobry,\n\noferta w załączniku."


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_attribution_with_unquoted_history_is_history(attribution: str) -> None:
    # HTML mail whose quote was not a <blockquote>: the history below is not "> "-quoted.
    text = f"Thanks!\n\n{attribution}\nHi Jan,\ncould you send the offer?\nAnna\n"
    assert strip_quotes(text) == "Thanks!"


@pytest.mark.parametrize(("first", "second"), WRAPPED)
def test_attribution_wrapped_over_two_lines(first: str, second: str) -> None:
    assert is_reply_header(f"{first} {second}")
    assert not is_reply_header(first)
    quoted = f"Thanks, Jan\n\n{first}\n{second}\n\n{QUOTE}\n"
    unquoted = f"Thanks, Jan\n\n{first}\n{second}\nHi Jan, could you send the offer?\n"
    assert strip_quotes(quoted) == "Thanks, Jan"
    assert strip_quotes(unquoted) == "Thanks, Jan"


@pytest.mark.parametrize(
    "text",
    [
        "On Monday we will meet at 10:00.\nAnna wrote:\nThe offer is attached.",
        "Wie besprochen, ich schrieb\nam 02.11.2026 um 09:30:\nDas Angebot gilt.",
    ],
)
def test_two_lines_are_joined_only_for_attribution_starts(text: str) -> None:
    assert strip_quotes(text) == text


@pytest.mark.parametrize("attribution", [GMAIL_EN, GMAIL_PL, THUNDERBIRD_DE, GMAIL_FR, GMAIL_ES])
def test_text_starting_with_a_marker_has_nothing_new(attribution: str) -> None:
    assert strip_quotes(history(attribution)) == ""
    assert strip_quotes(f"\n\n{attribution}\nunquoted old text\n") == ""


# --- Outlook header blocks ---------------------------------------------------------------------

OUTLOOK_BLOCKS = {
    "en": (
        "________________________________\n"
        "From: Anna Kowalska <anna@acme.pl>\n"
        "Sent: Monday, November 2, 2026 9:30 AM\n"
        "To: Jan Nowak <jan@firma.pl>\n"
        "Cc: Ewa Lis <ewa@firma.pl>\n"
        "Subject: RE: Offer"
    ),
    "en-original": (
        "-----Original Message-----\n"
        "From: Anna Kowalska [mailto:anna@acme.pl]\n"
        "Sent: Monday, November 2, 2026 9:30 AM\n"
        "To: Jan Nowak\n"
        "Subject: Offer"
    ),
    "pl": (
        "-----Wiadomość oryginalna-----\n"
        "Od: Anna Kowalska <anna@acme.pl>\n"
        "Wysłano: poniedziałek, 2 listopada 2026 09:30\n"
        "Do: Jan Nowak <jan@firma.pl>\n"
        "DW: Ewa Lis\n"
        "Temat: RE: Oferta"
    ),
    "pl-new-outlook": (
        "Od: Anna Kowalska <anna@acme.pl>\n"
        "Wysłane: poniedziałek, 2 listopada 2026 09:30\n"
        "Do: Jan Nowak <jan@firma.pl>\n"
        "Temat: Oferta"
    ),
    "de": (
        "-----Ursprüngliche Nachricht-----\n"
        "Von: Anna Kowalska <anna@acme.pl>\n"
        "Gesendet: Montag, 2. November 2026 09:30\n"
        "An: Jan Nowak <jan@firma.pl>\n"
        "Betreff: AW: Angebot"
    ),
    "fr": (
        "-----Message d'origine-----\n"
        "De\u00a0: Anna Kowalska <anna@acme.pl>\n"
        "Envoyé\u00a0: lundi 2 novembre 2026 09:30\n"
        "À\u00a0: Jan Nowak <jan@firma.pl>\n"
        "Objet\u00a0: RE: Devis"
    ),
    "fr-plain": (
        "________________________________\n"
        "De : Anna Kowalska <anna@acme.pl>\n"
        "Envoyé : lundi 2 novembre 2026 09:30\n"
        "À : Jan Nowak\n"
        "Objet : Devis"
    ),
    "es": (
        "-----Mensaje original-----\n"
        "De: Anna Kowalska <anna@acme.pl>\n"
        "Enviado: lunes, 2 de noviembre de 2026 9:30\n"
        "Para: Jan Nowak <jan@firma.pl>\n"
        "Asunto: RE: Presupuesto"
    ),
    "es-enviado-el": (
        "De: Anna Kowalska <anna@acme.pl>\n"
        "Enviado el: lunes, 2 de noviembre de 2026 9:30\n"
        "Para: Jan Nowak\n"
        "Asunto: Presupuesto"
    ),
    "bold": (
        "*From:* Anna Kowalska <anna@acme.pl>\n"
        "*Sent:* Monday, November 2, 2026 9:30 AM\n"
        "*To:* Jan Nowak <jan@firma.pl>\n"
        "*Subject:* Offer"
    ),
    "de-gmx": (
        "Gesendet: Montag, 02. November 2026 um 09:30 Uhr\n"
        'Von: "Anna Kowalska" <anna@acme.pl>\n'
        "An: jan@firma.pl\n"
        "Betreff: Angebot"
    ),
    "de-original-nachricht": (
        "-------- Original-Nachricht --------\n"
        "Betreff: Angebot\n"
        "Datum: 02.11.2026 09:30\n"
        "Von: Anna Kowalska <anna@acme.pl>"
    ),
    "outlook-mac": (
        "From: Anna Kowalska <anna@acme.pl>\n"
        "Date: Monday, 2 November 2026 at 09:30\n"
        "To: Jan Nowak <jan@firma.pl>\n"
        "Subject: Offer"
    ),
    "de-mac": (
        "Von: Anna Kowalska <anna@acme.pl>\n"
        "Datum: Montag, 2. November 2026 um 09:30\n"
        "An: Jan Nowak <jan@firma.pl>\n"
        "Betreff: Angebot"
    ),
}


@pytest.mark.parametrize("block", OUTLOOK_BLOCKS.values(), ids=OUTLOOK_BLOCKS.keys())
def test_outlook_header_block_is_history(block: str) -> None:
    text = f"Confirmed, thank you.\n\nJan Nowak\n\n{block}\n\nHi Jan,\nplease confirm.\nAnna\n"
    assert strip_quotes(text) == "Confirmed, thank you.\n\nJan Nowak"
    assert strip_quotes(f"{block}\n\nHi Jan,\nplease confirm.\n") == ""


def test_outlook_block_from_html() -> None:
    html = (
        "<div><p>Dzięki, potwierdzam.</p><p>Jan</p></div>"
        '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg">'
        "<b>Od:</b> Anna Kowalska &lt;anna@acme.pl&gt;<br>"
        "<b>Wysłane:</b> poniedziałek, 2 listopada 2026 09:30<br>"
        "<b>Do:</b> Jan Nowak &lt;jan@firma.pl&gt;<br><b>Temat:</b> Oferta</div>"
        "<div><p>Dzień dobry, proszę o ofertę.</p></div>"
    )
    assert strip_quotes(html_to_text(html)) == "Dzięki, potwierdzam.\n\nJan"


def test_header_block_confirmed_by_the_subject_hint() -> None:
    text = "See below.\n\nFrom: Anna Kowalska\nSubject: Offer for ACME\n\nHi Jan\n"
    assert strip_quotes(text) == text.rstrip()  # name-only From and a subject: not enough
    assert strip_quotes(text, subject_hint="RE: Offer for ACME") == "See below."


def test_separator_without_header_block_is_text() -> None:
    text = "Agenda\n________________________________\nItem one\nItem two"
    assert strip_quotes(text) == text


@pytest.mark.parametrize(
    "separator",
    [
        "---------- Forwarded message ---------",
        "-------- Weitergeleitete Nachricht --------",
        "Begin forwarded message:",
        "-------- Original Message --------",
    ],
)
def test_separators_alone_are_markers(separator: str) -> None:
    text = f"FYI\n\n{separator}\nSubject: Offer\nDate: Mon, 2 Nov 2026\n\nold text\n"
    assert strip_quotes(text) == "FYI"


# --- ordinary text that looks like a marker ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "On Monday we will meet.\nSee you there.",
        "The brochure came from: the sales team.\nFrom: the sales team\nRegards",
        "Price list\n-----\nA: 10 EUR\nB: 20 EUR",
        "W dniu wczorajszym rozmawialiśmy o ofercie.\nPozdrawiam",
        "Szkolenie BHP\nOd: 09:00\nDo: 17:00\nData: 2.11.2026\nSala 4",
        "Zakres:\nOd: poniedziałku\nDo: piątku\nTemat: szkolenie",
        "From: Anna\nWe agreed on the price.\nSee you on Monday.\n\nJan",
    ],
)
def test_ordinary_text_is_not_history(text: str) -> None:
    assert strip_quotes(text) == text


# --- ">" quoting -------------------------------------------------------------------------------


def test_trailing_quote_without_attribution() -> None:
    text = "Yes, Tuesday works.\n\n> Hi Jan,\n>\n> does Tuesday work?\n\n> Anna\n\n"
    assert strip_quotes(text) == "Yes, Tuesday works."


@pytest.mark.parametrize(
    "attribution",
    [
        "Anna Kowalska <anna@acme.pl> wrote:",
        "Anna Kowalska pisze:",
        "Anna Kowalska napisał(a):",
        "Anna Kowalska schrieb:",
        "Anna Kowalska a écrit :",
        "Anna Kowalska escribió:",
        "Quoting Anna Kowalska <anna@acme.pl>:",
    ],
)
def test_loose_attribution_above_trailing_quote(attribution: str) -> None:
    assert strip_quotes(f"Thanks.\n\n{attribution}\n{QUOTE}") == "Thanks."
    # Without quoted lines below it, a line like this is the writer's text.
    assert strip_quotes(f"Thanks.\n\n{attribution}\nSee you.") == (
        f"Thanks.\n\n{attribution}\nSee you."
    )


def test_ios_mail_quotes_the_attribution_too() -> None:
    text = f"Ok!\n\nSent from my iPhone\n\n> {APPLE_EN}\n> \n> Is it ok?\n"
    assert strip_quotes(text) == "Ok!\n\nSent from my iPhone"


def test_inline_answers_are_kept_and_history_below_is_cut() -> None:
    text = (
        "Hi Anna, answers inline.\n\n"
        "> What is the price?\n"
        "100 EUR net.\n\n"
        "> When can you deliver?\n"
        "Next Monday.\n\n"
        "Jan\n\n"
        f"{GMAIL_EN}\n"
        "> What is the price?\n"
        "> When can you deliver?\n"
    )
    expected = text.split(f"\n\n{GMAIL_EN}", maxsplit=1)[0]
    assert strip_quotes(text) == expected


def test_inline_answers_keep_quotes_and_drop_only_the_trailing_run() -> None:
    text = "> What is the price?\n100 EUR.\n\n> When?\nMonday.\n\n> Thanks, Anna\n"
    assert strip_quotes(text) == "> What is the price?\n100 EUR.\n\n> When?\nMonday."


def test_bottom_posting_under_an_attribution_is_kept() -> None:
    text = f"{THUNDERBIRD_EN}\n> Can we meet on Tuesday?\n\nYes, at 10:00.\n\n-- \nJan"
    assert strip_quotes(text) == text


def test_quote_followed_by_a_list_footer_is_history() -> None:
    text = (
        f"Agreed.\n\n{GMAIL_EN}\n> Shall we sign?\n\n"
        "-- \nYou received this message because you are subscribed to the Google Groups "
        '"Sales" group.\n'
    )
    assert strip_quotes(text) == "Agreed."


def test_quote_followed_by_an_outlook_block_is_history() -> None:
    text = f"Agreed.\n\n{GMAIL_EN}\n> Shall we sign?\n\n{OUTLOOK_BLOCKS['en']}\n\nold\n"
    assert strip_quotes(text) == "Agreed."


def test_markers_inside_quoted_lines_are_not_cut_points() -> None:
    text = "> From: Anna <anna@acme.pl>\n> Sent: Monday\n> Offer?\nYes, sending it today."
    assert strip_quotes(text) == text


def test_html_blockquote_becomes_history() -> None:
    html = (
        '<div dir="ltr">Thanks, see you then.<div><br></div><div>Jan</div></div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Nov 2, 2026 at '
        "9:30 AM Anna Kowalska &lt;anna@acme.pl&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote"><div dir="ltr">Hi Jan,<div><br></div>'
        "<div>can we meet on Tuesday?</div><div><br></div>Anna</div></blockquote></div>"
    )
    assert strip_quotes(html_to_text(html)) == "Thanks, see you then.\n\nJan"


def test_crlf_and_cr_line_ends() -> None:
    text = f"Dziękuję.\r\n\r\n{GMAIL_PL}\r\n> Proszę o ofertę.\r\n"
    assert strip_quotes(text) == "Dziękuję."
    assert strip_quotes("Danke.\r\rAm 02.11.2026 um 09:30 schrieb Anna:\r> Hallo") == "Danke."


def test_empty_and_blank_input() -> None:
    assert strip_quotes("") == ""
    assert strip_quotes(" \n\t\n") == ""
    assert strip_quotes("> only history\n> here") == ""


def test_only_the_first_lines_are_read() -> None:
    text = "\n".join(f"line {i}" for i in range(MAX_LINES + 100))
    result = strip_quotes(text)
    assert result.split("\n") == [f"line {i}" for i in range(MAX_LINES)]


# --- robustness --------------------------------------------------------------------------------

FRAGMENTS = [
    *ATTRIBUTIONS,
    *(line for pair in WRAPPED for line in pair),
    *(line for block in OUTLOOK_BLOCKS.values() for line in block.split("\n")),
    QUOTE,
    "> quoted",
    ">",
    ">> deeper",
    "   > indented",
    "",
    " ",
    "-----",
    "-- ",
    "________________________________",
    "From: the sales team",
    "On Monday we will meet.",
    "Anna wrote:",
    "W dniu",
    "On ",
    "Am ",
    "Le ",
    "El ",
    "pon., ",
    " wrote:",
    " napisał(a):",
    " schrieb ",
    " a écrit :",
    " escribió:",
    "\x00",
    "\r",
    "\r\n",
    "x" * 3000,
    "Od: 09:00",
    "Data: 2.11.2026",
]


def _input_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)),
        max_size=60,
    ),
    st.lists(st.sampled_from(["\n", "\r\n", "\r", "", " "]), min_size=60, max_size=60),
    st.text(max_size=30),
)
def test_result_is_always_a_prefix_of_the_input(
    pieces: list[str], joints: list[str], subject: str
) -> None:
    text = "".join(piece + joint for piece, joint in zip(pieces, joints, strict=False))
    result = strip_quotes(text, subject_hint=subject)
    assert result == result.rstrip()
    if not result:
        return
    got, source = result.split("\n"), _input_lines(text)
    assert len(got) <= len(source)
    assert got[:-1] == source[: len(got) - 1]
    assert got[-1] == source[len(got) - 1].rstrip()
    for line in got:
        is_reply_header(line)


@settings(deadline=None, max_examples=200)
@given(st.text(max_size=600))
def test_is_reply_header_never_fails(line: str) -> None:
    assert isinstance(is_reply_header(line), bool)


def test_huge_quoted_thread() -> None:
    lines = ["Thanks, see below.", "", GMAIL_EN]
    for depth in range(65_000):
        lines.append(">" * (1 + depth % 5) + f" line {depth} of the thread")
    assert strip_quotes("\n".join(lines)) == "Thanks, see below."


def test_huge_thread_of_inline_answers() -> None:
    lines = []
    for i in range(65_000):
        lines += [f"> question {i}", f"answer {i}"] if i % 2 else [f"> {GMAIL_EN}", THUNDERBIRD_PL]
    result = strip_quotes("\n".join(lines))
    assert result.split("\n")[0] == f"> {GMAIL_EN}"


def test_one_megabyte_single_line() -> None:
    line = "On " + "a wrote: " * 120_000
    result = strip_quotes(line)
    assert line.startswith(result)
    assert 0 < len(result) <= 200_000
