"""The ``forecasts`` collection: every forecast Chronos computed, and its publication.

A scheduled forecast is unique per (training job, slot), enforced by the partial unique index
``one_forecast_per_slot``: a second insert for the same slot fails however many schedulers race.
Documents expire at their ``expires_at`` (TTL index; :meth:`ForecastRepository.delete_expired`
does the same work on servers without a TTL monitor).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chronos_core.clock import utc_now
from chronos_core.domain.forecast import ForecastRecord, Publication, PublicationStatus
from chronos_core.errors import Conflict, DuplicateForecast, NotFound
from chronos_core.storage.documents import (
    NO_ID,
    Repository,
    bson_datetime,
    entity_to_document,
    require_id,
    to_bson,
    update_in,
)
from chronos_core.storage.model_repository import DEFAULT_PAGE_SIZE, check_page
from chronos_core.storage.schema import FORECASTS, ONE_FORECAST_PER_SLOT_INDEX


class ForecastRepository(Repository[ForecastRecord]):
    """Reads and writes :class:`~chronos_core.domain.forecast.ForecastRecord` documents."""

    entity = ForecastRecord
    what = "forecast"
    collection = FORECASTS
    missing_hint = " (it may have expired)"

    def list_for_model(
        self,
        model_id: str,
        *,
        training_job_id: str | None = None,
        skip: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> builtins.list[ForecastRecord]:
        """The model's forecasts (optionally of one training job), newest first."""
        check_page(skip, limit)
        query: dict[str, Any] = {"model_id": require_id(model_id, "model id")}
        if training_job_id is not None:
            query["training_job_id"] = require_id(training_job_id, "training job id")
        cursor = (
            self._collection.find(query, NO_ID)
            .sort([("issued_at", DESCENDING), ("id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [self._entity(document) for document in cursor]

    def count(self, query: Mapping[str, Any] | None = None) -> int:
        return self._collection.count_documents(to_bson(dict(query or {})))

    def count_for_slot(self, training_job_id: str, scheduled_for: datetime) -> int:
        return self._collection.count_documents(
            {
                "training_job_id": require_id(training_job_id, "training job id"),
                "trigger": "schedule",
                "scheduled_for": bson_datetime(scheduled_for),
            }
        )

    # --- writes ---

    def insert(self, record: ForecastRecord) -> ForecastRecord:
        """Store a new forecast; ``DuplicateForecast`` if its job's slot already has one."""
        try:
            self._collection.insert_one(entity_to_document(record))
        except DuplicateKeyError as error:
            if ONE_FORECAST_PER_SLOT_INDEX in str(error):
                raise DuplicateForecast(
                    f"training job {record.training_job_id} already has a forecast for the slot "
                    f"{record.scheduled_for}",
                    details={"training_job_id": record.training_job_id},
                ) from None
            raise Conflict(f"a forecast with id {record.id} already exists") from None
        return record

    def update_publication(
        self, record: ForecastRecord, publication: Publication, *, count_attempt: bool = True
    ) -> ForecastRecord:
        """Replace ``record``'s publication state (adding one attempt unless ``count_attempt``
        is off); returns the record as updated."""
        fields = to_bson(publication.model_dump(exclude={"attempts"}))
        update: dict[str, Any] = {"$set": {f"publication.{k}": v for k, v in fields.items()}}
        if count_attempt:
            update["$inc"] = {"publication.attempts": 1}
        result = self._collection.update_one({"id": require_id(record.id, "forecast id")}, update)
        if result.matched_count == 0:
            raise NotFound(f"forecast {record.id} not found (it may have expired)")
        attempts = record.publication.attempts + (1 if count_attempt else 0)
        return record.model_copy(
            update={"publication": publication.model_copy(update={"attempts": attempts})}
        )

    def mark_published(self, forecast_ids: Iterable[str], published_at: datetime) -> None:
        """Record that the forecasts of ``forecast_ids`` were published (one more attempt each),
        keeping the entity id and type they were stored with, in one write per
        :data:`~chronos_core.storage.documents.IN_CHUNK` forecasts (forecasts that expired
        meanwhile are skipped)."""
        update = {
            "$set": {
                "publication.status": PublicationStatus.PUBLISHED.value,
                "publication.published_at": bson_datetime(published_at),
                "publication.error": None,
            },
            "$inc": {"publication.attempts": 1},
        }
        update_in(self._collection, "id", forecast_ids, update)

    def delete_expired(self, now: datetime | None = None) -> int:
        """Delete forecasts whose ``expires_at`` has passed; returns how many."""
        moment = bson_datetime(now or utc_now())
        return self._collection.delete_many({"expires_at": {"$lte": moment}}).deleted_count

    def delete_for_model(self, model_id: str) -> int:
        result = self._collection.delete_many({"model_id": require_id(model_id, "model id")})
        return result.deleted_count
