"""systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram of
``KEY=value`` lines to the AF_UNIX socket named by ``$NOTIFY_SOCKET``.

``bccrm serve`` sends ``READY=1`` once its listener is bound, ``STOPPING=1`` when it starts
shutting down and, when the unit has ``WatchdogSec=``, ``WATCHDOG=1`` every half period from
its event loop, so a hung loop gets the service restarted. Outside systemd (no
``$NOTIFY_SOCKET``) every call is a no-op; a failing send is logged at DEBUG and never raised:
a notification must not take the gateway down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger("bccrm.systemd")


def notify(*fields: str) -> bool:
    """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) as one message; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace (sd_notify(3))
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode("utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: a NUL inside the variable
        log.debug("systemd notification not sent: %s", type(exc).__name__)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None when the
    watchdog is off or meant for another process (``$WATCHDOG_PID``, sd_watchdog_enabled(3))."""
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


async def watchdog(interval: float) -> None:
    """Ping systemd's watchdog every ``interval`` seconds until cancelled."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def start_watchdog() -> asyncio.Task[None] | None:
    """The watchdog task for this process when systemd asked for one, else None."""
    interval = watchdog_interval()
    if interval is None:
        return None
    log.debug("systemd watchdog: a ping every %.3fs", interval)
    return asyncio.create_task(watchdog(interval), name="sd-watchdog")


def ready(port: int) -> None:
    """The listener is bound and accepts connections."""
    notify("READY=1", f"STATUS=accepting mail on port {port}")


def stopping() -> None:
    """Shutdown has begun: no new connections; the worker finishes the message in hand."""
    notify("STOPPING=1", "STATUS=stopping: finishing the message in hand")
