"""Step 5, store: upload the four artifacts to GridFS, then complete the job: two steps,
:func:`upload_artifacts` and :func:`complete_training_job`, run in that order by
:func:`store_artifacts`.

Uploads happen only here, after everything else succeeded; the job is completed only after all
uploads; if an upload or the completion fails, the files this step uploaded are removed again, so
no orphan is left behind.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ArtifactType
from chronos_core.domain.training_metadata import METADATA_FORMAT_VERSION, TrainingMetadata
from chronos_core.ml import tf_runtime
from chronos_core.ml.model_io import KERAS_CONTENT_TYPE
from chronos_core.services.training_jobs import finish_job_completed
from chronos_core.settings import Settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from chronos_core.training.evaluation import LOSS_CURVE_FILE, TEST_FORECASTS_FILE
from chronos_core.training.fitting import NETWORK_FILE
from chronos_core.training.phases import raise_if_cancelled
from chronos_core.training.workspace import JobWorkspace

Db = Database[dict[str, Any]]
JSON_CONTENT_TYPE = "application/json"


def build_metadata(
    db: Db, job_id: str, workspace: JobWorkspace, settings: Settings
) -> TrainingMetadata:
    """Everything needed to use and audit the trained network (the metadata artifact)."""
    job = TrainingJobRepository(db).get(job_id)
    model = ModelRepository(db).get(job.model_id)
    prepared_meta = workspace.load_json("prepared")
    fit = workspace.load_json("fit")
    evaluation = workspace.load_json("evaluation")
    loss_png = workspace.load_bytes(LOSS_CURVE_FILE)
    test_png = workspace.load_bytes(TEST_FORECASTS_FILE)
    return TrainingMetadata(
        format_version=METADATA_FORMAT_VERSION,
        model_id=model.id,
        training_job_id=job.id,
        created_at=utc_now().isoformat(),
        lookback_window=prepared_meta["lookback_window"],
        forecast_horizon=model.forecast_horizon,
        seasons=prepared_meta.get("seasons", []),
        network_inputs=prepared_meta.get("network_inputs"),
        feature=model.feature,
        feature_columns=["value"],
        entity_type=model.entity_type,
        entity_id=model.entity_id,
        service=model.service,
        service_path=model.service_path,
        sampling_interval_seconds=prepared_meta["sampling_interval_seconds"],
        last_observed_timestamp=prepared_meta["last_observed_timestamp"],
        last_n=job.last_n,
        data_summary=prepared_meta["summary"],
        training_config=model.model_dump(
            mode="json",
            include={
                "model_type",
                "rnn_layers",
                "dense_layers",
                "batch_size",
                "epochs",
                "learning_rate",
                "validation_ratio",
                "test_ratio",
                "early_stopping_patience",
                "lookback_window",
                "forecast_horizon",
            },
        )
        | {"effective_patience": model.effective_patience},
        seed=settings.random_seed,
        last_n_chosen_from_data=job.last_n_chosen,
        metrics=workspace.load_json("metrics"),
        training_history=fit,
        evaluation=evaluation,
        intervals=evaluation.get("intervals"),
        library_versions=tf_runtime.library_versions(),
        plots={
            "loss_curve_png_base64": base64.b64encode(loss_png).decode("ascii"),
            "test_forecasts_png_base64": base64.b64encode(test_png).decode("ascii"),
        },
    )


def store_artifacts(
    db: Db, job_id: str, workspace: JobWorkspace, settings: Settings
) -> dict[str, str]:
    """Step 5: :func:`upload_artifacts`, then :func:`complete_training_job`; return the artifact
    ids by type. If completing the job fails, the uploaded files are removed again."""
    uploaded = upload_artifacts(db, job_id, workspace, settings)
    try:
        complete_training_job(db, job_id, workspace, uploaded)
    except BaseException:
        ArtifactStore(db).delete_many(uploaded.values())
        raise
    return uploaded


def upload_artifacts(
    db: Db, job_id: str, workspace: JobWorkspace, settings: Settings
) -> dict[str, str]:
    """Upload model, scalers and metadata; return the artifact ids by type.

    All or nothing: if one upload fails, the files already uploaded are removed again."""
    raise_if_cancelled(db, job_id)
    job = TrainingJobRepository(db).get(job_id)
    model_id = job.model_id
    prepared_meta = workspace.load_json("prepared")
    metadata = build_metadata(db, job_id, workspace, settings)
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    files: list[tuple[ArtifactType, str, bytes, str]] = [
        (ArtifactType.MODEL, "model.keras", workspace.load_bytes(NETWORK_FILE), KERAS_CONTENT_TYPE),
        (
            ArtifactType.X_SCALER,
            "x_scaler.json",
            _json(prepared_meta["x_scaler"]),
            JSON_CONTENT_TYPE,
        ),
        (
            ArtifactType.Y_SCALER,
            "y_scaler.json",
            _json(prepared_meta["y_scaler"]),
            JSON_CONTENT_TYPE,
        ),
        (ArtifactType.METADATA, "metadata.json", _json(metadata.to_json()), JSON_CONTENT_TYPE),
    ]
    store = ArtifactStore(db)
    uploaded: dict[str, str] = {}
    try:
        for kind, name, data, content_type in files:
            uploaded[kind.value] = store.upload(
                data,
                f"{model_id}_{job_id}_{stamp}_{name}",
                model_id=model_id,
                training_job_id=job_id,
                artifact_type=kind,
                content_type=content_type,
                extra={"format_version": METADATA_FORMAT_VERSION},
            )
    except BaseException:
        store.delete_many(uploaded.values())
        raise
    return uploaded


def complete_training_job(
    db: Db, job_id: str, workspace: JobWorkspace, artifact_ids: dict[str, str]
) -> None:
    """Complete the job with its metrics and all its artifacts (and mark the model ``trained``).

    Runs only after every upload succeeded; it removes nothing itself, the caller owns the files."""
    prepared_meta = workspace.load_json("prepared")
    finish_job_completed(
        db,
        job_id,
        metrics=workspace.load_json("metrics"),
        artifact_ids=artifact_ids,
        sampling_interval_seconds=int(prepared_meta["sampling_interval_seconds"]),
    )


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False, default=str).encode()
