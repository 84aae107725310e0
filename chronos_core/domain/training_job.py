"""A training job: one run of collect → prepare → fit → evaluate → store for a model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chronos_core.clock import utc_now
from chronos_core.domain.enums import DataCollectionStatus, TrainingStatus
from chronos_core.domain.identifiers import new_id

MAX_LAST_N = 1_000_000


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DataCollectionJob(_Doc):
    """One collection chunk: a contiguous run of STH pages starting at ``h_offset``."""

    id: str = Field(default_factory=new_id)
    index: int = Field(ge=0)
    h_offset: int = Field(ge=0)
    h_limit: int = Field(ge=1, description="Points this chunk covers (it is fetched in pages).")
    pages: int = Field(default=1, ge=1)
    status: DataCollectionStatus = DataCollectionStatus.PENDING
    data_points_collected: int = Field(default=0, ge=0)
    dropped_values: int = Field(default=0, ge=0)
    duplicate_timestamps: int = Field(
        default=0,
        ge=0,
        description="Points merged into another with the same timestamp (the later one kept).",
    )
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: str | None = None


class TrainingMetrics(_Doc):
    """Backtest errors in original units (on the test origins), the same errors for the
    baselines, the rolling-origin ``backtest`` document with the verdict, and the prediction
    ``intervals`` with their empirical coverage."""

    model_config = ConfigDict(extra="allow")

    mae: float | None = None
    mse: float | None = None
    rmse: float | None = None
    r2: float | None = None
    smape: float | None = None
    mape: float | None = None
    mase: float | None = None
    theil_u2: float | None = None
    best_train_loss: float | None = None
    best_val_loss: float | None = None
    best_epoch: int | None = None
    epochs_trained: int | None = None
    skill: float | None = Field(
        default=None, description="1 - model MAE / best baseline MAE (positive: model is better)."
    )
    best_baseline: str | None = None
    baselines: dict[str, dict[str, Any]] = Field(default_factory=dict)
    per_step_mae: list[float | None] = Field(default_factory=list)
    per_step_rmse: list[float | None] = Field(default_factory=list)
    backtest: dict[str, Any] | None = Field(
        default=None,
        description="origins, stride, model/baselines errors, skipped baselines, skill by "
        "baseline, best forecaster and the verdict sentence.",
    )
    intervals: dict[str, Any] | None = Field(
        default=None, description="levels, method, calibration and empirical test coverage."
    )
    loss_history: dict[str, list[float | None]] = Field(default_factory=dict)


class PredictionConfig(_Doc):
    """Recurring forecasts for a completed job, and the outcome of the latest runs."""

    enabled: bool = False
    interval_seconds: int | None = Field(default=None, ge=1)
    entity_id: str | None = None
    entity_type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = Field(default=0, ge=0)
    disabled_reason: str | None = None


class TrainingJob(_Doc):
    """A training job, as stored in the ``training_jobs`` collection."""

    id: str = Field(default_factory=new_id)
    model_id: str
    status: TrainingStatus = TrainingStatus.PENDING
    last_n: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LAST_N,
        description="Points collected: as requested, or chosen from the data when planning.",
    )
    last_n_chosen: bool = Field(
        default=False, description="last_n was not given and was chosen from the data."
    )
    seasons: list[dict[str, Any]] = Field(
        default_factory=list, description="Seasonal periods detected in the training data."
    )
    lookback_window_used: int | None = Field(
        default=None, ge=1, description="The lookback the network was trained with."
    )
    network_inputs: dict[str, Any] | None = Field(
        default=None, description="How the network reads its window (anchor, recent steps)."
    )
    data_collection_jobs: list[DataCollectionJob] = Field(default_factory=list)
    total_data_points_requested: int = Field(default=0, ge=0)
    total_data_points_collected: int = Field(default=0, ge=0)
    metrics: TrainingMetrics | None = None
    model_artifact_id: str | None = None
    x_scaler_artifact_id: str | None = None
    y_scaler_artifact_id: str | None = None
    metadata_artifact_id: str | None = None
    sampling_interval_seconds: int | None = Field(default=None, ge=1)
    next_prediction_at: datetime | None = None
    prediction_config: PredictionConfig = Field(default_factory=PredictionConfig)
    previous_model_status: str | None = Field(
        default=None, description="The model's status before this job moved it to training."
    )
    error: str | None = None
    error_details: dict[str, Any] | None = None
    flow_run_id: str | None = None
    owner_host: str | None = Field(
        default=None, description="The host of the process running the job (its lease holder)."
    )
    owner_pid: int | None = Field(default=None, ge=0, description="That process's id.")
    lease_expires_at: datetime | None = Field(
        default=None,
        description="The running process renews this while it works; once it is older than "
        "the lease grace, the job is dead whatever the orchestrator says.",
    )
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    start_time: datetime | None = None
    end_time: datetime | None = None
    data_collection_start: datetime | None = None
    data_collection_end: datetime | None = None
    preprocessing_start: datetime | None = None
    preprocessing_end: datetime | None = None
    training_start: datetime | None = None
    training_end: datetime | None = None

    @property
    def artifact_ids(self) -> list[str]:
        ids = [
            self.model_artifact_id,
            self.x_scaler_artifact_id,
            self.y_scaler_artifact_id,
            self.metadata_artifact_id,
        ]
        return [i for i in ids if i]

    @property
    def progress_percent(self) -> float:
        if not self.total_data_points_requested:
            return 0.0
        return round(100.0 * self.total_data_points_collected / self.total_data_points_requested, 2)

    @property
    def total_duration_seconds(self) -> float | None:
        if self.start_time and self.end_time:
            return (self.end_time - self.start_time).total_seconds()
        return None

    @property
    def training_duration_seconds(self) -> float | None:
        if self.training_start and self.training_end:
            return (self.training_end - self.training_start).total_seconds()
        return None
