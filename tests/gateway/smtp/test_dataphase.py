"""The DATA phase read in pieces gives what a line-by-line reading gives, however it arrives.

The reference below is RFC 5321 read literally: the content ends at the first CRLF "." CRLF
(counting the CRLF before DATA's first line), each CRLF line loses one leading dot, and every
line is checked in order. ``dataphase.receive`` runs on a real ``asyncio.StreamReader`` with
aiosmtpd's limit, fed the same bytes cut into random segments, as a socket would deliver them.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.smtp import dataphase, replies
from gateway.smtp.dataphase import DataDecoder
from gateway.smtp.prescan import StructureScanner

READER_LIMIT = 1001  # aiosmtpd's line_length_limit, the limit of its StreamReader
LONG = 8192  # a line many pieces long
BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


@dataclass
class Limits:
    size: int = 0
    header_bytes: int = 64 * 1024
    depth: int = 50
    parts: int = 1000
    normalize: bool = False

    def scanner(self) -> StructureScanner:
        return StructureScanner(self.header_bytes, self.depth, self.parts)


@dataclass
class Outcome:
    stored: bytes
    problem: str | None
    rest: bytes  # what stays for the command loop


def reference(stream: bytes, limits: Limits) -> Outcome | None:
    """A line-by-line reading; None if the stream has no final dot."""
    virtual = b"\r\n" + stream
    end = virtual.find(dataphase.END)
    if end < 0:
        return None
    content, rest = virtual[2 : end + 2], virtual[end + 5 :]
    scanner = limits.scanner()
    stored, size, problem = [], 0, None
    for sent in re.findall(rb".*?\r\n", content, re.DOTALL):
        size += len(sent)
        if limits.size and size > limits.size:
            problem = replies.MESSAGE_TOO_BIG
            break
        line = sent[1:] if sent.startswith(b".") else sent
        if BARE.search(line):
            if not limits.normalize:
                problem = replies.BARE_LF
                break
            line = BARE.sub(b"\r\n", line)
        for piece in line.splitlines(keepends=True):
            scanner.feed(piece)
        if scanner.violation is not None:
            problem = replies.STRUCTURE_LIMITS
            break
        stored.append(line)
    return Outcome(b"".join(stored), problem, rest)


def pieces_read(
    stream: bytes, cuts: list[int], limits: Limits, feed_size: int = dataphase.FEED_SIZE
) -> Outcome | None:
    """Feed ``stream`` in the segments ``cuts`` makes to a real reader; None if it ends first.
    ``feed_size`` 1 checks each piece as it is read (as messages over FEED_SIZE are)."""
    with mock.patch.object(dataphase, "FEED_SIZE", feed_size):
        return asyncio.run(_read(stream, cuts, limits))


async def _read(stream: bytes, cuts: list[int], limits: Limits) -> Outcome | None:
    reader = asyncio.StreamReader(limit=READER_LIMIT)
    stored: list[bytes] = []
    decoder = DataDecoder(
        stored.append, limits.scanner(), size_limit=limits.size, normalize=limits.normalize
    )

    async def client() -> None:
        edges = [0, *sorted(set(cuts)), len(stream)]
        for start, stop in itertools.pairwise(edges):
            if stop > start:
                reader.feed_data(stream[start:stop])
            await asyncio.sleep(0)  # the server reads between segments
        reader.feed_eof()

    sending = asyncio.ensure_future(client())
    try:
        await dataphase.receive(reader, decoder)
    except asyncio.IncompleteReadError:
        return None
    finally:
        await sending
    rest = await reader.read()
    return Outcome(b"".join(stored), decoder.problem, rest)


def agree(stream: bytes, cuts: list[int], limits: Limits, feed_size: int) -> None:
    expected, got = reference(stream, limits), pieces_read(stream, cuts, limits, feed_size)
    if expected is None or got is None:
        assert got == expected
        return
    assert got.rest == expected.rest
    if expected.problem is None:
        assert (got.problem, got.stored) == (None, expected.stored)
    else:
        # A message breaking several limits in one piece may be refused for another of them.
        assert got.problem is not None


TOKENS = [
    b"\r\n",
    b"\r",
    b"\n",
    b".",
    b"..",
    b".\r\n",
    b"\r\n.\r\n",
    b"a",
    b"Subject: hello",
    b" folded",
    b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: message/rfc822",
    b"--b",
    b"--b--",
    b"x" * 700,
    b"y" * 2100,
    b"QUIT\r\n",
]

streams = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=streams,
    ending=st.sampled_from([b"\r\n.\r\n", b".\r\n", b"", b"\r\n.\r\nNOOP\r\n"]),
    data=st.data(),
    normalize=st.booleans(),
    size=st.sampled_from([0, 0, 40, 3000]),
    header_bytes=st.sampled_from([64 * 1024, 100]),
    parts=st.sampled_from([1000, 2]),
    feed_size=st.sampled_from([1, dataphase.FEED_SIZE]),
)
def test_any_stream_in_any_segments_reads_as_line_by_line(
    stream: bytes,
    ending: bytes,
    data: st.DataObject,
    normalize: bool,
    size: int,
    header_bytes: int,
    parts: int,
    feed_size: int,
) -> None:
    stream += ending
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    limits = Limits(size=size, header_bytes=header_bytes, parts=parts, normalize=normalize)
    agree(stream, cuts, limits, feed_size)


@pytest.mark.parametrize(
    ("stream", "stored", "rest"),
    [
        (b".\r\nNOOP\r\n", b"", b"NOOP\r\n"),  # an empty message
        (b"\r\n.\r\n", b"\r\n", b""),  # one empty line
        (b"..\r\n.\r\n", b".\r\n", b""),  # a line holding one dot
        (b"a\r\n.\r\n.\r\n", b"a\r\n", b".\r\n"),  # the first final dot ends it
        (b"a\r\n..b\r\n.\r\nMAIL FROM:<x@y.z>\r\n", b"a\r\n.b\r\n", b"MAIL FROM:<x@y.z>\r\n"),
    ],
)
def test_edges_of_the_end_marker(stream: bytes, stored: bytes, rest: bytes) -> None:
    for cuts in ([], list(range(len(stream)))):  # at once, and one byte at a time
        for feed_size in (1, dataphase.FEED_SIZE):
            assert pieces_read(stream, cuts, Limits(), feed_size) == Outcome(stored, None, rest)


class CountingReader(asyncio.StreamReader):
    """A StreamReader that counts the reads made of it."""

    reads = 0

    async def readexactly(self, n: int) -> bytes:
        self.reads += 1
        return await super().readexactly(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        self.reads += 1
        return await super().readuntil(separator)

    async def read(self, n: int = -1) -> bytes:
        self.reads += 1
        return await super().read(n)


@pytest.mark.parametrize(
    ("start", "problem"), [(b"\r\n", None), (b"\r", replies.BARE_LF), (b"\r\r\n", replies.BARE_LF)]
)
def test_a_megabyte_that_could_each_time_begin_the_end_marker_is_read_in_pieces(
    start: bytes, problem: str | None
) -> None:
    """Empty lines or bare CRs from the first byte on: after each byte, what was read could
    be the CRLF before the final dot. It is read in pieces all the same, not a byte at a time
    (a megabyte of bare CRs would otherwise cost a million reads)."""
    stream = start * ((1 << 20) // len(start)) + b"\r\n.\r\n"

    async def run() -> tuple[int, str | None, bytes]:
        reader = CountingReader(limit=READER_LIMIT)
        reader.feed_data(stream + b"QUIT\r\n")
        decoder = DataDecoder(lambda _: None, Limits().scanner(), size_limit=0, normalize=False)
        await dataphase.receive(reader, decoder)
        return reader.reads, decoder.problem, await reader.readexactly(6)

    reads, got, rest = asyncio.run(run())
    assert (got, rest) == (problem, b"QUIT\r\n")
    assert reads < 2 * len(stream) // READER_LIMIT


def test_a_stream_ending_before_the_final_dot_is_incomplete() -> None:
    assert pieces_read(b"Subject: x\r\n\r\nbody\r\n.", [5], Limits()) is None


def test_a_long_header_line_counts_whole_toward_the_header_limit() -> None:
    """A header line many pieces long is checked in parts; all of it counts."""
    stream = b"X-Long: " + b"h" * (3 * LONG) + b"\r\n\r\nbody\r\n.\r\n"
    cuts = list(range(1500, len(stream), 1500))
    limits = Limits(header_bytes=2 * LONG)
    assert pieces_read(stream, cuts, limits, 1).problem == replies.STRUCTURE_LIMITS
    limits = Limits(header_bytes=4 * LONG)
    assert pieces_read(stream, cuts, limits, 1).problem is None


# The reader hands over a piece when its buffer outgrows its limit and holds no "." CRLF: all
# of the buffer but the last 2 bytes (they might begin one). A segment ending 2 bytes after
# byte i therefore makes a piece ending at byte i. feed_size=1 checks each piece on its own.


def test_a_long_line_is_checked_in_parts_without_splitting_crlf() -> None:
    """A CR at the end of a part of a long line is held back, not taken for a bare CR."""
    line = b"z" * (LONG + 1)
    stream = b"Subject: x\r\n\r\n" + line + b"\r\n" + line + b"\r\n.\r\n"
    first_cr = stream.index(b"z\r\n") + 1
    cuts = [2005, first_cr + 1 + 2]  # a piece ends with that CR, with no CRLF since 2005
    assert pieces_read(stream, cuts, Limits(), 1) == Outcome(stream[:-3], None, b"")


def test_a_dot_inside_a_long_line_is_kept() -> None:
    """Only a dot beginning a line is undone, not one beginning a part of a long line."""
    stream = b"Subject: x\r\n\r\n" + b"a" * 9000 + b".b\r\n.\r\n"
    dot = stream.index(b".b")
    cuts = [2005, dot + 2]  # a piece ends right before the dot, with no CRLF since 2005
    assert pieces_read(stream, cuts, Limits(), 1) == Outcome(stream[:-3], None, b"")


def test_a_boundary_line_cut_between_two_pieces_is_counted() -> None:
    """Each boundary arrives in two pieces, "-" and "-b" CRLF: the unfinished line waits."""
    body = b"x" * 2000 + b"\r\n"
    parts = b"".join(b"--b\r\n\r\n" + body for _ in range(3))
    stream = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n.\r\n"
    cuts = [at + 1 + 2 for at in range(len(stream)) if stream.startswith(b"\r\n--b\r\n", at - 2)]
    assert len(cuts) == 3
    assert pieces_read(stream, cuts, Limits(parts=3), 1).problem is None
    assert pieces_read(stream, cuts, Limits(parts=2), 1).problem == replies.STRUCTURE_LIMITS


def test_boundaries_cut_across_segments_are_counted() -> None:
    parts = b"".join(b"--b\r\n\r\npart\r\n" for _ in range(3))
    stream = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n.\r\n"
    one_byte_at_a_time = list(range(len(stream)))
    assert pieces_read(stream, one_byte_at_a_time, Limits(parts=3), 1).problem is None
    assert pieces_read(stream, one_byte_at_a_time, Limits(parts=2), 1).problem == (
        replies.STRUCTURE_LIMITS
    )
