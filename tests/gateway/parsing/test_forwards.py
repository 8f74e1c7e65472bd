"""Forwarded messages inside a body, as Gmail, Outlook, Apple Mail and Thunderbird write them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.parsing.forwards import (
    Forward,
    ForwardedHeader,
    find_forward,
    parse_sent,
    unwrap_forwards,
)
from gateway.parsing.message import Person

ANNA = Person("anna.kowalska@klient.pl", "Anna Kowalska")
NOV_2 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def forward(text: str, hint: str = "") -> Forward:
    found = find_forward(text, hint)
    assert found is not None
    return found


GMAIL_EN = """\
Please log this one.

---------- Forwarded message ---------
From: Anna Kowalska <anna.kowalska@klient.pl>
Date: Mon, Nov 2, 2026 at 9:30 AM
Subject: Zapytanie ofertowe
To: Jan Nowak <jan.nowak@acme.pl>
Cc: Piotr Wiśniewski <piotr@acme.pl>, <biuro@klient.pl>


Dzień dobry,
proszę o ofertę.
"""


def test_gmail_english() -> None:
    found = forward(GMAIL_EN)
    assert found.note == "Please log this one."
    assert found.header == ForwardedHeader(
        sender=ANNA,
        sent="Mon, Nov 2, 2026 at 9:30 AM",
        to=(Person("jan.nowak@acme.pl", "Jan Nowak"),),
        cc=(Person("piotr@acme.pl", "Piotr Wiśniewski"), Person("biuro@klient.pl")),
        subject="Zapytanie ofertowe",
    )
    assert found.body == "Dzień dobry,\nproszę o ofertę."
    assert parse_sent(found.header.sent) == NOV_2


def test_crlf_is_the_same_as_lf() -> None:
    assert find_forward(GMAIL_EN.replace("\n", "\r\n")) == find_forward(GMAIL_EN)


OUTLOOK_EN = """\
FYI

________________________________
From: Anna Kowalska <anna.kowalska@klient.pl>
Sent: Monday, November 2, 2026 9:30 AM
To: Jan Nowak <jan.nowak@acme.pl>
Subject: Zapytanie ofertowe

Dzień dobry
"""


def test_outlook_block_with_forward_subject() -> None:
    found = forward(OUTLOOK_EN, "FW: Zapytanie ofertowe")
    assert found.note == "FYI"
    assert found.header.sender == ANNA
    assert parse_sent(found.header.sent) == NOV_2
    assert found.body == "Dzień dobry"


def test_outlook_block_in_a_reply_is_not_a_forward() -> None:
    assert find_forward(OUTLOOK_EN, "RE: Zapytanie ofertowe") is None
    assert find_forward(OUTLOOK_EN) is None


def test_forward_subject_without_a_header_block() -> None:
    assert find_forward("Just a note, nothing forwarded.\n", "Fwd: hello") is None
    assert unwrap_forwards("", "Fwd: x") == []


@pytest.mark.parametrize(
    "text",
    [
        "Mon, Nov 2, 2026 at 9:30 AM",
        "Monday, November 2, 2026 9:30 AM",
        "2 November 2026 09:30",
        "poniedziałek, 2 listopada 2026 09:30",
        "pon., 2 lis 2026 o 09:30",
        "2.11.2026 09:30",
        "Montag, 2. November 2026 09:30",
        "lundi 2 novembre 2026 09:30",
        "lunes, 2 de noviembre de 2026 9:30",
        "Mon, 2 Nov 2026 10:30:00 +0100",
    ],
)
def test_parse_sent(text: str) -> None:
    assert parse_sent(text) == NOV_2


# ---------------------------------------------------------------- Gmail, localized

GMAIL_LOCALIZED = {
    "pl-gmail-labels": """\
Przekazuję do CRM.

---------- Wiadomość przekazana dalej ---------
Od: Anna Kowalska <anna.kowalska@klient.pl>
Date: pon., 2 lis 2026 o 09:30
Subject: Zapytanie ofertowe
To: <jan.nowak@acme.pl>


Dzień dobry,
""",
    "pl-polish-labels": """\
Przekazuję do CRM.

---------- Wiadomość przekazana dalej ---------
Od: Anna Kowalska <anna.kowalska@klient.pl>
Data: pon., 2 lis 2026 o 09:30
Temat: Zapytanie ofertowe
Do: Jan Nowak <jan.nowak@acme.pl>


Dzień dobry,
""",
    "de": """\
Zur Info.

---------- Weitergeleitete Nachricht ---------
Von: Anna Kowalska <anna.kowalska@klient.pl>
Date: Mo., 2. Nov. 2026 um 09:30 Uhr
Subject: Zapytanie ofertowe
To: <jan.nowak@acme.pl>


Dzień dobry,
""",
    "fr": """\
Pour info.

---------- Message transféré ---------
De : Anna Kowalska <anna.kowalska@klient.pl>
Date : lun. 2 nov. 2026 à 09:30
Objet : Zapytanie ofertowe
À : <jan.nowak@acme.pl>


Dzień dobry,
""",
    "es": """\
Para el CRM.

---------- Mensaje reenviado ---------
De: Anna Kowalska <anna.kowalska@klient.pl>
Fecha: lun, 2 nov 2026 a las 9:30
Asunto: Zapytanie ofertowe
Para: <jan.nowak@acme.pl>


Dzień dobry,
""",
}


@pytest.mark.parametrize("key", sorted(GMAIL_LOCALIZED))
def test_gmail_localized(key: str) -> None:
    found = forward(GMAIL_LOCALIZED[key])
    assert found.header.sender == ANNA
    assert found.header.subject == "Zapytanie ofertowe"
    assert [p.email for p in found.header.to] == ["jan.nowak@acme.pl"]
    assert parse_sent(found.header.sent) == NOV_2
    assert found.body == "Dzień dobry,"
    assert found.note and "-----" not in found.note


def test_gmail_html_conversion_bolds_the_sender_name() -> None:
    text = """\
---------- Forwarded message ---------
From: *Anna Kowalska* <anna.kowalska@klient.pl>
Date: Mon, Nov 2, 2026 at 9:30 AM
Subject: Zapytanie ofertowe
To: <jan.nowak@acme.pl>

Dzień dobry
"""
    found = forward(text)
    assert found.header.sender == ANNA and found.note == ""


def test_gmail_sender_without_a_name() -> None:
    text = GMAIL_EN.replace("Anna Kowalska <anna.kowalska@klient.pl>", "<Anna.Kowalska@Klient.PL>")
    assert forward(text).header.sender == Person("anna.kowalska@klient.pl")


def test_gmail_new_style_narrow_space_before_am_pm() -> None:
    text = GMAIL_EN.replace("9:30 AM", "9:30\u202fPM")
    assert parse_sent(forward(text).header.sent) == datetime(2026, 11, 2, 21, 30, tzinfo=UTC)


def test_gmail_wrapped_recipient_list() -> None:
    text = """\
---------- Forwarded message ---------
From: Anna Kowalska <anna.kowalska@klient.pl>
Date: Mon, Nov 2, 2026 at 9:30 AM
Subject: Zapytanie ofertowe
To: Jan Nowak <jan.nowak@acme.pl>, Piotr Wiśniewski <piotr@acme.pl>,
 Ewa Zielińska <ewa@acme.pl>
Cc: biuro@klient.pl

Dzień dobry
"""
    header = forward(text).header
    assert [p.email for p in header.to] == ["jan.nowak@acme.pl", "piotr@acme.pl", "ewa@acme.pl"]
    assert header.to[2].name == "Ewa Zielińska"
    assert header.cc == (Person("biuro@klient.pl"),)


# ---------------------------------------------------------------- Outlook

OUTLOOK_LOCALIZED = {
    "en-original-message": (
        "FW: Zapytanie ofertowe",
        """\
Please add to the CRM.

-----Original Message-----
From: Anna Kowalska <anna.kowalska@klient.pl>
Sent: Monday, November 2, 2026 9:30 AM
To: Jan Nowak <jan.nowak@acme.pl>
Cc: Piotr Wiśniewski <piotr@acme.pl>
Subject: Zapytanie ofertowe

Dzień dobry,
""",
    ),
    "pl": (
        "PD: Zapytanie ofertowe",
        """\
Przekazuję.

-----Wiadomość oryginalna-----
Od: Anna Kowalska <anna.kowalska@klient.pl>
Wysłano: poniedziałek, 2 listopada 2026 09:30
Do: Jan Nowak <jan.nowak@acme.pl>
DW: Piotr Wiśniewski <piotr@acme.pl>
Temat: Zapytanie ofertowe

Dzień dobry,
""",
    ),
    "de": (
        "WG: Zapytanie ofertowe",
        """\
Zur Info.

-----Ursprüngliche Nachricht-----
Von: Anna Kowalska <anna.kowalska@klient.pl>
Gesendet: Montag, 2. November 2026 09:30
An: Jan Nowak <jan.nowak@acme.pl>
Cc: Piotr Wiśniewski <piotr@acme.pl>
Betreff: Zapytanie ofertowe

Dzień dobry,
""",
    ),
    "fr": (
        "TR : Zapytanie ofertowe",
        """\
Pour info.

-----Message d'origine-----
De : Anna Kowalska <anna.kowalska@klient.pl>
Envoyé : lundi 2 novembre 2026 09:30
À : Jan Nowak <jan.nowak@acme.pl>
Cc : Piotr Wiśniewski <piotr@acme.pl>
Objet : Zapytanie ofertowe

Dzień dobry,
""",
    ),
    "es": (
        "RV: Zapytanie ofertowe",
        """\
Para el CRM.

-----Mensaje original-----
De: Anna Kowalska <anna.kowalska@klient.pl>
Enviado el: lunes, 2 de noviembre de 2026 9:30
Para: Jan Nowak <jan.nowak@acme.pl>
CC: Piotr Wiśniewski <piotr@acme.pl>
Asunto: Zapytanie ofertowe

Dzień dobry,
""",
    ),
    "web-rule": (
        "[EXTERNAL] Fw: Zapytanie ofertowe",
        """\
Please add to the CRM.

________________________________
From: Anna Kowalska <anna.kowalska@klient.pl>
Sent: Monday, November 2, 2026 9:30 AM
To: Jan Nowak <jan.nowak@acme.pl>
Cc: Piotr Wiśniewski <piotr@acme.pl>
Subject: Zapytanie ofertowe

Dzień dobry,
""",
    ),
    "es-enviado": (
        "Enc: Zapytanie ofertowe",
        """\
Para el CRM.

________________________________
De: Anna Kowalska <anna.kowalska@klient.pl>
Enviado: lunes, 2 de noviembre de 2026 9:30
Para: Jan Nowak <jan.nowak@acme.pl>
CC: Piotr Wiśniewski <piotr@acme.pl>
Asunto: Zapytanie ofertowe

Dzień dobry,
""",
    ),
}


@pytest.mark.parametrize("key", sorted(OUTLOOK_LOCALIZED))
def test_outlook_localized(key: str) -> None:
    hint, text = OUTLOOK_LOCALIZED[key]
    found = forward(text, hint)
    assert found.header == ForwardedHeader(
        sender=ANNA,
        sent=found.header.sent,
        to=(Person("jan.nowak@acme.pl", "Jan Nowak"),),
        cc=(Person("piotr@acme.pl", "Piotr Wiśniewski"),),
        subject="Zapytanie ofertowe",
    )
    assert parse_sent(found.header.sent) == NOV_2
    assert found.body == "Dzień dobry,"
    assert found.note in (
        "Please add to the CRM.",
        "Przekazuję.",
        "Zur Info.",
        "Pour info.",
        "Para el CRM.",
    )


@pytest.mark.parametrize("key", sorted(OUTLOOK_LOCALIZED))
def test_outlook_block_without_forward_subject_is_reply_history(key: str) -> None:
    _, text = OUTLOOK_LOCALIZED[key]
    assert find_forward(text) is None
    assert find_forward(text, "RE: Zapytanie ofertowe") is None
    assert find_forward(text, "Zapytanie ofertowe") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Anna Kowalska [mailto:anna.kowalska@klient.pl]", ANNA),
        ("Anna Kowalska <mailto:anna.kowalska@klient.pl>", ANNA),
        ("Anna Kowalska <anna.kowalska@klient.pl<mailto:anna.kowalska@klient.pl>>", ANNA),
        ('"Anna Kowalska" <anna.kowalska@klient.pl>', ANNA),
        ("'Anna Kowalska' <anna.kowalska@klient.pl>", ANNA),
        ('"Kowalska, Anna" <anna.kowalska@klient.pl>', Person(ANNA.email, "Kowalska, Anna")),
        ("anna.kowalska@klient.pl", Person(ANNA.email)),
        ("anna.kowalska@klient.pl [mailto:anna.kowalska@klient.pl]", Person(ANNA.email)),
        ('"anna.kowalska@klient.pl" <anna.kowalska@klient.pl>', Person(ANNA.email)),
        ("Zofia Łączyńska <zofia@żółw.pl>", Person("zofia@xn--w-uga1v8h.pl", "Zofia Łączyńska")),
        ("=?UTF-8?Q?Anna_Kowalska?= <anna.kowalska@klient.pl>", ANNA),
    ],
)
def test_outlook_sender_forms(value: str, expected: Person) -> None:
    text = OUTLOOK_EN.replace("Anna Kowalska <anna.kowalska@klient.pl>", value)
    assert forward(text, "FW: x").header.sender == expected


def test_sender_name_is_nfc_with_diacritics() -> None:
    decomposed = "Zo\u0301fia Ła\u0328czyn\u0301ska <zofia@klient.pl>"
    text = OUTLOOK_EN.replace("Anna Kowalska <anna.kowalska@klient.pl>", decomposed)
    assert forward(text, "FW: x").header.sender == Person("zofia@klient.pl", "Zófia Łączyńska")


def test_outlook_bold_labels_from_html() -> None:
    text = """\
Please log.

*From:* Anna Kowalska <anna.kowalska@klient.pl>
*Sent:* Monday, November 2, 2026 9:30 AM
*To:* Jan Nowak <jan.nowak@acme.pl>
*Subject:* Zapytanie ofertowe

Dzień dobry
"""
    found = forward(text, "FW: Zapytanie ofertowe")
    assert found.header.sender == ANNA and found.header.subject == "Zapytanie ofertowe"
    assert found.note == "Please log." and found.body == "Dzień dobry"
    bold = text.replace("*From:*", "**From:**").replace("*Sent:*", "**Sent:**")
    assert forward(bold, "FW: x").header.sender == ANNA


def test_outlook_values_wrapped_onto_the_next_line() -> None:
    text = """\
________________________________
From: Anna Kowalska
<anna.kowalska@klient.pl>
Sent: Monday, November 2, 2026 9:30 AM
To: Nowak, Jan <jan.nowak@acme.pl>; Wiśniewski, Piotr
<piotr@acme.pl>; Biuro
Subject: Zapytanie ofertowe dotyczące dostawy
materiałów

Dzień dobry
"""
    header = forward(text, "FW: Zapytanie").header
    assert header.sender == ANNA
    assert header.to == (
        Person("jan.nowak@acme.pl", "Nowak, Jan"),
        Person("piotr@acme.pl", "Wiśniewski, Piotr"),
    )
    assert header.subject == "Zapytanie ofertowe dotyczące dostawy"  # Outlook's last line


def test_outlook_sender_name_only_is_not_a_forward_header() -> None:
    text = OUTLOOK_EN.replace("Anna Kowalska <anna.kowalska@klient.pl>", "Kowalska Anna")
    assert find_forward(text, "FW: Zapytanie") is None


def test_original_message_separator_without_address_gives_an_unreadable_sender() -> None:
    hint, text = OUTLOOK_LOCALIZED["en-original-message"]
    text = text.replace("Anna Kowalska <anna.kowalska@klient.pl>", "Kowalska Anna")
    found = forward(text, hint)
    assert found.header.sender is None and found.header.subject == "Zapytanie ofertowe"


# ---------------------------------------------------------------- Apple Mail

APPLE = {
    "en": """\
Sent from my iPhone

Begin forwarded message:

From: Anna Kowalska <anna.kowalska@klient.pl>
Subject: Zapytanie ofertowe
Date: 2 November 2026 at 10:30:00 CET
To: Jan Nowak <jan.nowak@acme.pl>

Dzień dobry,
""",
    "de": """\
Von meinem iPhone gesendet

Anfang der weitergeleiteten Nachricht:

Von: Anna Kowalska <anna.kowalska@klient.pl>
Betreff: Zapytanie ofertowe
Datum: 2. November 2026 um 10:30:00 MEZ
An: Jan Nowak <jan.nowak@acme.pl>

Dzień dobry,
""",
    "fr": """\
Envoyé de mon iPhone

Début du message réexpédié :

De : Anna Kowalska <anna.kowalska@klient.pl>
Objet : Zapytanie ofertowe
Date : 2 novembre 2026 à 10:30:00 UTC+1
À : Jan Nowak <jan.nowak@acme.pl>

Dzień dobry,
""",
    "es": """\
Enviado desde mi iPhone

Inicio del mensaje reenviado:

De: Anna Kowalska <anna.kowalska@klient.pl>
Asunto: Zapytanie ofertowe
Fecha: 2 de noviembre de 2026, 10:30:00 CET
Para: Jan Nowak <jan.nowak@acme.pl>

Dzień dobry,
""",
    "pl": """\
Wysłane z iPhone'a

Początek przekazanej wiadomości:

Od: Anna Kowalska <anna.kowalska@klient.pl>
Temat: Zapytanie ofertowe
Data: 2 listopada 2026 o 10:30:00 CET
Do: Jan Nowak <jan.nowak@acme.pl>

Dzień dobry,
""",
    "quoted": """\
Begin forwarded message:

> From: Anna Kowalska <anna.kowalska@klient.pl>
> Subject: Zapytanie ofertowe
> Date: November 2, 2026 at 10:30:00 AM GMT+1
> To: Jan Nowak <jan.nowak@acme.pl>
>
> Dzień dobry,
""",
    "blank-lines-between": """\
Begin forwarded message:

From: Anna Kowalska <anna.kowalska@klient.pl>

Subject: Zapytanie ofertowe

Date: 2 November 2026 at 10:30:00 CET

To: Jan Nowak <jan.nowak@acme.pl>



Dzień dobry,
""",
}


@pytest.mark.parametrize("key", sorted(APPLE))
def test_apple_mail(key: str) -> None:
    found = forward(APPLE[key])
    assert found.header.sender == ANNA
    assert found.header.subject == "Zapytanie ofertowe"
    assert found.header.to == (Person("jan.nowak@acme.pl", "Jan Nowak"),)
    assert parse_sent(found.header.sent) == NOV_2
    assert found.body == "Dzień dobry,"
    assert "message" not in found.note.lower() and "wiadomości" not in found.note


# ---------------------------------------------------------------- Thunderbird

THUNDERBIRD = {
    "en": ("Forwarded Message", "Subject", "Date", "From", "To"),
    "pl": ("Przekazana wiadomość", "Temat", "Data", "Od", "Do"),
    "de": ("Weitergeleitete Nachricht", "Betreff", "Datum", "Von", "An"),
    "fr": ("Message transféré", "Sujet :", "Date :", "De :", "Pour :"),
    "es": ("Mensaje reenviado", "Asunto", "Fecha", "De", "Para"),
}


@pytest.mark.parametrize("key", sorted(THUNDERBIRD))
def test_thunderbird(key: str) -> None:
    marker, subject, date, sender, to = (
        x if x.endswith(":") else f"{x}:" for x in THUNDERBIRD[key]
    )
    text = (
        "Do wiadomości.\n\n"
        f"-------- {marker[:-1]} --------\n"
        f"{subject} \tZapytanie ofertowe\n"
        f"{date} \tMon, 2 Nov 2026 10:30:00 +0100\n"
        f"{sender} \tAnna Kowalska <anna.kowalska@klient.pl>\n"
        f"{to} \tJan Nowak <jan.nowak@acme.pl>\n"
        "\n\n\nDzień dobry,\n"
    )
    found = forward(text)
    assert found.note == "Do wiadomości."
    assert found.header == ForwardedHeader(
        ANNA,
        "Mon, 2 Nov 2026 10:30:00 +0100",
        (Person("jan.nowak@acme.pl", "Jan Nowak"),),
        (),
        "Zapytanie ofertowe",
    )
    assert parse_sent(found.header.sent) == NOV_2
    assert found.body == "Dzień dobry,"


# ---------------------------------------------------------------- chains

GMAIL_CHAIN = """\
Proszę zalogować.

---------- Forwarded message ---------
From: Jan Nowak <jan.nowak@acme.pl>
Date: Tue, Nov 3, 2026 at 8:00 AM
Subject: Fwd: Zapytanie ofertowe
To: Ewa Zielińska <ewa@acme.pl>


Ewa, zobacz poniżej.

---------- Forwarded message ---------
From: Anna Kowalska <anna.kowalska@klient.pl>
Date: Mon, Nov 2, 2026 at 9:30 AM
Subject: Zapytanie ofertowe
To: <jan.nowak@acme.pl>


Dzień dobry,
proszę o ofertę.
"""


def test_forward_of_a_forward() -> None:
    chain = unwrap_forwards(GMAIL_CHAIN, "Fwd: Fwd: Zapytanie ofertowe")
    assert [f.header.sender.email for f in chain if f.header.sender] == [
        "jan.nowak@acme.pl",
        "anna.kowalska@klient.pl",
    ]
    assert chain[0].note == "Proszę zalogować."
    assert chain[1].note == "Ewa, zobacz poniżej."
    assert chain[1].body == "Dzień dobry,\nproszę o ofertę."
    assert find_forward(GMAIL_CHAIN) == chain[0]
    assert unwrap_forwards(GMAIL_CHAIN, max_depth=1) == chain[:1]
    assert unwrap_forwards(GMAIL_CHAIN, max_depth=0) == []


def test_outlook_fw_fw_chain_uses_each_inner_subject_as_the_hint() -> None:
    text = """\
Do CRM.

________________________________
From: Jan Nowak <jan.nowak@acme.pl>
Sent: Tuesday, November 3, 2026 8:00 AM
To: Ewa Zielińska <ewa@acme.pl>
Subject: FW: Zapytanie ofertowe

Zobacz.

________________________________
From: Anna Kowalska <anna.kowalska@klient.pl>
Sent: Monday, November 2, 2026 9:30 AM
To: Jan Nowak <jan.nowak@acme.pl>
Subject: RE: Zapytanie ofertowe

Dziękuję, czekam na ofertę.

________________________________
From: Jan Nowak <jan.nowak@acme.pl>
Sent: Sunday, November 1, 2026 18:00
To: Anna Kowalska <anna.kowalska@klient.pl>
Subject: Zapytanie ofertowe

Oferta w załączniku.
"""
    chain = unwrap_forwards(text, "FW: FW: Zapytanie ofertowe")
    assert len(chain) == 2
    assert chain[-1].header.sender == ANNA
    assert chain[-1].body.startswith("Dziękuję, czekam na ofertę.")
    assert "Oferta w załączniku." in chain[-1].body  # the quoted history stays in the body
    assert unwrap_forwards(text) == []  # no hint: an Outlook block is reply history


def test_gmail_forward_of_an_outlook_forward() -> None:
    text = (
        "---------- Forwarded message ---------\n"
        "From: Jan Nowak <jan.nowak@acme.pl>\n"
        "Date: Tue, Nov 3, 2026 at 8:00 AM\n"
        "Subject: FW: Zapytanie ofertowe\n"
        "To: <log@crm.example.com>\n\n\n" + OUTLOOK_EN
    )
    chain = unwrap_forwards(text)
    assert [f.header.sender for f in chain] == [Person("jan.nowak@acme.pl", "Jan Nowak"), ANNA]
    assert chain[1].note == "FYI"


def test_nested_forward_without_a_readable_sender_ends_the_chain() -> None:
    text = GMAIL_CHAIN.replace("Anna Kowalska <anna.kowalska@klient.pl>", "Anna Kowalska")
    chain = unwrap_forwards(text)
    assert len(chain) == 1 and chain[0].header.sender == Person("jan.nowak@acme.pl", "Jan Nowak")


def test_outer_forward_without_a_readable_sender_is_still_reported() -> None:
    text = GMAIL_EN.replace("Anna Kowalska <anna.kowalska@klient.pl>", "Anna Kowalska")
    (only,) = unwrap_forwards(text)
    assert only.header.sender is None and only.header.subject == "Zapytanie ofertowe"


def test_chain_depth_is_bounded() -> None:
    block = "---------- Forwarded message ---------\nFrom: a@b.pl\nSubject: s\n\n"
    assert len(unwrap_forwards(block * 50, max_depth=5)) == 5
    assert len(unwrap_forwards(block * 50, max_depth=10_000)) == 20


# ---------------------------------------------------------------- not forwards


def test_reply_quoting_a_forward_is_not_a_forward() -> None:
    quoted = "\n".join(f"> {line}" if line else ">" for line in GMAIL_EN.splitlines())
    text = (
        "Thanks, will do.\n\n"
        "On Tue, Nov 3, 2026 at 8:00 AM Jan Nowak <jan.nowak@acme.pl> wrote:\n\n" + quoted
    )
    assert find_forward(text, "Re: Fwd: Zapytanie ofertowe") is None


@pytest.mark.parametrize(
    "attribution",
    [
        "On Tue, Nov 3, 2026 at 8:00 AM Jan Nowak <\njan.nowak@acme.pl> wrote:",
        "Am Di., 3. Nov. 2026 um 08:00 Uhr schrieb Jan Nowak <jan.nowak@acme.pl>:",
        "Le mar. 3 nov. 2026 à 08:00, Jan Nowak <jan.nowak@acme.pl> a écrit :",
        "El mar, 3 nov 2026 a las 8:00, Jan Nowak (<jan.nowak@acme.pl>) escribió:",
        "wt., 3 lis 2026 o 08:00 Jan Nowak <jan.nowak@acme.pl> napisał(a):",
        "W dniu 3.11.2026 o 08:00, Jan Nowak pisze:",
        "On 3 Nov 2026, at 08:00, Jan Nowak <jan.nowak@acme.pl> wrote:",
    ],
)
def test_reply_attributions_in_five_languages(attribution: str) -> None:
    text = f"Dzięki.\n\n{attribution}\n\n" + GMAIL_EN
    assert find_forward(text) is None


def test_a_note_that_mentions_writing_is_not_an_attribution() -> None:
    text = "Look at what the customer wrote:\n\n" + GMAIL_EN
    assert forward(text).header.sender == ANNA


def test_original_message_without_forward_subject_hides_later_markers() -> None:
    _, text = OUTLOOK_LOCALIZED["en-original-message"]
    assert find_forward(text + "\n" + GMAIL_EN, "RE: x") is None


def test_lone_from_line_in_the_note_is_skipped() -> None:
    text = "From: jan.nowak@acme.pl\n\nsee below\n\n" + GMAIL_EN
    assert forward(text).header.sender == ANNA


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hello,\nplease call me.\n",
        "Forwarded message\nFrom: anna@klient.pl\n",  # no dashes: prose
        "We talked about the ---------- Forwarded message --------- thing.",
        "From: Anna Kowalska <anna.kowalska@klient.pl>\n\nNo other header follows.\n",
        "Od: jutra pracujemy zdalnie.\nDo: odwołania.\n",
    ],
)
def test_plain_text_is_not_a_forward(text: str) -> None:
    assert find_forward(text, "Fwd: x") is None
    assert unwrap_forwards(text, "Fwd: x") == []


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("Fwd: x", True),
        ("FW: x", True),
        ("Fw: x", True),
        ("FWD: FWD: x", True),
        ("PD: x", True),
        ("WG: x", True),
        ("TR : x", True),
        ("RV: x", True),
        ("Enc: x", True),
        ("[EXTERNAL] FW: x", True),
        ("[EXT] Fwd: x", True),
        ("Re: x", False),
        ("RE: FW: x", False),
        ("AW: WG: x", False),
        ("Odp: PD: x", False),
        ("Forward planning", False),
        ("", False),
    ],
)
def test_subject_hint_prefixes(hint: str, expected: bool) -> None:
    assert (find_forward(OUTLOOK_EN, hint) is not None) is expected


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon, 02 Nov 2026 04:30:00 -0500 (EST)", NOV_2),
        ("Mon, 2 Nov 2026 09:30:00 GMT", NOV_2),
        ("Monday, November 2, 2026 at 9:30 AM", NOV_2),
        ("November 2, 2026 at 10:30:00 AM GMT+1", NOV_2),
        ("2 listopada 2026 10:30:00 CET", NOV_2),
        ("2. November 2026 um 11:30:00 MESZ", NOV_2),
        ("2 novembre 2026 10:30 +01:00", NOV_2),
        ("02.11.2026 09:30", NOV_2),
        ("2.11.26 09:30", NOV_2),
        ("11/2/2026 9:30 AM", NOV_2),
        ("2/11/2026 09:30", NOV_2),
        ("2026-11-02T09:30:00Z", NOV_2),
        ("Mo., 2. Nov. 2026 um 09:30 Uhr", NOV_2),
        ("lun. 2 nov. 2026 à 09:30", NOV_2),
        ("lun, 2 nov 2026 a las 9:30", NOV_2),
        ("lunes, 2 de noviembre de 2026, 9:30 a. m.", NOV_2),
        ("mar., 3 nov. 2026 à 09:30", datetime(2026, 11, 3, 9, 30, tzinfo=UTC)),
        ("martes, 3 de marzo de 2026 9:30", datetime(2026, 3, 3, 9, 30, tzinfo=UTC)),
        ("śr., 4 mar 2026 o 09:30", datetime(2026, 3, 4, 9, 30, tzinfo=UTC)),
        ("piątek, 14 sierpnia 2026 12:30 AM", datetime(2026, 8, 14, 0, 30, tzinfo=UTC)),
        ("Friday, 14 August 2026 12:00 PM", datetime(2026, 8, 14, 12, 0, tzinfo=UTC)),
        ("Mittwoch, 3. März 2027 07:05", datetime(2027, 3, 3, 7, 5, tzinfo=UTC)),
        ("jeudi 31 décembre 2026 23:30 -0100", datetime(2027, 1, 1, 0, 30, tzinfo=UTC)),
        ("domingo, 1 de febrero de 2026", datetime(2026, 2, 1, tzinfo=UTC)),
        ("2 listopada 2026", datetime(2026, 11, 2, tzinfo=UTC)),
    ],
)
def test_parse_sent_variants(text: str, expected: datetime) -> None:
    result = parse_sent(text)
    assert result == expected
    assert result is not None and result.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "yesterday",
        "2 Nov 09:30",  # no year
        "31 February 2026 10:00",
        "2 November 2026 25:00",
        "2 November 2026 13:30 PM",
        "2 November 2026 09:30 +9999",
        "2 November 1066 09:30",
        "\x00\x00\x00",
        "9" * 500,
        "Monday",
    ],
)
def test_parse_sent_unreadable(text: str) -> None:
    assert parse_sent(text) is None


# ---------------------------------------------------------------- hostile input

_PIECES = [
    "---------- Forwarded message ---------",
    "-------- Forwarded Message --------",
    "-----Original Message-----",
    "________________________________",
    "Begin forwarded message:",
    "Początek przekazanej wiadomości:",
    "From: Anna Kowalska <anna.kowalska@klient.pl>",
    "From: Anna",
    "*From:* <a@b.pl<mailto:a@b.pl>>",
    "> From: x@y.pl",
    "Od: a@b.pl",
    'De : "Kowalska, Anna" <a@b.pl>',
    "Sent: Monday, November 2, 2026 9:30 AM",
    "Date: Mon, Nov 2, 2026 at 9:30 AM",
    "Subject: Fwd: x",
    'To: a@b.pl, <c@d.pl>; "e, f" <g@h.pl',
    "Cc:",
    "On Mon, Nov 2, 2026 at 9:30 AM Anna <a@b.pl> wrote:",
    ">",
    "> > >",
    "",
    "<<<<[[[[((((",
    "@@@@@@",
    "\x00",
    "=?utf-8?q?=C5=81?=",
]
_LINE = st.one_of(
    st.sampled_from(_PIECES),
    st.text(max_size=40),
    st.builds(lambda c, n: c * n, st.sampled_from("-_>@<*: \x00a"), st.integers(0, 20_000)),
)


@settings(deadline=None, max_examples=300)
@given(
    st.lists(_LINE, max_size=60),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["", "Fwd: x", "RE: x", "[EXTERNAL] FW: x", "\x00"]),
)
def test_hostile_text_never_raises(lines: list[str], newline: str, hint: str) -> None:
    text = newline.join(lines)
    found = find_forward(text, hint)
    chain = unwrap_forwards(text, hint)
    assert (found is None) == (chain == [])
    for item in chain:
        assert len(item.body) < len(text) + 1
        parse_sent(item.header.sent)


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=300))
def test_parse_sent_never_raises(text: str) -> None:
    result = parse_sent(text)
    assert result is None or result.tzinfo is UTC


def test_huge_inputs_are_capped() -> None:
    assert find_forward("x\n" * 65_000 + GMAIL_EN) is None  # past the 5,000-line cap
    found = find_forward(GMAIL_EN + "x\n" * 65_000)
    assert found is not None and found.header.sender == ANNA
    assert found.body.count("\n") < 5_000
    headers = "From: a@b.pl\nTo: c@d.pl\n" * 32_500
    assert find_forward(headers) is None
    hinted = find_forward(headers, "FW: x")  # the first block, the rest is its body
    assert hinted is not None and hinted.header.sender == Person("a@b.pl")
    assert hinted.header.to == (Person("c@d.pl"),) and hinted.body.count("\n") < 5_000
    assert find_forward("-" * 1_000_000, "Fwd: x") is None
    found = find_forward(GMAIL_EN + "x" * 1_000_000)
    assert found is not None and found.header.sender == ANNA and len(found.body) < 200_000
    assert parse_sent("2 Nov 2026 " + "9" * 1_000_000) == datetime(2026, 11, 2, tzinfo=UTC)
    assert parse_sent("9" * 1_000_000) is None


def test_zone_names_are_whole_words() -> None:
    # "listopada" holds no zone name; "MEZ" after the time does.
    assert parse_sent("2 listopada 2026 09:30 mez") == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert parse_sent("09:30, 2 listopada 2026") == NOV_2


def test_labels_with_values_on_the_next_line() -> None:
    text = """\
________________________________
From:
Anna Kowalska <anna.kowalska@klient.pl>
Sent:
Monday, November 2, 2026 9:30 AM
To:
Jan Nowak <jan.nowak@acme.pl>
Subject:
Zapytanie ofertowe

Dzień dobry
"""
    found = forward(text, "FW: x")
    assert found.header.sender == ANNA and found.header.subject == "Zapytanie ofertowe"
    assert parse_sent(found.header.sent) == NOV_2 and found.body == "Dzień dobry"


def test_subject_first_block_without_a_marker() -> None:
    text = """\
See below.

Subject: Zapytanie ofertowe
Date: Mon, 2 Nov 2026 09:30:00 +0000
From: Anna Kowalska <anna.kowalska@klient.pl>
To: Jan Nowak <jan.nowak@acme.pl>

Dzień dobry
"""
    found = forward(text, "Fwd: Zapytanie ofertowe")
    assert found.note == "See below." and found.header.sender == ANNA
    assert found.header.subject == "Zapytanie ofertowe" and found.body == "Dzień dobry"


def test_forwarded_reply_keeps_its_quoted_history_in_the_body() -> None:
    text = GMAIL_EN.replace(
        "proszę o ofertę.",
        "proszę o ofertę.\n\nOn Sun, Nov 1, 2026 at 6:00 PM Jan Nowak <jan.nowak@acme.pl> wrote:\n"
        "> ---------- Forwarded message ---------\n> From: x@y.pl\n> Subject: old\n",
    )
    (only,) = unwrap_forwards(text, "Fwd: Re: Zapytanie")
    assert only.header.sender == ANNA and "wrote:" in only.body


def test_recipient_lists() -> None:
    text = GMAIL_EN.replace(
        "To: Jan Nowak <jan.nowak@acme.pl>",
        'To: "Nowak, Jan" <jan.nowak@acme.pl>, Wiśniewski, Piotr <piotr@acme.pl>, '
        "jan.nowak@acme.pl, ewa@acme.pl",
    )
    assert forward(text).header.to == (
        Person("jan.nowak@acme.pl", "Nowak, Jan"),
        Person("piotr@acme.pl", "Wiśniewski, Piotr"),
        Person("ewa@acme.pl"),
    )


# ---------------------------------------------------------------- HTML bodies, as converted

_HTML_FORWARDS = {
    "gmail": (
        "",
        '<div dir="ltr">Please log<br><br><div class="gmail_quote"><div dir="ltr" '
        'class="gmail_attr">---------- Forwarded message ---------<br>From: <strong '
        'class="gmail_sendername" dir="auto">Anna Kowalska</strong> <span dir="auto">&lt;<a '
        'href="mailto:anna.kowalska@klient.pl">anna.kowalska@klient.pl</a>&gt;</span><br>'
        "Date: Mon, Nov 2, 2026 at 9:30&#8239;AM<br>Subject: Zapytanie ofertowe<br>To: Jan "
        'Nowak &lt;<a href="mailto:jan.nowak@acme.pl">jan.nowak@acme.pl</a>&gt;<br></div>'
        '<br><br><div dir="ltr">Dzień dobry,</div></div></div>',
    ),
    "outlook-web": (
        "FW: Zapytanie ofertowe",
        '<div>Please log</div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif"><b>From:</b> '
        "Anna Kowalska &lt;anna.kowalska@klient.pl&gt;<br><b>Sent:</b> Monday, November 2, "
        "2026 9:30 AM<br><b>To:</b> Jan Nowak &lt;jan.nowak@acme.pl&gt;<br><b>Subject:</b> "
        "Zapytanie ofertowe</font><div>&nbsp;</div></div><div><p>Dzień dobry,</p></div>",
    ),
    "apple": (
        "",
        '<div>Please log</div><div><br><blockquote type="cite">Begin forwarded message:<br>'
        '<br></blockquote><blockquote type="cite"><div><b>From:</b> Anna Kowalska '
        "&lt;anna.kowalska@klient.pl&gt;<br><b>Date:</b> 2 November 2026 at 10:30:00 CET<br>"
        "<b>To:</b> Jan Nowak &lt;jan.nowak@acme.pl&gt;<br><b>Subject:</b> <b>Zapytanie "
        'ofertowe</b><br></div><br></blockquote></div><blockquote type="cite"><div>Dzień '
        "dobry,</div></blockquote>",
    ),
}


@pytest.mark.parametrize("key", sorted(_HTML_FORWARDS))
def test_html_forwards_after_conversion(key: str) -> None:
    from gateway.parsing.html import html_to_text

    hint, html = _HTML_FORWARDS[key]
    found = forward(html_to_text(html), hint)
    assert found.note == "Please log" and found.body == "Dzień dobry,"
    assert found.header.sender == ANNA and found.header.subject == "Zapytanie ofertowe"
    assert parse_sent(found.header.sent) == NOV_2


def test_office_hours_in_a_polish_signature_are_not_a_header() -> None:
    text = "Jan Nowak\nBiuro obsługi klienta\nOd: 8:00\nDo: 16:00\n\n" + GMAIL_EN
    assert forward(text).header.sender == ANNA


def test_exchange_reply_header_with_names_only_hides_later_markers() -> None:
    text = (
        "Dziękuję.\n\nFrom: Nowak Jan\nSent: Monday, November 2, 2026 9:30 AM\n"
        "To: Kowalska Anna\nSubject: RE: Zapytanie\n\n" + GMAIL_EN
    )
    assert find_forward(text) is None


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "---------- Wiadomość przekazana dalej ---------",
        "---------- Weitergeleitete Nachricht ---------",
        "---------- Message transféré ---------",
        "---------- Mensaje reenviado ---------",
        "-------- Forwarded Message --------",
        "-------- Przekazana wiadomość --------",
        "----- Forwarded Message -----",  # Yahoo, Zimbra
        "Begin forwarded message:",
        "Anfang der weitergeleiteten Nachricht:",
        "Début du message réexpédié :",
        "Inicio del mensaje reenviado:",
        "Początek przekazanej wiadomości:",
        "> Begin forwarded message:",
    ],
)
def test_explicit_markers_need_no_subject_hint(marker: str) -> None:
    text = f"note\n{marker}\nFrom: Anna Kowalska <anna.kowalska@klient.pl>\nSubject: s\n\nbody"
    found = forward(text, "Re: x")
    assert (found.note, found.header.sender, found.body) == ("note", ANNA, "body")
