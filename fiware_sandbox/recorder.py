"""A notification receiver that records what it gets and answers 200 with an empty body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from fiware_sandbox.faults import Fault
from fiware_sandbox.service import EmulatedService
from fiware_sandbox.wire import parse_json, respond, target_of


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    target: str
    headers: httpx.Headers
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

    def _dispatch(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method, target_of(request), request.headers, request.content
                )
            )
        return respond(self.status)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
        self.clear_faults()
