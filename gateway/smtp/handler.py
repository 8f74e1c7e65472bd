"""The aiosmtpd handler: check the recipient and the client, spool raw bytes, answer.

No parsing and no CRM work on the connection (see ../shared/STYLE.md, "a thin SMTP edge"). The
only database questions asked here are for secret-address tokens and SMTP AUTH, in a thread.
The blocking commit (fsync, rename, fsync) also runs in a thread, shielded: a client that
disconnects after the final dot cannot leave a half-written entry behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gateway.addresses import mask_address
from gateway.config_trust import LimitsConfig
from gateway.errors import log_failure
from gateway.faults import error_point
from gateway.smtp import replies
from gateway.smtp.credentials import EdgeCredentials
from gateway.smtp.routing import Router
from gateway.spool import EntryWriter, Envelope, Spool, SpoolError

log = logging.getLogger("bccrm.smtp")

DISK_CHECK_INTERVAL = 1.0  # seconds


def peer_ip(session: Any) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


def _spool_failure(exc: SpoolError) -> str:
    log.error("spool write failed: %s", exc)
    return replies.INSUFFICIENT_STORAGE if exc.disk_full else replies.QUEUE_WRITE_ERROR


class AuthUnavailable(Exception):
    """Credentials cannot be checked now (the database is down): a temporary failure."""


class GatewayHandler:
    def __init__(
        self,
        router: Router,
        spool: Spool,
        *,
        limits: LimitsConfig | None = None,
        max_message_size: int = 10_240_000,
        credentials: EdgeCredentials | None = None,
        transport: str = "smtp",
        implicit_tls: bool = False,
    ) -> None:
        self.router = router
        self.spool = spool
        self.limits = limits or LimitsConfig()
        self.max_message_size = max_message_size
        self.credentials = credentials
        self.transport = transport
        self.implicit_tls = implicit_tls
        self._disk_checked_at = -DISK_CHECK_INTERVAL
        self._low_on_disk = False

    def low_on_disk(self) -> bool:
        """Postfix's queue_minfree rule: keep room for a whole message and then some.
        The answer is reused for a second: it is asked at every MAIL and DATA."""
        now = time.monotonic()
        if now - self._disk_checked_at > DISK_CHECK_INTERVAL:
            try:
                free = self.spool.free_bytes()
            except OSError:
                free = None  # cannot tell; the write itself will report a real problem
            minimum = self.limits.min_free_factor * self.max_message_size
            self._low_on_disk = free is not None and free < minimum
            self._disk_checked_at = now
        return self._low_on_disk

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        error_point("smtp-handler-error")
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        route = self.router.route(address)
        if route is None:
            log.info("rejected recipient %s from %s", mask_address(address), peer_ip(session))
            return replies.not_gateway_address(address)
        trusted = self.router.is_trusted_client(peer_ip(session))
        if route.kind == "team_inbox":
            allowed = trusted  # team-inbox copies come from the organisation's MTA only
        elif route.token is not None:
            return await self._token_rcpt(session, envelope, address, route.token)
        else:
            allowed = trusted or bool(session.authenticated)
        if not allowed:
            log.info("refused unauthorized client %s", peer_ip(session))
            return replies.NOT_AUTHORIZED
        envelope.rcpt_tos.append(address)
        return replies.OK_RCPT

    async def _token_rcpt(self, session: Any, envelope: Any, address: str, token: str) -> str:
        if self.credentials is None:
            return replies.NOT_AUTHORIZED
        if not token.isascii() or not token.isprintable():
            # Tokens bccrm issues are URL-safe ASCII; 8-bit bytes arrive as lone surrogates,
            # which no database driver can encode. Such a token can never match.
            log.info("refused malformed logging token from %s", peer_ip(session))
            return replies.NOT_AUTHORIZED
        try:
            user = await self.credentials.user_for_token(token)
        except SQLAlchemyError as exc:
            log_failure(log, logging.ERROR, "token lookup failed", exc)
            return replies.INTERNAL_ERROR
        if user is None:
            log.info("refused unknown logging token from %s", peer_ip(session))
            return replies.NOT_AUTHORIZED
        previous = getattr(envelope, "token_user", None)
        if previous is not None and previous != user:
            return replies.TOO_MANY_RECIPIENTS  # one logging identity per message
        envelope.token_user = user
        envelope.rcpt_tos.append(address)
        return replies.OK_RCPT

    async def authenticate(self, login: bytes, password: bytes) -> str | None:
        """The user's address when SMTP AUTH succeeds; None when it does not."""
        if self.credentials is None:
            return None
        try:
            return await self.credentials.check_password(
                login.decode("utf-8", "replace"), password.decode("utf-8", "replace")
            )
        except SQLAlchemyError as exc:
            log_failure(log, logging.ERROR, "password check failed", exc)
            raise AuthUnavailable from None

    async def open_entry(self, session: Any, envelope: Any) -> tuple[EntryWriter | None, str]:
        """Create the spool file in a thread: file creation waits on the file system's journal,
        which the commits of other sessions keep busy, and must not stall the event loop."""
        meta = Envelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=peer_ip(session),
            helo=(session.host_name or "")[:255],
            received_at=time.time(),
            transport=self.transport,
            trusted_peer=self.router.is_trusted_client(peer_ip(session)),
            tls=self.implicit_tls or session.ssl is not None,
            auth_user=session.auth_data if session.authenticated else None,
            token_user=getattr(envelope, "token_user", None),
        )
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self.spool.open_entry, meta), ""
        except SpoolError as exc:
            return None, _spool_failure(exc)

    async def commit_entry(self, session: Any, envelope: Any, writer: EntryWriter) -> str:
        commit = asyncio.get_running_loop().run_in_executor(None, writer.commit)
        try:
            entry_id = await asyncio.shield(commit)
        except SpoolError as exc:
            return _spool_failure(exc)
        log.info("queued %s (%d bytes) from %s", entry_id, writer.size, peer_ip(session))
        return replies.queued(entry_id)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers "500 Error: (Class) text": permanent and leaking. A bug of
        # ours must be a temporary failure (the client retries) and say nothing of internals.
        log_failure(log, logging.ERROR, "session error", error)
        return replies.INTERNAL_ERROR
