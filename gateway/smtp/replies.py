"""The reply catalogue (../shared/RELIABILITY.md). Postfix wording where one exists.

Replies are named constants so that tests, docs and code agree, and so that no reply ever
carries exception text, paths or SQL (invariant I-4).
"""

from __future__ import annotations

OK_RCPT = "250 2.1.5 Ok"
QUEUE_WRITE_ERROR = "451 4.3.0 Error: queue file write error"
INTERNAL_ERROR = "451 4.3.0 Error: internal error"
SHUTTING_DOWN = "421 4.3.2 Service shutting down"
INSUFFICIENT_STORAGE = "452 4.3.1 Insufficient system storage"
TOO_MANY_RECIPIENTS = "452 4.5.3 Error: too many recipients"
AUTH_UNAVAILABLE = "454 4.7.0 Temporary authentication failure"
NOT_AUTHORIZED = "550 5.7.1 Sender not authorized to log to CRM"
BARE_LF = "550 5.5.2 Error: bare <LF> received"
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed limit"
STRUCTURE_LIMITS = "554 5.6.0 Message structure exceeds limits"

_MAX_ECHO = 256


def queued(entry_id: str) -> str:
    return f"250 2.0.0 Ok: queued as {entry_id}"


def not_gateway_address(address: str) -> str:
    """550 5.1.1 echoing the address; control characters and overlong input are not echoed."""
    shown = "".join(ch for ch in address[:_MAX_ECHO] if ch.isprintable())
    return f"550 5.1.1 <{shown}>: Recipient address rejected: not a gateway address"


def too_many_connections(hostname: str, ip: str) -> str:
    return f"421 4.7.0 {hostname} Error: too many connections from {ip}"


def too_many_auth_failures(hostname: str) -> str:
    return f"421 4.7.0 {hostname} Error: too many failed authentications"
