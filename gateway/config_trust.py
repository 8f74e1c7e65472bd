"""Configuration of trust and protocol hygiene: limits, TLS, SMTP AUTH, DKIM, verification
policies and team-inbox routes. Parsed by :func:`gateway.config.parse_config`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.addresses import base_address, normalize_address
from gateway.config_reader import ConfigError, Reader

POLICIES = ("transport", "dkim", "dkim+transport")
BARE_LINE_ENDINGS = ("reject", "normalize")


@dataclass(frozen=True)
class LimitsConfig:
    """Per-message and per-session limits, checked while receiving (Postfix-like defaults)."""

    max_recipients: int = 50
    max_header_bytes: int = 102_400
    max_mime_depth: int = 50
    max_mime_parts: int = 500
    max_sessions: int = 100
    max_sessions_per_ip: int = 20
    command_call_limit: int = 100
    idle_timeout: float = 300.0
    bare_line_endings: str = "reject"
    # Postfix's queue_minfree rule: refuse mail when free space < 1.5 x the message limit.
    min_free_factor: float = 1.5


@dataclass(frozen=True)
class TlsConfig:
    cert_file: Path | None = None
    key_file: Path | None = None
    require_tls: bool = False
    implicit_tls_port: int = 0

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


@dataclass(frozen=True)
class AuthConfig:
    """SMTP AUTH (PLAIN, LOGIN) for registered users; only ever offered over TLS."""

    enabled: bool = True
    max_failures: int = 3


@dataclass(frozen=True)
class DkimConfig:
    nameservers: tuple[str, ...] = ()
    timeout: float = 5.0
    min_key_bits: int = 1024
    # How long a message whose DKIM keys cannot be fetched (DNS down) keeps being retried
    # before it goes to quarantine.
    retry_window: float = 3600.0


@dataclass(frozen=True)
class VerifyConfig:
    """Which Authentication-Results to trust and what the logging route requires."""

    authserv_id: str = ""
    require: str = "transport"


@dataclass(frozen=True)
class TeamInbox:
    """A team inbox (support@, sales@) whose copies the MTA sends to ``route``."""

    address: str
    route: str
    require: str = "transport"
    # "tickets": a new thread opens a ticket and replies join it; "log": logged like BCC copies.
    mode: str = "log"
    owner: str | None = None  # a registered user's address: owner of the tickets it opens
    # Privacy level of this inbox's copies ("" = [privacy] level): full, metadata,
    # anonymous or drop.
    privacy: str = ""


def parse_limits(r: Reader) -> LimitsConfig:
    d = LimitsConfig()
    positive = "must be a positive number"
    cfg = LimitsConfig(
        max_recipients=r.get("max_recipients", int, d.max_recipients, lambda v: v >= 1, positive),
        max_header_bytes=r.get(
            "max_header_bytes",
            int,
            d.max_header_bytes,
            lambda v: v >= 1024,
            "must be at least 1024",
        ),
        max_mime_depth=r.get(
            "max_mime_depth", int, d.max_mime_depth, lambda v: 1 <= v <= 200, "must be 1..200"
        ),
        max_mime_parts=r.get(
            "max_mime_parts", int, d.max_mime_parts, lambda v: 1 <= v <= 10_000, "must be 1..10000"
        ),
        max_sessions=r.get("max_sessions", int, d.max_sessions, lambda v: v >= 1, positive),
        max_sessions_per_ip=r.get(
            "max_sessions_per_ip", int, d.max_sessions_per_ip, lambda v: v >= 1, positive
        ),
        command_call_limit=r.get(
            "command_call_limit",
            int,
            d.command_call_limit,
            lambda v: v >= 10,
            "must be at least 10",
        ),
        idle_timeout=r.get("idle_timeout", float, d.idle_timeout, lambda v: v > 0, positive),
        bare_line_endings=r.get(
            "bare_line_endings",
            str,
            d.bare_line_endings,
            lambda v: v in BARE_LINE_ENDINGS,
            "must be 'reject' or 'normalize'",
        ),
        min_free_factor=r.get(
            "min_free_factor", float, d.min_free_factor, lambda v: v >= 0, "must not be negative"
        ),
    )
    r.finish()
    return cfg


def parse_tls(r: Reader, base_dir: Path) -> TlsConfig:
    d = TlsConfig()
    cert = r.get("cert_file", str, "")
    key = r.get("key_file", str, "")
    if bool(cert) != bool(key):
        raise ConfigError(f"{r.name('cert_file')}: cert_file and key_file go together")
    cfg = TlsConfig(
        cert_file=(base_dir / cert) if cert else None,
        key_file=(base_dir / key) if key else None,
        require_tls=r.get("require_tls", bool, d.require_tls),
        implicit_tls_port=r.get(
            "implicit_tls_port",
            int,
            d.implicit_tls_port,
            lambda v: 0 <= v <= 65535,
            "must be 0 (off) or a port",
        ),
    )
    if (cfg.require_tls or cfg.implicit_tls_port) and not cfg.enabled:
        raise ConfigError(f"{r.name('require_tls')}: needs cert_file and key_file")
    for path in (cfg.cert_file, cfg.key_file):
        if path is not None and not path.is_file():
            raise ConfigError(f"{r.name('cert_file')}: {path} does not exist")
    r.finish()
    return cfg


def parse_auth(r: Reader) -> AuthConfig:
    d = AuthConfig()
    cfg = AuthConfig(
        enabled=r.get("enabled", bool, d.enabled),
        max_failures=r.get(
            "max_failures", int, d.max_failures, lambda v: v >= 1, "must be at least 1"
        ),
    )
    r.finish()
    return cfg


def parse_dkim(r: Reader) -> DkimConfig:
    d = DkimConfig()
    nameservers = r.strings("nameservers", d.nameservers)
    for server in nameservers:
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"{r.name('nameservers')}: {server!r} is not IP or IP:PORT") from None
        if port and not port.isdigit():
            raise ConfigError(f"{r.name('nameservers')}: {server!r} is not IP or IP:PORT")
    cfg = DkimConfig(
        nameservers=nameservers,
        timeout=r.get("timeout", float, d.timeout, lambda v: 0 < v <= 60, "must be 0..60 s"),
        min_key_bits=r.get(
            "min_key_bits", int, d.min_key_bits, lambda v: v >= 1024, "must be at least 1024"
        ),
        retry_window=r.get(
            "retry_window", float, d.retry_window, lambda v: v >= 0, "must not be negative"
        ),
    )
    r.finish()
    return cfg


def _policy(r: Reader, default: str) -> str:
    return r.get(
        "require",
        str,
        default,
        lambda v: v in POLICIES,
        "must be 'transport', 'dkim' or 'dkim+transport'",
    )


def parse_verify(r: Reader) -> VerifyConfig:
    d = VerifyConfig()
    cfg = VerifyConfig(
        authserv_id=r.get("authserv_id", str, d.authserv_id).strip().lower(),
        require=_policy(r, d.require),
    )
    r.finish()
    return cfg


def _owner(r: Reader) -> str | None:
    text = r.get("owner", str, "")
    if not text:
        return None
    owner = normalize_address(text)
    if owner is None:
        raise ConfigError(f"{r.name('owner')}: {text!r} is not an address")
    return owner


def parse_team_inboxes(entries: Any, logging_addresses: tuple[str, ...]) -> tuple[TeamInbox, ...]:
    if not isinstance(entries, list):
        raise ConfigError("team_inbox: expected [[team_inbox]] tables")
    inboxes: list[TeamInbox] = []
    for index, entry in enumerate(entries):
        r = Reader(entry, f"team_inbox[{index}]")
        address, route = (normalize_address(r.get(k, str, "")) for k in ("address", "route"))
        if address is None or route is None:
            raise ConfigError(f"{r.name('address')}: address and route must be valid addresses")
        if base_address(route)[0] in logging_addresses:
            raise ConfigError(f"{r.name('route')}: must differ from the logging addresses")
        inboxes.append(
            TeamInbox(
                address=address,
                route=route,
                require=_policy(r, "transport"),
                mode=r.get(
                    "mode",
                    str,
                    "log",
                    lambda v: v in ("log", "tickets"),
                    "must be 'log' or 'tickets'",
                ),
                owner=_owner(r),
                privacy=r.get(
                    "privacy",
                    str,
                    "",
                    lambda v: v in ("", "full", "metadata", "anonymous", "drop"),
                    "must be 'full', 'metadata', 'anonymous' or 'drop'",
                ),
            )
        )
        r.finish()
    routes = [i.route for i in inboxes]
    if len(set(routes)) != len(routes):
        raise ConfigError("team_inbox: two inboxes share a route")
    return tuple(inboxes)
