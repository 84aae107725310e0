"""Fixtures for the ML core tests: synthetic series and one configured TensorFlow per session."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

SeriesFactory = Callable[..., pd.Series]


@pytest.fixture
def make_series() -> SeriesFactory:
    """``make_series(n, interval_seconds=1800, start=..., values=None)``: a regular UTC series
    (a sine around 20 by default)."""

    def build(
        n: int,
        interval_seconds: int = 1800,
        start: str = "2024-01-01T00:00:00Z",
        values: np.ndarray | list[float] | None = None,
    ) -> pd.Series:
        index = pd.date_range(start, periods=n, freq=pd.Timedelta(seconds=interval_seconds))
        data = (
            20 + np.sin(np.arange(n) / 8.0) if values is None else np.asarray(values, dtype=float)
        )
        return pd.Series(data, index=index, dtype="float64")

    return build


@pytest.fixture(scope="session")
def keras_runtime() -> ModuleType:
    """TensorFlow imported and configured once per test session (2 threads, deterministic ops)."""
    from chronos_core.ml import tf_runtime

    tf_runtime.configure(threads=2, seed=7, deterministic=True)
    return tf_runtime.keras_module()


@pytest.fixture(scope="session")
def sine_prepared():
    """200 half-hourly points of a sine, lookback 12, horizon 3, 15 %/15 % split."""
    from chronos_core.ml.preprocessing import prepare

    index = pd.date_range("2024-01-01", periods=200, freq="30min", tz="UTC")
    series = pd.Series(20 + np.sin(np.arange(200) / 8.0), index=index)
    return prepare(
        series, lookback_window=12, forecast_horizon=3, validation_ratio=0.15, test_ratio=0.15
    )


@pytest.fixture(scope="session")
def trained(keras_runtime, sine_prepared):
    """A really trained tiny network: one LSTM layer of 4 units, 2 epochs."""
    from chronos_core.domain.model import RNNLayer
    from chronos_core.ml.fitting import fit_network
    from chronos_core.ml.rnn import build_network

    network = build_network("lstm", 12, 3, [RNNLayer(units=4)], [], 0.01, seed=1)
    epochs: list[tuple[int, dict[str, float | None]]] = []
    result = fit_network(
        network,
        sine_prepared,
        epochs=2,
        batch_size=32,
        on_epoch_end=lambda e, logs: epochs.append((e, logs)),
    )
    return network, result, epochs
