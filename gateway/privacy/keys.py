"""Keyed hashes of addresses: the suppression list and anonymous participants keep these,
never the addresses. HMAC-SHA256 with ``[privacy] hash_key``, or with a random key generated
at first use and kept in the ``settings`` table (``bccrm doctor`` says which)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.config_privacy import PrivacyConfig
from gateway.crm import Setting, txcache

KEY_SETTING = "privacy.hash_key"
_STORED = select(Setting.value).where(Setting.key == KEY_SETTING)  # built once: every message


def hash_key(session: Session, config: PrivacyConfig) -> bytes:
    """The configured key, else the installation's generated one (created once; two workers
    creating it at once agree through the primary key)."""
    if config.hash_key:
        return config.hash_key.encode()
    return txcache.cached(session, KEY_SETTING, lambda: _stored_key(session))


def _stored_key(session: Session) -> bytes:
    stored = session.scalar(_STORED)
    if stored is None:
        try:
            with session.begin_nested():
                session.add(Setting(key=KEY_SETTING, value=secrets.token_hex(32)))
        except IntegrityError:
            pass
        stored = session.scalar(_STORED)
    assert stored is not None
    return stored.encode()


def address_hash(key: bytes, address: str) -> str:
    """The keyed hash of a normalised address (hex)."""
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()
