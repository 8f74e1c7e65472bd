"""Configuration of contact matching: thresholds, the creation policy and role addresses.
Parsed by :func:`gateway.config.parse_config`."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config_reader import ConfigError, Reader
from gateway.matching.policy import DEFAULT_ROLE_ADDRESSES

CREATE_POLICIES = ("auto", "review", "never")


@dataclass(frozen=True)
class MatchingConfig:
    """How sure bccrm must be before it links a person, and when it may create one."""

    # Confidence at or above which a fuzzy match is linked without asking.
    auto_link: float = 0.92
    # Confidence at or above which a person is asked "same person?"; below, a new contact.
    suggest: float = 0.6
    # New people: "auto" creates contacts, "review" asks first, "never" leaves them unlinked.
    create_contacts: str = "auto"
    # Local parts (info, sales, noreply, ...) that never become contacts.
    role_addresses: tuple[str, ...] = DEFAULT_ROLE_ADDRESSES
    # External people matched per message; the rest of a mass mailing is ignored.
    max_participants: int = 50


def parse_matching(r: Reader) -> MatchingConfig:
    d = MatchingConfig()
    unit = "must be between 0 and 1"
    auto_link = r.get("auto_link", float, d.auto_link, lambda v: 0 < v <= 1, unit)
    suggest = r.get("suggest", float, d.suggest, lambda v: 0 < v <= 1, unit)
    if suggest > auto_link:
        raise ConfigError(f"{r.name('suggest')}: must not be above matching.auto_link")
    roles = tuple(x.strip().lower() for x in r.strings("role_addresses", d.role_addresses))
    if any(not x or "@" in x for x in roles):
        raise ConfigError(f"{r.name('role_addresses')}: expected local parts such as 'info'")
    cfg = MatchingConfig(
        auto_link=auto_link,
        suggest=suggest,
        create_contacts=r.get(
            "create_contacts",
            str,
            d.create_contacts,
            lambda v: v in CREATE_POLICIES,
            "must be 'auto', 'review' or 'never'",
        ),
        role_addresses=roles,
        max_participants=r.get(
            "max_participants",
            int,
            d.max_participants,
            lambda v: 1 <= v <= 1000,
            "must be 1..1000",
        ),
    )
    r.finish()
    return cfg
