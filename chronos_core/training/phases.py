"""Moving a training job from phase to phase, noticing cancellation on the way."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from chronos_core.clock import utc_now
from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import Cancelled, Conflict
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]


def enter_phase(
    db: Db, job_id: str, target: TrainingStatus, expected: TrainingStatus, **fields: Any
) -> TrainingJob:
    """Move the job ``expected`` → ``target``; raise ``Cancelled`` if a cancel was requested.

    The move is a conditional update on the expected status, so a cancel request that lands
    between two phases is never overwritten.
    """
    jobs = TrainingJobRepository(db)
    try:
        return jobs.transition(job_id, target, expected, **fields)
    except Conflict:
        current = jobs.get(job_id)
        if current.status in (TrainingStatus.CANCEL_REQUESTED, TrainingStatus.CANCELLED):
            raise Cancelled(f"training job {job_id} was cancelled") from None
        raise


def raise_if_cancelled(db: Db, job_id: str) -> None:
    job = TrainingJobRepository(db).get(job_id)
    if job.status in (TrainingStatus.CANCEL_REQUESTED, TrainingStatus.CANCELLED):
        raise Cancelled(f"training job {job_id} was cancelled")


def close_phase(db: Db, job_id: str, field: str) -> None:
    """Stamp the end of a phase (while the job is still active)."""
    TrainingJobRepository(db).set_fields(job_id, {field: utc_now()})
