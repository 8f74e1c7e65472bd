"""Which recipients the gateway accepts, and which clients may deliver."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.addresses import base_address, normalize_address
from gateway.config_trust import TeamInbox

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

TOKEN_TAG = "t-"  # noqa: S105 - a tag prefix, not a secret; log+t-<token>@: a user's secret logging address


@dataclass(frozen=True)
class Route:
    """What a gateway recipient means: the logging address (with its tags) or a team inbox."""

    kind: str  # "logging" or "team_inbox"
    tags: tuple[str, ...] = ()
    token: str | None = None
    inbox: TeamInbox | None = None


class Router:
    """Recipient and client policy, built once from config; pure and cheap per call."""

    def __init__(
        self,
        logging_addresses: Iterable[str],
        trusted_networks: Iterable[Network],
        team_inboxes: Iterable[TeamInbox] = (),
    ) -> None:
        self.logging_addresses = frozenset(logging_addresses)
        self.trusted_networks = tuple(trusted_networks)
        self.inboxes = {inbox.route: inbox for inbox in team_inboxes}

    def route(self, address: str) -> Route | None:
        """The route of ``address``, or None: nothing else is accepted, never a relay."""
        normalized = normalize_address(address)
        if normalized is None:
            return None
        if (inbox := self.inboxes.get(normalized)) is not None:
            return Route("team_inbox", inbox=inbox)
        base, tag = base_address(normalized)
        if base not in self.logging_addresses:
            return None
        tags = tuple(t for t in (tag or "").split("+") if t)
        tokens = [t[len(TOKEN_TAG) :] for t in tags if t.startswith(TOKEN_TAG)]
        other = tuple(t for t in tags if not t.startswith(TOKEN_TAG))
        return Route("logging", tags=other, token=tokens[0] if len(tokens) == 1 else None)

    def is_gateway_address(self, address: str) -> bool:
        return self.route(address) is not None

    def is_trusted_client(self, peer_ip: str) -> bool:
        try:
            ip = ipaddress.ip_address(peer_ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.trusted_networks)
