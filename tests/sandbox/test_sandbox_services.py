"""The sandbox beyond the recordings: seeding, notifications between services, faults, encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from chronos_core.errors import InvalidInput
from fiware_sandbox import Fault, FiwareSandbox, NotificationRecorder, ServiceServer
from fiware_sandbox.wire import encode_json, js_number
from tests import patient_http

TENANT = ("smartcity", "/rooms")
HEADERS = {"Fiware-Service": "smartcity", "Fiware-ServicePath": "/rooms"}
START = datetime(2024, 1, 1, tzinfo=UTC)
RAW_PATH = "/STH/v1/contextEntities/type/Room/id/Room1/attributes/temperature"


@pytest.fixture(scope="module")
def sandbox():
    with FiwareSandbox() as served:
        yield served


@pytest.fixture(autouse=True)
def empty(sandbox: FiwareSandbox):
    sandbox.clear()
    yield
    sandbox.clear()


def sth_values(sandbox: FiwareSandbox, query: str, path: str = RAW_PATH) -> list:
    answer = patient_http.get(f"{sandbox.sth_url}{path}?{query}", headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return answer.json()["contextResponses"][0]["contextElement"]["attributes"][0]["values"]


# --------------------------------------------------------------------------- seeding


def test_seed_from_a_pandas_series(sandbox: FiwareSandbox) -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="15min")  # naive: UTC
    stored = sandbox.sth.seed(
        TENANT, "Room", "Room1", "temperature", pd.Series([1.0, 2, 3, None, 5], index=index)
    )
    assert stored == 4  # the NaN is not stored
    values = sth_values(sandbox, "lastN=10")
    assert [v["attrValue"] for v in values] == [1, 2, 3, 5]
    assert values[0]["recvTime"] == "2024-01-01T00:00:00.000Z"
    assert sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", [(index[0], 1.0)]) == 0


def test_seed_keeps_json_types_and_takes_large_series(sandbox: FiwareSandbox) -> None:
    sandbox.sth.seed(
        TENANT, "Room", "Room2", "humidity", [(START, "40.0"), ("2024-01-01T00:15:00Z", "")]
    )
    raw = [p[1] for p in sandbox.sth.points(TENANT, "Room", "Room2", "humidity")]
    assert raw == ["40.0", ""]
    points = [(START + timedelta(seconds=i), float(i)) for i in range(200_000)]
    assert sandbox.sth.seed(TENANT, "Room", "Big", "temperature", points) == 200_000
    assert sandbox.sth.count(TENANT, "Room", "Big", "temperature") == 200_000


def test_seed_from_csv(sandbox: FiwareSandbox, tmp_path: Path) -> None:
    csv = tmp_path / "room.csv"
    csv.write_text("time,temp,note\n2024-01-01T00:00:00Z,21.5,a\n2024-01-01T00:15:00,22,b\n,,\n")
    assert (
        sandbox.sth.seed_from_csv(csv, TENANT, "Room", "Room1", "temperature", "time", "temp") == 2
    )
    assert [v["attrValue"] for v in sth_values(sandbox, "lastN=5")] == [21.5, 22]
    with pytest.raises(InvalidInput, match="no column 'value'"):
        sandbox.sth.seed_from_csv(csv, TENANT, "Room", "Room1", "temperature", "time")
    with pytest.raises(InvalidInput, match="does not exist"):
        sandbox.sth.seed_from_csv(tmp_path / "nope.csv", TENANT, "Room", "Room1", "t")
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\nyesterday,1\n")
    with pytest.raises(InvalidInput, match="not an ISO-8601 timestamp"):
        sandbox.sth.seed_from_csv(bad, TENANT, "Room", "Room1", "temperature")


def test_aggregates_of_seeded_data(sandbox: FiwareSandbox) -> None:
    sandbox.sth.seed(
        TENANT,
        "Room",
        "Room1",
        "temperature",
        [(START + timedelta(minutes=15 * i), 10 + i) for i in range(8)],
    )
    docs = sth_values(sandbox, "aggrMethod=sum,max&aggrPeriod=hour")
    assert docs == [
        {
            "_id": {
                "attrName": "temperature",
                "origin": "2024-01-01T00:00:00.000Z",
                "resolution": "hour",
            },
            "points": [
                {"offset": 0, "samples": 4, "max": 13, "sum": 46},
                {"offset": 1, "samples": 4, "max": 17, "sum": 62},
            ],
        }
    ]


# --------------------------------------------------------------------------- Orion -> STH


def subscribe(sandbox: FiwareSandbox, url: str, attrs_format: str, **extra) -> str:
    answer = patient_http.post(
        f"{sandbox.orion_url}/v2/subscriptions",
        headers=HEADERS,
        json={
            "subject": {
                "entities": [{"idPattern": ".*", "type": "Room"}],
                "condition": {"attrs": ["temperature"]},
            },
            "notification": {
                "http": {"url": url},
                "attrs": ["temperature"],
                "attrsFormat": attrs_format,
            },
            **extra,
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.headers["location"].rsplit("/", 1)[-1]


def set_temperature(sandbox: FiwareSandbox, value: float, minute: int) -> None:
    stamp = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    answer = patient_http.post(
        f"{sandbox.orion_url}/v2/entities",
        params={"options": "upsert"},
        headers=HEADERS,
        json={
            "id": "Room1",
            "type": "Room",
            "temperature": {
                "type": "Number",
                "value": value,
                "metadata": {"TimeInstant": {"type": "DateTime", "value": stamp}},
            },
        },
    )
    assert answer.status_code == 204, answer.text


def subscription(sandbox: FiwareSandbox, sub_id: str) -> dict:
    return patient_http.get(
        f"{sandbox.orion_url}/v2/subscriptions/{sub_id}", headers=HEADERS
    ).json()


def test_legacy_subscription_feeds_sth(sandbox: FiwareSandbox) -> None:
    sub_id = subscribe(sandbox, f"{sandbox.sth_url}/notify", "legacy")
    for minute, value in enumerate([20, 20.5, 20.5, 21]):
        set_temperature(sandbox, value, minute * 15)
    set_temperature(sandbox, 21, 45)  # no change: Orion does not notify
    values = sth_values(sandbox, "lastN=10")
    assert [(v["recvTime"][11:16], v["attrValue"]) for v in values] == [
        ("00:00", 20),
        ("00:15", 20.5),
        ("00:30", 20.5),
        ("00:45", 21),
    ]
    assert subscription(sandbox, sub_id)["notification"]["timesSent"] == 4


def test_normalized_subscription_to_sth_fails_like_the_real_one(sandbox: FiwareSandbox) -> None:
    sub_id = subscribe(sandbox, f"http://localhost:{sandbox.sth.bound_port}/notify", "normalized")
    set_temperature(sandbox, 20, 0)
    assert sth_values(sandbox, "lastN=10") == []
    notification = subscription(sandbox, sub_id)["notification"]
    assert notification["lastFailureReason"] == "Timeout was reached"
    assert "lastSuccess" not in notification


def test_notifications_to_other_urls_go_over_http(sandbox: FiwareSandbox) -> None:
    receiver = NotificationRecorder()
    server = ServiceServer(receiver)
    server.start()
    try:
        delivered = subscribe(sandbox, f"{server.url}/hook?x=1", "keyValues", throttling=3600)
        unreachable = subscribe(sandbox, "http://127.0.0.1:9/notify", "normalized")
        set_temperature(sandbox, 20, 0)
        set_temperature(sandbox, 21, 15)  # throttled for the first subscription
    finally:
        server.stop()
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    assert sent.target == "/hook?x=1"
    assert sent.headers.get("Ngsiv2-AttrsFormat") == "keyValues"
    assert (sent.headers.get("Fiware-Correlator") or "").endswith("; cbnotif=1")
    assert sent.json() == {
        "subscriptionId": delivered,
        "data": [{"id": "Room1", "type": "Room", "temperature": 20}],
    }
    assert subscription(sandbox, delivered)["notification"]["lastSuccessCode"] == 200
    failed = subscription(sandbox, unreachable)["notification"]
    assert failed["lastFailureReason"] == "Couldn't connect to server"
    assert failed["timesSent"] == 2


def test_ngsiv2_notification_to_sth_is_never_answered(sandbox: FiwareSandbox) -> None:
    body = {"subscriptionId": "x", "data": [{"id": "Room1", "type": "Room"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sandbox.sth_url}/notify", headers=HEADERS, json=body, timeout=0.3)
    assert sth_values(sandbox, "lastN=10") == []


# --------------------------------------------------------------------------- faults


def test_faults_match_method_and_path_and_are_consumed_in_order(sandbox: FiwareSandbox) -> None:
    sandbox.orion.inject_faults(
        Fault.server_error(503),
        Fault.raw_body(b"nope", status=200),
        method="GET",
        path_contains="/v2/entities",
    )
    assert patient_http.get(f"{sandbox.orion_url}/version").status_code == 200  # not matching
    assert patient_http.get(f"{sandbox.orion_url}/v2/entities", headers=HEADERS).status_code == 503
    assert patient_http.get(f"{sandbox.orion_url}/v2/entities", headers=HEADERS).content == b"nope"
    assert patient_http.get(f"{sandbox.orion_url}/v2/entities", headers=HEADERS).json() == []
    sandbox.iot_agent.inject_faults(Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        patient_http.get(f"{sandbox.iot_agent_url}/iot/about")
    sandbox.iot_agent.inject_faults(Fault.truncated_body())
    with pytest.raises(httpx.RemoteProtocolError):
        patient_http.get(f"{sandbox.iot_agent_url}/iot/about")
    assert patient_http.get(f"{sandbox.iot_agent_url}/iot/about").json()["libVersion"] == "4.14.0"


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (15.0, "15"),
        (15.25, "15.25"),
        (-1.5, "-1.5"),
        (0.0, "0"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1e21, "1e+21"),
        (123456789012345678901.0, "123456789012345680000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (float("nan"), "null"),
        (7, "7"),
        (True, "true"),
    ],
)
def test_numbers_are_written_like_javascript(value: float, text: str) -> None:
    assert js_number(value) == text


def test_json_is_compact_ordered_and_unescaped() -> None:
    value = {"b": [1.0, "é", None, {"a": False}], "a": 2.5}
    assert encode_json(value) == '{"b":[1,"é",null,{"a":false}],"a":2.5}'
    assert json.loads(encode_json(value)) == {"b": [1, "é", None, {"a": False}], "a": 2.5}


# --------------------------------------------------------------------------- deletes


def test_sth_deletes_by_attribute_entity_and_tenant(sandbox: FiwareSandbox) -> None:
    for entity_id in ("Room1", "Room2"):
        for attribute in ("temperature", "humidity"):
            sandbox.sth.seed(TENANT, "Room", entity_id, attribute, [(START, 1.0)])
    sth = sandbox.sth_url
    v2_without_type = patient_http.delete(f"{sth}/STH/v2/entities/Room1", headers=HEADERS)
    assert v2_without_type.status_code == 400
    assert v2_without_type.json()["error"] == "BadRequest"
    assert (
        patient_http.delete(f"{sth}/STH/v2/entities/Room1?type=Room", headers=HEADERS).status_code
        == 204
    )
    assert sandbox.sth.count(TENANT, "Room", "Room1", "humidity") == 0
    assert sandbox.sth.count(TENANT, "Room", "Room2", "humidity") == 1
    assert patient_http.delete(f"{sth}/STH/v1/contextEntities", headers=HEADERS).status_code == 204
    assert sandbox.sth.count(TENANT, "Room", "Room2", "humidity") == 0


def test_iot_agent_group_updates_need_resource_and_apikey(sandbox: FiwareSandbox) -> None:
    headers = {"Fiware-Service": "smartcity", "Fiware-ServicePath": "/sensors"}
    url = f"{sandbox.iot_agent_url}/iot/services"
    group = {"apikey": "k1", "resource": "/iot/d", "entity_type": "Room"}
    assert patient_http.post(url, headers=headers, json={"services": [group]}).status_code == 201
    refused = patient_http.delete(url, headers=headers)
    assert (refused.status_code, refused.json()["name"]) == (400, "MISSING_ATTRIBUTES")
    updated = patient_http.put(
        url,
        params={"resource": "/iot/d", "apikey": "k1"},
        headers=headers,
        json={"entity_type": "Office"},
    )
    assert updated.status_code == 204
    assert patient_http.get(url, headers=headers).json()["services"][0]["entity_type"] == "Office"
    gone = patient_http.delete(url, params={"resource": "/iot/d", "apikey": "k1"}, headers=headers)
    assert gone.status_code == 204
    assert patient_http.get(url, headers=headers).json() == {"count": 0, "services": []}
