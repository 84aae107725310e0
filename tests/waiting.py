"""Waiting on a condition in tests: poll it until it holds, within a generous bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Upper bound of a wait (a loaded 2-core machine starts TensorFlow and Prefect slowly).
BOUND_SECONDS = 300.0

#: Timeout of an HTTP request that should be answered (httpx's default, 5 s, is not generous).
ANSWER_SECONDS = 60.0


def wait_for(condition: Callable[[], T], what: str, bound: float = BOUND_SECONDS) -> T:
    """``condition()``'s first truthy value; fails naming ``what`` after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {bound:.0f} s waiting for {what}")
        time.sleep(0.1)
