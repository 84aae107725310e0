"""Step 2, ``preprocessing``: merge the collected chunks and build the windows to train on."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.errors import InsufficientData
from chronos_core.ml.preprocessing import PreparedData, count_windows, prepare, prepare_regular
from chronos_core.ml.regular_grid import regularize
from chronos_core.ml.scalers import StandardScaler
from chronos_core.ml.seasons import detect_seasons
from chronos_core.ml.window_choice import NetworkInputs, choose_inputs, smallest_lookback
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from chronos_core.training.phases import enter_phase
from chronos_core.training.workspace import JobWorkspace

Db = Database[dict[str, Any]]
_ARRAYS = (
    "x_train",
    "y_train",
    "x_val",
    "y_val",
    "x_test",
    "y_test",
    "test_inputs",
    "test_targets",
    "test_target_timestamps",
    "train_values",
    "train_segment_ids",
    "series_values",
    "series_segment_ids",
    "series_timestamps_ns",
    "test_origin_positions",
)


def prepare_data(db: Db, job_id: str, workspace: JobWorkspace) -> dict[str, Any]:
    """Clean, regularise, split, scale and window the collected series.

    Moves the job ``collecting_data`` → ``preprocessing``, detects the seasons, chooses the
    network's inputs (the lookback, when the model leaves it unset: see
    :mod:`chronos_core.ml.window_choice`), stores the sampling interval, the seasons, the
    lookback used and the network inputs on the job and returns the data summary (counts of
    duplicates, gaps, windows per part, seasons).
    Raises ``InsufficientData`` with the needed and found counts when the series is too short.
    """
    now = utc_now()
    job = enter_phase(
        db,
        job_id,
        TrainingStatus.PREPROCESSING,
        TrainingStatus.COLLECTING_DATA,
        data_collection_end=now,
        preprocessing_start=now,
    )
    model = ModelRepository(db).get(job.model_id)
    series = workspace.load_collected()
    try:
        regular = regularize(series)
    except InsufficientData:
        # The same error, worded with the windows the model needs.
        prepare(
            series,
            lookback_window=model.lookback_window or smallest_lookback(model.forecast_horizon),
            forecast_horizon=model.forecast_horizon,
            validation_ratio=model.validation_ratio,
            test_ratio=model.test_ratio,
        )
        raise
    seasons = detect_seasons(
        regular.values, regular.timestamps_ns, regular.sampling_interval_seconds
    )
    inputs = choose_inputs(
        seasons,
        forecast_horizon=model.forecast_horizon,
        points=len(regular),
        validation_ratio=model.validation_ratio,
        test_ratio=model.test_ratio,
        lookback_window=model.lookback_window,
        window_counts=lambda lookback: count_windows(
            regular, lookback, model.forecast_horizon, model.validation_ratio, model.test_ratio
        ),
    )
    prepared = prepare_regular(
        regular,
        lookback_window=inputs.lookback_window,
        forecast_horizon=model.forecast_horizon,
        validation_ratio=model.validation_ratio,
        test_ratio=model.test_ratio,
    )
    season_dicts = [season.to_dict() for season in seasons]
    prepared.summary["seasons"] = season_dicts
    prepared.summary["network_inputs"] = inputs.to_dict()
    save_prepared(workspace, prepared, seasons=season_dicts, network_inputs=inputs.to_dict())
    TrainingJobRepository(db).set_fields(
        job_id,
        {
            "sampling_interval_seconds": prepared.sampling_interval_seconds,
            "seasons": season_dicts,
            "lookback_window_used": inputs.lookback_window,
            "network_inputs": inputs.to_dict(),
            "preprocessing_end": utc_now(),
        },
    )
    return prepared.summary


def save_prepared(
    workspace: JobWorkspace,
    prepared: PreparedData,
    *,
    seasons: list[dict[str, Any]] | None = None,
    network_inputs: dict[str, Any] | None = None,
) -> None:
    """Write the prepared windows and their description (``seasons``: the detected seasons as
    dicts; ``network_inputs``: :meth:`NetworkInputs.to_dict`, default: last-value anchoring)."""
    arrays = {name: getattr(prepared, name) for name in _ARRAYS}
    arrays["test_target_timestamps"] = prepared.test_target_timestamps.astype(
        "datetime64[ns]"
    ).view("int64")
    workspace.save_arrays("prepared", **arrays)
    workspace.save_json(
        "prepared",
        {
            "x_scaler": prepared.x_scaler.to_dict(),
            "y_scaler": prepared.y_scaler.to_dict(),
            "lookback_window": prepared.lookback_window,
            "forecast_horizon": prepared.forecast_horizon,
            "sampling_interval_seconds": prepared.sampling_interval_seconds,
            "last_observed_timestamp": prepared.last_observed_timestamp.isoformat(),
            "summary": prepared.summary,
            "seasons": seasons or [],
            "network_inputs": network_inputs or NetworkInputs(prepared.lookback_window).to_dict(),
        },
    )


def load_network_inputs(workspace: JobWorkspace) -> NetworkInputs:
    """How the network of the prepared data reads its window."""
    meta = workspace.load_json("prepared")
    data = meta.get("network_inputs") or {"lookback_window": meta["lookback_window"]}
    return NetworkInputs.from_dict(data)


def load_prepared(workspace: JobWorkspace) -> PreparedData:
    arrays = workspace.load_arrays("prepared")
    meta = workspace.load_json("prepared")
    arrays["test_target_timestamps"] = arrays["test_target_timestamps"].view("datetime64[ns]")
    return PreparedData(
        **arrays,
        x_scaler=StandardScaler.from_dict(meta["x_scaler"]),
        y_scaler=StandardScaler.from_dict(meta["y_scaler"]),
        lookback_window=int(meta["lookback_window"]),
        forecast_horizon=int(meta["forecast_horizon"]),
        sampling_interval_seconds=int(meta["sampling_interval_seconds"]),
        last_observed_timestamp=pd.Timestamp(meta["last_observed_timestamp"]),
        summary=meta["summary"],
    )
