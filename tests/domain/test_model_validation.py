"""Every rule of a model definition, and the message each broken rule gives."""

from __future__ import annotations

from typing import Any

import pytest

from chronos_core.domain.model import (
    KERAS_ACTIVATIONS,
    Model,
    ModelDefinition,
    ModelUpdate,
    default_patience,
)
from chronos_core.domain.validation import parse_input
from chronos_core.errors import InvalidInput

BASE: dict[str, Any] = {
    "model_type": "lstm",
    "feature": "temperature",
    "entity_type": "Room",
    "entity_id": "urn:ngsi-ld:Room:001",
}


def definition(**changes: Any) -> ModelDefinition:
    return parse_input(ModelDefinition, {**BASE, **changes})


def rejected(**changes: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        definition(**changes)
    return str(caught.value)


def test_defaults_match_the_earlier_system() -> None:
    model = definition()
    assert model.batch_size == 32
    assert model.epochs == 100
    assert model.learning_rate == 0.001
    assert model.validation_ratio == 0.15
    assert model.test_ratio == 0.15
    assert model.lookback_window is None  # chosen from the data at training time
    assert model.forecast_horizon == 1
    assert [layer.units for layer in model.rnn_layers] == [64]
    assert model.rnn_layers[0].dropout == 0.1
    assert model.rnn_layers[0].recurrent_dropout == 0.0
    assert model.dense_layers == []
    assert model.early_stopping_patience is None
    assert model.effective_patience == 10


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("batch_size", [1, 1024], [0, 1025, -5]),
        ("epochs", [1, 1000], [0, 1001]),
        ("learning_rate", [1e-6, 1.0], [0, -0.1, 1.0001, float("nan"), float("inf")]),
        ("validation_ratio", [0.01, 0.5], [0, 1, 1.5, -0.1]),
        ("test_ratio", [0.01, 0.5], [0, 1, 2]),
        ("lookback_window", [1, 8760], [0, 8761]),
        ("forecast_horizon", [1, 8760], [0, 8761]),
    ],
)
def test_numeric_ranges(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert getattr(definition(**{field: value}), field) == value
    for value in bad:
        message = rejected(**{field: value})
        assert message.startswith("invalid input: ")
        assert field in message


def test_ratio_sum_must_stay_below_one() -> None:
    assert definition(validation_ratio=0.49, test_ratio=0.5).test_ratio == 0.5
    message = rejected(validation_ratio=0.5, test_ratio=0.5)
    assert "validation_ratio + test_ratio must be below 1" in message
    assert "0.5 + 0.5" in message


def test_rnn_layers() -> None:
    assert len(definition(rnn_layers=[{"units": 8}, {"units": 4}]).rnn_layers) == 2
    assert "rnn_layers" in rejected(rnn_layers=[])
    assert "rnn_layers.0.units" in rejected(rnn_layers=[{"units": 0}])
    assert "rnn_layers.0.units" in rejected(rnn_layers=[{"units": -3}])
    assert "rnn_layers.0.dropout" in rejected(rnn_layers=[{"units": 4, "dropout": 1.0}])
    assert "rnn_layers.0.dropout" in rejected(rnn_layers=[{"units": 4, "dropout": -0.1}])
    assert "rnn_layers.1.recurrent_dropout" in rejected(
        rnn_layers=[{"units": 4}, {"units": 4, "recurrent_dropout": 1}]
    )
    assert definition(rnn_layers=[{"units": 4, "dropout": 0, "recurrent_dropout": 0.99}])
    assert "rnn_layers.0.size" in rejected(rnn_layers=[{"units": 4, "size": 3}])


def test_dense_layers_and_activations() -> None:
    for activation in sorted(KERAS_ACTIVATIONS):
        layer = definition(dense_layers=[{"units": 3, "activation": activation}]).dense_layers[0]
        assert layer.activation == activation
    message = rejected(dense_layers=[{"units": 3, "activation": "relux"}])
    assert "dense_layers.0.activation" in message
    assert "unknown activation 'relux'" in message
    assert "relu" in message  # the allowed names are listed
    assert "dense_layers.0.units" in rejected(dense_layers=[{"units": 0}])
    assert "dense_layers.0.dropout" in rejected(dense_layers=[{"units": 2, "dropout": 1}])


def test_small_epochs_with_default_patience_are_accepted() -> None:
    for epochs in (1, 2, 3, 4):
        model = definition(epochs=epochs)
        assert model.effective_patience == epochs
    assert default_patience(50) == 5
    assert default_patience(150) == 15
    assert default_patience(1000) == 20


def test_explicit_patience_is_bounded_by_epochs() -> None:
    assert definition(epochs=10, early_stopping_patience=10).effective_patience == 10
    message = rejected(epochs=5, early_stopping_patience=6)
    assert "early_stopping_patience (6) cannot exceed epochs (5)" in message
    assert "early_stopping_patience" in rejected(early_stopping_patience=0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"batch_size": "abc"}, "batch_size"),
        ({"batch_size": 32.5}, "batch_size"),
        ({"batch_size": True}, "batch_size: must be a number, not true/false"),
        ({"learning_rate": False}, "learning_rate: must be a number"),
        ({"epochs": [10]}, "epochs"),
        ({"rnn_layers": {"units": 4}}, "rnn_layers"),
        ({"rnn_layers": [{"units": True}]}, "rnn_layers.0.units: must be a number"),
        ({"feature": 12}, "feature"),
        ({"name": True}, "name"),
    ],
)
def test_wrong_types(changes: dict[str, Any], expected: str) -> None:
    assert expected in rejected(**changes)


@pytest.mark.parametrize("model_type", ["LSTM", "Gru", "transformer", "", None])
def test_unknown_model_type(model_type: Any) -> None:
    message = rejected(model_type=model_type)
    assert "model_type" in message
    if model_type is not None:
        assert "'lstm' or 'gru'" in message


def test_missing_required_fields() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_input(ModelDefinition, {"model_type": "gru"})
    message = str(caught.value)
    for name in ("feature", "entity_type", "entity_id"):
        assert f"{name}: Field required" in message


def test_unknown_fields_are_refused() -> None:
    assert "rnn_units: unknown field" in rejected(rnn_units=64)
    assert "status: unknown field" in rejected(status="trained")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("entity_id", "Room$1"),
        ("entity_id", "Room 1"),
        ("entity_type", "Ro#om"),
        ("feature", "temp;drop"),
        ("feature", "   "),
        ("entity_id", "x" * 257),
        ("entity_id", "a\x00b"),
    ],
)
def test_ngsi_names(field: str, value: str) -> None:
    assert field in rejected(**{field: value})


def test_oversized_texts() -> None:
    assert "name: String should have at most 100 characters" in rejected(name="n" * 101)
    assert "description" in rejected(description="d" * 1001)
    assert "name" in rejected(name="   ")


def test_fiware_service_and_path() -> None:
    assert definition(service="smart_city", service_path="/a/b").service_path == "/a/b"
    assert "service" in rejected(service="Smart City")
    assert "service_path" in rejected(service_path="no-slash")


def test_input_must_be_an_object() -> None:
    with pytest.raises(InvalidInput, match="expected an object, got list"):
        parse_input(ModelDefinition, [BASE])


def test_every_problem_is_listed_at_once() -> None:
    message = rejected(batch_size=0, epochs=0, model_type="LSTM")
    assert "batch_size" in message and "epochs" in message and "model_type" in message


def test_register_fills_default_name_description_and_tenant() -> None:
    model = Model.register(definition(model_type="gru"), service="smart", service_path="/")
    assert model.name == "GRU - temperature"
    assert model.description == "GRU model for temperature forecasting"
    assert (model.service, model.service_path) == ("smart", "/")
    assert model.status.value == "draft"
    assert model.has_successful_training is False
    assert model.created_at.tzinfo is not None
    named = Model.register(
        definition(name="Mine", description=""), service="smart", service_path="/"
    )
    assert (named.name, named.description) == ("Mine", "")


def test_update_rejects_bad_partial_input() -> None:
    assert parse_input(ModelUpdate, {"epochs": 5}).changes() == {"epochs": 5}
    for bad, expected in [
        ({"batch_size": True}, "batch_size"),
        ({"status": "trained"}, "status: unknown field"),
        ({"model_type": "LSTM"}, "model_type"),
        ({"name": ""}, "name"),
    ]:
        with pytest.raises(InvalidInput, match=expected):
            parse_input(ModelUpdate, bad)
