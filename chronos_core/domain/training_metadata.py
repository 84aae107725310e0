"""The training metadata artifact: everything needed to use and audit a trained network.

Written as JSON next to the network and the scalers when a job completes
(:mod:`chronos_core.training.artifacts`) and read back before every first forecast
(:mod:`chronos_core.forecasting.forecaster`). ``format_version`` says which shape it has; fields
added after version 1 have defaults, so artifacts written before them still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

METADATA_FORMAT = "chronos.training_metadata"
METADATA_FORMAT_VERSION = 1

_PositiveInt = Field(ge=1, strict=True)
_Text = Field(min_length=1, strict=True)


class TrainingMetadataError(ValueError):
    """The metadata document cannot be used: ``field`` (``None``: the document) and its value."""

    def __init__(self, message: str, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class StoredNetworkInputs(BaseModel):
    """How the network reads its window (:class:`~chronos_core.ml.network_inputs.NetworkInputs`
    as stored); only the anchor season is checked, the rest is kept as written."""

    model_config = ConfigDict(extra="allow")

    anchor_season_steps: int | None = Field(default=None, strict=True)


class TrainingMetadata(BaseModel):
    """One metadata artifact. Unknown fields are kept (an audit record is never trimmed)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=(), populate_by_name=True)

    format: str = METADATA_FORMAT
    format_version: int = Field(default=METADATA_FORMAT_VERSION, ge=1, strict=True)
    model_id: str | None = None
    training_job_id: str | None = None
    created_at: str | None = None
    lookback_window: int = _PositiveInt
    forecast_horizon: int = _PositiveInt
    seasons: list[Any] = Field(default_factory=list)
    network_inputs: StoredNetworkInputs | None = None
    feature: str = _Text
    feature_columns: list[str] = Field(default_factory=lambda: ["value"])
    entity_type: str = _Text
    entity_id: str = _Text
    service: str = _Text
    service_path: str = _Text
    sampling_interval_seconds: int | None = Field(
        default=None, ge=1, strict=True, description="Absent in the oldest artifacts: the job's."
    )
    last_observed_timestamp: Any = None
    last_n: int | None = None
    data_summary: dict[str, Any] | None = None
    training_config: dict[str, Any] | None = Field(default=None, alias="model_config")
    seed: int | None = None
    last_n_chosen_from_data: bool | None = None
    metrics: dict[str, Any] | None = None
    training_history: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    intervals: Any = Field(
        default=None, description="Conformal half-widths; malformed ones mean no intervals."
    )
    library_versions: dict[str, Any] | None = None
    plots: dict[str, str] | None = None

    @property
    def anchor_season_steps(self) -> int | None:
        season = self.network_inputs.anchor_season_steps if self.network_inputs else None
        return season if season is not None and season > 0 else None

    @classmethod
    def parse(cls, document: Any) -> TrainingMetadata:
        """Validate a decoded metadata document; :class:`TrainingMetadataError` names the first
        field that is wrong."""
        if not isinstance(document, dict):
            raise TrainingMetadataError("the metadata artifact is not an object")
        try:
            metadata = cls.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            name = ".".join(str(part) for part in first["loc"]) or None
            value = None if first["type"] == "missing" else first["input"]
            raise TrainingMetadataError(
                f"the metadata artifact has no valid {name} ({value!r})", name, value
            ) from None
        if metadata.format_version > METADATA_FORMAT_VERSION:
            raise TrainingMetadataError(
                f"the metadata artifact has format_version {metadata.format_version}, newer than "
                f"this Chronos reads ({METADATA_FORMAT_VERSION})",
                "format_version",
                metadata.format_version,
            )
        return metadata

    def to_json(self) -> dict[str, Any]:
        """The JSON document, field names as stored (``model_config`` included)."""
        return self.model_dump(mode="json", by_alias=True)
