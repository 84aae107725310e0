"""Counting the commands a client sends to the database (pymongo command monitoring)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import MongoClient, monitoring


class CommandCounter(monitoring.CommandListener):
    """The names of the commands a client sends, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: Any) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@contextmanager
def counted_client(uri: str) -> Iterator[tuple[MongoClient[dict[str, Any]], CommandCounter]]:
    """A client of ``uri`` of its own, closed afterwards, and the counter of what it sends."""
    counter = CommandCounter()
    client: MongoClient[dict[str, Any]] = MongoClient(uri, event_listeners=[counter])
    try:
        yield client, counter
    finally:
        client.close()
