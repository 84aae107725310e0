"""The versioned training metadata artifact: written typed, read back with defaults."""

from __future__ import annotations

from typing import Any

import pytest

from chronos_core.domain.training_metadata import (
    METADATA_FORMAT,
    METADATA_FORMAT_VERSION,
    TrainingMetadata,
    TrainingMetadataError,
)

#: The fields a forecast needs, as the oldest artifacts carry them (no version, no intervals).
OLDEST: dict[str, Any] = {
    "lookback_window": 8,
    "forecast_horizon": 3,
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": "Room1",
    "service": "smart",
    "service_path": "/",
}


def test_an_artifact_written_before_the_new_fields_loads_with_defaults() -> None:
    metadata = TrainingMetadata.parse(OLDEST)
    assert metadata.format == METADATA_FORMAT and metadata.format_version == 1
    assert metadata.feature_columns == ["value"] and metadata.seasons == []
    assert metadata.sampling_interval_seconds is None and metadata.intervals is None
    assert metadata.anchor_season_steps is None


def test_the_document_round_trips_with_its_stored_names_and_unknown_fields() -> None:
    inputs = {"anchor_season_steps": 24}
    document = OLDEST | {"model_config": {"epochs": 2}, "network_inputs": inputs}
    document["audit_note"] = "kept"
    stored = TrainingMetadata.parse(document).to_json()
    assert stored["format_version"] == METADATA_FORMAT_VERSION
    assert stored["model_config"] == {"epochs": 2} and stored["audit_note"] == "kept"
    assert TrainingMetadata.parse(stored).anchor_season_steps == 24


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lookback_window": True}, "no valid lookback_window"),
        ({"forecast_horizon": 0}, "no valid forecast_horizon"),
        ({"sampling_interval_seconds": 1.5}, "no valid sampling_interval_seconds"),
        ({"entity_id": ""}, "no valid entity_id"),
        (
            {"network_inputs": {"anchor_season_steps": "24"}},
            r"no valid network_inputs.anchor_season_steps \('24'\)",
        ),
        ({"format_version": METADATA_FORMAT_VERSION + 1}, "newer than this Chronos reads"),
    ],
)
def test_a_field_a_forecast_needs_is_checked(change: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainingMetadataError, match=message):
        TrainingMetadata.parse(OLDEST | change)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TrainingMetadataError, match="not an object"):
        TrainingMetadata.parse([1, 2])
