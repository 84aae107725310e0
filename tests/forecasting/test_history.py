"""Forecast history next to actual values, the forecasts collection and expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from forecast_test_data import TENANT, sine

from chronos_core.clock import utc_now
from chronos_core.domain.forecast import ForecastTrigger
from chronos_core.errors import Conflict, InvalidInput, NotFound
from chronos_core.forecasting.forecaster import forecast_now
from chronos_core.forecasting.history import expire_forecasts, forecast_history
from chronos_core.forecasting.model_cache import ModelCache
from chronos_core.settings import Settings
from chronos_core.storage.forecast_repository import ForecastRepository
from fiware_sandbox import Fault

pytestmark = pytest.mark.slow


def test_history_shows_actuals_and_realised_error(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any
) -> None:
    model, _ = completed_job()
    full = sine(40)
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", full.iloc[:30])
    cache = ModelCache(2)
    first = forecast_now(db, model.id, settings=fsettings, cache=cache).record
    # Two more points arrive (the first two targets of the first forecast), then a forecast.
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", full.iloc[30:32])
    second = forecast_now(db, model.id, settings=fsettings, cache=cache).record

    entries = forecast_history(db, model.id, settings=fsettings)
    assert [entry.id for entry in entries] == [second.id, first.id]
    newest, oldest = entries
    assert newest.known == 0 and newest.mae is None  # its targets are still in the future
    assert oldest.known == 2 and oldest.horizon == 3
    actuals = full.iloc[30:32].tolist()
    assert [p.actual for p in oldest.points] == [*actuals, None]
    errors = [p.forecast - a for p, a in zip(oldest.points, actuals, strict=False)]
    assert [p.error for p in oldest.points[:2]] == pytest.approx(errors)
    assert oldest.mae == pytest.approx(sum(abs(e) for e in errors) / 2)
    assert oldest.rmse == pytest.approx((sum(e * e for e in errors) / 2) ** 0.5)
    assert oldest.mape == pytest.approx(
        100 * sum(abs(e) / a for e, a in zip(errors, actuals, strict=True)) / 2
    )
    assert oldest.trigger == ForecastTrigger.ON_DEMAND.value
    assert not oldest.published and oldest.publication_status == "pending"

    assert [e.id for e in forecast_history(db, model.id, limit=1, settings=fsettings)] == [
        second.id
    ]


def test_history_without_sth_still_lists_the_forecasts(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any
) -> None:
    model, _ = completed_job()
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine(20))
    forecast_now(db, model.id, settings=fsettings, cache=ModelCache(2))
    sandbox.sth.seed(
        TENANT,
        "Room",
        "Room1",
        "temperature",
        pd.Series([1.0], index=[sine(20).index[-1] + pd.Timedelta(minutes=15)]),
    )
    sandbox.sth.inject_faults(Fault.server_error(503), repeat=100)
    (entry,) = forecast_history(db, model.id, settings=fsettings)
    assert entry.known == 0
    assert entry.note is not None and entry.note.startswith("actual values unavailable:")
    (plain,) = forecast_history(db, model.id, settings=fsettings, with_actuals=False)
    assert plain.note is None


def test_history_refusals(db: Any, fsettings: Settings, completed_job: Any) -> None:
    model, _ = completed_job()
    assert forecast_history(db, model.id, settings=fsettings) == []
    with pytest.raises(NotFound, match="not found"):
        forecast_history(db, "3f2b8c1e-7a4d-4b6e-9c1d-2e5f6a7b8c9d", settings=fsettings)
    with pytest.raises(InvalidInput, match="not a valid id"):
        forecast_history(db, "m-1", settings=fsettings)
    with pytest.raises(InvalidInput, match="limit must be an integer from 1 to 500"):
        forecast_history(db, model.id, limit=0, settings=fsettings)


def test_slot_uniqueness_and_expiry(
    db: Any, fsettings: Settings, sandbox: Any, completed_job: Any
) -> None:
    model, _ = completed_job()
    sandbox.sth.seed(TENANT, "Room", "Room1", "temperature", sine(20))
    record = forecast_now(db, model.id, settings=fsettings, cache=ModelCache(2)).record
    repo = ForecastRepository(db)
    slot = utc_now()
    scheduled = record.model_copy(
        update={"id": "0b7e7c9a-8d1c-4b1a-9e3f-5a6b7c8d9e0f", "trigger": ForecastTrigger.SCHEDULE}
    )
    scheduled = scheduled.model_copy(update={"scheduled_for": slot})
    repo.insert(scheduled)
    with pytest.raises(Conflict, match="already has a forecast for the slot"):
        repo.insert(scheduled.model_copy(update={"id": "1b7e7c9a-8d1c-4b1a-9e3f-5a6b7c8d9e0f"}))
    # On-demand forecasts have no slot: any number of them.
    repo.insert(record.model_copy(update={"id": "2b7e7c9a-8d1c-4b1a-9e3f-5a6b7c8d9e0f"}))
    assert repo.count() == 3

    assert expire_forecasts(db) == 0
    later = record.expires_at + timedelta(seconds=1)
    assert expire_forecasts(db, now=later) == 3
    assert repo.count() == 0
