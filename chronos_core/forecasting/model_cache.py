"""Loaded networks and scalers, kept per process so repeated forecasts skip GridFS and Keras.

Entries are keyed by the database and the job's four artifact ids. Artifacts are immutable (a
new training writes new files with new ids), so a cached entry can never be out of date; it only
has to be checked to still *exist* (see :func:`chronos_core.forecasting.forecaster`). The cache
is a bounded LRU, safe to use from many threads:

- one load per key at a time (threads asking for the same model while it loads wait for it);
- a Keras network is not safe to call from two threads at once, so each entry carries a lock
  that inference holds (:meth:`LoadedModel.lock`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chronos_core.errors import InvalidInput
from chronos_core.ml.scalers import StandardScaler

if TYPE_CHECKING:
    import keras

    from chronos_core.settings import Settings

CacheKey = tuple[str, ...]


@dataclass(frozen=True)
class ForecastSpec:
    """What a trained network needs to forecast, from the job's metadata artifact."""

    lookback_window: int
    forecast_horizon: int
    sampling_interval_seconds: int
    feature: str
    entity_type: str
    entity_id: str
    service: str
    service_path: str
    publish_next_value: bool = False
    #: The season (steps) whose values fill longer outages in the input window (None: linear).
    fill_season_steps: int | None = None


class TracedNetwork:
    """A network's direct call ``network(x, training=False)``: eager on the first forecast after
    loading, traced into a TensorFlow graph from the second one on.

    Called eagerly, a recurrent layer runs its time loop step by step in Python (tens of
    milliseconds for a short window, growing with it); the traced call takes a millisecond or
    two, after a one-time trace of about 0.2 s. A model used once (the first sweep after a
    start) is not traced; a model forecasting on a schedule is traced once and then cheap.
    It has the network's ``input_shape``/``output_shape`` and is called like it, so
    :func:`chronos_core.ml.inference.forecast` accepts it in place of the network.
    """

    def __init__(self, network: keras.Model, *, trace_after: int = 1) -> None:
        self.network = network
        self.input_shape = network.input_shape
        self.output_shape = network.output_shape
        self.calls = 0
        self._trace_after = trace_after
        self._traced: Any = None

    @property
    def traced(self) -> bool:
        return self._traced is not None

    def __call__(self, inputs: Any, training: bool = False) -> Any:
        if training:
            raise InvalidInput("a traced network only runs inference")
        self.calls += 1
        if self._traced is None:
            if self.calls <= self._trace_after:
                return self.network(inputs, training=False)
            from chronos_core.ml import tf_runtime

            tf = tf_runtime.tensorflow_module()
            network = self.network
            signature = [tf.TensorSpec((None, *self.input_shape[1:]), tf.float32)]
            self._traced = tf.function(
                lambda x: network(x, training=False), input_signature=signature
            )
        return self._traced(inputs)


@dataclass(eq=False)
class LoadedModel:
    """A network with its scalers and spec. Hold :attr:`lock` while running it."""

    key: CacheKey
    network: keras.Model
    x_scaler: StandardScaler
    y_scaler: StandardScaler
    spec: ForecastSpec
    runner: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.runner is None:
            self.runner = self.network


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was created (or last cleared)."""

    size: int
    max_size: int
    loads: int
    hits: int
    evictions: int

    def as_dict(self) -> dict[str, int]:
        return {
            "size": self.size,
            "max_size": self.max_size,
            "loads": self.loads,
            "hits": self.hits,
            "evictions": self.evictions,
        }


class ModelCache:
    """A thread-safe LRU of :class:`LoadedModel` with at most ``max_size`` entries."""

    def __init__(self, max_size: int) -> None:
        self._max_size = _check_size(max_size)
        self._entries: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._loading: dict[CacheKey, threading.Lock] = {}
        self._lock = threading.Lock()
        self._loads = 0
        self._hits = 0
        self._evictions = 0

    @property
    def max_size(self) -> int:
        return self._max_size

    def resize(self, max_size: int) -> None:
        with self._lock:
            self._max_size = _check_size(max_size)
            self._evict()

    def get_or_load(
        self, key: CacheKey, load: Callable[[], LoadedModel]
    ) -> tuple[LoadedModel, bool]:
        """The entry for ``key``, loading it with ``load()`` on a miss.

        Returns ``(entry, loaded)``; ``loaded`` is True when this call ran ``load``. A failing
        ``load`` caches nothing and raises.
        """
        with self._lock:
            entry = self._hit(key)
            if entry is not None:
                return entry, False
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._hit(key)
                if entry is not None:
                    return entry, False
            try:
                entry = load()
                with self._lock:
                    self._entries[key] = entry
                    self._entries.move_to_end(key)
                    self._loads += 1
                    self._evict()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        return entry, True

    def peek(self, key: CacheKey) -> LoadedModel | None:
        """The entry if cached (no LRU update, no counting)."""
        with self._lock:
            return self._entries.get(key)

    def discard(self, key: CacheKey) -> bool:
        """Forget one entry (e.g. its artifacts were deleted)."""
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Forget every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._loads = self._hits = self._evictions = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                size=len(self._entries),
                max_size=self._max_size,
                loads=self._loads,
                hits=self._hits,
                evictions=self._evictions,
            )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def _hit(self, key: CacheKey) -> LoadedModel | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self._hits += 1
        return entry

    def _evict(self) -> None:
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)
            self._evictions += 1


def _check_size(max_size: Any) -> int:
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise InvalidInput(f"model cache size must be an integer >= 1, got {max_size!r}")
    return max_size


_default: ModelCache | None = None
_default_lock = threading.Lock()


def default_model_cache(settings: Settings | None = None) -> ModelCache:
    """This process's cache, sized by ``CHRONOS_MODEL_CACHE_SIZE`` (resized if that changed)."""
    global _default
    from chronos_core.settings import get_settings

    size = (settings or get_settings()).model_cache_size
    with _default_lock:
        if _default is None:
            _default = ModelCache(size)
        elif _default.max_size != size:
            _default.resize(size)
        return _default
