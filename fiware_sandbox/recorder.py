"""A notification receiver that records what it gets and answers 200 with an empty body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fiware_sandbox.faults import Fault
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import Headers, WireRequest, WireResponse, parse_json


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return parse_json(self.body)


class NotificationRecorder(EmulatedService):
    """Register it on the sandbox Orion (``register_receiver``) to see raw notifications."""

    name = "notification recorder"

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.requests: list[RecordedRequest] = []

    def _dispatch(self, request: WireRequest, fault: Fault | None) -> WireResponse:
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, request.target, request.headers, request.body)
            )
        return WireResponse(self.status)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
        self.clear_faults()
