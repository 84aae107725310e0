"""Loaded models, kept per process so repeated forecasts skip GridFS and Keras.

Entries are keyed by the database and the job's four artifact ids. Artifacts are immutable (a
new training writes new files with new ids), so a cached entry can never be out of date; it only
has to be checked to still *exist* (see :func:`chronos_core.forecasting.forecaster`).

An entry holds no Keras object of its own: only the network's weights (numpy arrays), its
scalers and spec. Networks of the same architecture share one Keras network (a
:class:`GraphSlot` of :class:`SharedGraphs`, keyed by the hash of the architecture in the
``.keras`` archive's ``config.json``), traced once as a pure function of its weights; a forecast
passes its model's weights in (Keras ``stateless_call``). So a cold load costs a GridFS read
and an h5py read of the archive's weights file (about 2 ms for a small RNN), not a Keras
rebuild or ``load_weights`` (about 30 ms), and a model costs its weights in memory (a few KB for
a small RNN), not a Keras graph. Nothing here knows the layers: any network Keras loads in safe
mode works, whatever its inputs.

The cache is a thread-safe LRU bounded by entries and by the bytes of the weights it holds
(``CHRONOS_MODEL_CACHE_SIZE``, ``CHRONOS_MODEL_CACHE_MB``):

- one load per key at a time (threads asking for the same model while it loads wait for it);
- a Keras network is not safe to call from two threads at once: the shared networks are only
  called statelessly (no variable is assigned), so forecasts need no lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from cachetools import LRUCache

from chronos_core.domain.validation import check_int
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
    #: Split-conformal half-widths per level, ``(("80", (q_1, ..., q_H)), ...)``; empty: none.
    interval_half_widths: tuple[tuple[str, tuple[float, ...]], ...] = ()
    #: The season (steps) whose values fill longer outages in the input window (None: linear).
    fill_season_steps: int | None = None
    #: The model's own ``ngsi_flavour`` (None: the installation's); fixed once it is trained.
    ngsi_flavour: str | None = None


#: Config keys that do not change what a trained network computes (how weights were initialised
#: or regularised during training, and the compile settings).
_TRAINING_ONLY_KEYS = ("_initializer", "_regularizer", "_constraint")
_DROPPED_KEYS = frozenset({"seed", "compile_config", "build_config"})


def _inference_config(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _inference_config(item)
            for key, item in value.items()
            if key not in _DROPPED_KEYS and not key.endswith(_TRAINING_ONLY_KEYS)
        }
    if isinstance(value, list):
        return [_inference_config(item) for item in value]
    return value


def architecture_signature(keras_bytes: bytes) -> str:
    """A hash of a ``.keras`` archive's architecture (its ``config.json`` without the keys that
    only matter for training). Two networks with the same signature take each other's weights."""
    try:
        with zipfile.ZipFile(BytesIO(keras_bytes)) as archive:
            config = json.loads(archive.read("config.json"))
    except zipfile.BadZipFile:
        raise InvalidInput("invalid model artifact: not a .keras (zip) archive") from None
    except (KeyError, ValueError) as error:
        raise InvalidInput(f"invalid model artifact: no readable config.json ({error})") from None
    canonical = json.dumps(_inference_config(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


#: The weights file inside a ``.keras`` archive.
WEIGHTS_FILE = "model.weights.h5"


def weight_paths(network: keras.Model) -> dict[int, str]:
    """Where each of ``network``'s variables (trainable first, then the others) is stored in
    its weights file, found once per architecture: every variable is set to its own index + 1,
    the weights are saved with Keras, and each stored array names its variable. The variables
    are restored afterwards. Variables Keras does not store (e.g. a seed generator's state)
    are not in the result."""
    variables = [*network.trainable_variables, *network.non_trainable_variables]
    kept = [np.array(variable) for variable in variables]
    paths: dict[int, str] = {}
    try:
        for index, variable in enumerate(variables):
            variable.assign(np.full(variable.shape, index + 1, dtype=kept[index].dtype))
        with tempfile.TemporaryDirectory(prefix="chronos-weights-") as directory:
            path = os.path.join(directory, "probe.weights.h5")
            network.save_weights(path)
            with h5py.File(path, "r") as store:

                def visit(name: str, item: Any) -> None:
                    if isinstance(item, h5py.Dataset) and item.size:
                        index = round(float(np.asarray(item[()]).flat[0])) - 1
                        if 0 <= index < len(variables):
                            paths.setdefault(index, name)

                store.visititems(visit)
    finally:
        for variable, value in zip(variables, kept, strict=True):
            variable.assign(value)
    return paths


def _unreadable(error: object) -> InvalidInput:
    return InvalidInput(f"invalid model artifact: cannot read its weights ({error})")


class GraphSlot:
    """One Keras network of an architecture, traced once as a pure function of its weights
    (Keras ``stateless_call``): each forecast passes its model's weights in, nothing is
    assigned, so calls of different models need no lock and do not interfere. A new model's
    weights are read straight from its archive's weights file (h5py, at the places
    :func:`weight_paths` found), without touching the network or Keras's loader."""

    def __init__(self, signature: str, network: keras.Model) -> None:
        self.signature = signature
        self.network = network
        self.input_shape = network.input_shape
        self.output_shape = network.output_shape
        self.lock = threading.Lock()
        self.trainable_count = len(network.trainable_variables)
        self._traced: Any = None
        self._defaults = self.current_weights()
        #: Where each weight lies in the packed arrays (one flat array per dtype, see
        #: :meth:`pack`): (array index, start, stop, shape).
        self._dtypes = sorted({w.dtype.str for w in self._defaults})
        self._layout: list[tuple[int, int, int, tuple[int, ...]]] = []
        filled = [0] * len(self._dtypes)
        for weight in self._defaults:
            group = self._dtypes.index(weight.dtype.str)
            start = filled[group]
            filled[group] = start + weight.size
            self._layout.append((group, start, filled[group], weight.shape))
        self._packed_sizes = filled
        paths = weight_paths(network)
        #: None when some trainable variable was not found in the file: Keras reads them.
        self._paths = paths if set(range(self.trainable_count)) <= set(paths) else None

    def current_weights(self) -> list[np.ndarray]:
        """The network's weights: trainable variables first, then the others."""
        variables = [*self.network.trainable_variables, *self.network.non_trainable_variables]
        return [np.array(v) for v in variables]

    def read_weights(self, keras_bytes: bytes) -> list[np.ndarray]:
        """The weights stored in ``keras_bytes`` (same architecture), as numpy arrays; what
        Keras's ``load_weights`` would put in the network (a variable Keras does not store
        keeps the network's value)."""
        if self._paths is None:
            return self._read_with_keras(keras_bytes)
        try:
            with zipfile.ZipFile(BytesIO(keras_bytes)) as archive:
                data = archive.read(WEIGHTS_FILE)
            with h5py.File(BytesIO(data), "r") as store:
                read = {index: np.asarray(store[path][()]) for index, path in self._paths.items()}
        except (KeyError, OSError, ValueError, zipfile.BadZipFile) as error:
            raise InvalidInput(
                f"invalid model artifact: cannot read its weights ({error})"
            ) from None
        weights = []
        for index, default in enumerate(self._defaults):
            value = read.get(index, default)
            if value.shape != default.shape or value.dtype != default.dtype:
                raise InvalidInput(
                    f"invalid model artifact: weight {index} is {value.dtype}{list(value.shape)}, "
                    f"its architecture has {default.dtype}{list(default.shape)}"
                )
            weights.append(value.copy() if value is default else value)
        return weights

    def _read_with_keras(self, keras_bytes: bytes) -> list[np.ndarray]:
        with self.lock, tempfile.TemporaryDirectory(prefix="chronos-weights-") as directory:
            path = os.path.join(directory, "network.keras")
            with open(path, "wb") as handle:
                handle.write(keras_bytes)
            try:
                self.network.load_weights(path)
            except Exception as error:
                raise _unreadable(error) from None
            return self.current_weights()

    def pack(self, weights: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """``weights`` as one flat array per dtype: a call then hands TensorFlow one or two
        arrays instead of one per variable (converting each cost more than the forecast)."""
        groups: list[list[np.ndarray]] = [[] for _ in self._dtypes]
        for weight, (group, _, _, _) in zip(weights, self._layout, strict=True):
            groups[group].append(np.ravel(weight))
        return tuple(np.concatenate(parts) for parts in groups)

    def unpack(self, packed: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        """The weights of :meth:`pack`'s result (views of it)."""
        return [packed[g][start:stop].reshape(shape) for g, start, stop, shape in self._layout]

    def run(self, packed: tuple[np.ndarray, ...], inputs: Any) -> Any:
        """``network(inputs, training=False)`` computed with the weights :meth:`pack` made
        (a numpy result)."""
        if self._traced is None:
            with self.lock:
                if self._traced is None:
                    self._traced = self._trace()
        return np.asarray(self._traced(packed, np.asarray(inputs, dtype=np.float32)))

    def _trace(self) -> Any:
        from chronos_core.ml import tf_runtime

        tf = tf_runtime.tensorflow_module()
        network = self.network
        layout = self._layout
        count = self.trainable_count

        def call(packed: Any, inputs: Any) -> Any:
            weights = [tf.reshape(packed[g][start:stop], shape) for g, start, stop, shape in layout]
            outputs, _ = network.stateless_call(
                weights[:count], weights[count:], inputs, training=False
            )
            return outputs

        # One concrete function of a fixed signature: a call skips tf.function's argument
        # matching (about a third of a cached forecast's TensorFlow time).
        packed = tuple(
            tf.TensorSpec([size], np.dtype(dtype).name)
            for size, dtype in zip(self._packed_sizes, self._dtypes, strict=True)
        )
        batch = tf.TensorSpec([None, *self.input_shape[1:]], "float32")
        return tf.function(call, input_signature=[packed, batch]).get_concrete_function()


class SwappedNetwork:
    """A cached model's callable for :func:`chronos_core.ml.inference.forecast`: its weights run
    in the shared network of its architecture. Has the network's ``input_shape`` and
    ``output_shape``."""

    def __init__(self, slot: GraphSlot, weights: list[np.ndarray]) -> None:
        self.slot = slot
        self.packed = slot.pack(weights)
        self.input_shape = slot.input_shape
        self.output_shape = slot.output_shape

    @property
    def weights(self) -> list[np.ndarray]:
        return self.slot.unpack(self.packed)

    def __call__(self, inputs: Any, training: bool = False) -> Any:
        if training:
            raise InvalidInput("a cached network only runs inference")
        return self.slot.run(self.packed, inputs)


class SharedGraphs:
    """The graph slots of this process, by architecture signature (LRU, at most ``max_graphs``;
    an evicted slot stays usable by the entries that hold it)."""

    def __init__(self, max_graphs: int = 64) -> None:
        self._slots: LRUCache[str, GraphSlot] = LRUCache(maxsize=max_graphs)
        self._lock = threading.Lock()
        self.builds = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._slots)

    def load(
        self, keras_bytes: bytes, build: Callable[[bytes], keras.Model]
    ) -> tuple[SwappedNetwork, int]:
        """The runner for a model's ``.keras`` bytes and its weights' size in bytes. Builds a
        Keras network (``build(keras_bytes)``, safe mode) only for a new architecture."""
        signature = architecture_signature(keras_bytes)
        with self._lock:
            slot = self._slots.get(signature)
        if slot is None:
            slot = GraphSlot(signature, build(keras_bytes))
            weights = slot.current_weights()
            with self._lock:
                self._slots[signature] = slot
                self.builds += 1
        else:
            weights = slot.read_weights(keras_bytes)
        return SwappedNetwork(slot, weights), sum(int(w.nbytes) for w in weights)


#: Rough bytes of an entry besides its weights (scalers, spec, Python objects).
ENTRY_OVERHEAD_BYTES = 4096


@dataclass(eq=False)
class LoadedModel:
    """A network (a :class:`SwappedNetwork`) with its scalers and spec."""

    key: CacheKey
    network: Any
    x_scaler: StandardScaler
    y_scaler: StandardScaler
    spec: ForecastSpec
    weights_nbytes: int = 0

    @property
    def nbytes(self) -> int:
        """What the entry counts against the cache's memory bound."""
        return self.weights_nbytes + ENTRY_OVERHEAD_BYTES


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was created (or last cleared)."""

    size: int
    max_size: int
    loads: int
    hits: int
    evictions: int
    bytes: int = 0
    max_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Entries(LRUCache[CacheKey, LoadedModel]):
    """cachetools' LRU by bytes that counts its evictions."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=lambda entry: entry.nbytes)
        self.evictions = 0

    def popitem(self) -> tuple[CacheKey, LoadedModel]:
        item = super().popitem()
        self.evictions += 1
        return item


#: Default memory bound of a cache created without one (``CHRONOS_MODEL_CACHE_MB``'s default).
DEFAULT_MAX_BYTES = 512 * 2**20


class ModelCache:
    """A thread-safe LRU of :class:`LoadedModel`: at most ``max_size`` entries and at most
    ``max_bytes`` of weights (the least recently used entries go first)."""

    def __init__(self, max_size: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_size = _check_size(max_size)
        self._entries = _Entries(_check_size(max_bytes, "model cache memory bound"))
        self._loading: dict[CacheKey, threading.Lock] = {}
        self._lock = threading.Lock()
        self._loads = 0
        self._hits = 0
        self._evictions = 0
        self.graphs = SharedGraphs()

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def max_bytes(self) -> int:
        return int(self._entries.maxsize)

    def resize(self, max_size: int, max_bytes: int | None = None) -> None:
        with self._lock:
            self._max_size = _check_size(max_size)
            if max_bytes is not None and max_bytes != self.max_bytes:
                old = self._entries
                self._entries = _Entries(_check_size(max_bytes, "model cache memory bound"))
                by_age = [LRUCache.popitem(old) for _ in range(len(old))]  # oldest first
                self._evictions += old.evictions
                for key, entry in by_age:  # the newest survive
                    self._store(key, entry)
            self._evict()

    def get_or_load(
        self, key: CacheKey, load: Callable[[], LoadedModel]
    ) -> tuple[LoadedModel, bool]:
        """The entry for ``key``, loading it with ``load()`` on a miss.

        Returns ``(entry, loaded)``; ``loaded`` is True when this call ran ``load``. A failing
        ``load`` caches nothing and raises. An entry larger than the whole memory bound is
        returned but not kept.
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
                    self._store(key, entry)
                    self._loads += 1
                    self._evict()
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        return entry, True

    def peek(self, key: CacheKey) -> LoadedModel | None:
        """The entry if cached (no counting; it becomes the most recently used)."""
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
            self._entries.evictions = 0
            self._loads = self._hits = self._evictions = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                size=len(self._entries),
                max_size=self._max_size,
                loads=self._loads,
                hits=self._hits,
                evictions=self._evictions + self._entries.evictions,
                bytes=int(self._entries.currsize),
                max_bytes=self.max_bytes,
            )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def _store(self, key: CacheKey, entry: LoadedModel) -> None:
        if entry.nbytes > self._entries.maxsize:
            return
        self._entries[key] = entry

    def _hit(self, key: CacheKey) -> LoadedModel | None:
        entry = self._entries.get(key)  # moves it to the most recent end
        if entry is not None:
            self._hits += 1
        return entry

    def _evict(self) -> None:
        while len(self._entries) > self._max_size:
            self._entries.popitem()


def _check_size(max_size: Any, what: str = "model cache size") -> int:
    return check_int(max_size, what)


def default_model_cache(settings: Settings | None = None) -> ModelCache:
    """This process's cache (held by its runtime), bounded by ``CHRONOS_MODEL_CACHE_SIZE``
    entries and ``CHRONOS_MODEL_CACHE_MB`` (resized if those changed)."""
    from chronos_core import runtime
    from chronos_core.settings import get_settings

    configured = settings or get_settings()
    size = configured.model_cache_size
    max_bytes = configured.model_cache_mb * 2**20
    state = runtime.current()
    with state.lock:
        cache: ModelCache = state.part("model_cache", lambda: ModelCache(size, max_bytes=max_bytes))
        if cache.max_size != size or cache.max_bytes != max_bytes:
            cache.resize(size, max_bytes)
        return cache
