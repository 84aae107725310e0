"""SthCometClient against the sandbox STH-Comet: counts, pages, last_n, errors, faults.

Faults are injected with the sandbox's own hook (``sandbox.sth.inject_faults``): the server really
answers 500, waits, sends a cut body or non-JSON bytes over the socket. No mocks.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from fiware_test_data import START, STEP, TENANT, series_points

from chronos_core.errors import Cancelled, InvalidInput
from chronos_core.fiware.errors import (
    FiwareHTTPError,
    FiwareProtocolError,
    FiwareTimeout,
    FiwareUnavailable,
)
from chronos_core.fiware.paging import collect_chunk, plan_chunks
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.settings import Settings
from fiware_sandbox import Fault, FiwareSandbox

ENTITY = ("Room", "Room1", "temperature")


def seed(sandbox: FiwareSandbox, count: int, start=START) -> list:
    points = series_points(count, start)
    sandbox.sth.seed(TENANT, *ENTITY, points)
    return points


def assert_exact(series, expected) -> None:
    assert [(o.timestamp, o.value) for o in series] == expected
    timestamps = series.timestamps
    assert len(set(timestamps)) == len(timestamps)
    assert timestamps == sorted(timestamps)


# --------------------------------------------------------------------------- reads


def test_count_and_pages(sandbox: FiwareSandbox, settings: Settings) -> None:
    points = seed(sandbox, 250)
    with SthCometClient(settings=settings) as client:
        assert client.count(TENANT, *ENTITY) == 250
        first = client.fetch_page(TENANT, *ENTITY, 0, 100)
        last = client.fetch_page(TENANT, *ENTITY, 200, 100, count=True)
        past = client.fetch_page(TENANT, *ENTITY, 300, 100)
    assert first.received == 100
    assert_exact(first.series, points[:100])
    assert (last.received, last.total) == (50, 250)
    assert_exact(last.series, points[200:])
    assert past.received == 0 and not past.series


def test_count_with_dates_is_inclusive(sandbox: FiwareSandbox, settings: Settings) -> None:
    seed(sandbox, 250)
    with SthCometClient(settings=settings) as client:
        count = client.count(TENANT, *ENTITY, date_from=START + STEP * 4, date_to=START + STEP * 8)
        window = client.fetch_range(TENANT, *ENTITY, START + STEP * 4, START + STEP * 8)
    assert count == 5
    assert window.values == [4.5, 5.5, 6.5, 7.5, 8.5]


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_last_n_within_one_page(
    sandbox: FiwareSandbox, settings: Settings, api_version: str
) -> None:
    points = seed(sandbox, 250)
    with SthCometClient(settings=settings, api_version=api_version) as client:  # type: ignore[arg-type]
        series = client.fetch_last_n(TENANT, *ENTITY, 5)
    assert_exact(series, points[-5:])


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_last_n_over_many_pages_is_exact(
    sandbox: FiwareSandbox, settings: Settings, api_version: str
) -> None:
    points = seed(sandbox, 1234)
    with SthCometClient(settings=settings, api_version=api_version) as client:  # type: ignore[arg-type]
        series = client.fetch_last_n(TENANT, *ENTITY, 1000, pages_per_chunk=3)
    assert_exact(series, points[-1000:])
    assert series.dropped == 0


def test_last_n_larger_than_the_history(sandbox: FiwareSandbox, settings: Settings) -> None:
    points = seed(sandbox, 150)
    with SthCometClient(settings=settings) as client:
        series = client.fetch_last_n(TENANT, *ENTITY, 10_000)
    assert_exact(series, points)


def test_unknown_entity_is_empty_not_an_error(sandbox: FiwareSandbox, settings: Settings) -> None:
    seed(sandbox, 10)
    with SthCometClient(settings=settings) as client:
        assert client.count(TENANT, "Room", "NoSuchRoom", "temperature") == 0
        assert not client.fetch_last_n(TENANT, "Room", "NoSuchRoom", "temperature", 500)
        assert client.count(TENANT, "Office", "Room1", "temperature") == 0


def test_non_numeric_values_are_dropped_and_counted(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    raw = ["40.0", "", "null", "abc", {"max": 25}, True, 7, -1.5, None, " 41.5 "]
    sandbox.sth.seed(TENANT, *ENTITY, [(START + STEP * i, v) for i, v in enumerate(raw)])
    with SthCometClient(settings=settings) as client:
        series = client.fetch_last_n(TENANT, *ENTITY, 100)
    assert series.values == [40.0, 7.0, -1.5, 41.5]
    assert series.dropped == 5  # "", "null", "abc", the object and True; None was never stored


def test_in_process_transport_gives_the_same_answers(sandbox: FiwareSandbox) -> None:
    points = seed(sandbox, 300)
    settings = Settings(sth_url="http://sth.invalid", http_backoff_seconds=0)
    with SthCometClient(settings=settings, transport=sandbox.sth.transport()) as client:
        assert_exact(client.fetch_last_n(TENANT, *ENTITY, 250), points[-250:])


# --------------------------------------------------------------------------- validation


def test_client_refuses_pages_above_the_page_size(settings: Settings) -> None:
    with SthCometClient(settings=settings) as client:
        with pytest.raises(InvalidInput, match="between 1 and the STH-Comet page size 100"):
            client.fetch_page(TENANT, *ENTITY, 0, 101)
        with pytest.raises(InvalidInput, match="h_offset must be >= 0"):
            client.fetch_page(TENANT, *ENTITY, -1, 10)
        with pytest.raises(InvalidInput, match="last_n must be at least 1"):
            client.fetch_last_n(TENANT, *ENTITY, 0)


def test_server_400_is_raised_once_with_its_message(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    seed(sandbox, 10)
    # A client configured with a larger page size than the server's: the server says no.
    with (
        SthCometClient(settings=settings, max_page_size=500) as client,
        pytest.raises(FiwareHTTPError) as caught,
    ):
        client.fetch_page(TENANT, *ENTITY, 0, 150)
    error = caught.value
    assert error.status == 400
    assert error.server_message == "hLimit <= lastN <= config.maxPageSize"
    text = str(error)
    assert "STH-Comet answered 400" in text
    assert "entity 'Room1' of type 'Room'" in text and "attribute 'temperature'" in text
    assert "hLimit <= lastN <= config.maxPageSize" in text


# --------------------------------------------------------------------------- faults


def test_500s_that_recover_are_retried(sandbox: FiwareSandbox, settings: Settings) -> None:
    points = seed(sandbox, 120)
    sandbox.sth.inject_faults(Fault.server_error(500), Fault.server_error(503))
    sandbox.sth.inject_faults(Fault.server_error(429, retry_after=0))
    with SthCometClient(settings=settings) as client:
        assert_exact(client.fetch_last_n(TENANT, *ENTITY, 120), points)
    assert sandbox.sth.pending_faults() == 0


def test_500s_that_never_recover_exhaust_the_budget(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    seed(sandbox, 10)
    sandbox.sth.inject_faults(Fault.server_error(500), repeat=10)
    with SthCometClient(settings=settings) as client, pytest.raises(FiwareUnavailable) as caught:
        client.count(TENANT, *ENTITY)
    error = caught.value
    assert (error.attempts, error.last_status) == (4, 500)
    assert sandbox.sth.pending_faults() == 6  # 1 try + 3 retries used 4 faults
    assert "STH-Comet" in str(error) and "after 4 attempt(s)" in str(error)
    assert "entity 'Room1' of type 'Room'" in str(error)


def test_a_slow_answer_times_out_and_is_retried(sandbox: FiwareSandbox, settings: Settings) -> None:
    points = seed(sandbox, 20)
    # The slow answer always outlasts the timeout; the retry has ample time on a busy machine.
    sandbox.sth.inject_faults(Fault.delay(10.0))
    with SthCometClient(settings=settings, timeout=2.0) as client:
        assert_exact(client.fetch_last_n(TENANT, *ENTITY, 20), points)


def test_timeouts_that_never_end_raise_fiware_timeout(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    sandbox.sth.inject_faults(Fault.hang(2.0), repeat=2)
    with (
        SthCometClient(settings=settings, timeout=0.2, retries=1) as client,
        pytest.raises(FiwareTimeout, match="timed out"),
    ):
        client.count(TENANT, *ENTITY)


def test_connection_refused(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        SthCometClient(f"http://127.0.0.1:{port}", settings=settings, retries=2) as client,
        pytest.raises(FiwareUnavailable, match="cannot connect") as caught,
    ):
        client.count(TENANT, *ENTITY)
    assert caught.value.attempts == 3


def test_cut_bodies_and_dropped_connections_are_retried(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    points = seed(sandbox, 50)
    sandbox.sth.inject_faults(Fault.truncated_body(), Fault.drop())
    with SthCometClient(settings=settings) as client:
        assert_exact(client.fetch_last_n(TENANT, *ENTITY, 50), points)
    assert sandbox.sth.pending_faults() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Bad gateway page</body></html>",
        b'{"contextResponses":[{"contextElement":{"attributes":[{"name":"temperature","val',
        b'{"unexpected":"shape"}',
    ],
    ids=["html", "truncated-json", "wrong-shape"],
)
def test_non_json_or_truncated_answers_are_protocol_errors(
    sandbox: FiwareSandbox, settings: Settings, body: bytes
) -> None:
    seed(sandbox, 10)
    sandbox.sth.inject_faults(Fault.raw_body(body), repeat=2)
    with SthCometClient(settings=settings) as client, pytest.raises(FiwareProtocolError) as caught:
        client.fetch_page(TENANT, *ENTITY, 0, 10)
    assert "STH-Comet sent an unexpected answer" in str(caught.value)
    assert sandbox.sth.pending_faults() == 1  # not retried


def test_missing_total_count_header_is_a_protocol_error(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    body = (
        b'{"contextResponses":[{"contextElement":{"attributes":[{"name":"temperature",'
        b'"values":[]}],"id":"Room1","isPattern":false,"type":"Room"},'
        b'"statusCode":{"code":"200","reasonPhrase":"OK"}}]}'
    )
    sandbox.sth.inject_faults(Fault.raw_body(body))
    with (
        SthCometClient(settings=settings) as client,
        pytest.raises(FiwareProtocolError, match="fiware-total-count"),
    ):
        client.count(TENANT, *ENTITY)


def test_pages_shorter_than_asked_are_completed(sandbox: FiwareSandbox, settings: Settings) -> None:
    points = seed(sandbox, 400)
    sandbox.sth.inject_faults(Fault.short_page(30), repeat=5, path_contains="/attributes/")
    with SthCometClient(settings=settings) as client:
        assert_exact(client.fetch_last_n(TENANT, *ENTITY, 350), points[-350:])
    assert sandbox.sth.pending_faults() == 0


def test_points_appended_between_count_and_fetch_do_not_shift_the_window(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    points = seed(sandbox, 500)
    with SthCometClient(settings=settings) as client:
        total = client.count(TENANT, *ENTITY)
        # New measurements arrive after the count, as they do while a long collection runs.
        seed(sandbox, 75, start=START + STEP * 500)
        chunks = plan_chunks(total, 420, client.max_page_size, 2)
        parts = [collect_chunk(client, TENANT, *ENTITY, chunk) for chunk in chunks]
    merged = parts[0].merge(*parts[1:])
    assert_exact(merged, points[-420:])


def test_a_late_older_point_cannot_create_duplicates(
    sandbox: FiwareSandbox, settings: Settings
) -> None:
    seed(sandbox, 300)
    with SthCometClient(settings=settings) as client:
        total = client.count(TENANT, *ENTITY)
        chunks = plan_chunks(total, 250, client.max_page_size, 1)
        first = collect_chunk(client, TENANT, *ENTITY, chunks[0])
        # A late point older than everything shifts every offset by one.
        sandbox.sth.seed(TENANT, *ENTITY, [(START - timedelta(days=1), 99.0)])
        rest = [collect_chunk(client, TENANT, *ENTITY, chunk) for chunk in chunks[1:]]
    merged = first.merge(*rest)
    timestamps = merged.timestamps
    assert len(timestamps) == len(set(timestamps)) == 249
    assert timestamps == sorted(timestamps)


def test_cancellation_is_checked_between_pages(sandbox: FiwareSandbox, settings: Settings) -> None:
    seed(sandbox, 500)
    calls = {"n": 0}

    def should_cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with SthCometClient(settings=settings) as client:
        chunk = plan_chunks(500, 500, 100, 10)[0]
        with pytest.raises(Cancelled, match="cancelled"):
            collect_chunk(client, TENANT, *ENTITY, chunk, should_cancel=should_cancel)
    assert calls["n"] == 3
