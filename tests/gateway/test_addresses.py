"""Address normalisation: one canonical form for matching and routing."""

from __future__ import annotations

import pytest

from gateway.addresses import base_address, mask_address, normalize_address, normalize_domain


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Anna@Example.COM", "anna@example.com"),
        ("<anna@example.com>", "anna@example.com"),
        ("anna@example.com.", "anna@example.com"),
        ("jan@żółw.pl", "jan@xn--w-uga1v8h.pl"),
        ("o'brien+tag@example.ie", "o'brien+tag@example.ie"),
        ("Łukasz@Żółw.pl", "łukasz@xn--w-uga1v8h.pl"),
    ],
)
def test_normalize_address(given: str, expected: str) -> None:
    assert normalize_address(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "anna",
        "@example.com",
        "anna@",
        "anna@localhost",
        "a..b@example.com",
        ".a@example.com",
        "anna@exa mple.com",
        "anna@-bad.com",
        "a\r\nb@example.com",
        "x" * 65 + "@example.com",
    ],
)
def test_invalid_addresses_are_none(given: str) -> None:
    assert normalize_address(given) is None


def test_idn_domains_have_one_form() -> None:
    assert normalize_domain("ŻÓŁW.pl") == normalize_domain("xn--w-uga1v8h.pl")


def test_base_address_splits_plus_tag() -> None:
    assert base_address("log+deal-42@crm.example.com") == ("log@crm.example.com", "deal-42")
    assert base_address("log@crm.example.com") == ("log@crm.example.com", None)


def test_mask_address_hides_local_part() -> None:
    assert mask_address("anna.nowak@example.com") == "a***@example.com"
