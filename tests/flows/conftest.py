"""Fixtures for tests that run Chronos flows through Prefect's test harness."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from chronos_core.settings import get_settings


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session, with its own PREFECT_HOME."""
    home = tempfile.mkdtemp(prefix="chronos-prefect-")
    os.environ["PREFECT_HOME"] = home
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=240):
        yield


@pytest.fixture
def sandbox(fiware: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emptied session sandbox (``fiware``), with a short HTTP timeout for flow tests."""
    monkeypatch.setenv("CHRONOS_HTTP_TIMEOUT_SECONDS", "5")
    get_settings.cache_clear()
    return fiware


def _sine_series(points: int, interval_minutes: int = 15, start: str = "2024-01-01") -> pd.Series:
    index = pd.date_range(start, periods=points, freq=f"{interval_minutes}min", tz="UTC")
    steps = np.arange(points)
    values = 20 + 3 * np.sin(2 * np.pi * steps * interval_minutes / (24 * 60)) + 0.1 * np.cos(steps)
    return pd.Series(np.round(values, 3), index=index)


@pytest.fixture
def sine_series() -> Any:
    """``sine_series(points, interval_minutes=15)``: a daily-periodic temperature-like series."""
    return _sine_series
