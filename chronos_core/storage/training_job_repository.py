"""The ``training_jobs`` collection: training runs, their collection chunks and forecast schedule.

Every status change is a ``find_one_and_update`` filtered on the expected current status (checked
against :mod:`chronos_core.domain.transitions` first), so two processes can never both move the
same job. "At most one active job per model" is enforced by the server through the partial
unique index ``one_active_job_per_model`` (see :mod:`chronos_core.storage.schema`): concurrent
inserts for one model cannot both succeed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from chronos_core.clock import as_utc, utc_now
from chronos_core.domain.enums import (
    ACTIVE_TRAINING_STATUSES,
    DataCollectionStatus,
    TrainingStatus,
)
from chronos_core.domain.training_job import DataCollectionJob, TrainingJob
from chronos_core.domain.transitions import check_training_transition, sources_for_training
from chronos_core.domain.validation import check_int
from chronos_core.errors import Conflict, NotFound
from chronos_core.storage.documents import (
    NO_ID,
    Repository,
    bson_datetime,
    entity_to_document,
    enum_values,
    update_in,
    validated_fields,
)
from chronos_core.storage.model_repository import DEFAULT_PAGE_SIZE, check_page
from chronos_core.storage.schema import ACTIVE_STATUS_VALUES, ONE_ACTIVE_JOB_INDEX, TRAINING_JOBS

_PROTECTED = frozenset({"_id", "id", "model_id", "status", "created_at", "updated_at"})
_CHUNK_PROTECTED = frozenset({"id", "index"})
UNFINISHED_CHUNK_STATUSES = (DataCollectionStatus.PENDING, DataCollectionStatus.IN_PROGRESS)
DUE_PREDICTIONS_LIMIT = 50

Statuses = TrainingStatus | Iterable[TrainingStatus]


@dataclass(frozen=True)
class DueJob:
    """A job whose recurring forecast is due: what a scheduler needs to claim it (its next
    slot, and its interval: the forecast interval, else the sampling interval)."""

    job_id: str
    due_at: datetime
    interval_seconds: int

    def as_params(self) -> dict[str, Any]:
        return asdict(self)


def _in(statuses: Statuses) -> dict[str, builtins.list[str]]:
    return {"$in": enum_values(TrainingStatus, statuses)}


class TrainingJobRepository(Repository[TrainingJob]):
    """Reads and writes :class:`~chronos_core.domain.training_job.TrainingJob` documents."""

    entity, what, collection = TrainingJob, "training job", TRAINING_JOBS

    def list_for_model(
        self,
        model_id: str,
        *,
        status: Statuses | None = None,
        skip: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> builtins.list[TrainingJob]:
        """The model's jobs, newest first."""
        check_page(skip, limit)
        cursor = self._collection.find(self._of_model(model_id, status), NO_ID)
        order = [("created_at", DESCENDING), ("id", DESCENDING)]
        return self._many(cursor.sort(order).skip(skip).limit(limit))

    def _of_model(self, model_id: str, status: Statuses | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {"model_id": self._id(model_id, "model")}
        if status is not None:
            query["status"] = _in(status)
        return query

    def list_by_status(
        self,
        status: Statuses,
        *,
        skip: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
        newest_first: bool = False,
    ) -> builtins.list[TrainingJob]:
        """Jobs in any of ``status``, oldest first (or newest first)."""
        check_page(skip, limit)
        order = DESCENDING if newest_first else ASCENDING
        cursor = self._collection.find({"status": _in(status)}, NO_ID)
        return self._many(
            cursor.sort([("created_at", order), ("id", order)]).skip(skip).limit(limit)
        )

    def find_active(self, model_id: str | None = None) -> builtins.list[TrainingJob]:
        """Every active job (pending, collecting, preprocessing, training, cancel requested)."""
        query: dict[str, Any] = {"status": {"$in": ACTIVE_STATUS_VALUES}}
        if model_id is not None:
            query["model_id"] = self._id(model_id, "model")
        return self._many(self._collection.find(query, NO_ID).sort("created_at", ASCENDING))

    def active_for_model(self, model_id: str) -> TrainingJob | None:
        active = self.find_active(model_id)
        return active[0] if active else None

    def find_due_predictions(
        self, now: datetime | None = None, *, limit: int = DUE_PREDICTIONS_LIMIT
    ) -> builtins.list[DueJob]:
        """Completed jobs with recurring forecasts enabled whose next run is due, earliest
        first: only what a scheduler needs to claim them (not the whole job document). A job
        with neither a forecast nor a sampling interval has no slots and is left out."""
        check_page(0, limit)
        query = {
            "prediction_config.enabled": True,
            "status": TrainingStatus.COMPLETED.value,
            "next_prediction_at": {"$lte": bson_datetime(now or utc_now())},
            "$or": [
                {"prediction_config.interval_seconds": {"$gt": 0}},
                {"sampling_interval_seconds": {"$gt": 0}},
            ],
        }
        fields = {
            "_id": False,
            "id": True,
            "next_prediction_at": True,
            "sampling_interval_seconds": True,
            "prediction_config.interval_seconds": True,
        }
        cursor = self._collection.find(query, fields).sort("next_prediction_at", ASCENDING)
        due = []
        for document in cursor.limit(limit):
            config = document.get("prediction_config") or {}
            interval = config.get("interval_seconds") or document["sampling_interval_seconds"]
            due.append(DueJob(document["id"], as_utc(document["next_prediction_at"]), interval))
        return due

    # --- writes ---

    def insert(self, job: TrainingJob) -> TrainingJob:
        """Store a new job; Conflict if its model already has an active one."""
        try:
            self._collection.insert_one(entity_to_document(job))
        except DuplicateKeyError as error:
            if ONE_ACTIVE_JOB_INDEX in str(error):
                active = self.active_for_model(job.model_id)
                which = f" {active.id} ({active.status.value})" if active else ""
                raise Conflict(
                    f"model {job.model_id} already has an active training job{which}; "
                    "wait for it to finish or cancel it first",
                    details={"active_job_id": active.id if active else None},
                ) from None
            raise Conflict(f"a training job with id {job.id} already exists") from None
        return job

    def transition(
        self,
        job_id: str,
        target: TrainingStatus,
        expected: Statuses | None = None,
        *,
        close_chunks: DataCollectionStatus | None = None,
        chunk_error: str | None = None,
        **fields: Any,
    ) -> TrainingJob:
        """Move the job from one of ``expected`` to ``target`` atomically, setting ``fields``.

        ``expected`` defaults to every status from which ``target`` is allowed. With
        ``close_chunks``, pending and in-progress chunks get that status (and ``chunk_error``) in
        the same update. Raises NotFound, IllegalTransition (the state machine forbids the move
        from the current status) or Conflict (the status is not one of ``expected``).
        """
        target = TrainingStatus(target)
        sources = sources_for_training(target) if expected is None else expected
        sources = [TrainingStatus(s) for s in enum_values(TrainingStatus, sources)]
        for source in sources:
            check_training_transition(source, target)
        changes = validated_fields(TrainingJob, fields, protected=_PROTECTED)
        now = utc_now()
        update_set: dict[str, Any] = {**changes, "status": target.value, "updated_at": now}
        array_filters = None
        if close_chunks is not None:
            prefix = "data_collection_jobs.$[open]"
            update_set[f"{prefix}.end_time"] = now
            if chunk_error is not None:
                update_set[f"{prefix}.error"] = chunk_error
            # The status goes last: SecantusDB re-evaluates array filters after each path it
            # applies, so once a chunk's status changed its other fields would be skipped.
            update_set[f"{prefix}.status"] = DataCollectionStatus(close_chunks).value
            array_filters = [{"open.status": {"$in": [s.value for s in UNFINISHED_CHUNK_STATUSES]}}]
        job = self._update(
            {"id": self._id(job_id), "status": _in(sources)},
            {"$set": update_set},
            array_filters=array_filters,
        )
        if job is not None:
            return job
        current = self.get(job_id)
        check_training_transition(current.status, target)
        expected_text = " or ".join(s.value for s in sources)
        raise Conflict(
            f"training job {job_id} is {current.status.value}, not {expected_text}; "
            f"it cannot be moved to {target.value} now"
        )

    def set_fields(
        self,
        job_id: str,
        fields: Mapping[str, Any],
        *,
        expected: Statuses | None = None,
    ) -> TrainingJob:
        """Set fields (dotted paths allowed, e.g. ``prediction_config.enabled``), not the status.

        With ``expected``, only while the job's status is one of those (Conflict otherwise).
        """
        changes = validated_fields(TrainingJob, fields, protected=_PROTECTED)
        query: dict[str, Any] = {"id": self._id(job_id)}
        if expected is not None:
            query["status"] = _in(expected)
        job = self._update(query, {"$set": {**changes, "updated_at": utc_now()}})
        if job is not None:
            return job
        current = self.get(job_id)
        raise Conflict(f"training job {job_id} is {current.status.value}; it cannot be changed now")

    def set_collection_plan(
        self, job_id: str, chunks: Sequence[DataCollectionJob], total_requested: int
    ) -> TrainingJob:
        """Replace the job's chunk list (while it is active) and reset the collected totals."""
        return self.set_fields(
            job_id,
            {
                "data_collection_jobs": list(chunks),
                "total_data_points_requested": check_int(total_requested, "total_requested", 0),
                "total_data_points_collected": 0,
            },
            expected=ACTIVE_TRAINING_STATUSES,
        )

    def update_chunk(
        self,
        job_id: str,
        chunk_id: str,
        *,
        expected_status: DataCollectionStatus | Iterable[DataCollectionStatus] | None = None,
        **fields: Any,
    ) -> TrainingJob:
        """Set fields of one chunk while the job is active (and the chunk is in
        ``expected_status``, if given)."""
        raw = validated_fields(DataCollectionJob, fields, protected=_CHUNK_PROTECTED)
        changes = {f"data_collection_jobs.$[c].{path}": value for path, value in raw.items()}
        match: dict[str, Any] = {"id": self._id(chunk_id, "chunk")}
        if expected_status is not None:
            match["status"] = {"$in": enum_values(DataCollectionStatus, expected_status)}
        return self._update_chunk(
            job_id, chunk_id, match, {"$set": {**changes, "updated_at": utc_now()}}
        )

    def add_collected_points(
        self, job_id: str, chunk_id: str, points: int, *, dropped: int = 0, duplicates: int = 0
    ) -> TrainingJob:
        """Atomically add ``points`` to the chunk's and the job's collected counts."""
        points = check_int(points, "points", 0)
        dropped = check_int(dropped, "dropped", 0)
        duplicates = check_int(duplicates, "duplicates", 0)
        update = {
            "$inc": {
                "data_collection_jobs.$[c].data_points_collected": points,
                "data_collection_jobs.$[c].dropped_values": dropped,
                "data_collection_jobs.$[c].duplicate_timestamps": duplicates,
                "total_data_points_collected": points,
            },
            "$set": {"updated_at": utc_now()},
        }
        return self._update_chunk(job_id, chunk_id, {"id": self._id(chunk_id, "chunk")}, update)

    def _update_chunk(
        self, job_id: str, chunk_id: str, match: dict[str, Any], update: dict[str, Any]
    ) -> TrainingJob:
        updated = self._update(
            {
                "id": self._id(job_id),
                "status": {"$in": ACTIVE_STATUS_VALUES},
                "data_collection_jobs": {"$elemMatch": match},
            },
            update,
            array_filters=[{"c.id": chunk_id}],
        )
        if updated is not None:
            return updated
        job = self.get(job_id)
        chunk = next((c for c in job.data_collection_jobs if c.id == chunk_id), None)
        if chunk is None:
            raise NotFound(f"training job {job_id} has no collection chunk {chunk_id}")
        if not job.status.is_active:
            raise Conflict(
                f"training job {job_id} is {job.status.value}; its chunks can no longer change"
            )
        raise Conflict(f"chunk {chunk_id} of training job {job_id} is {chunk.status.value}")

    def renew_lease(self, job_id: str, expires_at: datetime, *, owner_pid: int | None) -> bool:
        """Move the lease of an active job (held by ``owner_pid``) to ``expires_at``.

        A plain update of one field (the job document, with its chunks, is not read back and
        ``updated_at`` stays: a lease is not progress). False once the job is no longer active
        or another process holds it.
        """
        query: dict[str, Any] = {"id": self._id(job_id), "status": {"$in": ACTIVE_STATUS_VALUES}}
        if owner_pid is not None:
            query["owner_pid"] = owner_pid
        result = self._collection.update_one(
            query, {"$set": {"lease_expires_at": bson_datetime(expires_at)}}
        )
        return result.matched_count == 1

    def claim_prediction(
        self,
        job_id: str,
        expected_next_at: datetime | None,
        new_next_at: datetime,
        *,
        run_at: datetime | None = None,
    ) -> bool:
        """Move ``next_prediction_at`` from ``expected_next_at`` to ``new_next_at`` (atomic CAS),
        recording ``run_at`` as the run's ``prediction_config.last_run_at`` if given.

        ``True`` for exactly one of several schedulers racing for the same due run. A plain
        update, not a ``findAndModify``: the embedded server scans the whole collection for
        the latter (about 18 ms at 1,000 jobs, 80 ms at 5,000), and a sweep claims every job.
        """
        query = {
            "id": self._id(job_id),
            "prediction_config.enabled": True,
            "next_prediction_at": (
                None if expected_next_at is None else bson_datetime(expected_next_at)
            ),
        }
        fields = {"next_prediction_at": bson_datetime(new_next_at), "updated_at": utc_now()}
        if run_at is not None:
            fields["prediction_config.last_run_at"] = bson_datetime(run_at)
        return self._collection.update_one(query, {"$set": fields}).matched_count == 1

    def record_successes(self, job_ids: Iterable[str]) -> None:
        """Record that the runs last claimed on these jobs succeeded: ``last_success_at``
        becomes the ``last_run_at`` their claim wrote, the error and the failure count are
        cleared; one write per :data:`~chronos_core.storage.documents.IN_CHUNK` jobs (jobs
        that are gone are skipped)."""
        ids = [self._id(job_id) for job_id in job_ids]
        cleared = {
            "prediction_config.last_success_at": "$prediction_config.last_run_at",
            "prediction_config.last_error": None,
            "prediction_config.consecutive_failures": 0,
            "updated_at": utc_now(),
        }
        update_in(self._collection, "id", ids, [{"$set": cleared}])

    def delete_for_model(self, model_id: str) -> int:
        return self._collection.delete_many(self._of_model(model_id)).deleted_count
