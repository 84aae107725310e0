"""The LSTM/GRU builder: exactly the layers asked for, nothing more."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from chronos_core.domain.model import KERAS_ACTIVATIONS, DenseLayer, RNNLayer
from chronos_core.errors import InvalidInput
from chronos_core.ml.rnn import build_network

#: Names of the layers built from the user's configuration (the rest are the skip connection).
LEARNED_LAYER_PREFIXES = ("rnn_", "dense_", "dropout_", "forecast")


def configured_layers(network):
    return [layer for layer in network.layers if layer.name.startswith(LEARNED_LAYER_PREFIXES)]


def _kinds(network):
    return [type(layer).__name__ for layer in configured_layers(network)]


@pytest.mark.parametrize(("model_type", "kind"), [("lstm", "LSTM"), ("gru", "GRU")])
def test_one_recurrent_layer_and_no_dense_gives_exactly_two_layers(keras_runtime, model_type, kind):
    network = build_network(model_type, 24, 6, [RNNLayer(units=8, dropout=0.2)], [], 0.001)
    assert _kinds(network) == [kind, "Dense"]
    recurrent, output = configured_layers(network)
    assert recurrent.name == "rnn_1" and recurrent.units == 8
    assert recurrent.return_sequences is False
    assert recurrent.dropout == pytest.approx(0.2) and recurrent.recurrent_dropout == 0.0
    assert output.name == "forecast" and output.units == 6
    assert output.activation.__name__ == "linear"
    assert network.input_shape == (None, 24, 1) and network.output_shape == (None, 6)


@pytest.mark.parametrize(("model_type", "kind"), [("lstm", "LSTM"), ("gru", "GRU")])
def test_stacked_layers_and_dense_head(keras_runtime, model_type, kind):
    network = build_network(
        model_type,
        10,
        2,
        [RNNLayer(units=6, dropout=0.1, recurrent_dropout=0.05), RNNLayer(units=4, dropout=0.0)],
        [DenseLayer(units=5, activation="tanh", dropout=0.0), DenseLayer(units=3, dropout=0.25)],
        0.01,
    )
    assert _kinds(network) == [kind, kind, "Dense", "Dense", "Dropout", "Dense"]
    first, second, dense_1, dense_2, dropout, output = configured_layers(network)
    assert first.return_sequences is True and second.return_sequences is False
    assert first.recurrent_dropout == pytest.approx(0.05)
    assert dense_1.activation.__name__ == "tanh" and dense_2.activation.__name__ == "relu"
    assert dropout.name == "dropout_2" and dropout.rate == pytest.approx(0.25)
    assert output.units == 2


def test_compiled_with_adam_and_mse(keras_runtime):
    network = build_network("gru", 4, 1, [RNNLayer(units=2)], [], 0.005)
    assert type(network.optimizer).__name__ == "Adam"
    assert float(np.asarray(network.optimizer.learning_rate)) == pytest.approx(0.005)
    assert network.loss == "mean_squared_error"


def test_accepts_any_object_with_the_layer_fields(keras_runtime):
    rnn = SimpleNamespace(units=3, dropout=0.0, recurrent_dropout=0.0)
    dense = SimpleNamespace(units=2, activation="relu", dropout=0.0)
    network = build_network("lstm", 5, 1, [rnn], [dense], 0.01)
    assert _kinds(network) == ["LSTM", "Dense", "Dense"]


def test_glu_is_refused_in_hidden_layers(keras_runtime):
    # Keras builds the layer after a glu Dense for the undivided width, so the network breaks:
    # the domain does not offer it, and the builder refuses it from any other caller.
    with pytest.raises(ValueError, match="unknown activation 'glu'"):
        DenseLayer(units=4, activation="glu", dropout=0.0)

    class Glu:
        units, activation, dropout = 4, "glu", 0.0

    with pytest.raises(InvalidInput, match="'glu' is not a Keras activation"):
        build_network("lstm", 5, 2, [RNNLayer(units=3)], [Glu()], 0.01)


def test_every_other_allowed_activation_builds_a_working_network(keras_runtime):
    for name in sorted(KERAS_ACTIVATIONS - {"glu"}):
        dense = [DenseLayer(units=3, activation=name, dropout=0.0)]
        network = build_network("gru", 4, 2, [RNNLayer(units=2, dropout=0.0)], dense, 0.01)
        assert np.asarray(network(np.ones((1, 4, 1), dtype="float32"))).shape == (1, 2), name


def test_seed_makes_initial_weights_repeat(keras_runtime):
    first = build_network("lstm", 5, 2, [RNNLayer(units=3)], [], 0.01, seed=5)
    second = build_network("lstm", 5, 2, [RNNLayer(units=3)], [], 0.01, seed=5)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_type": "transformer"}, "model_type must be one of lstm, gru"),
        ({"rnn_layers": []}, "at least one recurrent layer"),
        ({"rnn_layers": [SimpleNamespace(units=0, dropout=0, recurrent_dropout=0)]}, "units"),
        ({"rnn_layers": [SimpleNamespace(units=2, dropout=1.0, recurrent_dropout=0)]}, "dropout"),
        (
            {"dense_layers": [SimpleNamespace(units=2, activation="lambda x: x", dropout=0)]},
            "is not a Keras activation",
        ),
        ({"learning_rate": 0}, "learning_rate"),
        ({"lookback_window": 0}, "lookback_window"),
        ({"forecast_horizon": 2.5}, "forecast_horizon"),
    ],
)
def test_bad_parameters_are_rejected(keras_runtime, kwargs, message):
    arguments = {
        "model_type": "lstm",
        "lookback_window": 4,
        "forecast_horizon": 1,
        "rnn_layers": [RNNLayer(units=2)],
        "dense_layers": [],
        "learning_rate": 0.01,
        **kwargs,
    }
    with pytest.raises(InvalidInput, match=message):
        build_network(**arguments)


def seasonal_naive_forecast(x, horizon, season):
    """Step h takes the window value whole seasons before it (y_{T+h-m(floor((h-1)/m)+1)})."""
    steps = np.arange(1, horizon + 1)
    return x[:, x.shape[1] - 1 + steps - season * ((steps - 1) // season + 1)]


@pytest.mark.parametrize(("horizon", "cycles"), [(3, 1), (7, 2)])
def test_seasonal_network_starts_at_its_anchor_trains_and_loads_in_safe_mode(
    keras_runtime, horizon, cycles
):
    from chronos_core.ml.model_io import load_network, serialize_network

    lookback, season = 16, 5
    network = build_network(
        "gru",
        lookback,
        horizon,
        [RNNLayer(units=4, dropout=0.0)],
        [],
        0.01,
        seed=3,
        season_steps=season,
        season_cycles=cycles,
        recent_steps=6,
        other_seasons=(3,),
    )
    assert _kinds(network) == ["GRU", "Dense"]  # the anchors add no learned layer
    x = np.random.default_rng(0).normal(size=(32, lookback)).astype("float32")
    anchor = np.mean(
        [seasonal_naive_forecast(x, horizon, season * k) for k in range(1, cycles + 1)], axis=0
    )
    # The output layer starts at zero: untrained, the network is the seasonal mean exactly.
    np.testing.assert_allclose(np.asarray(network(x[..., None])), anchor, rtol=1e-5, atol=1e-6)

    network.fit(x[..., None], anchor + 0.5, epochs=2, batch_size=8, verbose=0)
    trained = np.asarray(network(x[..., None]))
    assert not np.allclose(trained, anchor)
    loaded = load_network(serialize_network(network))  # safe mode: standard layers only
    np.testing.assert_allclose(np.asarray(loaded(x[..., None])), trained, rtol=1e-5, atol=1e-6)


def test_seasonal_inputs_must_fit_the_window(keras_runtime):
    with pytest.raises(InvalidInput, match="must not exceed lookback_window"):
        build_network(
            "lstm", 12, 2, [RNNLayer(units=2)], [], 0.01,
            season_steps=5, season_cycles=2, recent_steps=3,
        )  # fmt: skip
