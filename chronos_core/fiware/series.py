"""A typed, time-sorted numeric series read from STH-Comet, and the parser of its raw values.

STH-Comet returns ``attrValue`` with whatever JSON type was notified: numbers, numeric strings
(``"40.0"``), and also ``""``, ``"null"``, ``"abc"``, objects and booleans. The parser keeps the
finite numbers and numeric strings, and counts everything else in ``dropped`` (never raises).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, overload

from pydantic import Field, TypeAdapter, ValidationError

from chronos_core.fiware.ngsi import parse_datetime

if TYPE_CHECKING:
    import pandas as pd

_NUMERIC_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_FINITE_NUMBER = TypeAdapter(Annotated[float, Field(strict=True, allow_inf_nan=False)])


@dataclass(frozen=True, slots=True)
class Observation:
    """One point: an aware UTC timestamp and a finite float."""

    timestamp: datetime
    value: float


@dataclass(frozen=True)
class ObservationSeries:
    """Observations sorted by time with unique timestamps, plus how many raw values were dropped.

    Build it with :meth:`from_observations` (sorts and de-duplicates) or :func:`parse_raw_values`.
    """

    observations: tuple[Observation, ...] = ()
    dropped: int = 0
    duplicates: int = 0
    """Observations merged away because another one had the same timestamp (the last wins)."""

    @classmethod
    def from_observations(
        cls, observations: Iterable[Observation], dropped: int = 0, duplicates: int = 0
    ) -> ObservationSeries:
        """Sort by time; of several observations with the same timestamp the last one wins
        (each one merged away is counted in ``duplicates``)."""
        by_time: dict[datetime, Observation] = {}
        seen = 0
        for observation in observations:
            by_time[observation.timestamp] = observation
            seen += 1
        ordered = tuple(by_time[t] for t in sorted(by_time))
        return cls(ordered, dropped, duplicates + seen - len(ordered))

    def merge(self, *others: ObservationSeries) -> ObservationSeries:
        """:func:`merge_series` of this series and ``others``."""
        return merge_series((self, *others))

    def __len__(self) -> int:
        return len(self.observations)

    def __iter__(self) -> Iterator[Observation]:
        return iter(self.observations)

    @overload
    def __getitem__(self, index: int) -> Observation: ...

    @overload
    def __getitem__(self, index: slice) -> ObservationSeries: ...

    def __getitem__(self, index: int | slice) -> Observation | ObservationSeries:
        if isinstance(index, slice):
            return ObservationSeries(self.observations[index], self.dropped)
        return self.observations[index]

    def __bool__(self) -> bool:
        return bool(self.observations)

    @property
    def timestamps(self) -> list[datetime]:
        return [o.timestamp for o in self.observations]

    @property
    def values(self) -> list[float]:
        return [o.value for o in self.observations]

    def to_pandas(self) -> pd.Series:
        """float64 values on a tz-aware UTC DatetimeIndex named ``timestamp``."""
        import pandas as pd

        index = pd.DatetimeIndex([o.timestamp for o in self.observations], name="timestamp")
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        return pd.Series(
            [o.value for o in self.observations], index=index, dtype="float64", name="value"
        )


def merge_series(parts: Iterable[ObservationSeries]) -> ObservationSeries:
    """Concatenate series (pages, chunks), sort, drop duplicate timestamps (later wins)."""
    collected: list[Observation] = []
    dropped = duplicates = 0
    for part in parts:
        collected.extend(part.observations)
        dropped += part.dropped
        duplicates += part.duplicates
    return ObservationSeries.from_observations(collected, dropped, duplicates)


def numeric_value(value: Any) -> float | None:
    """A finite float for a JSON number or a numeric string; None for anything else (booleans
    included)."""
    if isinstance(value, str) and _NUMERIC_TEXT.match(value.strip()):
        value = float(value)
    try:
        return _FINITE_NUMBER.validate_python(value)
    except ValidationError:
        return None


def parse_raw_values(values: Sequence[Any] | Iterable[Any]) -> ObservationSeries:
    """Parse STH-Comet raw points (``{recvTime, attrValue, ...}``; extra fields are ignored).

    Points whose value is not numeric, or whose recvTime is missing or unparseable, are dropped
    and counted.
    """
    observations: list[Observation] = []
    dropped = 0
    for point in values:
        if not isinstance(point, Mapping):
            dropped += 1
            continue
        number = numeric_value(point.get("attrValue"))
        recv_time = point.get("recvTime")
        if number is None or not isinstance(recv_time, str):
            dropped += 1
            continue
        try:
            moment = parse_datetime(recv_time)
        except ValueError:
            dropped += 1
            continue
        observations.append(Observation(moment, number))
    return ObservationSeries.from_observations(observations, dropped)
