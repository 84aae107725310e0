"""One-off HTTP calls for tests, with a timeout that a busy machine does not reach.

httpx's own default (5 s) fails a test when a loaded 2-core machine holds a local answer that
long. A test that expects a timeout passes its own, short one to httpx instead.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.waiting import ANSWER_SECONDS


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, timeout=ANSWER_SECONDS, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs: Any) -> httpx.Response:
    return request("PATCH", url, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return request("DELETE", url, **kwargs)
