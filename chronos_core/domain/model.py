"""The forecasting model definition: what to forecast and how to build and train the network."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ModelStatus, ModelType
from chronos_core.domain.identifiers import (
    check_fiware_service,
    check_fiware_servicepath,
    check_ngsi_name,
    new_id,
)

# The activations Keras 3 accepts by name for a Dense layer.
KERAS_ACTIVATIONS = frozenset(
    {
        "celu",
        "elu",
        "exponential",
        "gelu",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "leaky_relu",
        "linear",
        "log_sigmoid",
        "log_softmax",
        "mish",
        "relu",
        "relu6",
        "selu",
        "sigmoid",
        "silu",
        "softmax",
        "softplus",
        "softsign",
        "sparse_plus",
        "sparsemax",
        "squareplus",
        "swish",
        "tanh",
        "tanh_shrink",
    }
)

MAX_WINDOW = 8760
MAX_LAYERS = 10
MAX_UNITS = 4096

_NUMBER_TYPES: set[object] = {int, float}

Ratio = Annotated[float, Field(gt=0, lt=1)]
Dropout = Annotated[float, Field(ge=0, lt=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads true/false as 1/0; a boolean batch size is a mistake.
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if annotation in _NUMBER_TYPES or set(get_args(annotation)) & _NUMBER_TYPES:
                raise ValueError("must be a number, not true/false")
        return value


class RNNLayer(_Strict):
    """One recurrent layer (LSTM or GRU, as the model's type says)."""

    units: int = Field(gt=0, le=MAX_UNITS, title="Units", description="Number of recurrent units.")
    dropout: Dropout = Field(default=0.1, title="Dropout", description="Input dropout, in [0, 1).")
    recurrent_dropout: Dropout = Field(
        default=0.0,
        title="Recurrent dropout",
        description="Dropout on the recurrent state, in [0, 1).",
    )


class DenseLayer(_Strict):
    """One fully connected hidden layer between the recurrent stack and the output."""

    units: int = Field(gt=0, le=MAX_UNITS, title="Units")
    activation: str = Field(
        default="relu", title="Activation", description="A Keras activation name."
    )
    dropout: Dropout = Field(
        default=0.1, title="Dropout", description="Dropout after the layer, in [0, 1)."
    )

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        if value not in KERAS_ACTIVATIONS:
            raise ValueError(
                f"unknown activation {value!r}; allowed: {', '.join(sorted(KERAS_ACTIVATIONS))}"
            )
        return value


def default_patience(epochs: int) -> int:
    """The earlier rule ``min(max(epochs // 10, 5), 20)``, never more than ``epochs``."""
    return min(max(int(epochs * 0.1), 5), 20, epochs)


class TrainingParameters(_Strict):
    """Network and training hyper-parameters shared by definitions and updates."""

    model_type: ModelType = Field(title="Network type", description="lstm or gru.")
    batch_size: int = Field(default=32, ge=1, le=1024, title="Batch size")
    epochs: int = Field(default=100, ge=1, le=1000, title="Epochs")
    learning_rate: float = Field(default=0.001, gt=0, le=1, title="Learning rate")
    validation_ratio: Ratio = Field(default=0.15, title="Validation ratio")
    test_ratio: Ratio = Field(default=0.15, title="Test ratio")
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        title="Early stopping patience",
        description="Epochs without validation improvement before stopping (default from epochs).",
    )
    rnn_layers: list[RNNLayer] = Field(
        default_factory=lambda: [RNNLayer(units=64)],
        min_length=1,
        max_length=MAX_LAYERS,
        title="Recurrent layers",
    )
    dense_layers: list[DenseLayer] = Field(
        default_factory=list, max_length=MAX_LAYERS, title="Dense layers"
    )
    lookback_window: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WINDOW,
        title="Lookback window",
        description="Input points. Unset: chosen from the data at each training (covering the "
        "longest useful season); the job records the value used.",
    )
    forecast_horizon: int = Field(
        default=1,
        ge=1,
        le=MAX_WINDOW,
        title="Forecast horizon",
        description="Points forecast at once.",
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> TrainingParameters:
        if self.validation_ratio + self.test_ratio >= 1:
            raise ValueError(
                "validation_ratio + test_ratio must be below 1 "
                f"(got {self.validation_ratio} + {self.test_ratio})"
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience > self.epochs:
            raise ValueError(
                f"early_stopping_patience ({self.early_stopping_patience}) cannot exceed "
                f"epochs ({self.epochs})"
            )
        return self

    @property
    def effective_patience(self) -> int:
        return self.early_stopping_patience or default_patience(self.epochs)


class ModelDefinition(TrainingParameters):
    """What a user submits to register a model (the seed's field names)."""

    name: str | None = Field(default=None, min_length=1, max_length=100, title="Name")
    description: str | None = Field(default=None, max_length=1000, title="Description")
    feature: str = Field(title="Feature", description="The entity attribute to forecast.")
    entity_type: str = Field(title="Entity type")
    entity_id: str = Field(title="Entity id")
    service: str | None = Field(
        default=None, title="FIWARE service", description="Tenant (default from settings)."
    )
    service_path: str | None = Field(
        default=None, title="FIWARE service path", description="Default from settings."
    )
    publish_next_value: bool = Field(
        default=False,
        title="Publish next value",
        description="Also write the next-step value as a plain Number attribute.",
    )

    @field_validator("feature")
    @classmethod
    def _feature(cls, value: str) -> str:
        return check_ngsi_name(value, "feature")

    @field_validator("entity_type")
    @classmethod
    def _entity_type(cls, value: str) -> str:
        return check_ngsi_name(value, "entity_type")

    @field_validator("entity_id")
    @classmethod
    def _entity_id(cls, value: str) -> str:
        return check_ngsi_name(value, "entity_id")

    @field_validator("service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        return None if value is None else check_fiware_service(value)

    @field_validator("service_path")
    @classmethod
    def _service_path(cls, value: str | None) -> str | None:
        return None if value is None else check_fiware_servicepath(value)


class ModelUpdate(_Strict):
    """A partial update of a draft model: only the fields that are set change."""

    name: str | None = Field(default=None, min_length=1, max_length=100, title="Name")
    description: str | None = Field(default=None, max_length=1000, title="Description")
    model_type: ModelType | None = Field(default=None, title="Network type")
    batch_size: int | None = Field(default=None, ge=1, le=1024, title="Batch size")
    epochs: int | None = Field(default=None, ge=1, le=1000, title="Epochs")
    learning_rate: float | None = Field(default=None, gt=0, le=1, title="Learning rate")
    validation_ratio: float | None = Field(default=None, gt=0, lt=1, title="Validation ratio")
    test_ratio: float | None = Field(default=None, gt=0, lt=1, title="Test ratio")
    early_stopping_patience: int | None = Field(
        default=None, ge=1, le=1000, title="Early stopping patience"
    )
    rnn_layers: list[RNNLayer] | None = Field(
        default=None, min_length=1, max_length=MAX_LAYERS, title="Recurrent layers"
    )
    dense_layers: list[DenseLayer] | None = Field(
        default=None, max_length=MAX_LAYERS, title="Dense layers"
    )
    lookback_window: int | None = Field(default=None, ge=1, le=MAX_WINDOW, title="Lookback window")
    forecast_horizon: int | None = Field(
        default=None, ge=1, le=MAX_WINDOW, title="Forecast horizon"
    )
    feature: str | None = Field(default=None, title="Feature")
    entity_type: str | None = Field(default=None, title="Entity type")
    entity_id: str | None = Field(default=None, title="Entity id")
    service: str | None = Field(default=None, title="FIWARE service")
    service_path: str | None = Field(default=None, title="FIWARE service path")
    publish_next_value: bool | None = Field(default=None, title="Publish next value")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Model(ModelDefinition):
    """A registered model, as stored in the ``models`` collection."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(default_factory=new_id)
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    service: str = Field(min_length=1)
    service_path: str = Field(min_length=1)
    status: ModelStatus = ModelStatus.DRAFT
    has_successful_training: bool = False
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    @classmethod
    def register(cls, definition: ModelDefinition, *, service: str, service_path: str) -> Model:
        """Create a draft model, filling the earlier system's default name and description."""
        data = definition.model_dump()
        label = definition.model_type.label
        data["name"] = definition.name or f"{label} - {definition.feature}"
        data["description"] = (
            definition.description
            if definition.description is not None
            else f"{label} model for {definition.feature} forecasting"
        )
        data["service"] = definition.service or service
        data["service_path"] = definition.service_path or service_path
        return cls.model_validate(data)

    @property
    def is_editable(self) -> bool:
        return self.status is ModelStatus.DRAFT

    def definition(self) -> ModelDefinition:
        return ModelDefinition.model_validate(
            self.model_dump(include=set(ModelDefinition.model_fields))
        )
