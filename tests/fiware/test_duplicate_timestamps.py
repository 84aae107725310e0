"""Why "2999 of 3000 requested": a point that shares its timestamp with another is merged into
it (the later value kept), and that is now counted and said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chronos_core.domain.training_job import DataCollectionJob, TrainingJob
from chronos_core.fiware.paging import collect_chunk, plan_chunks
from chronos_core.fiware.series import Observation, ObservationSeries, merge_series
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.settings import get_settings
from chronos_core.training.report import _collection_losses

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_merging_counts_the_points_it_merges() -> None:
    a = ObservationSeries.from_observations(
        [Observation(START, 1.0), Observation(START, 2.0), Observation(START + timedelta(1), 3.0)]
    )
    assert len(a) == 2 and a.duplicates == 1 and a.observations[0].value == 2.0
    b = ObservationSeries.from_observations([Observation(START + timedelta(1), 4.0)])
    merged = merge_series([a, b])
    assert len(merged) == 2 and merged.duplicates == 2
    assert merged.observations[-1].value == 4.0  # the later series wins


def test_a_chunk_with_a_repeated_timestamp_collects_one_point_less(fiware: Any) -> None:
    tenant = Tenant("smart", "/")
    pairs = [(START + timedelta(minutes=30 * i), float(i)) for i in range(1000)]
    # Two readings with the same time and different values, as in the demo buoy series
    # (2017-03-21 16:30): STH-Comet keeps and counts both.
    pairs.insert(500, (pairs[500][0], 999.0))
    assert fiware.sth.seed(tenant, "Buoy", "B1", "temperature", pairs) == 1001
    (chunk,) = plan_chunks(1001, 1001, 100, 20)
    with SthCometClient(settings=get_settings()) as client:
        series = collect_chunk(client, tenant, "Buoy", "B1", "temperature", chunk)
    assert chunk.h_limit == 1001
    assert len(series) == 1000 and series.dropped == 0 and series.duplicates == 1


def test_the_report_says_what_was_merged_and_dropped() -> None:
    job = TrainingJob(
        model_id="3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d",
        data_collection_jobs=[
            DataCollectionJob(index=0, h_offset=0, h_limit=1000, duplicate_timestamps=1),
            DataCollectionJob(index=1, h_offset=1000, h_limit=1000, dropped_values=2),
        ],
    )
    text = _collection_losses(job)
    assert "1 point(s) shared a timestamp with another and were merged" in text
    assert "2 value(s) were not numbers" in text
