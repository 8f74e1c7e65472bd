"""``bccrm mailgate``: one message on standard input into the spool, for an MTA's pipe.

Postfix ``pipe(8)``, Exim's pipe transport and procmail read the exit status, so it follows
sysexits(3): 0 delivered; 75 EX_TEMPFAIL for any failure of ours (the MTA keeps the message
and retries, so nothing is lost to a full disk, a broken config or a bug); 67 EX_NOUSER when
the recipient is not a gateway address; 65 EX_DATAERR when the message exceeds the limits.
The text on standard error ends up in the MTA's log or bounce, so it is short and exact.

Pipes deliver LF-terminated lines; they are stored as CRLF, the form the message had on the
wire and the one DKIM verifies. The same size, header and MIME limits apply as at the edge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import BinaryIO

from gateway.config import Config
from gateway.smtp.prescan import StructureScanner
from gateway.smtp.routing import Router
from gateway.spool import Envelope, Spool, SpoolError

log = logging.getLogger("bccrm.mailgate")

EX_OK, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 0, 65, 67, 75
CHUNK = 65536


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def deliver(config: Config, stdin: BinaryIO, rcpt: str, sender: str = "") -> tuple[int, str]:
    """Spool the message on ``stdin``; return (exit status, message for standard error)."""
    router = Router(config.logging.addresses, (), config.team_inboxes)
    if router.route(rcpt) is None:
        return EX_NOUSER, f"{rcpt[:256]}: not a gateway address"
    spool = Spool(config.spool.path)
    try:
        spool.ensure()
        if spool.free_bytes() < config.limits.min_free_factor * config.gateway.max_message_size:
            return EX_TEMPFAIL, "insufficient disk space in the spool; try again later"
        envelope = Envelope(
            mail_from=sender, rcpt_tos=(rcpt,), received_at=time.time(), transport="pipe"
        )
        writer = spool.open_entry(envelope)
        try:
            _copy(config, stdin, writer.write)
        except Refused:
            writer.abort()
            raise
        entry_id = writer.commit()
    except Refused as refused:
        return refused.status, str(refused)
    except (SpoolError, OSError) as exc:
        log.error("mailgate: spool write failed (%s)", exc)
        return EX_TEMPFAIL, "queue file write error; try again later"
    log.info("queued %s from the pipe", entry_id)
    return EX_OK, ""


def _copy(config: Config, stdin: BinaryIO, write: Callable[[bytes], None]) -> None:
    """Stream ``stdin`` to ``write`` as CRLF lines, checking the limits on the way."""
    limits = config.limits
    scanner = StructureScanner(
        limits.max_header_bytes, limits.max_mime_depth, limits.max_mime_parts
    )
    size, at_line_start = 0, True
    while chunk := stdin.readline(CHUNK):
        whole = chunk.endswith(b"\n")
        if whole:
            chunk = chunk.rstrip(b"\r\n") + b"\r\n"
        size += len(chunk)
        if size > config.gateway.max_message_size:
            raise Refused(EX_DATAERR, "message size exceeds fixed limit")
        if at_line_start:
            scanner.feed(chunk)
            if scanner.violation is not None:
                raise Refused(EX_DATAERR, f"message structure exceeds limits ({scanner.violation})")
        write(chunk)
        at_line_start = whole
