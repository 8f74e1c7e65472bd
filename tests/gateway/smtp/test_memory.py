"""Memory per session stays bounded: DATA is streamed to the spool, never buffered.

aiosmtpd on its own keeps a whole DATA phase in memory (about 67 bytes per line on top of the
data), so ten concurrent 32 MiB messages would need well over 320 MiB. bccrm's edge runs here
in its own process and its peak resident memory (VmHWM) is read afterwards.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import socket
import threading
from pathlib import Path

import pytest

from gateway.config import Config
from tests.support import LOG

pytestmark = pytest.mark.slow

MIB = 1 << 20
SESSIONS = 10
MESSAGE = 32 * MIB
GROWTH_LIMIT_MIB = 48  # buffering the DATA phases would take over 320 MiB


def run_edge(config: Config, ports: queue.Queue[int]) -> None:
    from gateway.smtp.server import serve
    from gateway.spool import Spool

    Spool(config.spool.path).ensure()

    async def main() -> None:
        await serve(config, Spool(config.spool.path), asyncio.Event(), ready=ports.put)

    asyncio.run(main())


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def send_big(port: int, line: bytes, replies: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        stream = sock.makefile("rb")
        stream.readline()
        for command in (
            b"EHLO c",
            b"MAIL FROM:<a@example.com>",
            f"RCPT TO:<{LOG}>".encode(),
            b"DATA",
        ):
            sock.sendall(command + b"\r\n")
            while stream.readline()[3:4] == b"-":  # skip continuation lines
                pass
        chunk = b"Subject: big\r\n\r\n" + line * (MIB // len(line))
        for _ in range(MESSAGE // MIB):
            sock.sendall(chunk)
        sock.sendall(b".\r\n")
        replies.append(stream.readline())
        stream.close()


@pytest.mark.parametrize("line", [b"x" * 998 + b"\r\n"], ids=["998-byte lines"])
def test_ten_concurrent_32_mib_messages_keep_memory_bounded(
    make_config: object, line: bytes
) -> None:
    config = make_config(gateway={"max_message_size": 40 * MIB})  # type: ignore[operator]
    context = multiprocessing.get_context("spawn")
    ports: queue.Queue[int] = context.Queue()  # type: ignore[assignment]
    process = context.Process(target=run_edge, args=(config, ports), daemon=True)
    process.start()
    try:
        port = ports.get(timeout=60)
        assert process.pid is not None
        idle = peak_rss_mib(process.pid)
        replies: list[bytes] = []
        threads = [
            threading.Thread(target=send_big, args=(port, line, replies)) for _ in range(SESSIONS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        peak = peak_rss_mib(process.pid)
    finally:
        process.terminate()
        process.join(30)
        ports.close()  # type: ignore[attr-defined]
    assert [r[:3] for r in replies] == [b"250"] * SESSIONS
    assert peak - idle < GROWTH_LIMIT_MIB, f"edge grew from {idle:.0f} to {peak:.0f} MiB"
    print(f"edge peak RSS {idle:.0f} -> {peak:.0f} MiB with {SESSIONS} x 32 MiB")
    spooled = list(Path(config.spool.path, "new").iterdir())
    assert len(spooled) == SESSIONS
    sent = (MESSAGE // MIB) * (MIB // len(line)) * len(line)
    assert all(p.stat().st_size > sent for p in spooled)
