"""A byte-level SMTP client for protocol abuse: smuggling endings, pipelining, trickling."""

from __future__ import annotations

import socket


class RawClient:
    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, str]:
        """One (possibly multi-line) reply: its code and its last line's text."""
        while True:
            while b"\r\n" not in self.buffer:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed by server; buffered {self.buffer!r}")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if line[3:4] != b"-":
                return int(line[:3]), line[4:].decode("utf-8", "replace")

    def command(self, line: bytes) -> tuple[int, str]:
        self.send(line + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        """True when the server has closed the connection (EOF)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, TimeoutError):
            return True
