"""Redaction of cards, IBANs, PESELs, SSNs and secret lines: hits and misses for every kind,
validators, order and filtering, idempotence, bounds and hostile input."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.privacy.redact import (
    KINDS,
    MAX_CHARS,
    MAX_LINE,
    Redaction,
    iban_ok,
    luhn_ok,
    pesel_ok,
    redact,
)

CARD, IBAN, PESEL, SSN, SECRET = (f"[redacted:{k}]" for k in KINDS)

VISA, MASTERCARD, AMEX = "4111111111111111", "5555555555554444", "378282246310005"

# ECBS / SWIFT registry examples, printed form.
ECBS_IBANS = [
    "AT61 1904 3002 3457 3201",
    "BE68 5390 0754 7034",
    "CH93 0076 2011 6238 5295 7",
    "CZ65 0800 0000 1920 0014 5399",
    "DE89 3704 0044 0532 0130 00",
    "DK50 0040 0440 1162 43",
    "EE38 2200 2210 2014 5685",
    "ES91 2100 0418 4502 0005 1332",
    "FI21 1234 5600 0007 85",
    "FR14 2004 1010 0505 0001 3M02 606",
    "GB29 NWBK 6016 1331 9268 19",
    "GB82 WEST 1234 5698 7654 32",
    "GR16 0110 1250 0000 0001 2300 695",
    "HU42 1177 3016 1111 1018 0000 0000",
    "IE29 AIBK 9311 5212 3456 78",
    "IT60 X054 2811 1010 0000 0123 456",
    "LT12 1000 0111 0100 1000",
    "LU28 0019 4006 4475 0000",
    "LV80 BANK 0000 4351 9500 1",
    "NL91 ABNA 0417 1643 00",
    "NO93 8601 1117 947",
    "PL61 1090 1014 0000 0712 1981 2874",
    "PT50 0002 0123 1234 5678 9015 4",
    "SE45 5000 0000 0583 9825 7466",
    "SI56 2633 0001 2039 086",
    "SK31 1200 0000 1987 4263 7541",
]


def only(text: str, kind: str) -> Redaction:
    return redact(text, [kind])


# --- validators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        (VISA, True),
        (MASTERCARD, True),
        (AMEX, True),
        ("4222222222222", True),
        ("4111111111111112", False),
        ("79927398713", True),
        ("79927398710", False),
        ("", False),
        ("0", False),
        ("4111 1111 1111 1111", False),  # digits only
        ("٤١١١١١١١١١١١١١١١", False),  # ASCII digits only
        ("41x1", False),
    ],
)
def test_luhn_ok(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize("iban", ECBS_IBANS)
def test_iban_ok_accepts_registry_examples_grouped_compact_and_lower_case(iban: str) -> None:
    assert iban_ok(iban)
    assert iban_ok(iban.replace(" ", ""))
    assert iban_ok(iban.lower())


@pytest.mark.parametrize(
    "text",
    [
        "PL61 1090 1014 0000 0712 1981 2875",  # checksum
        "DE89370400440532013001",  # checksum
        "DE8937040044053201300",  # DE is 22 long
        "DE893704004405320130000",
        "XX89370400440532013000",  # no such country
        "PL61109010140000071219812874PL",
        "PL",
        "",
        "PL61-1090-1014-0000-0712-1981-2874",  # dashes are not IBAN grouping
        "PŁ61 1090 1014 0000 0712 1981 2874",
        "DE00370400440532013000",  # check digits 00 are never issued
        "D" * 10_000,
    ],
)
def test_iban_ok_rejects(text: str) -> None:
    assert not iban_ok(text)


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("44051401359", True),  # 1944-05-14
        ("02270803624", True),  # 2002-07-08 (month + 20)
        ("85920112343", True),  # 1885-12-01 (month + 80)
        ("01410101237", True),  # 2101-01-01 (month + 40)
        ("01621504562", True),  # 2201-02-15 (month + 60)
        ("00222912349", True),  # 2000-02-29, a leap year
        ("99123112343", True),  # 1999-12-31
        ("44051401358", False),  # checksum
        ("02270803628", False),  # checksum
        ("44130101237", False),  # month 13, valid checksum
        ("44023101230", False),  # 31 February, valid checksum
        ("01022912340", False),  # 1901-02-29, not a leap year
        ("01422912342", False),  # 2101-02-29, not a leap year
        ("4405140135", False),
        ("440514013590", False),
        ("4405140135x", False),
    ],
)
def test_pesel_ok(digits: str, ok: bool) -> None:
    assert pesel_ok(digits) is ok


# --- cards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", CARD),
        (VISA, CARD),
        ("4111-1111-1111-1111", CARD),
        (MASTERCARD, CARD),
        ("5555 5555 5555 4444", CARD),
        (AMEX, CARD),
        ("3782 822463 10005", CARD),  # Amex 4-6-5
        ("3782-822463-10005", CARD),
        ("4222222222222", CARD),  # 13-digit Visa
        ("4111111111111111110", CARD),  # 19 digits
        ("4111 1111 1111 1111 110", CARD),
        (
            "Numer karty: 4111 1111 1111 1111, ważna do 12/25.",
            f"Numer karty: {CARD}, ważna do 12/25.",
        ),
        ("Karta 4111 1111 1111 1111 123", f"Karta {CARD} 123"),  # card, then the CVV
        ("Bitte belasten Sie 5555-5555-5555-4444.", f"Bitte belasten Sie {CARD}."),
        ("Charge card #4111111111111111 please", f"Charge card #{CARD} please"),
        ("(4111111111111111)", f"({CARD})"),
        ("ZAM-4111111111111111", f"ZAM-{CARD}"),  # digit boundaries only
        ("x4111111111111111", f"x{CARD}"),
    ],
)
def test_card_hits(text: str, expected: str) -> None:
    result = only(text, "card")
    assert result.text == expected
    assert result.counts == {"card": 1}


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn
        "4111111111111112",
        "Faktura nr 5105105105105106 z dnia 03.02.2025",  # 16-digit invoice number, bad Luhn
        "1111111111111117",  # Luhn ok, but no card starts with 1
        "7111111111111114",  # nor 7
        "04111111111111111",  # inside a longer digit run
        "41111111111111111111",
        "4111 1111-1111 1111",  # mixed separators
        "4111  1111 1111 1111",  # double space
        "4111.1111.1111.1111",
        "Tel. 4111 1111 1111",  # 12 digits
        "411111111111",
        "4111 1111 1111 1111 1111",  # 20 grouped digits, 19-digit readings fail Luhn
    ],
)
def test_card_misses(text: str) -> None:
    if text == "4111 1111 1111 1111 1111":
        # Digit boundaries only: the first 16 digits are followed by a blank, so they are a card.
        assert only(text, "card").text == f"{CARD} 1111"
        return
    assert only(text, "card") == Redaction(text, {})


# --- IBAN -----------------------------------------------------------------------------------


@pytest.mark.parametrize("iban", ECBS_IBANS)
def test_iban_hits_registry_examples(iban: str) -> None:
    for form in (iban, iban.replace(" ", "")):
        result = redact(f"Konto: {form}, dziękuję.")
        assert result.text == f"Konto: {IBAN}, dziękuję."
        assert result.counts == {"iban": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Proszę o przelew na konto PL61 1090 1014 0000 0712 1981 2874 PLN do piątku.",
            f"Proszę o przelew na konto {IBAN} PLN do piątku.",
        ),
        (
            "Bitte überweisen Sie auf DE89 3704 0044 0532 0130 00 bis Freitag.",
            f"Bitte überweisen Sie auf {IBAN} bis Freitag.",
        ),
        ("IBAN:DE89370400440532013000.", f"IBAN:{IBAN}."),
        ("pl61 1090 1014 0000 0712 1981 2874", IBAN),
        # Polish NRB: an IBAN without "PL".
        ("Nr rachunku: 61 1090 1014 0000 0712 1981 2874", f"Nr rachunku: {IBAN}"),
        ("Nr rachunku: 61109010140000071219812874", f"Nr rachunku: {IBAN}"),
        ("PL 61 1090 1014 0000 0712 1981 2874", f"PL {IBAN}"),
    ],
)
def test_iban_hits_in_text(text: str, expected: str) -> None:
    result = only(text, "iban")
    assert result.text == expected
    assert result.counts == {"iban": 1}


@pytest.mark.parametrize(
    "text",
    [
        "PL61 1090 1014 0000 0712 1981 2875",  # checksum
        "DE89370400440532013001",
        "DE8937040044053201300",  # length
        "DE89 3704 0044 0532 0130 0",
        "XX89370400440532013000",  # country
        "xDE89370400440532013000",  # inside a word
        "62 1090 1014 0000 0712 1981 2874",  # NRB checksum
        "61109010140000071219812875",
        "161109010140000071219812874",  # 27 digits
        "PL61 1090 1014 0000 0712 19812874",  # broken grouping
    ],
)
def test_iban_misses(text: str) -> None:
    assert only(text, "iban") == Redaction(text, {})


@pytest.mark.parametrize(
    ("text", "expected", "counts"),
    [
        # A digit before does not hide an IBAN (a glued card is redacted as well).
        ("5555555555554444CH9300762011623852957", f"{CARD}{IBAN}", {"card": 1, "iban": 1}),
        ("Nr12DE89370400440532013000", f"Nr12{IBAN}", {"iban": 1}),
        # Glued IBANs are taken together.
        ("DE89370400440532013000CH9300762011623852957", f"{IBAN}{IBAN}", {"iban": 2}),
        ("GB82WEST12345698765432DE89370400440532013000", f"{IBAN}{IBAN}", {"iban": 2}),
        # A letter after, or a digit after a final digit, means a longer token: kept.
        ("DE89370400440532013000EUR", "DE89370400440532013000EUR", {}),
        ("DE893704004405320130001", "DE893704004405320130001", {}),
    ],
)
def test_iban_boundaries(text: str, expected: str, counts: dict[str, int]) -> None:
    result = redact(text)
    assert result == Redaction(expected, counts)
    assert redact(result.text) == Redaction(result.text, {})


# --- PESEL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("44051401359", PESEL),
        ("PESEL: 44051401359", f"PESEL: {PESEL}"),
        ("Mój PESEL to 02270803624, proszę o fakturę.", f"Mój PESEL to {PESEL}, proszę o fakturę."),
        ("Pan Jan Kowalski (PESEL 85920112343)", f"Pan Jan Kowalski (PESEL {PESEL})"),
        ("Steuer-ID 00222912349 bitte notieren", f"Steuer-ID {PESEL} bitte notieren"),
    ],
)
def test_pesel_hits(text: str, expected: str) -> None:
    result = only(text, "pesel")
    assert result.text == expected
    assert result.counts == {"pesel": 1}


@pytest.mark.parametrize(
    "text",
    [
        "44051401358",  # checksum
        "PESEL 02270803628",
        "44130101237",  # month 13
        "44023101230",  # 31 February
        "01022912340",  # 29 February 1901
        "440514013590",  # 12 digits
        "144051401359",
        "4405140135",
        "44 0514 01359",
    ],
)
def test_pesel_misses(text: str) -> None:
    assert only(text, "pesel") == Redaction(text, {})


# --- SSN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123-45-6789", SSN),
        ("123 45 6789", SSN),
        ("SSN: 078-05-1120.", f"SSN: {SSN}."),
        (
            "My social security number is 219-09-9999, thanks",
            f"My social security number is {SSN}, thanks",
        ),
        ("899-99-9999", SSN),
    ],
)
def test_ssn_hits(text: str, expected: str) -> None:
    result = only(text, "ssn")
    assert result.text == expected
    assert result.counts == {"ssn": 1}


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",  # mixed separators
        "123456789",  # separators required
        "1123-45-6789",
        "123-45-67890",
        "123--45--6789",
        "Tel. 22 123-45-678",
    ],
)
def test_ssn_misses(text: str) -> None:
    assert only(text, "ssn") == Redaction(text, {})


# --- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hasło: Tajne123!", f"Hasło: {SECRET}"),
        ("Your verification code is 482913", f"Your verification code is {SECRET}"),
        ("Twój kod weryfikacyjny to 123456.", f"Twój kod weryfikacyjny to {SECRET}"),
        ("> hasło: x", f"> hasło: {SECRET}"),
        ("> > Password: hunter2", f"> > Password: {SECRET}"),
        ("HASŁO: X", f"HASŁO: {SECRET}"),
        ("haslo: tajne", f"haslo: {SECRET}"),
        ("passwd: x", f"passwd: {SECRET}"),
        ("pwd: x", f"pwd: {SECRET}"),
        ("db_password=s3cr3t", f"db_password={SECRET}"),
        ("PIN: 1234", f"PIN: {SECRET}"),
        ("Kod PIN do karty: 4321", f"Kod PIN do karty: {SECRET}"),
        ("Kod jednorazowy: 918273", f"Kod jednorazowy: {SECRET}"),
        ("Twój kod SMS: 5521 (ważny 5 minut)", f"Twój kod SMS: {SECRET}"),
        ("Kod BLIK 123 456", f"Kod BLIK {SECRET}"),
        ("Twoje hasło to Lato2024!", f"Twoje hasło to {SECRET}"),
        ("Hasło jest: kot", f"Hasło jest: {SECRET}"),
        ("Hasło do konta: abc", f"Hasło do konta: {SECRET}"),
        ("Your one-time code is 123456", f"Your one-time code is {SECRET}"),
        ("One-time password: abc123", f"One-time password: {SECRET}"),
        ("Your OTP: 123456. Do not share it.", f"Your OTP: {SECRET}"),
        ("Security code: 123", f"Security code: {SECRET}"),
        ("Your password is hunter2", f"Your password is {SECRET}"),
        ("Password for your account: correct horse", f"Password for your account: {SECRET}"),
        ("Ihr Passwort lautet: Geheim1", f"Ihr Passwort lautet: {SECRET}"),
        ("Kennwort: geheim", f"Kennwort: {SECRET}"),
        ("Ihr Bestätigungscode lautet 123456", f"Ihr Bestätigungscode lautet {SECRET}"),
        ("Votre mot de passe est Secret42", f"Votre mot de passe est {SECRET}"),
        ("Votre code de vérification est 123456", f"Votre code de vérification est {SECRET}"),
        ("Tu contraseña: abc", f"Tu contraseña: {SECRET}"),
        ("Su código de verificación es 123456", f"Su código de verificación es {SECRET}"),
        ("Password:   spaced out  ", f"Password:   {SECRET}  "),
        ("Hasło: x\r\nDalej", f"Hasło: {SECRET}\r\nDalej"),
        ("Reset your password. New password: abc", f"Reset your password. New password: {SECRET}"),
    ],
)
def test_secret_hits(text: str, expected: str) -> None:
    result = only(text, "secret")
    assert result.text == expected
    assert result.counts == {"secret": 1}


@pytest.mark.parametrize(
    "text",
    [
        "Please reset your password.",
        "Zmień hasło w ustawieniach",
        "Hasło:",
        "hasło:   ",
        "Password:\nhunter2",  # the value must be on the same line
        "Your password is wrong.",
        "Your password is case-sensitive",
        "The verification code is valid for 10 minutes",
        "Enter the one-time code we sent you",
        "Send the verification code to your phone",
        "passwords: see the wiki",
        "spin: 1234",
        "Pinned: 1234",
        "Kod pocztowy: 00-950",
        "Nie podawaj nikomu hasła ani kodu BLIK.",
    ],
)
def test_secret_misses(text: str) -> None:
    assert only(text, "secret") == Redaction(text, {})


# --- together -------------------------------------------------------------------------------

POLISH_MAIL = """Dzień dobry,

w załączeniu faktura. Proszę o przelew na rachunek PL61 1090 1014 0000 0712 1981 2874
albo kartą 4111 1111 1111 1111 (druga karta: 5555-5555-5555-4444).
Mój PESEL: 44051401359, a numer faktury 5105105105105106.
Hasło do panelu: Tajne123!
Kod BLIK 777 123

> W dniu 3.02.2025 Anna pisze:
> > hasło: stare
> Please reset your password.

Pozdrawiam,
Jan Kowalski, tel. +48 601 234 567
"""

POLISH_MAIL_REDACTED = f"""Dzień dobry,

w załączeniu faktura. Proszę o przelew na rachunek {IBAN}
albo kartą {CARD} (druga karta: {CARD}).
Mój PESEL: {PESEL}, a numer faktury 5105105105105106.
Hasło do panelu: {SECRET}
Kod BLIK {SECRET}

> W dniu 3.02.2025 Anna pisze:
> > hasło: {SECRET}
> Please reset your password.

Pozdrawiam,
Jan Kowalski, tel. +48 601 234 567
"""


def test_a_polish_mail_with_every_kind() -> None:
    result = redact(POLISH_MAIL)
    assert result.text == POLISH_MAIL_REDACTED
    assert result.counts == {"card": 2, "iban": 1, "pesel": 1, "secret": 3}


def test_counts_are_in_kind_order_and_only_for_hits() -> None:
    text = f"SSN 123-45-6789, {VISA}, {MASTERCARD}, {AMEX}, PESEL 44051401359 i 02270803624"
    result = redact(text)
    assert result.counts == {"card": 3, "pesel": 2, "ssn": 1}
    assert list(result.counts) == ["card", "pesel", "ssn"]
    assert result.text == f"SSN {SSN}, {CARD}, {CARD}, {CARD}, PESEL {PESEL} i {PESEL}"


def test_nothing_to_redact() -> None:
    text = "Hello,\nthe meeting is on 2025-02-03 at 10:00, room 12.\n"
    assert redact(text) == Redaction(text, {})
    assert redact("") == Redaction("", {})


def test_iban_is_redacted_before_card_and_pesel() -> None:
    # The digit runs of an IBAN must not be reported as a card or a PESEL.
    for iban in ECBS_IBANS:
        result = redact(f"{iban}\n{iban.replace(' ', '')}")
        assert result.counts == {"iban": 2}


def test_secret_line_is_redacted_before_the_numbers_in_it() -> None:
    result = redact("Hasło: 4111 1111 1111 1111 PL61 1090 1014 0000 0712 1981 2874")
    assert result == Redaction(f"Hasło: {SECRET}", {"secret": 1})


def test_numbers_before_the_secret_label_are_still_redacted() -> None:
    result = redact(f"Karta {VISA}, PIN: 1234")
    assert result == Redaction(f"Karta {CARD}, PIN: {SECRET}", {"card": 1, "secret": 1})


def test_line_endings_are_kept() -> None:
    text = f"a {VISA}\r\nb {VISA}\rc {VISA}\n\u2028d {VISA}"
    result = redact(text)
    assert result.text == f"a {CARD}\r\nb {CARD}\rc {CARD}\n\u2028d {CARD}"
    assert result.counts == {"card": 4}


# --- kinds ----------------------------------------------------------------------------------


def test_only_card_keeps_iban_and_the_rest() -> None:
    text = f"PL61 1090 1014 0000 0712 1981 2874 / {VISA} / 44051401359 / Hasło: x"
    result = redact(text, ["card"])
    assert result.text == f"PL61 1090 1014 0000 0712 1981 2874 / {CARD} / 44051401359 / Hasło: x"
    assert result.counts == {"card": 1}


def test_kinds_any_iterable_and_a_single_name() -> None:
    text = f"{VISA} 123-45-6789"
    assert redact(text, iter(["ssn"])).text == f"{VISA} {SSN}"
    assert redact(text, "ssn").text == f"{VISA} {SSN}"
    assert redact(text, ()) == Redaction(text, {})


def test_default_kinds() -> None:
    assert KINDS == ("card", "iban", "pesel", "ssn", "secret")


@pytest.mark.parametrize("kinds", [["cvv"], ["card", "Card"], ["card", ""]])
def test_unknown_kind_is_a_value_error_naming_it(kinds: list[str]) -> None:
    bad = next(k for k in kinds if k not in KINDS)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        redact("anything", kinds)


# --- idempotence ----------------------------------------------------------------------------

IDEMPOTENCE_SAMPLES = [
    POLISH_MAIL,
    "Hasło: [redacted:secret]",
    f"{VISA} 5555 5555 5555 4444 {AMEX}",
    "4111111111111111 5555 5555 5555 4444",
    "5555 5555 5555 4444 4111111111111111",
    "Your code is 123 4111111111111111",
    "PL61 1090 1014 0000 0712 1981 2874 PLN 61 1090 1014 0000 0712 1981 2874",
    "SSN 123-45-6789 44051401359-02270803624",
    "OTP to [redacted:card]",
    "5555555555554444CH9300762011623852957",  # an IBAN glued to a card
    "DE89370400440532013000CH9300762011623852957",  # two IBANs glued
    "kod BLIK OTP is o:H8-59",  # a label inside the words before another label's colon
    "4111111111111111Hasło: 41111111111111114111111111111111",
]


@pytest.mark.parametrize("text", IDEMPOTENCE_SAMPLES)
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    once = redact(text)
    assert redact(once.text) == Redaction(once.text, {})


# --- bounds ---------------------------------------------------------------------------------


def test_text_beyond_max_chars_is_kept() -> None:
    filler = ("x" * 99 + "\n") * (MAX_CHARS // 100)
    text = f"{VISA}\n{filler}{VISA}\n"
    result = redact(text)
    assert result.text == f"{CARD}\n{filler}{VISA}\n"
    assert result.counts == {"card": 1}


def test_long_line_is_checked_only_at_its_start() -> None:
    line = f"{VISA} " + "y " * MAX_LINE + VISA
    result = redact(line)
    assert result.text == f"{CARD} " + "y " * MAX_LINE + VISA
    assert result.counts == {"card": 1}


def test_long_line_window_is_not_cut_inside_a_number() -> None:
    # The 10,000th character falls inside "41111111111111110000": not a card, not half of one.
    head = "z " * ((MAX_LINE - 10) // 2)
    line = head + "41111111111111110000 tail"
    assert redact(line) == Redaction(line, {})


def test_secret_value_runs_to_the_end_of_a_long_line() -> None:
    line = "Hasło: " + "x" * (3 * MAX_LINE)
    assert redact(line) == Redaction(f"Hasło: {SECRET}", {"secret": 1})


@pytest.mark.timeout(30)
def test_hostile_megabyte_line_of_digits_and_spaces() -> None:
    rng = random.Random(1)
    text = "".join(rng.choice("0123456789 ") for _ in range(1_000_000))
    result = redact(text)
    assert result.text.endswith(text[MAX_LINE:])  # only the first MAX_LINE characters are examined


@pytest.mark.timeout(30)
def test_hostile_many_label_lines() -> None:
    text = "hasło:\n" * 100_000
    assert redact(text) == Redaction(text, {})
    text = "> hasło: x\n" * 100_000  # 1.1M characters: lines past MAX_CHARS are kept
    result = redact(text)
    assert result.counts == {"secret": MAX_CHARS // 11}
    assert result.text.endswith("> hasło: x\n" * 9_000)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "text",
    [
        "1\n" * 500_000,
        "12\n" * 333_333,
        "ab12\n" * 200_000,
        "4111 1111 1111 1111\n" * 50_000,
        "7" * 2_000_000,
        "PIN " * 250_000,
        "password is " * 80_000,
        "PL61 " * 200_000,
        "hasło" + " " * 999_000 + "x",
        "-" * 1_000_000,
        "[redacted:card]" * 70_000,
        "PIN [redacted:card] " * 50_000,
        ("DE89370400440532013000" * 400 + "\n") * 100,
        ("PL61 " * 2000 + "\n") * 100,
    ],
    ids=lambda t: f"{t[:12]!r}x{len(t)}",
)
def test_hostile_inputs_finish(text: str) -> None:
    result = redact(text)
    assert len(result.text) <= len(text) + sum(
        n * len(f"[redacted:{k}]") for k, n in result.counts.items()
    )


# --- properties -----------------------------------------------------------------------------

CARD_RUN = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")


def growth_allowance(result: Redaction) -> int:
    return sum(n * len(f"[redacted:{k}]") for k, n in result.counts.items())


def valid_cards_in(text: str) -> list[str]:
    return [
        m.group() for m in CARD_RUN.finditer(text) if m.group()[0] in "23456" and luhn_ok(m.group())
    ]


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=400))
def test_redact_never_raises_and_only_grows_by_tokens(text: str) -> None:
    result = redact(text)
    assert len(result.text) <= len(text) + growth_allowance(result)
    assert all(k in KINDS and n > 0 for k, n in result.counts.items())


PIECES = [
    *(VISA, MASTERCARD, AMEX, "4222222222222", "4111 1111 1111 1111", "3782 822463 10005"),
    *("PL61 1090 1014 0000 0712 1981 2874", "61109010140000071219812874", "44051401359"),
    *("123-45-6789", "Hasło: ", "kod BLIK ", "PIN", " is ", " to ", "[redacted:card]"),
    *(" ", "-", ":", "\n", "\r\n", "x", "ł", "PL", "12"),
]
pieces = st.one_of(
    st.sampled_from(PIECES),
    st.text(alphabet="0123456789 -\n", max_size=30),
    st.text(max_size=10),
)


@settings(deadline=None, max_examples=400)
@given(st.lists(pieces, max_size=25).map("".join))
def test_no_valid_card_run_survives(text: str) -> None:
    result = redact(text)
    assert valid_cards_in(result.text) == []
    assert len(result.text) <= len(text) + growth_allowance(result)


@settings(deadline=None, max_examples=400)
@given(st.lists(pieces, max_size=25).map("".join))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once.text) == Redaction(once.text, {})
