"""The forecasting model definition: what to forecast and how to build and train the network."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chronos_core.clock import utc_now
from chronos_core.domain.enums import ModelStatus, ModelType
from chronos_core.domain.identifiers import (
    NGSI_NAME_PATTERN,
    check_display_name,
    check_fiware_service,
    check_fiware_servicepath,
    check_ngsi_name,
    new_id,
)

# The activations Keras 3 accepts by name for a Dense layer.
KERAS_ACTIVATIONS = frozenset(
    "celu elu exponential gelu hard_sigmoid hard_silu hard_swish leaky_relu linear "  # noqa: SIM905
    "log_sigmoid log_softmax mish relu relu6 selu sigmoid silu softmax softplus softsign "
    "sparse_plus sparsemax squareplus swish tanh tanh_shrink".split()
)

MAX_WINDOW = 8760
MAX_LAYERS = 10
MAX_UNITS = 4096

_NUMBER_TYPES: set[object] = {int, float}

Ratio = Annotated[float, Field(gt=0, lt=1)]
Dropout = Annotated[float, Field(ge=0, lt=1)]

# Form-only schema rules (the validators below give the messages for direct calls): the Prefect
# UI and API refuse a name with a character FIWARE forbids before a run exists.
_NGSI_SCHEMA: dict[str, Any] = {"pattern": NGSI_NAME_PATTERN}
_SERVICE_SCHEMA: dict[str, Any] = {"pattern": "^[a-z0-9_]{1,50}$"}
_SERVICEPATH_SCHEMA: dict[str, Any] = {
    "pattern": "^/([A-Za-z0-9_]{1,50}(/[A-Za-z0-9_]{1,50}){0,9})?$"
}


def _ngsi_name(value: str, info: ValidationInfo) -> str:
    return check_ngsi_name(value, info.field_name or "name")


NgsiName = Annotated[str, AfterValidator(_ngsi_name), Field(json_schema_extra=_NGSI_SCHEMA)]
FiwareService = Annotated[str, AfterValidator(check_fiware_service)]
FiwareServicePath = Annotated[str, AfterValidator(check_fiware_servicepath)]
DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(check_display_name)
]

#: The register-model form lists what to forecast first, then how to build and train.
DEFINITION_FORM_ORDER = (
    "entity_type",
    "entity_id",
    "feature",
    "service",
    "service_path",
    "model_type",
    "lookback_window",
    "forecast_horizon",
    "rnn_layers",
    "dense_layers",
    "epochs",
    "batch_size",
    "learning_rate",
    "early_stopping_patience",
    "validation_ratio",
    "test_ratio",
    "name",
    "description",
    "publish_next_value",
)


def _form_order(schema: dict[str, Any]) -> None:
    """Order (and number, for forms that sort by ``position``) the schema's properties."""
    properties: dict[str, Any] = schema.get("properties", {})
    ordered = [name for name in DEFINITION_FORM_ORDER if name in properties]
    ordered += [name for name in properties if name not in ordered]
    schema["properties"] = {name: properties[name] for name in ordered}
    for position, name in enumerate(ordered):
        schema["properties"][name]["position"] = position


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

    units: int = Field(
        gt=0, le=MAX_UNITS, title="Units", description="Number of neurons in the layer."
    )
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

    model_type: ModelType = Field(
        title="Network type", description="lstm or gru (recurrent layer type)."
    )
    batch_size: int = Field(
        default=32,
        ge=1,
        le=1024,
        title="Batch size",
        description="Training windows per gradient step.",
    )
    epochs: int = Field(
        default=100,
        ge=1,
        le=1000,
        title="Epochs",
        description="Most passes over the training windows (early stopping may end sooner).",
    )
    learning_rate: float = Field(
        default=0.001,
        gt=0,
        le=1,
        title="Learning rate",
        description="Step size of the Adam optimiser.",
    )
    validation_ratio: Ratio = Field(
        default=0.15,
        title="Validation ratio",
        description="Share of the points, after the training part, used for early stopping "
        "(0 to 1).",
    )
    test_ratio: Ratio = Field(
        default=0.15,
        title="Test ratio",
        description="Share of the newest points held out to measure the errors (0 to 1).",
    )
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
        description="The LSTM/GRU layers, first to last (default: one layer of 64 units).",
        # default_factory values are not in a JSON schema; this shows the real default.
        json_schema_extra={"default": [{"units": 64, "dropout": 0.1, "recurrent_dropout": 0.0}]},
    )
    dense_layers: list[DenseLayer] = Field(
        default_factory=list,
        max_length=MAX_LAYERS,
        title="Dense layers",
        description="Hidden fully connected layers before the output (default: none).",
        json_schema_extra={"default": []},
    )
    lookback_window: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WINDOW,
        title="Lookback window",
        description="Past points the network reads for each forecast, in steps of the data's "
        "sampling interval (96 points of 15 min = one day). Empty: chosen from the data at each "
        "training (covering the longest useful season); the job records the value used.",
    )
    forecast_horizon: int = Field(
        default=1,
        ge=1,
        le=MAX_WINDOW,
        title="Forecast horizon",
        description="Future points each forecast gives, in steps of the sampling interval.",
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

    model_config = ConfigDict(json_schema_extra=_form_order)

    name: DisplayName | None = Field(
        default=None,
        title="Name",
        description="Default: the network type and the attribute, e.g. 'LSTM - temperature'.",
    )
    description: str | None = Field(
        default=None,
        max_length=1000,
        title="Description",
        description="Default: e.g. 'LSTM model for temperature forecasting'.",
    )
    feature: NgsiName = Field(
        title="Attribute",
        description="The entity attribute to forecast, e.g. temperature (its STH-Comet history "
        "is the training data).",
    )
    entity_type: NgsiName = Field(title="Entity type", description="NGSI entity type, e.g. Room.")
    entity_id: NgsiName = Field(title="Entity id", description="NGSI entity id, e.g. Room1.")
    service: FiwareService | None = Field(
        default=None,
        title="FIWARE service",
        description="Tenant (Fiware-Service); empty for CHRONOS_FIWARE_SERVICE.",
        json_schema_extra=_SERVICE_SCHEMA,
    )
    service_path: FiwareServicePath | None = Field(
        default=None,
        title="FIWARE service path",
        description="Fiware-ServicePath such as /rooms; empty for CHRONOS_FIWARE_SERVICEPATH.",
        json_schema_extra=_SERVICEPATH_SCHEMA,
    )
    publish_next_value: bool = Field(
        default=False,
        title="Publish next value",
        description="Also write the next-step value as a plain Number attribute.",
    )
    ngsi_flavour: Literal["v2", "ld"] | None = Field(
        default=None,
        title="NGSI flavour",
        description="Publish to Orion (v2) or to an NGSI-LD broker (ld); unset: "
        "CHRONOS_NGSI_FLAVOUR.",
    )


class ModelUpdate(_Strict):
    """A partial update of a draft model: only the fields that are set change."""

    name: DisplayName | None = Field(default=None, title="Name")
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
    feature: str | None = Field(default=None, title="Attribute", json_schema_extra=_NGSI_SCHEMA)
    entity_type: str | None = Field(
        default=None, title="Entity type", json_schema_extra=_NGSI_SCHEMA
    )
    entity_id: str | None = Field(default=None, title="Entity id", json_schema_extra=_NGSI_SCHEMA)
    service: str | None = Field(
        default=None, title="FIWARE service", json_schema_extra=_SERVICE_SCHEMA
    )
    service_path: str | None = Field(
        default=None, title="FIWARE service path", json_schema_extra=_SERVICEPATH_SCHEMA
    )
    publish_next_value: bool | None = Field(default=None, title="Publish next value")
    ngsi_flavour: Literal["v2", "ld"] | None = Field(default=None, title="NGSI flavour")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Model(ModelDefinition):
    """A registered model, as stored in the ``models`` collection."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(default_factory=new_id)
    name: DisplayName
    description: str | None = Field(default=None, max_length=1000)
    service: FiwareService = Field(min_length=1)
    service_path: FiwareServicePath = Field(min_length=1)
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
