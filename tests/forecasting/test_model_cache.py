"""The per-process model cache: LRU bound, one load per key, thread safety."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chronos_core.errors import InvalidInput
from chronos_core.forecasting.model_cache import (
    ENTRY_OVERHEAD_BYTES,
    ForecastSpec,
    LoadedModel,
    ModelCache,
    default_model_cache,
)
from chronos_core.ml.scalers import StandardScaler

SPEC = ForecastSpec(6, 3, 900, "temperature", "Room", "Room1", "smart", "/")
SCALER = StandardScaler(mean=0.0, scale=1.0, n_samples_seen=1)


def entry(key: tuple[str, ...], weights_nbytes: int = 0) -> LoadedModel:
    # The cache never touches the network; any object stands in for it here.
    network: Any = object()
    return LoadedModel(
        key=key,
        network=network,
        x_scaler=SCALER,
        y_scaler=SCALER,
        spec=SPEC,
        weights_nbytes=weights_nbytes,
    )


def test_hit_miss_and_lru_eviction() -> None:
    cache = ModelCache(2)
    a, loaded = cache.get_or_load(("a",), lambda: entry(("a",)))
    assert loaded
    assert cache.get_or_load(("a",), lambda: pytest.fail("must not reload")) == (a, False)
    cache.get_or_load(("b",), lambda: entry(("b",)))
    cache.get_or_load(("a",), lambda: entry(("a",)))  # a is now the most recent
    cache.get_or_load(("c",), lambda: entry(("c",)))  # evicts b
    assert ("b",) not in cache and ("a",) in cache and ("c",) in cache
    assert cache.stats().as_dict() == {
        "size": 2,
        "max_size": 2,
        "loads": 3,
        "hits": 2,
        "evictions": 1,
        "bytes": 2 * ENTRY_OVERHEAD_BYTES,
        "max_bytes": 512 * 2**20,
    }


def test_a_failed_load_caches_nothing() -> None:
    cache = ModelCache(2)

    def boom() -> LoadedModel:
        raise RuntimeError("no model")

    with pytest.raises(RuntimeError):
        cache.get_or_load(("a",), boom)
    assert len(cache) == 0
    _, loaded = cache.get_or_load(("a",), lambda: entry(("a",)))
    assert loaded


def test_concurrent_requests_for_one_key_load_it_once(race: Any) -> None:
    cache = ModelCache(4)
    calls = []

    def slow_load() -> LoadedModel:
        calls.append(1)
        time.sleep(0.05)
        return entry(("k",))

    results = race(8, lambda i: cache.get_or_load(("k",), slow_load))
    assert len(calls) == 1
    assert len({id(model) for model, _ in results}) == 1
    assert sum(loaded for _, loaded in results) == 1


def test_different_keys_load_in_parallel(race: Any) -> None:
    cache = ModelCache(8)
    # Each load returns only once all four are loading at the same time: loads serialised
    # behind one lock would break the barrier (after a generous bound) instead of passing.
    together = threading.Barrier(4)

    def load(i: int) -> LoadedModel:
        together.wait(timeout=120)
        return entry((str(i),))

    results = race(4, lambda i: cache.get_or_load((str(i),), lambda: load(i)))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(loaded for _, loaded in results) == 4


def test_discard_resize_and_clear() -> None:
    cache = ModelCache(3)
    for key in "abc":
        cache.get_or_load((key,), lambda key=key: entry((key,)))  # type: ignore[misc]
    assert cache.discard(("a",)) and not cache.discard(("a",))
    cache.resize(1)
    assert len(cache) == 1 and ("c",) in cache
    cache.clear()
    assert cache.stats().loads == 0 and len(cache) == 0


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_bad_size_is_refused(size: Any) -> None:
    with pytest.raises(InvalidInput, match="model cache size"):
        ModelCache(size)


def test_default_cache_follows_the_setting(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chronos_core.settings import Settings

    cache = default_model_cache(Settings(_env_file=None, model_cache_size=5))
    assert cache is default_model_cache(Settings(_env_file=None, model_cache_size=5))
    assert cache.max_size == 5
    default_model_cache(Settings(_env_file=None, model_cache_size=256))
    assert cache.max_size == 256


def test_the_memory_bound_evicts_the_least_recently_used() -> None:
    size = 100_000
    cache = ModelCache(1000, max_bytes=3 * (size + ENTRY_OVERHEAD_BYTES))
    for key in "abc":
        cache.get_or_load((key,), lambda key=key: entry((key,), size))  # type: ignore[misc]
    cache.get_or_load(("a",), lambda: pytest.fail("cached"))  # a is now the most recent
    cache.get_or_load(("d",), lambda: entry(("d",), size))  # evicts b
    assert ("b",) not in cache and all((k,) in cache for k in "acd")
    stats = cache.stats()
    assert stats.evictions == 1 and stats.bytes == 3 * (size + ENTRY_OVERHEAD_BYTES)
    # An entry larger than the whole bound is served but not kept.
    _huge, loaded = cache.get_or_load(("huge",), lambda: entry(("huge",), 10 * size))
    assert loaded and ("huge",) not in cache and len(cache) == 3
    cache.resize(1000, 2 * (size + ENTRY_OVERHEAD_BYTES))
    assert len(cache) == 2 and ("d",) in cache and ("a",) in cache


def _other_network_bytes(units: int, seed: int) -> bytes:
    from chronos_core.domain.model import RNNLayer
    from chronos_core.ml.model_io import serialize_network
    from chronos_core.ml.rnn import build_network

    network = build_network(
        "lstm",
        lookback_window=6,
        forecast_horizon=3,
        rnn_layers=[RNNLayer(units=units, dropout=0.0)],
        dense_layers=[],
        learning_rate=0.01,
        seed=seed,
    )
    return serialize_network(network)


def test_shared_graphs_reproduce_each_models_own_keras_network(network_bytes: bytes) -> None:
    import numpy as np

    from chronos_core.forecasting.model_cache import SharedGraphs, architecture_signature
    from chronos_core.ml.model_io import load_network

    # Same architecture, different weights (other seeds); and another architecture.
    models = {
        "a": network_bytes,
        "b": _other_network_bytes(3, 11),
        "c": _other_network_bytes(3, 12),
        "d": _other_network_bytes(5, 13),
    }
    assert architecture_signature(models["b"]) == architecture_signature(models["c"])
    assert architecture_signature(models["b"]) != architecture_signature(models["d"])
    graphs = SharedGraphs()
    runners = {}
    for name, data in models.items():
        runners[name], nbytes = graphs.load(data, load_network)
        own = load_network(data)
        variables = [*own.trainable_variables, *own.non_trainable_variables]
        assert nbytes == sum(np.asarray(v).nbytes for v in variables)
    assert graphs.builds == len(graphs) == 2
    rng = np.random.default_rng(3)
    for _ in range(2):  # interleaved calls: each swaps its weights in
        for name, data in models.items():
            x = rng.normal(size=(2, 6, 1)).astype(np.float32)
            expected = np.asarray(load_network(data)(x, training=False), dtype=np.float64)
            got = np.asarray(runners[name](x), dtype=np.float64)
            relative = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-12)
            assert relative.max() <= 1e-6, (name, relative.max())
    with pytest.raises(InvalidInput, match="only runs inference"):
        runners["a"](np.zeros((1, 6, 1), dtype=np.float32), training=True)


def test_weights_read_from_the_archive_are_what_keras_loads() -> None:
    import zipfile
    from io import BytesIO

    import numpy as np

    from chronos_core.domain.model import DenseLayer, RNNLayer
    from chronos_core.forecasting.model_cache import WEIGHTS_FILE, GraphSlot, architecture_signature
    from chronos_core.ml.model_io import load_network, serialize_network
    from chronos_core.ml.rnn import build_network

    def archive(kind: str, seed: int, **seasonal: Any) -> bytes:
        network = build_network(
            kind,
            lookback_window=12,
            forecast_horizon=2,
            rnn_layers=[RNNLayer(units=4, dropout=0.1), RNNLayer(units=3, dropout=0.0)],
            dense_layers=[DenseLayer(units=5)],
            learning_rate=0.01,
            seed=seed,
            **seasonal,
        )
        return serialize_network(network)

    for kind, seasonal in (
        ("lstm", {}),
        ("gru", {}),
        ("gru", {"season_steps": 4, "season_cycles": 2, "recent_steps": 4}),
    ):
        first, second = archive(kind, 1, **seasonal), archive(kind, 2, **seasonal)
        slot = GraphSlot(architecture_signature(first), load_network(first))
        initial = slot.current_weights()
        from_keras = slot._read_with_keras(second)
        read = slot.read_weights(second)
        assert len(read) == len(from_keras)
        for ours, theirs in zip(read, from_keras, strict=True):
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
        assert not all(np.array_equal(a, b) for a, b in zip(read, initial, strict=True))
        # Packed for a call (one flat array per dtype) and back, nothing changes.
        packed = slot.pack(read)
        assert len(packed) == len({w.dtype for w in read})
        for ours, theirs in zip(slot.unpack(packed), read, strict=True):
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)

    # An archive whose weights file is damaged or missing is refused, as Keras refuses it.
    with zipfile.ZipFile(BytesIO(first)) as source:
        files = {name: source.read(name) for name in source.namelist()}
    for damaged in (b"not hdf5", None):
        buffer = BytesIO()
        with zipfile.ZipFile(buffer, "w") as target:
            for name, data in files.items():
                if name != WEIGHTS_FILE:
                    target.writestr(name, data)
                elif damaged is not None:
                    target.writestr(name, damaged)
        with pytest.raises(InvalidInput, match="cannot read its weights"):
            slot.read_weights(buffer.getvalue())
