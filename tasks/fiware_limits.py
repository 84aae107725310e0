"""Prefect global concurrency limits that protect STH-Comet and Orion across runs.

Trainings (history collection) and forecast sweeps running at the same time, in any process on
any host, share the FIWARE services. Two global limits held by the Prefect server bound how many
of them talk to each service at once:

- ``chronos-sth-comet``: one slot per collection chunk or forecast batch reading STH-Comet;
- ``chronos-orion``: one slot per forecast batch publishing to Orion.

A slot is taken per chunk or batch (each reads page after page, one request at a time), never
per request: a slot costs an API round trip. ``chronos serve`` creates the limits from
``CHRONOS_FIWARE_CONCURRENCY_LIMIT`` (and ``CHRONOS_FIWARE_RATE_LIMIT_PER_SECOND``); with
``prefect deploy`` create them once with ``prefect gcl create`` (docs/operations.md). When a
limit does not exist, nothing is asked of the API after one cached look-up per process and
minute, so an installation without limits pays nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Literal

from chronos_core.settings import Settings, get_settings

logger = logging.getLogger(__name__)

Service = Literal["sth-comet", "orion"]
SERVICES: tuple[Service, ...] = ("sth-comet", "orion")
#: How long this process trusts its answer to "does the limit exist?".
LOOKUP_TTL_SECONDS = 60.0


def limit_name(service: Service) -> str:
    return f"chronos-{service}"


def rate_limit_name(service: Service) -> str:
    return f"chronos-{service}-rate"


_known: dict[str, tuple[float, int | None]] = {}
_known_lock = threading.Lock()


def forget_lookups() -> None:
    """Forget the cached "does it exist" answers (after creating or deleting limits)."""
    with _known_lock:
        _known.clear()


def _slots(name: str) -> int | None:
    """The limit's slots if it exists and is active (cached for a minute), else ``None``."""
    now = time.monotonic()
    with _known_lock:
        cached = _known.get(name)
        if cached is not None and now - cached[0] < LOOKUP_TTL_SECONDS:
            return cached[1]
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    slots: int | None
    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
        slots = int(limit.limit) if limit.active and limit.limit > 0 else None
    except ObjectNotFound:
        slots = None
    except Exception as error:  # the API is unreachable: run unthrottled rather than not at all
        logger.warning("cannot read Prefect concurrency limit %s (%s); not throttling", name, error)
        slots = None
    with _known_lock:
        _known[name] = (now, slots)
    return slots


@contextlib.contextmanager
def fiware_slots(services: Iterable[Service], *, requests: int = 1) -> Iterator[None]:
    """Hold one slot of each existing ``chronos-<service>`` limit for the duration of the block
    (one chunk or batch: its requests go one after the other), after taking ``requests`` slots
    of the service's rate limit, if one exists."""
    chosen = list(services)
    existing = [limit_name(s) for s in chosen if _slots(limit_name(s)) is not None]
    if requests > 0:
        from prefect.concurrency.sync import rate_limit

        for service in chosen:
            name = rate_limit_name(service)
            slots = _slots(name)
            if slots is not None:
                rate_limit(name, occupy=min(requests, slots))
    if not existing:
        yield
        return
    from prefect.concurrency.sync import concurrency

    with concurrency(existing, occupy=1):
        yield


def ensure_fiware_limits(settings: Settings | None = None) -> dict[str, int]:
    """Create or update the limits from the settings (what ``chronos serve`` does at start).

    ``CHRONOS_FIWARE_CONCURRENCY_LIMIT`` 0 deactivates the concurrency limits (they are kept,
    inactive, so that a later start can raise them again); the rate limits exist only while
    ``CHRONOS_FIWARE_RATE_LIMIT_PER_SECOND`` is above 0. Returns the active limits by name.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    settings = settings or get_settings()
    wanted: dict[str, tuple[int, float | None, bool]] = {}
    limit = settings.fiware_concurrency_limit
    rate = settings.fiware_rate_limit_per_second
    for service in SERVICES:
        wanted[limit_name(service)] = (max(limit, 1), None, limit > 0)
        # A rate limit: ``rate`` slots that come back at ``rate`` per second.
        wanted[rate_limit_name(service)] = (max(1, round(rate)), rate, rate > 0)
    active: dict[str, int] = {}
    with get_client(sync_client=True) as client:
        for name, (slots, decay, enabled) in wanted.items():
            try:
                client.read_global_concurrency_limit_by_name(name)
                exists = True
            except ObjectNotFound:
                exists = False
            if not enabled:
                if exists and decay is None:
                    client.update_global_concurrency_limit(
                        name, GlobalConcurrencyLimitUpdate(active=False)
                    )
                elif exists:
                    client.delete_global_concurrency_limit_by_name(name)
                continue
            extra = {} if decay is None else {"slot_decay_per_second": decay}
            if exists:
                client.update_global_concurrency_limit(
                    name, GlobalConcurrencyLimitUpdate(limit=slots, active=True, **extra)
                )
            else:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=slots, active=True, **extra)
                )
            active[name] = slots
    forget_lookups()
    return active
