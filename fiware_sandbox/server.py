"""A small threaded HTTP/1.1 server that exposes one emulated service on a TCP port.

It writes exactly the status, headers and body bytes the service produced (plus ``Date`` and
``Content-Length``), keeps connections alive, and can emulate a server that never answers.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import action_of, hang_seconds_of, make_request, respond

logger = logging.getLogger("chronos.sandbox")

_NO_BODY_STATUSES = {204, 304}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chronos-sandbox"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _ServiceHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.server.service.name, format % args)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65_537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65_537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        body = self._read_body()
        headers = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in ("host", "content-length", "transfer-encoding")
        ]
        request = make_request(self.command, self.path, headers, body)
        try:
            response = self.server.service.handle(request)
        except Exception:
            logger.exception(
                "%s failed on %s %s", self.server.service.name, self.command, self.path
            )
            response = respond(500, [("Content-Type", "text/plain")], b"sandbox error")
        self._write(response)

    def _write(self, response: httpx.Response) -> None:
        action = action_of(response)
        if action == "hang":
            self.server.stopping.wait(hang_seconds_of(response))
            self.close_connection = True
            return
        if action == "drop":
            self.close_connection = True
            return
        try:
            reason = HTTPStatus(response.status_code).phrase
        except ValueError:
            reason = ""
        status = response.status_code
        self.send_response_only(status, reason)
        self.send_header("Date", self.date_time_string())
        for name, value in response.headers.raw:
            self.send_header(name.decode("latin-1"), value.decode("latin-1"))
        body = response.content
        if status not in _NO_BODY_STATUSES:
            self.send_header("Content-Length", str(len(body)))
        if self.command == "HEAD" or status in _NO_BODY_STATUSES:
            body = b""
        elif action == "truncate":
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(self._head_bytes() + body)
        self.wfile.flush()

    def _head_bytes(self) -> bytes:
        """The buffered status line and headers, so head and body go out in one write."""
        buffered: list[bytes] = getattr(self, "_headers_buffer", [])
        head = b"".join(buffered) + b"\r\n"
        self._headers_buffer: list[bytes] = []
        return head

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _ServiceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], service: EmulatedService) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.service = service
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ServiceServer:
    """Serves ``service`` on ``host:port`` (0: a free port) in a background thread."""

    def __init__(self, service: EmulatedService, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self._httpd = _ServiceHTTPServer((host, port), service)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        service.bound_port = self.port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.service.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()
