"""The NGSI-LD clients (Orion-LD and the temporal API) against the sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chronos_core.errors import InvalidInput
from chronos_core.fiware.errors import (
    FiwareHTTPError,
    FiwareNotFound,
    FiwareTimeout,
    FiwareUnavailable,
    is_transient_error,
)
from chronos_core.fiware.ngsi_ld_temporal import NgsiLdTemporalClient, TemporalApiUnavailable
from chronos_core.fiware.orion_ld import OrionLdClient
from chronos_core.settings import Settings
from fiware_sandbox import Fault, FiwareSandbox
from fiware_sandbox.wire import to_epoch_ms

CONTEXT = "http://127.0.0.1:9941/ctx/chronos.jsonld"
TERMS = {"@context": {"Room": "https://chronos.example.org/ngsi-ld/Room"}}
ROOM = "urn:ngsi-ld:Room:Room1"
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def served() -> Iterator[FiwareSandbox]:
    ports = {"sth_port": None, "orion_port": None, "iot_agent_port": None}
    with FiwareSandbox(**ports, orion_ld_port=0, temporal_port=0, temporal_max_instances=7) as box:
        yield box


@pytest.fixture
def sandbox(served: FiwareSandbox) -> Iterator[FiwareSandbox]:
    served.clear()
    served.orion_ld.register_context(CONTEXT, TERMS)
    yield served
    served.clear()


@pytest.fixture
def settings(sandbox: FiwareSandbox) -> Settings:
    return Settings(
        orion_ld_url=sandbox.orion_ld_url,
        ngsi_ld_temporal_url=sandbox.temporal_url,
        ngsi_ld_context_url=CONTEXT,
        http_timeout_seconds=1.0,
        http_retries=2,
        http_backoff_seconds=0.0,
    )


def room(value: float, observed: str = "2024-01-01T00:00:00.000Z") -> dict:
    return {
        "id": ROOM,
        "type": "Room",
        "temperature": {"type": "Property", "value": value, "observedAt": observed},
        "humidity": {"type": "Property", "value": 40},
    }


@pytest.mark.parametrize("in_body", [False, True])
def test_upsert_get_and_context_modes(settings: Settings, sandbox: FiwareSandbox, in_body) -> None:
    with OrionLdClient(settings=settings, context_in_body=in_body) as client:
        assert client.upsert_entity("smartcity", room(21.5)) is True
        entity = client.get_entity("smartcity", ROOM)
        assert entity["type"] == "Room"  # compacted with the context sent
        assert entity["temperature"]["value"] == 21.5
        assert client.get_entity("smartcity", ROOM, representation="keyValues")["humidity"] == 40
    stored = sandbox.orion_ld.entity("smartcity", ROOM)
    assert stored is not None and stored["type"] == "https://chronos.example.org/ngsi-ld/Room"


def test_upsert_replaces_and_merge_keeps(settings: Settings) -> None:
    with OrionLdClient(settings=settings) as client:
        assert client.upsert_entity("smartcity", room(20)) is True
        replacement = {"id": ROOM, "type": "Room", "temperature": {"type": "Property", "value": 1}}
        assert client.upsert_entity("smartcity", replacement) is False
        assert "humidity" not in client.get_entity("smartcity", ROOM)  # replaced
        extra = {"id": ROOM, "type": "Room", "humidity": {"type": "Property", "value": 50}}
        client.upsert_entity("smartcity", extra, merge=True)
        entity = client.get_entity("smartcity", ROOM, representation="keyValues")
        assert (entity["temperature"], entity["humidity"]) == (1, 50)


def test_an_unknown_entity_is_not_found(settings: Settings) -> None:
    with OrionLdClient(settings=settings) as client:
        client.upsert_entity("smartcity", room(20))
        with pytest.raises(FiwareNotFound, match="Entity Not Found") as raised:
            client.get_entity("smartcity", "urn:ngsi-ld:Room:Nowhere")
        assert raised.value.server_error == "ResourceNotFound"


def test_subscriptions(settings: Settings) -> None:
    with OrionLdClient(settings=settings) as client:
        client.upsert_entity("smartcity", room(20))
        subscription_id = client.create_subscription(
            "smartcity",
            {
                "entities": [{"type": "Room"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
            },
        )
        assert subscription_id.startswith("urn:ngsi-ld:subscription:")
        (listed,) = client.list_subscriptions("smartcity")
        assert (listed["id"], listed["status"]) == (subscription_id, "active")
        assert client.delete_subscription("smartcity", subscription_id) is True
        assert client.delete_subscription("smartcity", subscription_id, missing_ok=True) is False


def test_tenant_and_id_errors(settings: Settings) -> None:
    with OrionLdClient(settings=settings) as client:
        with pytest.raises(FiwareNotFound, match="No such tenant") as raised:
            client.get_entity("nosuchtenant", ROOM)
        assert raised.value.server_error == "NonExistingTenant"
        with pytest.raises(InvalidInput, match="not a URI"):
            client.get_entity("smartcity", "Room1")
        with pytest.raises(InvalidInput, match="NGSI-LD tenant"):
            client.get_entity("bad tenant", ROOM)


def test_context_that_cannot_be_downloaded_is_unavailable(settings: Settings) -> None:
    client = OrionLdClient(settings=settings, context="http://127.0.0.1:9/ctx.jsonld")
    with client, pytest.raises(FiwareUnavailable, match="Unable to download context") as raised:
        client.get_entity(None, ROOM)
    assert raised.value.last_status == 503 and raised.value.attempts == 3
    assert is_transient_error(raised.value)


def test_server_errors_are_retried_and_timeouts_reported(
    settings: Settings, sandbox: FiwareSandbox
) -> None:
    with OrionLdClient(settings=settings) as client:
        client.upsert_entity("smartcity", room(1))
        sandbox.orion_ld.inject_faults(Fault.server_error(500), repeat=2)
        assert client.get_entity("smartcity", ROOM)["id"] == ROOM
        sandbox.orion_ld.inject_faults(Fault.server_error(500), repeat=3)
        with pytest.raises(FiwareUnavailable) as raised:
            client.get_entity("smartcity", ROOM)
        assert raised.value.last_status == 500
        sandbox.orion_ld.inject_faults(Fault.hang(3.0), repeat=3)
        with pytest.raises(FiwareTimeout):
            client.get_entity("smartcity", ROOM)


def test_orion_ld_temporal_501_names_the_setting(settings: Settings) -> None:
    on_broker = settings.model_copy(update={"ngsi_ld_temporal_url": None})
    client = NgsiLdTemporalClient(settings=on_broker)
    with client, pytest.raises(TemporalApiUnavailable, match="NGSI_LD_TEMPORAL_URL") as raised:
        client.fetch_last_n("smartcity", "Room", ROOM, "temperature", 3)
    assert raised.value.status == 501
    assert isinstance(raised.value, FiwareHTTPError) and not is_transient_error(raised.value)
    assert "please use Mintaka" in str(raised.value)


def seed(sandbox: FiwareSandbox, count: int) -> list[tuple[datetime, float]]:
    points = [(START + timedelta(minutes=15 * i), 10 + i * 0.5) for i in range(count)]
    sandbox.orion_ld.seed_history(
        "smartcity",
        "Room",
        ROOM,
        "temperature",
        [(to_epoch_ms(t), v) for t, v in points],
        context=CONTEXT,
    )
    return points


def test_temporal_reads_follow_206_pages(settings: Settings, sandbox: FiwareSandbox) -> None:
    points = seed(sandbox, 30)  # the sandbox answers at most 7 instances at a time
    with NgsiLdTemporalClient(settings=settings, page_size=10) as client:
        last = client.fetch_last_n("smartcity", "Room", ROOM, "temperature", 17)
        assert [(o.timestamp, o.value) for o in last] == points[-17:]
        assert client.count("smartcity", "Room", ROOM, "temperature") == 30
        page = client.fetch_page("smartcity", "Room", ROOM, "temperature", 12, 10)
        assert page.received == 10
        assert [(o.timestamp, o.value) for o in page.series] == points[12:22]
        tail = client.fetch_page("smartcity", "Room", ROOM, "temperature", 25, 10)
        assert tail.received == 5
        window = client.fetch_range(
            "smartcity", "Room", ROOM, "temperature", points[3][0], points[20][0]
        )
        assert [(o.timestamp, o.value) for o in window] == points[3:21]
    # The current value was seeded too: the broker holds the newest point.
    with OrionLdClient(settings=settings) as broker:
        assert broker.get_entity("smartcity", ROOM)["temperature"]["value"] == points[-1][1]
