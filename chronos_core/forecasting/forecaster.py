"""Compute a forecast: a completed job's network and scalers (from GridFS, through the model
cache) applied to the newest ``lookback_window`` points of its attribute in STH-Comet.

Every forecast is stored in the ``forecasts`` collection before anything is published, so a
publication failure never loses it. Nothing here unpickles anything: the network is a ``.keras``
archive loaded in safe mode, the scalers and metadata are JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.database import Database

from chronos_core.clock import as_utc, utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.forecast import (
    ForecastPoint,
    ForecastRecord,
    ForecastTrigger,
    Publication,
)
from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob
from chronos_core.domain.training_metadata import TrainingMetadata, TrainingMetadataError
from chronos_core.errors import ChronosError, Conflict, InsufficientData, InvalidInput, NotFound
from chronos_core.fiware.ngsi import format_datetime
from chronos_core.fiware.sth_comet import SthCometClient
from chronos_core.fiware.tenant import Tenant
from chronos_core.forecasting.clients import history_reader
from chronos_core.forecasting.errors import ArtifactsMissing, ArtifactsUnusable, StaleData
from chronos_core.forecasting.ld_publication import ld_forecast_entity_id
from chronos_core.forecasting.model_cache import (
    CacheKey,
    ForecastSpec,
    LoadedModel,
    ModelCache,
    SharedGraphs,
)
from chronos_core.forecasting.publication import forecast_entity_id
from chronos_core.ml import intervals as conformal
from chronos_core.ml import tf_runtime
from chronos_core.ml.inference import forecast as run_network
from chronos_core.ml.inference import network_window_shape
from chronos_core.ml.model_io import load_network
from chronos_core.ml.scalers import StandardScaler
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactIntegrityError, ArtifactStore
from chronos_core.storage.documents import find_in
from chronos_core.storage.forecast_repository import ForecastRepository
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.schema import ARTIFACT_FILES
from chronos_core.storage.training_job_repository import TrainingJobRepository

if TYPE_CHECKING:
    from chronos_core.ml.preprocessing import ForecastWindow

Db = Database[dict[str, Any]]

_ARTIFACT_FIELDS = (
    ("model", "model_artifact_id"),
    ("x_scaler", "x_scaler_artifact_id"),
    ("y_scaler", "y_scaler_artifact_id"),
    ("metadata", "metadata_artifact_id"),
)


@dataclass(frozen=True)
class ComputedForecast:
    """A stored forecast, and whether computing it loaded the model (a cache miss)."""

    record: ForecastRecord
    model_loaded: bool
    #: The model's own NGSI flavour (``ngsi_flavour``), None: the installation's.
    ngsi_flavour: str | None = None


# ---------------------------------------------------------------------------- which job


def resolve_training_job(
    db: Db, model_id: str, training_job_id: str | None = None
) -> tuple[Model, TrainingJob]:
    """The model and the completed job to forecast with (default: its latest completed job)."""
    model_id = parse_id(model_id, "model id")
    job_id = None if training_job_id is None else parse_id(training_job_id, "training job id")
    model = ModelRepository(db).get(model_id)
    jobs = TrainingJobRepository(db)
    if job_id is None:
        completed = jobs.list_for_model(model_id, status=TrainingStatus.COMPLETED, limit=1)
        if not completed:
            raise Conflict(
                f"model {model_id} has no completed training job to forecast with; train it first"
            )
        return model, completed[0]
    job = jobs.get(job_id)
    if job.model_id != model_id:
        raise InvalidInput(
            f"training job {job_id} belongs to model {job.model_id}, not to model {model_id}"
        )
    if job.status is not TrainingStatus.COMPLETED:
        raise Conflict(
            f"training job {job_id} is {job.status.value}; only a completed training job can "
            "forecast"
        )
    return model, job


# ---------------------------------------------------------------------------- artifacts


def artifact_key(db: Db, job: TrainingJob) -> CacheKey:
    """The model cache key of a job: its database and its four artifact ids."""
    missing = [kind for kind, name in _ARTIFACT_FIELDS if not getattr(job, name)]
    if missing:
        raise ArtifactsMissing(
            f"training job {job.id} has no stored {', '.join(missing)} artifact(s); retrain "
            "the model or use another training job"
        )
    return (db.name, *(str(getattr(job, name)) for _, name in _ARTIFACT_FIELDS))


def _artifact_ids(job: TrainingJob) -> dict[str, ObjectId]:
    ids: dict[str, ObjectId] = {}
    for kind, name in _ARTIFACT_FIELDS:
        value = getattr(job, name)
        try:
            ids[kind] = ObjectId(value)
        except (InvalidId, TypeError):
            raise ArtifactsMissing(
                f"training job {job.id} has an invalid {kind} artifact id {value!r}"
            ) from None
    return ids


def missing_artifacts(db: Db, jobs: Iterable[TrainingJob]) -> dict[str, list[str]]:
    """The kinds of artifact no longer in GridFS, by job id (jobs with all four are left out;
    :func:`~chronos_core.storage.documents.find_in` for all the jobs)."""
    ids = {job.id: _artifact_ids(job) for job in jobs}
    wanted = [oid for kinds in ids.values() for oid in kinds.values()]
    found = {d["_id"] for d in find_in(db[ARTIFACT_FILES], "_id", wanted, {"_id": 1})}
    gone = {job_id: [k for k, oid in ks.items() if oid not in found] for job_id, ks in ids.items()}
    return {job_id: kinds for job_id, kinds in gone.items() if kinds}


def check_artifacts_exist(db: Db, job: TrainingJob) -> None:
    """Raise :class:`ArtifactsMissing` unless all four artifacts of ``job`` are in GridFS."""
    gone = missing_artifacts(db, [job]).get(job.id)
    if gone:
        raise ArtifactsMissing(
            f"the stored model of training job {job.id} is gone: its {', '.join(gone)} "
            "artifact(s) were deleted; retrain the model or use another training job",
            details={"training_job_id": job.id, "missing": gone},
        )


def _download_all(db: Db, job: TrainingJob) -> dict[str, bytes]:
    """The job's four artifacts by kind, in one read."""
    ids = {kind: str(getattr(job, name)) for kind, name in _ARTIFACT_FIELDS}
    try:
        data = ArtifactStore(db).download_many(ids.values())
    except NotFound:
        gone = missing_artifacts(db, [job]).get(job.id) or list(ids)
        raise ArtifactsMissing(
            f"the stored model of training job {job.id} is gone: its {', '.join(gone)} "
            "artifact(s) were deleted; retrain the model or use another training job",
            details={"training_job_id": job.id, "missing": gone},
        ) from None
    except ArtifactIntegrityError as error:
        raise ArtifactsUnusable(f"training job {job.id}: {error}") from None
    return {kind: data[artifact_id] for kind, artifact_id in ids.items()}


def _json_artifact(data: bytes, job: TrainingJob, kind: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactsUnusable(
            f"training job {job.id}: the {kind} artifact is not valid JSON ({error})"
        ) from None


def spec_from_metadata(
    metadata: Any,
    job: TrainingJob,
    *,
    publish_next_value: bool = False,
    ngsi_flavour: str | None = None,
) -> ForecastSpec:
    """The forecast parameters recorded at training time (a :class:`TrainingMetadata`)."""
    try:
        meta = TrainingMetadata.parse(metadata)
    except TrainingMetadataError as error:
        raise ArtifactsUnusable(f"training job {job.id}: {error}") from None
    interval = meta.sampling_interval_seconds or job.sampling_interval_seconds
    if interval is None or interval < 1:
        raise ArtifactsUnusable(
            f"training job {job.id}: the metadata artifact has no valid sampling_interval_seconds "
            f"({interval!r})"
        )
    if meta.feature_columns != ["value"]:
        raise ArtifactsUnusable(
            f"training job {job.id}: only univariate models (feature_columns ['value']) can "
            f"forecast, got {meta.feature_columns!r}"
        )
    widths = conformal.from_metadata(meta.intervals)
    if any(len(width or ()) != meta.forecast_horizon for width in widths.values()):
        widths = {}  # half-widths for another horizon: forecast without intervals
    return ForecastSpec(
        lookback_window=meta.lookback_window,
        forecast_horizon=meta.forecast_horizon,
        sampling_interval_seconds=interval,
        feature=meta.feature,
        entity_type=meta.entity_type,
        entity_id=meta.entity_id,
        service=meta.service,
        service_path=meta.service_path,
        publish_next_value=publish_next_value,
        ngsi_flavour=ngsi_flavour,
        interval_half_widths=tuple(
            (level, tuple(width or ())) for level, width in sorted(widths.items())
        ),
        fill_season_steps=meta.anchor_season_steps,
    )


def load_model(
    db: Db, job: TrainingJob, key: CacheKey, settings: Settings, graphs: SharedGraphs
) -> LoadedModel:
    """Download a job's network, scalers and spec (safe mode, no pickle); only the network's
    weights are kept, run in the shared network of their architecture (``graphs``)."""
    raw = _download_all(db, job)
    # A model with a completed job cannot change (only drafts can), so its setting is cached.
    model = ModelRepository(db).find(job.model_id)
    spec = spec_from_metadata(
        _json_artifact(raw["metadata"], job, "metadata"),
        job,
        publish_next_value=bool(model is not None and model.publish_next_value),
        ngsi_flavour=None if model is None else model.ngsi_flavour,
    )
    try:
        x_scaler = StandardScaler.from_dict(_json_artifact(raw["x_scaler"], job, "x_scaler"))
        y_scaler = StandardScaler.from_dict(_json_artifact(raw["y_scaler"], job, "y_scaler"))
    except InvalidInput as error:
        raise ArtifactsUnusable(f"training job {job.id}: {error}") from None
    if tf_runtime.current_settings() is None:
        tf_runtime.configure(settings.tf_threads, settings.random_seed)
    try:
        network, weights_nbytes = graphs.load(raw["model"], load_network)
    except InvalidInput as error:
        raise ArtifactsUnusable(f"training job {job.id}: {error}") from None
    shape = network_window_shape(network)
    if shape != (spec.lookback_window, spec.forecast_horizon):
        raise ArtifactsUnusable(
            f"training job {job.id}: the network takes {shape[0]} points and forecasts "
            f"{shape[1]}, but its metadata says lookback_window {spec.lookback_window} and "
            f"forecast_horizon {spec.forecast_horizon}"
        )
    return LoadedModel(
        key=key,
        network=network,
        x_scaler=x_scaler,
        y_scaler=y_scaler,
        spec=spec,
        weights_nbytes=weights_nbytes,
    )


def loaded_model_for(
    db: Db, job: TrainingJob, cache: ModelCache, settings: Settings, *, verify_cached: bool = True
) -> tuple[LoadedModel, bool]:
    """The job's model from ``cache`` (loaded on a miss; on a hit checked to still exist unless
    ``verify_cached`` is off, where the caller checks later, see :func:`missing_artifacts`)."""
    key = artifact_key(db, job)
    if verify_cached and key in cache:
        try:
            check_artifacts_exist(db, job)
        except ArtifactsMissing:
            cache.discard(key)
            raise
    return cache.get_or_load(key, lambda: load_model(db, job, key, settings, cache.graphs))


# ---------------------------------------------------------------------------- data


def describe_source(spec: ForecastSpec) -> str:
    return (
        f"{spec.entity_type} {spec.entity_id}, attribute {spec.feature} "
        f"(service {spec.service}, path {spec.service_path})"
    )


def context_points_to_fetch(lookback_window: int) -> int:
    """Raw points read from STH-Comet: the window plus a margin for merged duplicates (and the
    points before a fillable outage)."""
    return lookback_window + max(2, lookback_window // 4)


def fetch_window(
    spec: ForecastSpec,
    settings: Settings,
    *,
    now: datetime | None = None,
    sth: SthCometClient | None = None,
) -> ForecastWindow:
    """The newest ``lookback_window`` regular points of the spec's attribute, short outages
    filled (see :func:`~chronos_core.ml.preprocessing.latest_window`).

    Raises :class:`InsufficientData` when too few recent points exist or an outage is too long
    to fill (saying from when forecasts resume) and :class:`StaleData` when the newest is older
    than ``CHRONOS_FORECAST_STALENESS_SECONDS`` (if set).
    """
    # Imported here: pandas is most of the import time of the sweep's flow-run process (a new
    # process every minute), which only finds the due jobs; the batches run in the workers.
    from chronos_core.ml.preprocessing import latest_window

    tenant = Tenant(spec.service, spec.service_path)
    client = sth or history_reader(settings)
    observations = client.fetch_last_n(
        tenant,
        spec.entity_type,
        spec.entity_id,
        spec.feature,
        context_points_to_fetch(spec.lookback_window),
    )
    where = describe_source(spec)
    if not observations:
        raise InsufficientData(
            f"STH-Comet has no data for {where}; the model needs the last "
            f"{spec.lookback_window} points",
            details={"required": spec.lookback_window, "found": 0},
        )
    try:
        window = latest_window(
            observations.to_pandas(),
            lookback_window=spec.lookback_window,
            sampling_interval_seconds=spec.sampling_interval_seconds,
            season_steps=spec.fill_season_steps,
        )
    except InsufficientData as error:
        raise InsufficientData(f"{where}: {error.message}", details=error.details) from None
    limit = settings.forecast_staleness_seconds
    if limit > 0:
        moment = as_utc(now or utc_now())
        last = window.last_timestamp.to_pydatetime()
        age = (moment - last).total_seconds()
        if age > limit:
            raise StaleData(
                f"the newest point of {where} is from {format_datetime(last)}, {int(age)} s "
                f"ago; forecasts need data newer than {limit} s "
                "(CHRONOS_FORECAST_STALENESS_SECONDS)",
                details={"last_observed_at": format_datetime(last), "age_seconds": int(age)},
            )
    return window


# ---------------------------------------------------------------------------- forecast


def compute_forecast(
    db: Db,
    job: TrainingJob,
    *,
    settings: Settings,
    cache: ModelCache,
    trigger: ForecastTrigger,
    scheduled_for: datetime | None = None,
    now: datetime | None = None,
    sth: SthCometClient | None = None,
    verify_cached: bool = True,
) -> ComputedForecast:
    """Forecast with ``job``'s network from the newest data and store the forecast
    (``verify_cached``: see :func:`loaded_model_for`)."""
    if job.status is not TrainingStatus.COMPLETED:
        raise Conflict(
            f"training job {job.id} is {job.status.value}; only a completed training job can "
            "forecast"
        )
    entry, loaded = loaded_model_for(db, job, cache, settings, verify_cached=verify_cached)
    spec = entry.spec
    window = fetch_window(spec, settings, now=now, sth=sth)
    values = run_network(entry.network, entry.x_scaler, entry.y_scaler, window.values)
    if not all(math.isfinite(float(v)) for v in values):
        raise ChronosError(
            f"training job {job.id}: the network produced non-finite values from the window "
            f"ending {format_datetime(window.last_timestamp.to_pydatetime())}"
        )
    targets = window.target_timestamps(spec.forecast_horizon)
    widths = dict(spec.interval_half_widths)
    bounds = conformal.bounds(values, widths) if widths else {}
    issued_at = utc_now()
    # The flavour's own entity id, so that publishing never has to change it.
    flavour = spec.ngsi_flavour or settings.ngsi_flavour
    entity_name = ld_forecast_entity_id if flavour == "ld" else forecast_entity_id
    try:
        entity_id: str | None = entity_name(spec.entity_type, spec.entity_id, spec.feature)
    except InvalidInput:
        entity_id = None  # reported when publishing
    record = ForecastRecord(
        model_id=job.model_id,
        training_job_id=job.id,
        trigger=trigger,
        scheduled_for=scheduled_for,
        issued_at=issued_at,
        service=spec.service,
        service_path=spec.service_path,
        entity_type=spec.entity_type,
        entity_id=spec.entity_id,
        feature=spec.feature,
        lookback_window=spec.lookback_window,
        forecast_horizon=spec.forecast_horizon,
        sampling_interval_seconds=spec.sampling_interval_seconds,
        last_observed_at=window.last_timestamp.to_pydatetime(),
        context_values=[float(v) for v in window.values],
        filled_inputs=list(window.filled_positions),
        points=[
            ForecastPoint(
                step=i + 1,
                value=float(v),
                target_timestamp=t.to_pydatetime(),
                intervals={name: float(bound[i]) for name, bound in bounds.items()},
            )
            for i, (v, t) in enumerate(zip(values, targets, strict=True))
        ],
        interval_levels=sorted(int(level) for level in widths),
        interval_method=conformal.METHOD if widths else None,
        publication=Publication(entity_id=entity_id, entity_type=settings.forecast_entity_type),
        publish_next_value=spec.publish_next_value,
        expires_at=ForecastRecord.expiry(issued_at, settings.forecast_retention_days),
    )
    ForecastRepository(db).insert(record)
    return ComputedForecast(record=record, model_loaded=loaded, ngsi_flavour=spec.ngsi_flavour)


def forecast_now(
    db: Db,
    model_id: str,
    training_job_id: str | None = None,
    *,
    settings: Settings,
    cache: ModelCache,
    now: datetime | None = None,
) -> ComputedForecast:
    """An on-demand forecast with the model's given (or latest completed) training job."""
    _, job = resolve_training_job(db, model_id, training_job_id)
    return compute_forecast(
        db, job, settings=settings, cache=cache, trigger=ForecastTrigger.ON_DEMAND, now=now
    )


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


def forecast_summary(record: ForecastRecord) -> dict[str, Any]:
    """A forecast as plain JSON values (what the ``forecast`` flow returns)."""
    publication = record.publication
    return {
        "forecast_id": record.id,
        "model_id": record.model_id,
        "training_job_id": record.training_job_id,
        "trigger": record.trigger.value,
        "scheduled_for": iso_or_none(record.scheduled_for),
        "issued_at": iso_or_none(record.issued_at),
        "source": {
            "service": record.service,
            "service_path": record.service_path,
            "entity_type": record.entity_type,
            "entity_id": record.entity_id,
            "feature": record.feature,
        },
        "lookback_window": record.lookback_window,
        "forecast_horizon": record.forecast_horizon,
        "sampling_interval_seconds": record.sampling_interval_seconds,
        "last_observed_at": iso_or_none(record.last_observed_at),
        "context_window": [
            {"timestamp": iso_or_none(point["timestamp"]), "value": point["value"]}
            for point in record.context_window()
        ],
        "filled_inputs": list(record.filled_inputs),
        "points": [
            {
                "step": p.step,
                "value": p.value,
                "target_timestamp": iso_or_none(p.target_timestamp),
                **p.intervals,
            }
            for p in record.points
        ],
        "interval_levels": list(record.interval_levels),
        "publication": {
            "status": publication.status.value,
            "entity_id": publication.entity_id,
            "entity_type": publication.entity_type,
            "attempts": publication.attempts,
            "published_at": iso_or_none(publication.published_at),
            "error": publication.error,
        },
    }
