"""The DATA phase, read in pieces rather than lines.

aiosmtpd reads DATA one line at a time (one ``readuntil`` per line), and bccrm used to check and
write each line on its own: for a typical 5 KiB message that is about a hundred rounds of
Python for every message, most of the edge's CPU. Here the stream is read up to each "." CRLF
(the lines that end in a dot, and the final dot), or in pieces of about the reader's limit when
there is none, and what was read is checked as one block of lines (up to FEED_SIZE at a time):
dot-stuffing undone, bare CR/LF found by counting, the MIME structure scanned only where it can
change (header blocks and ``--`` lines), the size counted and the block written to the spool in
one call.

What is stored is what a line-by-line reading stores, to the byte, however the data is cut
into segments: a block is checked up to its last CRLF and the rest waits for the next one (a
block with no CRLF at all, part of a very long line, is checked at once, never cutting a CR
from its LF). Only when a message breaks two limits within one block may the refusal name
another of them than a line-by-line reading would (tests/gateway/smtp/test_dataphase.py
compares the two on random streams).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from gateway.smtp import replies
from gateway.smtp.prescan import StructureScanner

log = logging.getLogger("bccrm.smtp")

END = b"\r\n.\r\n"  # RFC 5321 4.1.1.4: the CRLF ending the last line, ".", CRLF
_DOT_LINE = END[2:]
FEED_SIZE = 64 * 1024  # bytes read before they are checked and written
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


async def receive(reader: asyncio.StreamReader, decoder: DataDecoder) -> None:
    """Read the content of one DATA phase up to and including the final dot into ``decoder``.

    Whatever the client sent after the final dot (pipelined commands) stays in ``reader``.
    Raises ``asyncio.IncompleteReadError`` if the stream ends before the final dot.
    """
    # Read up to each "." CRLF; it is the final dot when the CRLF before it was read too (or,
    # at the very start, is the one that ended the DATA command: the content is empty). So a
    # marker is never missed however the stream is cut, even when it begins in what was read
    # before. Lines ending in "." each cost a readuntil; the pieces are fed together.
    last = END[:2]  # the last two bytes read (at first, the CRLF that ended "DATA")
    pending: list[bytes] = []
    size = 0
    while True:
        try:
            piece = await reader.readuntil(_DOT_LINE)
        except asyncio.LimitOverrunError as exc:
            # No "." CRLF within the reader's limit: take what was searched (readuntil leaves
            # the last two bytes, which may begin one).
            piece = await reader.read(exc.consumed)
        else:
            if (last + piece if len(piece) < len(END) else piece).endswith(END):
                pending.append(piece[: -len(_DOT_LINE)])  # keep the CRLF ending the last line
                decoder.feed(b"".join(pending), final=True)
                return
        pending.append(piece)
        size += len(piece)
        last = piece[-2:]  # a piece is at least "." CRLF long
        if size >= FEED_SIZE:
            decoder.feed(b"".join(pending))
            pending, size = [], 0


class DataDecoder:
    """Checks and stores the content of one DATA phase (still dot-stuffed), fed in pieces.

    :attr:`problem` is the reply for the first limit exceeded; after it, pieces are only
    counted, so that the client's data is read to the final dot and answered once.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        scanner: StructureScanner,
        *,
        size_limit: int,
        normalize: bool,
    ) -> None:
        self._write = write
        self._scanner = scanner
        self._size_limit = size_limit  # 0: none
        self._normalize = normalize  # bare CR/LF become CRLF instead of a refusal
        self.size = 0  # bytes received, as sent (dot-stuffed), without the final dot
        self.problem: str | None = None
        self._carry = b""  # an unfinished line, held back for the next piece
        self._at_line_start = True

    def feed(self, piece: bytes, *, final: bool = False) -> None:
        """Take the next piece of the stream; ``final``: it ends with the last line's CRLF."""
        self.size += len(piece)
        if self.problem is not None:
            return
        if self._size_limit and self.size > self._size_limit:
            self.problem = replies.MESSAGE_TOO_BIG
            return
        block = self._carry + piece if self._carry else piece
        self._carry = b""
        if not final:
            cut = block.rfind(b"\r\n") + 2
            if cut == 1:  # no line ends in it: a part of a long line, checked now
                cut = len(block) - 1 if block.endswith(b"\r") else len(block)  # CR and LF together
            if cut < len(block):
                self._carry = block[cut:]
                block = block[:cut]
        if block:
            self._check(block)

    def _check(self, block: bytes) -> None:
        """Check and write ``block``: whole lines, or a part of one long line."""
        whole = block.endswith(b"\r\n")
        # RFC 5321 4.5.2: a line beginning with "." was sent with one more.
        if self._at_line_start and block.startswith(b"."):
            block = block[1:]
        if b"\r\n." in block:
            block = block.replace(b"\r\n.", b"\r\n")
        lines = block.count(b"\r\n")
        if block.count(b"\r") != lines or block.count(b"\n") != lines:
            if not self._normalize:
                self.problem = replies.BARE_LF
                return
            block = _BARE.sub(b"\r\n", block)
        scanner = self._scanner
        scanner.feed_lines(block, at_line_start=self._at_line_start)
        if scanner.violation is not None:
            log.info("message refused: %s", scanner.violation)
            self.problem = replies.STRUCTURE_LIMITS
            return
        self._write(block)
        self._at_line_start = whole
