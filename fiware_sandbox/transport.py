"""An httpx transport that sends requests straight to an emulated service, in-process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from fiware_sandbox.wire import WireRequest

if TYPE_CHECKING:
    from fiware_sandbox.service import EmulatedService


class InProcessTransport(httpx.BaseTransport):
    """Use with ``httpx.Client(transport=service.transport())`` or a Chronos FIWARE client.

    Misbehaviours map to the errors httpx raises against a real socket: a hang is a
    ``ReadTimeout``, a dropped or truncated answer a ``RemoteProtocolError``.
    """

    def __init__(self, service: EmulatedService) -> None:
        self._service = service

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        headers = [(k, v) for k, v in headers if k.lower() not in ("host", "content-length")]
        wire = WireRequest(
            request.method,
            request.url.raw_path.decode("ascii"),
            headers,
            request.read(),
        )
        response = self._service.handle(wire)
        if response.action == "hang":
            raise httpx.ReadTimeout("the service never answered", request=request)
        if response.action == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if response.action == "truncate":
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        return httpx.Response(response.status, headers=response.headers, content=response.body)
