"""Enumerations shared by the domain, storage and the UI forms."""

from __future__ import annotations

from enum import StrEnum


class ModelType(StrEnum):
    LSTM = "lstm"
    GRU = "gru"

    @property
    def label(self) -> str:
        return self.value.upper()


class ModelStatus(StrEnum):
    DRAFT = "draft"
    TRAINING = "training"
    TRAINED = "trained"


class TrainingStatus(StrEnum):
    PENDING = "pending"
    COLLECTING_DATA = "collecting_data"
    PREPROCESSING = "preprocessing"
    TRAINING = "training"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CANCEL_REQUESTED = "cancel_requested"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_TRAINING_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_TRAINING_STATUSES


ACTIVE_TRAINING_STATUSES = frozenset(
    {
        TrainingStatus.PENDING,
        TrainingStatus.COLLECTING_DATA,
        TrainingStatus.PREPROCESSING,
        TrainingStatus.TRAINING,
        TrainingStatus.CANCEL_REQUESTED,
    }
)
TERMINAL_TRAINING_STATUSES = frozenset(
    {TrainingStatus.COMPLETED, TrainingStatus.FAILED, TrainingStatus.CANCELLED}
)


class DataCollectionStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ArtifactType(StrEnum):
    MODEL = "model"
    X_SCALER = "x_scaler"
    Y_SCALER = "y_scaler"
    METADATA = "metadata"
