"""What the edge asks the CRM during a session: whose token is this, is this password right.

The edge needs no database for mail from trusted MTAs. Tokens and SMTP AUTH do; their queries
run in a thread (scrypt takes ~0.1 s and must never stall the event loop), and token answers
are cached briefly so a busy rep does not cost one query per message and a guessing client
does not cost one per attempt. A rotated token therefore stops working on running edges
within ``TOKEN_TTL`` seconds.
"""

from __future__ import annotations

import asyncio
import time

from gateway.services.users import CredentialService

TOKEN_TTL = 60.0
MAX_CACHED = 10_000


class EdgeCredentials:
    def __init__(self, service: CredentialService, ttl: float = TOKEN_TTL) -> None:
        self.service = service
        self.ttl = ttl
        self._tokens: dict[str, tuple[float, str | None]] = {}

    async def user_for_token(self, token: str) -> str | None:
        now = time.monotonic()
        cached = self._tokens.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = await asyncio.get_running_loop().run_in_executor(
            None, self.service.user_for_token, token
        )
        if len(self._tokens) >= MAX_CACHED:
            self._tokens.clear()
        self._tokens[token] = (now + self.ttl, user)
        return user

    async def check_password(self, login: str, password: str) -> str | None:
        return await asyncio.get_running_loop().run_in_executor(
            None, self.service.check_password, login, password
        )
