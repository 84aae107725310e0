"""Moving a training job from phase to phase, noticing cancellation on the way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo.database import Database

from chronos_core.domain.enums import TrainingStatus
from chronos_core.domain.training_job import TrainingJob
from chronos_core.errors import Cancelled, Conflict, NotFound
from chronos_core.storage.schema import TRAINING_JOBS
from chronos_core.storage.training_job_repository import TrainingJobRepository

Db = Database[dict[str, Any]]
_STOPPING = (TrainingStatus.CANCEL_REQUESTED.value, TrainingStatus.CANCELLED.value)


def enter_phase(
    db: Db, job_id: str, target: TrainingStatus, expected: TrainingStatus, **fields: Any
) -> TrainingJob:
    """Move the job ``expected`` → ``target``; raise ``Cancelled`` if a cancel was requested.

    The move is a conditional update on the expected status, so a cancel request that lands
    between two phases is never overwritten. Entering the phase the job is already in returns
    the job unchanged (its phase start stays the first attempt's), so a step that failed after
    entering its phase can be retried.
    """
    jobs = TrainingJobRepository(db)
    try:
        return jobs.transition(job_id, target, expected, **fields)
    except Conflict:
        current = jobs.get(job_id)
        if current.status in (TrainingStatus.CANCEL_REQUESTED, TrainingStatus.CANCELLED):
            raise Cancelled(f"training job {job_id} was cancelled") from None
        if current.status is target:
            return current
        raise


def raise_if_cancelled(db: Db, job_id: str) -> None:
    if cancel_requested(db, job_id):
        raise Cancelled(f"training job {job_id} was cancelled")


def cancel_requested(db: Db, job_id: str) -> bool:
    """Whether the job should stop (cancel requested, or already cancelled).

    Reads the status field only: a job collecting a million points holds hundreds of chunk
    documents, and parsing them all on every check would cost more than the check is worth.
    """
    document = db[TRAINING_JOBS].find_one({"id": job_id}, {"_id": False, "status": True})
    if document is None:
        raise NotFound(f"training job {job_id} not found")
    return document.get("status") in _STOPPING


class CancelPoll:
    """A ``should_stop``/``should_cancel`` callable for long loops (pages, batches).

    The first call asks the database; later calls ask again only once ``interval_seconds`` have
    passed since the last question (or after :meth:`ask_next_time`), and answer the last known
    state in between. Once a cancel request was seen, it answers True without asking.
    """

    def __init__(
        self,
        db: Db,
        job_id: str,
        interval_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._job_id = job_id
        self._interval = interval_seconds
        self._clock = clock
        self._asked_at: float | None = None
        self.cancelled = False

    def ask_next_time(self) -> None:
        """Make the next call ask the database (e.g. at an epoch boundary)."""
        self._asked_at = None

    def __call__(self) -> bool:
        if self.cancelled:
            return True
        now = self._clock()
        if self._asked_at is None or now - self._asked_at >= self._interval:
            self._asked_at = now
            self.cancelled = cancel_requested(self._db, self._job_id)
        return self.cancelled
