"""The clients against answers recorded from the real services (no sandbox in between).

A mock transport (httpx.MockTransport: the real STH-Comet and Orion cannot run here) serves the
recorded responses, matched on method, path, query parameters and tenant headers. This checks both
that the clients send the requests the recordings hold and that they read the real bytes.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fiware_test_data import TENANT

from chronos_core.fiware.errors import FiwareConflict, FiwareHTTPError, FiwareNotFound
from chronos_core.fiware.http import FiwareHTTP, RetryPolicy
from chronos_core.fiware.orion import OrionClient
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings

RECORDINGS = Path(__file__).parents[1] / "sandbox" / "recordings"
PLACEHOLDER_VALUES = {
    "<objectid>": "65a1b2c3d4e5f60718293a4b",
    "<correlator>": "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d",
    "<now>": "2026-11-25T10:00:00.000Z",
    "<epoch-ms>": "1764064800000",
}
SUBSCRIPTION_ID = re.compile(r"<subscription-id-(\d+)>")
SETTINGS = Settings(http_backoff_seconds=0, http_retries=0)


def _fill(text: str) -> str:
    for placeholder, value in PLACEHOLDER_VALUES.items():
        text = text.replace(placeholder, value)
    return SUBSCRIPTION_ID.sub(lambda m: f"{int(m.group(1)):024x}", text)


def _key(method: str, target: str, headers) -> tuple:
    parts = urlsplit(target)
    lowered = {k.lower(): v for k, v in headers.items()}
    return (
        method,
        parts.path,
        tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))),
        lowered.get("fiware-service"),
        lowered.get("fiware-servicepath"),
    )


def recorded_transport(file: str) -> httpx.MockTransport:
    recording = json.loads((RECORDINGS / file).read_text(encoding="utf-8"))
    answers: dict[tuple, deque] = defaultdict(deque)
    for case in recording["cases"]:
        request, response = case["request"], case["response"]
        if response["status"] is None:
            continue
        target = _fill(request["target"])
        answers[_key(request["method"], target, request["headers"])].append(response)

    def handler(request: httpx.Request) -> httpx.Response:
        key = _key(request.method, request.url.raw_path.decode(), request.headers)
        if not answers.get(key):
            raise AssertionError(f"no recorded answer for {key}")
        queue = answers[key]
        response = queue.popleft() if len(queue) > 1 else queue[0]
        if "body_text" in response:
            content = _fill(response["body_text"]).encode()
        elif response["body_format"] == "json":
            text = json.dumps(response["body"], separators=(",", ":"), ensure_ascii=False)
            content = _fill(text).encode()
        elif response["body_format"] == "text":
            content = _fill(response["body"]).encode()
        else:
            content = b""
        headers = {name: _fill(value) for name, value in response["headers"].items()}
        return httpx.Response(response["status"], headers=headers, content=content)

    return httpx.MockTransport(handler)


@pytest.fixture
def sth() -> SthCometClient:
    return SthCometClient(
        "http://sth", settings=SETTINGS, transport=recorded_transport("sth-comet.json")
    )


def test_sth_pages_and_totals(sth: SthCometClient) -> None:
    first = sth.fetch_page(TENANT, "Room", "Room1", "temperature", 0, 100, count=True)
    last = sth.fetch_page(TENANT, "Room", "Room1", "temperature", 200, 100, count=True)
    assert (first.received, first.total, last.received, last.total) == (100, 250, 50, 250)
    assert first.series.values[:3] == [15.0, 15.25, 15.5]
    assert last.series[-1].timestamp.isoformat() == "2024-01-03T14:15:00+00:00"
    assert sth.raw_history(TENANT, "Room", "Room1", "temperature", last_n=5).values[0]["_id"]


def test_sth_string_values_and_unknown_entities(sth: SthCometClient) -> None:
    humidity = sth.fetch_page(TENANT, "Room", "Room1", "humidity", 100, 100)
    assert humidity.received == 100 and humidity.series.dropped == 2  # "" and "null"
    unknown = sth.fetch_page(TENANT, "Room", "NoSuchRoom", "temperature", 0, 100, count=True)
    assert (unknown.received, unknown.total) == (0, 0)
    other_path = sth.fetch_page(
        Tenant("smartcity", "/other"), "Room", "Room1", "temperature", 0, 100, count=True
    )
    assert other_path.total == 0


def test_sth_v2_and_errors() -> None:
    transport = recorded_transport("sth-comet.json")
    with SthCometClient(
        "http://sth", settings=SETTINGS, transport=transport, api_version="v2"
    ) as v2:
        page = v2.fetch_page(TENANT, "Room", "Room1", "temperature", 0, 100, count=True)
        assert (page.received, page.total) == (100, 250)
    with (
        SthCometClient(
            "http://sth", settings=SETTINGS, transport=transport, max_page_size=500
        ) as v1,
        pytest.raises(FiwareHTTPError, match=r"hLimit <= lastN <= config\.maxPageSize"),
    ):
        v1.fetch_page(TENANT, "Room", "Room1", "temperature", 0, 101)


def test_orion_answers() -> None:
    transport = recorded_transport("orion.json")
    with (
        OrionClient("http://orion", settings=SETTINGS, transport=transport) as orion,
        FiwareHTTP(
            "Orion", "http://orion", retry=RetryPolicy(retries=0), transport=transport
        ) as http,
    ):
        assert http.get_object("/version", "the version")["orion"]["version"] == "3.10.1"
        entity = {
            "id": "Room1",
            "type": "Room",
            "temperature": {
                "type": "Number",
                "value": 21.5,
                "metadata": {
                    "TimeInstant": {"type": "DateTime", "value": "2024-01-01T00:00:00.000Z"}
                },
            },
            "name": {"type": "Text", "value": "Room one"},
        }
        created = http.request("POST", "/v2/entities", tenant=TENANT, json=entity)
        assert created.headers["location"] == "/v2/entities/Room1?type=Room"
        with pytest.raises(FiwareConflict, match="Already Exists"):
            http.request("POST", "/v2/entities", tenant=TENANT, json=entity)
        with pytest.raises(FiwareNotFound, match="Check type and id"):
            orion.get_entity(TENANT, "Room1", entity_type="Office")
        forecast = http.get_object(
            "/v2/entities/Forecast:Room1/attrs/forecast", "the attribute", tenant=TENANT
        )
        assert len(forecast["value"]["series"]) == 24
        assert orion.delete_entity(TENANT, "Room5") is True
        assert orion.delete_entity(TENANT, "Room5", missing_ok=True) is False
        subscription = {
            "description": "Room temperature normalized",
            "subject": {
                "entities": [{"idPattern": ".*", "type": "Room"}],
                "condition": {"attrs": ["temperature"]},
            },
            "notification": {
                "http": {"url": "http://127.0.0.1:9931/notify"},
                "attrs": ["temperature"],
            },
        }
        assert orion.create_subscription(TENANT, subscription) == f"{1:024x}"
