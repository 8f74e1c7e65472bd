"""The aiosmtpd handler: check the recipient and the client, spool raw bytes, answer.

No parsing and no database on the connection (see ../shared/STYLE.md, "a thin SMTP edge").
The blocking spool write (with its fsyncs) runs in a thread so the event loop keeps serving
other sessions, and it is shielded: a client that disconnects after the final dot cannot
leave a half-written entry behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gateway.addresses import mask_address
from gateway.smtp import replies
from gateway.smtp.routing import Router
from gateway.spool import Envelope, Spool, SpoolError

log = logging.getLogger("bccrm.smtp")


def peer_ip(session: Any) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class GatewayHandler:
    def __init__(self, router: Router, spool: Spool, transport: str = "smtp") -> None:
        self.router = router
        self.spool = spool
        self.transport = transport

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.router.is_gateway_address(address):
            log.info("rejected recipient %s from %s", mask_address(address), peer_ip(session))
            return replies.not_gateway_address(address)
        if not self.router.is_trusted_client(peer_ip(session)):
            log.info("refused untrusted client %s", peer_ip(session))
            return replies.NOT_AUTHORIZED
        envelope.rcpt_tos.append(address)
        return replies.OK_RCPT

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        meta = Envelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=peer_ip(session),
            helo=(session.host_name or "")[:255],
            received_at=time.time(),
            transport=self.transport,
        )
        raw = envelope.original_content
        loop = asyncio.get_running_loop()
        write = loop.run_in_executor(None, self.spool.store, raw, meta)
        try:
            entry_id = await asyncio.shield(write)
        except SpoolError as exc:
            log.error("spool write failed: %s", exc)
            return replies.QUEUE_WRITE_ERROR
        log.info("queued %s (%d bytes) from %s", entry_id, len(raw), meta.peer)
        return replies.queued(entry_id)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers "500 Error: (Class) text": permanent and leaking. A bug of
        # ours must be a temporary failure (the client retries) and say nothing of internals.
        log.error(
            "session error (%s)", type(error).__name__, exc_info=log.isEnabledFor(logging.DEBUG)
        )
        return replies.INTERNAL_ERROR
