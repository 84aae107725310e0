"""The training-job lifecycle: start, finish, cancel, delete and reconcile jobs.

These functions keep the ``models`` and ``training_jobs`` collections consistent with each other
(a model is ``training`` exactly while one of its jobs is active) and clean up the artifacts of
runs that did not complete. They know nothing about Prefect: the flow layer calls them and
injects what they need (e.g. whether a flow run is still alive).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import (
    ArtifactType,
    DataCollectionStatus,
    ModelStatus,
    TrainingStatus,
)
from chronos_core.domain.identifiers import parse_id
from chronos_core.domain.model import Model
from chronos_core.domain.training_job import TrainingJob, TrainingMetrics
from chronos_core.errors import Cancelled, Conflict, InvalidInput, NotFound
from chronos_core.settings import Settings, get_settings
from chronos_core.storage.artifact_store import ArtifactStore
from chronos_core.storage.model_repository import ModelRepository
from chronos_core.storage.training_job_repository import TrainingJobRepository
from chronos_core.training.lease import lease_expired, lease_fields

log = logging.getLogger(__name__)

Db = Database[dict[str, Any]]
CANCELLED_BY_USER = "Cancelled by user request"
_PHASES = (
    ("data_collection_start", "data_collection_end"),
    ("preprocessing_start", "preprocessing_end"),
    ("training_start", "training_end"),
)
_ARTIFACT_FIELDS = {
    ArtifactType.MODEL: "model_artifact_id",
    ArtifactType.X_SCALER: "x_scaler_artifact_id",
    ArtifactType.Y_SCALER: "y_scaler_artifact_id",
    ArtifactType.METADATA: "metadata_artifact_id",
}
_MAX_ATTEMPTS = 5


def _check_last_n(last_n: object, settings: Settings) -> int | None:
    if last_n is None:
        return None
    if (
        isinstance(last_n, bool)
        or not isinstance(last_n, int)
        or not 1 <= last_n <= settings.max_last_n
    ):
        raise InvalidInput(
            f"last_n must be an integer between 1 and {settings.max_last_n} data points, "
            f"got {last_n!r}"
        )
    return last_n


def start_training_job(
    db: Db,
    model_id: str,
    last_n: int | None,
    flow_run_id: str | None = None,
    settings: Settings | None = None,
    *,
    with_lease: bool = False,
) -> TrainingJob:
    """Create a pending job for the model's latest ``last_n`` points and mark the model training.

    ``last_n`` None: chosen from the data when the collection is planned (see
    :func:`chronos_core.ml.window_choice.default_last_n`).

    Conflict if the model already has an active job (or is being moved by another process); an
    active job whose lease expired beyond the grace is ended failed first (its process is gone).
    The model's previous status is kept on the job to restore it if the run does not complete.
    ``with_lease``: this process holds the job's lease (and must keep renewing it).
    """
    settings = settings or get_settings()
    model_id = parse_id(model_id, "model id")
    last_n = _check_last_n(last_n, settings)
    models = ModelRepository(db)
    jobs = TrainingJobRepository(db)
    model = models.get(model_id)
    active = jobs.active_for_model(model_id)
    if active is not None and lease_expired(
        active, utc_now(), settings.training_lease_grace_seconds
    ):
        end_lost_job(db, active, "lease_expired")
        model = models.get(model_id)
    _refuse_if_active(jobs, model_id)
    try:
        moved = models.transition(
            model_id, [ModelStatus.DRAFT, ModelStatus.TRAINED], ModelStatus.TRAINING
        )
    except Conflict:
        _refuse_if_active(jobs, model_id)
        raise
    now = utc_now()
    job = TrainingJob(
        model_id=model_id,
        last_n=last_n,
        flow_run_id=flow_run_id,
        previous_model_status=model.status.value,
        start_time=now,
        created_at=now,
        updated_at=now,
        **(lease_fields(settings.training_lease_seconds, now) if with_lease else {}),
    )
    try:
        return jobs.insert(job)
    except BaseException:
        _restore_model_status(models, jobs, moved, job)
        raise


def _refuse_if_active(jobs: TrainingJobRepository, model_id: str) -> None:
    active = jobs.active_for_model(model_id)
    if active is not None:
        raise Conflict(
            f"model {model_id} already has an active training job {active.id} "
            f"({active.status.value}); wait for it to finish or cancel it first",
            details={"active_job_id": active.id},
        )


def finish_job_completed(
    db: Db,
    job_id: str,
    *,
    metrics: TrainingMetrics | Mapping[str, Any],
    artifact_ids: Mapping[ArtifactType, str] | Mapping[str, str],
    sampling_interval_seconds: int | None = None,
    now: datetime | None = None,
) -> TrainingJob:
    """Mark a training job completed with its metrics and artifacts; the model becomes trained.

    If the job was asked to stop meanwhile, it ends cancelled instead (its artifacts are
    removed) and :class:`~chronos_core.errors.Cancelled` is raised. If it already ended failed or
    cancelled, the given artifacts are removed and the Conflict is raised.
    """
    job_id = parse_id(job_id, "training job id")
    jobs = TrainingJobRepository(db)
    now = now or utc_now()
    fields: dict[str, Any] = {
        "metrics": metrics,
        "end_time": now,
        "training_end": now,
        "error": None,
        "error_details": None,
    }
    for kind, artifact_id in artifact_ids.items():
        fields[_ARTIFACT_FIELDS[ArtifactType(kind)]] = artifact_id
    if sampling_interval_seconds is not None:
        fields["sampling_interval_seconds"] = sampling_interval_seconds
    try:
        job = jobs.transition(job_id, TrainingStatus.COMPLETED, TrainingStatus.TRAINING, **fields)
    except Conflict:
        current = jobs.get(job_id)
        if current.status is TrainingStatus.CANCEL_REQUESTED:
            finish_job_cancelled(db, job_id, now=now)
            raise Cancelled(f"training job {job_id} was cancelled before it completed") from None
        if current.status in (TrainingStatus.FAILED, TrainingStatus.CANCELLED):
            # Ended meanwhile (e.g. declared dead): the files just written belong to nothing.
            ArtifactStore(db).delete_many(artifact_ids.values())
        raise
    models = ModelRepository(db)
    try:
        models.transition(
            job.model_id,
            ModelStatus.TRAINING,
            ModelStatus.TRAINED,
            has_successful_training=True,
        )
    except NotFound:
        log.warning("model %s of completed training job %s no longer exists", job.model_id, job_id)
    except Conflict:
        models.set_fields(job.model_id, has_successful_training=True)
    return job


def finish_job_failed(
    db: Db,
    job_id: str,
    error: str,
    details: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> TrainingJob:
    """End an active job as failed: unfinished chunks fail, open phases close, the job's
    partial artifacts are removed and the model gets its status back.

    A job that already ended is returned unchanged (its model is still restored if needed).
    """
    if not isinstance(error, str) or not error.strip():
        raise InvalidInput("a failed training job needs an error message")
    return _finish(
        db,
        job_id,
        TrainingStatus.FAILED,
        DataCollectionStatus.FAILED,
        error=error,
        details=dict(details or {}),
        now=now,
    )


def finish_job_cancelled(
    db: Db, job_id: str, reason: str = CANCELLED_BY_USER, *, now: datetime | None = None
) -> TrainingJob:
    """End an active job as cancelled (same clean-up as :func:`finish_job_failed`)."""
    return _finish(
        db,
        job_id,
        TrainingStatus.CANCELLED,
        DataCollectionStatus.CANCELLED,
        error=reason,
        details=None,
        now=now,
    )


def _finish(
    db: Db,
    job_id: str,
    target: TrainingStatus,
    chunk_status: DataCollectionStatus,
    *,
    error: str,
    details: dict[str, Any] | None,
    now: datetime | None,
) -> TrainingJob:
    job_id = parse_id(job_id, "training job id")
    jobs = TrainingJobRepository(db)
    models = ModelRepository(db)
    for _ in range(_MAX_ATTEMPTS):
        job = jobs.get(job_id)
        if job.status.is_terminal:
            _restore_model_for(models, jobs, job)
            return job
        moment = now or utc_now()
        fields: dict[str, Any] = {"end_time": moment, "error": error}
        if details is not None:
            fields["error_details"] = details
        for start, end in _PHASES:
            if getattr(job, start) is not None and getattr(job, end) is None:
                fields[end] = moment
        try:
            finished = jobs.transition(
                job_id,
                target,
                job.status,
                close_chunks=chunk_status,
                chunk_error=error,
                **fields,
            )
        except Conflict:
            continue  # the job moved meanwhile (e.g. to cancel_requested): read it again
        ArtifactStore(db).delete_for_job(job_id)
        _restore_model_for(models, jobs, finished)
        return finished
    raise Conflict(f"training job {job_id} kept changing; could not mark it {target.value}")


def _restore_model_for(
    models: ModelRepository, jobs: TrainingJobRepository, job: TrainingJob
) -> None:
    model = models.find(job.model_id)
    if model is not None:
        _restore_model_status(models, jobs, model, job)


def _restore_model_status(
    models: ModelRepository, jobs: TrainingJobRepository, model: Model, job: TrainingJob
) -> None:
    """Give a model in ``training`` its status back once none of its jobs is active.

    The job remembers the status it found (``previous_model_status``); the model's trained flag
    has the last word, since a completed job may have been deleted while this one ran.
    """
    if model.status is not ModelStatus.TRAINING or jobs.active_for_model(model.id) is not None:
        return
    previous = job.previous_model_status or ModelStatus.DRAFT.value
    target = ModelStatus.TRAINED if model.has_successful_training else ModelStatus.DRAFT
    if target.value != previous:
        log.info("model %s returns to %s (it was %s)", model.id, target.value, previous)
    with contextlib.suppress(Conflict, NotFound):  # restored (or deleted) by someone else
        models.transition(model.id, ModelStatus.TRAINING, target)


def request_cancel(db: Db, job_id: str) -> TrainingJob:
    """Ask a running job to stop (the run ends it as cancelled at its next check).

    Asking again is harmless; a job that already ended gives a Conflict.
    """
    job_id = parse_id(job_id, "training job id")
    jobs = TrainingJobRepository(db)
    for _ in range(_MAX_ATTEMPTS):
        job = jobs.get(job_id)
        if job.status is TrainingStatus.CANCEL_REQUESTED:
            return job
        if job.status.is_terminal:
            raise Conflict(
                f"training job {job_id} already ended ({job.status.value}); there is nothing "
                "to cancel"
            )
        try:
            return jobs.transition(job_id, TrainingStatus.CANCEL_REQUESTED, job.status)
        except Conflict:
            continue
    raise Conflict(f"training job {job_id} kept changing; could not request its cancellation")


def reconcile_dead_jobs(
    db: Db,
    is_run_alive: Callable[[str | None], bool],
    now: datetime | None = None,
    *,
    grace_seconds: float = 0.0,
    lease_grace_seconds: float | None = None,
) -> list[str]:
    """End every active job whose run is gone; returns their ids.

    A job whose lease expired more than ``lease_grace_seconds`` ago (default
    ``CHRONOS_TRAINING_LEASE_GRACE_SECONDS``) is dead whatever the orchestrator says: its process
    stopped renewing it. A job with a current lease is alive. For a job without a lease,
    ``is_run_alive(flow_run_id)`` answers whether the run executing it still exists (it receives
    ``None`` for a job that never recorded one), and jobs updated within ``grace_seconds`` of
    ``now`` are left alone. A dead job that was asked to stop ends cancelled; any other ends
    failed with the reason; either way its partial artifacts go and its model is restored.
    """
    now = now or utc_now()
    if lease_grace_seconds is None:
        lease_grace_seconds = get_settings().training_lease_grace_seconds
    jobs = TrainingJobRepository(db)
    ended: list[str] = []
    for job in jobs.find_active():
        if lease_expired(job, now, lease_grace_seconds):
            end_lost_job(db, job, "lease_expired", now=now)
            ended.append(job.id)
            continue
        if job.lease_expires_at is not None and job.lease_expires_at >= now:
            continue  # its process renewed the lease lately: it is working
        if job.updated_at > now - timedelta(seconds=grace_seconds):
            continue
        if is_run_alive(job.flow_run_id):
            continue
        end_lost_job(db, job, "run_lost", now=now)
        ended.append(job.id)
    _restore_orphaned_models(db, now - timedelta(seconds=lease_grace_seconds + ORPHAN_MIN_AGE))
    return ended


#: A model ``training`` without any active job is restored only once it has been so for longer
#: than the lease grace plus this (a new job is inserted right after its model moved).
ORPHAN_MIN_AGE = 60.0


def _restore_orphaned_models(db: Db, changed_before: datetime) -> list[str]:
    """Give models stuck in ``training`` with no active job their status back (the job was lost,
    e.g. a database killed outright before it stored the new job); returns their ids."""
    models = ModelRepository(db)
    jobs = TrainingJobRepository(db)
    restored: list[str] = []
    for model in models.list(status=ModelStatus.TRAINING, limit=_ORPHAN_SCAN_LIMIT):
        if model.updated_at >= changed_before or jobs.active_for_model(model.id) is not None:
            continue
        target = ModelStatus.TRAINED if model.has_successful_training else ModelStatus.DRAFT
        with contextlib.suppress(Conflict, NotFound):
            models.transition(model.id, ModelStatus.TRAINING, target)
            log.warning("model %s was training without a job; it returns to %s", model.id, target)
            restored.append(model.id)
    return restored


_ORPHAN_SCAN_LIMIT = 500


def end_lost_job(
    db: Db, job: TrainingJob, reason: str, *, now: datetime | None = None
) -> TrainingJob:
    """End a job whose process is gone: cancelled if that was asked, failed otherwise.

    ``reason``: ``lease_expired``, ``run_lost`` (Prefect shows no live run) or
    ``declared_dead`` (an operator said so: ``chronos jobs reconcile --dead``).
    """
    if job.status is TrainingStatus.CANCEL_REQUESTED:
        return finish_job_cancelled(db, job.id, now=now)
    run = job.flow_run_id or "none recorded"
    if reason == "declared_dead":
        message = (
            f"the training run stopped unexpectedly while {job.status.value} "
            "(declared dead with chronos jobs reconcile --dead)"
        )
    elif reason == "lease_expired":
        owner = f"process {job.owner_pid} on {job.owner_host}" if job.owner_pid else "its process"
        expired = job.lease_expires_at.isoformat() if job.lease_expires_at else "?"
        message = (
            f"the training run stopped unexpectedly while {job.status.value}: {owner} stopped "
            f"renewing the job's lease (expired {expired}; flow run {run})"
        )
    else:
        message = (
            f"the training run stopped unexpectedly while {job.status.value} "
            f"(flow run {run} is no longer running)"
        )
    return finish_job_failed(
        db,
        job.id,
        message,
        {
            "reason": reason,
            "flow_run_id": job.flow_run_id,
            "owner_host": job.owner_host,
            "owner_pid": job.owner_pid,
        },
        now=now,
    )
