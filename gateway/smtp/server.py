"""Run the SMTP edge on an asyncio loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiosmtpd.smtp import SMTP

from gateway.config import Config
from gateway.smtp.handler import GatewayHandler
from gateway.smtp.routing import Router
from gateway.spool import Spool

log = logging.getLogger("bccrm.smtp")

IDENT = "bccrm ESMTP"


def build_handler(config: Config, spool: Spool) -> GatewayHandler:
    router = Router(config.logging.addresses, config.gateway.trusted_networks)
    return GatewayHandler(router, spool)


def protocol_factory(config: Config, handler: GatewayHandler) -> Callable[[], SMTP]:
    """A factory of aiosmtpd sessions with bccrm's settings."""

    def make() -> SMTP:
        return SMTP(
            handler,
            # An explicit hostname: without it aiosmtpd does a DNS lookup per connection.
            hostname=config.gateway.hostname,
            ident=IDENT,
            data_size_limit=config.gateway.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
        )

    return make


async def serve(
    config: Config, spool: Spool, stop: asyncio.Event, ready: Callable[[int], None] | None = None
) -> None:
    """Listen until ``stop`` is set, then close the listener and wait briefly for sessions."""
    handler = build_handler(config, spool)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        protocol_factory(config, handler), host=config.gateway.host, port=config.gateway.port
    )
    port = server.sockets[0].getsockname()[1]
    log.info("listening on %s:%d", config.gateway.host, port)
    if ready is not None:
        ready(port)
    await stop.wait()
    log.info("stopping: no new connections")
    server.close()
    await server.wait_closed()
