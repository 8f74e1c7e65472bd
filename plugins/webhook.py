"""The webhook plugin: POST each event as JSON to the configured endpoints, signed.

Every ``[[plugin.webhook.endpoint]]`` is an outbox channel of its own (``bccrm_channels``), so
an endpoint that is down delays only itself, and the outbox retries it with backoff, in order
per email. A request carries the event id (``X-Bccrm-Delivery``: the same on every retry, for
receivers to drop duplicates) and ``X-Bccrm-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`` (the scheme Stripe uses), so a receiver can check both who sent the body and
that it is recent (:func:`verify_signature`). Nothing is sent for event kinds an endpoint does
not take.

What comes back decides what the outbox does: 2xx is done; 408, 429, 5xx, timeouts and
connection errors are retried (:class:`RetryLater`, at the time ``Retry-After`` names if the
endpoint sent one, capped at an hour); any other status fails the delivery for good
(:class:`WebhookRejected`). Redirects are not followed: a POST must not be re-sent somewhere
the configuration does not name. Errors and logs name the endpoint and the status, never the
URL (it can hold a token) or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config_reader import ConfigError, Reader
from gateway.crm import PluginEvent
from gateway.hooks import (
    EVENT_TYPES,
    ContactCreated,
    DeliveryFailed,
    EmailLogged,
    Event,
    LegalBasisFlagged,
    PluginContext,
    RetryLater,
    ReviewDecided,
    event_payload,
    hookimpl,
)

KINDS = tuple(EVENT_TYPES)
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
MAX_RETRY_AFTER = 3600.0  # an endpoint cannot park a delivery for longer than an hour
TOLERANCE = 300  # seconds a receiver should accept a signature's timestamp off its own clock
SIGNATURE_HEADER = "X-Bccrm-Signature"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_RETRY_STATUSES = frozenset({408, 429})  # and every 5xx


class WebhookRejected(DeliveryFailed):
    """The endpoint refused the event for good (a 3xx or a 4xx other than 408 and 429)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class EndpointNotConfigured(Exception):
    """The event was meant for an endpoint that is no longer in the configuration."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str = field(repr=False)  # may carry a token: kept out of reprs, errors and logs
    secret: str = field(repr=False)
    events: frozenset[str]
    timeout: float = DEFAULT_TIMEOUT


# -- configuration ------------------------------------------------------------------------------


def parse_endpoints(settings: Reader, base_dir: Path | None = None) -> dict[str, Endpoint]:
    """``[[plugin.webhook.endpoint]]`` tables, checked, by name."""
    tables = settings.data.get("endpoint", [])
    settings.used.add("endpoint")
    settings.finish()
    if not isinstance(tables, list):
        raise ConfigError(
            f"{settings.name('endpoint')}: expected [[plugin.webhook.endpoint]] tables"
        )
    endpoints: dict[str, Endpoint] = {}
    for index, table in enumerate(tables):
        endpoint = _endpoint(Reader(table, f"{settings.name('endpoint')}[{index}]"), base_dir)
        if endpoint.name in endpoints:
            raise ConfigError(
                f"{settings.name('endpoint')}[{index}].name: {endpoint.name!r} is used twice"
            )
        endpoints[endpoint.name] = endpoint
    return endpoints


def _endpoint(r: Reader, base_dir: Path | None) -> Endpoint:
    name = r.get("name", str, "")
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{r.name('name')}: required; letters, digits, '.', '_' and '-', at most 100"
        )
    url = r.secret("url", "", base_dir)  # inline, or { env = … } / { file = … }: it may be a token
    if problem := _url_problem(url):
        raise ConfigError(f"{r.name('url')}: {problem}")  # never the URL itself
    secret = r.secret("secret", "", base_dir)
    if not secret:
        raise ConfigError(f"{r.name('secret')}: required (the key requests are signed with)")
    events = r.strings("events", KINDS)
    if unknown := sorted(set(events) - set(KINDS)):
        raise ConfigError(
            f"{r.name('events')}: unknown event {unknown[0]!r} (known: {', '.join(KINDS)})"
        )
    if not events:
        raise ConfigError(f"{r.name('events')}: names no event")
    timeout = r.get(
        "timeout", float, DEFAULT_TIMEOUT, lambda v: 0 < v <= MAX_TIMEOUT, "must be 0 < t ≤ 300"
    )
    r.finish()
    return Endpoint(name, url, secret, frozenset(events), timeout)


def _url_problem(url: str) -> str:
    """What is wrong with ``url`` as an endpoint ("" if nothing)."""
    if not url:
        return "required"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain user:password@"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "must not contain spaces or control characters"
    return ""


@hookimpl
def bccrm_configure(context: PluginContext) -> None:
    context.state["endpoints"] = parse_endpoints(context.settings, context.config.plugins.base_dir)
    context.state["user_agent"] = f"bccrm/{_version()}"


@hookimpl
def bccrm_channels(context: PluginContext) -> list[str]:
    return list(_endpoints(context))


# -- delivery -------------------------------------------------------------------------------------


@hookimpl
def bccrm_email_logged(event: EmailLogged, channel: str, context: PluginContext) -> None:
    deliver(event, channel, context)


@hookimpl
def bccrm_contact_created(event: ContactCreated, channel: str, context: PluginContext) -> None:
    deliver(event, channel, context)


@hookimpl
def bccrm_review_decided(event: ReviewDecided, channel: str, context: PluginContext) -> None:
    deliver(event, channel, context)


@hookimpl
def bccrm_legal_basis_flagged(
    event: LegalBasisFlagged, channel: str, context: PluginContext
) -> None:
    deliver(event, channel, context)


def deliver(event: Event, channel: str, context: PluginContext) -> None:
    """POST ``event`` to the endpoint named ``channel`` if it takes this kind of event."""
    endpoint = _endpoints(context).get(channel)
    if endpoint is None:
        # Removed from the configuration after the event was fanned out to it.
        raise EndpointNotConfigured(channel)
    if event.kind not in endpoint.events:
        return
    body = _body(event, context)
    stamp = int(context.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": context.state.get("user_agent", "bccrm"),
        "X-Bccrm-Event": event.kind,
        "X-Bccrm-Delivery": str(event.event_id),
        SIGNATURE_HEADER: sign(endpoint.secret, body, stamp),
    }
    status = _post(endpoint, body, headers, context)
    context.log.debug("endpoint %s: event %d delivered (HTTP %d)", channel, event.event_id, status)


def _body(event: Event, context: PluginContext) -> bytes:
    """The JSON document: the same bytes on every retry (``created`` is when the event was
    recorded, not when it is sent)."""
    with context.sessions() as session:
        created = session.get(PluginEvent, event.event_id)
        when = created.created_at if created is not None else context.now()
    document = {
        "id": event.event_id,
        "type": event.kind,
        "created": when.astimezone(UTC).isoformat(),
        "data": event_payload(event),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx becomes an HTTPError: the POST is never re-sent to a URL nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(
    _NoRedirects, urllib.request.HTTPSHandler(context=ssl.create_default_context())
)


def _post(
    endpoint: Endpoint, body: bytes, headers: Mapping[str, str], context: PluginContext
) -> int:
    # The scheme is http or https: checked when the configuration was read.
    request = urllib.request.Request(  # noqa: S310
        endpoint.url, data=body, headers=dict(headers), method="POST"
    )
    try:
        with _opener.open(request, timeout=endpoint.timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            status, answer = exc.code, exc.headers
        if status in _RETRY_STATUSES or status >= 500:
            raise RetryLater(f"HTTP {status}", retry_after(answer, context.now())) from None
        context.log.warning("endpoint %s: HTTP %d, not retried", endpoint.name, status)
        raise WebhookRejected(status) from None
    except urllib.error.URLError as exc:
        raise RetryLater(_network_problem(exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise RetryLater(_network_problem(exc)) from None


# Connection problems as the delivery log shows them, most specific first.
_PROBLEMS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (TimeoutError, "timeout"),  # socket.timeout is TimeoutError
    (ConnectionRefusedError, "connection refused"),
    (ssl.SSLCertVerificationError, "TLS certificate not trusted"),
    (ssl.SSLError, "TLS failed"),
    (socket.gaierror, "host name not resolved"),
    ((ConnectionError, http.client.HTTPException), "connection closed"),
)


def _network_problem(reason: object) -> str:
    """A short, content-free reason for the delivery log."""
    return next((text for kind, text in _PROBLEMS if isinstance(reason, kind)), "connection failed")


def retry_after(headers: Message | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), at most an
    hour; None when absent or unreadable (the outbox's backoff applies)."""
    value = (headers.get("Retry-After") if headers is not None else None) or ""
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # RFC 9110: HTTP dates are GMT
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


# -- signatures -----------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Bccrm-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> bool:
    """For receivers: whether ``header`` (``X-Bccrm-Signature``) signs ``body`` (the raw
    request body) with ``secret`` and was made within ``tolerance`` seconds of ``now`` (unix
    time; default the clock). Several ``v1=`` values are accepted (a secret being rotated)."""
    raw = body.encode() if isinstance(body, str) else body
    stamp: int | None = None
    given: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            stamp = int(value)
        elif key == "v1":
            given.append(value)
    if stamp is None or not given:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = _digest(secret, raw, stamp).encode()
    # Every candidate is compared, each in constant time (as bytes: a header may hold any
    # text), so timing tells nothing.
    return any([hmac.compare_digest(expected, value.encode()) for value in given])


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# -- helpers --------------------------------------------------------------------------------------


def _endpoints(context: PluginContext) -> dict[str, Endpoint]:
    found: dict[str, Endpoint] = context.state.get("endpoints", {})
    return found


def _version() -> str:
    try:
        return version("bccrm")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"
