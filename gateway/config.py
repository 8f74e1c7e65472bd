"""Configuration: one TOML file parsed once into frozen dataclasses.

Every option is documented in ``bccrm.example.toml``. Validation happens here, before anything
listens: an invalid file raises :class:`ConfigError` naming the key and the problem, and the CLI
turns that into exit code 2. Relative paths (the spool, a SQLite database file) are resolved
against the directory of the config file, so a config works from any working directory.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gateway.addresses import normalize_domain
from gateway.config_matching import MatchingConfig, parse_matching
from gateway.config_ops import MetricsConfig, parse_metrics
from gateway.config_plugins import PluginsConfig, parse_plugins
from gateway.config_privacy import PrivacyConfig, RetentionConfig, parse_privacy, parse_retention
from gateway.config_reader import ConfigError, Reader
from gateway.config_trust import (
    AuthConfig,
    DkimConfig,
    LimitsConfig,
    TeamInbox,
    TlsConfig,
    VerifyConfig,
    parse_auth,
    parse_dkim,
    parse_limits,
    parse_team_inboxes,
    parse_tls,
    parse_verify,
)

__all__ = ["Config", "ConfigError", "find_config_path", "load_config", "parse_config"]

T = TypeVar("T")

ENV_CONFIG = "BCCRM_CONFIG"
DEFAULT_CONFIG_PATHS = (Path("bccrm.toml"), Path("/etc/bccrm/bccrm.toml"))

# Free-mail providers: their domains never become companies.
DEFAULT_FREE_MAIL = (
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "mail.ru",
    "yandex.ru",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "op.pl",
    "interia.pl",
    "poczta.fm",
    "tlen.pl",
    "gazeta.pl",
    "vp.pl",
    "buziaczek.pl",
    "int.pl",
    "seznam.cz",
    "libero.it",
)


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "bccrm.localhost"
    max_message_size: int = 10_240_000
    protocol: str = "smtp"
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


@dataclass(frozen=True)
class SpoolConfig:
    path: Path = Path("/var/spool/bccrm")


@dataclass(frozen=True)
class WorkerConfig:
    max_attempts: int = 3
    poll_interval: float = 0.2
    retry_delay: float = 30.0
    batch_size: int = 32
    nice: int = 10  # the worker's scheduling priority: below the edge's


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:////var/lib/bccrm/bccrm.db"
    sqlite_busy_timeout: float = 30.0


@dataclass(frozen=True)
class OrganizationConfig:
    domains: tuple[str, ...] = ()
    default_region: str = "PL"
    free_mail_domains: tuple[str, ...] = DEFAULT_FREE_MAIL


@dataclass(frozen=True)
class LoggingAddressesConfig:
    addresses: tuple[str, ...] = ("log@crm.example.com",)


@dataclass(frozen=True)
class DiagnosticsConfig:
    log_level: str = "INFO"
    log_format: str = "text"


@dataclass(frozen=True)
class Config:
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    organization: OrganizationConfig = field(default_factory=OrganizationConfig)
    logging: LoggingAddressesConfig = field(default_factory=LoggingAddressesConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    team_inboxes: tuple[TeamInbox, ...] = ()
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    source: Path | None = None


def find_config_path(explicit: str | None) -> Path:
    """The config file to use: ``--config``, then ``$BCCRM_CONFIG``, then the default paths."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(ENV_CONFIG):
        return Path(env)
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.exists():
            return candidate
    raise ConfigError(
        "no configuration file: pass --config FILE or set BCCRM_CONFIG "
        "(bccrm.example.toml is a documented starting point)"
    )


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, base_dir=path.resolve().parent, source=path)


def parse_config(data: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML; unknown sections and keys are errors."""
    sections = Reader(data, "")
    logging_config = _logging(sections.section("logging"))
    sections.used.add("team_inbox")
    sections.used.add("plugin")
    config = Config(
        gateway=_gateway(sections.section("gateway")),
        spool=SpoolConfig(path=_path(sections.section("spool"), "path", base_dir)),
        worker=_worker(sections.section("worker")),
        database=_database(sections.section("database"), base_dir),
        organization=_organization(sections.section("organization")),
        logging=logging_config,
        diagnostics=_diagnostics(sections.section("diagnostics")),
        limits=parse_limits(sections.section("limits")),
        tls=parse_tls(sections.section("tls"), base_dir),
        auth=parse_auth(sections.section("auth")),
        dkim=parse_dkim(sections.section("dkim")),
        verify=parse_verify(sections.section("verify")),
        matching=parse_matching(sections.section("matching")),
        privacy=parse_privacy(sections.section("privacy"), base_dir),
        retention=parse_retention(sections.section("retention")),
        team_inboxes=parse_team_inboxes(data.get("team_inbox", []), logging_config.addresses),
        plugins=parse_plugins(sections.section("plugins"), data.get("plugin"), base_dir),
        metrics=parse_metrics(sections.section("metrics")),
        source=source,
    )
    sections.finish()
    return config


def _gateway(r: Reader) -> GatewayConfig:
    d = GatewayConfig()
    networks = []
    for text in r.strings("trusted_networks", tuple(str(n) for n in d.trusted_networks)):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"{r.name('trusted_networks')}: {text!r} is not a network") from None
    cfg = GatewayConfig(
        host=r.get("host", str, d.host),
        port=r.get("port", int, d.port, lambda v: 0 <= v <= 65535, "must be 0..65535"),
        hostname=r.get("hostname", str, d.hostname, lambda v: v.strip() != "", "must be set"),
        max_message_size=r.get(
            "max_message_size",
            int,
            d.max_message_size,
            lambda v: v >= 1024,
            "must be at least 1024 bytes",
        ),
        trusted_networks=tuple(networks),
        protocol=r.get(
            "protocol", str, d.protocol, lambda v: v in ("smtp", "lmtp"), "must be 'smtp' or 'lmtp'"
        ),
    )
    r.finish()
    return cfg


def _worker(r: Reader) -> WorkerConfig:
    d = WorkerConfig()
    cfg = WorkerConfig(
        max_attempts=r.get(
            "max_attempts", int, d.max_attempts, lambda v: 1 <= v <= 100, "must be 1..100"
        ),
        poll_interval=r.get(
            "poll_interval",
            float,
            d.poll_interval,
            lambda v: 0 < v <= 60,
            "must be more than 0 and at most 60 seconds",
        ),
        retry_delay=r.get(
            "retry_delay", float, d.retry_delay, lambda v: v >= 0, "must not be negative"
        ),
        batch_size=r.get(
            "batch_size", int, d.batch_size, lambda v: 1 <= v <= 1000, "must be 1..1000"
        ),
        nice=r.get("nice", int, d.nice, lambda v: 0 <= v <= 19, "must be 0..19"),
    )
    r.finish()
    return cfg


def _path(r: Reader, key: str, base_dir: Path) -> Path:
    value = Path(r.get(key, str, str(SpoolConfig.path)))
    r.finish()
    return value if value.is_absolute() else base_dir / value


def _database(r: Reader, base_dir: Path) -> DatabaseConfig:
    d = DatabaseConfig()
    url = r.secret("url", d.url, base_dir)
    if "://" not in url:
        raise ConfigError(f"{r.name('url')}: expected a URL such as sqlite:///bccrm.db")
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        rest = url[len(prefix) :]
        if rest and not rest.startswith(":memory:"):
            url = prefix + str(base_dir / rest)
    cfg = DatabaseConfig(
        url=url,
        sqlite_busy_timeout=r.get(
            "sqlite_busy_timeout",
            float,
            d.sqlite_busy_timeout,
            lambda v: v >= 0,
            "must not be negative",
        ),
    )
    r.finish()
    return cfg


def _organization(r: Reader) -> OrganizationConfig:
    d = OrganizationConfig()
    region = r.get("default_region", str, d.default_region)
    if len(region) != 2 or not region.isalpha():
        raise ConfigError(f"{r.name('default_region')}: expected a two-letter region like 'PL'")
    domains = _domains(r, "domains", d.domains)
    free = _domains(r, "free_mail_domains", d.free_mail_domains)
    cfg = OrganizationConfig(domains=domains, default_region=region.upper(), free_mail_domains=free)
    r.finish()
    return cfg


def _domains(r: Reader, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(normalize_domain(x) for x in r.strings(key, default))
    except ValueError as exc:
        raise ConfigError(f"{r.name(key)}: {exc}") from None


def _logging(r: Reader) -> LoggingAddressesConfig:
    from gateway.addresses import normalize_address  # noqa: PLC0415 - avoids a cycle at import

    addresses = r.strings("addresses", LoggingAddressesConfig.addresses)
    if not addresses:
        raise ConfigError(f"{r.name('addresses')}: at least one logging address is required")
    normalized = []
    for text in addresses:
        address = normalize_address(text)
        if address is None or "+" in address.split("@")[0]:
            raise ConfigError(
                f"{r.name('addresses')}: {text!r} is not a plain address "
                "(+tag forms are accepted automatically)"
            )
        normalized.append(address)
    cfg = LoggingAddressesConfig(addresses=tuple(normalized))
    r.finish()
    return cfg


def _diagnostics(r: Reader) -> DiagnosticsConfig:
    d = DiagnosticsConfig()
    cfg = DiagnosticsConfig(
        log_level=r.get(
            "log_level",
            str,
            d.log_level,
            lambda v: v.upper() in {"DEBUG", "INFO", "WARNING", "ERROR"},
            "must be DEBUG, INFO, WARNING or ERROR",
        ).upper(),
        log_format=r.get(
            "log_format",
            str,
            d.log_format,
            lambda v: v in {"text", "json"},
            "must be 'text' or 'json'",
        ),
    )
    r.finish()
    return cfg
