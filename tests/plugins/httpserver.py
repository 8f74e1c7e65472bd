"""A real HTTP server on 127.0.0.1 for plugin tests: it records every request and answers
from a script (``503`` twice, then ``200``), can be slow, and can be stopped and started
again on the same port, which to a client is an endpoint down for a while.

    with HttpServer() as server:
        server.script(Reply(503), Reply(503, {"Retry-After": "120"}))  # then the default, 200
        server.script(Reply(410), path="/gone")  # the next request to /gone only
        ...
        server.stop()   # connection refused from now on
        server.start()  # the same port again
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One answer: a status, headers, a body, and how long to wait before sending it."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds; cut short when the server stops


@dataclass(frozen=True)
class Request:
    """A request the server received, and the status it answered."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class HttpServer:
    """A threaded HTTP/1.0 server on 127.0.0.1; every request gets the next :class:`Reply`
    scripted for its path, else the next scripted for any path, else ``default``."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.port = 0  # chosen by the first start, kept by later ones
        self._lock = threading.Lock()
        self._scripts: dict[str | None, list[Reply]] = {}
        self._requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- running --------------------------------------------------------------------------------

    def start(self) -> HttpServer:
        """Listen (again) on the same port."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        if self._server is None:
            return
        self._stopping.set()  # slow replies give up waiting
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- scripting and inspecting --------------------------------------------------------------

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *replies: Reply, path: str | None = None) -> None:
        """Answer the next requests (to ``path`` only, if given) with ``replies``, in order."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def delivered(self) -> list[Request]:
        """The requests answered with a 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]

    def _next(self, path: str) -> Reply:
        with self._lock:
            for key in (path, None):
                if script := self._scripts.get(key):
                    return script.pop(0)
            return self.default

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = server._next(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(Request("POST", self.path, headers, body, reply.status))
                if reply.delay and server._stopping.wait(reply.delay):
                    return  # stopped while pretending to be slow
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (a timeout test): nothing to answer

            do_GET = do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
