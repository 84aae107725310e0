"""The FIWARE global concurrency limits against Prefect's test server: created from the settings
(what ``chronos serve`` does), respected across threads, free when absent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chronos_core.settings import Settings
from tasks import fiware_limits
from tasks.fiware_limits import ensure_fiware_limits, fiware_slots
from tests.waiting import wait_for

pytestmark = [pytest.mark.prefect]


def read_limit(name: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None


@pytest.fixture
def no_limits() -> Iterator[None]:
    ensure_fiware_limits(Settings(_env_file=None, fiware_concurrency_limit=0))
    yield
    ensure_fiware_limits(Settings(_env_file=None, fiware_concurrency_limit=0))


def test_limits_are_created_and_respected(no_limits: None) -> None:
    active = ensure_fiware_limits(
        Settings(_env_file=None, fiware_concurrency_limit=2, fiware_rate_limit_per_second=50)
    )
    assert active == {
        "chronos-sth-comet": 2,
        "chronos-orion": 2,
        "chronos-sth-comet-rate": 50,
        "chronos-orion-rate": 50,
    }
    limit = read_limit("chronos-sth-comet")
    assert limit.limit == 2 and limit.active
    assert read_limit("chronos-orion-rate").slot_decay_per_second == 50

    holding = 0
    most = 0
    lock = threading.Lock()

    def batch(_: int) -> None:
        nonlocal holding, most
        with fiware_slots(("sth-comet", "orion"), requests=5):
            with lock:
                holding += 1
                most = max(most, holding)
            # Hold the slot until two batches have held slots at once (never with a limit of 1).
            wait_for(lambda: most >= 2, "two batches holding FIWARE slots at once")
            with lock:
                holding -= 1

    threads = [threading.Thread(target=batch, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert most == 2


def test_without_limits_nothing_is_asked_of_prefect(
    no_limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = read_limit("chronos-sth-comet")
    assert limit is None or not limit.active
    assert read_limit("chronos-sth-comet-rate") is None
    import prefect.concurrency.sync as prefect_concurrency

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no slot may be asked for without a limit")

    monkeypatch.setattr(prefect_concurrency, "concurrency", refuse)
    monkeypatch.setattr(prefect_concurrency, "rate_limit", refuse)
    fiware_limits.forget_lookups()
    for _ in range(3):
        with fiware_slots(("sth-comet", "orion"), requests=3):
            pass
    # One API look-up per name and process per minute, not one per batch.
    import prefect.client.orchestration as prefect_client

    monkeypatch.setattr(prefect_client, "get_client", refuse)
    with fiware_slots(("sth-comet", "orion")):
        pass
