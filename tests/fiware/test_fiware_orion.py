"""OrionClient against the sandbox Orion, including forecasts flowing to the sandbox STH-Comet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fiware_test_data import START, TENANT

from chronos_core.errors import Conflict, InvalidInput, NotFound
from chronos_core.fiware.errors import (
    FiwareConflict,
    FiwareHTTPError,
    FiwareNotFound,
    RequestTarget,
)
from chronos_core.fiware.http import FiwareHTTP
from chronos_core.fiware.ngsi import (
    attribute,
    entity,
    format_datetime,
    relationship_attribute,
    structured_attribute,
    text_attribute,
)
from chronos_core.fiware.orion import OrionClient, build_sth_subscription
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.settings import Settings
from fiware_sandbox import Fault, FiwareSandbox
from tests import patient_http


def room(entity_id: str, temperature: float) -> dict:
    return entity(
        entity_id,
        "Room",
        temperature=attribute("Number", temperature, observed_at=START),
        name=text_attribute(f"Room {entity_id[-1]}"),
    )


def test_entity_lifecycle(sandbox: FiwareSandbox, settings: Settings) -> None:
    with OrionClient(settings=settings) as orion:
        orion.upsert_entity(TENANT, room("Room1", 22.0))
        orion.upsert_entity(
            TENANT, {"id": "Room1", "type": "Room", "humidity": attribute("Number", 40)}
        )
        got = orion.get_entity(TENANT, "Room1", entity_type="Room")
        assert list(got) == ["id", "type", "humidity", "name", "temperature"]
        assert got["temperature"] == {
            "type": "Number",
            "value": 22,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2024-01-01T00:00:00.000Z"}},
        }
        assert orion.get_entity(TENANT, "Room1", key_values=True, attrs=["temperature"]) == {
            "id": "Room1",
            "type": "Room",
            "temperature": 22,
        }
        assert orion.delete_entity(TENANT, "Room1") is True
        assert orion.delete_entity(TENANT, "Room1", missing_ok=True) is False
        with pytest.raises(FiwareNotFound) as missing:
            orion.get_entity(TENANT, "Room1")
    assert isinstance(missing.value, NotFound)
    assert "Orion answered 404 to GET /v2/entities/Room1 (entity 'Room1')" in str(missing.value)


def test_an_orion_422_names_everything(sandbox: FiwareSandbox, settings: Settings) -> None:
    with OrionClient(settings=settings) as orion:
        orion.upsert_entity(TENANT, room("Room1", 21.5))
    with FiwareHTTP("Orion", settings.orion_url) as http, pytest.raises(FiwareConflict) as caught:
        http.request(
            "PATCH",
            "/v2/entities/Room1/attrs",
            tenant=TENANT,
            params=[("type", "Room")],
            json={"co2": attribute("Number", 400)},
            target=RequestTarget("Room1", "Room"),
        )
    error = caught.value
    assert isinstance(error, Conflict)
    assert error.status == 422
    assert (
        error.server_message == "one or more of the attributes in the request do not exist: [ co2 ]"
    )
    assert "entity 'Room1' of type 'Room'" in str(error)


def test_upsert_creates_then_updates(sandbox: FiwareSandbox, settings: Settings) -> None:
    with OrionClient(settings=settings) as orion:
        orion.upsert_entity(TENANT, room("Room1", 20))
        orion.upsert_entity(
            TENANT, {"id": "Room1", "type": "Room", "temperature": attribute("Number", 23.25)}
        )
        got = orion.get_entity(TENANT, "Room1", key_values=True)
    assert got == {"id": "Room1", "type": "Room", "name": "Room 1", "temperature": 23.25}


def test_counts_and_lists_read_every_page(sandbox: FiwareSandbox, settings: Settings) -> None:
    rooms = [room(f"Room{i:03d}", i) for i in range(250)]
    patient_http.post(
        f"{sandbox.orion_url}/v2/op/update",
        headers={"Fiware-Service": TENANT.service, "Fiware-ServicePath": TENANT.servicepath},
        json={"actionType": "append", "entities": rooms},
    ).raise_for_status()
    with OrionClient(settings=settings) as orion:
        assert orion.count_entities(TENANT, entity_type="Room") == 250
        assert orion.count_entities(TENANT, entity_type="Room", q="temperature>=247") == 3
        for i in range(5):
            orion.create_subscription(TENANT, sth_subscription(f"Room{i:03d}", sandbox))
        listed = orion.list_subscriptions(TENANT, page_size=2)
    assert [s["subject"]["entities"][0]["id"] for s in listed] == [f"Room{i:03d}" for i in range(5)]


def sth_subscription(entity_id: str, sandbox: FiwareSandbox) -> dict:
    return build_sth_subscription(
        entity_id=entity_id,
        entity_type="Room",
        attributes=["temperature"],
        notify_url=f"{sandbox.sth_url}/notify",
        description=f"{entity_id} temperature to STH",
    )


def test_subscriptions(sandbox: FiwareSandbox, settings: Settings) -> None:
    with OrionClient(settings=settings) as orion:
        subscription_id = orion.create_subscription(TENANT, sth_subscription("Room1", sandbox))
        assert len(subscription_id) == 24
        (listed,) = orion.list_subscriptions(TENANT)
        assert listed["id"] == subscription_id
        assert listed["notification"]["attrsFormat"] == "legacy"
        assert orion.delete_subscription(TENANT, subscription_id) is True
        assert orion.delete_subscription(TENANT, subscription_id, missing_ok=True) is False
        with pytest.raises(FiwareNotFound, match="subscription"):
            orion.delete_subscription(TENANT, subscription_id)


def test_forecasts_published_to_orion_land_in_sth(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    """The real-stack path: Orion (legacy subscription) -> STH-Comet /notify -> history."""
    issued = [START + timedelta(hours=h) for h in range(3)]
    with OrionClient(settings=settings) as orion, SthCometClient(settings=settings) as sth:
        orion.create_subscription(
            TENANT,
            build_sth_subscription(
                entity_id="Forecast:Room1",
                entity_type="TemperatureForecast",
                attributes=["forecast", "nextValue"],
                notify_url=f"{sandbox.sth_url}/notify",
                description="Chronos forecasts to STH",
            ),
        )
        for hour, moment in enumerate(issued):
            series = [
                {"dateTime": format_datetime(moment + timedelta(hours=k + 1)), "value": 17.5 + k}
                for k in range(24)
            ]
            orion.upsert_entity(
                TENANT,
                entity(
                    "Forecast:Room1",
                    "TemperatureForecast",
                    forecast=structured_attribute(
                        {"issuedAt": format_datetime(moment), "step": "PT1H", "series": series},
                        observed_at=moment,
                    ),
                    nextValue=attribute("Number", 17.5 + hour, observed_at=moment),
                    refRoom=relationship_attribute("Room1"),
                ),
            )
        history = sth.fetch_last_n(TENANT, "TemperatureForecast", "Forecast:Room1", "nextValue", 10)
        raw = sth.raw_history(
            TENANT, "TemperatureForecast", "Forecast:Room1", "forecast", last_n=10, count=True
        )
    assert history.timestamps == issued
    assert history.values == [17.5, 18.5, 19.5]
    assert raw.total == 3
    assert raw.values[-1]["attrType"] == "StructuredValue"
    assert raw.values[-1]["attrValue"]["issuedAt"] == "2024-01-01T02:00:00.000Z"
    assert len(raw.values[-1]["attrValue"]["series"]) == 24


def test_payload_validation_happens_before_sending(settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="does not accept"):
        text_attribute("<b>Room</b>")
    with pytest.raises(InvalidInput, match="JSON cannot carry"):
        attribute("Number", float("nan"))
    with pytest.raises(InvalidInput, match="entity id"):
        entity("Room (1)", "Room")
    with pytest.raises(InvalidInput, match="description"):
        build_sth_subscription(
            entity_id="Room1",
            entity_type="Room",
            attributes=["t"],
            notify_url="http://sth:8666/notify",
            description="bad (desc)",
        )
    assert format_datetime(START + timedelta(microseconds=123_999)) == "2024-01-01T00:00:00.123Z"


def test_get_and_delete_never_carry_a_content_type(settings: Settings) -> None:
    with FiwareHTTP("Orion", settings.orion_url) as http, pytest.raises(ValueError):
        http.request("GET", "/v2/entities", json={"x": 1})


def test_orion_5xx_on_a_create_is_not_retried(sandbox: FiwareSandbox, settings: Settings) -> None:
    """A POST that may have been processed must not be repeated (it could duplicate)."""
    sandbox.orion.inject_faults(Fault.server_error(500), repeat=2)
    with OrionClient(settings=settings) as orion, pytest.raises(FiwareHTTPError) as caught:
        orion.create_subscription(
            TENANT,
            build_sth_subscription(
                entity_id="Room1",
                entity_type="Room",
                attributes=["t"],
                notify_url="http://127.0.0.1:9/notify",
                description="x",
            ),
        )
    assert caught.value.status == 500
    assert sandbox.orion.pending_faults() == 1


def test_orion_4_refuses_legacy_subscriptions(settings: Settings) -> None:
    legacy = build_sth_subscription(
        entity_id="Room1",
        entity_type="Room",
        attributes=["t"],
        notify_url="http://127.0.0.1:9/notify",
        description="x",
    )
    with (
        FiwareSandbox(sth_port=None, iot_agent_port=None, orion_version="4.1.0") as orion4,
        OrionClient(orion4.orion_url, settings=settings) as orion,
        pytest.raises(FiwareHTTPError, match="invalid attrsFormat") as caught,
    ):
        orion.create_subscription(TENANT, legacy)
    assert caught.value.status == 400
