"""Who must never become a contact."""

from __future__ import annotations

import pytest

from gateway.matching.policy import (
    DEFAULT_ROLE_ADDRESSES,
    MessageFlags,
    creation_block,
    is_role_address,
    is_role_name,
)

ORG = ("firma.pl", "firma.com")


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("info@acme.pl", True),
        ("INFO@acme.pl", True),
        ("biuro@acme.pl", True),
        ("faktury@acme.pl", True),
        ("ksiegowosc@acme.pl", True),
        ("sekretariat@acme.pl", True),
        ("sales+eu@acme.com", True),
        ("do-not-reply@acme.com", True),
        ("noreply-billing@acme.com", True),
        ("no_reply@acme.com", True),
        ("donotreply123@acme.com", True),
        ("bounces+abc=x@acme.com", True),
        ("mailer-daemon@acme.com", True),
        ("MAILER-DAEMON@acme.com", True),
        ("anna.kowalska@acme.pl", False),
        ("infolinia.anna@acme.pl", False),
        ("anna+info@acme.pl", False),
        ("hello.kitty@acme.com", False),
    ],
)
def test_is_role_address(email: str, expected: bool) -> None:
    assert is_role_address(email, DEFAULT_ROLE_ADDRESSES) is expected


def test_role_addresses_are_configurable() -> None:
    assert is_role_address("recepcja@acme.pl", ["Recepcja"])
    assert not is_role_address("info@acme.pl", ["recepcja"])
    assert is_role_address("noreply@acme.pl", [])  # prefixes always apply


def test_default_role_addresses_are_lower_case_and_unique() -> None:
    assert len(set(DEFAULT_ROLE_ADDRESSES)) == len(DEFAULT_ROLE_ADDRESSES)
    assert all(role == role.lower() for role in DEFAULT_ROLE_ADDRESSES)
    assert {"info", "biuro", "kontakt", "praca", "zamowienia", "media"} <= set(
        DEFAULT_ROLE_ADDRESSES
    )


@pytest.mark.parametrize(
    ("email", "flags", "expected"),
    [
        ("anna.kowalska@acme.pl", MessageFlags(), None),
        ("jan@firma.pl", MessageFlags(), "own domain"),
        ("jan@FIRMA.com", MessageFlags(), "own domain"),
        ("jan@mail.firma.pl", MessageFlags(), "own domain"),
        ("jan@notfirma.pl", MessageFlags(), None),
        ("jan@firma.pl.evil.com", MessageFlags(), None),
        ("info@firma.pl", MessageFlags(bulk=True), "own domain"),  # order: own domain first
        ("info@acme.pl", MessageFlags(), "role address"),
        ("noreply@acme.pl", MessageFlags(bounce=True, bulk=True), "role address"),
        ("anna@acme.pl", MessageFlags(bounce=True, bulk=True, auto_generated=True), "bounce"),
        ("anna@acme.pl", MessageFlags(bulk=True, auto_generated=True), "bulk mail"),
        ("anna@acme.pl", MessageFlags(auto_generated=True), "auto-reply"),
    ],
)
def test_creation_block(email: str, flags: MessageFlags, expected: str | None) -> None:
    result = creation_block(email, flags, role_addresses=DEFAULT_ROLE_ADDRESSES, org_domains=ORG)
    assert result == expected


def test_creation_block_accepts_iterables() -> None:
    assert (
        creation_block(
            "anna@sub.firma.pl",
            MessageFlags(),
            role_addresses=iter(DEFAULT_ROLE_ADDRESSES),
            org_domains=iter(["Firma.PL."]),
        )
        == "own domain"
    )
    assert creation_block("anna@acme.pl", MessageFlags(), role_addresses=(), org_domains=()) is None


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Biuro Obsługi Klienta", True),
        ("ACME Support Team", True),
        ("Kundenservice", True),
        ("Dział Handlowy", True),
        ("Anna Kowalska", False),
        ("Serwatka Jan", False),
        ("", False),
    ],
)
def test_team_display_names_are_roles(name: str, role: bool) -> None:
    assert is_role_name(name) is role
    blocked = creation_block(
        "jan@acme.pl", MessageFlags(), role_addresses=(), org_domains=(), name=name
    )
    assert (blocked == "role address") is role
