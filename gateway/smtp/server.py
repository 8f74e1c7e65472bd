"""Run the SMTP (or LMTP) edge on an asyncio loop: the listener, TLS, and an optional second
listener with implicit TLS."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from gateway.config import Config
from gateway.smtp.credentials import EdgeCredentials
from gateway.smtp.handler import GatewayHandler
from gateway.smtp.routing import Router
from gateway.smtp.session import GatewayLMTP, GatewaySMTP, SessionLimiter
from gateway.spool import Spool

log = logging.getLogger("bccrm.smtp")

IDENT = "bccrm ESMTP"


def tls_context(config: Config) -> ssl.SSLContext | None:
    if not config.tls.enabled:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(config.tls.cert_file), str(config.tls.key_file))
    return context


def protocol_factory(
    config: Config,
    spool: Spool,
    limiter: SessionLimiter,
    credentials: EdgeCredentials | None,
    *,
    context: ssl.SSLContext | None,
    implicit_tls: bool = False,
) -> Callable[[], GatewaySMTP]:
    """A factory of sessions with bccrm's settings."""
    router = Router(config.logging.addresses, config.gateway.trusted_networks, config.team_inboxes)
    handler = GatewayHandler(
        router,
        spool,
        limits=config.limits,
        max_message_size=config.gateway.max_message_size,
        credentials=credentials,
        transport=config.gateway.protocol,
        implicit_tls=implicit_tls,
    )
    session_class = GatewayLMTP if config.gateway.protocol == "lmtp" else GatewaySMTP
    auth_offered = config.auth.enabled and context is not None and credentials is not None

    def make() -> GatewaySMTP:
        return session_class(
            handler,
            limits=config.limits,
            limiter=limiter,
            max_auth_failures=config.auth.max_failures,
            # An explicit hostname: without it aiosmtpd does a DNS lookup per connection.
            hostname=config.gateway.hostname,
            ident=IDENT,
            data_size_limit=config.gateway.max_message_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=None if implicit_tls else context,
            require_starttls=config.tls.require_tls and not implicit_tls,
            # Passwords only ever travel encrypted: without TLS, AUTH answers 538.
            auth_require_tls=not implicit_tls,
            auth_exclude_mechanism=None if auth_offered else ["PLAIN", "LOGIN"],
        )

    return make


async def serve(
    config: Config,
    spool: Spool,
    stop: asyncio.Event,
    ready: Callable[[int], None] | None = None,
    credentials: EdgeCredentials | None = None,
) -> None:
    """Listen until ``stop`` is set, then close the listeners."""
    loop = asyncio.get_running_loop()
    limiter = SessionLimiter(config.limits.max_sessions, config.limits.max_sessions_per_ip)
    context = tls_context(config)
    host = config.gateway.host
    servers = [
        await loop.create_server(
            protocol_factory(config, spool, limiter, credentials, context=context),
            host=host,
            port=config.gateway.port,
        )
    ]
    if context is not None and config.tls.implicit_tls_port:
        servers.append(
            await loop.create_server(
                protocol_factory(
                    config, spool, limiter, credentials, context=context, implicit_tls=True
                ),
                host=host,
                port=config.tls.implicit_tls_port,
                ssl=context,
            )
        )
    port = servers[0].sockets[0].getsockname()[1]
    log.info(
        "listening on %s:%d (%s%s)",
        host,
        port,
        config.gateway.protocol.upper(),
        ", STARTTLS" if context else "",
    )
    if ready is not None:
        ready(port)
    await stop.wait()
    log.info("stopping: no new connections")
    for server in servers:
        server.close()
    for server in servers:
        await server.wait_closed()
