"""Which recipients the gateway accepts, and which clients may deliver."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from gateway.addresses import base_address, normalize_address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Router:
    """Recipient and client policy, built once from config; pure and cheap per call."""

    def __init__(self, logging_addresses: Iterable[str], trusted_networks: Iterable[Network]):
        self.logging_addresses = frozenset(logging_addresses)
        self.trusted_networks = tuple(trusted_networks)

    def is_gateway_address(self, address: str) -> bool:
        """A logging address or one of its ``+tag`` forms. Nothing else: never a relay."""
        normalized = normalize_address(address)
        return normalized is not None and base_address(normalized)[0] in self.logging_addresses

    def is_trusted_client(self, peer_ip: str) -> bool:
        try:
            ip = ipaddress.ip_address(peer_ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.trusted_networks)
