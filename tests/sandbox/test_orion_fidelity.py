"""The sandbox Orion is no kinder than the real one: numbers come back with at most 9 decimals
(measured against Orion 3.10.1), and notifications to STH-Comet can be delivered late."""

from __future__ import annotations

import pytest

from fiware_sandbox import FiwareSandbox
from fiware_sandbox.orion import rendered_numbers
from tests import patient_http

HEADERS = {"Fiware-Service": "smartcity", "Fiware-ServicePath": "/rooms"}
TENANT = ("smartcity", "/rooms")
RAW_PATH = "/STH/v1/contextEntities/type/Room/id/Room1/attributes/temperature"


@pytest.fixture(scope="module")
def sandbox():
    with FiwareSandbox() as served:
        yield served


@pytest.fixture(autouse=True)
def empty(sandbox: FiwareSandbox):
    sandbox.clear()
    yield
    sandbox.orion.delivery_delay_seconds = 0.0
    sandbox.clear()


@pytest.mark.parametrize(
    ("sent", "rendered"),
    [
        (18.75310225657214, 18.753102257),
        (0.1234567890123, 0.123456789),
        (1e-12, 0),
        (123456789012.125, 123456789012.125),
        (-0.0000000004, 0),
        (21, 21),
    ],
)
def test_orion_renders_numbers_with_at_most_9_decimals(
    sandbox: FiwareSandbox, sent: float, rendered: float
) -> None:
    entity = {
        "id": "Room1",
        "type": "Room",
        "temperature": {"type": "Number", "value": sent},
        "series": {"type": "StructuredValue", "value": {"points": [{"value": sent}]}},
    }
    answer = patient_http.post(f"{sandbox.orion_url}/v2/entities", headers=HEADERS, json=entity)
    assert answer.status_code == 201, answer.text
    got = patient_http.get(f"{sandbox.orion_url}/v2/entities/Room1", headers=HEADERS).json()
    assert got["temperature"]["value"] == rendered
    assert got["series"]["value"]["points"][0]["value"] == rendered
    key_values = patient_http.get(
        f"{sandbox.orion_url}/v2/entities/Room1", params={"options": "keyValues"}, headers=HEADERS
    ).json()
    assert key_values["temperature"] == rendered
    text = patient_http.get(
        f"{sandbox.orion_url}/v2/entities/Room1/attrs/temperature/value",
        headers={**HEADERS, "Accept": "text/plain"},
    ).text
    assert float(text) == rendered


def test_rendering_leaves_other_values_alone() -> None:
    value = {"a": [1, "1.123456789123", True, None, float("inf")], "b": 2.5}
    assert rendered_numbers(value) == value


def _subscribe_sth(sandbox: FiwareSandbox) -> None:
    answer = patient_http.post(
        f"{sandbox.orion_url}/v2/subscriptions",
        headers=HEADERS,
        json={
            "subject": {
                "entities": [{"idPattern": ".*", "type": "Room"}],
                "condition": {"attrs": ["temperature"]},
            },
            "notification": {
                "http": {"url": f"{sandbox.sth_url}/notify"},
                "attrs": ["temperature"],
                "attrsFormat": "legacy",
            },
        },
    )
    assert answer.status_code == 201, answer.text


def _sth_values(sandbox: FiwareSandbox) -> list:
    answer = patient_http.get(f"{sandbox.sth_url}{RAW_PATH}?lastN=10", headers=HEADERS)
    return answer.json()["contextResponses"][0]["contextElement"]["attributes"][0]["values"]


def test_delivery_to_sth_can_lag_behind_the_accepted_update(sandbox: FiwareSandbox) -> None:
    sandbox.orion.delivery_delay_seconds = 0.01
    sandbox.orion.hold_deliveries()  # what a lagging delivery looks like, whatever the load
    _subscribe_sth(sandbox)
    for value in (20.5, 21.123456789123):
        answer = patient_http.post(
            f"{sandbox.orion_url}/v2/entities",
            params={"options": "upsert"},
            headers=HEADERS,
            json={"id": "Room1", "type": "Room", "temperature": {"type": "Number", "value": value}},
        )
        assert answer.status_code == 204, answer.text
    # Orion accepted both updates; STH-Comet has not been told yet.
    assert _sth_values(sandbox) == []
    sandbox.orion.hold_deliveries(False)
    assert sandbox.orion.wait_for_deliveries(timeout=60)
    # In order, and with the numbers as Orion renders them.
    assert [v["attrValue"] for v in _sth_values(sandbox)] == [20.5, 21.123456789]
