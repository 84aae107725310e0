"""The ``models`` collection: registered model definitions and their status."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ModelStatus, ModelType
from chronos_core.domain.model import Model
from chronos_core.domain.transitions import MODEL_TRANSITIONS, check_model_transition
from chronos_core.domain.validation import check_int
from chronos_core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from chronos_core.storage.documents import (
    NO_ID,
    Repository,
    bson_datetime,
    entity_to_document,
    enum_values,
    validated_fields,
)
from chronos_core.storage.schema import MODELS

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_PROTECTED = frozenset({"_id", "id", "status", "created_at", "updated_at"})


def check_page(skip: int, limit: int) -> None:
    """Refuse a negative offset or a page size outside ``1..MAX_PAGE_SIZE``."""
    check_int(skip, "skip", 0)
    check_int(limit, "limit", 1, MAX_PAGE_SIZE)


class ModelRepository(Repository[Model]):
    """Reads and writes :class:`~chronos_core.domain.model.Model` documents.

    Status changes are conditional updates on the expected current status, so of two processes
    moving the same model only one succeeds.
    """

    entity, what, collection = Model, "model", MODELS

    def exists(self, model_id: str) -> bool:
        return self._collection.count_documents({"id": self._id(model_id)}, limit=1) > 0

    def list(
        self,
        *,
        model_type: ModelType | str | None = None,
        status: ModelStatus | str | None = None,
        entity_id: str | None = None,
        feature: str | None = None,
        skip: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> builtins.list[Model]:
        """Models matching every given filter, newest first."""
        check_page(skip, limit)
        query = self._filter(model_type, status, entity_id, feature)
        cursor = self._collection.find(query, NO_ID).sort(
            [("created_at", DESCENDING), ("id", DESCENDING)]
        )
        return self._many(cursor.skip(skip).limit(limit))

    def count(
        self,
        *,
        model_type: ModelType | str | None = None,
        status: ModelStatus | str | None = None,
        entity_id: str | None = None,
        feature: str | None = None,
    ) -> int:
        return self._collection.count_documents(
            self._filter(model_type, status, entity_id, feature)
        )

    @staticmethod
    def _filter(
        model_type: ModelType | str | None,
        status: ModelStatus | str | None,
        entity_id: str | None,
        feature: str | None,
    ) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if model_type is not None:
            query["model_type"] = _enum_value(ModelType, model_type, "model_type")
        if status is not None:
            query["status"] = _enum_value(ModelStatus, status, "status")
        for name, value in (("entity_id", entity_id), ("feature", feature)):
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidInput(
                        f"{name} filter must be a string, got {type(value).__name__}"
                    )
                query[name] = value
        return query

    # --- writes ---

    def insert(self, model: Model) -> Model:
        try:
            self._collection.insert_one(entity_to_document(model))
        except DuplicateKeyError:
            raise Conflict(f"a model with id {model.id} already exists") from None
        return model

    def update_draft(
        self,
        model_id: str,
        fields: Mapping[str, Any],
        *,
        expected_updated_at: datetime | None = None,
    ) -> Model:
        """Set definition fields of a draft model.

        Conflict if the model is not a draft, or (with ``expected_updated_at``) if it changed
        since it was read.
        """
        changes = validated_fields(
            Model, fields, protected=_PROTECTED | {"has_successful_training"}
        )
        query: dict[str, Any] = {"id": self._id(model_id), "status": ModelStatus.DRAFT.value}
        if expected_updated_at is not None:
            query["updated_at"] = bson_datetime(expected_updated_at)
        model = self._update(query, {"$set": {**changes, "updated_at": utc_now()}})
        if model is not None:
            return model
        current = self.get(model_id)
        if current.status is not ModelStatus.DRAFT:
            raise Conflict(
                f"model {model_id} is {current.status.value}; only draft models can be changed"
            )
        raise Conflict(f"model {model_id} was changed by someone else meanwhile; try again")

    def transition(
        self,
        model_id: str,
        expected: ModelStatus | Iterable[ModelStatus],
        target: ModelStatus,
        **fields: Any,
    ) -> Model:
        """Move the model from one of ``expected`` to ``target`` (atomically), setting ``fields``.

        Raises IllegalTransition if the state machine forbids it, NotFound if the model is gone,
        Conflict if its current status is not one of ``expected``.
        """
        sources = enum_values(ModelStatus, expected)
        for source in sources:
            check_model_transition(ModelStatus(source), target)
        changes = validated_fields(Model, fields, protected=_PROTECTED)
        model = self._update(
            {"id": self._id(model_id), "status": {"$in": sources}},
            {"$set": {**changes, "status": target.value, "updated_at": utc_now()}},
        )
        if model is not None:
            return model
        current = self.get(model_id)
        expected_text = " or ".join(sources)
        allowed = MODEL_TRANSITIONS[current.status]
        error = IllegalTransition if target not in allowed else Conflict
        raise error(
            f"model {model_id} is {current.status.value}, not {expected_text}; "
            f"it cannot be moved to {target.value} now"
        )

    def set_fields(self, model_id: str, **fields: Any) -> Model:
        """Set fields (not the status) whatever the model's status, e.g. the training flag."""
        changes = validated_fields(Model, fields, protected=_PROTECTED)
        model = self._update(
            {"id": self._id(model_id)}, {"$set": {**changes, "updated_at": utc_now()}}
        )
        if model is None:
            raise NotFound(f"model {model_id} not found")
        return model

    def delete(self, model_id: str, *, unless_status: Iterable[ModelStatus] = ()) -> bool:
        """Delete the model unless its status is one of ``unless_status``; ``False`` if not."""
        query: dict[str, Any] = {"id": self._id(model_id)}
        refused = enum_values(ModelStatus, unless_status)
        if refused:
            query["status"] = {"$nin": refused}
        return self._collection.delete_one(query).deleted_count == 1


def _enum_value(enum: type[ModelType] | type[ModelStatus], value: object, name: str) -> str:
    try:
        return enum(value).value  # type: ignore[arg-type]
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{name} must be one of {allowed}, got {value!r}") from None
