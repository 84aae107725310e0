"""The Orion forecast entity and its publication (the sandbox's Orion, notifying its STH-Comet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from forecast_test_data import TENANT, sine

from chronos_core.domain.forecast import (
    ForecastPoint,
    ForecastRecord,
    ForecastTrigger,
    PublicationStatus,
)
from chronos_core.errors import InvalidInput
from chronos_core.fiware.errors import FiwareUnavailable
from chronos_core.fiware.orion import OrionClient
from chronos_core.forecasting.forecaster import forecast_now
from chronos_core.forecasting.ld_publication import build_ld_forecast_entity
from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.forecasting.publication import (
    build_forecast_entity,
    forecast_entity_id,
    publish_forecast,
    remove_history_subscriptions,
)
from chronos_core.settings import Settings
from chronos_core.storage.forecast_repository import ForecastRepository
from fiware_sandbox import Fault
from fiware_sandbox.orion_model import rendered_numbers

ISSUED = datetime(2024, 1, 5, 0, 1, 2, 345000, tzinfo=UTC)
LAST = datetime(2024, 1, 5, tzinfo=UTC)


def record(feature: str = "temperature") -> ForecastRecord:
    return ForecastRecord(
        id="0b7e7c9a-8d1c-4b1a-9e3f-5a6b7c8d9e0f",
        model_id="11111111-2222-4333-8444-555555555555",
        training_job_id="66666666-7777-4888-9999-000000000000",
        trigger=ForecastTrigger.ON_DEMAND,
        issued_at=ISSUED,
        service="smart",
        service_path="/",
        entity_type="Room",
        entity_id="Room1",
        feature=feature,
        lookback_window=6,
        forecast_horizon=2,
        sampling_interval_seconds=900,
        last_observed_at=LAST,
        context_values=[1.0] * 6,
        points=[
            ForecastPoint(step=1, value=20.5, target_timestamp=LAST + timedelta(minutes=15)),
            ForecastPoint(step=2, value=21.25, target_timestamp=LAST + timedelta(minutes=30)),
        ],
        expires_at=ISSUED + timedelta(days=30),
    )


EXPECTED_ENTITY = {
    "id": "urn:ngsi-ld:Forecast:Room:Room1:temperature",
    "type": "Forecast",
    "refEntity": {"type": "Relationship", "value": "Room1"},
    "feature": {"type": "Text", "value": "temperature"},
    "modelId": {"type": "Text", "value": "11111111-2222-4333-8444-555555555555"},
    "trainingJobId": {"type": "Text", "value": "66666666-7777-4888-9999-000000000000"},
    "generatedAt": {"type": "DateTime", "value": "2024-01-05T00:01:02.345Z"},
    "forecastSeries": {
        "type": "StructuredValue",
        "value": {
            "generatedAt": "2024-01-05T00:01:02.345Z",
            "lastObservedAt": "2024-01-05T00:00:00.000Z",
            "horizon": 2,
            "samplingIntervalSeconds": 900,
            "points": [
                {"step": 1, "value": 20.5, "targetTimestamp": "2024-01-05T00:15:00.000Z"},
                {"step": 2, "value": 21.25, "targetTimestamp": "2024-01-05T00:30:00.000Z"},
            ],
        },
        "metadata": {"TimeInstant": {"type": "DateTime", "value": "2024-01-05T00:01:02.345Z"}},
    },
    # Smart Data Models names (WeatherForecast): added, the earlier names are kept.
    "dateIssued": {"type": "DateTime", "value": "2024-01-05T00:01:02.345Z"},
    "validFrom": {"type": "DateTime", "value": "2024-01-05T00:15:00.000Z"},
    "validTo": {"type": "DateTime", "value": "2024-01-05T00:30:00.000Z"},
    "dataProvider": {"type": "Text", "value": "Chronos"},
}


def test_forecast_entity_without_legacy_names() -> None:
    payload = build_forecast_entity(
        record(), entity_type="Forecast", publish_next_value=False, legacy_names=False
    )
    assert "generatedAt" not in payload
    assert payload["dateIssued"] == EXPECTED_ENTITY["dateIssued"]


def test_forecast_entity_payload() -> None:
    payload = build_forecast_entity(record(), entity_type="Forecast", publish_next_value=False)
    assert payload == EXPECTED_ENTITY


def test_next_value_is_a_number_at_its_target_time() -> None:
    payload = build_forecast_entity(record(), entity_type="Forecast", publish_next_value=True)
    assert payload["temperature"] == {
        "type": "Number",
        "value": 20.5,
        "metadata": {"TimeInstant": {"type": "DateTime", "value": "2024-01-05T00:15:00.000Z"}},
    }
    reserved = build_forecast_entity(
        record("feature"), entity_type="Prediction", publish_next_value=True
    )
    assert reserved["type"] == "Prediction"
    assert reserved["nextValue"]["value"] == 20.5
    assert reserved["feature"] == {"type": "Text", "value": "feature"}


def test_ngsi_ld_points_carry_their_interval_bounds() -> None:
    bounds = {"lower80": 20.0, "upper80": 21.0}
    forecast = record().model_copy(update={"entity_id": "urn:ngsi-ld:Room:Room1"})
    forecast.points[0] = forecast.points[0].model_copy(update={"intervals": bounds})
    payload = build_ld_forecast_entity(forecast, entity_type="Forecast", publish_next_value=False)
    first, second = payload["forecastSeries"]["value"]["points"]
    target = "2024-01-05T00:15:00.000Z"
    assert first == {"step": 1, "value": 20.5, "targetTimestamp": target, **bounds}
    assert "lower80" not in second


def test_entity_id_too_long_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at most 256 characters"):
        forecast_entity_id("Room", "x" * 250, "temperature")


@pytest.fixture
def stored(db: Any, fsettings: Settings, sandbox: Any, completed_job: Any) -> ForecastRecord:
    model, _ = completed_job(publish_next_value=True)
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine(20))
    return forecast_now(db, model.id, settings=fsettings, cache=ModelCache(2)).record


def test_publication_upserts_the_entity_and_feeds_sth(
    db: Any, fsettings: Settings, sandbox: Any, stored: ForecastRecord
) -> None:
    published = publish_forecast(db, stored.id, settings=fsettings)
    assert published.publication.status is PublicationStatus.PUBLISHED
    assert published.publication.attempts == 1 and published.publication.error is None
    entity_id = "urn:ngsi-ld:Forecast:Room:Room1:temperature"
    entity = sandbox.orion.entity("smart", "/", entity_id, "Forecast")
    expected = build_forecast_entity(stored, entity_type="Forecast", publish_next_value=True)
    # Orion renders every attribute with its metadata, empty or not, and every number with at
    # most 9 decimals.
    expected = rendered_numbers(expected)
    assert entity == {
        key: value if key in ("id", "type") else {"metadata": {}, **value}
        for key, value in expected.items()
    }
    # One legacy subscription sends the forecast to STH-Comet, stored at its TimeInstant.
    assert len(sandbox.orion.subscription_ids("smart")) == 1
    assert sandbox.orion.wait_for_deliveries()
    history = sandbox.sth.points(TENANT, "Forecast", entity_id, "forecastSeries")
    assert [moment for moment, _ in history] == [stored.issued_at]
    assert history[0][1]["points"][0]["step"] == 1
    next_values = sandbox.sth.points(TENANT, "Forecast", entity_id, "temperature")
    assert [moment for moment, _ in next_values] == [stored.points[0].target_timestamp]

    # Publishing again is a no-op; a new forecast reuses the subscription.
    assert publish_forecast(db, stored.id, settings=fsettings).publication.attempts == 1
    again = forecast_now(db, stored.model_id, settings=fsettings, cache=ModelCache(2)).record
    publish_forecast(db, again.id, settings=fsettings)
    assert len(sandbox.orion.subscription_ids("smart")) == 1
    assert sandbox.orion.wait_for_deliveries()
    assert len(sandbox.sth.points(TENANT, "Forecast", entity_id, "forecastSeries")) == 2

    # Deleting the forecast entity can take its subscription with it.
    with OrionClient(settings=fsettings) as orion:
        assert remove_history_subscriptions(orion, TENANT, entity_id) == 1
        assert remove_history_subscriptions(orion, TENANT, entity_id) == 0
    assert sandbox.orion.subscription_ids("smart") == []


def test_without_history_subscription(
    db: Any, sandbox: Any, stored: ForecastRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chronos_core.settings import get_settings

    monkeypatch.setenv("CHRONOS_FORECAST_HISTORY_SUBSCRIPTION", "false")
    get_settings.cache_clear()
    publish_forecast(db, stored.id, settings=get_settings())
    assert sandbox.orion.subscription_ids("smart") == []
    assert sandbox.orion.entity("smart", "/", "urn:ngsi-ld:Forecast:Room:Room1:temperature")


def test_failed_publication_is_recorded_and_keeps_the_forecast(
    db: Any, fsettings: Settings, sandbox: Any, stored: ForecastRecord
) -> None:
    sandbox.orion.inject_faults(Fault.server_error(503), repeat=50)
    with pytest.raises(FiwareUnavailable, match=r"Orion .* is unavailable"):
        publish_forecast(db, stored.id, settings=fsettings)
    failed = ForecastRepository(db).get(stored.id)
    assert failed.publication.status is PublicationStatus.FAILED
    assert failed.publication.attempts == 1
    assert "Orion" in (failed.publication.error or "")
    assert failed.points == stored.points

    sandbox.orion.clear_faults()
    published = publish_forecast(db, stored.id, settings=fsettings)
    assert published.publication.status is PublicationStatus.PUBLISHED
    assert published.publication.attempts == 2 and published.publication.error is None


INTERVALS = {
    "method": "split-conformal",
    "levels": [80, 95],
    "half_widths": {"80": [0.5, 1.0, 1.5], "95": [1.0, 2.0, 3.0]},
}


def test_intervals_reach_the_record_and_the_orion_entity(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any
) -> None:
    model, _ = completed_job(entity_id="Room7", intervals=INTERVALS)
    sandbox.sth.seed(TENANT, "Room", "Room7", "temperature", sine(20))
    stored = forecast_now(db, model.id, settings=fsettings, cache=ModelCache(2)).record
    assert stored.interval_levels == [80, 95] and stored.interval_method == "split-conformal"
    for point, q80, q95 in zip(stored.points, [0.5, 1.0, 1.5], [1.0, 2.0, 3.0], strict=True):
        assert point.intervals == pytest.approx(
            {
                "lower80": point.value - q80,
                "upper80": point.value + q80,
                "lower95": point.value - q95,
                "upper95": point.value + q95,
            }
        )
    kept = ForecastRepository(db).get(stored.id)
    assert kept.points[2].intervals == stored.points[2].intervals

    publish_forecast(db, stored.id, settings=fsettings)
    entity_id = "urn:ngsi-ld:Forecast:Room:Room7:temperature"
    series = sandbox.orion.entity("smart", "/", entity_id, "Forecast")["forecastSeries"]["value"]
    assert series["intervalLevels"] == [80, 95]
    assert series["intervalMethod"] == "split-conformal"
    for published, point in zip(series["points"], stored.points, strict=True):
        # Orion renders numbers with at most 9 decimals.
        assert published["value"] == pytest.approx(point.value, abs=1e-9)
        for name in ("lower80", "upper80", "lower95", "upper95"):
            assert published[name] == pytest.approx(point.intervals[name], abs=1e-9)
        assert published["lower95"] < published["lower80"] < published["value"]
        assert published["value"] < published["upper80"] < published["upper95"]


def test_a_model_without_intervals_publishes_points_only(
    db: Any, fsettings: Settings, sandbox: Any, stored: ForecastRecord
) -> None:
    assert stored.interval_levels == [] and all(not p.intervals for p in stored.points)
    payload = build_forecast_entity(stored, entity_type="Forecast", publish_next_value=False)
    assert "intervalLevels" not in payload["forecastSeries"]["value"]
