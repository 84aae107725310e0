"""Chronos configuration, read from ``CHRONOS_*`` environment variables and an optional ``.env``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chronos_core import runtime


def _default_data_dir() -> Path:
    return Path.home() / ".chronos"


class Settings(BaseSettings):
    """Every setting Chronos reads; secrets are ``SecretStr``, so never shown in logs or reprs."""

    model_config = SettingsConfigDict(
        env_prefix="CHRONOS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage ---
    mongodb_uri: SecretStr | None = Field(
        default=None,
        description="MongoDB connection URI. Unset: Chronos starts or reuses its embedded server.",
    )
    mongodb_database: str = Field(default="chronos", min_length=1, max_length=63)
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded database and local files live.",
    )
    embedded_port: int = Field(
        default=27027, ge=0, le=65535, description="Port of the embedded database (0: any free)."
    )

    # --- FIWARE ---
    sth_url: str = "http://127.0.0.1:8666"
    orion_url: str = "http://127.0.0.1:1026"
    iot_agent_url: str = "http://127.0.0.1:4041"
    fiware_service: str = "smart"
    fiware_servicepath: str = "/"
    fiware_auth_token: SecretStr | None = Field(
        default=None, description="Optional X-Auth-Token sent to every FIWARE service."
    )
    sth_max_page_size: int = Field(default=100, ge=1, le=10_000)
    # --- NGSI-LD (see docs/ngsi-ld.md) ---
    ngsi_flavour: Literal["v2", "ld"] = Field(
        default="v2",
        description="NGSI flavour of this installation: v2 (Orion + STH-Comet) or ld (an NGSI-LD "
        "broker + the NGSI-LD temporal API). A model may override it for its publication.",
    )
    orion_ld_url: str = Field(
        default="http://127.0.0.1:1026", description="NGSI-LD context broker (Orion-LD)."
    )
    ngsi_ld_temporal_url: str | None = Field(
        default=None,
        description="NGSI-LD temporal API (e.g. Mintaka) for history reads (default: "
        "CHRONOS_ORION_LD_URL; Orion-LD itself answers 501 there).",
    )
    ngsi_ld_context_url: str | None = Field(
        default=None,
        description="The @context URL sent with every NGSI-LD request (unset: core context only).",
    )
    ngsi_ld_context_in_body: bool = Field(
        default=False,
        description="Send the @context in an application/ld+json body instead of a Link header.",
    )
    ngsi_ld_temporal_page_size: int = Field(
        default=1000, ge=1, le=100_000, description="Instances asked per temporal API page."
    )
    http_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    http_retries: int = Field(default=3, ge=0, le=10)
    http_backoff_seconds: float = Field(default=0.5, ge=0, le=60)

    # --- training ---
    collection_pages_per_chunk: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="STH pages grouped into one collection chunk (more when a job would "
        "otherwise have over 100 chunks).",
    )
    collection_concurrency: int = Field(default=4, ge=1, le=64)
    max_last_n: int = Field(default=1_000_000, ge=1)
    random_seed: int = 42
    tf_threads: int = Field(
        default=0, ge=0, description="TensorFlow thread count (0: machine cores)."
    )
    backtest_max_origins: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Most test origins the rolling-origin backtest scores (every stride-th test "
        "window, the same origins for the model and every baseline).",
    )
    interval_levels: list[int] = Field(
        default_factory=lambda: [80, 95],
        description="Prediction-interval levels in percent, as a JSON list (each forecast point "
        "gets lower<L>/upper<L>).",
    )
    training_lease_seconds: float = Field(
        default=60.0,
        ge=0.5,
        le=3600,
        description="How long a training job's lease lasts; the running process renews it "
        "every third of that (see docs/operations.md).",
    )
    training_lease_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86_400,
        description="How long after its lease expired a training job is ended as dead.",
    )

    # --- forecasting ---
    forecast_entity_type: str = "Forecast"
    forecast_legacy_attribute_names: bool = Field(
        default=True,
        description="NGSI v2 forecast entities keep generatedAt next to its Smart Data Models "
        "name dateIssued (false: dateIssued only).",
    )
    forecast_staleness_seconds: int = Field(
        default=0,
        ge=0,
        description="Refuse to forecast from data older than this many seconds (0: no limit).",
    )
    min_prediction_interval_seconds: int = Field(default=60, ge=1)
    forecast_concurrency: int = Field(default=4, ge=1, le=64)
    forecast_retention_days: int = Field(default=30, ge=1)
    model_cache_size: int = Field(
        default=20_000, ge=1, description="Most models kept loaded per process (LRU)."
    )
    model_cache_mb: int = Field(
        default=512,
        ge=1,
        description="Memory bound of the loaded models' weights per process, in MiB (LRU).",
    )
    forecast_executor: Literal["auto", "workers", "flow"] = Field(
        default="auto",
        description="Where a sweep runs its batches: `workers` (Prefect task workers started by "
        "`chronos serve` or `python -m deployments.forecast_worker`, which keep the models "
        "loaded), `flow` (in the sweep's own run) or `auto` (workers when one is running).",
    )
    forecast_worker_wait_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="How long a sweep waits for a forecast worker to finish a batch; the jobs "
        "of a batch no worker took stay due.",
    )
    forecast_publication_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Extra publication attempts (Prefect task retries) after the HTTP retries.",
    )
    forecast_publication_retry_delay_seconds: float = Field(
        default=5.0, ge=0, le=600, description="Delay between publication attempts."
    )
    forecast_max_backoff_seconds: int = Field(
        default=86_400,
        ge=1,
        description="Longest delay between recurring forecasts of a job that keeps failing.",
    )
    forecast_history_subscription: bool = Field(
        default=True,
        description="Create an Orion subscription that stores every published forecast in "
        "STH-Comet.",
    )
    sth_notification_url: str | None = Field(
        default=None,
        description="STH-Comet's URL as Orion reaches it, for that subscription (default: "
        "CHRONOS_STH_URL).",
    )

    # --- Prefect ---
    fiware_concurrency_limit: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="Slots of the Prefect global limits `chronos-sth-comet` and `chronos-orion` "
        "that `chronos serve` creates: collection chunks and forecast batches talking to each "
        "service at once, across all runs (0: no limit).",
    )
    fiware_rate_limit_per_second: float = Field(
        default=0.0,
        ge=0,
        le=10_000,
        description="Requests per second to each of STH-Comet and Orion by forecast batches, "
        "as Prefect rate limits `chronos-<service>-rate` created by `chronos serve` (0: none).",
    )

    @field_validator("interval_levels")
    @classmethod
    def _interval_levels(cls, value: list[int]) -> list[int]:
        if not value or len(set(value)) != len(value) or not all(1 <= v <= 99 for v in value):
            raise ValueError("interval levels must be distinct integers between 1 and 99")
        return sorted(value)

    @field_validator(
        "sth_url",
        "orion_url",
        "iot_agent_url",
        "orion_ld_url",
        "sth_notification_url",
        "ngsi_ld_temporal_url",
        "ngsi_ld_context_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("fiware_service")
    @classmethod
    def _service_is_a_tenant_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{1,50}", value):
            raise ValueError("a FIWARE service is 1-50 lowercase letters, digits or underscores")
        return value

    @field_validator("fiware_servicepath")
    @classmethod
    def _servicepath_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("a FIWARE service path starts with '/'")
        return value

    @property
    def uses_embedded_database(self) -> bool:
        return self.mongodb_uri is None


class _ProcessSettings:
    """``get_settings()``: the settings the process's runtime holds, read once;
    ``get_settings.cache_clear()`` reads the environment again on the next call."""

    def __call__(self) -> Settings:
        settings: Settings = runtime.current().part("settings", Settings)
        return settings

    def cache_clear(self) -> None:
        runtime.current().settings = None


get_settings = _ProcessSettings()
