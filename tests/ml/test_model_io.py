"""Saving and loading networks (.keras, safe mode) and running them."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml.inference import forecast, network_window_shape, predict_windows
from chronos_core.ml.model_io import load_network, serialize_network


def test_round_trip_reproduces_predictions_exactly(trained, sine_prepared):
    network, _, _ = trained
    data = serialize_network(network)
    assert zipfile.is_zipfile(io.BytesIO(data))
    loaded = load_network(data)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in network.layers]
    np.testing.assert_array_equal(
        predict_windows(loaded, sine_prepared.x_test),
        predict_windows(network, sine_prepared.x_test),
    )
    assert network_window_shape(loaded) == (12, 3)


def test_compiled_loading_restores_the_training_setup(trained):
    network, _, _ = trained
    resumed = load_network(serialize_network(network), compile=True)
    assert type(resumed.optimizer).__name__ == "Adam"
    assert resumed.loss == "mean_squared_error"


def test_safe_mode_refuses_lambda_layers(keras_runtime):
    keras = keras_runtime
    unsafe = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Lambda(lambda x: x * 2)])
    with pytest.raises(InvalidInput, match="cannot load the network"):
        load_network(serialize_network(unsafe))


@pytest.mark.parametrize("data", [b"", b"not a zip", "text", None])
def test_garbage_is_rejected(keras_runtime, data):
    with pytest.raises(InvalidInput, match="invalid model artifact"):
        load_network(data)


def test_batched_predictions_do_not_depend_on_batch_size(trained, sine_prepared):
    network, _, _ = trained
    whole = predict_windows(network, sine_prepared.x_test)
    np.testing.assert_allclose(
        predict_windows(network, sine_prepared.x_test, batch_size=5), whole, atol=1e-6
    )
    assert whole.shape == (len(sine_prepared.x_test), 3) and whole.dtype == np.float32
    with pytest.raises(InvalidInput, match=r"shape \(n, 12, 1\)"):
        predict_windows(network, np.ones((2, 5, 1)))


def test_forecast_in_original_units(trained, sine_prepared):
    network, _, _ = trained
    window = sine_prepared.test_inputs[-1]
    values = forecast(network, sine_prepared.x_scaler, sine_prepared.y_scaler, window)
    expected = sine_prepared.y_scaler.inverse_transform(
        predict_windows(network, sine_prepared.x_test[-1:])
    )[0]
    assert values.shape == (3,) and values.dtype == np.float64
    np.testing.assert_allclose(values, expected, atol=1e-6)
    with pytest.raises(InvalidInput, match="must hold 12 values"):
        forecast(network, sine_prepared.x_scaler, sine_prepared.y_scaler, window[:-1])
    with pytest.raises(InvalidInput, match="non-finite"):
        forecast(network, sine_prepared.x_scaler, sine_prepared.y_scaler, np.full(12, np.nan))
