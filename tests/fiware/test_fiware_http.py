"""The shared HTTP layer: tenant headers, token handling, retry policy.

What the client puts on the wire is observed with the sandbox's NotificationRecorder served over
real HTTP (it records every request and answers 200).
"""

from __future__ import annotations

import logging

import pytest
from fiware_test_data import TENANT

from chronos_core.errors import InvalidInput
from chronos_core.fiware.connection import FiwareConnection
from chronos_core.fiware.errors import FiwareUnavailable
from chronos_core.fiware.http import FiwareHTTP, RetryPolicy
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import Settings
from fiware_sandbox import Fault, NotificationRecorder, ServiceServer

TOKEN = "s3cr3t-token-value"


@pytest.fixture
def recorder():
    service = NotificationRecorder()
    server = ServiceServer(service)
    server.start()
    yield service, server.url
    server.stop()


def test_requests_carry_tenant_and_token_and_no_content_type_on_get(recorder) -> None:
    service, url = recorder
    with FiwareHTTP("Orion", url, auth_token=TOKEN) as http:
        http.request("GET", "/v2/entities", tenant=TENANT)
        http.request("POST", "/v2/entities", tenant=TENANT, json={"id": "Room1", "type": "Room"})
        http.request("DELETE", "/v2/entities/Room1", tenant=TENANT)
    get, post, delete = service.requests
    for sent in (get, post, delete):
        assert sent.headers.get("Fiware-Service") == "smartcity"
        assert sent.headers.get("Fiware-ServicePath") == "/rooms"
        assert sent.headers.get("X-Auth-Token") == TOKEN
    assert get.headers.get("Content-Type") is None and delete.headers.get("Content-Type") is None
    assert post.headers.get("Content-Type") == "application/json"
    assert post.body == b'{"id":"Room1","type":"Room"}'


def test_the_token_never_shows_in_reprs_errors_or_logs(caplog) -> None:
    settings = Settings(fiware_auth_token=TOKEN, http_backoff_seconds=0, http_retries=1)
    service = NotificationRecorder()
    service.inject_faults(Fault.server_error(503), repeat=2)
    server = ServiceServer(service)
    server.start()
    try:
        connection = FiwareConnection.from_settings(settings, "sth").replace(base_url=server.url)
        http = FiwareHTTP("STH-Comet", connection=connection)
        with caplog.at_level(logging.DEBUG), http, pytest.raises(FiwareUnavailable) as caught:
            http.request("GET", "/version", tenant=TENANT)
    finally:
        server.stop()
    assert TOKEN not in repr(http) and TOKEN not in repr(settings)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value.details)
    assert TOKEN not in caplog.text
    assert "retry 1 of 1" in caplog.text


def test_retry_policy_backoff_and_retry_after() -> None:
    policy = RetryPolicy(retries=5, backoff_seconds=0.5, max_backoff_seconds=3)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(1, retry_after=2.5) == 2.5
    assert policy.delay(1, retry_after=10_000) == 60.0
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1)


def test_waits_between_retries_follow_the_policy() -> None:
    service = NotificationRecorder()
    service.inject_faults(Fault.server_error(502), Fault.server_error(429, retry_after=1.5))
    server = ServiceServer(service)
    server.start()
    waits: list[float] = []
    try:
        policy = RetryPolicy(retries=3, backoff_seconds=0.25)
        with FiwareHTTP("Orion", server.url, retry=policy, sleep=waits.append) as http:
            assert http.request("GET", "/v2/entities", tenant=TENANT).status_code == 200
    finally:
        server.stop()
    assert waits == [0.25, 1.5]


def test_tenant_validation() -> None:
    assert Tenant.from_settings(Settings(fiware_service="smart", fiware_servicepath="/a/b")) == (
        Tenant("smart", "/a/b")
    )
    for service, path in [("Smart City", "/"), ("smart", "rooms"), ("smart", "/a/#")]:
        with pytest.raises(InvalidInput, match="invalid FIWARE tenant"):
            Tenant(service, path)
