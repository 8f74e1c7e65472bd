"""Password hashing for SMTP AUTH: scrypt (memory-hard, in the standard library).

Format: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`` so parameters can be raised later
without breaking stored hashes. n=2**15, r=8 costs 32 MiB and ~0.1 s per check: cheap for a
rep's mail client, expensive for a guesser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

LOG2_N, R, P = 15, 8, 1
MAXMEM = 64 * 1024 * 1024
MAX_PASSWORD = 1024


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, LOG2_N, R, P)
    return "$".join(("scrypt", str(LOG2_N), str(R), str(P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; False for any malformed stored value."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or len(password) > MAX_PASSWORD:
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
        return hmac.compare_digest(actual, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=MAXMEM, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def new_token() -> str:
    """A secret for a user's logging address: 26 characters of base32, ~128 bits."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
