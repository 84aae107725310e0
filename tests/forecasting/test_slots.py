"""Slot arithmetic and the back-off rule (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chronos_core.errors import InvalidInput
from chronos_core.forecasting.scheduling import (
    backoff_seconds,
    next_slot,
    retry_slot,
    slot_at_or_after,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T0, T0 + MINUTE),  # due exactly now: the next slot
        (T0 + timedelta(seconds=1), T0 + MINUTE),
        (T0 + MINUTE - timedelta(milliseconds=1), T0 + MINUTE),
        (T0 + MINUTE, T0 + 2 * MINUTE),  # strictly after now
        (T0 + 10 * MINUTE + timedelta(seconds=30), T0 + 11 * MINUTE),  # 10 missed slots: one run
        (T0 - timedelta(seconds=5), T0 + MINUTE),  # not due yet: still moves one slot
    ],
)
def test_next_slot_is_the_first_grid_slot_strictly_after_now(
    now: datetime, expected: datetime
) -> None:
    assert next_slot(T0, 60, now) == expected


def test_next_slot_coalesces_a_long_pause_without_drift() -> None:
    now = T0 + timedelta(days=3, seconds=17)
    slot = next_slot(T0, 900, now)
    assert slot > now and slot - now <= timedelta(seconds=900)
    assert (slot - T0) % timedelta(seconds=900) == timedelta(0)


def test_naive_datetimes_are_utc() -> None:
    naive = T0.replace(tzinfo=None)
    assert next_slot(naive, 60, naive + 2 * MINUTE) == T0 + 3 * MINUTE


def test_slot_at_or_after() -> None:
    assert slot_at_or_after(T0, 60, T0) == T0 + MINUTE
    assert slot_at_or_after(T0, 60, T0 + 5 * MINUTE) == T0 + 5 * MINUTE
    assert slot_at_or_after(T0, 60, T0 + 5 * MINUTE + timedelta(seconds=1)) == T0 + 6 * MINUTE


@pytest.mark.parametrize("interval", [0, -5, True, 1.5, None])
def test_bad_interval_is_refused(interval: object) -> None:
    with pytest.raises(InvalidInput, match="interval_seconds"):
        next_slot(T0, interval, T0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 60), (1, 60), (2, 120), (3, 240), (4, 480), (7, 3840), (8, 3840), (50, 3840)],
)
def test_backoff_doubles_from_the_second_failure_up_to_64_intervals(
    failures: int, expected: int
) -> None:
    assert backoff_seconds(60, failures, max_seconds=86_400) == expected


def test_backoff_is_capped_but_never_below_the_interval() -> None:
    assert backoff_seconds(60, 10, max_seconds=600) == 600
    assert backoff_seconds(3600, 10, max_seconds=600) == 3600


def test_retry_slot_keeps_the_cadence_after_one_failure_and_backs_off_after_more() -> None:
    now = T0 + timedelta(seconds=5)
    assert retry_slot(T0, 60, now, 1, 86_400) == T0 + MINUTE
    assert retry_slot(T0, 60, now, 2, 86_400) == T0 + 3 * MINUTE  # >= now + 120 s, on the grid
    assert retry_slot(T0, 60, now, 3, 86_400) == T0 + 5 * MINUTE  # >= now + 240 s
    assert retry_slot(T0, 60, now, 30, 600) == T0 + 11 * MINUTE  # capped at 600 s
