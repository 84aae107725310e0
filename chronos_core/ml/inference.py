"""Run a network: batched predictions on windows, and one forecast in original units.

Small inputs (one batch or less) call the network directly (``network(x, training=False)``),
which avoids the fixed per-call overhead of ``Model.predict`` (tens of milliseconds). Larger
inputs go through ``Model.predict``, whose compiled predict step is several times faster per
batch than eager calls (an eager LSTM call runs its time steps op by op).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chronos_core.errors import InvalidInput
from chronos_core.ml.scalers import StandardScaler

if TYPE_CHECKING:
    import keras

DEFAULT_BATCH_SIZE = 1024


def network_window_shape(network: keras.Model) -> tuple[int, int]:
    """``(lookback_window, forecast_horizon)`` the network was built for."""
    lookback = network.input_shape[1]
    horizon = network.output_shape[-1]
    return int(lookback), int(horizon)


def predict_windows(
    network: keras.Model, x: ArrayLike, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> NDArray[np.float32]:
    """Scaled predictions ``(n, horizon)`` for scaled windows ``x`` ``(n, lookback, 1)``."""
    inputs = np.asarray(x, dtype=np.float32)
    if inputs.ndim == 2:
        inputs = inputs[..., np.newaxis]
    lookback, horizon = network_window_shape(network)
    if inputs.ndim != 3 or inputs.shape[1:] != (lookback, 1):
        raise InvalidInput(
            f"windows must have shape (n, {lookback}, 1) for this network, got {inputs.shape}"
        )
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be >= 1, got {batch_size}")
    count = inputs.shape[0]
    if count == 0:
        return np.empty((0, horizon), dtype=np.float32)
    if count > batch_size:
        predicted = network.predict(inputs, batch_size=batch_size, verbose=0)
    else:
        predicted = network(inputs, training=False)
    return np.asarray(predicted, dtype=np.float32).reshape(count, horizon)


def forecast(
    network: keras.Model,
    x_scaler: StandardScaler,
    y_scaler: StandardScaler,
    window: ArrayLike,
) -> NDArray[np.float64]:
    """One direct multi-step forecast: the last ``lookback`` values (original units) in, the
    next ``horizon`` values (original units) out."""
    values = np.asarray(window, dtype=np.float64).ravel()
    lookback, _ = network_window_shape(network)
    if values.size != lookback:
        raise InvalidInput(f"the forecast window must hold {lookback} values, got {values.size}")
    if not np.isfinite(values).all():
        raise InvalidInput("the forecast window contains missing or non-finite values")
    scaled = x_scaler.transform(values).astype(np.float32).reshape(1, lookback, 1)
    prediction = np.asarray(network(scaled, training=False), dtype=np.float64)[0]
    return y_scaler.inverse_transform(prediction)
