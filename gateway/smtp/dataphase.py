"""The DATA phase, read in pieces rather than lines.

aiosmtpd reads DATA one line at a time (one ``readuntil`` per line), and bccrm used to check and
write each line on its own: for a typical 5 KiB message that is about a hundred rounds of
Python for every message, most of the edge's CPU. Here the stream is read up to the end-of-data
marker (CRLF "." CRLF) in as few pieces as the reader's buffer allows, usually one, and each
piece is checked as a block of lines: dot-stuffing undone, bare CR/LF found by counting, the
MIME structure scanned only where it can change (header blocks and ``--`` lines), the size
counted and the block written to the spool in one call.

What is stored is what a line-by-line reading stores, to the byte, however the data is cut
into segments: a piece is checked up to its last CRLF and the rest waits for the next piece
(``MAX_CARRY`` bounds the wait on a very long line, which is then checked in parts, never
cutting a CR from its LF). Only when a message breaks two limits within one piece may the
refusal name another of them than a line-by-line reading would (tests/gateway/smtp/
test_dataphase.py compares the two on random streams).
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
MAX_CARRY = 8192  # bytes of an unfinished line held back before it is checked in parts
_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


async def receive(reader: asyncio.StreamReader, decoder: DataDecoder) -> None:
    """Read the content of one DATA phase up to and including the final dot into ``decoder``.

    Whatever the client sent after the final dot (pipelined commands) stays in ``reader``.
    Raises ``asyncio.IncompleteReadError`` if the stream ends before the final dot.
    """
    # The content may be empty (the client sends "." CRLF at once), or begin with an empty line
    # and end right after it: the end marker may start with a CRLF that is not in the stream.
    # So bytes are taken one at a time while what was read could be the start of the marker
    # (usually just the first byte). After that no marker straddles what was read, and each one
    # lies wholly in the reader's buffer, where readuntil finds it.
    head = b"\r\n"
    while _marker_prefix(head):
        head += await reader.readexactly(1)
        if head.endswith(END):
            decoder.feed(head[2:-3], final=True)
            return
    decoder.feed(head[2:])
    while True:
        try:
            piece = await reader.readuntil(END)
        except asyncio.LimitOverrunError as exc:
            # No marker within the reader's limit: take what was searched. readuntil leaves the
            # last len(END) - 1 bytes, so a marker they start is still found next time.
            decoder.feed(await reader.read(exc.consumed))
            continue
        decoder.feed(piece[:-3], final=True)  # keep the CRLF that ends the last line
        return


def _marker_prefix(data: bytes) -> int:
    """The length of the longest end of ``data`` that begins the end marker (0 to 4)."""
    for length in range(len(END) - 1, 0, -1):
        if data.endswith(END[:length]):
            return length
    return 0


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
            if cut == 1:  # no line ends in it
                if len(block) <= MAX_CARRY:
                    self._carry = block
                    return
                cut = len(block) - 1 if block.endswith(b"\r") else len(block)
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
