"""What one process shares between its runs: the settings, the database and FIWARE clients, the
loaded models, the history-subscription memo, the STH-Comet connection pool and what a training
step keeps in memory for the next one.

:func:`current` builds the :class:`Runtime` on first use and again in a forked child (sockets,
locks and pymongo clients must not cross a fork; the child keeps only the settings, which are
plain values). The modules that use a part keep their accessors (``get_settings``,
``storage.database.client_for``, ``forecasting.clients.orion_client``,
``forecasting.model_cache.default_model_cache``, ...).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chronos_core.settings import Settings


@dataclass(eq=False)
class Runtime:
    settings: Settings | None = None
    pid: int = field(default_factory=os.getpid)
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: pymongo clients and their contact listeners by URI; bootstrapped (URI, database) pairs;
    #: embedded-server URIs by (data dir, port).
    database_clients: dict[str, Any] = field(default_factory=dict)
    database_contacts: dict[str, Any] = field(default_factory=dict)
    bootstrapped: set[tuple[str, str]] = field(default_factory=set)
    embedded_uris: dict[tuple[str, int], str] = field(default_factory=dict)
    #: httpx-based FIWARE clients by kind, URL and connection settings.
    fiware_clients: dict[tuple[object, ...], Any] = field(default_factory=dict)
    model_cache: Any = None
    subscription_memo: Any = None
    sth_pool: Any = None
    #: Objects a training step leaves for a later step of the same job (``JobWorkspace.keep``).
    kept: dict[tuple[object, str], Any] = field(default_factory=dict)

    def part(self, name: str, build: Any) -> Any:
        """The part ``name``, built by ``build()`` on first use."""
        part = getattr(self, name)
        if part is not None:
            return part
        with self.lock:
            if getattr(self, name) is None:
                setattr(self, name, build())
            return getattr(self, name)

    def close_database_clients(self) -> None:
        with self.lock:
            clients = list(self.database_clients.values())
            for state in (self.database_clients, self.database_contacts, self.embedded_uris):
                state.clear()
            self.bootstrapped.clear()
        for client in clients:
            client.close()

    def close_fiware_clients(self) -> None:
        with self.lock:
            clients = list(self.fiware_clients.values())
            self.fiware_clients.clear()
        for client in clients:
            client.close()


_current: Runtime | None = None
_lock = threading.Lock()


def current() -> Runtime:
    """This process's runtime (a new one after a fork)."""
    global _current
    runtime = _current
    if runtime is not None and runtime.pid == os.getpid():
        return runtime
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = Runtime(settings=_current.settings if _current else None)
        return _current
