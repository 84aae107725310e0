"""The common shape of an emulated FIWARE service: a request handler with faults and a lock."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

import httpx

from fiware_sandbox.faults import Fault, FaultInjector
from fiware_sandbox.wire import WireRequest, WireResponse


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

    def handle(self, request: WireRequest) -> WireResponse:
        fault = self._faults.take(request)
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.seconds)
            elif fault.kind in ("truncate", "apply_then_drop"):
                response = self._dispatch(request, None)
                response.action = "truncate" if fault.kind == "truncate" else "drop"
                return response
            elif fault.kind != "short_page":
                return fault.response()
        return self._dispatch(request, fault)

    @abstractmethod
    def _dispatch(self, request: WireRequest, fault: Fault | None) -> WireResponse:
        """Answer one request; ``fault`` is a service-specific fault (e.g. a short page)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget all stored state (faults included)."""

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that calls this service in-process, without sockets."""
        from fiware_sandbox.transport import InProcessTransport

        return InProcessTransport(self)
