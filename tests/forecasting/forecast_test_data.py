"""Constants and series shared by the forecasting tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from chronos_core.fiware.tenant import Tenant

TENANT = Tenant("smart", "/")
INTERVAL = 900
LOOKBACK = 6
HORIZON = 3


def sine(points: int, *, end: datetime | None = None, interval: int = INTERVAL) -> pd.Series:
    """A regular series of ``points`` values ending at ``end`` (default: 2024-01-05 00:00 UTC)."""
    last = end or datetime(2024, 1, 5, tzinfo=UTC)
    index = pd.date_range(
        end=pd.Timestamp(last), periods=points, freq=f"{interval}s", tz="UTC", name="timestamp"
    )
    steps = np.arange(points)
    return pd.Series(np.round(20 + 3 * np.sin(steps / 8), 3), index=index)
