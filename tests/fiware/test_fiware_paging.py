"""The paging planner (pure) and the series type."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.fiware.paging import collection_window, plan_chunks, plan_pages
from chronos_core.fiware.series import Observation, ObservationSeries, parse_raw_values

RECORDINGS = Path(__file__).parents[1] / "sandbox" / "recordings"


def covered(pages) -> list[int]:
    return [o for page in pages for o in range(page.h_offset, page.h_offset + page.h_limit)]


@pytest.mark.parametrize(
    ("total", "last_n", "page_size"),
    [
        (250, 250, 100),
        (250, 5, 100),
        (250, 1000, 100),
        (1, 1, 1),
        (0, 10, 100),
        (1001, 999, 7),
        (250, None, 100),
        (100, 100, 100),
        (101, 100, 100),
    ],
)
def test_pages_cover_exactly_the_most_recent_points(total, last_n, page_size) -> None:
    pages = plan_pages(total, last_n, page_size)
    expected_count = total if last_n is None else min(total, last_n)
    assert covered(pages) == list(range(total - expected_count, total))
    assert all(1 <= page.h_limit <= page_size for page in pages)


def test_a_million_points_are_hundreds_of_chunks() -> None:
    chunks = plan_chunks(1_200_000, 1_000_000, 100, 20)
    assert len(chunks) == 500
    assert sum(len(c.pages) for c in chunks) == 10_000
    assert chunks[0].h_offset == 200_000 and chunks[-1].h_offset + chunks[-1].h_limit == 1_200_000
    assert [c.index for c in chunks] == list(range(500))
    for chunk in chunks:
        assert chunk.h_offset == chunk.pages[0].h_offset
        assert chunk.h_limit == sum(p.h_limit for p in chunk.pages) == 2_000


def test_planner_validates_its_inputs() -> None:
    assert collection_window(10, 3) == (7, 3)
    for args in [
        (-1, 5, 100, 1),
        (10, 0, 100, 1),
        (10, 5, 0, 1),
        (10, 5, 100, 0),
        (10.5, 5, 100, 1),
    ]:
        with pytest.raises(InvalidInput):
            plan_chunks(*args)  # type: ignore[arg-type]


def test_recorded_odd_values_parse_without_crashing() -> None:
    recording = json.loads((RECORDINGS / "sth-comet.json").read_text(encoding="utf-8"))
    bodies = {c["name"]: c["response"]["body"] for c in recording["cases"]}
    odd = bodies["v1_odd_values_raw"]["contextResponses"][0]["contextElement"]["attributes"][0]
    series = parse_raw_values(odd["values"])
    assert series.values == [0.0, -1.5] and series.dropped == 3
    window = bodies["v1_string_values_non_numeric_window"]["contextResponses"][0]
    series = parse_raw_values(window["contextElement"]["attributes"][0]["values"])
    assert series.values == [49.5, 41.0, 41.5] and series.dropped == 2
    v2 = parse_raw_values(bodies["v2_lastN"]["value"])
    assert v2.values == [16.75, 17.0, 17.25]
    assert v2.timestamps[-1] == datetime(2024, 1, 3, 14, 15, tzinfo=UTC)


def test_parser_drops_what_it_cannot_read() -> None:
    series = parse_raw_values(
        [
            {"recvTime": "2024-01-01T00:00:00.000Z", "attrValue": "1e3"},
            {"recvTime": "not a date", "attrValue": 1},
            {"attrValue": 2},
            "garbage",
            {"recvTime": "2024-01-01T00:15:00Z", "attrValue": "NaN"},
            {"recvTime": "2024-01-01T00:30:00+01:00", "attrValue": 3},
        ]
    )
    assert [(o.timestamp.isoformat(), o.value) for o in series] == [
        ("2023-12-31T23:30:00+00:00", 3.0),
        ("2024-01-01T00:00:00+00:00", 1000.0),
    ]
    assert series.dropped == 4


def test_merge_sorts_and_drops_duplicate_timestamps() -> None:
    t = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(4)]
    a = ObservationSeries.from_observations([Observation(t[2], 2.0), Observation(t[0], 0.0)], 1)
    b = ObservationSeries.from_observations(
        [Observation(t[1], 1.0), Observation(t[2], 2.5), Observation(t[3], 3.0)], 2
    )
    merged = a.merge(b)
    assert merged.timestamps == t
    assert merged.values == [0.0, 1.0, 2.5, 3.0]  # the later series wins on t[2]
    assert merged.dropped == 3
    assert merged[-2:].values == [2.5, 3.0]
    assert merged[0] == Observation(t[0], 0.0)


def test_to_pandas() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    series = ObservationSeries.from_observations(
        [Observation(start, 1.0), Observation(start + timedelta(hours=1), 2.0)]
    )
    frame = series.to_pandas()
    assert frame.dtype == "float64"
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC" and frame.index.name == "timestamp"
    assert frame.tolist() == [1.0, 2.0]
    assert ObservationSeries().to_pandas().empty


def test_read_list_pages_stops_at_total_limit_short_and_oversized_pages() -> None:
    from chronos_core.fiware.paging import ListPage, read_list_pages

    data = [{"n": i} for i in range(7)]
    asked: list[tuple[int, int]] = []

    def fetch(offset: int, size: int, *, total: bool = True, ignore_limit: bool = False):
        asked.append((offset, size))
        page = data[offset:] if ignore_limit else data[offset : offset + size]
        return ListPage(page, len(page), len(data) if total else None)

    assert read_list_pages(fetch, 3) == data and asked == [(0, 3), (3, 3), (6, 3)]
    asked.clear()
    assert read_list_pages(fetch, 3, limit=4) == data[:4] and asked == [(0, 3), (3, 1)]
    asked.clear()
    assert read_list_pages(lambda o, s: fetch(o, s, total=False), 3, short_page_ends=True) == data
    assert asked == [(0, 3), (3, 3), (6, 3)]
    asked.clear()
    assert read_list_pages(lambda o, s: fetch(o, s, total=False, ignore_limit=True), 3) == data
    assert asked == [(0, 3)]
    assert read_list_pages(fetch, 3, limit=0) == []


def test_connection_from_settings_is_frozen_and_hides_the_token() -> None:
    import dataclasses

    from chronos_core.fiware.connection import FiwareConnection
    from chronos_core.fiware.tenant import Tenant
    from chronos_core.settings import Settings

    settings = Settings(
        orion_ld_url="http://ld:1026/",
        fiware_auth_token="s3cret",
        http_retries=2,
        http_backoff_seconds=0.1,
        http_timeout_seconds=7,
    )
    temporal = FiwareConnection.from_settings(settings, "ngsi_ld_temporal")
    assert temporal.base_url == "http://ld:1026"  # unset temporal URL: the broker's
    assert temporal.retry.retries == 2 and temporal.timeout_seconds == 7
    assert temporal.tenant == Tenant(settings.fiware_service, settings.fiware_servicepath)
    assert "s3cret" not in repr(temporal)
    assert temporal.headers(None) == {"X-Auth-Token": "s3cret"}
    changed = temporal.replace(base_url="http://mintaka:8080", retries=0)
    assert changed.base_url == "http://mintaka:8080" and changed.retry.retries == 0
    assert changed.retry.backoff_seconds == 0.1 and temporal.retry.retries == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        temporal.base_url = "http://x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="http"):
        FiwareConnection("ftp://x")
