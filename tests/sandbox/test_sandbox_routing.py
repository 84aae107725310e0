"""Unknown paths and other methods: each emulator's route table answers them as its service does
(Orion: 405 for a known resource, 400 "service not found" otherwise; Orion-LD: 405 or 404, 501
for the temporal API; the IoT Agent: Express's HTML 404; STH-Comet: its two 404 bodies)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fiware_sandbox import (
    EmulatedService,
    IoTAgentEmulator,
    OrionEmulator,
    OrionLdEmulator,
    SthCometEmulator,
    TemporalEmulator,
)

NOT_ALLOWED = {"error": "MethodNotAllowed", "description": "method not allowed"}
LD_ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


def ask(service: EmulatedService, method: str, path: str) -> httpx.Response:
    headers = {"Fiware-Service": "smart", "Fiware-ServicePath": "/"}
    with httpx.Client(transport=service.transport(), base_url="http://sandbox") as client:
        return client.request(method, path, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("PATCH", "/v2/entities/Room1", 405, NOT_ALLOWED),
        ("POST", "/v2/entities/Room1/attrs/temperature/value", 405, NOT_ALLOWED),
        ("POST", "/v2/types", 405, NOT_ALLOWED),
        ("GET", "/v2/op/update", 405, NOT_ALLOWED),
        ("PUT", "/v2/subscriptions", 405, NOT_ALLOWED),
        (
            "PUT",
            "/v2/entities/Ro<om",
            400,
            {"error": "BadRequest", "description": "Invalid characters in entity id"},
        ),
        (
            "GET",
            "/v2/entities/Room1/junk",
            400,
            {"error": "BadRequest", "description": "service '/v2/entities/Room1/junk' not found"},
        ),
        (
            "GET",
            "/v2/registrations",
            400,
            {"error": "BadRequest", "description": "service '/v2/registrations' not found"},
        ),
        (
            "POST",
            "/version",
            400,
            {"error": "BadRequest", "description": "service '/version' not found"},
        ),
    ],
)
def test_orion(method: str, path: str, status: int, body: dict[str, Any]) -> None:
    answer = ask(OrionEmulator(), method, path)
    assert (answer.status_code, answer.json()) == (status, body)


def _problem(kind: str, title: str, detail: str) -> dict[str, str]:
    return {"type": LD_ERRORS + kind, "title": title, "detail": detail}


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        (
            "PUT",
            "/ngsi-ld/v1/entities/urn:a:1",
            405,
            _problem("BadRequestData", "Method not allowed", "/ngsi-ld/v1/entities/urn:a:1"),
        ),
        (
            "PUT",
            "/ngsi-ld/v1/entities/Room1",
            400,
            _problem("BadRequestData", "Invalid URI - no colon found", "Entity ID in URL PATH"),
        ),
        (
            "GET",
            "/ngsi-ld/v1/entityOperations/upsert",
            404,
            _problem(
                "ResourceNotFound", "Service Not Found", "/ngsi-ld/v1/entityOperations/upsert"
            ),
        ),
        (
            "GET",
            "/ngsi-ld/v1/temporal/entities/urn:a:1",
            501,
            _problem(
                "OperationNotSupported",
                "Not Implemented in Orion-LD, please use Mintaka for this operation",
                "/ngsi-ld/v1/temporal/entities/*",
            ),
        ),
    ],
)
def test_orion_ld(method: str, path: str, status: int, body: dict[str, Any]) -> None:
    answer = ask(OrionLdEmulator(), method, path)
    assert (answer.status_code, answer.json()) == (status, body)


def test_temporal_api_answers_only_an_entity_read() -> None:
    answer = ask(TemporalEmulator(OrionLdEmulator()), "POST", "/ngsi-ld/v1/temporal/entities/a:1")
    assert answer.status_code == 501
    assert answer.json()["type"] == LD_ERRORS + "OperationNotSupported"


def test_iot_agent_answers_an_unknown_method_with_express_404_page() -> None:
    answer = ask(IoTAgentEmulator(), "PATCH", "/iot/devices")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "<pre>Cannot PATCH /iot/devices</pre>" in answer.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/STH/v2/entities/Room1", {"error": "NotFound", "description": "invalid path"}),
        ("/STH/v1/contextEntities", {"statusCode": 404, "error": "Not Found"}),
    ],
)
def test_sth_comet(path: str, body: dict[str, Any]) -> None:
    answer = ask(SthCometEmulator(), "GET", path)
    assert (answer.status_code, answer.json()) == (404, body)
