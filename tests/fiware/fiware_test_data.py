"""Constants and data builders shared by the FIWARE client tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chronos_core.fiware.tenant import Tenant

TENANT = Tenant("smartcity", "/rooms")
START = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def series_points(count: int, start: datetime = START) -> list[tuple[datetime, float]]:
    """``count`` points every 15 minutes; value i is ``i + 0.5`` (so every value is distinct)."""
    return [(start + STEP * i, i + 0.5) for i in range(count)]
