"""Domain entities, enums, validation rules and the status state machines."""

from chronos_core.domain.enums import (
    ArtifactType,
    DataCollectionStatus,
    ModelStatus,
    ModelType,
    TrainingStatus,
)
from chronos_core.domain.model import (
    KERAS_ACTIVATIONS,
    DenseLayer,
    Model,
    ModelDefinition,
    ModelUpdate,
    RNNLayer,
)
from chronos_core.domain.training_job import (
    DataCollectionJob,
    PredictionConfig,
    TrainingJob,
    TrainingMetrics,
)

__all__ = [
    "KERAS_ACTIVATIONS",
    "ArtifactType",
    "DataCollectionJob",
    "DataCollectionStatus",
    "DenseLayer",
    "Model",
    "ModelDefinition",
    "ModelStatus",
    "ModelType",
    "ModelUpdate",
    "PredictionConfig",
    "RNNLayer",
    "TrainingJob",
    "TrainingMetrics",
    "TrainingStatus",
]
