"""``[metrics]``: where ``bccrm serve`` exposes Prometheus metrics (off unless set)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.config_reader import ConfigError, Reader


@dataclass(frozen=True)
class MetricsConfig:
    # "host:port" ("[::1]:9325" for IPv6); "" turns the endpoint off. Port 0 picks a free port
    # (it is logged), which is for tests.
    address: str = ""

    @property
    def enabled(self) -> bool:
        return self.address != ""

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]


def split_address(text: str) -> tuple[str, int]:
    """``("127.0.0.1", 9325)`` from ``"127.0.0.1:9325"``; ValueError when it is not one."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, such as 127.0.0.1:9325 or [::1]:9325")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # raises ValueError
    elif ":" in host:
        raise ValueError("put an IPv6 address in brackets: [::1]:9325")
    return host, int(port)


def parse_metrics(r: Reader) -> MetricsConfig:
    address = r.get("address", str, MetricsConfig.address).strip()
    if address:
        try:
            split_address(address)
        except ValueError as exc:
            raise ConfigError(f"{r.name('address')}: {exc}") from None
    r.finish()
    return MetricsConfig(address=address)
