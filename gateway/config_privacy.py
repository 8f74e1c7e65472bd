"""Configuration of privacy (GDPR/RODO) and retention. Parsed by
:func:`gateway.config.parse_config`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config_reader import ConfigError, Reader

LEVELS = ("full", "metadata", "anonymous", "drop")
PRIVATE_ACTIONS = ("metadata", "drop")
REDACTION_KINDS = ("card", "iban", "pesel", "ssn", "secret")
LEGAL_BASES = (
    "legitimate_interest_prospect",
    "legitimate_interest_customer",
    "contract",
    "consent",
    "not_applicable",
)


@dataclass(frozen=True)
class PrivacyConfig:
    """What is stored about whom, decided before anything is written."""

    # Mail in which every participant is in [organization] domains.
    log_internal: bool = False
    # Privacy level of mail to the logging addresses: full, metadata (participants, subject,
    # date; no body, no attachment names), anonymous (metadata with participants as keyed
    # hashes) or drop. Team inboxes have their own [[team_inbox]] privacy.
    level: str = "full"
    # Subject tags that mark a message private (like log+private@ and X-CRM-Log: private).
    private_subject_tags: tuple[str, ...] = ("[private]", "[prywatne]")
    # What a private marker does: store metadata only, or drop the message.
    private_action: str = "metadata"
    # Sensitive data replaced in stored text by [redacted:<kind>].
    redact: tuple[str, ...] = REDACTION_KINDS
    # Open a legal-basis check for outbound mail to contacts without a confirmed basis or
    # unsubscribed (unless transactional).
    require_legal_basis: bool = False
    # The basis proposed for contacts bccrm creates, and when their Art. 14 notice is due.
    default_legal_basis: str = "legitimate_interest_prospect"
    notice_days: int = 30
    # Secret for keyed hashes (suppression list, anonymous participants). Without it, a
    # random key generated at first use is kept in the database.
    hash_key: str = ""


@dataclass(frozen=True)
class RetentionConfig:
    """How long things are kept; 0 keeps them forever. Applied by bccrm retention run."""

    body_days: int = 0
    email_days: int = 0
    spool_days: int = 30


def parse_privacy(r: Reader, base_dir: Path) -> PrivacyConfig:
    d = PrivacyConfig()
    redact = tuple(r.strings("redact", d.redact))
    unknown = [k for k in redact if k not in REDACTION_KINDS]
    if unknown:
        raise ConfigError(
            f"{r.name('redact')}: unknown kind {unknown[0]!r} (known: {', '.join(REDACTION_KINDS)})"
        )
    tags = tuple(t.strip() for t in r.strings("private_subject_tags", d.private_subject_tags))
    if any(not t for t in tags):
        raise ConfigError(f"{r.name('private_subject_tags')}: empty tag")
    cfg = PrivacyConfig(
        log_internal=r.get("log_internal", bool, d.log_internal),
        level=r.get("level", str, d.level, lambda v: v in LEVELS, _one_of(LEVELS)),
        private_subject_tags=tags,
        private_action=r.get(
            "private_action",
            str,
            d.private_action,
            lambda v: v in PRIVATE_ACTIONS,
            _one_of(PRIVATE_ACTIONS),
        ),
        redact=redact,
        require_legal_basis=r.get("require_legal_basis", bool, d.require_legal_basis),
        default_legal_basis=r.get(
            "default_legal_basis",
            str,
            d.default_legal_basis,
            lambda v: v in LEGAL_BASES,
            _one_of(LEGAL_BASES),
        ),
        notice_days=r.get(
            "notice_days", int, d.notice_days, lambda v: 1 <= v <= 365, "must be 1..365"
        ),
        hash_key=r.secret("hash_key", "", base_dir),
    )
    r.finish()
    return cfg


def parse_retention(r: Reader) -> RetentionConfig:
    d = RetentionConfig()
    days = "must be 0 (keep forever) or a number of days"
    cfg = RetentionConfig(
        body_days=r.get("body_days", int, d.body_days, lambda v: v >= 0, days),
        email_days=r.get("email_days", int, d.email_days, lambda v: v >= 0, days),
        spool_days=r.get("spool_days", int, d.spool_days, lambda v: v >= 0, days),
    )
    if cfg.email_days and cfg.body_days and cfg.body_days > cfg.email_days:
        raise ConfigError(f"{r.name('body_days')}: must not be more than retention.email_days")
    r.finish()
    return cfg


def _one_of(values: tuple[str, ...]) -> str:
    return "must be one of " + ", ".join(repr(v) for v in values)
