"""The per-process memory of forecast history subscriptions: independent of the host's uptime,
and never the cause of a second subscription when Orion's answer to a create was lost."""

from __future__ import annotations

from typing import Any

import pytest
from forecast_test_data import TENANT

from chronos_core.fiware.errors import FiwareError
from chronos_core.fiware.orion import OrionClient
from chronos_core.forecasting.publication import (
    SUBSCRIPTION_RECHECK_SECONDS,
    _SubscriptionMemo,
)
from chronos_core.settings import Settings
from fiware_sandbox import Fault

ENTITY = "urn:ngsi-ld:Forecast:Room:Room1:temperature"
NOTIFY = "http://sth.example:8666/notify"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _ensure(memo: _SubscriptionMemo, orion: OrionClient, entity_id: str = ENTITY) -> bool:
    return memo.ensure(
        orion,
        TENANT,
        orion_url="http://orion.example:1026",
        notify_url=NOTIFY,
        entity_id=entity_id,
        entity_type="Forecast",
        attributes=["forecastSeries", "temperature"],
    )


class CountingOrion(OrionClient):
    lists = 0

    def list_subscriptions(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self.lists += 1
        return super().list_subscriptions(*args, **kwargs)


@pytest.fixture
def orion(sandbox: Any, fsettings: Settings) -> Any:
    client = CountingOrion(settings=fsettings, retries=0)
    yield client
    client.close()


@pytest.mark.parametrize("boot_seconds", [0.0, 1.5, 599.0])
def test_a_freshly_booted_host_lists_once_and_remembers(
    sandbox: Any, orion: Any, boot_seconds: float
) -> None:
    """``time.monotonic()`` counts from boot: small values must not read as "never listed"."""
    clock = Clock(boot_seconds)
    memo = _SubscriptionMemo(clock=clock)
    assert _ensure(memo, orion) is True
    assert orion.lists == 1
    for _ in range(3):
        clock.now += 1.0
        assert _ensure(memo, orion) is False
    assert orion.lists == 1
    assert len(sandbox.orion.subscription_ids("smart")) == 1

    clock.now += SUBSCRIPTION_RECHECK_SECONDS + 1
    assert _ensure(memo, orion) is False  # listed again, found, not created again
    assert orion.lists == 2
    assert len(sandbox.orion.subscription_ids("smart")) == 1


def test_a_create_whose_answer_was_lost_is_not_repeated(sandbox: Any, orion: Any) -> None:
    memo = _SubscriptionMemo(clock=Clock(10.0))
    # Orion applies the POST, then the connection drops before the answer.
    sandbox.orion.inject_faults(Fault.apply_then_drop(), method="POST", path_contains="/v2/sub")
    with pytest.raises(FiwareError):
        _ensure(memo, orion)
    assert len(sandbox.orion.subscription_ids("smart")) == 1
    # The retry lists first and finds the subscription the lost answer was about.
    assert _ensure(memo, orion) is False
    assert len(sandbox.orion.subscription_ids("smart")) == 1
    assert orion.lists == 2


def test_a_create_answered_5xx_lists_again_before_the_next_attempt(
    sandbox: Any, orion: Any
) -> None:
    memo = _SubscriptionMemo(clock=Clock(10.0))
    sandbox.orion.inject_faults(Fault.server_error(500), method="POST", path_contains="/v2/sub")
    with pytest.raises(FiwareError):
        _ensure(memo, orion)
    assert _ensure(memo, orion) is True
    assert orion.lists == 2
    assert len(sandbox.orion.subscription_ids("smart")) == 1
