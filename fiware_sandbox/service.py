"""The common shape of an emulated FIWARE service: a request handler with faults and a lock."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

import httpx

from fiware_sandbox.faults import Fault, FaultInjector
from fiware_sandbox.wire import action_of, set_action


class EmulatedService(ABC):
    """In-memory emulation of one service. ``handle`` is thread-safe."""

    #: Human name, e.g. "STH-Comet".
    name: str = "service"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._faults = FaultInjector()
        #: The TCP port the service is served on (set by the server; None in-process).
        self.bound_port: int | None = None

    # ----------------------------------------------------------------- faults

    def inject_faults(
        self,
        *faults: Fault,
        repeat: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Queue faults for the next matching requests (one fault per request, in order)."""
        self._faults.inject(*faults, repeat=repeat, method=method, path_contains=path_contains)

    def clear_faults(self) -> None:
        self._faults.clear()

    def pending_faults(self) -> int:
        return self._faults.pending()

    # ----------------------------------------------------------------- handling

    def handle(self, request: httpx.Request) -> httpx.Response:
        fault = self._faults.take(request)
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.seconds)
            elif fault.kind in ("truncate", "apply_then_drop"):
                response = self._dispatch(request, None)
                set_action(response, "truncate" if fault.kind == "truncate" else "drop")
                return response
            elif fault.kind != "short_page":
                return fault.response()
        return self._dispatch(request, fault)

    @abstractmethod
    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        """Answer one request; ``fault`` is a service-specific fault (e.g. a short page)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget all stored state (faults included)."""

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that calls this service in-process, without sockets.

        Misbehaviours map to the errors httpx raises against a real socket: a hang is a
        ``ReadTimeout``, a dropped or truncated answer a ``RemoteProtocolError``.
        """
        return httpx.MockTransport(self._answer_in_process)

    def _answer_in_process(self, request: httpx.Request) -> httpx.Response:
        response = self.handle(request)
        action = action_of(response)
        if action == "hang":
            raise httpx.ReadTimeout("the service never answered", request=request)
        if action == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if action == "truncate":
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        return response
