"""A cheap streaming check of a message's structure while it is received.

CPython's email parser takes seconds on 100,000 MIME parts and recurses until it fails on deep
nesting (see ../shared/RELIABILITY.md). The edge therefore rejects such messages before they
are accepted, the way Postfix's ``mime_state`` does: one pass over the lines, a bounded stack of
open multipart boundaries, no parsing of anything else. The worker's parser then only ever
sees messages within ``max_mime_depth`` and ``max_mime_parts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTENT_TYPE = b"content-type:"
MAX_CONTENT_TYPE = 2048  # bytes of one Content-Type header kept for inspection
MAX_BOUNDARY = 200  # RFC 2046 allows 70; be lenient, but bounded


def boundary_of(content_type: bytes) -> bytes | None:
    """The ``boundary`` parameter of a multipart Content-Type value, or None."""
    lower = content_type.lower()
    if b"multipart/" not in lower:
        return None
    at = lower.find(b"boundary=")
    if at < 0:
        return None
    value = content_type[at + len(b"boundary=") :].lstrip()
    if value.startswith(b'"'):
        end = value.find(b'"', 1)
        value = value[1:end] if end > 0 else value[1:]
    else:
        for stop in (b";", b" ", b"\t", b"\r", b"\n"):
            value = value.split(stop, 1)[0]
    return value[:MAX_BOUNDARY] or None


@dataclass
class _Frame:
    boundary: bytes | None  # None: an embedded message/rfc822


@dataclass
class StructureScanner:
    """Feed it the message's lines (dot-unstuffed, with their CRLF) one by one with
    :meth:`feed` or as blocks with :meth:`feed_lines`; read :attr:`violation`."""

    max_header_bytes: int
    max_depth: int
    max_parts: int
    violation: str | None = None
    header_bytes: int = 0
    parts: int = 0
    in_headers: bool = True
    top_level: bool = True
    stack: list[_Frame] = field(default_factory=list)
    content_type: bytes = b""
    in_content_type: bool = False

    def feed(self, line: bytes) -> None:
        if self.violation is not None:
            return
        if self.in_headers:
            self._header_line(line)
        elif self.stack and line.startswith(b"--"):
            self._boundary_line(line.rstrip())

    def feed_lines(self, block: bytes, *, at_line_start: bool = True) -> None:
        """Feed a block of lines at once (bare CR/LF already refused or made CRLF).

        The block's last line may be unfinished, and unless ``at_line_start`` its first continues
        the last one of the previous block. Only header lines and lines beginning with ``--``
        inside a multipart are looked at; the rest of a body is skipped by ``find``.
        """
        pos, size = 0, len(block)
        if not at_line_start:
            pos = block.find(b"\n") + 1 or size
            if self.in_headers and self.violation is None:
                self._header_continued(block[:pos])
        while pos < size and self.violation is None:
            if self.in_headers:
                stop = block.find(b"\n", pos) + 1 or size
                self._header_line(block[pos:stop])
            elif not self.stack:
                return  # a body with no boundary to look for
            else:
                if not block.startswith(b"--", pos):
                    pos = block.find(b"\n--", pos) + 1
                    if not pos:
                        return
                stop = block.find(b"\n", pos) + 1 or size
                self._boundary_line(block[pos:stop].rstrip())
            pos = stop

    def _header_continued(self, part: bytes) -> None:
        """The rest of a header line that was fed unfinished."""
        if self._count_header(part):
            self._more_content_type(part)

    def _header_line(self, line: bytes) -> None:
        if not self._count_header(line):
            return
        if line in (b"\r\n", b"\n"):
            self._end_of_headers()
        elif line[:1] in (b" ", b"\t"):
            self._more_content_type(line)
        else:
            self.in_content_type = line[: len(CONTENT_TYPE)].lower() == CONTENT_TYPE
            if self.in_content_type:
                self.content_type = line[len(CONTENT_TYPE) : MAX_CONTENT_TYPE]

    def _count_header(self, data: bytes) -> bool:
        """Count ``data`` into the message's own header block; False once it is too large."""
        if self.top_level:
            self.header_bytes += len(data)
            if self.header_bytes > self.max_header_bytes:
                self.violation = "header block too large"
                return False
        return True

    def _more_content_type(self, data: bytes) -> None:
        """A Content-Type header continues (kept up to MAX_CONTENT_TYPE)."""
        if self.in_content_type and len(self.content_type) < MAX_CONTENT_TYPE:
            self.content_type += data

    def _end_of_headers(self) -> None:
        content_type, self.content_type, self.in_content_type = self.content_type, b"", False
        self.top_level = False
        self.in_headers = False
        if (boundary := boundary_of(content_type)) is not None:
            self._push(_Frame(boundary))
        elif b"message/rfc822" in content_type.lower():
            self._push(_Frame(None))
            self.in_headers = True  # the embedded message's own header block follows

    def _push(self, frame: _Frame) -> None:
        if len(self.stack) >= self.max_depth:
            self.violation = "MIME nesting too deep"
        else:
            self.stack.append(frame)

    def _boundary_line(self, line: bytes) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            boundary = self.stack[index].boundary
            if boundary is None:
                continue
            if line == b"--" + boundary:
                del self.stack[index + 1 :]
                self.parts += 1
                if self.parts > self.max_parts:
                    self.violation = "too many MIME parts"
                self.in_headers = True
                return
            if line == b"--" + boundary + b"--":
                del self.stack[index:]
                return
