"""bccrm's SMTP and LMTP sessions: aiosmtpd's protocol with the limits it lacks.

aiosmtpd buffers a whole DATA phase in memory (about 67 bytes per received line: 32 MiB of empty
lines is about 1 GiB), has no connection cap, and answers some limits with its own wording. This
subclass streams DATA into the spool file while checking size, bare CR/LF and MIME structure
(gateway.smtp.dataphase), caps sessions in all and per client IP, and answers from the reply
catalogue.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections import Counter
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, syntax

from gateway import metrics
from gateway.config_trust import LimitsConfig
from gateway.smtp import dataphase, replies
from gateway.smtp.dataphase import DataDecoder
from gateway.smtp.handler import AuthUnavailable
from gateway.smtp.prescan import StructureScanner
from gateway.spool import EntryWriter

log = logging.getLogger("bccrm.smtp")

# aiosmtpd 1.4 sets its own deprecated Session.login_data after every successful AUTH and
# warns about it; the warning is about aiosmtpd's internals, not ours.
warnings.filterwarnings("ignore", message=".*login_data.*", category=DeprecationWarning)

_SIZE_PARAM = re.compile(rb"\bSIZE=(\d{1,20})\b", re.IGNORECASE)
_QUEUED = replies.queued("")


def count_replies(status: str | bytes) -> None:
    """Count a message queued (the 250 after DATA) and every refusal (4xx/5xx), by code;
    greetings and the 250s to EHLO, MAIL and RCPT are not counted."""
    text = status if isinstance(status, str) else status.decode("ascii", "replace")
    for line in text.split("\r\n"):  # LMTP answers DATA once per recipient
        if line[3:4] == " " and (line[:1] in ("4", "5") or line.startswith(_QUEUED)):
            metrics.count_reply(line[:3])


# Commands a relay repeats for every message of a reused connection. aiosmtpd counts calls per
# session, so these get far more room than NOOP/HELP/VRFY loops do.
PER_MESSAGE_COMMANDS = ("MAIL", "RCPT", "DATA", "RSET")
MESSAGES_PER_SESSION = 1000


def call_limits(limit: int) -> dict[str, int]:
    """aiosmtpd's command_call_limit per command: ``limit`` for most, and enough for
    MESSAGES_PER_SESSION messages for the per-message ones (RCPT: 50 recipients each)."""
    limits = {"*": limit}
    limits.update({command: max(limit, MESSAGES_PER_SESSION) for command in PER_MESSAGE_COMMANDS})
    limits["RCPT"] = max(limit, MESSAGES_PER_SESSION * 50)
    return limits


class SessionLimiter:
    """Live sessions in all and per client IP (shared by every session of one listener)."""

    def __init__(self, total: int, per_ip: int) -> None:
        self.total, self.per_ip = total, per_ip
        self.by_ip: Counter[str] = Counter()

    def acquire(self, ip: str) -> bool:
        if sum(self.by_ip.values()) >= self.total or self.by_ip[ip] >= self.per_ip:
            return False
        self.by_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]


class GatewaySMTP(SMTP):
    """One client session. ``handler`` is a :class:`gateway.smtp.handler.GatewayHandler`."""

    def __init__(
        self,
        handler: Any,
        *,
        limits: LimitsConfig,
        limiter: SessionLimiter,
        max_auth_failures: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            timeout=limits.idle_timeout,
            command_call_limit=call_limits(limits.command_call_limit),
            **kwargs,
        )
        self.limits = limits
        self.limiter = limiter
        self.max_auth_failures = max_auth_failures
        self._counted_ip: str | None = None
        self._refused = False
        self._in_data = False  # between 354 and the reply to the final dot
        self._closed_after_data = False  # the client half-closed during DATA
        self._pending_login: Any = None
        self._auth_failures = 0

    # -- connection caps ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # a new connection, not the STARTTLS upgrade of one
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            if not self.limiter.acquire(ip):
                self._refused = True
                log.warning("refused connection from %s: too many sessions", ip)
                reply = replies.too_many_connections(self.hostname, ip)
                count_replies(reply)
                transport.write(reply.encode() + b"\r\n")  # type: ignore[attr-defined]
                transport.close()
                return
            self._counted_ip = ip
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted_ip is not None:
            self.limiter.release(self._counted_ip)
            self._counted_ip = None
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._refused:
            return False
        if self._in_data and self.session is not None and self.session.ssl is None:
            # The client closed its sending side during DATA, typically right after the final
            # dot. aiosmtpd would cancel the session at once and the reply to a complete message
            # would be lost (the client sends it again: a duplicate). Instead DATA reads what is
            # buffered, answers, and then the connection is closed.
            self._closed_after_data = True
            self._reader.feed_eof()
            return True  # keep our sending side open for the reply
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    async def push(self, status: Any) -> None:
        count_replies(status)
        await super().push(status)

    # -- AUTH: checked in a thread, failures capped --------------------------------------------

    # aiosmtpd calls _authenticate() synchronously from auth_PLAIN/auth_LOGIN; a password check
    # (scrypt, a database query) must not block the loop. So _authenticate only records the
    # credentials, and the overrides below check them asynchronously.

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        self._pending_login = auth_data
        return AuthResult(success=False, handled=False)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        self._pending_login = None
        return await self._check_login(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        self._pending_login = None
        return await self._check_login(await super().auth_LOGIN(_, args))

    async def _check_login(self, parsed: AuthResult) -> AuthResult:
        login, self._pending_login = self._pending_login, None
        if not isinstance(login, LoginPassword):
            return parsed  # malformed exchange; aiosmtpd has answered
        try:
            user = await self.event_handler.authenticate(login.login, login.password)
        except AuthUnavailable:
            # RFC 4954: 454 lets the client retry later; it is not the user's failure.
            return AuthResult(success=False, handled=False, message=replies.AUTH_UNAVAILABLE)
        if user is not None:
            log.info("authenticated a user from %s", self._counted_ip)
            return AuthResult(success=True, auth_data=user)
        self._auth_failures += 1
        log.warning("failed authentication %d from %s", self._auth_failures, self._counted_ip)
        if self._auth_failures >= self.max_auth_failures and self.transport is not None:
            await self.push(replies.too_many_auth_failures(self.hostname))
            self.transport.close()
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)

    # -- MAIL: size and disk space, answered from the catalogue -----------------------------

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if arg and self.session is not None and self.session.host_name:
            size = _SIZE_PARAM.search(arg.encode("utf-8", "replace"))
            if size and self.data_size_limit and int(size.group(1)) > self.data_size_limit:
                await self.push(replies.MESSAGE_TOO_BIG)
                return
            if self.event_handler.low_on_disk():
                await self.push(replies.INSUFFICIENT_STORAGE)
                return
        await super().smtp_MAIL(arg)

    # -- DATA: streamed to the spool ----------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None and self.session is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        if self.event_handler.low_on_disk():
            await self.push(replies.INSUFFICIENT_STORAGE)
            return
        opening = asyncio.ensure_future(self.event_handler.open_entry(self.session, self.envelope))
        try:
            writer, problem = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The client left while the file was being created: remove it once it exists.
            opening.add_done_callback(_abort_opened)
            raise
        if writer is None:
            await self.push(problem)
            return
        await self._receive_and_spool(writer)

    async def _receive_and_spool(self, writer: EntryWriter) -> None:
        committing = False
        self._in_data = True
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            try:
                problem = await self._receive(writer)
            except asyncio.IncompleteReadError:
                return  # half-closed before the final dot: nothing to answer, nothing stays
            if problem is not None:
                await self.push(self._data_reply(problem))
                return
            self._reset_timeout()  # the client is done; spooling time is ours
            committing = True
            status = await self.event_handler.commit_entry(self.session, self.envelope, writer)
            await self.push(self._data_reply(status))
        finally:
            self._in_data = False
            if not committing:
                writer.abort()  # limits exceeded or the client went away: nothing stays
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            if self._closed_after_data and self.transport is not None:
                self.transport.close()  # the client said all it will say

    def _data_reply(self, status: str) -> str:
        return status

    async def _receive(self, writer: EntryWriter) -> str | None:
        """Read up to the final dot, writing the content; a reply if a limit was exceeded."""
        scanner = StructureScanner(
            self.limits.max_header_bytes, self.limits.max_mime_depth, self.limits.max_mime_parts
        )
        decoder = DataDecoder(
            writer.write,
            scanner,
            size_limit=self.data_size_limit or 0,
            normalize=self.limits.bare_line_endings == "normalize",
        )
        await dataphase.receive(self._reader, decoder)
        return decoder.problem


def _abort_opened(opening: asyncio.Future[tuple[EntryWriter | None, str]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        writer, _ = opening.result()
        if writer is not None:
            writer.abort()


class GatewayLMTP(GatewaySMTP):
    """LMTP (RFC 2033): LHLO instead of HELO/EHLO, and one DATA reply per recipient."""

    show_smtp_greeting = False

    @syntax("LHLO hostname")
    async def smtp_LHLO(self, arg: str) -> None:
        await super().smtp_EHLO(arg)

    async def smtp_HELO(self, arg: str) -> None:
        await self.push('500 Error: command "HELO" not recognized')

    async def smtp_EHLO(self, arg: str) -> None:
        await self.push('500 Error: command "EHLO" not recognized')

    def _data_reply(self, status: str) -> str:
        assert self.envelope is not None
        # One message is spooled for all recipients, so every recipient shares its fate.
        return "\r\n".join([status] * max(1, len(self.envelope.rcpt_tos)))
