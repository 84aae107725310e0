"""PNG charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chronos_core.errors import InvalidInput
from chronos_core.ml.plotting import backtest_png, forecast_png, loss_curve_png

PNG = b"\x89PNG\r\n\x1a\n"


def test_loss_curve():
    assert loss_curve_png(
        {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.8]}, best_epoch=1
    ).startswith(PNG)
    assert loss_curve_png({"loss": [0.0, float("nan")]}).startswith(PNG)
    with pytest.raises(InvalidInput):
        loss_curve_png({"loss": []})


def test_backtest():
    starts = pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC")
    stamps = np.stack([starts + pd.Timedelta(hours=h) for h in range(3)], axis=1)
    actual = np.random.default_rng(0).normal(size=(10, 3))
    assert backtest_png(stamps, actual, actual + 0.1, unit="°C").startswith(PNG)
    with pytest.raises(InvalidInput):
        backtest_png(stamps, actual, actual[:, :2])


def test_history_and_forecast():
    history = pd.date_range("2024-01-01", periods=48, freq="30min", tz="UTC")
    future = pd.date_range(history[-1] + pd.Timedelta(minutes=30), periods=6, freq="30min")
    png = forecast_png(history, np.arange(48.0), future, np.arange(6.0), title="Room 1")
    assert png.startswith(PNG)
    with pytest.raises(InvalidInput):
        forecast_png(history, np.arange(47.0), future, np.arange(6.0))


def test_interval_bands_are_drawn():
    starts = pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC")
    stamps = np.stack([starts + pd.Timedelta(hours=h) for h in range(3)], axis=1)
    actual = np.random.default_rng(0).normal(size=(10, 3))
    widths = {"80": [0.5, 0.6, 0.7], "95": [1.0, 1.1, 1.2], "99": None}
    plain = backtest_png(stamps, actual, actual + 0.1)
    banded = backtest_png(stamps, actual, actual + 0.1, half_widths=widths)
    assert banded.startswith(PNG) and banded != plain
    history = pd.date_range("2024-01-01", periods=48, freq="30min", tz="UTC")
    future = pd.date_range(history[-1] + pd.Timedelta(minutes=30), periods=6, freq="30min")
    values = np.arange(6.0)
    bounds = {"80": (values - 1, values + 1), "95": (values - 2, values + 2)}
    png = forecast_png(history, np.arange(48.0), future, values, bounds=bounds)
    assert png.startswith(PNG)
    with pytest.raises(InvalidInput):
        forecast_png(history, np.arange(48.0), future, values, bounds={"80": ([0.0], [1.0])})
